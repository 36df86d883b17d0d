/*-------------------------------------------------------------------------
 *
 * activity_sql.c
 *		SQL front ends for live activity: runbook.sessions (through
 *		runbook._sessions()), runbook.long_running(), runbook.idle_sessions()
 *		and runbook.connections().  Each reads one snapshot (snapshot.c),
 *		filters in C, and shares one row format.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netdb.h>

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "common/ip.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/postmaster.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "activity.h"
#include "locks.h"
#include "snapshot.h"

PG_FUNCTION_INFO_V1(rb_sessions);
PG_FUNCTION_INFO_V1(rb_long_running);
PG_FUNCTION_INFO_V1(rb_idle_sessions);
PG_FUNCTION_INFO_V1(rb_connections);

/*
 * Direct blockers of a backend's lock group, with the semantics of
 * pg_blocking_pids(): when any member of a lock group (a parallel query's
 * leader and its workers) waits on a heavyweight lock, the leader and every
 * member report the group's blockers, even the leader that itself waits in
 * IPC:ExecuteGather while its workers wait on the lock.  NULL when nothing
 * in the backend's group waits on a lock.  The lock snapshot and its
 * analysis (locks.c) are made once per call; when no backend waits on a
 * lock the snapshot takes no lock-manager lock and the graph is empty.
 */
static RbWaitGraph *
viewer_lockgraph(RbViewer *v)
{
	if (v->lockgraph == NULL)
		v->lockgraph = rb_wait_graph_build(rb_lockshot_take());
	return (RbWaitGraph *) v->lockgraph;
}

/*
 * Does the lock group of 'b' wait on a heavyweight lock?  *root gets the pid
 * of the root blocker at the head of its wait (0: a prepared transaction;
 * -1: none, a wait-for cycle).  From the same lock snapshot as blocked_by.
 */
static bool
lock_waiting(RbViewer *v, const RbBackend *b, int *root)
{
	RbWaitGraph *g = viewer_lockgraph(v);
	int			node = rb_wait_graph_node(g, b->leader_pid ? b->leader_pid : b->pid);

	*root = -1;
	if (node < 0 || !g->nodes[node].waiting)
		return false;
	if (g->nodes[node].root >= 0)
		*root = g->nodes[g->nodes[node].root].pid;
	return true;
}

static Datum
blocked_by_datum(RbViewer *v, const RbBackend *b, bool *isnull)
{
	RbWaitGraph *g = viewer_lockgraph(v);
	int			group = b->leader_pid ? b->leader_pid : b->pid;
	int			node;

	node = rb_wait_graph_node(g, group);
	if (node < 0 || !g->nodes[node].waiting)
	{
		*isnull = true;
		return (Datum) 0;
	}
	*isnull = false;
	return rb_lock_blocked_by_datum(g, group);
}

/*
 * Build the shared activity row for one backend (RB_ACTIVITY_COLS values).
 * Columns other than pid, user, database, application, xid and xmin are
 * NULL and the query reads "<insufficient privilege>" for sessions the
 * caller may not see, exactly as in pg_stat_activity.
 */
