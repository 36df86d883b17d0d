/*-------------------------------------------------------------------------
 *
 * bloat.c
 *		The catalog-based bloat estimate behind runbook.bloat_report():
 *		runbook._bloat_rows() returns the finished rows (sizes, percent,
 *		confidence, reason and what to do), runbook._bloat_advice() the
 *		decision for a measured row, and runbook._bloat_estimate() the 1.0 /
 *		1.1 columns for an extension not updated yet.
 *
 * Speed.  A whole database is read in four sequential scans (pg_class,
 * pg_index, pg_attribute, pg_statistic) into arrays; per relation there is
 * one conditional lock, one stat() of its file (relative to a descriptor of
 * the database directory) and, for a table, its TOAST table's and its entry
 * in the cumulative statistics.  No per-relation catalog lookup: the
 * pg_class row of the scan is used unless an invalidation for that row
 * arrived since the scan began (a syscache callback records them), in which
 * case the row is read again after the lock, as lock_rel_nowait() in
 * maint.c does for every relation.
 *
 * Locking rule (maint.c's): a relation's file is looked at only under an
 * AccessShareLock taken with ConditionalLockRelationOid(); a relation
 * whose lock is not free at once is reported as skipped, never waited for.
 *
 * The estimate is what pgstattuple / pgstatindex would call free or dead
 * space, less what a rewrite leaves free anyway (fillfactor, a page's last
 * partial row): size minus the size of the same live rows packed as a
 * rewrite packs them.  Index entries of dead rows not yet vacuumed count as
 * used (pgstatindex counts them); the reason says VACUUM will free them.
 * Confidence says how far the figure can be trusted: 'high' and 'medium'
 * are within 15 points of pgstattuple on the accuracy corpus
 * (sql_tests/t/401_bloat_accuracy.pl); 'low' says why and what measures it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "access/genam.h"
#include "access/hash.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/pg_am.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_tablespace.h"
#include "commands/defrem.h"
#include "common/relpath.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufpage.h"
#include "storage/bufmgr.h"
#include "storage/fd.h"
#include "storage/fsm_internals.h"
#include "storage/smgr.h"
#include "storage/itemid.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relmapper.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"

PG_FUNCTION_INFO_V1(rb_bloat_rows);
PG_FUNCTION_INFO_V1(rb_bloat_advice);
PG_FUNCTION_INFO_V1(rb_bloat_estimate);

/* thresholds of the advice (also in docs/maintenance.md) */
#define RB_DEAD_PCT_VACUUM		20.0
#define RB_BLOAT_PCT_REBUILD	30.0
#define RB_BLOAT_BYTES_REBUILD	(8 * 1024 * 1024)
/* the free space map's depth for this block size, as freespace.c computes it */
#define FSM_TREE_DEPTH ((SlotsPerFSMPage >= 1626) ? 3 : 4)
/* under this many pages, page granularity dominates */
#define RB_TINY_PAGES			16

/* ---------- what the scans keep ---------- */

typedef struct BCol
{
	bool		valid;
	bool		dropped;
	bool		notnull;
	bool		has_stat;
	char		attalign;
	int16		attlen;
	Oid			typid;
	int32		typmod;
	float4		nullfrac;
	int32		width;
	float4		ndistinct;
} BCol;

typedef struct BKey
{
	AttrNumber	att;			/* table column, 0: expression */
	Oid			opclass;
	Oid			collation;
} BKey;

typedef struct BIdx
{
	Oid			indrelid;
	int16		natts;
	int16		nkeyatts;
	bool		unique;
	bool		partial;
	int			keys;			/* first BKey */
} BIdx;

typedef struct BCounts
{
	bool		done;
	bool		known;			/* a row count exists */
	bool		from_pgstat;	/* live from n_live_tup (else reltuples) */
	bool		disagree;		/* n_live_tup and reltuples disagree */
	double		live;
	double		dead;
	double		dead_entries;	/* dead rows that have their own index entries */
	double		mod;			/* changed since the last ANALYZE */
	double		ins_since_vacuum;
	double		changes;		/* rows ever updated or deleted (since a reset) */
} BCounts;

typedef struct BRel
{
	Oid			oid;
	Oid			relam;
	Oid			toast;
	Oid			filenode;
	Oid			spc;
	float4		reltuples;
	int32		relpages;
	int16		natts;			/* column slots (from the scan, never changed) */
	char		relkind;
	bool		shared;
	bool		report;			/* a row of its own (else kept for its size) */
	int16		fillfactor;		/* -1: the access method's default */
	int8		dedup;			/* deduplicate_items: -1 unset, 0 off, 1 on */
	uint32		hash;			/* RELOID syscache hash value */
	Oid			nsp;			/* relnamespace */
	int			name;			/* its relname in BCat.names */
	int			cols;			/* first BCol, -1: none */
	int			idx;			/* BIdx of an index, -1 */
	BCounts		counts;			/* a table's, filled on first use */
} BRel;

typedef struct BCat
{
	BRel	   *rels;
	int			nrels;
	int			caprels;
	BCol	   *cols;
	int			ncols;
	BIdx	   *idx;
	int			nidx;
	int			capidx;
	BKey	   *keys;
	int			nkeys;
	int			capkeys;
	StringInfoData names;		/* relnames, each NUL-terminated (BRel.name):
								 * an arena, so that the array qsort moves
								 * stays small */
} BCat;

/* ---------- pg_class invalidations since the scan ---------- */

#define RB_INVAL_MAX 256

static bool inval_registered = false;
static bool inval_tracking = false;
static bool inval_all = false;
static int	inval_n = 0;
static uint32 inval_hash[RB_INVAL_MAX];

/*
 * Syscache callback on pg_class rows: record the hash value of every row
 * invalidated while a call is running (0, or too many: all of them).
 * Called while invalidation messages are processed: no allocation, no error.
 */
static void
bloat_pg_class_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	if (!inval_tracking)
		return;
	if (hashvalue == 0 || inval_n >= RB_INVAL_MAX)
		inval_all = true;
	else
		inval_hash[inval_n++] = hashvalue;
}

/* Start recording; before the scans, so that nothing committed after their snapshot is missed. */
static void
inval_begin(void)
{
	if (!inval_registered)
	{
		CacheRegisterSyscacheCallback(RELOID, bloat_pg_class_inval, (Datum) 0);
		inval_registered = true;
	}
	inval_n = 0;
	inval_all = false;
	inval_tracking = true;
}

static bool
inval_seen(uint32 hash)
{
	int			i;

	if (inval_all)
		return true;
	for (i = 0; i < inval_n; i++)
		if (inval_hash[i] == hash)
			return true;
	return false;
}

/* ---------- the scans ---------- */

static void
parse_reloptions(BRel *r, Datum opts)
{
	List	   *l = untransformRelOptions(opts);
	ListCell   *lc;

	foreach(lc, l)
	{
		DefElem    *d = lfirst(lc);
		char	   *v;
		bool		b;

		if (d->arg == NULL)
			continue;
		v = strVal(d->arg);
		if (strcmp(d->defname, "fillfactor") == 0)
			r->fillfactor = (int16) pg_strtoint32(v);
		else if (strcmp(d->defname, "deduplicate_items") == 0 && parse_bool(v, &b))
			r->dedup = b ? 1 : 0;
	}
	list_free_deep(l);
}

