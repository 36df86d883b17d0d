/*-------------------------------------------------------------------------
 *
 * remedy_sql.c
 *		SQL front ends of remediation: runbook.kill_idle() and
 *		runbook.cancel_long().  Each takes one snapshot, selects the
 *		sessions to consider (state, age and the optional filters), and hands
 *		them to rb_remedy_apply() (remedy.c), which re-checks, signals and
 *		audits.  One output row per session considered.  cancel_long()
 *		leaves out the statements that only wait on a heavyweight lock
 *		(victims of a root blocker, read from one lock snapshot by the
 *		policy evaluation): their rows say "skipped" and name the root.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "activity.h"
#include "audit.h"
#include "policy.h"
#include "remedy.h"
#include "remedy_sql.h"
#include "snapshot.h"

PG_FUNCTION_INFO_V1(rb_kill_idle);
PG_FUNCTION_INFO_V1(rb_cancel_long);
PG_FUNCTION_INFO_V1(rb_cancel_pid);
PG_FUNCTION_INFO_V1(rb_terminate_pid);

#define REMEDY_COLS 15

/* ---------- filters shared by both functions ---------- */


static bool
arg_bool(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be NULL", argname),
				 errhint("Pass true or false.")));
	return PG_GETARG_BOOL(argno);
}

/*
 * Validate a network given as text ("10.0.0.0/8", "192.168.1.7",
 * "::1/128") and return it as an inet datum.
 */
static Datum
parse_network(const char *src)
{
	unsigned char buf[16];
	int			af = strchr(src, ':') ? PGSQL_AF_INET6 : PGSQL_AF_INET;

	if (pg_inet_net_pton(af, src, buf, -1) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid client network \"%s\"", src),
				 errhint("Give a network in CIDR notation, such as '10.0.0.0/8', '192.168.1.7/32' or '::1/128'.")));
	return DirectFunctionCall1(inet_in, CStringGetDatum(src));
}

static void
parse_filter(FunctionCallInfo fcinfo, int first, RbSessionFilter *f)
{
	memset(f, 0, sizeof(RbSessionFilter));
	if (!PG_ARGISNULL(first))
	{
		char	   *name = NameStr(*PG_GETARG_NAME(first));

		f->roleid = get_role_oid(name, true);
		if (!OidIsValid(f->roleid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("role \"%s\" does not exist", name),
					 errhint("role_name selects sessions of members of an existing role; pass NULL for any role.")));
	}
	if (!PG_ARGISNULL(first + 1))
	{
		char	   *name = NameStr(*PG_GETARG_NAME(first + 1));

		f->dbid = get_database_oid(name, true);
		if (!OidIsValid(f->dbid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_DATABASE),
					 errmsg("database \"%s\" does not exist", name),
					 errhint("database_name selects sessions of one database; pass NULL for any database.")));
	}
	if (!PG_ARGISNULL(first + 2))
		f->app_pattern = PG_GETARG_TEXT_PP(first + 2);
	if (!PG_ARGISNULL(first + 3))
		f->network = DatumGetInetPP(parse_network(text_to_cstring(PG_GETARG_TEXT_PP(first + 3))));
}

/*
 * The per-call limit: argument 'argno' (max_actions int, NULL = the setting
 * pg_runbook.max_actions_per_cycle), at most
 * pg_runbook.max_actions_per_call_limit, which only a superuser can raise.
 * A 1.0 definition of the function (before ALTER EXTENSION UPDATE) has no
 * such argument.
 */
int
rb_remedy_call_cap(FunctionCallInfo fcinfo, int argno)
{
	int			cap;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return rb_max_actions_per_cycle;
	cap = PG_GETARG_INT32(argno);
	if (cap < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_actions must be at least 1"),
				 errhint("Pass NULL for the default, pg_runbook.max_actions_per_cycle (%d), or use dry_run => true to signal nobody.",
						 rb_max_actions_per_cycle)));
	if (cap > rb_max_actions_per_call_limit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_actions %d is above pg_runbook.max_actions_per_call_limit (%d)",
						cap, rb_max_actions_per_call_limit),
				 errhint("A superuser can raise pg_runbook.max_actions_per_call_limit.")));
	return cap;
}

