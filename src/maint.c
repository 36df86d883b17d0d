/*-------------------------------------------------------------------------
 *
 * maint.c
 *		Maintenance and capacity diagnostics that must be fast or must never
 *		wait on a lock: relation sizes without queueing behind DDL and the
 *		last value of a sequence read with a conditional lock.  (The bloat
 *		estimate is bloat.c.)
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
#include "catalog/pg_type.h"
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
#include "utils/array.h"
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
PG_FUNCTION_INFO_V1(rb_sizes_nowait);
PG_FUNCTION_INFO_V1(rb_sequence_last_value);

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

/*
 * runbook._sizes_nowait(rels oid[], OUT relid oid, OUT bytes bigint): the
 * main-fork size of each relation of the array, in one call (a per-row call
 * of relation_size_nowait() pays the function-call and search_path cost on
 * every row); bytes NULL when the relation is locked, no row when it is gone.
 */
Datum
rb_sizes_nowait(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *enulls;
	int			n,
				i;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	arr = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(arr, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &elems, &enulls, &n);
	for (i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		int64		b;

		CHECK_FOR_INTERRUPTS();
		if (enulls[i])
			continue;
		b = rel_bytes_nowait(DatumGetObjectId(elems[i]), false);
		if (b == -2)
			continue;			/* gone */
		values[0] = elems[i];
		values[1] = Int64GetDatum(b);
		nulls[1] = (b < 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
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