/* Fill a BRel from a pg_class row; false if it is not one we keep. */
static bool
rel_from_tuple(BRel *r, HeapTuple tup, TupleDesc desc)
{
	Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);
	Datum		opts;
	bool		isnull;

	if (cls->relpersistence == RELPERSISTENCE_TEMP)
		return false;
	switch (cls->relkind)
	{
		case RELKIND_RELATION:
		case RELKIND_MATVIEW:
			r->report = cls->relnamespace != PG_TOAST_NAMESPACE;
			break;
		case RELKIND_INDEX:
			if (cls->relnamespace == PG_TOAST_NAMESPACE)
				return false;
			r->report = true;
			break;
		case RELKIND_TOASTVALUE:
			r->report = false;
			break;
		default:
			return false;
	}
	r->oid = cls->oid;
	r->relam = cls->relam;
	r->toast = cls->reltoastrelid;
	r->filenode = cls->relfilenode;
	r->spc = cls->reltablespace;
	r->shared = cls->relisshared;
	r->relkind = cls->relkind;
	r->reltuples = cls->reltuples;
	r->relpages = cls->relpages;
	r->natts = cls->relnatts;
	r->fillfactor = -1;
	r->dedup = -1;
	r->cols = -1;
	r->idx = -1;
	memset(&r->counts, 0, sizeof(r->counts));
	/* most relations have no options: the null bitmap says so cheaply */
	if (!heap_attisnull(tup, Anum_pg_class_reloptions, desc))
	{
		if (desc)
			opts = heap_getattr(tup, Anum_pg_class_reloptions, desc, &isnull);
		else
			opts = SysCacheGetAttr(RELOID, tup, Anum_pg_class_reloptions, &isnull);
		if (!isnull)
			parse_reloptions(r, opts);
	}
	r->hash = GetSysCacheHashValue1(RELOID, ObjectIdGetDatum(r->oid));
	return true;
}

/* The relation's schema and name, as its pg_class row has them. */
static void
cat_set_name(BCat *c, BRel *r, HeapTuple tup)
{
	Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);

	r->nsp = cls->relnamespace;
	r->name = c->names.len;
	appendBinaryStringInfo(&c->names, NameStr(cls->relname), strlen(NameStr(cls->relname)) + 1);
}

static BRel *
cat_new_rel(BCat *c)
{
	if (c->nrels >= c->caprels)
	{
		c->caprels = c->caprels ? c->caprels * 2 : 1024;
		c->rels = c->rels ? repalloc_huge(c->rels, sizeof(BRel) * c->caprels) :
			palloc_extended(sizeof(BRel) * c->caprels, MCXT_ALLOC_HUGE);
	}
	return &c->rels[c->nrels];
}

static void
cat_add_tuple(BCat *c, HeapTuple tup, TupleDesc desc, bool report)
{
	BRel	   *r = cat_new_rel(c);

	if (rel_from_tuple(r, tup, desc))
	{
		r->report = r->report && report;
		cat_set_name(c, r, tup);
		c->nrels++;
	}
}

static int
rel_cmp(const void *a, const void *b)
{
	Oid			x = ((const BRel *) a)->oid;
	Oid			y = ((const BRel *) b)->oid;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static BRel *
cat_find(BCat *c, Oid oid)
{
	int			lo = 0,
				hi = c->nrels - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		Oid			m = c->rels[mid].oid;

		if (m == oid)
			return &c->rels[mid];
		if (m < oid)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* Record a pg_index row for an index we keep. */
static void
cat_add_index(BCat *c, HeapTuple tup, TupleDesc desc)
{
	Form_pg_index ind = (Form_pg_index) GETSTRUCT(tup);
	BRel	   *r = cat_find(c, ind->indexrelid);
	BIdx	   *x;
	Datum		d;
	bool		isnull;
	oidvector  *opclass = NULL;
	oidvector  *coll = NULL;
	int			i;

	if (r == NULL || r->relkind != RELKIND_INDEX || r->idx >= 0)
		return;
	if (c->nidx >= c->capidx)
	{
		c->capidx = c->capidx ? c->capidx * 2 : 1024;
		c->idx = c->idx ? repalloc_huge(c->idx, sizeof(BIdx) * c->capidx) :
			palloc_extended(sizeof(BIdx) * c->capidx, MCXT_ALLOC_HUGE);
	}
	while (c->nkeys + ind->indnatts > c->capkeys)
	{
		c->capkeys = c->capkeys ? c->capkeys * 2 : 2048;
		c->keys = c->keys ? repalloc_huge(c->keys, sizeof(BKey) * c->capkeys) :
			palloc_extended(sizeof(BKey) * c->capkeys, MCXT_ALLOC_HUGE);
	}
	x = &c->idx[c->nidx];
	x->indrelid = ind->indrelid;
	x->natts = ind->indnatts;
	x->nkeyatts = ind->indnkeyatts;
	x->unique = ind->indisunique;
	x->partial = !heap_attisnull(tup, Anum_pg_index_indpred, desc);
	x->keys = c->nkeys;
	d = desc ? heap_getattr(tup, Anum_pg_index_indclass, desc, &isnull) :
		SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indclass, &isnull);
	if (!isnull)
		opclass = (oidvector *) DatumGetPointer(d);
	d = desc ? heap_getattr(tup, Anum_pg_index_indcollation, desc, &isnull) :
		SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indcollation, &isnull);
	if (!isnull)
		coll = (oidvector *) DatumGetPointer(d);
	for (i = 0; i < ind->indnatts; i++)
	{
		BKey	   *k = &c->keys[c->nkeys++];

		k->att = ind->indkey.values[i];
		k->opclass = (opclass && i < opclass->dim1) ? opclass->values[i] : InvalidOid;
		k->collation = (coll && i < coll->dim1) ? coll->values[i] : InvalidOid;
	}
	r->idx = c->nidx++;
}