/* ---------- selection ---------- */

typedef struct Cand
{
	int64		age;
	RbBackend  *b;
	bool		lock_waiter;	/* waits on a heavyweight lock: a victim */
	int			lock_root;		/* its root blocker (-1: none) */
} Cand;

static int
cand_cmp(const void *a, const void *b)
{
	const Cand *x = (const Cand *) a;
	const Cand *y = (const Cand *) b;

	if (x->age != y->age)
		return x->age < y->age ? 1 : -1;
	return x->b->pid - y->b->pid;
}

/* ---------- output ---------- */

static void
put_row(ReturnSetInfo *rsinfo, RbViewer *v, TimestampTz now,
		const RbTarget *t, RbAction action, const char *outcome,
		const char *reason, const char *detail)
{
	const RbBackend *b = &t->backend;
	Datum		val[REMEDY_COLS];
	bool		nul[REMEDY_COLS];
	char		buf[RB_AUDIT_CLIENT_LEN];
	char	   *s;
	const char *state = rb_state_name(b->state);

	memset(nul, 0, sizeof(nul));
	val[0] = Int32GetDatum(b->pid);
	s = OidIsValid(b->roleid) ? GetUserNameFromId(b->roleid, true) : NULL;
	if (s)
		val[1] = DirectFunctionCall1(namein, CStringGetDatum(s));
	else
		nul[1] = true;
	s = OidIsValid(b->dbid) ? get_database_name(b->dbid) : NULL;
	if (s)
		val[2] = DirectFunctionCall1(namein, CStringGetDatum(s));
	else
		nul[2] = true;
	val[3] = CStringGetTextDatum(b->appname);
	rb_client_addr_text(&b->clientaddr, buf, sizeof(buf));
	if (buf[0])
		val[4] = DirectFunctionCall1(inet_in, CStringGetDatum(buf));
	else
		nul[4] = true;
	val[5] = CStringGetTextDatum(rb_backend_type_name(b));
	if (state)
		val[6] = CStringGetTextDatum(state);
	else
		nul[6] = true;
	val[7] = rb_age_datum(now, b->state_start, &nul[7]);
	val[8] = rb_age_datum(now, b->xact_start, &nul[8]);
	val[9] = rb_age_datum(now, b->query_start, &nul[9]);
	val[10] = CStringGetTextDatum(rb_action_name(action));
	val[11] = CStringGetTextDatum(outcome);
	if (reason)
		val[12] = CStringGetTextDatum(reason);
	else
		nul[12] = true;
	if (detail)
		val[13] = CStringGetTextDatum(detail);
	else
		nul[13] = true;
	if (!rb_viewer_can_see(v, b->roleid))
		val[14] = CStringGetTextDatum("<insufficient privilege>");
	else if (b->query)
		val[14] = CStringGetTextDatum(b->query);
	else
		nul[14] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, val, nul);
}

/* ---------- runbook.kill_idle() ---------- */

/* states as a mask of (1 << BackendState), as in RbPolicy */
#define ST_IDLE		(1U << STATE_IDLE)
#define ST_IIT		(1U << STATE_IDLEINTRANSACTION)
#define ST_ABORTED	(1U << STATE_IDLEINTRANSACTION_ABORTED)
#define ST_ACTIVE	((1U << STATE_RUNNING) | (1U << STATE_FASTPATH))

