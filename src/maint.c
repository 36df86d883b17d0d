/*-------------------------------------------------------------------------
 *
 * maint.c
 *		Maintenance and capacity diagnostics that must be fast or must never
 *		wait on a lock: relation sizes without queueing behind DDL, the
 *		catalog-based bloat estimate (runbook._bloat_estimate) and the last
 *		value of a sequence read with a conditional lock.
 *
 * Locking rule: every relation is locked with ConditionalLockRelationOid()
 * before its files are looked at, and unlocked right after.  A relation
 * that cannot be locked at once (DDL holds or waits for a conflicting lock)
 * is reported as skipped, never waited for.  Sizes come from stat() on the
 * relation's segment files, like pg_relation_size(), but without its lock
 * wait.  Statistics come straight from pg_statistic through the syscache,
 * never through the pg_stats view.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/stat.h>

#include "access/genam.h"
#include "access/relation.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/index.h"
#include "catalog/pg_tablespace.h"
#include "commands/defrem.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_statistic.h"
#include "commands/sequence.h"
#include "common/relpath.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "storage/bufpage.h"
#include "storage/itemid.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relmapper.h"
#include "utils/syscache.h"

#include "pg_runbook.h"

PG_FUNCTION_INFO_V1(rb_relation_size_nowait);
PG_FUNCTION_INFO_V1(rb_relation_sizes);
PG_FUNCTION_INFO_V1(rb_bloat_estimate);
PG_FUNCTION_INFO_V1(rb_sequence_last_value);

#define RB_SKIP_LOCKED "skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for"

/* ---------- sizes without lock waits ---------- */

/*
 * Bytes of one fork of a relation, from stat() on its segment files.  The
 * caller holds a lock on the relation and passes its current pg_class row.
 * A missing file counts as zero (a fork that does not exist).
 */
static int64
fork_bytes(Oid relid, Form_pg_class cls, ForkNumber fork)
{
	Oid			spcoid;
	Oid			dboid;
	Oid			relfilenumber;
	char	   *path;
	char		seg[MAXPGPATH];
	int64		total = 0;
	unsigned int segno;

	if (!RELKIND_HAS_STORAGE(cls->relkind) ||
		cls->relpersistence == RELPERSISTENCE_TEMP)
		return 0;

	spcoid = OidIsValid(cls->reltablespace) ? cls->reltablespace :
		(cls->relisshared ? GLOBALTABLESPACE_OID : MyDatabaseTableSpace);
	dboid = cls->relisshared ? InvalidOid : MyDatabaseId;
	relfilenumber = OidIsValid(cls->relfilenode) ? cls->relfilenode :
		rb_relation_map_filenumber(relid, cls->relisshared);
	if (!OidIsValid(relfilenumber))
		return 0;

	path = rb_relation_fork_path(spcoid, dboid, relfilenumber, fork);
	for (segno = 0;; segno++)
	{
		struct stat st;

		CHECK_FOR_INTERRUPTS();
		if (segno == 0)
			snprintf(seg, sizeof(seg), "%s", path);
		else
			snprintf(seg, sizeof(seg), "%s.%u", path, segno);
		if (stat(seg, &st) < 0)
		{
			if (errno == ENOENT)
				break;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", seg)));
		}
		total += st.st_size;
	}
	pfree(path);
	return total;
}

/*
 * Lock a relation without waiting, then fetch its current pg_class row
 * (after the lock, so a concurrent rewrite that committed is seen).
 * Returns NULL when the lock is not free at once (*locked = true) or the
 * relation is gone (*locked = false); otherwise the caller must
 * ReleaseSysCache() the tuple and unlock_rel().
 */
static HeapTuple
lock_rel_nowait(Oid relid, bool *locked)
{
	HeapTuple	tup;

	*locked = false;
	if (!ConditionalLockRelationOid(relid, AccessShareLock))
	{
		*locked = true;
		return NULL;
	}
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
	{
		UnlockRelationOid(relid, AccessShareLock);
		return NULL;
	}
	return tup;
}

static void
unlock_rel(Oid relid, HeapTuple tup)
{
	ReleaseSysCache(tup);
	UnlockRelationOid(relid, AccessShareLock);
}

/*
 * Size of a relation: main fork only, or every fork.  -1 when locked,
 * -2 when the relation does not exist.
 */
