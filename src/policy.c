/*-------------------------------------------------------------------------
 *
 * policy.c
 *		Loading runbook.policies and evaluating them against a snapshot.
 *
 * Semantics: for each client session, policies are tried in order of
 * priority (then name); the first policy whose every condition holds —
 * match columns (role membership, database, application pattern, client
 * network, state, time window), thresholds (state, transaction and
 * statement age) and harm conditions (blocking others, holding back the
 * xmin horizon) — decides.  An 'ignore' policy that holds is an explicit
 * exemption.  A policy whose match columns fit but whose thresholds are
 * not reached yet contributes its crossing time to next_deadline, so the
 * worker can wake up exactly then.
 *
 * A remedy function's ad hoc policy may skip lock waiters (cancel_long():
 * a statement waiting on a heavyweight lock is a victim of its root
 * blocker, not a runaway): its decision is then marked lock_waiter, with the
 * root, and the caller reports it instead of acting.  The worker's policies
 * do not set it.
 *
 * Evaluation has no side effects: the worker and policy_preview() share it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/namespace.h"
#include <math.h>
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/tablespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "viewer.h"
#include "lockgraph.h"
#include "policy.h"

static RbPolicyAction
parse_action(const char *s)
{
	if (strcmp(s, "ignore") == 0)
		return RB_POLICY_IGNORE;
	if (strcmp(s, "log") == 0)
		return RB_POLICY_LOG;
	if (strcmp(s, "cancel") == 0)
		return RB_POLICY_CANCEL;
	if (strcmp(s, "terminate") == 0)
		return RB_POLICY_TERMINATE;
	if (strcmp(s, "cancel_then_terminate") == 0)
		return RB_POLICY_CANCEL_THEN_TERMINATE;
	/* the table's CHECK constraint makes this unreachable */
	elog(ERROR, "unknown policy action \"%s\"", s);
	return RB_POLICY_IGNORE;
}

#define POLICY_COLUMNS_1_0 \
	"SELECT name, priority, role_name, database_name, application_pattern, " \
	"       client_network, states, active_from, active_until, " \
	"       min_state_age, min_xact_age, min_query_age, only_if_blocking, " \
	"       min_blocked_sessions, min_blocked_wait, min_xmin_age, action, " \
	"       grace, allow_superuser, dry_run, "
#define POLICY_COLUMNS_1_1 \
	POLICY_COLUMNS_1_0 \
	"       min_backend_age, exclude_application_pattern, " \
	"       CAST(min_connections_pct AS pg_catalog.float8), " \
	"       CAST(target_connections_pct AS pg_catalog.float8), "
#define POLICY_QUERY \
	POLICY_COLUMNS_1_1 \
	"       min_private_memory_bytes, min_temp_file_bytes, " \
	"       CAST(min_memory_used_pct AS pg_catalog.float8), " \
	"       CAST(target_memory_used_pct AS pg_catalog.float8), " \
	"       CAST(min_disk_used_pct AS pg_catalog.float8), " \
	"       CAST(target_disk_used_pct AS pg_catalog.float8) " \
	"  FROM runbook.policies WHERE enabled ORDER BY priority, name"
/* the library is 1.2 but ALTER EXTENSION ... UPDATE has not run yet */
#define POLICY_NULLS_1_2 \
	"       CAST(NULL AS pg_catalog.int8), CAST(NULL AS pg_catalog.int8), " \
	"       CAST(NULL AS pg_catalog.float8), CAST(NULL AS pg_catalog.float8), " \
	"       CAST(NULL AS pg_catalog.float8), CAST(NULL AS pg_catalog.float8) "
#define POLICY_QUERY_1_1 \
	POLICY_COLUMNS_1_1 \
	POLICY_NULLS_1_2 \
	"  FROM runbook.policies WHERE enabled ORDER BY priority, name"
#define POLICY_QUERY_1_0 \
	POLICY_COLUMNS_1_0 \
	"       CAST(NULL AS pg_catalog.interval), CAST(NULL AS pg_catalog.text), " \
	"       CAST(NULL AS pg_catalog.float8), CAST(NULL AS pg_catalog.float8), " \
	POLICY_NULLS_1_2 \
	"  FROM runbook.policies WHERE enabled ORDER BY priority, name"

static SPIPlanPtr policy_plan = NULL;
static SPIPlanPtr policy_plan_1_1 = NULL;
static SPIPlanPtr policy_plan_1_0 = NULL;

/*
 * Which version's columns runbook.policies has: 2 (1.2: the guards), 1
 * (1.1), 0 (1.0).
 */
