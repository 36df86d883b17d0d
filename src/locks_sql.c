/*-------------------------------------------------------------------------
 *
 * locks_sql.c
 *		SQL front ends of the lock-wait analysis: runbook.blocking_locks()
 *		(one row per waiting backend) and runbook.lock_tree() (the same as
 *		an indented tree).  Both read one lock snapshot (lockshot.c) and one
 *		backend snapshot (snapshot.c), analyze with locks.c, and only format.
 *		A relation of another database is named in that database's catalog
 *		only: lock_tree() asks it through _on_databases() (a worker
 *		connected there, where pg_runbook is installed), else shows its oid
 *		with the database's name.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "access/tupdesc.h"
#include "nodes/execnodes.h"
#include "utils/tuplestore.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"
#include "activity.h"
#include "databases.h"
#include "locks.h"
#include "lockshot.h"
#include "snapshot.h"

PG_FUNCTION_INFO_V1(rb_blocking_locks);
PG_FUNCTION_INFO_V1(rb_lock_tree);

#define BLOCKING_LOCKS_COLS 26

/* ---------- backends by pid ---------- */

typedef struct PidIndex
{
	int			n;
	RbBackend **by_pid;			/* sorted by pid */
} PidIndex;

static int
backend_pid_cmp(const void *a, const void *b)
{
	int			x = (*(RbBackend *const *) a)->pid;
	int			y = (*(RbBackend *const *) b)->pid;

	return (x < y) ? -1 : (x > y) ? 1 : 0;
}

static void
pid_index_build(PidIndex *ix, RbSnapshot *snap)
{
	int			i;

	ix->n = snap->nbackends;
	ix->by_pid = palloc(sizeof(RbBackend *) * Max(ix->n, 1));
	for (i = 0; i < ix->n; i++)
		ix->by_pid[i] = &snap->backends[i];
	qsort(ix->by_pid, ix->n, sizeof(RbBackend *), backend_pid_cmp);
}