static uint32
parse_idle_states(FunctionCallInfo fcinfo, int argno)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	uint32		mask = 0;
	const char *valid = "Valid states are 'idle', 'idle in transaction' and 'idle in transaction (aborted)'.";

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("states must not be NULL"),
				 errhint("%s", valid)));
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("states must not be empty"),
				 errhint("%s", valid)));
	for (i = 0; i < n; i++)
	{
		char	   *s;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("states must not contain NULL"),
					 errhint("%s", valid)));
		s = TextDatumGetCString(elems[i]);
		if (strcmp(s, "idle") == 0)
			mask |= ST_IDLE;
		else if (strcmp(s, "idle in transaction") == 0)
			mask |= ST_IIT;
		else if (strcmp(s, "idle in transaction (aborted)") == 0)
			mask |= ST_ABORTED;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown idle state \"%s\"", s),
					 errhint("%s", valid)));
	}
	return mask;
}

/*
 * The sessions a remedy function considers, chosen by a one-off policy that
 * policy.c evaluates exactly as it evaluates the worker's: in 'states' (a
 * mask of 1 << BackendState), at least min_us old (state age, or statement
 * age with by_query), passing 'f'; oldest first, so that the cap keeps the
 * worst.  Background processes are kept: the remedy path reports them as
 * skipped, and so does the caller's own session.
 */
static int
select_sessions(RbSnapshot *snap, uint32 states, bool by_query, int64 min_us,
				const RbSessionFilter *f, bool skip_lock_waiters, Cand **out)
{
	RbPolicy	p;
	RbPolicySet set;
	RbEvaluation *ev;
	Cand	   *c;
	int			i;

	memset(&p, 0, sizeof(p));
	p.name = (char *) "ad hoc";
	p.filter = *f;
	p.state_mask = states;
	p.min_state_us = by_query ? -1 : min_us;
	p.min_xact_us = -1;
	p.min_query_us = by_query ? min_us : -1;
	p.min_blocked = 1;
	p.min_xmin_age = -1;
	p.action = RB_POLICY_TERMINATE;
	p.skip_lock_waiters = skip_lock_waiters;
	memset(&set, 0, sizeof(set));
	set.npolicies = 1;
	set.policies = &p;
	set.min_threshold_us = -1;

	/* the lock snapshot only when some backend of this snapshot waits */
	ev = rb_policies_evaluate(&set, snap,
							  skip_lock_waiters ? rb_lockshot_take_if_waiting(snap) : NULL,
							  0, RB_EVAL_KEEP_BACKGROUND);
	c = palloc(sizeof(Cand) * Max(ev->ndecisions, 1));
	for (i = 0; i < ev->ndecisions; i++)
	{
		RbBackend  *b = ev->decisions[i].backend;

		c[i].b = b;
		c[i].age = snap->taken_at - (by_query ? b->query_start : b->state_start);
		c[i].lock_waiter = ev->decisions[i].lock_waiter;
		c[i].lock_root = ev->decisions[i].lock_root;
	}
	qsort(c, ev->ndecisions, sizeof(Cand), cand_cmp);
	*out = c;
	return ev->ndecisions;
}

/*
 * The start shared by kill_idle() and cancel_long(): the filter (arguments
 * 3 to 6), allow_superuser (7) and max_actions (8), the preload check of a
 * real run, then one snapshot and the sessions selected from it as targets
 * of 'action' for 'actor', in order.
 */
typedef struct RemedyCall
{
	int			cap;
	RbSnapshot *snap;
	RbViewer   *v;
	int			n;
	RbTarget   *targets;
	RbOutcome  *outs;
	/* sessions left out because they wait on a heavyweight lock */
	int			nwaiters;
	RbTarget   *waiters;		/* as judged, for the row */
	int		   *waiter_root;	/* root blocker pid, 0 = prepared, -1 = none */
} RemedyCall;