static int
policies_columns_version(void)
{
	Oid			nsp = get_namespace_oid("runbook", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("policies", nsp) : InvalidOid;

	if (!OidIsValid(rel))
		return 0;
	if (get_attnum(rel, "target_disk_used_pct") != InvalidAttrNumber)
		return 2;
	if (get_attnum(rel, "target_connections_pct") != InvalidAttrNumber)
		return 1;
	return 0;
}

/* Usable connection slots: max_connections less the reserved ones. */
int
rb_usable_connection_slots(void)
{
	return Max(MaxConnections - rb_reserved_connections(), 1);
}

static int64
interval_col(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? -1 : rb_interval_usecs(DatumGetIntervalP(d));
}

/* Lower *min_us to the smallest age threshold of 'p'. */
static void
policy_min_threshold(RbPolicy *p, int64 *min_us)
{
	int64		t[4] = {p->min_state_us, p->min_xact_us, p->min_query_us,
	p->has_backend_age ? p->min_backend_us : -1};
	int			k;

	for (k = 0; k < 4; k++)
		if (t[k] >= 0 && (*min_us < 0 || t[k] < *min_us))
			*min_us = t[k];
}

/* Is 'p' a memory or disk guard (1.2)? */
static bool
policy_is_guard(const RbPolicy *p)
{
	return p->has_private_mem || p->has_temp || p->mem_guard || p->disk_guard;
}

/* What the worker must read and watch for an acting guard policy 'p'. */
static void
guard_note(RbPolicySet *set, const RbPolicy *p)
{
	if (!policy_is_guard(p))
		return;
	set->need_host = true;
	set->host_states |= p->state_mask;
	if (p->mem_guard || p->has_private_mem)
		set->host_flags |= RB_HOST_PROC_MEM;
	if (p->mem_guard)
		set->host_flags |= RB_HOST_MEMORY;
	if (p->disk_guard || p->has_temp)
		set->host_flags |= RB_HOST_FS | RB_HOST_TEMP;
	if (p->mem_guard &&
		(set->min_mem_pct < 0 || p->min_mem_pct < set->min_mem_pct))
		set->min_mem_pct = p->min_mem_pct;
	if (p->disk_guard &&
		(set->min_disk_pct < 0 || p->min_disk_pct < set->min_disk_pct))
		set->min_disk_pct = p->min_disk_pct;
	/* a floor alone (no mark) is watched through the whole figure */
	if (p->has_private_mem && !p->mem_guard && !p->disk_guard &&
		(set->min_private_mem < 0 || p->min_private_mem < set->min_private_mem))
		set->min_private_mem = p->min_private_mem;
	if (p->has_temp && !p->mem_guard && !p->disk_guard &&
		(set->min_temp_bytes < 0 || p->min_temp_bytes < set->min_temp_bytes))
		set->min_temp_bytes = p->min_temp_bytes;
}

/*
 * Read the enabled policies (caller has a transaction, a snapshot and an
 * SPI connection).  The result lives in the caller's memory context.
 */
RbPolicySet *
rb_policies_load(void)
{
	MemoryContext callerctx = CurrentMemoryContext;
	RbPolicySet *set = palloc0(sizeof(RbPolicySet));
	uint64		i;
	int			ret;

	/*
	 * One saved plan per process: the worker reads the policies every
	 * cycle, and parsing and planning would be most of that cost.  The plan
	 * cache re-plans by itself if the table is recreated.
	 */
	int			cols = policies_columns_version();
	SPIPlanPtr *slot = cols == 2 ? &policy_plan : cols == 1 ? &policy_plan_1_1 : &policy_plan_1_0;

	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(cols == 2 ? POLICY_QUERY :
									   cols == 1 ? POLICY_QUERY_1_1 : POLICY_QUERY_1_0,
									   0, NULL);

		if (plan == NULL)
			elog(ERROR, "could not prepare the query of runbook.policies: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*slot = plan;
	}
	ret = SPI_execute_plan(*slot, NULL, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read runbook.policies: %s", SPI_result_code_string(ret));

	set->npolicies = (int) SPI_processed;
	set->min_threshold_us = -1;
	set->min_conn_pct = -1;
	set->min_mem_pct = -1;
	set->min_disk_pct = -1;
	set->min_private_mem = -1;
	set->min_temp_bytes = -1;
	set->policies = MemoryContextAllocZero(callerctx,
										   sizeof(RbPolicy) * Max(set->npolicies, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		RbPolicy   *p = &set->policies[i];
		MemoryContext old;
		bool		isnull;
		Datum		d;
		char	   *s;

		old = MemoryContextSwitchTo(callerctx);

		p->name = SPI_getvalue(tup, desc, 1);
		p->priority = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));

		s = SPI_getvalue(tup, desc, 3);
		if (s)
		{
			p->filter.roleid = get_role_oid(s, true);
			p->role_missing = !OidIsValid(p->filter.roleid);
		}
		s = SPI_getvalue(tup, desc, 4);
		if (s)
		{
			p->filter.dbid = get_database_oid(s, true);
			p->db_missing = !OidIsValid(p->filter.dbid);
		}
		d = SPI_getbinval(tup, desc, 5, &isnull);
		p->filter.app_pattern = isnull ? NULL : DatumGetTextPCopy(d);
		d = SPI_getbinval(tup, desc, 6, &isnull);
		p->filter.network = isnull ? NULL : (inet *) PG_DETOAST_DATUM_COPY(d);

		d = SPI_getbinval(tup, desc, 7, &isnull);
		if (!isnull)
		{
			ArrayType  *arr = DatumGetArrayTypeP(d);
			Datum	   *elems;
			bool	   *enulls;
			int			nelems;
			int			k;

			deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &enulls, &nelems);
			for (k = 0; k < nelems; k++)
			{
				BackendState st;

				if (enulls[k])
					continue;
				if (rb_state_parse(TextDatumGetCString(elems[k]), &st))
					p->state_mask |= (1U << st);
			}
		}

		d = SPI_getbinval(tup, desc, 8, &isnull);
		if (!isnull)
		{
			p->has_window = true;
			p->window_from = DatumGetTimeADT(d);
			p->window_until = DatumGetTimeADT(SPI_getbinval(tup, desc, 9, &isnull));
		}
		p->min_state_us = interval_col(tup, desc, 10);
		p->min_xact_us = interval_col(tup, desc, 11);
		p->min_query_us = interval_col(tup, desc, 12);
		p->only_if_blocking = DatumGetBool(SPI_getbinval(tup, desc, 13, &isnull));
		p->min_blocked = DatumGetInt32(SPI_getbinval(tup, desc, 14, &isnull));
		p->min_blocked_wait_us = interval_col(tup, desc, 15);
		d = SPI_getbinval(tup, desc, 16, &isnull);
		p->min_xmin_age = isnull ? -1 : DatumGetInt32(d);
		p->action = parse_action(SPI_getvalue(tup, desc, 17));
		p->grace_us = interval_col(tup, desc, 18);
		p->allow_superuser = DatumGetBool(SPI_getbinval(tup, desc, 19, &isnull));
		p->dry_run = DatumGetBool(SPI_getbinval(tup, desc, 20, &isnull));
		p->min_backend_us = interval_col(tup, desc, 21);
		p->has_backend_age = p->min_backend_us >= 0;
		d = SPI_getbinval(tup, desc, 22, &isnull);
		p->exclude_app_pattern = isnull ? NULL : DatumGetTextPCopy(d);
		d = SPI_getbinval(tup, desc, 23, &isnull);
		p->saturation = !isnull;
		p->min_conn_pct = isnull ? 0 : DatumGetFloat8(d);
		d = SPI_getbinval(tup, desc, 24, &isnull);
		p->target_conn_pct = isnull ? -1 : DatumGetFloat8(d);
		d = SPI_getbinval(tup, desc, 25, &isnull);
		p->has_private_mem = !isnull;
		p->min_private_mem = isnull ? 0 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 26, &isnull);
		p->has_temp = !isnull;
		p->min_temp_bytes = isnull ? 0 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 27, &isnull);
		p->mem_guard = !isnull;
		p->min_mem_pct = isnull ? 0 : DatumGetFloat8(d);
		d = SPI_getbinval(tup, desc, 28, &isnull);
		p->target_mem_pct = isnull ? -1 : DatumGetFloat8(d);
		d = SPI_getbinval(tup, desc, 29, &isnull);
		p->disk_guard = !isnull;
		p->min_disk_pct = isnull ? 0 : DatumGetFloat8(d);
		d = SPI_getbinval(tup, desc, 30, &isnull);
		p->target_disk_pct = isnull ? -1 : DatumGetFloat8(d);

		/*
		 * The smallest threshold bounds how long the worker may sleep.  Not
		 * for blocking policies, which the lock-queue probe wakes, nor for
		 * saturation policies, which the connection hook wakes (and whose
		 * thresholds count only while their mark is reached: see
		 * rb_policies_evaluate), nor for guards, which the guard check
		 * wakes (guard.c).
		 */
		if (p->action != RB_POLICY_IGNORE && !p->only_if_blocking && !p->saturation &&
			!policy_is_guard(p))
			policy_min_threshold(p, &set->min_threshold_us);
		if (p->action != RB_POLICY_IGNORE)
		{
			if (p->only_if_blocking &&
				(set->min_blocked == 0 || p->min_blocked < set->min_blocked))
				set->min_blocked = p->min_blocked;
			if (p->saturation &&
				(set->min_conn_pct < 0 || p->min_conn_pct < set->min_conn_pct))
				set->min_conn_pct = p->min_conn_pct;
			guard_note(set, p);
		}
		MemoryContextSwitchTo(old);
	}
	return set;
}