static int64
rel_bytes_nowait(Oid relid, bool all_forks)
{
	HeapTuple	tup;
	bool		locked;
	int64		total = 0;
	Form_pg_class cls;

	if (!OidIsValid(relid))
		return 0;
	tup = lock_rel_nowait(relid, &locked);
	if (tup == NULL)
		return locked ? -1 : -2;
	cls = (Form_pg_class) GETSTRUCT(tup);
	if (all_forks)
	{
		ForkNumber	f;

		for (f = 0; f <= MAX_FORKNUM; f++)
			total += fork_bytes(relid, cls, f);
	}
	else
		total = fork_bytes(relid, cls, MAIN_FORKNUM);
	unlock_rel(relid, tup);
	return total;
}

/*
 * Bytes of a TOAST table (every fork) and of its indexes.  The TOAST table
 * is a relation of its own: its lock is taken (conditionally) before its
 * relcache entry is opened to list its index, never relying on the owning
 * table's lock.  -1 when the TOAST table or its index is locked, -2 when
 * the TOAST table is gone.
 */
static int64
toast_bytes_nowait(Oid toastrel)
{
	HeapTuple	tup;
	bool		locked;
	int64		total = 0;
	bool		skipped = false;
	Relation	trel;
	List	   *indexes = NIL;
	ListCell   *lc;
	ForkNumber	f;

	tup = lock_rel_nowait(toastrel, &locked);
	if (tup == NULL)
		return locked ? -1 : -2;
	for (f = 0; f <= MAX_FORKNUM; f++)
		total += fork_bytes(toastrel, (Form_pg_class) GETSTRUCT(tup), f);
	/* locked, and its pg_class row re-read after the lock: it exists */
	trel = try_relation_open(toastrel, NoLock);
	if (trel != NULL)
	{
		indexes = RelationGetIndexList(trel);
		relation_close(trel, NoLock);
	}
	foreach(lc, indexes)
	{
		int64		t = rel_bytes_nowait(lfirst_oid(lc), true);

		if (t == -1)
			skipped = true;
		total += Max(t, 0);
	}
	list_free(indexes);
	unlock_rel(toastrel, tup);
	return skipped ? -1 : total;
}

/*
 * runbook.relation_size_nowait(rel regclass, fork text DEFAULT 'main')
 * Like pg_relation_size(), but NULL instead of waiting when the relation is
 * locked by DDL.  fork 'all' sums every fork.
 */
Datum
rb_relation_size_nowait(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *fork = text_to_cstring(PG_GETARG_TEXT_PP(1));
	HeapTuple	tup;
	bool		locked;
	int64		total = 0;
	ForkNumber	forknum = MAIN_FORKNUM;
	bool		all = (strcmp(fork, "all") == 0);

	/* a bad fork name is an error whether or not the relation is locked */
	if (!all)
	{
		ForkNumber	f;
		bool		known = false;

		for (f = 0; f <= MAX_FORKNUM; f++)
			if (strcmp(fork, forkNames[f]) == 0)
			{
				forknum = f;
				known = true;
			}
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid fork name \"%s\"", fork),
					 errhint("Valid fork names are \"main\", \"fsm\", \"vm\", \"init\" and \"all\".")));
	}

	if (!OidIsValid(relid))
		PG_RETURN_NULL();		/* like pg_relation_size() of no relation */
	if (all)
	{
		total = rel_bytes_nowait(relid, true);
		if (total < 0)
			PG_RETURN_NULL();
		PG_RETURN_INT64(total);
	}
	tup = lock_rel_nowait(relid, &locked);
	if (tup == NULL)
		PG_RETURN_NULL();
	total = fork_bytes(relid, (Form_pg_class) GETSTRUCT(tup), forknum);
	unlock_rel(relid, tup);
	PG_RETURN_INT64(total);
}

/* Relations worth reporting: ours or shared, not TOAST, not temporary. */
static bool
reportable(Form_pg_class cls)
{
	if (cls->relpersistence == RELPERSISTENCE_TEMP)
		return false;
	if (cls->relnamespace == PG_TOAST_NAMESPACE)
		return false;
	if (isAnyTempNamespace(cls->relnamespace))
		return false;
	return true;
}

typedef struct RelRef
{
	Oid			relid;
	char		relkind;
	Oid			relam;
	Oid			toastrel;
} RelRef;

/*
 * The relations of the current database of the given kinds (and, if
 * only_rel is valid, just it and its indexes), from one scan of pg_class.
 */