static void
remedy_call_start(FunctionCallInfo fcinfo, bool dry_run, const char *actor,
				  uint32 states, bool by_query, int64 min_us,
				  RbAction action, int flags, bool skip_lock_waiters,
				  RemedyCall *c)
{
	RbSessionFilter f;
	bool		allow_super;
	Cand	   *cands;
	int			ncands;
	int			i;

	parse_filter(fcinfo, 3, &f);
	allow_super = arg_bool(fcinfo, 7, "allow_superuser");
	c->cap = rb_remedy_call_cap(fcinfo, 8);
	if (!dry_run)
		rb_require_preload(psprintf("runbook.%s()", actor));

	InitMaterializedSRF(fcinfo, 0);
	c->snap = rb_snapshot_take(RB_SNAP_QUERY);
	c->v = rb_viewer_new();
	ncands = select_sessions(c->snap, states, by_query, min_us, &f,
							 skip_lock_waiters, &cands);

	c->n = c->nwaiters = 0;
	c->targets = palloc0(sizeof(RbTarget) * Max(ncands, 1));
	c->outs = palloc0(sizeof(RbOutcome) * Max(ncands, 1));
	c->waiters = palloc0(sizeof(RbTarget) * Max(ncands, 1));
	c->waiter_root = palloc0(sizeof(int) * Max(ncands, 1));
	for (i = 0; i < ncands; i++)
	{
		RbTarget   *t;

		if (cands[i].lock_waiter)
		{
			c->waiter_root[c->nwaiters] = cands[i].lock_root;
			t = &c->waiters[c->nwaiters++];
		}
		else
			t = &c->targets[c->n++];
		t->backend = *cands[i].b;
		t->action = action;
		t->actor = actor;
		t->flags = flags | (allow_super ? RB_TARGET_ALLOW_SUPERUSER : 0);
	}
}

/*
 * The rows of the sessions a call left out because they wait on a
 * heavyweight lock: never signalled (nor audited), each naming the root
 * blocker of its wait, which is the session to act on.
 */
static void
put_lock_waiter_rows(ReturnSetInfo *rsinfo, RemedyCall *c)
{
	int			i;

	for (i = 0; i < c->nwaiters; i++)
	{
		int			root = c->waiter_root[i];
		char	   *detail;

		if (root > 0)
			detail = psprintf("waits on a lock behind root blocker pid %d: act on that session (runbook.lock_tree())", root);
		else if (root == 0)
			detail = pstrdup("waits on a lock held by a prepared transaction: see pg_prepared_xacts");
		else
			detail = pstrdup("waits on a lock in a wait-for cycle: the deadlock detector ends it");
		put_row(rsinfo, c->v, c->snap->taken_at, &c->waiters[i],
				c->waiters[i].action, "skipped", "waiting_on_lock", detail);
	}
}

/*
 * kill_idle(max_idle, dry_run, states, role_name, database_name,
 *			 application_pattern, client_network, allow_superuser,
 *			 max_actions)
 */
Datum
rb_kill_idle(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		min_us = rb_check_interval_arg(fcinfo, 0, "max_idle");
	bool		dry_run = arg_bool(fcinfo, 1, "dry_run");
	uint32		states = parse_idle_states(fcinfo, 2);
	RemedyCall	c;
	int			i;

	remedy_call_start(fcinfo, dry_run, "kill_idle", states, false, min_us,
					  RB_ACTION_TERMINATE, RB_TARGET_SAME_STATE, false, &c);

	rb_remedy_apply_capped(c.targets, c.n, dry_run, c.cap, c.outs);

	for (i = 0; i < c.n; i++)
		put_row(rsinfo, c.v, c.snap->taken_at, &c.targets[i], c.targets[i].action,
				rb_outcome_name(c.outs[i].outcome), c.outs[i].reason,
				c.outs[i].detail);
	PG_RETURN_VOID();
}

/* ---------- runbook.cancel_long() ---------- */