/* ---------- evaluation ---------- */

typedef struct EvalCtx
{
	TimestampTz now;
	int64		time_of_day;	/* local, microseconds since midnight */
	TransactionId next_xid;
	RbLockGraph *graph;			/* NULL unless a policy needs it */
	TimestampTz next_deadline;
	/* guards: the host snapshot and per-session figures (NULL: none) */
	RbHostShot *host;
	int64	   *gmem;			/* private memory of session i and its
								 * parallel workers; -1 unknown */
	int64	   *gtemp;			/* temporary bytes of the same */
	int64	  **gtemp_loc;		/* per location; NULL: none */
} EvalCtx;

static void
note_deadline(EvalCtx *ctx, TimestampTz t)
{
	if (t > ctx->now && (ctx->next_deadline == 0 || t < ctx->next_deadline))
		ctx->next_deadline = t;
}

/*
 * Does session 'b' pass filter 'f' (role membership, database, application
 * pattern, client network)?  Superuser status makes a role a member of
 * nothing it was not granted.
 */
bool
rb_filter_match(const RbSessionFilter *f, const RbBackend *b)
{
	if (OidIsValid(f->dbid) && f->dbid != b->dbid)
		return false;
	if (OidIsValid(f->roleid) && b->roleid != f->roleid &&
		!is_member_of_role_nosuper(b->roleid, f->roleid))
		return false;
	if (f->network)
	{
		Datum		client;
		int			port;

		if (!rb_client_inet(&b->clientaddr, &client, &port) ||
			!DatumGetBool(DirectFunctionCall2(network_subeq, client,
											  InetPGetDatum(f->network))))
			return false;
	}
	if (f->app_pattern)
	{
		text	   *app = cstring_to_text(b->appname);
		bool		ok;

		ok = DatumGetBool(DirectFunctionCall2Coll(textlike, C_COLLATION_OID,
												  PointerGetDatum(app),
												  PointerGetDatum(f->app_pattern)));
		pfree(app);
		if (!ok)
			return false;
	}
	return true;
}