static RelRef *
collect_relations(const char *kinds, Oid only_rel, int *n)
{
	Relation	pgclass;
	SysScanDesc scan;
	HeapTuple	tup;
	int			cap = 1024;
	RelRef	   *out = palloc(sizeof(RelRef) * cap);

	*n = 0;
	pgclass = table_open(RelationRelationId, AccessShareLock);
	scan = systable_beginscan(pgclass, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);

		if (strchr(kinds, cls->relkind) == NULL || !reportable(cls))
			continue;
		if (OidIsValid(only_rel) && cls->oid != only_rel)
		{
			/* keep an index of the requested table */
			bool		keep = false;

			if (cls->relkind == RELKIND_INDEX)
			{
				HeapTuple	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(cls->oid));

				if (HeapTupleIsValid(itup))
				{
					keep = ((Form_pg_index) GETSTRUCT(itup))->indrelid == only_rel;
					ReleaseSysCache(itup);
				}
			}
			if (!keep)
				continue;
		}
		if (*n >= cap)
		{
			cap *= 2;
			out = repalloc(out, sizeof(RelRef) * cap);
		}
		out[*n].relid = cls->oid;
		out[*n].relkind = cls->relkind;
		out[*n].relam = cls->relam;
		out[*n].toastrel = cls->reltoastrelid;
		(*n)++;
	}
	systable_endscan(scan);
	table_close(pgclass, AccessShareLock);
	return out;
}

/*
 * runbook._relation_sizes(): one row per table, materialized view and
 * index of this database: relid, kind, parent table, main fork bytes,
 * other forks, TOAST bytes, index bytes, total, and the skip reason when
 * a relation was locked.  Never waits on a lock.
 */