/* Is the statement judged in 't' still running now? */
static bool
still_running(const RbTarget *t)
{
	RbBackend	now;

	if (!rb_backend_read(t->backend.pid, &now, 0))
		return false;
	return now.backend_start == t->backend.backend_start &&
		now.query_start == t->backend.query_start &&
		(now.state == STATE_RUNNING || now.state == STATE_FASTPATH);
}

/*
 * Wait until every cancelled statement ended or 'grace_us' passed; marks
 * in 'running' those still running at the end.  Returns how many.
 */
static int
wait_for_cancels(RbTarget *targets, bool *running, int n, int64 grace_us)
{
	TimestampTz deadline = GetCurrentTimestamp() + grace_us;
	int			left;
	int			i;

	for (;;)
	{
		left = 0;
		for (i = 0; i < n; i++)
		{
			if (running[i] && !still_running(&targets[i]))
				running[i] = false;
			if (running[i])
				left++;
		}
		if (left == 0 || GetCurrentTimestamp() >= deadline)
			return left;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(50, Max(1, (deadline - GetCurrentTimestamp()) / 1000)),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * cancel_long(max_runtime, dry_run, terminate_after, role_name,
 *			   database_name, application_pattern, client_network,
 *			   allow_superuser, max_actions)
 */
Datum
rb_cancel_long(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		min_us = rb_check_interval_arg(fcinfo, 0, "max_runtime");
	bool		dry_run = arg_bool(fcinfo, 1, "dry_run");
	bool		escalate = !PG_ARGISNULL(2);
	int64		grace_us = escalate ? rb_check_interval_arg(fcinfo, 2, "terminate_after") : 0;
	RemedyCall	c;
	RbSnapshot *snap;
	RbViewer   *v;
	RbTarget   *targets;
	RbOutcome  *outs;
	RbTarget   *term = NULL;
	RbOutcome  *term_outs = NULL;
	int		   *term_of = NULL;
	bool	   *running = NULL;
	char	   *grace_text = NULL;
	int			n = 0;
	int			i;
	int			cap;

	remedy_call_start(fcinfo, dry_run, "cancel_long", ST_ACTIVE, true, min_us,
					  RB_ACTION_CANCEL, RB_TARGET_SAME_QUERY, true, &c);
	snap = c.snap;
	v = c.v;
	n = c.n;
	targets = c.targets;
	outs = c.outs;
	cap = c.cap;

	if (escalate)
	{
		grace_text = DatumGetCString(DirectFunctionCall1(interval_out,
														 PG_GETARG_DATUM(2)));
		for (i = 0; i < n; i++)
			targets[i].detail = psprintf("terminate if still running after %s",
										 grace_text);
	}

	rb_remedy_apply_capped(targets, n, dry_run, cap, outs);

	/* escalation: terminate the statements that ignored the cancel */
	if (escalate && !dry_run)
	{
		int			nterm = 0;

		running = palloc0(sizeof(bool) * Max(n, 1));
		for (i = 0; i < n; i++)
			running[i] = (outs[i].outcome == RB_OUTCOME_CANCELLED);
		if (wait_for_cancels(targets, running, n, grace_us) > 0)
		{
			term = palloc0(sizeof(RbTarget) * n);
			term_outs = palloc0(sizeof(RbOutcome) * n);
			term_of = palloc(sizeof(int) * n);
			for (i = 0; i < n; i++)
			{
				if (!running[i])
					continue;
				term[nterm] = targets[i];
				term[nterm].action = RB_ACTION_TERMINATE;
				term[nterm].detail = psprintf("statement still running %s after cancel",
											  grace_text);
				term_of[i] = nterm++;
			}
			/* already counted against the cap when cancelled */
			rb_remedy_apply_capped(term, nterm, false, INT_MAX, term_outs);
		}
	}

	for (i = 0; i < n; i++)
	{
		if (running && running[i] && term_outs[term_of[i]].outcome == RB_OUTCOME_TERMINATED)
			put_row(rsinfo, v, snap->taken_at, &targets[i], RB_ACTION_TERMINATE,
					"terminated", NULL, term[term_of[i]].detail);
		else if (running && outs[i].outcome == RB_OUTCOME_CANCELLED)
			put_row(rsinfo, v, snap->taken_at, &targets[i], RB_ACTION_CANCEL,
					"cancelled", NULL,
					running[i] ? psprintf("terminate skipped: %s",
										  term_outs[term_of[i]].reason) :
					"statement ended after the cancel");
		else
			put_row(rsinfo, v, snap->taken_at, &targets[i], RB_ACTION_CANCEL,
					rb_outcome_name(outs[i].outcome), outs[i].reason,
					outs[i].detail ? outs[i].detail : targets[i].detail);
	}
	put_lock_waiter_rows(rsinfo, &c);
	PG_RETURN_VOID();
}

/* ---------- runbook.cancel(pid, reason), runbook.terminate(pid, reason) ---------- */

/*
 * One session, named by its pid, through the remedy path: the re-check,
 * every safety rule and the audit, with the caller's reason in the
 * audit's detail.  Naming the pid is the opt-in for a superuser session
 * (as with pg_terminate_backend, only a superuser may signal one).  A cancel
 * needs a running statement (and cancels only that statement); a terminate
 * ends the session whatever it does, as long as it is the same process.
 */
static Datum
signal_pid(FunctionCallInfo fcinfo, RbAction action)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *fname = action == RB_ACTION_CANCEL ? "runbook.cancel()" : "runbook.terminate()";
	RbTarget	t;
	RbOutcome	o;
	RbViewer   *v;
	int			pid;
	char	   *reason = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pid must not be NULL"),
				 errhint("Pass the process id of a session, as shown by runbook.sessions.")));
	pid = PG_GETARG_INT32(0);
	if (!PG_ARGISNULL(1))
		reason = text_to_cstring(PG_GETARG_TEXT_PP(1));
	rb_require_preload(fname);

	InitMaterializedSRF(fcinfo, 0);
	v = rb_viewer_new();
	memset(&t, 0, sizeof(t));
	memset(&o, 0, sizeof(o));
	if (pid == MyProcPid || !rb_backend_read(pid, &t.backend, RB_SNAP_QUERY))
	{
		/* the caller itself, or no such process: the remedy path says which */
		memset(&t.backend, 0, sizeof(t.backend));
		t.backend.pid = pid;
		t.backend.slot = -1;
	}
	t.action = action;
	t.actor = action == RB_ACTION_CANCEL ? "cancel" : "terminate";
	t.flags = RB_TARGET_ALLOW_SUPERUSER |
		(action == RB_ACTION_CANCEL ? RB_TARGET_SAME_QUERY : 0);
	t.detail = reason && reason[0] ? psprintf("reason: %s", reason) : NULL;

	rb_remedy_apply_capped(&t, 1, false, 1, &o);

	put_row(rsinfo, v, GetCurrentTimestamp(), &t, action,
			rb_outcome_name(o.outcome), o.reason,
			o.detail ? (t.detail ? psprintf("%s; %s", t.detail, o.detail) : o.detail) :
			t.detail);
	PG_RETURN_VOID();
}

Datum
rb_cancel_pid(PG_FUNCTION_ARGS)
{
	return signal_pid(fcinfo, RB_ACTION_CANCEL);
}

Datum
rb_terminate_pid(PG_FUNCTION_ARGS)
{
	return signal_pid(fcinfo, RB_ACTION_TERMINATE);
}

/*
 * The remediation row format for other front ends (terminate_blockers):
 * the same columns as kill_idle() and cancel_long().
 */
void
rb_remedy_put_row(ReturnSetInfo *rsinfo, RbViewer *v, TimestampTz now,
				  const RbTarget *t, const char *outcome, const char *reason,
				  const char *detail)
{
	put_row(rsinfo, v, now, t, t->action, outcome, reason, detail);
}
