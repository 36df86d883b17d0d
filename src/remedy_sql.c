/*-------------------------------------------------------------------------
 *
 * remedy_sql.c
 *		SQL front ends of the remedy path: runbook.kill_idle(),
 *		runbook.cancel_long() and the shared row format of remediation
 *		output.  Selection is a one-off policy evaluated by policy.c (the
 *		same matching the worker uses); signalling is remedy.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"
#include "activity.h"
#include "policy.h"
#include "remedy.h"
#include "remedy_sql.h"

PG_FUNCTION_INFO_V1(rb_kill_idle);
PG_FUNCTION_INFO_V1(rb_cancel_long);

/* ---------- argument checks ---------- */

static const char *valid_states =
"idle, idle in transaction, idle in transaction (aborted), active";

static uint32
states_arg(FunctionCallInfo fcinfo, int argno, uint32 allowed)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	uint32		mask = 0;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("states must not be NULL"),
				 errhint("Valid states: %s.", valid_states)));
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("states must not be empty"),
				 errhint("Valid states: %s.", valid_states)));
	for (i = 0; i < n; i++)
	{
		BackendState st;
		char	   *name;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("states must not contain NULL"),
					 errhint("Valid states: %s.", valid_states)));
		name = TextDatumGetCString(elems[i]);
		if (!rb_state_parse(name, &st) || !(allowed & (1U << st)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown session state \"%s\"", name),
					 errhint("Valid states here: %s.",
							 allowed & (1U << STATE_RUNNING) ? valid_states :
							 "idle, idle in transaction, idle in transaction (aborted)")));
		mask |= (1U << st);
	}
	return mask;
}

/* Optional filters shared by kill_idle and cancel_long. */
static void
filters_arg(FunctionCallInfo fcinfo, int first, RbPolicy *p)
{
	if (!PG_ARGISNULL(first))
	{
		char	   *name = NameStr(*PG_GETARG_NAME(first));

		p->roleid = get_role_oid(name, true);
		if (!OidIsValid(p->roleid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("role \"%s\" does not exist", name),
					 errhint("Pass NULL to match sessions of any role.")));
	}
	if (!PG_ARGISNULL(first + 1))
	{
		char	   *name = NameStr(*PG_GETARG_NAME(first + 1));

		p->dbid = get_database_oid(name, true);
		if (!OidIsValid(p->dbid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_DATABASE),
					 errmsg("database \"%s\" does not exist", name),
					 errhint("Pass NULL to match sessions of any database.")));
	}
	if (!PG_ARGISNULL(first + 2))
	{
		p->app_pattern = PG_GETARG_TEXT_PP(first + 2);
		/* a malformed LIKE pattern errors here, before anything is done */
		(void) DirectFunctionCall2Coll(textlike, DEFAULT_COLLATION_OID,
									   PointerGetDatum(cstring_to_text("")),
									   PointerGetDatum(p->app_pattern));
	}
	if (!PG_ARGISNULL(first + 3))
		p->network = PG_GETARG_INET_PP(first + 3);
	p->allow_superuser = PG_ARGISNULL(first + 4) ? false : PG_GETARG_BOOL(first + 4);
}

static bool
dry_run_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dry_run must not be NULL"),
				 errhint("Pass true to see what would be done, false to do it.")));
	return PG_GETARG_BOOL(argno);
}

/* ---------- output ---------- */

/*
 * One row of remediation output (RB_REMEDY_COLS columns), from the fresh
 * re-read when there was one, else from the judged snapshot entry.
 */
void
rb_remedy_row(RbViewer *v, RbTarget *t, RbOutcome *o, Datum *values, bool *nulls)
{
	RbBackend  *b = o->found ? &o->current : &t->judged;
	Datum		act[RB_ACTIVITY_COLS];
	bool		actnulls[RB_ACTIVITY_COLS];
	TimestampTz now = GetCurrentTimestamp();
	static const int from_act[] = {0, 2, 3, 4, 5, 7, 17, 15, 16};
	int			i;

	rb_activity_row(v, now, b, act, actnulls);
	memset(nulls, 0, sizeof(bool) * RB_REMEDY_COLS);
	for (i = 0; i < lengthof(from_act); i++)
	{
		values[i] = act[from_act[i]];
		nulls[i] = actnulls[from_act[i]];
	}
	/* the state the decision was about, even if the caller may not see it */
	if (nulls[5] && rb_state_name(t->judged.state))
	{
		values[5] = CStringGetTextDatum(rb_state_name(t->judged.state));
		nulls[5] = false;
	}
	values[9] = CStringGetTextDatum(rb_action_name(t->action));
	values[10] = CStringGetTextDatum(o->outcome);
	if (o->reason)
		values[11] = CStringGetTextDatum(o->reason);
	else
		nulls[11] = true;
	values[12] = act[25];
	nulls[12] = actnulls[25];
}