/* Does 'str' match LIKE pattern 'pattern' (C collation)? */
static bool
rb_like(const char *str, text *pattern)
{
	text	   *t = cstring_to_text(str);
	bool		ok;

	ok = DatumGetBool(DirectFunctionCall2Coll(textlike, C_COLLATION_OID,
											  PointerGetDatum(t),
											  PointerGetDatum(pattern)));
	pfree(t);
	return ok;
}

/* Do the match columns (not thresholds) of 'p' fit session 'b'? */
static bool
columns_fit(EvalCtx *ctx, RbPolicy *p, RbBackend *b)
{
	if (!(p->state_mask & (1U << b->state)))
		return false;
	if (p->role_missing || p->db_missing)
		return false;
	if (!p->saturated || !p->mem_reached)
		return false;
	if (p->exclude_app_pattern &&
		rb_like(b->appname, p->exclude_app_pattern))
		return false;
	if (p->has_window)
	{
		bool		in;

		if (p->window_from <= p->window_until)
			in = ctx->time_of_day >= p->window_from && ctx->time_of_day < p->window_until;
		else					/* over midnight */
			in = ctx->time_of_day >= p->window_from || ctx->time_of_day < p->window_until;
		if (!in)
			return false;
	}
	return rb_filter_match(&p->filter, b);
}

static void
append_age(StringInfo why, const char *what, int64 age, int64 threshold)
{
	if (why->len > 0)
		appendStringInfoString(why, ", ");
	appendStringInfo(why, "%s %s >= %s", what,
					 DatumGetCString(DirectFunctionCall1(interval_out,
														 IntervalPGetDatum(rb_usecs_to_interval(age)))),
					 DatumGetCString(DirectFunctionCall1(interval_out,
														 IntervalPGetDatum(rb_usecs_to_interval(threshold)))));
}

/*
 * Thresholds and harm conditions of 'p' for 'b'.  Returns true when all
 * hold (with 'why' describing them); otherwise notes when they will.
 */
static bool
thresholds_hold(EvalCtx *ctx, RbPolicy *p, RbBackend *b, StringInfo why)
{
	TimestampTz crossing = 0;	/* when the last unmet age threshold is met */
	bool		all = true;
	struct
	{
		int64		threshold;
		TimestampTz since;
		const char *what;
	}			ages[4] = {
		{p->min_state_us, b->state_start, "state age"},
		{p->min_xact_us, b->xact_start, "transaction age"},
		{p->min_query_us, b->query_start, "statement age"},
		{p->has_backend_age ? p->min_backend_us : -1, b->backend_start, "connection age"},
	};
	int			k;

	resetStringInfo(why);
	for (k = 0; k < 4; k++)
	{
		if (ages[k].threshold < 0)
			continue;
		if (ages[k].since == 0)
			return false;		/* e.g. no transaction: can never hold */
		if (ctx->now - ages[k].since >= ages[k].threshold)
			append_age(why, ages[k].what, ctx->now - ages[k].since, ages[k].threshold);
		else
		{
			all = false;
			crossing = Max(crossing, ages[k].since + ages[k].threshold);
		}
	}

	if (p->min_xmin_age >= 0)
	{
		int32		age = -1;

		if (TransactionIdIsValid(b->xmin))
			age = (int32) (ctx->next_xid - b->xmin);
		if (TransactionIdIsValid(b->xid))
			age = Max(age, (int32) (ctx->next_xid - b->xid));
		if (age < p->min_xmin_age)
			return false;		/* xid ages do not move with time alone */
		if (why->len > 0)
			appendStringInfoString(why, ", ");
		appendStringInfo(why, "holds the xmin horizon back by %d transactions", age);
	}

	if (p->only_if_blocking)
	{
		int			n = 0;
		TimestampTz *starts = NULL;
		int			nstarts = 0;

		if (ctx->graph)
			nstarts = rb_lock_graph_waiters_behind(ctx->graph, b->pid, &starts);
		for (k = 0; k < nstarts; k++)
			if (starts[k] != 0 && ctx->now - starts[k] >= p->min_blocked_wait_us)
				n++;
		if (n < p->min_blocked)
		{
			/* the next waiter to pass min_blocked_wait may make it hold */
			for (k = 0; k < nstarts; k++)
				if (starts[k] != 0 && ctx->now - starts[k] < p->min_blocked_wait_us)
					note_deadline(ctx, starts[k] + p->min_blocked_wait_us);
			if (!all)
				note_deadline(ctx, crossing);
			return false;
		}
		if (why->len > 0)
			appendStringInfoString(why, ", ");
		appendStringInfo(why, "blocks %d session%s", n, n == 1 ? "" : "s");
	}

	if (!all)
	{
		note_deadline(ctx, crossing);
		return false;
	}
	return true;
}