void
rb_activity_row(RbViewer *v, TimestampTz now, const RbBackend *b,
				Datum *values, bool *nulls)
{
	NameData	name;
	TransactionId next_xid = v->next_xid;
	int			i = 0;

	memset(nulls, 0, sizeof(bool) * RB_ACTIVITY_COLS);

	values[0] = Int32GetDatum(b->pid);

	if (rb_viewer_role_name(v, b->roleid, &name))
		values[2] = NameGetDatum(rb_name_copy(&name));
	else
		nulls[2] = true;
	if (rb_viewer_db_name(v, b->dbid, &name))
		values[3] = NameGetDatum(rb_name_copy(&name));
	else
		nulls[3] = true;
	values[4] = CStringGetTextDatum(b->appname);

	if (TransactionIdIsValid(b->xid))
	{
		values[18] = TransactionIdGetDatum(b->xid);
		values[20] = Int32GetDatum((int32) (next_xid - b->xid));
	}
	else
		nulls[18] = nulls[20] = true;
	if (TransactionIdIsValid(b->xmin))
	{
		values[19] = TransactionIdGetDatum(b->xmin);
		values[21] = Int32GetDatum((int32) (next_xid - b->xmin));
	}
	else
		nulls[19] = nulls[21] = true;

	if (!rb_viewer_can_see(v, b->roleid))
	{
		for (i = 0; i < RB_ACTIVITY_COLS; i++)
			if (i != 0 && i != 2 && i != 3 && i != 4 && (i < 18 || i > 21))
				nulls[i] = true;
		nulls[25] = false;
		values[25] = CStringGetTextDatum("<insufficient privilege>");
		return;
	}

	values[1] = CStringGetTextDatum(rb_backend_type_name(b));
	{
		Datum		addr;
		int			port;

		if (rb_client_inet(&b->clientaddr, &addr, &port))
			values[5] = addr;
		else
			nulls[5] = true;
		if (port != 0)
			values[6] = Int32GetDatum(port);
		else
			nulls[6] = true;
	}
	if (rb_state_name(b->state))
		values[7] = CStringGetTextDatum(rb_state_name(b->state));
	else
		nulls[7] = true;
	{
		const char *wt = pgstat_get_wait_event_type(b->wait_event_info);
		const char *we = pgstat_get_wait_event(b->wait_event_info);

		if (wt)
			values[8] = CStringGetTextDatum(wt);
		else
			nulls[8] = true;
		if (we)
			values[9] = CStringGetTextDatum(we);
		else
			nulls[9] = true;
	}

#define TS_COL(col, ts) \
	do { \
		if ((ts) != 0) values[col] = TimestampTzGetDatum(ts); \
		else nulls[col] = true; \
	} while (0)

	TS_COL(10, b->backend_start);
	/* like pg_stat_activity: no transaction start for walsenders */
	TS_COL(11, b->backend_type == B_WAL_SENDER ? 0 : b->xact_start);
	TS_COL(12, b->query_start);
	TS_COL(13, b->state_start);
	values[14] = rb_age_datum(now, b->backend_start, &nulls[14]);
	values[15] = rb_age_datum(now, b->backend_type == B_WAL_SENDER ? 0 : b->xact_start,
							  &nulls[15]);
	values[16] = rb_age_datum(now, b->query_start, &nulls[16]);
	values[17] = rb_age_datum(now, b->state_start, &nulls[17]);

	if (b->leader_pid != 0)
		values[22] = Int32GetDatum(b->leader_pid);
	else
		nulls[22] = true;
	if (b->query_id != 0)
		values[23] = Int64GetDatum((int64) b->query_id);
	else
		nulls[23] = true;
	values[24] = blocked_by_datum(v, b, &nulls[24]);
	if (b->query)
		values[25] = CStringGetTextDatum(b->query);
	else
		nulls[25] = true;
}

/* ---------- runbook._sessions(): every backend ---------- */