/* Column slots for every reported relation, in oid order. */
static void
cat_alloc_cols(BCat *c)
{
	int			i,
				n = 0;

	for (i = 0; i < c->nrels; i++)
		if (c->rels[i].report && c->rels[i].natts > 0)
		{
			c->rels[i].cols = n;
			n += c->rels[i].natts;
		}
	c->ncols = n;
	c->cols = palloc_extended(sizeof(BCol) * Max(n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

static BCol *
cat_col(BCat *c, BRel *r, AttrNumber attnum)
{
	if (r == NULL || r->cols < 0 || attnum < 1 || attnum > r->natts)
		return NULL;
	return &c->cols[r->cols + attnum - 1];
}

static void
col_from_att(BCol *col, Form_pg_attribute a)
{
	col->valid = true;
	col->dropped = a->attisdropped;
	col->notnull = a->attnotnull;
	col->attalign = a->attalign;
	col->attlen = a->attlen;
	col->typid = a->atttypid;
	col->typmod = a->atttypmod;
}

static void
col_from_stat(BCol *col, Form_pg_statistic s)
{
	col->has_stat = true;
	col->nullfrac = s->stanullfrac;
	col->width = s->stawidth;
	col->ndistinct = s->stadistinct;
}

/* Every relation of the database: four sequential scans. */
static void
cat_load_all(BCat *c)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	BRel	   *last = NULL;
	Oid			last_oid = InvalidOid;

	rel = table_open(RelationRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		cat_add_tuple(c, tup, RelationGetDescr(rel), true);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (c->nrels > 1)
		qsort(c->rels, c->nrels, sizeof(BRel), rel_cmp);

	rel = table_open(IndexRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		cat_add_index(c, tup, RelationGetDescr(rel));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	cat_alloc_cols(c);

	/* a relation's rows are mostly next to each other: look it up once for them */
	rel = table_open(AttributeRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_attribute a = (Form_pg_attribute) GETSTRUCT(tup);
		BCol	   *col;

		if (a->attnum <= 0)
			continue;
		if (a->attrelid != last_oid)
		{
			last = cat_find(c, a->attrelid);
			last_oid = a->attrelid;
		}
		col = cat_col(c, last, a->attnum);
		if (col)
			col_from_att(col, a);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	rel = table_open(StatisticRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_statistic s = (Form_pg_statistic) GETSTRUCT(tup);
		BCol	   *col;

		if (s->stainherit)
			continue;
		if (s->starelid != last_oid)
		{
			last = cat_find(c, s->starelid);
			last_oid = s->starelid;
		}
		col = cat_col(c, last, s->staattnum);
		if (col)
			col_from_stat(col, s);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* Add one relation by oid from the syscache (and its TOAST table). */
static void
cat_add_oid(BCat *c, Oid oid, bool report)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(oid));

	if (!HeapTupleIsValid(tup))
		return;
	cat_add_tuple(c, tup, NULL, report);
	ReleaseSysCache(tup);
}

/*
 * One table and its indexes (or one index and, for its row counts, its
 * table), through the syscache and pg_index's index on indrelid.
 */
static void
cat_load_one(BCat *c, Oid only)
{
	char		relkind = get_rel_relkind(only);
	Oid			table = only;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	int			i;
	int			nrels;

	if (relkind == RELKIND_INDEX)
	{
		table = IndexGetRelation(only, true);
		cat_add_oid(c, only, true);
		if (OidIsValid(table))
			cat_add_oid(c, table, false);
	}
	else if (relkind == RELKIND_RELATION || relkind == RELKIND_MATVIEW)
	{
		cat_add_oid(c, only, true);
		rel = table_open(IndexRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_index_indrelid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(only));
		scan = systable_beginscan(rel, IndexIndrelidIndexId, true, NULL, 1, &key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
			cat_add_oid(c, ((Form_pg_index) GETSTRUCT(tup))->indexrelid, true);
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	else
		return;
	nrels = c->nrels;
	for (i = 0; i < nrels; i++)
		if (OidIsValid(c->rels[i].toast))
			cat_add_oid(c, c->rels[i].toast, false);
	if (c->nrels > 1)
		qsort(c->rels, c->nrels, sizeof(BRel), rel_cmp);

	for (i = 0; i < c->nrels; i++)
	{
		if (c->rels[i].relkind != RELKIND_INDEX)
			continue;
		tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(c->rels[i].oid));
		if (HeapTupleIsValid(tup))
		{
			cat_add_index(c, tup, NULL);
			ReleaseSysCache(tup);
		}
	}

	/* the table's columns too: an index of it needs their statistics */
	for (i = 0; i < c->nrels; i++)
		if (c->rels[i].relkind != RELKIND_TOASTVALUE)
			c->rels[i].report = c->rels[i].report || c->rels[i].oid == table;
	cat_alloc_cols(c);
	for (i = 0; i < c->nrels; i++)
	{
		BRel	   *r = &c->rels[i];
		AttrNumber	a;

		for (a = 1; r->cols >= 0 && a <= r->natts; a++)
		{
			BCol	   *col = cat_col(c, r, a);

			tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(r->oid), Int16GetDatum(a));
			if (HeapTupleIsValid(tup))
			{
				col_from_att(col, (Form_pg_attribute) GETSTRUCT(tup));
				ReleaseSysCache(tup);
			}
			tup = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(r->oid),
								  Int16GetDatum(a), BoolGetDatum(false));
			if (HeapTupleIsValid(tup))
			{
				col_from_stat(col, (Form_pg_statistic) GETSTRUCT(tup));
				ReleaseSysCache(tup);
			}
		}
	}
	/* only the requested relation and its indexes are rows */
	for (i = 0; i < c->nrels; i++)
		if (c->rels[i].oid == table && table != only)
			c->rels[i].report = false;
}

/*
 * Read a relation's pg_class row again (after its lock: an invalidation
 * arrived since the scan).  False if it is gone.
 */
static bool
rel_refresh(BCat *c, BRel *r)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(r->oid));
	BRel		fresh;
	bool		report = r->report;

	if (!HeapTupleIsValid(tup))
		return false;
	memset(&fresh, 0, sizeof(fresh));
	if (!rel_from_tuple(&fresh, tup, NULL))
	{
		ReleaseSysCache(tup);
		return false;
	}
	/* renamed meanwhile: the new name */
	if (strcmp(NameStr(((Form_pg_class) GETSTRUCT(tup))->relname), c->names.data + r->name) != 0 ||
		((Form_pg_class) GETSTRUCT(tup))->relnamespace != r->nsp)
		cat_set_name(c, r, tup);
	ReleaseSysCache(tup);
	r->relam = fresh.relam;
	r->toast = fresh.toast;
	r->filenode = fresh.filenode;
	r->spc = fresh.spc;
	r->shared = fresh.shared;
	r->reltuples = fresh.reltuples;
	r->relpages = fresh.relpages;
	r->fillfactor = fresh.fillfactor;
	r->dedup = fresh.dedup;
	r->report = report;
	return true;
}

/* ---------- file sizes ---------- */

typedef struct Sizer
{
	DIR		   *dbdir;			/* the database's directory in its default tablespace */
} Sizer;

static void
sizer_open(Sizer *s)
{
	char	   *path = GetDatabasePath(MyDatabaseId, MyDatabaseTableSpace);

	s->dbdir = AllocateDir(path);	/* NULL on failure: full paths then */
	pfree(path);
}

static void
sizer_close(Sizer *s)
{
	if (s->dbdir)
		FreeDir(s->dbdir);
	s->dbdir = NULL;
}

/*
 * Bytes of a relation's main fork, from stat() on its segment files (the
 * caller holds a lock on it).  As md.c, a segment shorter than a full one
 * is the last.  A missing file counts as zero.
 */
static int64
main_fork_bytes(Sizer *s, const BRel *r)
{
	Oid			spc = OidIsValid(r->spc) ? r->spc :
		(r->shared ? GLOBALTABLESPACE_OID : MyDatabaseTableSpace);
	Oid			filenode = OidIsValid(r->filenode) ? r->filenode :
		rb_relation_map_filenumber(r->oid, r->shared);
	bool		local = s->dbdir != NULL && !r->shared && spc == MyDatabaseTableSpace;
	char	   *path = NULL;
	char		seg[MAXPGPATH];
	int64		total = 0;
	unsigned int segno;

	if (!OidIsValid(filenode))
		return 0;
	if (!local)
		path = rb_relation_fork_path(spc, r->shared ? InvalidOid : MyDatabaseId,
									 filenode, MAIN_FORKNUM);
	for (segno = 0;; segno++)
	{
		struct stat st;
		int			rc;

		if (local)
		{
			/* "filenode" or "filenode.segno" (no snprintf: one per relation adds up) */
			char	   *p = seg + pg_ultoa_n(filenode, seg);

			if (segno > 0)
			{
				*p++ = '.';
				p += pg_ultoa_n(segno, p);
			}
			*p = '\0';
			rc = fstatat(dirfd(s->dbdir), seg, &st, 0);
		}
		else
		{
			if (segno == 0)
				snprintf(seg, sizeof(seg), "%s", path);
			else
				snprintf(seg, sizeof(seg), "%s.%u", path, segno);
			rc = stat(seg, &st);
		}
		if (rc < 0)
		{
			if (errno == ENOENT)
				break;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\" of relation %u: %m", seg, r->oid)));
		}
		total += st.st_size;
		if (st.st_size < (off_t) RELSEG_SIZE * BLCKSZ)
			break;
	}
	if (path)
		pfree(path);
	return total;
}

/* ---------- row counts ---------- */

/*
 * A table's live and dead rows.  Live: n_live_tup of the cumulative
 * statistics, which every commit keeps current (reltuples is only what the
 * last VACUUM or ANALYZE saw: after a mass DELETE it still counts the
 * deleted rows); reltuples when the cumulative statistics know nothing
 * (never touched since a reset or a crash) or disagree with it by more than
 * the changes they have seen since.  Dead rows with their own index
 * entries: the dead rows less the share that HOT updates made.
 */
static BCounts *
table_counts(BRel *t)
{
	BCounts    *k = &t->counts;
	PgStat_StatTabEntry *e;

	if (k->done)
		return k;
	k->done = true;
	e = pgstat_fetch_stat_tabentry(t->oid);
	if (e && (RB_TABSTAT_LIVE_TUPLES(e) > 0 || RB_TABSTAT_DEAD_TUPLES(e) > 0))
	{
		double		live = RB_TABSTAT_LIVE_TUPLES(e);
		double		seen = RB_TABSTAT_MOD_SINCE_ANALYZE(e) + RB_TABSTAT_INS_SINCE_VACUUM(e);
		double		changes = e->tuples_updated + e->tuples_deleted;

		k->known = true;
		k->from_pgstat = true;
		k->live = live;
		k->dead = RB_TABSTAT_DEAD_TUPLES(e);
		k->mod = RB_TABSTAT_MOD_SINCE_ANALYZE(e);
		k->ins_since_vacuum = RB_TABSTAT_INS_SINCE_VACUUM(e);
		k->changes = changes;
		k->dead_entries = k->dead *
			(changes > 0 ? 1.0 - Min((double) e->tuples_hot_updated / changes, 1.0) : 1.0);
		if (t->reltuples >= 0)
		{
			double		diff = fabs(live - t->reltuples);

			if (diff > 1000 && diff > 0.25 * Max(live, t->reltuples) && seen < 0.5 * diff)
			{
				k->disagree = true;
				k->from_pgstat = false;
				k->live = t->reltuples;
			}
		}
	}
	else if (t->reltuples >= 0)
	{
		k->known = true;
		k->live = t->reltuples;
		if (e)
		{
			k->mod = RB_TABSTAT_MOD_SINCE_ANALYZE(e);
			k->ins_since_vacuum = RB_TABSTAT_INS_SINCE_VACUUM(e);
			k->changes = e->tuples_updated + e->tuples_deleted;
		}
	}
	return k;
}