static void
emit(FunctionCallInfo fcinfo, RbViewer *v, RbTarget *targets, RbOutcome *outcomes, int n)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	for (i = 0; i < n; i++)
	{
		Datum		values[RB_REMEDY_COLS];
		bool		nulls[RB_REMEDY_COLS];

		rb_remedy_row(v, &targets[i], &outcomes[i], values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* ---------- selection: a one-off policy ---------- */

typedef struct AgedDecision
{
	int64		age;
	RbDecision *d;
} AgedDecision;

static int
aged_desc(const void *a, const void *b)
{
	int64		x = ((const AgedDecision *) a)->age;
	int64		y = ((const AgedDecision *) b)->age;

	return (x < y) ? 1 : (x > y) ? -1 : 0;
}

/*
 * Evaluate the one-off policy on a fresh snapshot and make targets, oldest
 * first (so that the cap keeps the worst offenders).
 */
static int
select_targets(RbPolicy *p, RbAction action, bool dry_run, const char *actor,
			   bool by_query_age, RbTarget **targets_out)
{
	RbPolicySet set;
	RbSnapshot *snap;
	RbEvaluation *ev;
	AgedDecision *aged;
	RbTarget   *targets;
	int			i;

	memset(&set, 0, sizeof(set));
	set.npolicies = 1;
	set.policies = p;
	set.min_threshold_us = -1;

	snap = rb_snapshot_take(RB_SNAP_QUERY);
	/* self_pid 0: the caller's own session is reported, as own_backend */
	ev = rb_policies_evaluate(&set, snap, 0);

	aged = palloc(sizeof(AgedDecision) * Max(ev->ndecisions, 1));
	for (i = 0; i < ev->ndecisions; i++)
	{
		RbBackend  *b = ev->decisions[i].backend;
		TimestampTz since = by_query_age ? b->query_start : b->state_start;

		aged[i].age = since ? snap->taken_at - since : 0;
		aged[i].d = &ev->decisions[i];
	}
	qsort(aged, ev->ndecisions, sizeof(AgedDecision), aged_desc);

	targets = palloc0(sizeof(RbTarget) * Max(ev->ndecisions, 1));
	for (i = 0; i < ev->ndecisions; i++)
	{
		RbTarget   *t = &targets[i];

		t->judged = *aged[i].d->backend;
		t->action = action;
		t->actor = actor;
		t->detail = aged[i].d->why;
		t->allow_superuser = p->allow_superuser;
		t->require_same_state = true;
		t->dry_run = dry_run;
	}
	*targets_out = targets;
	return ev->ndecisions;
}

static void
init_policy(RbPolicy *p, const char *name, RbPolicyAction action)
{
	memset(p, 0, sizeof(RbPolicy));
	p->name = (char *) name;
	p->min_state_us = -1;
	p->min_xact_us = -1;
	p->min_query_us = -1;
	p->min_xmin_age = -1;
	p->min_blocked = 1;
	p->action = action;
}

/*
 * runbook.kill_idle(max_idle, dry_run, states, role_name, database_name,
 *                   application_pattern, client_network, include_superusers)
 */
Datum
rb_kill_idle(PG_FUNCTION_ARGS)
{
	RbPolicy	p;
	RbTarget   *targets;
	RbOutcome  *outcomes;
	int			n;
	int64		max_idle = rb_check_interval_arg(fcinfo, 0, "max_idle");
	bool		dry_run = dry_run_arg(fcinfo, 1);

	init_policy(&p, "kill_idle", RB_POLICY_TERMINATE);
	p.min_state_us = max_idle;
	p.state_mask = states_arg(fcinfo, 2,
							  (1U << STATE_IDLE) | (1U << STATE_IDLEINTRANSACTION) |
							  (1U << STATE_IDLEINTRANSACTION_ABORTED));
	filters_arg(fcinfo, 3, &p);

	InitMaterializedSRF(fcinfo, 0);
	n = select_targets(&p, RB_ACTION_TERMINATE, dry_run, "kill_idle", false, &targets);
	outcomes = palloc0(sizeof(RbOutcome) * Max(n, 1));
	if (n > 0)
		rb_remedy_apply(targets, n, outcomes);
	emit(fcinfo, rb_viewer_new(), targets, outcomes, n);
	PG_RETURN_VOID();
}

/*
 * runbook.cancel_long(max_runtime, dry_run, terminate_after, role_name,
 *                     database_name, application_pattern, client_network,
 *                     include_superusers)
 *
 * Cancels active statements older than max_runtime.  With terminate_after,
 * waits up to that long for each cancelled statement to end and terminates
 * the sessions still running the same statement (same state since the same
 * moment) then.
 */
Datum
rb_cancel_long(PG_FUNCTION_ARGS)
{
	RbPolicy	p;
	RbTarget   *targets;
	RbOutcome  *outcomes;
	int			n;
	int64		max_runtime = rb_check_interval_arg(fcinfo, 0, "max_runtime");
	bool		dry_run = dry_run_arg(fcinfo, 1);
	int64		grace = -1;
	RbViewer   *viewer;

	if (!PG_ARGISNULL(2))
		grace = rb_check_interval_arg(fcinfo, 2, "terminate_after");
	init_policy(&p, "cancel_long", RB_POLICY_CANCEL);
	p.min_query_us = max_runtime;
	p.state_mask = (1U << STATE_RUNNING) | (1U << STATE_FASTPATH);
	filters_arg(fcinfo, 3, &p);

	InitMaterializedSRF(fcinfo, 0);
	viewer = rb_viewer_new();
	n = select_targets(&p, RB_ACTION_CANCEL, dry_run, "cancel_long", true, &targets);
	outcomes = palloc0(sizeof(RbOutcome) * Max(n, 1));
	if (n > 0)
		rb_remedy_apply(targets, n, outcomes);
	emit(fcinfo, viewer, targets, outcomes, n);

	if (grace >= 0 && n > 0)
	{
		RbTarget   *again = palloc0(sizeof(RbTarget) * n);
		RbOutcome  *again_out = palloc0(sizeof(RbOutcome) * n);
		TimestampTz deadline = GetCurrentTimestamp() + grace;
		int			m = 0;
		int			i;

		/* wait for the cancelled statements to end, up to the grace period */
		for (;;)
		{
			int			running = 0;

			for (i = 0; i < n; i++)
			{
				RbBackend	cur;

				if (!outcomes[i].signalled && !(dry_run && strcmp(outcomes[i].outcome, "dry_run") == 0))
					continue;
				if (rb_backend_read(targets[i].judged.pid, &cur, 0) &&
					cur.backend_start == targets[i].judged.backend_start &&
					cur.state == targets[i].judged.state &&
					cur.state_start == targets[i].judged.state_start)
					running++;
			}
			if (running == 0 || dry_run || GetCurrentTimestamp() >= deadline)
				break;
			CHECK_FOR_INTERRUPTS();
			pg_usleep(20000L);
		}
		for (i = 0; i < n; i++)
		{
			RbBackend	cur;

			if (!outcomes[i].signalled && !(dry_run && strcmp(outcomes[i].outcome, "dry_run") == 0))
				continue;
			if (!dry_run &&
				!(rb_backend_read(targets[i].judged.pid, &cur, 0) &&
				  cur.backend_start == targets[i].judged.backend_start &&
				  cur.state == targets[i].judged.state &&
				  cur.state_start == targets[i].judged.state_start))
				continue;		/* the cancel worked */
			again[m] = targets[i];
			again[m].action = RB_ACTION_TERMINATE;
			again[m].detail = psprintf("%s; still running %s after the cancel",
									   targets[i].detail ? targets[i].detail : "",
									   DatumGetCString(DirectFunctionCall1(interval_out,
																		   IntervalPGetDatum(rb_usecs_to_interval(grace)))));
			m++;
		}
		if (m > 0)
		{
			rb_remedy_apply(again, m, again_out);
			emit(fcinfo, viewer, again, again_out, m);
		}
	}
	PG_RETURN_VOID();
}
