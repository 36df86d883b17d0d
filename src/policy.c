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
#define POLICY_QUERY \
	POLICY_COLUMNS_1_0 \
	"       min_backend_age, exclude_application_pattern, " \
	"       CAST(min_connections_pct AS pg_catalog.float8), " \
	"       CAST(target_connections_pct AS pg_catalog.float8) " \
	"  FROM runbook.policies WHERE enabled ORDER BY priority, name"
/* the library is 1.1 but ALTER EXTENSION ... UPDATE has not run yet */
#define POLICY_QUERY_1_0 \
	POLICY_COLUMNS_1_0 \
	"       CAST(NULL AS pg_catalog.interval), CAST(NULL AS pg_catalog.text), " \
	"       CAST(NULL AS pg_catalog.float8), CAST(NULL AS pg_catalog.float8) " \
	"  FROM runbook.policies WHERE enabled ORDER BY priority, name"

static SPIPlanPtr policy_plan = NULL;
static SPIPlanPtr policy_plan_1_0 = NULL;

/* Does runbook.policies have the columns added in 1.1? */
static bool
policies_have_1_1_columns(void)
{
	Oid			nsp = get_namespace_oid("runbook", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("policies", nsp) : InvalidOid;

	return OidIsValid(rel) &&
		get_attnum(rel, "target_connections_pct") != InvalidAttrNumber;
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
	bool		v11 = policies_have_1_1_columns();
	SPIPlanPtr *slot = v11 ? &policy_plan : &policy_plan_1_0;

	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(v11 ? POLICY_QUERY : POLICY_QUERY_1_0, 0, NULL);

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

		/*
		 * The smallest threshold bounds how long the worker may sleep.  Not
		 * for blocking policies, which the lock-queue probe wakes, nor for
		 * saturation policies, which the connection hook wakes (and whose
		 * thresholds count only while their mark is reached: see
		 * rb_policies_evaluate).
		 */
		if (p->action != RB_POLICY_IGNORE && !p->only_if_blocking && !p->saturation)
			policy_min_threshold(p, &set->min_threshold_us);
		if (p->action != RB_POLICY_IGNORE)
		{
			if (p->only_if_blocking &&
				(set->min_blocked == 0 || p->min_blocked < set->min_blocked))
				set->min_blocked = p->min_blocked;
			if (p->saturation &&
				(set->min_conn_pct < 0 || p->min_conn_pct < set->min_conn_pct))
				set->min_conn_pct = p->min_conn_pct;
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
	if (!p->saturated)
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
	RbEvaluation *ev = palloc0(sizeof(RbEvaluation));
	EvalCtx    *ctx = palloc0(sizeof(EvalCtx));
	StringInfoData why;
	bool		any_quota = false;
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
		if (p->saturation && p->saturated && p->action != RB_POLICY_IGNORE)
		{
			any_quota = true;
			policy_min_threshold(p, &ev->min_threshold_us);
		}
	}

	initStringInfo(&why);
	ev->decisions = palloc(sizeof(RbDecision) * Max(snap->nbackends, 1));

	for (i = 0; i < snap->nbackends; i++)
	{
		RbBackend  *b = &snap->backends[i];
		int			k;

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
	ev->next_deadline = ctx->next_deadline;
	return ev;
}