Datum
rb_relation_sizes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RelRef	   *rels;
	int			n,
				i;

	InitMaterializedSRF(fcinfo, 0);
	rels = collect_relations("rmi", InvalidOid, &n);

	for (i = 0; i < n; i++)
	{
		Datum		values[9];
		bool		nulls[9];
		HeapTuple	tup;
		bool		locked;
		Form_pg_class cls;
		Oid			parent = InvalidOid;
		int64		main_b = 0,
					other_b = 0,
					toast_b = 0,
					index_b = 0;
		char	   *skip = NULL;

		CHECK_FOR_INTERRUPTS();
		memset(nulls, 0, sizeof(nulls));
		tup = lock_rel_nowait(rels[i].relid, &locked);
		if (tup == NULL && !locked)
			continue;			/* dropped meanwhile */
		if (tup == NULL)
			skip = RB_SKIP_LOCKED;
		else
		{
			ForkNumber	f;

			cls = (Form_pg_class) GETSTRUCT(tup);
			main_b = fork_bytes(rels[i].relid, cls, MAIN_FORKNUM);
			for (f = MAIN_FORKNUM + 1; f <= MAX_FORKNUM; f++)
				other_b += fork_bytes(rels[i].relid, cls, f);

			if (cls->relkind == RELKIND_INDEX)
				parent = IndexGetRelation(rels[i].relid, true);
			else
			{
				List	   *idx = NIL;
				ListCell   *lc;
				Relation	rel;

				/* TOAST heap and its index */
				if (OidIsValid(cls->reltoastrelid))
				{
					int64		t = toast_bytes_nowait(cls->reltoastrelid);

					if (t == -1)
						skip = RB_SKIP_LOCKED;
					toast_b += Max(t, 0);
				}

				/*
				 * Our AccessShareLock on the table was granted and its
				 * pg_class row re-read after it, so the relation exists and
				 * cannot be dropped or rewritten while its relcache entry is
				 * open: NoLock here means "already locked".
				 */
				rel = relation_open(rels[i].relid, NoLock);
				idx = RelationGetIndexList(rel);
				relation_close(rel, NoLock);
				foreach(lc, idx)
				{
					int64		t = rel_bytes_nowait(lfirst_oid(lc), true);

					if (t == -1)
						skip = RB_SKIP_LOCKED;
					index_b += Max(t, 0);
				}
			}
			unlock_rel(rels[i].relid, tup);
		}

		values[0] = ObjectIdGetDatum(rels[i].relid);
		values[1] = CStringGetTextDatum(rels[i].relkind == RELKIND_INDEX ? "index" : "table");
		values[2] = ObjectIdGetDatum(parent);
		nulls[2] = !OidIsValid(parent);
		values[3] = Int64GetDatum(main_b);
		values[4] = Int64GetDatum(other_b);
		values[5] = Int64GetDatum(toast_b);
		values[6] = Int64GetDatum(index_b);
		values[7] = Int64GetDatum(main_b + other_b + toast_b + index_b);
		values[8] = skip ? CStringGetTextDatum(skip) : (Datum) 0;
		nulls[8] = (skip == NULL);
		if (tup == NULL)
		{
			int			k;

			for (k = 3; k <= 7; k++)
				nulls[k] = true;
		}
		if (rels[i].relkind == RELKIND_INDEX)
			nulls[5] = nulls[6] = true; /* no TOAST, no indexes of its own */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------- the bloat estimate ---------- */

/* Bytes an alignment code asks for. */
static int
align_of(char a)
{
	switch (a)
	{
		case TYPALIGN_CHAR:
			return 1;
		case TYPALIGN_SHORT:
			return ALIGNOF_SHORT;
		case TYPALIGN_INT:
			return ALIGNOF_INT;
		default:
			return ALIGNOF_DOUBLE;
	}
}

static double
align_up(double off, int a)
{
	return ceil(off / a) * a;
}

/* Value of an integer reloption ("name=value") or the default. */
static int
reloption_int(Datum reloptions, bool isnull, const char *name, int dflt)
{
	List	   *opts;
	ListCell   *lc;

	if (isnull)
		return dflt;
	opts = untransformRelOptions(reloptions);
	foreach(lc, opts)
	{
		DefElem    *d = lfirst(lc);

		if (strcmp(d->defname, name) == 0 && d->arg)
			return pg_strtoint32(strVal(d->arg));
	}
	return dflt;
}

typedef struct WidthEst
{
	double		data_bytes;		/* expected bytes of attribute data */
	double		null_share;		/* share of tuples with a null bitmap */
	bool		all_fixed;		/* fixed-length, never null: exact sizes */
	int			natts;
	int			missing;		/* columns without statistics */
	char		missing_names[256];
	double		ndistinct;		/* of the first column (indexes), <0: ratio */
} WidthEst;

/*
 * Column facts the estimate needs: from the syscache for one relation, or
 * from maps built by one sequential scan of pg_attribute and pg_statistic
 * when every relation is estimated (tens of thousands of index lookups
 * into cold caches cost far more than two scans).
 */
typedef struct RbCol
{
	int16		attlen;
	char		attalign;
	bool		dropped;
	Oid			typid;
	int32		typmod;
	NameData	name;
} RbCol;

typedef struct RbColKey
{
	Oid			relid;
	int16		attnum;
} RbColKey;

typedef struct RbColEnt
{
	RbColKey	key;
	bool		has_att;
	RbCol		col;
	bool		has_stat;
	float4		nullfrac;
	int32		width;
	float4		ndistinct;
} RbColEnt;

static HTAB *bulk_cols = NULL;

static RbColEnt *
bulk_entry(Oid relid, int16 attnum, bool create)
{
	RbColKey	k;
	bool		found;
	RbColEnt   *e;

	memset(&k, 0, sizeof(k));
	k.relid = relid;
	k.attnum = attnum;
	e = hash_search(bulk_cols, &k, create ? HASH_ENTER : HASH_FIND, &found);
	if (e && create && !found)
	{
		e->has_att = false;
		e->has_stat = false;
	}
	return e;
}

/* Fill bulk_cols from one scan of pg_attribute and one of pg_statistic. */
static void
bulk_load(void)
{
	HASHCTL		ctl;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(RbColKey);
	ctl.entrysize = sizeof(RbColEnt);
	ctl.hcxt = CurrentMemoryContext;
	bulk_cols = hash_create("pg_runbook bloat columns", 65536, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	rel = table_open(AttributeRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_attribute a = (Form_pg_attribute) GETSTRUCT(tup);
		RbColEnt   *e;

		if (a->attnum <= 0)
			continue;
		e = bulk_entry(a->attrelid, a->attnum, true);
		e->has_att = true;
		e->col.attlen = a->attlen;
		e->col.attalign = a->attalign;
		e->col.dropped = a->attisdropped;
		e->col.typid = a->atttypid;
		e->col.typmod = a->atttypmod;
		e->col.name = a->attname;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	rel = table_open(StatisticRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_statistic st = (Form_pg_statistic) GETSTRUCT(tup);
		RbColEnt   *e;

		if (st->stainherit)
			continue;
		e = bulk_entry(st->starelid, st->staattnum, true);
		e->has_stat = true;
		e->nullfrac = st->stanullfrac;
		e->width = st->stawidth;
		e->ndistinct = st->stadistinct;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* One column's catalog facts; false if it does not exist. */
static bool
get_col(Oid relid, AttrNumber attnum, RbCol *c)
{
	HeapTuple	at;
	Form_pg_attribute a;

	if (bulk_cols)
	{
		RbColEnt   *e = bulk_entry(relid, attnum, false);

		if (e == NULL || !e->has_att)
			return false;
		*c = e->col;
		return true;
	}
	at = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(at))
		return false;
	a = (Form_pg_attribute) GETSTRUCT(at);
	c->attlen = a->attlen;
	c->attalign = a->attalign;
	c->dropped = a->attisdropped;
	c->typid = a->atttypid;
	c->typmod = a->atttypmod;
	c->name = a->attname;
	ReleaseSysCache(at);
	return true;
}

/* A column's statistics (pg_statistic, not inherited); false if none. */
static bool
get_stat(Oid relid, AttrNumber attnum, double *nullfrac, double *width,
		 double *ndistinct)
{
	HeapTuple	st;
	Form_pg_statistic s;

	if (bulk_cols)
	{
		RbColEnt   *e = bulk_entry(relid, attnum, false);

		if (e == NULL || !e->has_stat)
			return false;
		*nullfrac = e->nullfrac;
		*width = e->width;
		*ndistinct = e->ndistinct;
		return true;
	}
	st = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(relid),
						 Int16GetDatum(attnum), BoolGetDatum(false));
	if (!HeapTupleIsValid(st))
		return false;
	s = (Form_pg_statistic) GETSTRUCT(st);
	*nullfrac = s->stanullfrac;
	*width = s->stawidth;
	*ndistinct = s->stadistinct;
	ReleaseSysCache(st);
	return true;
}

/*
 * Add one column's expected contribution to a tuple: alignment padding
 * (per typalign, on this platform's alignment values), then its average
 * stored width (stawidth, which for TOASTed values is the pointer size).
 * Short varlenas (1-byte header, under 127 bytes) are not aligned.
 */
static void
add_column(WidthEst *w, Oid statrel, AttrNumber statatt, const RbCol *att)
{
	double		nullfrac = 0.0;
	double		width;
	double		ndistinct = 0;

	w->natts++;
	if (att->dropped)
	{
		w->null_share = 1.0;	/* new tuples store it as a null */
		w->all_fixed = false;
		return;
	}
	if (get_stat(statrel, statatt, &nullfrac, &width, &ndistinct))
	{
		if (w->natts == 1)
			w->ndistinct = ndistinct;
	}
	else
	{
		/* no statistics: the type's typical width, and say so */
		width = att->attlen > 0 ? att->attlen :
			get_typavgwidth(att->typid, att->typmod);
		w->missing++;
		if (strlen(w->missing_names) < 200)
		{
			if (w->missing_names[0])
				strlcat(w->missing_names, ", ", sizeof(w->missing_names));
			strlcat(w->missing_names, NameStr(att->name), 200);
		}
	}
	if (att->attlen > 0)
		width = att->attlen;

	if (nullfrac > 0)
	{
		w->null_share = 1.0 - (1.0 - w->null_share) * (1.0 - nullfrac);
		w->all_fixed = false;
	}
	if (att->attlen < 0)
		w->all_fixed = false;

	/* alignment before a non-null value */
	if (att->attlen > 0 || (att->attlen == -1 && width > 126))
	{
		double		aligned = align_up(w->data_bytes, align_of(att->attalign));

		w->data_bytes += (aligned - w->data_bytes) * (1.0 - nullfrac);
	}
	w->data_bytes += width * (1.0 - nullfrac);
}

/*
 * Expected item bytes (tuple + line pointer) from header and data size:
 * exact MAXALIGN when every tuple has the same size, otherwise the
 * average padding of MAXALIGN.
 */
static double
item_bytes(double header, double data, bool exact)
{
	double		len = header + data;

	if (exact)
		return MAXALIGN((Size) ceil(len)) + sizeof(ItemIdData);
	return len + (MAXIMUM_ALIGNOF - 1) / 2.0 + sizeof(ItemIdData);
}

/* Tuples per page for a page space and item size. */
static double
per_page(double space, double item, bool exact, double max_items)
{
	double		n;

	if (exact)
		n = floor(space / item);
	else
		n = (space - item / 2.0) / item;
	if (n < 1)
		n = 1;
	return Min(n, max_items);
}

typedef struct BloatRow
{
	Oid			relid;
	bool		is_index;
	Oid			table;
	int64		size;
	double		expected_pages;
	double		live;
	double		dead;
	int64		toast;
	int			fillfactor;
	bool		estimated;
	bool		skipped;
	const char *confidence;
	StringInfoData reason;
} BloatRow;

static void
add_reason(BloatRow *r, const char *conf, const char *fmt, const char *arg)
{
	/* confidence only goes down */
	if (strcmp(conf, "low") == 0 ||
		(strcmp(conf, "medium") == 0 && strcmp(r->confidence, "high") == 0))
		r->confidence = conf;
	if (r->reason.len > 0)
		appendStringInfoString(&r->reason, "; ");
	appendStringInfo(&r->reason, fmt, arg);
}

/*
 * Live and dead tuple counts of a table.  Live: pg_class.reltuples, set by
 * the last VACUUM or ANALYZE together with the pages it saw (the
 * cumulative n_live_tup can lag behind, or run ahead of, what VACUUM
 * found); the cumulative count only when the table was never vacuumed or
 * analyzed.  *stale: rows changed since the last ANALYZE.
 */
static void
table_counts(Oid relid, float4 reltuples, double *live, double *dead,
			 bool *known, double *stale)
{
	PgStat_StatTabEntry *e = pgstat_fetch_stat_tabentry(relid);

	*dead = 0;
	*stale = 0;
	*known = reltuples >= 0;
	*live = Max(reltuples, 0);
	if (e)
	{
		*dead = RB_TABSTAT_DEAD_TUPLES(e);
		*stale = RB_TABSTAT_MOD_SINCE_ANALYZE(e);
		if (reltuples < 0 && RB_TABSTAT_LIVE_TUPLES(e) > 0)
		{
			*live = RB_TABSTAT_LIVE_TUPLES(e);
			*known = true;
		}
	}
}

/* Say so when many rows changed since the counts were taken. */
static void
note_stale(BloatRow *r, double live, double stale)
{
	if (stale > 50 && stale > 0.2 * live)
	{
		char		buf[64];

		snprintf(buf, sizeof(buf), "%.0f", stale);
		add_reason(r, "medium", "statistics are stale: %s rows changed since the last ANALYZE", buf);
	}
}

static void
estimate_table(BloatRow *r, Form_pg_class cls, Datum relopts, bool optsnull)
{
	WidthEst	w;
	AttrNumber	a;
	double		hdr,
				item,
				space,
				tpp;
	bool		known;
	double		stale;

	memset(&w, 0, sizeof(w));
	w.all_fixed = true;
	r->fillfactor = reloption_int(relopts, optsnull, "fillfactor", HEAP_DEFAULT_FILLFACTOR);
	table_counts(r->relid, cls->reltuples, &r->live, &r->dead, &known, &stale);

	for (a = 1; a <= cls->relnatts; a++)
	{
		RbCol		col;

		if (get_col(r->relid, a, &col))
			add_column(&w, r->relid, a, &col);
	}

	if (!known)
	{
		add_reason(r, "low", "no statistics: never vacuumed or analyzed%s; run ANALYZE", "");
		return;
	}
	if (w.missing > 0)
		add_reason(r, "low", "no column statistics (%s); run ANALYZE", w.missing_names);
	else
		note_stale(r, r->live, stale);

	hdr = MAXALIGN(SizeofHeapTupleHeader) * (1.0 - w.null_share) +
		MAXALIGN(SizeofHeapTupleHeader + BITMAPLEN(w.natts)) * w.null_share;
	item = item_bytes(hdr, w.data_bytes, w.all_fixed);
	space = BLCKSZ - SizeOfPageHeaderData - (double) BLCKSZ * (100 - r->fillfactor) / 100;
	tpp = per_page(space, item, w.all_fixed, MaxHeapTuplesPerPage);
	r->expected_pages = ceil(r->live / tpp);
	r->estimated = true;
}

static void
estimate_btree(BloatRow *r, Form_pg_class cls, Datum relopts, bool optsnull)
{
	HeapTuple	itup;
	Form_pg_index ind;
	WidthEst	w;
	int			i;
	double		hdr,
				item,
				leaf_space,
				tpp,
				leaves,
				level,
				pages;
	float4		table_reltuples = -1;
	HeapTuple	tt;
	bool		dedup;

	memset(&w, 0, sizeof(w));
	w.all_fixed = true;
	r->fillfactor = reloption_int(relopts, optsnull, "fillfactor", BTREE_DEFAULT_FILLFACTOR);

	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(r->relid));
	if (!HeapTupleIsValid(itup))
		return;
	ind = (Form_pg_index) GETSTRUCT(itup);
	r->table = ind->indrelid;

	for (i = 0; i < ind->indnatts; i++)
	{
		AttrNumber	tabatt = ind->indkey.values[i];
		RbCol		col;

		if (!get_col(r->relid, i + 1, &col))
			continue;
		/* stored type from the index; statistics from the table column or the index expression */
		if (tabatt != 0)
			add_column(&w, ind->indrelid, tabatt, &col);
		else
			add_column(&w, r->relid, i + 1, &col);
	}

	/* tuple count: the table's (fresher) for a full index, scaled for a partial one */
	tt = SearchSysCache1(RELOID, ObjectIdGetDatum(ind->indrelid));
	if (HeapTupleIsValid(tt))
	{
		bool		known;
		double		stale;

		table_reltuples = ((Form_pg_class) GETSTRUCT(tt))->reltuples;
		table_counts(ind->indrelid, table_reltuples, &r->live, &r->dead, &known, &stale);
		note_stale(r, r->live, stale);
		ReleaseSysCache(tt);
		if (!heap_attisnull(itup, Anum_pg_index_indpred, NULL))
		{
			if (cls->reltuples >= 0 && table_reltuples > 0)
				r->live = cls->reltuples * (r->live / table_reltuples);
			else
				known = false;
			add_reason(r, "medium", "partial index: entries scaled from the last count%s", "");
		}
		if (!known)
		{
			ReleaseSysCache(itup);
			add_reason(r, "low", "no statistics: table never vacuumed or analyzed%s; run ANALYZE", "");
			return;
		}
	}
	r->dead = 0;				/* dead share is the table's business */
	if (w.missing > 0)
		add_reason(r, "low", "no column statistics (%s); run ANALYZE on the table", w.missing_names);

	/* deduplication: posting lists store repeated keys once */
	dedup = !ind->indisunique &&
		reloption_int(relopts, optsnull, "deduplicate_items", 1) != 0;
	ReleaseSysCache(itup);

	hdr = w.null_share > 0 ?
		MAXALIGN(sizeof(IndexTupleData)) * (1.0 - w.null_share) +
		MAXALIGN(sizeof(IndexTupleData) + sizeof(IndexAttributeBitMapData)) * w.null_share :
		MAXALIGN(sizeof(IndexTupleData));
	item = item_bytes(hdr, w.data_bytes, w.all_fixed);
	leaf_space = BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(BTPageOpaqueData));

	if (dedup && w.natts == 1 && w.ndistinct != 0)
	{
		double		distinct = w.ndistinct > 0 ? w.ndistinct : -w.ndistinct * r->live;
		double		dups = distinct > 0 ? r->live / distinct : 1;

		if (dups >= 2)
		{
			/* one posting tuple per key (per ~1/6 page), 6 bytes per heap TID */
			double		per_tuple = Min(dups, (leaf_space / 6 - item) / sizeof(ItemPointerData));
			double		ntup = r->live / per_tuple;

			item = (item + per_tuple * sizeof(ItemPointerData) + (MAXIMUM_ALIGNOF - 1) / 2.0);
			r->live = ntup;
			w.all_fixed = false;
			add_reason(r, "medium", "duplicate keys: deduplicated posting lists modelled from n_distinct%s", "");
		}
	}

	tpp = per_page(leaf_space - (double) BLCKSZ * (100 - r->fillfactor) / 100, item,
				   w.all_fixed, MaxIndexTuplesPerPage) - 1;	/* the high key */
	if (tpp < 1)
		tpp = 1;
	leaves = ceil(r->live / tpp);
	pages = 1 + leaves;			/* metapage */
	level = leaves;
	while (level > 1)
	{
		/* internal pages: truncated pivot keys, 70 % full at build time */
		double		ipp = per_page(leaf_space * BTREE_NONLEAF_FILLFACTOR / 100,
								   item, false, MaxIndexTuplesPerPage);

		level = ceil(level / ipp);
		pages += level;
	}
	r->expected_pages = r->live > 0 ? pages : 1;
	r->estimated = true;
}

/*
 * runbook._bloat_estimate(rel regclass): the catalog estimate for every
 * table, materialized view and index (or one table and its indexes).
 * Columns: relid, kind, table, size_bytes, expected_bytes, bloat_bytes,
 * live, dead, toast_bytes, fillfactor, confidence, reason, skipped.
 */
Datum
rb_bloat_estimate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			only = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	RelRef	   *rels;
	int			n,
				i;

	InitMaterializedSRF(fcinfo, 0);
	rels = collect_relations("rmi", only, &n);
	bulk_cols = NULL;
	if (n > 100)
		bulk_load();

	for (i = 0; i < n; i++)
	{
		BloatRow	r;
		HeapTuple	tup;
		bool		locked;
		Datum		values[13];
		bool		nulls[13];

		CHECK_FOR_INTERRUPTS();
		memset(&r, 0, sizeof(r));
		memset(nulls, 0, sizeof(nulls));
		r.relid = rels[i].relid;
		r.is_index = rels[i].relkind == RELKIND_INDEX;
		r.confidence = "high";
		initStringInfo(&r.reason);

		tup = lock_rel_nowait(r.relid, &locked);
		if (tup == NULL && !locked)
			continue;
		if (tup == NULL)
		{
			r.skipped = true;
			r.confidence = "low";
			if (r.is_index)
				r.table = IndexGetRelation(r.relid, true);
		}
		else
		{
			Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);
			bool		optsnull;
			Datum		opts = SysCacheGetAttr(RELOID, tup, Anum_pg_class_reloptions, &optsnull);

			r.size = fork_bytes(r.relid, cls, MAIN_FORKNUM);
			if (!r.is_index)
			{
				if (OidIsValid(cls->reltoastrelid))
				{
					int64		t = rel_bytes_nowait(cls->reltoastrelid, false);

					r.toast = Max(t, 0);
				}
				estimate_table(&r, cls, opts, optsnull);
				if (r.toast > 0 && r.toast >= r.size)
					add_reason(&r, "medium", "TOAST-heavy (%s in TOAST): the figure covers the main table, whose rows hold TOAST pointers; TOAST itself is not estimated (method 'exact' measures it)",
							   text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(r.toast)))));
			}
			else if (cls->relam == BTREE_AM_OID)
				estimate_btree(&r, cls, opts, optsnull);
			else
			{
				r.table = IndexGetRelation(r.relid, true);
				add_reason(&r, "low", "non-btree index (%s): no estimate; use method 'exact'",
						   get_am_name(cls->relam) ? get_am_name(cls->relam) : "?");
			}
			if (r.estimated && r.size < 16 * BLCKSZ)
				add_reason(&r, "low", "tiny relation (under 16 pages): page granularity dominates%s", "");
			unlock_rel(r.relid, tup);
		}

		values[0] = ObjectIdGetDatum(r.relid);
		values[1] = CStringGetTextDatum(r.is_index ? "index" : "table");
		values[2] = ObjectIdGetDatum(r.is_index ? r.table : r.relid);
		nulls[2] = r.is_index && !OidIsValid(r.table);
		values[3] = Int64GetDatum(r.size);
		nulls[3] = r.skipped;
		if (r.estimated)
		{
			int64		expected = (int64) r.expected_pages * BLCKSZ;

			values[4] = Int64GetDatum(expected);
			values[5] = Int64GetDatum(Max(r.size - expected, 0));
		}
		else
			nulls[4] = nulls[5] = true;
		values[6] = Float8GetDatum(r.live);
		values[7] = Float8GetDatum(r.dead);
		nulls[6] = nulls[7] = !r.estimated;
		values[8] = Int64GetDatum(r.toast);
		nulls[8] = r.is_index || r.skipped;
		values[9] = Int32GetDatum(r.fillfactor);
		nulls[9] = !r.estimated;
		values[10] = CStringGetTextDatum(r.confidence);
		values[11] = CStringGetTextDatum(r.reason.data);
		nulls[11] = r.reason.len == 0;
		values[12] = BoolGetDatum(r.skipped);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	bulk_cols = NULL;			/* freed with the call's memory */
	return (Datum) 0;
}