/* ---------- the width of a row ---------- */

typedef struct WidthEst
{
	double		data_bytes;		/* expected bytes of attribute data */
	double		null_share;		/* share of tuples with a null bitmap */
	bool		all_fixed;		/* fixed-length, never null: exact sizes */
	bool		stats_matter;	/* a width or null fraction came from statistics */
	int			natts;
	int			missing;		/* columns without the statistics they need */
	int			dropped;
	AttrNumber	missing_att[4];	/* the first few, for the reason */
	double		ndistinct;		/* of the first column (indexes), <0: ratio */
} WidthEst;

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

/*
 * Add one column's expected contribution to a tuple: alignment padding
 * (per typalign), then its average stored width (stawidth, which for a
 * TOASTed value is the pointer).  Short varlenas (1-byte header, under 127
 * bytes) are not aligned.  A fixed-width NOT NULL column needs no
 * statistics; any other column without them is counted as missing.
 */
static void
add_column(WidthEst *w, const BCol *att, const BCol *stat, AttrNumber attnum)
{
	double		nullfrac = 0.0;
	double		width;

	w->natts++;
	if (att == NULL || !att->valid || att->dropped)
	{
		/* new rows store a dropped column as a null */
		w->null_share = 1.0;
		w->all_fixed = false;
		if (att && att->dropped)
			w->dropped++;
		return;
	}
	if (stat && stat->has_stat)
	{
		nullfrac = stat->nullfrac;
		width = stat->width;
		if (w->natts == 1)
			w->ndistinct = stat->ndistinct;
		if (att->attlen < 0 || nullfrac > 0)
			w->stats_matter = true;
	}
	else
	{
		width = att->attlen > 0 ? att->attlen : get_typavgwidth(att->typid, att->typmod);
		if (!(att->attlen > 0 && att->notnull))
		{
			if (w->missing < lengthof(w->missing_att))
				w->missing_att[w->missing] = attnum;
			w->missing++;
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
 * Expected item bytes (tuple + line pointer): exact MAXALIGN when every
 * tuple has the same size, otherwise the average padding of MAXALIGN.
 */
static double
item_bytes(double header, double data, bool exact)
{
	double		len = header + data;

	if (exact)
		return MAXALIGN((Size) ceil(len)) + sizeof(ItemIdData);
	return len + (MAXIMUM_ALIGNOF - 1) / 2.0 + sizeof(ItemIdData);
}

/* Items per page for a page space and item size (variable items: half an item lost per page). */
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

/* ---------- one row ---------- */

typedef enum BAdvice
{
	ADV_NULL,					/* nothing to say (no figure) */
	ADV_NONE,
	ADV_RETRY,					/* skipped: locked */
	ADV_ANALYZE,				/* statistics missing or stale */
	ADV_MEASURE,				/* low confidence: method 'exact' */
	ADV_VACUUM,
	ADV_REBUILD,
	ADV_REINDEX
} BAdvice;

static const char *const advice_names[] = {
	NULL, "none", "retry", "analyze", "measure", "vacuum", "rebuild", "reindex"
};

typedef struct BloatRow
{
	BRel	   *rel;
	bool		is_index;
	Oid			table;
	int64		size;
	double		expected_pages;
	double		uncounted;		/* bytes of the excess pgstattuple counts as neither free nor dead */
	double		live;
	double		dead;
	int64		toast;
	int			fillfactor;
	bool		estimated;
	bool		skipped;
	bool		table_dead_heavy;	/* index: the table's dead rows call for VACUUM */
	bool		analyze_fixes;	/* low only for want of (fresh) statistics */
	bool		no_measure;		/* method 'exact' cannot measure it either */
	const char *confidence;
	StringInfoData reason;
} BloatRow;

static int
conf_rank(const char *c)
{
	return strcmp(c, "low") == 0 ? 0 : (strcmp(c, "medium") == 0 ? 1 : 2);
}

/* Append a reason; confidence only goes down. */
static void
add_reason(BloatRow *r, const char *conf, const char *fmt,...) pg_attribute_printf(3, 4);

static void
add_reason(BloatRow *r, const char *conf, const char *fmt,...)
{
	va_list		args;

	if (conf_rank(conf) < conf_rank(r->confidence))
		r->confidence = conf;
	if (r->reason.len > 0)
		appendStringInfoString(&r->reason, "; ");
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&r->reason, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&r->reason, needed);
	}
}

static char *
pretty(int64 bytes)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(bytes))));
}

/* "a, b" of the first missing columns of a relation */
static char *
missing_names(const WidthEst *w, Oid relid)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	for (i = 0; i < w->missing && i < lengthof(w->missing_att); i++)
	{
		char	   *n = get_attname(relid, w->missing_att[i], true);

		appendStringInfo(&s, "%s%s", i ? ", " : "", n ? n : "?");
	}
	if (w->missing > lengthof(w->missing_att))
		appendStringInfo(&s, " and %d more", w->missing - (int) lengthof(w->missing_att));
	return s.data;
}

/*
 * Statistics older than the rows: widths and null fractions may have
 * changed.  Over half the rows changed since the last ANALYZE: low;
 * over a fifth: medium.  Widths of fixed-width NOT NULL columns never
 * change, so they are never stale.
 */
static void
note_stale(BloatRow *r, const WidthEst *w, const BCounts *k, const char *what)
{
	double		base = Max(k->live, 1);

	if (!w->stats_matter || k->mod <= 50)
		return;
	if (k->mod > 0.5 * base)
	{
		add_reason(r, "low", "statistics are stale: %.0f rows changed since the last ANALYZE of %s, row widths may differ now; run ANALYZE",
				   k->mod, what);
		r->analyze_fixes = true;
	}
	else if (k->mod > 0.2 * base)
		add_reason(r, "medium", "statistics are %.0f rows old (changed since the last ANALYZE of %s)", k->mod, what);
}

/*
 * Free bytes the free space map records for the first nblocks pages of a
 * table: what the last VACUUM found (pages filled since count as full,
 * recorded values are rounded down to 32 bytes: half of that is added
 * back).  -1 without a map.  The caller holds a lock on the table.
 */
static double
fsm_free_bytes(Oid relid, BlockNumber nblocks)
{
	Relation	rel = relation_open(relid, NoLock);
	SMgrRelation smgr = RelationGetSmgr(rel);
	BlockNumber fsm_blocks;
	BlockNumber p,
				npages;
	double		total = 0;

	if (!smgrexists(smgr, FSM_FORKNUM))
	{
		relation_close(rel, NoLock);
		return -1;
	}
	fsm_blocks = smgrnblocks(smgr, FSM_FORKNUM);
	npages = (nblocks + SlotsPerFSMPage - 1) / SlotsPerFSMPage;
	for (p = 0; p < npages; p++)
	{
		/* physical block of leaf page p, as freespace.c lays the tree out */
		BlockNumber leaf = p,
					blk = 0;
		int			l;
		Buffer		buf;
		Page		page;
		int			slot,
					nslots;

		for (l = 0; l < FSM_TREE_DEPTH; l++)
		{
			blk += leaf + 1;
			leaf /= SlotsPerFSMPage;
		}
		blk -= 1;
		if (blk >= fsm_blocks)
			break;
		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(rel, FSM_FORKNUM, blk, RBM_ZERO_ON_ERROR, NULL);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		nslots = Min(SlotsPerFSMPage, nblocks - p * SlotsPerFSMPage);
		for (slot = 0; slot < nslots; slot++)
		{
			uint8		cat = fsm_get_avail(page, slot);

			if (cat == 255)
				total += BLCKSZ - SizeOfPageHeaderData;
			else if (cat > 0)
				total += cat * (BLCKSZ / 256) + (BLCKSZ / 256) / 2;
		}
		UnlockReleaseBuffer(buf);
	}
	relation_close(rel, NoLock);
	return total;
}