Datum
rb_sessions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbSnapshot *snap;
	RbViewer   *v;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	snap = rb_snapshot_take(RB_SNAP_QUERY);
	v = rb_viewer_new();

	for (i = 0; i < snap->nbackends; i++)
	{
		Datum		values[RB_ACTIVITY_COLS];
		bool		nulls[RB_ACTIVITY_COLS];

		rb_activity_row(v, snap->taken_at, &snap->backends[i], values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

/* ---------- long_running() and idle_sessions() ---------- */

typedef struct AgedRef
{
	int64		age;
	RbBackend  *b;
} AgedRef;

static int
aged_cmp_desc(const void *a, const void *b)
{
	int64		x = ((const AgedRef *) a)->age;
	int64		y = ((const AgedRef *) b)->age;

	return (x < y) ? 1 : (x > y) ? -1 : 0;
}

#define MATCH_ACTIVE	1
#define MATCH_IDLE		2

/*
 * Emit client backends in the wanted states whose age (of the query for
 * active sessions, of the state for idle ones) is at least min_us, oldest
 * first.  Sessions the caller may not see are counted and announced.  With
 * lock_waits false, active sessions waiting on a heavyweight lock are left
 * out (victims of a root blocker, not long-running statements).  When the
 * result has a column after the activity row (long_running() since 1.2), it
 * is the root blocker of the session's lock wait.
 */
static void
emit_aged(FunctionCallInfo fcinfo, int match, int64 min_us, bool lock_waits)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbSnapshot *snap;
	RbViewer   *v;
	AgedRef    *refs;
	int			nrefs = 0;
	int			hidden = 0;
	int			i;

	bool		root_col;

	InitMaterializedSRF(fcinfo, 0);
	root_col = rsinfo->setDesc->natts > RB_ACTIVITY_COLS;
	snap = rb_snapshot_take(RB_SNAP_QUERY);
	v = rb_viewer_new();
	refs = palloc(sizeof(AgedRef) * Max(snap->nbackends, 1));

	for (i = 0; i < snap->nbackends; i++)
	{
		RbBackend  *b = &snap->backends[i];
		TimestampTz since;
		bool		want;

		if (!rb_is_client_backend(b) || b->pid == MyProcPid)
			continue;
		if (match == MATCH_ACTIVE)
		{
			want = (b->state == STATE_RUNNING || b->state == STATE_FASTPATH);
			since = b->query_start;
		}
		else
		{
			want = (b->state == STATE_IDLE ||
					b->state == STATE_IDLEINTRANSACTION ||
					b->state == STATE_IDLEINTRANSACTION_ABORTED);
			since = b->state_start;
		}
		if (!want || since == 0 || snap->taken_at - since < min_us)
			continue;
		if (!lock_waits && match == MATCH_ACTIVE)
		{
			int			root;

			if (lock_waiting(v, b, &root))
				continue;
		}
		if (!rb_viewer_can_see(v, b->roleid))
		{
			hidden++;
			continue;
		}
		refs[nrefs].age = snap->taken_at - since;
		refs[nrefs].b = b;
		nrefs++;
	}
	qsort(refs, nrefs, sizeof(AgedRef), aged_cmp_desc);

	for (i = 0; i < nrefs; i++)
	{
		Datum		values[RB_ACTIVITY_COLS + 1];
		bool		nulls[RB_ACTIVITY_COLS + 1];

		rb_activity_row(v, snap->taken_at, refs[i].b, values, nulls);
		if (root_col)
		{
			int			root;

			nulls[RB_ACTIVITY_COLS] = true;
			if (lock_waiting(v, refs[i].b, &root) && root >= 0)
			{
				values[RB_ACTIVITY_COLS] = Int32GetDatum(root);
				nulls[RB_ACTIVITY_COLS] = false;
			}
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	if (hidden > 0)
		ereport(NOTICE,
				(errmsg("%d matching session%s of other roles not shown",
						hidden, hidden == 1 ? "" : "s"),
				 errhint("Grant pg_read_all_stats (or pg_monitor) to see every session.")));
}

/*
 * long_running(min_age, include_lock_waits): a 1.1 definition (before ALTER
 * EXTENSION UPDATE) has one argument and lists lock waiters too, as 1.1 did.
 */
Datum
rb_long_running(PG_FUNCTION_ARGS)
{
	int64		min_us = rb_check_interval_arg(fcinfo, 0, "min_age");
	bool		lock_waits = true;

	if (PG_NARGS() > 1)
	{
		if (PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("include_lock_waits must not be NULL"),
					 errhint("Pass false to leave out sessions waiting on a lock (the default), true to list them with their root blocker.")));
		lock_waits = PG_GETARG_BOOL(1);
	}
	emit_aged(fcinfo, MATCH_ACTIVE, min_us, lock_waits);
	PG_RETURN_VOID();
}

Datum
rb_idle_sessions(PG_FUNCTION_ARGS)
{
	int64		min_us = rb_check_interval_arg(fcinfo, 0, "min_idle");

	emit_aged(fcinfo, MATCH_IDLE, min_us, true);
	PG_RETURN_VOID();
}

/* ---------- connections(): saturation, one row ---------- */

Datum
rb_connections(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	RbSnapshot *snap;
	Datum		values[14];
	bool		nulls[14];
	int			reserved = rb_reserved_connections();
	int			usable = Max(MaxConnections - reserved, 0);
	int			in_use = 0,
				active = 0,
				idle = 0,
				idle_xact = 0,
				idle_xact_aborted = 0,
				other = 0,
				walsenders = 0,
				background = 0;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	snap = rb_snapshot_take(0);
	for (i = 0; i < snap->nbackends; i++)
	{
		RbBackend  *b = &snap->backends[i];

		if (b->backend_type == B_WAL_SENDER)
		{
			walsenders++;
			continue;
		}
		if (!rb_is_client_backend(b))
		{
			background++;
			continue;
		}
		in_use++;
		switch (b->state)
		{
			case STATE_RUNNING:
			case STATE_FASTPATH:
				active++;
				break;
			case STATE_IDLE:
				idle++;
				break;
			case STATE_IDLEINTRANSACTION:
				idle_xact++;
				break;
			case STATE_IDLEINTRANSACTION_ABORTED:
				idle_xact_aborted++;
				break;
			default:
				other++;
				break;
		}
	}

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int32GetDatum(MaxConnections);
	values[1] = Int32GetDatum(reserved);
	values[2] = Int32GetDatum(usable);
	values[3] = Int32GetDatum(in_use);
	values[4] = Int32GetDatum(active);
	values[5] = Int32GetDatum(idle);
	values[6] = Int32GetDatum(idle_xact);
	values[7] = Int32GetDatum(idle_xact_aborted);
	values[8] = Int32GetDatum(other);
	values[9] = Int32GetDatum(Max(usable - in_use, 0));
	values[10] = Int32GetDatum(Max(MaxConnections - in_use, 0));
	if (usable > 0)
		values[11] = DirectFunctionCall2(numeric_round,
										 DirectFunctionCall1(float8_numeric,
															 Float8GetDatum(100.0 * in_use / usable)),
										 Int32GetDatum(1));
	else
		nulls[11] = true;
	values[12] = Int32GetDatum(walsenders);
	values[13] = Int32GetDatum(background);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