static RbBackend *
pid_index_find(PidIndex *ix, int pid)
{
	int			lo = 0,
				hi = ix->n - 1;

	if (pid <= 0)
		return NULL;
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			p = ix->by_pid[mid]->pid;

		if (p == pid)
			return ix->by_pid[mid];
		if (p < pid)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/*
 * The snapshots a lock view reads, in this order: the lock snapshot and
 * its wait-for graph, then, only when some backend waits on a lock, the
 * backend snapshot indexed by pid.  false when nobody waits on a lock.
 */
static bool
lock_view_snapshots(RbWaitGraph **g, RbSnapshot **snap, PidIndex *ix)
{
	RbLockShot *shot = rb_lockshot_take();

	if (shot->nwaiters == 0)
		return false;
	*g = rb_wait_graph_build(shot);
	*snap = rb_snapshot_take(RB_SNAP_QUERY);
	pid_index_build(ix, *snap);
	return true;
}

/* ---------- describing locks ---------- */

static Oid
lock_relation(const LOCKTAG *tag)
{
	switch ((LockTagType) tag->locktag_type)
	{
		case LOCKTAG_RELATION:
		case LOCKTAG_RELATION_EXTEND:
		case LOCKTAG_PAGE:
		case LOCKTAG_TUPLE:
			return tag->locktag_field2;
		default:
			return InvalidOid;
	}
}

static const char *
lock_type_name(const LOCKTAG *tag)
{
	if (tag->locktag_type <= LOCKTAG_LAST_TYPE)
		return LockTagTypeNames[tag->locktag_type];
	return "unknown";
}

/*
 * What is locked, beyond the relation column: the key of an advisory lock,
 * a transaction id, a tuple...  No catalog access.  NULL for a whole
 * relation.
 */
static char *
lock_object_text(const LOCKTAG *tag)
{
	switch ((LockTagType) tag->locktag_type)
	{
		case LOCKTAG_RELATION:
			return NULL;
		case LOCKTAG_RELATION_EXTEND:
			return pstrdup("extend");
		case LOCKTAG_DATABASE_FROZEN_IDS:
			return psprintf("database %u", tag->locktag_field1);
		case LOCKTAG_PAGE:
			return psprintf("page %u", tag->locktag_field3);
		case LOCKTAG_TUPLE:
			return psprintf("(%u,%u)", tag->locktag_field3, tag->locktag_field4);
		case LOCKTAG_TRANSACTION:
			return psprintf("%u", tag->locktag_field1);
		case LOCKTAG_VIRTUALTRANSACTION:
			return psprintf("%d/%u", (int) tag->locktag_field1, tag->locktag_field2);
		case LOCKTAG_SPECULATIVE_TOKEN:
			return psprintf("%u token %u", tag->locktag_field1, tag->locktag_field2);
		case LOCKTAG_OBJECT:
			return psprintf("class %u object %u sub %u", tag->locktag_field2,
							tag->locktag_field3, tag->locktag_field4);
		case LOCKTAG_ADVISORY:
			if (tag->locktag_field4 == 1)
				return psprintf(INT64_FORMAT,
								(int64) (((uint64) tag->locktag_field2 << 32) |
										 tag->locktag_field3));
			return psprintf("%d,%d", (int32) tag->locktag_field2,
							(int32) tag->locktag_field3);
		RB_CASE_LOCKTAG_APPLY_TRANSACTION
		case LOCKTAG_USERLOCK:
			break;
	}
	return psprintf("%u %u %u %u", tag->locktag_field1, tag->locktag_field2,
					tag->locktag_field3, tag->locktag_field4);
}

/*
 * Names of relations of other databases, for one lock_tree() call: read in
 * those databases by resolve_foreign_relations(), used by lock_target_text().
 */
typedef struct ForeignRel
{
	Oid			dbid;
	Oid			relid;
	char	   *name;			/* schema-qualified, or NULL: not known */
} ForeignRel;

static ForeignRel *foreign_rels = NULL;
static int	nforeign_rels = 0;

static const char *
foreign_rel_name(Oid dbid, Oid relid)
{
	int			i;

	for (i = 0; i < nforeign_rels; i++)
		if (foreign_rels[i].dbid == dbid && foreign_rels[i].relid == relid)
			return foreign_rels[i].name;
	return NULL;
}

/*
 * Ask each other database whose relations the lock snapshot shows for their
 * names: the check "relation_names" of _on_databases() (a worker connected
 * there as the calling role; pg_runbook must be installed there).  Any
 * failure (no extension there, no worker slot, a timeout, no CONNECT) leaves
 * the oid: the tree is still drawn, in its own subtransaction's safety.
 */
static void
resolve_foreign_relations(RbWaitGraph *g)
{
	MemoryContext callerctx = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Oid			extoid;
	Oid			nspoid;
	char	   *version;
	char	   *schema;
	int			k;

	foreign_rels = NULL;
	nforeign_rels = 0;
	if (g->shot == NULL)
		return;
	foreign_rels = palloc0(sizeof(ForeignRel) * Max(g->shot->nlocks, 1));
	for (k = 0; k < g->shot->nlocks; k++)
	{
		const LOCKTAG *tag = &g->shot->locks[k].tag;
		Oid			relid = lock_relation(tag);

		if (!OidIsValid(relid) || tag->locktag_field1 == MyDatabaseId ||
			tag->locktag_field1 == InvalidOid)
			continue;
		if (foreign_rel_name(tag->locktag_field1, relid) != NULL)
			continue;
		foreign_rels[nforeign_rels].dbid = tag->locktag_field1;
		foreign_rels[nforeign_rels].relid = relid;
		nforeign_rels++;
	}
	if (nforeign_rels == 0 || !rb_db_extension(&extoid, &nspoid, &version))
		return;
	schema = get_namespace_name(nspoid);
	if (schema == NULL)
		return;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(callerctx);
	PG_TRY();
	{
		char	   *q = psprintf("SELECT (x.r).relid, (x.r).name"
								 "  FROM %s._on_databases('relation_names', ARRAY[$1]::pg_catalog.name[],"
								 "                        NULL::%s._relation_name, $2) x"
								 " WHERE NOT x.summary AND (x.r).relid IS NOT NULL",
								 quote_identifier(schema), quote_identifier(schema));
		Oid			argtypes[2] = {TEXTOID, OIDARRAYOID};
		int			i;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		for (i = 0; i < nforeign_rels; i++)
		{
			Oid			dbid = foreign_rels[i].dbid;
			char	   *dbname;
			Datum	   *oids;
			int			n = 0;
			int			j;
			Datum		args[2];
			uint64		r;

			/* one call per database, at its first relation */
			for (j = 0; j < i; j++)
				if (foreign_rels[j].dbid == dbid)
					break;
			if (j < i)
				continue;
			dbname = get_database_name(dbid);
			if (dbname == NULL)
				continue;
			oids = palloc(sizeof(Datum) * nforeign_rels);
			for (j = i; j < nforeign_rels; j++)
				if (foreign_rels[j].dbid == dbid)
					oids[n++] = ObjectIdGetDatum(foreign_rels[j].relid);
			args[0] = CStringGetTextDatum(dbname);
			args[1] = PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
			if (SPI_execute_with_args(q, 2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
				continue;
			for (r = 0; r < SPI_processed; r++)
			{
				bool		isnull;
				Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r],
																	SPI_tuptable->tupdesc, 1, &isnull));
				char	   *name = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);

				for (j = 0; j < nforeign_rels; j++)
					if (foreign_rels[j].dbid == dbid && foreign_rels[j].relid == relid && name)
						foreign_rels[j].name = MemoryContextStrdup(callerctx, name);
			}
		}
		SPI_finish();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(callerctx);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(callerctx);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(callerctx);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
}