/*
 * When the widths cannot be trusted (statistics stale or missing, dropped
 * columns), the free space map measures what the widths would model, as
 * long as the last VACUUM came after the changes (few dead rows, few rows
 * inserted since).  True if it gave the figure.
 */
static bool
estimate_from_fsm(BloatRow *r, const BCounts *k, double item, const char *why)
{
	double		free_bytes,
				reserve,
				waste,
				pages = floor(r->size / BLCKSZ);

	if (pages < RB_TINY_PAGES || k->dead > 0.05 * Max(k->live, 1) ||
		k->ins_since_vacuum > 0.10 * Max(k->live, 1))
		return false;
	free_bytes = fsm_free_bytes(r->rel->oid, (BlockNumber) pages);
	if (free_bytes < 0)
		return false;
	/* what a rewrite leaves free too: the fillfactor and half an item a page */
	reserve = pages * ((double) BLCKSZ * (100 - r->fillfactor) / 100 + item / 2.0);
	waste = Max(free_bytes - reserve, 0);
	r->expected_pages = (r->size - waste) / BLCKSZ;
	r->uncounted = 0;
	add_reason(r, "medium", "%s: the figure is the free space the last VACUUM recorded (free space map)", why);
	return true;
}

static void
estimate_table(BCat *c, BloatRow *r)
{
	BRel	   *t = r->rel;
	BCounts    *k = table_counts(t);
	WidthEst	w;
	AttrNumber	a;
	double		hdr,
				item,
				space,
				tpp,
				base;
	char		why[NAMEDATALEN * 4 + 128];

	memset(&w, 0, sizeof(w));
	w.all_fixed = true;
	r->fillfactor = t->fillfactor > 0 ? t->fillfactor : HEAP_DEFAULT_FILLFACTOR;
	r->live = k->live;
	r->dead = k->dead;
	for (a = 1; a <= t->natts; a++)
	{
		BCol	   *col = cat_col(c, t, a);

		add_column(&w, col, col, a);
	}
	if (!k->known)
	{
		add_reason(r, "low", "no statistics: never vacuumed or analyzed, and no row count; run ANALYZE");
		r->analyze_fixes = true;
		return;
	}
	if (k->disagree)
		add_reason(r, "low", "row counts disagree (cumulative statistics reset or lost?): using reltuples %.0f; run ANALYZE", (double) t->reltuples);
	else if (t->reltuples < 0)
		add_reason(r, "medium", "never vacuumed or analyzed: %.0f rows counted by the cumulative statistics", k->live);

	hdr = MAXALIGN(SizeofHeapTupleHeader) * (1.0 - w.null_share) +
		MAXALIGN(SizeofHeapTupleHeader + BITMAPLEN(w.natts)) * w.null_share;
	item = item_bytes(hdr, w.data_bytes, w.all_fixed);
	/* heap inserts stop at the fillfactor; a rewrite packs the same way */
	space = BLCKSZ - SizeOfPageHeaderData - (double) BLCKSZ * (100 - r->fillfactor) / 100;
	tpp = per_page(space, item, w.all_fixed, MaxHeapTuplesPerPage);
	r->expected_pages = ceil(k->live / tpp);
	r->estimated = true;

	/*
	 * What pgstattuple counts as neither free nor dead: the line pointer and
	 * alignment padding of every dead row, and the line pointer a removed
	 * row leaves unused (the space beyond the dead rows is taken to be rows
	 * of the average size, removed).
	 */
	if (r->size > r->expected_pages * BLCKSZ)
	{
		double		len = hdr + w.data_bytes;
		double		pad = w.all_fixed ? MAXALIGN((Size) ceil(len)) - ceil(len) : (MAXIMUM_ALIGNOF - 1) / 2.0;
		double		extra = r->size - r->expected_pages * BLCKSZ;
		double		dead = Min(k->dead, extra / item);
		double		removed = (extra - dead * item) / item;

		r->uncounted = dead * (sizeof(ItemIdData) + pad) + removed * sizeof(ItemIdData);
	}

	/* widths the estimate cannot trust: measured by the free space map if it can */
	base = Max(k->live, 1);
	why[0] = '\0';
	if (w.missing > 0)
		snprintf(why, sizeof(why), "no column statistics (%s)", missing_names(&w, t->oid));
	else if (w.stats_matter && k->mod > 50 && k->mod > 0.5 * base)
		snprintf(why, sizeof(why), "statistics are stale: %.0f rows changed since the last ANALYZE, row widths may differ now", k->mod);
	if (why[0])
	{
		if (!estimate_from_fsm(r, k, item, why))
			add_reason(r, "low", "%s; run ANALYZE", why);
		r->analyze_fixes = true;
		return;
	}
	if (w.stats_matter && k->mod > 50 && k->mod > 0.2 * base)
		add_reason(r, "medium", "statistics are %.0f rows old (changed since the last ANALYZE)", k->mod);

	/*
	 * A dropped column's data stays in the rows written before the DROP
	 * until they are rewritten: live data, not free space, that the widths
	 * of the remaining columns do not explain.  The free space map tells;
	 * without one, a table that never lost a row (no UPDATE or DELETE
	 * counted) has nothing but that data in the space.
	 */
	if (w.dropped > 0 && r->size > 0 &&
		r->size - r->expected_pages * BLCKSZ > 0.10 * r->size)
	{
		snprintf(why, sizeof(why), "%d dropped column(s): rows written before the DROP COLUMN keep the data until a rewrite", w.dropped);
		if (estimate_from_fsm(r, k, item, why))
			return;
		if (k->changes == 0 && k->from_pgstat && k->dead == 0)
		{
			r->expected_pages = (double) r->size / BLCKSZ;
			r->uncounted = 0;
			add_reason(r, "medium", "%s: no row was ever updated or deleted (cumulative statistics), so the space the other columns do not explain is taken as that data", why);
		}
		else
			add_reason(r, "low", "%s, which the estimate cannot tell from free space", why);
	}
}

/* Whether btree deduplication is possible for this index (as _bt_allequalimage). */
typedef struct EqImage
{
	Oid			opclass;
	Oid			collation;
	bool		result;
} EqImage;

static EqImage eqcache[16];
static int	neqcache = 0;

static bool
key_equalimage(Oid opclass, Oid collation)
{
	int			i;
	Oid			family,
				intype,
				proc;
	bool		result;

	for (i = 0; i < neqcache; i++)
		if (eqcache[i].opclass == opclass && eqcache[i].collation == collation)
			return eqcache[i].result;
	family = get_opclass_family(opclass);
	intype = get_opclass_input_type(opclass);
	proc = get_opfamily_proc(family, intype, intype, BTEQUALIMAGE_PROC);

	/*
	 * Only the two built-in answers are read, never called: an operator
	 * class of another role may name its own function, which must not run
	 * with the caller's rights (then: no deduplication assumed).
	 */
	if (proc == F_BTEQUALIMAGE)
		result = true;
	else if (proc == F_BTVARSTREQUALIMAGE)
		result = OidIsValid(collation) &&
			(collation == DEFAULT_COLLATION_OID || collation == C_COLLATION_OID ||
			 get_collation_isdeterministic(collation));
	else
		result = false;
	if (neqcache < lengthof(eqcache))
	{
		eqcache[neqcache].opclass = opclass;
		eqcache[neqcache].collation = collation;
		eqcache[neqcache].result = result;
		neqcache++;
	}
	return result;
}