/* ---------- sequences ---------- */

/*
 * runbook._sequence_last_value(seq regclass, OUT last_value bigint,
 * OUT skipped text): the sequence's last value, read only if a
 * RowExclusiveLock (what reading it takes) is free at once.
 */
Datum
rb_sequence_last_value(PG_FUNCTION_ARGS)
{
	Oid			seqid = PG_GETARG_OID(0);
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (get_rel_relkind(seqid) != RELKIND_SEQUENCE)
	{
		values[1] = CStringGetTextDatum("not a sequence");
		nulls[1] = false;
	}
	else if (pg_class_aclcheck(seqid, GetUserId(), ACL_SELECT | ACL_USAGE) != ACLCHECK_OK)
	{
		values[1] = CStringGetTextDatum("skipped: no SELECT or USAGE privilege on the sequence");
		nulls[1] = false;
	}
	else if (!ConditionalLockRelationOid(seqid, RowExclusiveLock))
	{
		values[1] = CStringGetTextDatum(RB_SKIP_LOCKED);
		nulls[1] = false;
	}
	else
	{
		LOCAL_FCINFO(inner, 1);
		Datum		d;

		InitFunctionCallInfoData(*inner, NULL, 1, InvalidOid, NULL, NULL);
		inner->args[0].value = ObjectIdGetDatum(seqid);
		inner->args[0].isnull = false;
		d = pg_sequence_last_value(inner);
		if (!inner->isnull)
		{
			values[0] = d;
			nulls[0] = false;
		}
		UnlockRelationOid(seqid, RowExclusiveLock);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