/* A lock for people: "relation t", "transaction 735", "advisory lock 42". */
static char *
lock_target_text(const LOCKTAG *tag)
{
	Oid			relid = lock_relation(tag);
	char	   *rel = NULL;
	char	   *obj = lock_object_text(tag);

	if (OidIsValid(relid))
	{
		/* shared catalogs (database 0) are named from any database */
		rel = (tag->locktag_field1 == MyDatabaseId || tag->locktag_field1 == InvalidOid) ?
			get_rel_name(relid) : NULL;
		if (rel == NULL && tag->locktag_field1 != MyDatabaseId)
		{
			/*
			 * another database's catalog cannot be read from here: the name
			 * lock_tree() asked that database for, else the oid
			 */
			char	   *db = get_database_name(tag->locktag_field1);
			const char *name = foreign_rel_name(tag->locktag_field1, relid);

			if (db && name)
				rel = psprintf("%s in database %s", name, db);
			else if (db)
				rel = psprintf("%u in database %s", relid, db);
		}
		if (rel == NULL)
			rel = psprintf("%u", relid);
		else
		{
			/* a name for people: its control characters shown (emit.c) */
			StringInfoData vis;

			initStringInfo(&vis);
			rb_append_visible(&vis, rel);
			rel = vis.data;
		}
	}
	switch ((LockTagType) tag->locktag_type)
	{
		case LOCKTAG_RELATION:
			return psprintf("relation %s", rel);
		case LOCKTAG_RELATION_EXTEND:
			return psprintf("extension of %s", rel);
		case LOCKTAG_PAGE:
			return psprintf("%s of %s", obj, rel);
		case LOCKTAG_TUPLE:
			return psprintf("tuple %s of %s", obj, rel);
		case LOCKTAG_TRANSACTION:
			return psprintf("transaction %s", obj);
		case LOCKTAG_VIRTUALTRANSACTION:
			return psprintf("virtual transaction %s", obj);
		case LOCKTAG_ADVISORY:
			return psprintf("advisory lock %s", obj);
		default:
			return psprintf("%s %s", lock_type_name(tag), obj);
	}
}

/* ---------- shared helpers ---------- */

/* The blocked_by array of a lock group (by its leader's pid). */
Datum
rb_lock_blocked_by_datum(RbWaitGraph *g, int pid)
{
	int			v = rb_wait_graph_node(g, pid);
	Datum	   *elems = NULL;
	int			n = 0;

	if (v >= 0 && g->nodes[v].waiting)
	{
		RbLockNode *node = &g->nodes[v];
		int			k;

		n = node->nblockers;
		elems = palloc(sizeof(Datum) * Max(n, 1));
		for (k = 0; k < n; k++)
			elems[k] = Int32GetDatum(g->nodes[g->blockers[node->first_blocker + k]].pid);
	}
	return PointerGetDatum(construct_array(elems, n, INT4OID, sizeof(int32),
										   true, TYPALIGN_INT));
}

/*
 * Snapshot + analysis in one call: the root blockers right now, most
 * harmful first, with how many sessions wait on each and the oldest wait
 * among them.  What a terminate_blockers() front end selects from.
 */