static bool
btree_can_dedup(BCat *c, BRel *ir, BIdx *x)
{
	int			i;

	if (x->unique || ir->dedup == 0 || x->nkeyatts < x->natts)
		return false;
	for (i = 0; i < x->nkeyatts; i++)
	{
		BKey	   *k = &c->keys[x->keys + i];

		if (!OidIsValid(k->opclass) || !key_equalimage(k->opclass, k->collation))
			return false;
	}
	return true;
}

/*
 * Leaf bytes of one key value with d heap TIDs, as CREATE INDEX builds it
 * with deduplication: posting-list tuples of at most 10 % of a page;
 * *ntup: how many leaf tuples that takes.
 */
static double
posting_bytes(double keytuple, double d, double *ntup)
{
	double		maxposting = MAXALIGN_DOWN(BLCKSZ * 10 / 100) - sizeof(ItemIdData);
	double		per = floor((maxposting - keytuple) / sizeof(ItemPointerData));
	double		full,
				rest,
				bytes;

	if (per < 2 || d < 2)
	{
		*ntup = d;
		return d * (keytuple + sizeof(ItemIdData));
	}
	full = floor(d / per);
	rest = d - full * per;
	*ntup = full;
	bytes = full * (MAXALIGN((Size) (keytuple + per * sizeof(ItemPointerData))) + sizeof(ItemIdData));
	if (rest >= 2)
	{
		bytes += MAXALIGN((Size) ceil(keytuple + rest * sizeof(ItemPointerData))) + sizeof(ItemIdData);
		*ntup += 1;
	}
	else if (rest > 0)
	{
		bytes += rest * (keytuple + sizeof(ItemIdData));
		*ntup += rest;
	}
	return bytes;
}

/*
 * The index entries to expect: the table's live rows and the dead ones
 * not vacuumed yet that have entries of their own (pgstatindex counts
 * them as used); a partial index scaled by its share at the last count.
 * False when unknown.
 */
static bool
index_entries(BCat *c, BloatRow *r, BIdx *x, BRel **tablep, double *live, double *entries)
{
	BRel	   *t = cat_find(c, x->indrelid);
	BCounts    *k;

	*tablep = t;
	if (t == NULL)
		return false;
	k = table_counts(t);
	if (!k->known)
		return false;
	*live = k->live;
	*entries = k->live + k->dead_entries;
	if (x->partial)
	{
		if (r->rel->reltuples < 0 || t->reltuples <= 0)
			return false;
		*live *= Min(r->rel->reltuples / t->reltuples, 1.0);
		*entries *= Min(r->rel->reltuples / t->reltuples, 1.0);
		add_reason(r, "medium", "partial index: entries scaled by its share of the table at the last count");
	}
	return true;
}

static void
estimate_btree(BCat *c, BloatRow *r)
{
	BRel	   *ir = r->rel;
	BIdx	   *x = ir->idx >= 0 ? &c->idx[ir->idx] : NULL;
	BRel	   *t;
	BCounts    *k;
	WidthEst	w;
	int			i;
	double		hdr,
				keytuple,
				item,
				leaf_space,
				usable,
				leaf_bytes,
				leaves,
				level,
				pages,
				live,
				entries,
				ntup,
				avg,
				per_leaf;
	bool		dedup,
				posting;

	memset(&w, 0, sizeof(w));
	w.all_fixed = true;
	r->fillfactor = ir->fillfactor > 0 ? ir->fillfactor : BTREE_DEFAULT_FILLFACTOR;
	if (x == NULL)
		return;
	r->table = x->indrelid;
	if (!index_entries(c, r, x, &t, &live, &entries))
	{
		add_reason(r, "low", "no statistics: table never vacuumed or analyzed; run ANALYZE on the table");
		r->analyze_fixes = true;
		return;
	}
	k = table_counts(t);
	for (i = 0; i < x->natts; i++)
	{
		BKey	   *key = &c->keys[x->keys + i];

		/* stored type from the index; statistics from the table column or the index expression */
		add_column(&w, cat_col(c, ir, i + 1),
				   key->att != 0 ? cat_col(c, t, key->att) : cat_col(c, ir, i + 1), i + 1);
	}
	if (w.missing > 0)
	{
		add_reason(r, "low", "no column statistics (%s); run ANALYZE on the table",
				   missing_names(&w, ir->oid));
		r->analyze_fixes = true;
	}
	else
		note_stale(r, &w, k, "its table");
	if (k->disagree)
		add_reason(r, "low", "row counts of the table disagree (cumulative statistics reset or lost?); run ANALYZE on the table");
	r->live = live;
	r->dead = entries - live;

	hdr = w.null_share > 0 ?
		MAXALIGN(sizeof(IndexTupleData)) * (1.0 - w.null_share) +
		MAXALIGN(sizeof(IndexTupleData) + sizeof(IndexAttributeBitMapData)) * w.null_share :
		MAXALIGN(sizeof(IndexTupleData));
	keytuple = w.all_fixed ? MAXALIGN((Size) ceil(hdr + w.data_bytes)) :
		hdr + w.data_bytes + (MAXIMUM_ALIGNOF - 1) / 2.0;
	item = keytuple + sizeof(ItemIdData);
	leaf_space = BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(BTPageOpaqueData));
	/* CREATE INDEX fills a leaf page while free space stays above (100 - fillfactor) % */
	usable = leaf_space - (double) BLCKSZ * (100 - r->fillfactor) / 100;

	dedup = btree_can_dedup(c, ir, x);
	leaf_bytes = entries * item;
	ntup = entries;
	posting = false;
	if (dedup && w.ndistinct != 0)
	{
		double		distinct = w.ndistinct > 0 ? Min(w.ndistinct, Max(live, 1)) : -w.ndistinct * live;
		double		dups = distinct >= 1 ? entries / distinct : 1;

		if (x->natts == 1)
		{
			if (dups >= 2)
			{
				double		per_key;

				leaf_bytes = distinct * posting_bytes(keytuple, dups, &per_key);
				ntup = distinct * per_key;
				posting = true;
				add_reason(r, "medium", "repeated keys: deduplicated posting lists modelled from n_distinct");
			}
		}
		else if (live / Max(distinct, 1) >= 2)
			add_reason(r, "low", "multi-column index with repeated leading values: its deduplication is not modelled, the figure is a lower bound");
	}

	/*
	 * Per leaf page: the usable space less the high key; equal items pack
	 * exactly, varying ones lose half an item per page on average.
	 */
	avg = leaf_bytes / Max(ntup, 1);
	if (w.all_fixed && !posting)
		per_leaf = (floor(usable / item) - 1) * item;
	else
		per_leaf = usable - avg / 2.0 - item;
	leaves = ceil(leaf_bytes / Max(per_leaf, avg));
	if (leaves < 1)
		leaves = 1;
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
	r->expected_pages = pages;
	r->estimated = true;

	/* dead rows not yet vacuumed: used entries now, free space after VACUUM */
	if (k->dead_entries > 0.2 * entries && k->dead_entries > 1000)
	{
		double		after = r->size > 0 ?
			100.0 * (1.0 - Min(pages * (live / Max(entries, 1)) * BLCKSZ / r->size, 1.0)) : 0;

		add_reason(r, r->confidence, "%.0f dead rows of the table still have entries here: VACUUM removes them, leaving about %.0f %% of the index free",
				   entries - live, after);
		r->table_dead_heavy = true;
	}
}

/*
 * A hash index as CREATE INDEX makes it for these entries: a metapage, a
 * bitmap page and the buckets (rounded up to the split point, as
 * _hash_init does), each filled to the fillfactor.
 */
