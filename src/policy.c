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
 * Evaluation has no side effects: the worker and policy_preview() share it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
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
#include "activity.h"
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

#define POLICY_QUERY \
	"SELECT name, priority, role_name, database_name, application_pattern, " \
	"       client_network, states, active_from, active_until, " \
	"       min_state_age, min_xact_age, min_query_age, only_if_blocking, " \
	"       min_blocked_sessions, min_blocked_wait, min_xmin_age, action, " \
	"       grace, allow_superuser, dry_run " \
	"  FROM runbook.policies WHERE enabled ORDER BY priority, name"

static SPIPlanPtr policy_plan = NULL;

static int64
interval_col(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? -1 : rb_interval_usecs(DatumGetIntervalP(d));
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
	if (policy_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(POLICY_QUERY, 0, NULL);

		if (plan == NULL)
			elog(ERROR, "could not prepare the query of runbook.policies: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		policy_plan = plan;
	}
	ret = SPI_execute_plan(policy_plan, NULL, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read runbook.policies: %s", SPI_result_code_string(ret));

	set->npolicies = (int) SPI_processed;
	set->min_threshold_us = -1;
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

		/* the smallest threshold bounds how long the worker may sleep */
		if (p->action != RB_POLICY_IGNORE)
		{
			int64		t[3] = {p->min_state_us, p->min_xact_us, p->min_query_us};
			int			k;

			for (k = 0; k < 3; k++)
				if (t[k] >= 0 &&
					(set->min_threshold_us < 0 || t[k] < set->min_threshold_us))
					set->min_threshold_us = t[k];
			if (p->only_if_blocking &&
				(set->min_threshold_us < 0 || p->min_blocked_wait_us < set->min_threshold_us))
				set->min_threshold_us = p->min_blocked_wait_us;
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

/* Do the match columns (not thresholds) of 'p' fit session 'b'? */
static bool
columns_fit(EvalCtx *ctx, RbPolicy *p, RbBackend *b)
{
	if (!(p->state_mask & (1U << b->state)))
		return false;
	if (p->role_missing || p->db_missing)
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
	}			ages[3] = {
		{p->min_state_us, b->state_start, "state age"},
		{p->min_xact_us, b->xact_start, "transaction age"},
		{p->min_query_us, b->query_start, "statement age"},
	};
	int			k;

	resetStringInfo(why);
	for (k = 0; k < 3; k++)
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

/*
 * Evaluate every client session of 'snap' (except self_pid) against the
 * policies.  Sessions matched by an 'ignore' policy, or by none, produce no
 * decision.
 */
RbEvaluation *
rb_policies_evaluate(RbPolicySet *set, RbSnapshot *snap, int self_pid,
					 int flags)
{
	RbEvaluation *ev = palloc0(sizeof(RbEvaluation));
	EvalCtx    *ctx = palloc0(sizeof(EvalCtx));
	StringInfoData why;
	bool		need_graph = false;
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
	for (i = 0; i < set->npolicies; i++)
		if (set->policies[i].only_if_blocking)
			need_graph = true;
	if (need_graph)
		ctx->graph = rb_lock_graph_build(snap);

	initStringInfo(&why);
	ev->decisions = palloc(sizeof(RbDecision) * Max(snap->nbackends, 1));

	for (i = 0; i < snap->nbackends; i++)
	{
		RbBackend  *b = &snap->backends[i];
		int			k;

		if (b->pid == self_pid)
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

				d->backend = b;
				d->policy = p;
				d->why = pstrdup(why.data);
			}
			break;
		}
	}
	ev->next_deadline = ctx->next_deadline;
	return ev;
}