RbLockRoot *
rb_lock_root_blockers(int *nroots)
{
	return rb_lock_roots(rb_wait_graph_build(rb_lockshot_take()), nroots);
}

/* Modes a root holds that its direct waiters wait for (all locks). */
static LOCKMASK
root_held_mask(RbWaitGraph *g, int root, LOCKTAG *tag_out)
{
	LOCKMASK	mask = 0;
	int			k;

	for (k = 0; k < g->nedges; k++)
	{
		RbLockEdge *e = &g->edges[k];

		if (e->blocker != root || !e->hard)
			continue;
		if (mask == 0 && tag_out)
			*tag_out = g->shot->locks[g->shot->waiters[e->waiter].lock].tag;
		mask |= e->modes;
	}
	return mask;
}

static int
cstring_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * What a root holds that its direct waiters wait for, per lock, sorted:
 * "AccessShareLock on relation t; ExclusiveLock on transaction 7"
 */
static char *
root_holds_text(RbWaitGraph *g, int root)
{
	StringInfoData buf;
	int		   *done = palloc0(sizeof(int) * Max(g->shot->nlocks, 1));
	char	  **parts = palloc(sizeof(char *) * Max(g->shot->nlocks, 1));
	int			nparts = 0;
	int			k;

	for (k = 0; k < g->nedges; k++)
	{
		RbLockEdge *e = &g->edges[k];
		int			lock;
		LOCKMASK	mask = 0;
		int			j;

		if (e->blocker != root || !e->hard)
			continue;
		lock = g->shot->waiters[e->waiter].lock;
		if (done[lock])
			continue;
		done[lock] = 1;
		for (j = k; j < g->nedges; j++)
			if (g->edges[j].blocker == root && g->edges[j].hard &&
				g->shot->waiters[g->edges[j].waiter].lock == lock)
				mask |= g->edges[j].modes;
		parts[nparts++] = psprintf("%s on %s",
								   rb_lock_modes_text(&g->shot->locks[lock].tag, mask),
								   lock_target_text(&g->shot->locks[lock].tag));
	}
	qsort(parts, nparts, sizeof(char *), cstring_cmp);
	initStringInfo(&buf);
	for (k = 0; k < nparts; k++)
		appendStringInfo(&buf, "%s%s", k ? "; " : "", parts[k]);
	pfree(done);
	return buf.data;
}

/* ---------- runbook.blocking_locks() ---------- */

typedef struct RowRef
{
	int			waiter;
	int			root_rank;		/* position of its root in g->roots */
	int			depth;
	TimestampTz wait_start;
	int			pid;
} RowRef;

static int
rowref_cmp(const void *a, const void *b)
{
	const RowRef *x = a;
	const RowRef *y = b;

	if (x->root_rank != y->root_rank)
		return (x->root_rank < y->root_rank) ? -1 : 1;
	if (x->depth != y->depth)
		return (x->depth < y->depth) ? -1 : 1;
	if (x->wait_start != y->wait_start)
		return (x->wait_start < y->wait_start) ? -1 : 1;
	return (x->pid < y->pid) ? -1 : (x->pid > y->pid) ? 1 : 0;
}

/* state, xact age and query of a session, or NULLs / the privilege note */
static void
session_cols(RbViewer *v, TimestampTz now, RbBackend *be, int pid,
			 Datum *values, bool *nulls,
			 int c_user, int c_app, int c_state, int c_xact, int c_query)
{
	NameData	name;

	if (be == NULL)
	{
		nulls[c_user] = nulls[c_app] = nulls[c_state] = nulls[c_xact] =
			nulls[c_query] = true;
		if (pid == 0)
		{
			nulls[c_state] = false;
			values[c_state] = CStringGetTextDatum("prepared");
		}
		return;
	}
	if (rb_viewer_role_name(v, be->roleid, &name))
	{
		Name		n = palloc(sizeof(NameData));

		*n = name;
		values[c_user] = NameGetDatum(n);
	}
	else
		nulls[c_user] = true;
	values[c_app] = CStringGetTextDatum(be->appname);
	if (!rb_viewer_can_see(v, be->roleid))
	{
		nulls[c_state] = nulls[c_xact] = true;
		values[c_query] = CStringGetTextDatum("<insufficient privilege>");
		return;
	}
	if (rb_state_name(be->state))
		values[c_state] = CStringGetTextDatum(rb_state_name(be->state));
	else
		nulls[c_state] = true;
	values[c_xact] = rb_age_datum(now, be->xact_start, &nulls[c_xact]);
	if (be->query)
		values[c_query] = CStringGetTextDatum(be->query);
	else
		nulls[c_query] = true;
}