static void
estimate_hash(BCat *c, BloatRow *r)
{
	BRel	   *ir = r->rel;
	BIdx	   *x = ir->idx >= 0 ? &c->idx[ir->idx] : NULL;
	BRel	   *t;
	BCounts    *k;
	WidthEst	w;
	double		live,
				entries,
				ffactor,
				dbuckets;
	uint32		buckets;
	int			item_width = MAXALIGN(sizeof(IndexTupleData)) + MAXALIGN(sizeof(uint32)) + sizeof(ItemIdData);

	r->fillfactor = ir->fillfactor > 0 ? ir->fillfactor : HASH_DEFAULT_FILLFACTOR;
	if (x == NULL)
		return;
	r->table = x->indrelid;
	if (!index_entries(c, r, x, &t, &live, &entries))
	{
		add_reason(r, "low", "no statistics: table never vacuumed or analyzed; run ANALYZE on the table");
		r->analyze_fixes = true;
		return;
	}
	k = table_counts(t);
	memset(&w, 0, sizeof(w));
	add_column(&w, cat_col(c, ir, 1),
			   c->keys[x->keys].att != 0 ? cat_col(c, t, c->keys[x->keys].att) : cat_col(c, ir, 1), 1);
	r->live = live;
	r->dead = entries - live;
	ffactor = Max((BLCKSZ * r->fillfactor / 100) / item_width, 10);
	dbuckets = entries / ffactor;
	if (dbuckets <= 2.0)
		buckets = 2;
	else if (dbuckets >= (double) 0x40000000)
		buckets = 0x40000000;
	else
		buckets = _hash_get_totalbuckets(_hash_spareindex((uint32) dbuckets));
	r->expected_pages = buckets + 2;
	r->estimated = true;
	add_reason(r, "medium", "hash index: buckets modelled as CREATE INDEX sizes them");

	/* one key repeated more than a bucket page holds needs overflow pages */
	if (w.ndistinct != 0)
	{
		double		distinct = w.ndistinct > 0 ? w.ndistinct : -w.ndistinct * live;

		if (distinct >= 1 && entries / distinct > ffactor)
			add_reason(r, "low", "hash index with keys repeated more than a bucket page holds: overflow pages not modelled");
	}
	if (k->dead_entries > 0.2 * entries && k->dead_entries > 1000)
		r->table_dead_heavy = true;
}

static BAdvice
decide(const char *kind, int64 size, int64 bloat_bytes, double bloat_pct, double dead_pct,
	   bool low, bool analyze_fixes, bool table_dead_heavy)
{
	bool		is_table = strcmp(kind, "table") == 0;

	if (low && analyze_fixes)
		return ADV_ANALYZE;
	if (low)
		return size >= RB_TINY_PAGES * BLCKSZ ? ADV_MEASURE : ADV_NONE;
	if (is_table && dead_pct >= RB_DEAD_PCT_VACUUM)
		return ADV_VACUUM;
	if (!is_table && table_dead_heavy)
		return ADV_VACUUM;
	if (bloat_bytes < 0)
		return ADV_NULL;
	if (bloat_pct >= RB_BLOAT_PCT_REBUILD && bloat_bytes >= RB_BLOAT_BYTES_REBUILD)
		return is_table ? ADV_REBUILD : ADV_REINDEX;
	return ADV_NONE;
}

/* numeric from a count of tenths */
static Datum
numeric_tenths(int64 tenths)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "%s" INT64_FORMAT ".%d",
			 tenths < 0 ? "-" : "", (tenths < 0 ? -tenths : tenths) / 10,
			 (int) ((tenths < 0 ? -tenths : tenths) % 10));
	return DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* round(100.0 * part / whole, 1) of numeric, for non-negative integers */
static Datum
pct_datum(int64 part, int64 whole, double *pct)
{
	int64		tenths = (2000 * part + whole) / (2 * whole);

	*pct = tenths / 10.0;
	return numeric_tenths(tenths);
}

/* ---------- the rows ---------- */

static void
row_init(BloatRow *r, BRel *rel)
{
	memset(r, 0, sizeof(*r));
	r->rel = rel;
	r->is_index = rel->relkind == RELKIND_INDEX;
	r->table = r->is_index ? InvalidOid : rel->oid;
	r->confidence = "high";
	initStringInfo(&r->reason);
}

/*
 * Estimate one relation: lock it (or report it skipped), its size, its
 * TOAST table's, the estimate.  False if it is gone.
 */
static bool
row_estimate(BCat *c, Sizer *s, BloatRow *r)
{
	BRel	   *rel = r->rel;

	if (!ConditionalLockRelationOid(rel->oid, AccessShareLock))
	{
		r->skipped = true;
		r->confidence = "low";
		if (r->is_index && rel->idx >= 0)
			r->table = c->idx[rel->idx].indrelid;
		return true;
	}
	if (inval_seen(rel->hash) && !rel_refresh(c, rel))
	{
		UnlockRelationOid(rel->oid, AccessShareLock);
		return false;
	}
	r->size = main_fork_bytes(s, rel);
	if (!r->is_index)
	{
		BRel	   *toast = OidIsValid(rel->toast) ? cat_find(c, rel->toast) : NULL;

		if (toast && ConditionalLockRelationOid(toast->oid, AccessShareLock))
		{
			if (!inval_seen(toast->hash) || rel_refresh(c, toast))
				r->toast = main_fork_bytes(s, toast);
			UnlockRelationOid(toast->oid, AccessShareLock);
		}
		estimate_table(c, r);
		if (r->toast > 0 && r->toast >= r->size)
			add_reason(r, "medium", "TOAST-heavy (%s in TOAST): the figure covers the main table, whose rows hold TOAST pointers; TOAST itself is not estimated",
					   pretty(r->toast));
	}
	else if (rel->relam == BTREE_AM_OID)
		estimate_btree(c, r);
	else if (rel->relam == HASH_AM_OID)
		estimate_hash(c, r);
	else
	{
		char	   *am = get_am_name(rel->relam);

		if (rel->idx >= 0)
			r->table = c->idx[rel->idx].indrelid;
		if (rel->relam == GIST_AM_OID)
			add_reason(r, "low", "gist index: no estimate");
		else
		{
			/* pgstattuple cannot measure these either: nothing to offer */
			add_reason(r, "low", "%s index: no estimate, and pgstattuple cannot measure it; a REINDEX shows what it returns",
					   am ? am : "non-btree");
			r->no_measure = true;
		}
	}
	if (r->estimated && r->size < RB_TINY_PAGES * BLCKSZ)
		add_reason(r, "low", "tiny relation (under %d pages): page granularity dominates", RB_TINY_PAGES);
	UnlockRelationOid(rel->oid, AccessShareLock);
	return true;
}

/* the figures and the advice of an estimated row */
typedef struct RowOut
{
	int64		expected;
	int64		bloat;			/* -1: no figure */
	double		bloat_pct;
	double		dead_pct;		/* -1: none */
	BAdvice		advice;
} RowOut;

static void
row_finish(BloatRow *r, RowOut *o)
{
	o->expected = r->estimated ? (int64) (r->expected_pages * BLCKSZ) : -1;
	o->bloat = r->estimated ? Max(r->size - o->expected - (int64) r->uncounted, 0) : -1;
	o->bloat_pct = (o->bloat >= 0 && r->size > 0) ? 100.0 * o->bloat / r->size : 0;
	o->dead_pct = (!r->is_index && r->estimated && r->live + r->dead > 0) ?
		100.0 * r->dead / (r->live + r->dead) : -1;
	if (r->skipped)
		o->advice = ADV_RETRY;
	else
	{
		bool		low = strcmp(r->confidence, "low") == 0;

		o->advice = decide(r->is_index ? "index" : "table", r->size, o->bloat, o->bloat_pct,
						   o->dead_pct, low, r->analyze_fixes, r->table_dead_heavy);
		if (o->advice == ADV_MEASURE && r->no_measure)
			o->advice = ADV_NONE;
		if (low && o->advice == ADV_MEASURE)
			add_reason(r, "low", "method 'exact' measures it (pgstattuple reads all %s of it)",
					   pretty(r->size));
	}
}

/* Load the catalog (all of it, or one relation) and start tracking invalidations. */
static void
bloat_begin(BCat *c, Sizer *s, Oid only)
{
	memset(c, 0, sizeof(*c));
	initStringInfo(&c->names);
	neqcache = 0;
	inval_begin();
	if (OidIsValid(only))
		cat_load_one(c, only);
	else
		cat_load_all(c);
	sizer_open(s);
#ifdef RB_TEST_HOOKS
	/* test builds: a window in which another session may rewrite or drop */
	if (rb_test_bloat_delay_after_scan > 0)
	{
		TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  rb_test_bloat_delay_after_scan);

		for (;;)
		{
			long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);

			if (ms <= 0)
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
#endif
}