/* ---------- memory and disk guards (1.2) ---------- */

static char *
bytes_text(int64 bytes)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
															  Int64GetDatum(bytes))));
}

/*
 * The guard figures of each session of 'snap': its own /proc figures plus
 * those of its parallel workers (a parallel query is one consumer, and only
 * its leader can be signalled).
 */
static void
guard_figures(EvalCtx *ctx, RbSnapshot *snap)
{
	RbHostShot *host = ctx->host;
	int			n = snap->nbackends;
	int			i;

	ctx->gmem = palloc(sizeof(int64) * Max(n, 1));
	ctx->gtemp = palloc0(sizeof(int64) * Max(n, 1));
	ctx->gtemp_loc = palloc0(sizeof(int64 *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		RbProcUse  *u = i < host->nprocs ? &host->procs[i] : NULL;

		ctx->gmem[i] = (u && u->ok) ? u->rss_anon : -1;
		ctx->gtemp[i] = u ? u->temp_bytes : 0;
		if (u && u->temp_by_loc && host->nlocs > 0)
		{
			ctx->gtemp_loc[i] = palloc(sizeof(int64) * host->nlocs);
			memcpy(ctx->gtemp_loc[i], u->temp_by_loc, sizeof(int64) * host->nlocs);
		}
	}
	for (i = 0; i < n; i++)
	{
		RbBackend  *w = &snap->backends[i];
		int			j;

		if (w->leader_pid == 0 || i >= host->nprocs)
			continue;
		for (j = 0; j < n; j++)
			if (snap->backends[j].pid == w->leader_pid && j != i)
				break;
		if (j == n)
			continue;
		if (host->procs[i].ok && ctx->gmem[j] >= 0)
			ctx->gmem[j] += host->procs[i].rss_anon;
		ctx->gtemp[j] += host->procs[i].temp_bytes;
		if (host->procs[i].temp_by_loc && host->nlocs > 0)
		{
			int			l;

			if (ctx->gtemp_loc[j] == NULL)
				ctx->gtemp_loc[j] = palloc0(sizeof(int64) * host->nlocs);
			for (l = 0; l < host->nlocs; l++)
				ctx->gtemp_loc[j][l] += host->procs[i].temp_by_loc[l];
		}
	}
}

/*
 * A location for a person: the data directory, or tablespace <name> (no
 * path: the audit keeps 160 bytes; host() shows the paths).
 */
static char *
location_text(const RbFsLocation *loc)
{
	char	   *name;

	if (loc->kind == RB_LOC_DATA)
		return pstrdup("the data directory");
	name = get_tablespace_name(loc->spcoid);
	if (name == NULL)
		return psprintf("tablespace %u", loc->spcoid);
	return psprintf("tablespace %s", quote_identifier(name));
}

/*
 * The guard conditions of 'p' for session i (its thresholds and match
 * columns already hold).  True when they hold, with the figure that ranks
 * it among the others (private memory, or temporary bytes on the full
 * filesystem) and the reason appended to 'why'.
 */
static bool
guard_holds(EvalCtx *ctx, RbPolicy *p, int i, StringInfo why, int64 *figure, int *loc)
{
	RbHostShot *host = ctx->host;

	*figure = 0;
	*loc = -1;
	if (!policy_is_guard(p))
		return true;
	if (host == NULL)
		return false;
	if (p->mem_guard || p->has_private_mem)
	{
		int64		mem = ctx->gmem[i];

		if (mem <= 0 || (p->has_private_mem && mem < p->min_private_mem))
			return false;
		if (why->len > 0)
			appendStringInfoString(why, ", ");
		if (p->mem_guard)
		{
			RbMemory   *m = &host->memory;

			/* short: the audit keeps 160 bytes (host() names the cgroup) */
			appendStringInfo(why, "memory in use %.1f%% of %s (%s) >= %g%%, ",
							 m->used_pct, bytes_text(m->limit_bytes), m->source,
							 p->min_mem_pct);
		}
		appendStringInfo(why, "private memory %s", bytes_text(mem));
		if (p->has_private_mem)
			appendStringInfo(why, " >= %s", bytes_text(p->min_private_mem));
		*figure = mem;
	}
	if (p->disk_guard)
	{
		int64	   *per = ctx->gtemp_loc[i];
		int64		best = 0;
		int			bestloc = -1;
		int			l;

		/* the full filesystem on which the session has the most */
		for (l = 0; per && l < host->nlocs; l++)
		{
			RbFsLocation *fs = &host->locs[l];
			int64		on_fs = 0;
			int			k;

			if (!fs->ok || host->settling || fs->used_pct < p->min_disk_pct || per[l] <= 0)
				continue;
			for (k = 0; k < host->nlocs; k++)
				if (host->locs[k].ok && host->locs[k].fsid == fs->fsid)
					on_fs += per[k];
			if (on_fs > best)
			{
				best = on_fs;
				bestloc = l;
			}
		}
		if (bestloc < 0 || (p->has_temp && best < p->min_temp_bytes))
			return false;
		if (why->len > 0)
			appendStringInfoString(why, ", ");
		appendStringInfo(why, "filesystem of %s %.1f%% used (%s free) >= %g%%, temporary files %s there",
						 location_text(&host->locs[bestloc]), host->locs[bestloc].used_pct,
						 bytes_text(host->locs[bestloc].free_bytes), p->min_disk_pct,
						 bytes_text(best));
		if (p->has_temp)
			appendStringInfo(why, " >= %s", bytes_text(p->min_temp_bytes));
		*figure = best;
		*loc = bestloc;
	}
	else if (p->has_temp)
	{
		int64		temp = ctx->gtemp[i];

		if (temp <= 0 || temp < p->min_temp_bytes)
			return false;
		if (why->len > 0)
			appendStringInfoString(why, ", ");
		appendStringInfo(why, "temporary files %s >= %s", bytes_text(temp),
						 bytes_text(p->min_temp_bytes));
		if (!p->mem_guard && !p->has_private_mem)
			*figure = temp;
	}
	return true;
}

static int
decision_largest_first(const void *a, const void *b)
{
	const RbDecision *da = (const RbDecision *) a;
	const RbDecision *db = (const RbDecision *) b;

	if (da->figure != db->figure)
		return da->figure > db->figure ? -1 : 1;
	return da->backend->pid < db->backend->pid ? -1 : da->backend->pid > db->backend->pid ? 1 : 0;
}

/*
 * Memory and disk guards with a mark end the largest consumers first, and
 * only as many as bring the figure down to the target (target_*_pct, else
 * the mark): memory in use less the private memory of the sessions chosen;
 * for a disk guard, per filesystem, its use less their temporary files
 * there.  In priority order, each counting what the ones before it already
 * end.  The other sessions they matched get no decision (as saturation
 * policies).
 */
static void
apply_guard_quota(RbPolicySet *set, RbEvaluation *ev, RbHostShot *host)
{
	int64		mem_freed = 0;
	int64	   *fs_freed = palloc0(sizeof(int64) * Max(host->nlocs, 1));
	int			k;

	for (k = 0; k < set->npolicies; k++)
	{
		RbPolicy   *p = &set->policies[k];
		RbDecision *mine;
		int			nmine = 0;
		int			nkeep = 0;
		int			i,
					j;

		if (p->action == RB_POLICY_IGNORE || !(p->mem_guard || p->disk_guard))
			continue;
		mine = palloc(sizeof(RbDecision) * Max(ev->ndecisions, 1));
		for (i = 0; i < ev->ndecisions; i++)
			if (ev->decisions[i].policy == p)
				mine[nmine++] = ev->decisions[i];
		if (nmine == 0)
		{
			pfree(mine);
			continue;
		}
		qsort(mine, nmine, sizeof(RbDecision), decision_largest_first);
		for (i = 0; i < nmine; i++)
		{
			bool		keep;

			if (p->mem_guard)
			{
				RbMemory   *m = &host->memory;
				double		target = p->target_mem_pct >= 0 ? p->target_mem_pct : p->min_mem_pct;
				double		left = (double) (m->used_bytes - mem_freed);

				keep = left >= target * (double) m->limit_bytes / 100.0;
				if (keep)
					mem_freed += mine[i].figure;
			}
			else
			{
				RbFsLocation *fs = &host->locs[mine[i].loc];
				double		target = p->target_disk_pct >= 0 ? p->target_disk_pct : p->min_disk_pct;
				int			l;
				double		left;

				/* what earlier choices free on this filesystem */
				for (l = 0; l < host->nlocs; l++)
					if (host->locs[l].ok && host->locs[l].fsid == fs->fsid)
						break;
				left = (double) (fs->used_bytes - fs_freed[l]);
				keep = left >= target * (double) (fs->used_bytes + fs->free_bytes) / 100.0;
				if (keep)
					fs_freed[l] += mine[i].figure;
			}
			if (keep)
				mine[nkeep++] = mine[i];
		}
		/* keep the decisions of other policies, and the chosen ones */
		for (i = 0, j = 0; i < ev->ndecisions; i++)
			if (ev->decisions[i].policy != p)
				ev->decisions[j++] = ev->decisions[i];
		for (i = 0; i < nkeep; i++)
			ev->decisions[j++] = mine[i];
		ev->ndecisions = j;
		pfree(mine);
	}
	pfree(fs_freed);
}

/*
 * Which sessions of 'snap' the guards of 'set' need /proc figures of: those
 * whose state a guard may match, and their parallel workers.
 */
void
rb_policies_host_wanted(const RbPolicySet *set, const RbSnapshot *snap, bool *want)
{
	int			i,
				j;

	for (i = 0; i < snap->nbackends; i++)
	{
		const RbBackend *b = &snap->backends[i];

		want[i] = rb_is_client_backend(b) && (set->host_states & (1U << b->state));
	}
	for (i = 0; i < snap->nbackends; i++)
	{
		const RbBackend *w = &snap->backends[i];

		if (w->leader_pid == 0 || want[i])
			continue;
		for (j = 0; j < snap->nbackends; j++)
			if (snap->backends[j].pid == w->leader_pid)
			{
				want[i] = want[j];
				break;
			}
	}
}

bool
rb_policies_need_host(const RbPolicySet *set)
{
	return set->need_host;
}

bool
rb_policy_is_guard(const RbPolicy *p)
{
	return policy_is_guard(p);
}

/* order decisions of one saturation policy: oldest state first */
static int
decision_oldest_first(const void *a, const void *b)
{
	const RbDecision *da = (const RbDecision *) a;
	const RbDecision *db = (const RbDecision *) b;
	TimestampTz ta = da->backend->state_start;
	TimestampTz tb = db->backend->state_start;

	if (ta != tb)
		return ta < tb ? -1 : 1;
	return da->backend->backend_start < db->backend->backend_start ? -1 :
		da->backend->backend_start > db->backend->backend_start ? 1 : 0;
}

/*
 * Saturation policies end only as many sessions as bring client
 * connections down to their low-water mark (target_connections_pct, else
 * min_connections_pct), oldest state first; in priority order, each one
 * counting what the ones before it already end.  The other sessions they
 * matched get no decision (they do not fall through to a later policy).
 */
static void
apply_saturation_quota(RbPolicySet *set, RbEvaluation *ev)
{
	int			ending = 0;
	int			k;

	for (k = 0; k < set->npolicies; k++)
	{
		RbPolicy   *p = &set->policies[k];
		double		target;
		int			keep_slots;
		int			quota;
		RbDecision *mine;
		int			nmine = 0;
		int			i,
					j;

		if (!p->saturation || !p->saturated || p->action == RB_POLICY_IGNORE)
			continue;
		target = p->target_conn_pct >= 0 ? p->target_conn_pct : p->min_conn_pct;
		keep_slots = (int) floor(target * ev->usable_slots / 100.0);
		quota = Max(ev->nclients - ending - keep_slots, 0);

		mine = palloc(sizeof(RbDecision) * Max(ev->ndecisions, 1));
		for (i = 0; i < ev->ndecisions; i++)
			if (ev->decisions[i].policy == p)
				mine[nmine++] = ev->decisions[i];
		if (nmine <= quota)
		{
			ending += nmine;
			pfree(mine);
			continue;
		}
		qsort(mine, nmine, sizeof(RbDecision), decision_oldest_first);
		/* keep the decisions of other policies, and the 'quota' oldest */
		for (i = 0, j = 0; i < ev->ndecisions; i++)
			if (ev->decisions[i].policy != p)
				ev->decisions[j++] = ev->decisions[i];
		for (i = 0; i < quota; i++)
			ev->decisions[j++] = mine[i];
		ev->ndecisions = j;
		ending += quota;
		pfree(mine);
	}
}

/*
 * Evaluate every client session of 'snap' (except self_pid) against the
 * policies.  Sessions matched by an 'ignore' policy, or by none, produce no
 * decision.
 */
RbEvaluation *
rb_policies_evaluate(RbPolicySet *set, RbSnapshot *snap, RbLockShot *locks,
					 int self_pid, int flags)
{
	return rb_policies_evaluate_ext(set, snap, locks, self_pid, flags,
									NULL, NULL);
}

/*
 * Does evaluating this set need a lock snapshot (some policy is
 * only_if_blocking, or skips lock waiters)?  The caller then passes rb_lockshot_take_if_waiting()
 * of its backend snapshot to rb_policies_evaluate.
 */
bool
rb_policies_need_locks(const RbPolicySet *set)
{
	int			i;

	for (i = 0; i < set->npolicies; i++)
	{
		if (set->policies[i].only_if_blocking || set->policies[i].skip_lock_waiters)
			return true;
	}
	return false;
}

/*
 * The same, leaving out sessions for which 'ending' says the caller has
 * already ended them (they are still exiting): they are neither counted as
 * connections nor chosen again.
 */
RbEvaluation *
rb_policies_evaluate_ext(RbPolicySet *set, RbSnapshot *snap, RbLockShot *locks,
						 int self_pid, int flags, RbEndingFn ending, void *arg)
{
	return rb_policies_evaluate_host(set, snap, locks, NULL, self_pid, flags,
									 ending, arg);
}

/* The same, with the host snapshot for memory and disk guards. */
RbEvaluation *
rb_policies_evaluate_host(RbPolicySet *set, RbSnapshot *snap, RbLockShot *locks,
						  RbHostShot *host, int self_pid, int flags,
						  RbEndingFn ending, void *arg)
{
	RbEvaluation *ev = palloc0(sizeof(RbEvaluation));
	EvalCtx    *ctx = palloc0(sizeof(EvalCtx));
	StringInfoData why;
	bool		any_quota = false;
	bool		any_guard_quota = false;
	bool	   *gone;
	int			i;

	ctx->now = snap->taken_at;
	ctx->next_xid = ReadNextTransactionId();
	{
		struct pg_tm tm;
		fsec_t		fsec;
		int			tz;

		if (timestamp2tm(ctx->now, &tz, &tm, &fsec, NULL, NULL) == 0)
			ctx->time_of_day = ((((int64) tm.tm_hour * 60) + tm.tm_min) * 60 + tm.tm_sec)
				* USECS_PER_SEC + fsec;
	}
	if (rb_policies_need_locks(set))
		ctx->graph = rb_lock_graph_build(locks);
	ctx->host = host;
	if (host != NULL)
		guard_figures(ctx, snap);

	/* client connections, for saturation policies */
	ev->min_threshold_us = set->min_threshold_us;
	gone = palloc0(sizeof(bool) * Max(snap->nbackends, 1));
	ev->usable_slots = rb_usable_connection_slots();
	for (i = 0; i < snap->nbackends; i++)
	{
		RbBackend  *b = &snap->backends[i];

		if (!rb_is_client_backend(b))
			continue;
		if (ending && ending(b, arg))
			gone[i] = true;
		else
			ev->nclients++;
	}
	for (i = 0; i < set->npolicies; i++)
	{
		RbPolicy   *p = &set->policies[i];

		p->saturated = !p->saturation ||
			100.0 * ev->nclients >= p->min_conn_pct * ev->usable_slots;
		p->mem_reached = !p->mem_guard ||
			(host != NULL && host->memory_ok && !host->settling &&
			 host->memory.used_pct >= p->min_mem_pct);
		if ((p->mem_guard && p->mem_reached) || p->disk_guard)
			any_guard_quota = true;
		if (p->saturation && p->saturated && p->action != RB_POLICY_IGNORE)
		{
			any_quota = true;
			policy_min_threshold(p, &ev->min_threshold_us);
		}
	}

	initStringInfo(&why);
	ev->decisions = palloc0(sizeof(RbDecision) * Max(snap->nbackends, 1));

	for (i = 0; i < snap->nbackends; i++)
	{
		RbBackend  *b = &snap->backends[i];
		int			k;
		int64		figure = 0;
		int			loc = -1;

		if (b->pid == self_pid || gone[i])
			continue;
		if (!(flags & RB_EVAL_KEEP_BACKGROUND) && !rb_is_client_backend(b))
			continue;

		for (k = 0; k < set->npolicies; k++)
		{
			RbPolicy   *p = &set->policies[k];

			if (!columns_fit(ctx, p, b))
				continue;
			if (!thresholds_hold(ctx, p, b, &why))
				continue;
			if (!guard_holds(ctx, p, i, &why, &figure, &loc))
				continue;
			/* first policy that holds decides */
			if (p->action != RB_POLICY_IGNORE)
			{
				RbDecision *d = &ev->decisions[ev->ndecisions++];

				if (p->saturation)
				{
					if (why.len > 0)
						appendStringInfoString(&why, ", ");
					appendStringInfo(&why, "%d of %d usable connections in use >= %g%%",
									 ev->nclients, ev->usable_slots, p->min_conn_pct);
				}
				d->backend = b;
				d->policy = p;
				d->why = pstrdup(why.data);
				d->figure = figure;
				d->loc = loc;
				d->lock_root = -1;
				d->lock_waiter = p->skip_lock_waiters &&
					rb_lock_graph_waiting(ctx->graph,
										  b->leader_pid ? b->leader_pid : b->pid,
										  &d->lock_root);
			}
			break;
		}
	}
	if (any_quota)
		apply_saturation_quota(set, ev);
	if (any_guard_quota && host != NULL)
		apply_guard_quota(set, ev, host);
	ev->next_deadline = ctx->next_deadline;
	return ev;
}