typedef struct RootCols
{
	Datum		values[BLOCKING_LOCKS_COLS];
	bool		nulls[BLOCKING_LOCKS_COLS];
} RootCols;

static TimestampTz
waiter_start(RbLockWaiter *w, RbBackend *be)
{
	if (w->wait_start != 0)
		return w->wait_start;
	/* not recorded yet (first instant) or on a hot standby */
	return be ? be->query_start : 0;
}

Datum
rb_blocking_locks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbLockShot *shot;
	RbWaitGraph *g;
	RbSnapshot *snap;
	RbViewer   *v;
	PidIndex	ix;
	RowRef	   *rows;
	int		   *rank;
	RootCols  **root_cols;
	int			nrows;
	int			i;

	/* no name asked of other databases here (lock_tree() only) */
	foreign_rels = NULL;
	nforeign_rels = 0;
	InitMaterializedSRF(fcinfo, 0);
	if (!lock_view_snapshots(&g, &snap, &ix))
		PG_RETURN_VOID();
	shot = g->shot;
	v = rb_viewer_new();

	rank = palloc(sizeof(int) * g->nnodes);
	root_cols = palloc0(sizeof(RootCols *) * g->nnodes);
	for (i = 0; i < g->nnodes; i++)
		rank[i] = INT_MAX;
	for (i = 0; i < g->nroots; i++)
		rank[g->roots[i]] = i;

	/*
	 * One row per waiting backend, plus one per lock group whose leader
	 * does not wait on a lock itself while a member does (a parallel
	 * query's leader in IPC:ExecuteGather): the leader is the session a
	 * user sees, and pg_blocking_pids(leader) reports the group as blocked.
	 * Its row shows the lock its first waiting member waits on.
	 */
	{
		bool	   *leader_waits = palloc0(sizeof(bool) * g->nnodes);

		for (i = 0; i < shot->nwaiters; i++)
			if (shot->waiters[i].pid == g->nodes[g->waiter_node[i]].pid)
				leader_waits[g->waiter_node[i]] = true;
		rows = palloc(sizeof(RowRef) * (shot->nwaiters + g->nnodes));
		nrows = 0;
		for (i = 0; i < shot->nwaiters + g->nnodes; i++)
		{
			RbLockNode *n;
			int			wi;
			int			pid;

			if (i < shot->nwaiters)
			{
				wi = i;
				pid = shot->waiters[i].pid;
				n = &g->nodes[g->waiter_node[i]];
			}
			else
			{
				n = &g->nodes[i - shot->nwaiters];
				if (!n->waiting || n->first_waiter < 0 || n->pid <= 0 ||
					leader_waits[i - shot->nwaiters])
					continue;
				wi = n->first_waiter;
				pid = n->pid;
			}
			rows[nrows].waiter = wi;
			rows[nrows].pid = pid;
			rows[nrows].root_rank = (n->root >= 0) ? rank[n->root] : INT_MAX;
			rows[nrows].depth = (n->depth >= 0) ? n->depth : INT_MAX;
			rows[nrows].wait_start = (i < shot->nwaiters) ?
				shot->waiters[i].wait_start : n->wait_start;
			nrows++;
		}
		pfree(leader_waits);
	}
	qsort(rows, nrows, sizeof(RowRef), rowref_cmp);

	for (i = 0; i < nrows; i++)
	{
		int			wi = rows[i].waiter;
		int			pid = rows[i].pid;
		RbLockWaiter *w = &shot->waiters[wi];
		RbLockEntry *e = &shot->locks[w->lock];
		int			nv = g->waiter_node[wi];
		RbLockNode *n = &g->nodes[nv];
		RbBackend  *be = pid_index_find(&ix, pid);
		Datum		values[BLOCKING_LOCKS_COLS];
		bool		nulls[BLOCKING_LOCKS_COLS];
		Oid			relid = lock_relation(&e->tag);
		char	   *s;
		TimestampTz ws;

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(pid);
		session_cols(v, snap->taken_at, be, pid, values, nulls, 1, 2, 3, 5, 18);
		if (pid == w->pid)
			ws = waiter_start(w, be);
		else
			ws = n->wait_start ? n->wait_start :
				waiter_start(w, pid_index_find(&ix, w->pid));
		values[4] = rb_age_datum(shot->taken_at, ws, &nulls[4]);
		values[6] = CStringGetTextDatum(lock_type_name(&e->tag));
		if (OidIsValid(relid))
			values[7] = ObjectIdGetDatum(relid);
		else
			nulls[7] = true;
		s = lock_object_text(&e->tag);
		if (s)
			values[8] = CStringGetTextDatum(s);
		else
			nulls[8] = true;
		values[9] = CStringGetTextDatum(GetLockmodeName(e->tag.locktag_lockmethodid,
														w->mode));
		s = rb_lock_modes_text(&e->tag, g->held_conflict[wi]);
		if (s)
			values[10] = CStringGetTextDatum(s);
		else
			nulls[10] = true;
		s = rb_lock_modes_text(&e->tag, g->queued_conflict[wi]);
		if (s)
			values[11] = CStringGetTextDatum(s);
		else
			nulls[11] = true;
		values[12] = rb_lock_blocked_by_datum(g, n->pid);
		if (n->root >= 0)
		{
			/* the root's columns are the same on every row it roots */
			RootCols   *rc = root_cols[n->root];

			if (rc == NULL)
			{
				RbLockNode *r = &g->nodes[n->root];
				RbBackend  *rbe = pid_index_find(&ix, r->pid);
				LOCKTAG		tag;
				LOCKMASK	m;

				rc = root_cols[n->root] = palloc0(sizeof(RootCols));
				rc->values[13] = Int32GetDatum(r->pid);
				session_cols(v, snap->taken_at, rbe, r->pid, rc->values, rc->nulls,
							 19, 20, 21, 22, 25);
				m = root_held_mask(g, n->root, &tag);
				if (m)
					rc->values[23] = CStringGetTextDatum(rb_lock_modes_text(&tag, m));
				else
					rc->nulls[23] = true;
				rc->values[24] = Int32GetDatum(r->blocked);
			}
			values[13] = rc->values[13];
			for (int c = 19; c <= 25; c++)
			{
				values[c] = rc->values[c];
				nulls[c] = rc->nulls[c];
			}
			values[14] = Int32GetDatum(n->depth);
		}
		else
		{
			nulls[13] = nulls[14] = true;
			for (int c = 19; c <= 25; c++)
				nulls[c] = true;
		}
		values[15] = Int32GetDatum(n->blocked);
		values[16] = BoolGetDatum(n->in_cycle);
		if (n->cycle >= 0)
			values[17] = CStringGetTextDatum(g->cycles[n->cycle].text);
		else
			nulls[17] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

/* ---------- runbook.lock_tree() ---------- */

typedef struct TreeCtx
{
	RbWaitGraph *g;
	PidIndex   *ix;
	RbViewer   *v;
	TimestampTz now;
	int		   *first_child;	/* CSR of tree children */
	int		   *children;
	ReturnSetInfo *rsinfo;
} TreeCtx;

static void
append_age(StringInfo buf, int64 us)
{
	int64		secs = us / USECS_PER_SEC;

	if (secs < 0)
		secs = 0;
	if (secs >= SECS_PER_DAY)
		appendStringInfo(buf, INT64_FORMAT "d ", secs / SECS_PER_DAY);
	secs %= SECS_PER_DAY;
	appendStringInfo(buf, "%02d:%02d:%02d", (int) (secs / 3600),
					 (int) ((secs / 60) % 60), (int) (secs % 60));
}

/*
 * One line of query text, clipped: runs of white space become one space,
 * other control characters are shown as \xHH (rb_append_visible), so that
 * a query text can neither break the tree's lines nor reach the reader's
 * terminal as an escape sequence.
 */
static void
append_query(StringInfo buf, const char *q)
{
	StringInfoData line;
	int			n = 0;
	bool		space = false;

	initStringInfo(&line);
	for (; *q && n < 100; q++)
	{
		if (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')
		{
			space = true;
			continue;
		}
		if (space && n > 0)
		{
			appendStringInfoChar(&line, ' ');
			n++;
		}
		space = false;
		appendStringInfoChar(&line, *q);
		n++;
	}
	/* never cut a multibyte character in two */
	line.len = pg_mbcliplen(line.data, line.len, line.len);
	line.data[line.len] = '\0';
	rb_append_visible(buf, line.data);
	pfree(line.data);
	if (*q)
		appendStringInfoString(buf, "...");
}

static void
emit_line(TreeCtx *t, const char *line)
{
	Datum		value = CStringGetTextDatum(line);
	bool		isnull = false;

	tuplestore_putvalues(t->rsinfo->setResult, t->rsinfo->setDesc, &value, &isnull);
}

/* the session part of a line: "pid 12 [app] idle in transaction, xact 00:01:00" */
static void
append_session(TreeCtx *t, StringInfo buf, RbLockNode *n)
{
	RbBackend  *be = pid_index_find(t->ix, n->pid);

	if (n->pid == 0)
	{
		appendStringInfo(buf, "pid 0 prepared transaction");
		if (TransactionIdIsValid(n->prepared_xid))
			appendStringInfo(buf, " (xid %u, see pg_prepared_xacts)", n->prepared_xid);
		return;
	}
	appendStringInfo(buf, "pid %d", n->pid);
	if (be == NULL)
	{
		appendStringInfoString(buf, " (no longer running)");
		return;
	}
	appendStringInfoString(buf, " [");
	rb_append_visible(buf, be->appname);
	appendStringInfoChar(buf, ']');
	if (!rb_viewer_can_see(t->v, be->roleid))
		return;
	if (rb_state_name(be->state))
		appendStringInfo(buf, " %s", rb_state_name(be->state));
	if (be->xact_start != 0)
	{
		appendStringInfoString(buf, ", xact ");
		append_age(buf, t->now - be->xact_start);
	}
}

static void
append_query_of(TreeCtx *t, StringInfo buf, RbLockNode *n)
{
	RbBackend  *be = pid_index_find(t->ix, n->pid);

	if (be == NULL || be->query == NULL)
		return;
	appendStringInfoString(buf, ": ");
	if (!rb_viewer_can_see(t->v, be->roleid))
		appendStringInfoString(buf, "<insufficient privilege>");
	else
		append_query(buf, be->query);
}

/* a waiting node: what it waits for, for how long, behind whom */
static void
append_wait(TreeCtx *t, StringInfo buf, int nv)
{
	RbWaitGraph *g = t->g;
	RbLockNode *n = &g->nodes[nv];
	RbLockWaiter *w;
	RbLockEntry *e;
	TimestampTz ws;

	if (n->first_waiter < 0)
		return;
	w = &g->shot->waiters[n->first_waiter];
	e = &g->shot->locks[w->lock];
	ws = waiter_start(w, pid_index_find(t->ix, w->pid));
	appendStringInfoString(buf, ", waiting ");
	if (ws != 0)
	{
		append_age(buf, g->shot->taken_at - ws);
		appendStringInfoChar(buf, ' ');
	}
	appendStringInfo(buf, "for %s on %s",
					 GetLockmodeName(e->tag.locktag_lockmethodid, w->mode),
					 lock_target_text(&e->tag));
	if (n->nblockers > 1)
	{
		int			k,
					shown = 0;

		appendStringInfoString(buf, ", also behind");
		for (k = 0; k < n->nblockers; k++)
		{
			int			x = g->blockers[n->first_blocker + k];

			if (x == n->parent)
				continue;
			appendStringInfo(buf, "%s%d", shown++ ? "," : " ", g->nodes[x].pid);
		}
	}
	if (n->in_cycle)
		appendStringInfo(buf, ", in wait-for cycle %s", g->cycles[n->cycle].text);
}

static void
emit_subtree(TreeCtx *t, int nv, const char *prefix, bool last, bool top)
{
	RbWaitGraph *g = t->g;
	RbLockNode *n = &g->nodes[nv];
	StringInfoData buf;
	char	   *child_prefix;
	int			k,
				nkids;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	initStringInfo(&buf);
	appendStringInfoString(&buf, prefix);
	if (!top)
		appendStringInfoString(&buf, last ? "└─ " : "├─ ");
	append_session(t, &buf, n);
	if (n->waiting)
		append_wait(t, &buf, nv);
	else
		appendStringInfo(&buf, ", holds %s", root_holds_text(g, nv));
	if (n->blocked > 0)
		appendStringInfo(&buf, ", blocks %d", n->blocked);
	append_query_of(t, &buf, n);
	emit_line(t, buf.data);

	child_prefix = top ? pstrdup(prefix) :
		psprintf("%s%s", prefix, last ? "   " : "│  ");
	nkids = t->first_child[nv + 1] - t->first_child[nv];
	for (k = 0; k < nkids; k++)
		emit_subtree(t, t->children[t->first_child[nv] + k], child_prefix,
					 k == nkids - 1, false);
	pfree(buf.data);
}

static RbWaitGraph *kid_graph;

/* tree children: oldest wait first */
static int
kid_cmp(const void *a, const void *b)
{
	const RbLockNode *x = &kid_graph->nodes[*(const int *) a];
	const RbLockNode *y = &kid_graph->nodes[*(const int *) b];

	if (x->wait_start != y->wait_start)
	{
		if (x->wait_start == 0 || y->wait_start == 0)
			return (y->wait_start == 0) ? -1 : 1;
		return (x->wait_start < y->wait_start) ? -1 : 1;
	}
	return (x->pid < y->pid) ? -1 : (x->pid > y->pid) ? 1 : 0;
}

/* Set up a materialized SETOF text result (one column). */
static void
materialize_text(FunctionCallInfo fcinfo, const char *colname)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcxt;
	TupleDesc	tupdesc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(tupdesc, (AttrNumber) 1, colname, TEXTOID, -1, 0);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = tupdesc;
	MemoryContextSwitchTo(oldcxt);
}

Datum
rb_lock_tree(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbWaitGraph *g;
	RbSnapshot *snap;
	PidIndex	ix;
	TreeCtx		t;
	int		   *fill;
	int			i,
				c;

	materialize_text(fcinfo, "line");
	if (!lock_view_snapshots(&g, &snap, &ix))
		PG_RETURN_VOID();

	t.g = g;
	t.ix = &ix;
	t.v = rb_viewer_new();
	t.now = snap->taken_at;
	t.rsinfo = rsinfo;

	/* children lists from the parent links, oldest wait first */
	t.first_child = palloc0(sizeof(int) * (g->nnodes + 1));
	t.children = palloc(sizeof(int) * Max(g->nnodes, 1));
	fill = palloc0(sizeof(int) * Max(g->nnodes, 1));
	for (i = 0; i < g->nnodes; i++)
		if (g->nodes[i].parent >= 0)
			t.first_child[g->nodes[i].parent + 1]++;
	for (i = 0; i < g->nnodes; i++)
		t.first_child[i + 1] += t.first_child[i];
	for (i = 0; i < g->nnodes; i++)
	{
		int			p = g->nodes[i].parent;

		if (p >= 0)
			t.children[t.first_child[p] + fill[p]++] = i;
	}
	kid_graph = g;
	for (i = 0; i < g->nnodes; i++)
		qsort(t.children + t.first_child[i], t.first_child[i + 1] - t.first_child[i],
			  sizeof(int), kid_cmp);
	kid_graph = NULL;

	/* the names of other databases' relations, asked there */
	resolve_foreign_relations(g);

	for (i = 0; i < g->nroots; i++)
		emit_subtree(&t, g->roots[i], "", true, true);

	/* waits that lead to no root: deadlocks the detector has not broken yet */
	for (c = 0; c < g->ncycles; c++)
	{
		int		   *members = palloc(sizeof(int) * g->nnodes);
		int			m = 0;

		for (i = 0; i < g->nnodes; i++)
			if (g->nodes[i].in_cycle && g->nodes[i].cycle == c &&
				g->nodes[i].root < 0)
				members[m++] = i;
		if (m == 0)
			continue;
		kid_graph = g;
		qsort(members, m, sizeof(int), kid_cmp);
		kid_graph = NULL;
		emit_line(&t, psprintf("wait-for cycle %s (a deadlock the detector has not broken yet)",
							   g->cycles[c].text));
		for (i = 0; i < m; i++)
			emit_subtree(&t, members[i], "", i == m - 1, false);
	}
	foreign_rels = NULL;
	nforeign_rels = 0;
	PG_RETURN_VOID();
}