static void
bloat_end(Sizer *s)
{
	sizer_close(s);
	inval_tracking = false;
}

/* schema names of the rows: few schemas, looked up once each */
typedef struct NspCache
{
	int			n;
	Oid			oid[32];
	Datum		name[32];
} NspCache;

static Datum
nsp_name(NspCache *nc, Oid nsp, bool *isnull)
{
	int			i;
	char	   *name;
	NameData   *d;

	for (i = 0; i < nc->n; i++)
		if (nc->oid[i] == nsp)
		{
			*isnull = nc->name[i] == (Datum) 0;
			return nc->name[i];
		}
	name = get_namespace_name(nsp);
	d = NULL;
	if (name != NULL)
	{
		d = palloc0(sizeof(NameData));
		namestrcpy(d, name);
	}
	if (nc->n < lengthof(nc->oid))
	{
		nc->oid[nc->n] = nsp;
		nc->name[nc->n] = d ? NameGetDatum(d) : (Datum) 0;
		nc->n++;
	}
	*isnull = (d == NULL);
	return d ? NameGetDatum(d) : (Datum) 0;
}

static Datum
rel_name(BCat *c, BRel *r)
{
	NameData   *d = palloc(sizeof(NameData));

	namestrcpy(d, c->names.data + r->name);
	return NameGetDatum(d);
}

/*
 * runbook._bloat_rows(rel regclass): bloat_report()'s rows for method
 * 'estimate' but the remedy text, with the advice it is made from
 * (none, retry, analyze, measure, vacuum, rebuild, reindex, or NULL).
 */
Datum
rb_bloat_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			only = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	BCat		c;
	Sizer		s;
	int			i;
	Datum		method = CStringGetTextDatum("estimate");
	Datum		kinds[2] = {CStringGetTextDatum("table"), CStringGetTextDatum("index")};
	Datum		confs[3] = {CStringGetTextDatum("low"), CStringGetTextDatum("medium"), CStringGetTextDatum("high")};
	Datum		advices[lengthof(advice_names)];
	NspCache	nc;
	MemoryContext rowcxt;
	MemoryContext oldcxt;

	for (i = 0; i < lengthof(advice_names); i++)
		advices[i] = advice_names[i] ? CStringGetTextDatum(advice_names[i]) : (Datum) 0;
	nc.n = 0;
	InitMaterializedSRF(fcinfo, 0);
	bloat_begin(&c, &s, only);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "bloat row", ALLOCSET_SMALL_SIZES);
	for (i = 0; i < c.nrels; i++)
	{
		BloatRow	r;
		RowOut		o;
		Datum		values[20];
		bool		nulls[20];
		BRel	   *tbl;

		CHECK_FOR_INTERRUPTS();
		if (!c.rels[i].report)
			continue;
		row_init(&r, &c.rels[i]);
		if (!row_estimate(&c, &s, &r))
			continue;
		row_finish(&r, &o);
		memset(nulls, 0, sizeof(nulls));
		values[0] = ObjectIdGetDatum(r.rel->oid);
		values[1] = kinds[r.is_index ? 1 : 0];
		values[2] = ObjectIdGetDatum(r.table);
		nulls[2] = !OidIsValid(r.table);
		values[3] = Int64GetDatum(r.size);
		values[4] = DirectFunctionCall1(pg_size_pretty, Int64GetDatum(r.size));
		nulls[3] = nulls[4] = r.skipped;
		if (o.bloat >= 0 && !r.skipped)
		{
			double		pct;

			values[5] = Int64GetDatum(o.bloat);
			values[6] = DirectFunctionCall1(pg_size_pretty, Int64GetDatum(o.bloat));
			if (r.size > 0)
				values[7] = pct_datum(o.bloat, r.size, &pct);
			else
				nulls[7] = true;
		}
		else
			nulls[5] = nulls[6] = nulls[7] = true;
		if (o.dead_pct >= 0)
			values[8] = DirectFunctionCall2(numeric_round,
											DirectFunctionCall1(float8_numeric, Float8GetDatum(o.dead_pct)),
											Int32GetDatum(1));
		else
			nulls[8] = true;
		values[9] = Int64GetDatum((int64) rint(r.live));
		values[10] = Int64GetDatum((int64) rint(r.dead));
		nulls[9] = nulls[10] = !r.estimated;
		values[11] = Int64GetDatum(r.toast);
		nulls[11] = r.is_index || r.skipped;
		values[12] = Int32GetDatum(r.fillfactor);
		nulls[12] = !r.estimated;
		values[13] = method;
		values[14] = confs[conf_rank(r.confidence)];
		if (r.skipped)
			values[15] = CStringGetTextDatum(RB_SKIP_LOCKED);
		else
			values[15] = CStringGetTextDatum(r.reason.data);
		nulls[15] = !r.skipped && r.reason.len == 0;
		values[16] = advices[o.advice];
		nulls[16] = advice_names[o.advice] == NULL;
		/* the names, for rows read from another database (relation NULL there) */
		values[17] = nsp_name(&nc, r.rel->nsp, &nulls[17]);
		oldcxt = MemoryContextSwitchTo(rowcxt);
		values[18] = rel_name(&c, r.rel);
		nulls[18] = false;
		tbl = OidIsValid(r.table) ? cat_find(&c, r.table) : NULL;
		values[19] = tbl ? rel_name(&c, tbl) : (Datum) 0;
		nulls[19] = (tbl == NULL);
		MemoryContextSwitchTo(oldcxt);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextReset(rowcxt);
		pfree(r.reason.data);
	}
	MemoryContextDelete(rowcxt);
	bloat_end(&s);
	return (Datum) 0;
}

/*
 * runbook._bloat_advice(kind, size_bytes, bloat_bytes, dead_tuple_pct,
 * confidence): the advice for a measured row (method approx / exact), by
 * the thresholds the estimate uses.
 */
Datum
rb_bloat_advice(PG_FUNCTION_ARGS)
{
	char	   *kind;
	int64		size,
				bloat;
	double		dead_pct;
	bool		low;
	BAdvice		a;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	size = PG_GETARG_INT64(1);
	bloat = PG_GETARG_INT64(2);
	dead_pct = PG_ARGISNULL(3) ? -1 :
		DatumGetFloat8(DirectFunctionCall1(numeric_float8, PG_GETARG_DATUM(3)));
	low = !PG_ARGISNULL(4) && strcmp(text_to_cstring(PG_GETARG_TEXT_PP(4)), "low") == 0;
	a = decide(kind, size, bloat, size > 0 ? 100.0 * bloat / size : 0, dead_pct, low, false, false);
	if (advice_names[a] == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(advice_names[a]));
}

/*
 * runbook._bloat_estimate(rel regclass): the columns of 1.0 and 1.1
 * (relid, kind, table, size_bytes, expected_bytes, bloat_bytes, live,
 * dead, toast_bytes, fillfactor, confidence, reason, skipped), for their
 * bloat_report() until the extension is updated.
 */
Datum
rb_bloat_estimate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			only = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	BCat		c;
	Sizer		s;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	bloat_begin(&c, &s, only);
	for (i = 0; i < c.nrels; i++)
	{
		BloatRow	r;
		RowOut		o;
		Datum		values[13];
		bool		nulls[13];

		CHECK_FOR_INTERRUPTS();
		if (!c.rels[i].report)
			continue;
		row_init(&r, &c.rels[i]);
		if (!row_estimate(&c, &s, &r))
			continue;
		row_finish(&r, &o);
		memset(nulls, 0, sizeof(nulls));
		values[0] = ObjectIdGetDatum(r.rel->oid);
		values[1] = CStringGetTextDatum(r.is_index ? "index" : "table");
		values[2] = ObjectIdGetDatum(r.table);
		nulls[2] = !OidIsValid(r.table);
		values[3] = Int64GetDatum(r.size);
		nulls[3] = r.skipped;
		values[4] = Int64GetDatum(o.expected);
		values[5] = Int64GetDatum(o.bloat);
		nulls[4] = nulls[5] = !r.estimated;
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
		pfree(r.reason.data);
	}
	bloat_end(&s);
	return (Datum) 0;
}
