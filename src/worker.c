/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The policy-enforcement background worker and its SQL controls:
 *		worker_status(), pause_worker(), resume_worker(), policy_preview()
 *		and the trigger that wakes the worker when policies change.
 *
 * Each cycle, in one short transaction: read the enabled policies, take one
 * snapshot of the backends, evaluate (policy.c), and hand what is due to the
 * remedy path (remedy.c), which re-checks every target before signalling
 * and audits.  Then sleep until the earliest moment a session can cross a
 * threshold, capped by pg_runbook.naptime and by the smallest threshold of
 * any acting policy (so that a session that starts idling while the worker
 * sleeps is still caught on time).
 *
 * Events wake the worker before its timer (see docs/worker.md):
 * - a new client connection that brings the count of client backends to the
 *   high-water mark of a saturation policy (the connection hook of wall.c
 *   keeps a shared count with one atomic add and sets the worker's latch
 *   only at or above the mark, wake_at_clients);
 * - a lock queue: while an acting only_if_blocking policy exists, the worker
 *   probes every WORKER_PROBE_MS whether the number of backends waiting on a
 *   heavyweight lock reached the policy's min_blocked_sessions and changed
 *   since its last cycle, or still stands a second later (an unlocked read of
 *   each PGPROC's wait event, rb_lock_waiters_count() in lockshot.c, a few
 *   microseconds for 1,000 backends); only then does it run a cycle.
 *   Blocking and saturation policies therefore do not shorten the timer:
 *   their events wake the worker.
 *
 * Failures back off: a failed cycle is retried after 1 s, doubling up to
 * 5 min, and logged once per distinct message; a success resets it.  A
 * pg_runbook.database that does not exist costs one FATAL (the first
 * connection attempt); the next start connects to no database, finds the
 * database missing in pg_database, logs that once and waits for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "replication/walsender.h"
#include "utils/wait_event.h"
#include "access/xlog.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"
#include "activity.h"
#include "lockshot.h"
#include "policy.h"
#include "audit.h"
#include "guard.h"
#include "remedy.h"
#include "snapshot.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(rb_worker_status);
PG_FUNCTION_INFO_V1(rb_pause_worker);
PG_FUNCTION_INFO_V1(rb_resume_worker);
PG_FUNCTION_INFO_V1(rb_policy_preview);
PG_FUNCTION_INFO_V1(rb_policies_changed);

PGDLLEXPORT void rb_worker_main(Datum main_arg);

#define WORKER_MIN_SLEEP_MS		10
#define WORKER_MIN_CAP_MS		100	/* floor of the smallest-threshold cap */
#define WORKER_PROBE_MS			100	/* lock-queue probe while a blocking policy
									 * is enabled */
#define WORKER_EVENT_GAP_MS		20	/* least time between event-driven cycles */
#define WORKER_BACKOFF_FIRST_MS	1000
#define WORKER_BACKOFF_MAX_MS	300000
#define WORKER_DB_RECHECK_MS	10000	/* missing database: look again */

/* ---------- registration ---------- */

void
rb_worker_register(void)
{
	/* consistent state: runs on a hot standby too */
	rb_register_static_worker("rb_worker_main", "pg_runbook worker");
}

/* ---------- shared state helpers ---------- */

static void
set_last_error(const char *msg)
{
	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	strlcpy(rb_shared->worker.last_error, msg ? msg : "",
			sizeof(rb_shared->worker.last_error));
	rb_shared->worker.last_error_at = msg ? GetCurrentTimestamp() : 0;
	LWLockRelease(rb_shared->lock);
}

/* Wake the worker (after pause/resume or a policy change). */
static void
wake_worker(void)
{
	Latch	   *latch;

	if (rb_shared == NULL)
		return;
	LWLockAcquire(rb_shared->lock, LW_SHARED);
	latch = rb_shared->worker.latch;
	LWLockRelease(rb_shared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

static void
worker_detach(int code, Datum arg)
{
	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	if (rb_shared->worker.pid == MyProcPid)
	{
		rb_shared->worker.pid = 0;
		rb_shared->worker.latch = NULL;
		rb_shared->worker.wake_at_clients = 0;
	}
	LWLockRelease(rb_shared->lock);
}

/* ---------- escalation and log memory (worker-local) ---------- */

/*
 * cancel_then_terminate: when a session was cancelled, and log: when a
 * session was last logged, so that each happens once per session state.
 */
typedef struct Memo
{
	int			pid;			/* hash key */
	TimestampTz backend_start;
	TimestampTz state_start;
	TimestampTz cancelled_at;	/* 0 = not cancelled */
	bool		logged;
	bool		skip_noted;		/* skipped for a lasting reason: audited once */
	bool		terminated;		/* the worker terminated it; still exiting */
	uint64		seen_cycle;
} Memo;

static HTAB *memo = NULL;
static bool cycle_by_guard = false; /* the guard check asked for this cycle */
static bool told_no_extension = false;
static bool told_standby = false;
static uint64 cycle_no = 0;

static Memo *
memo_get(RbBackend *b)
{
	bool		found;
	Memo	   *m;

	if (memo == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int);
		ctl.entrysize = sizeof(Memo);
		memo = hash_create("pg_runbook worker memo", 256, &ctl,
						   HASH_ELEM | HASH_BLOBS);
	}
	m = hash_search(memo, &b->pid, HASH_ENTER, &found);
	if (!found || m->backend_start != b->backend_start)
	{
		m->backend_start = b->backend_start;
		m->state_start = b->state_start;
		m->cancelled_at = 0;
		m->logged = false;
		m->skip_noted = false;
		m->terminated = false;
	}
	if (m->state_start != b->state_start)
	{
		/* a new state: log again if it matches again */
		m->state_start = b->state_start;
		m->logged = false;
		m->skip_noted = false;
	}
	m->seen_cycle = cycle_no;
	return m;
}

/*
 * For the evaluation: a session this worker terminated that has not exited
 * yet is neither counted as a connection nor chosen again.
 */
static bool
memo_ending(const RbBackend *b, void *arg)
{
	Memo	   *m;

	if (memo == NULL)
		return false;
	m = hash_search(memo, &b->pid, HASH_FIND, NULL);
	if (m == NULL || !m->terminated || m->backend_start != b->backend_start)
		return false;
	m->seen_cycle = cycle_no;
	return true;
}

static void
memo_prune(void)
{
	HASH_SEQ_STATUS seq;
	Memo	   *m;

	if (memo == NULL)
		return;
	hash_seq_init(&seq, memo);
	while ((m = hash_seq_search(&seq)) != NULL)
		if (m->seen_cycle != cycle_no)
			hash_search(memo, &m->pid, HASH_REMOVE, NULL);
}

/* ---------- one cycle ---------- */

typedef struct CycleResult
{
	int			npolicies;
	int64		min_threshold_us;
	TimestampTz next_deadline;
	int			actions;
	bool		no_extension;
	int			wake_at_clients;	/* high-water mark of saturation policies */
	int			probe_min_blocked;	/* lock-queue probe threshold; 0 = off */
} CycleResult;

/*
 * What the policies decided, turned into remedy targets: real ones, dry
 * ones (a dry-run policy, or pg_runbook.enforce = log) and 'log' actions,
 * which never reach the remedy path.
 */
typedef struct ActionPlan
{
	int			nreal;
	RbTarget   *real;
	int			ndry;
	RbTarget   *dry;
	int			nlog;
	RbDecision **log;
	RbPolicy  **real_policy;	/* per target, for the worker's own log */
	RbPolicy  **dry_policy;
} ActionPlan;

static void
note(TimestampTz *deadline, TimestampTz t)
{
	if (deadline && (*deadline == 0 || t < *deadline))
		*deadline = t;
}

/*
 * Plan the actions for an evaluation.  With 'preview', nothing is
 * remembered: cancel_then_terminate shows its next step and everything is
 * dry.
 */
static void
plan_actions(RbEvaluation *ev, ActionPlan *plan, bool preview, bool global_dry,
			 TimestampTz now, TimestampTz *next_deadline)
{
	int			i;

	memset(plan, 0, sizeof(ActionPlan));
	plan->real = palloc0(sizeof(RbTarget) * Max(ev->ndecisions, 1));
	plan->dry = palloc0(sizeof(RbTarget) * Max(ev->ndecisions, 1));
	plan->log = palloc0(sizeof(RbDecision *) * Max(ev->ndecisions, 1));
	plan->real_policy = palloc0(sizeof(RbPolicy *) * Max(ev->ndecisions, 1));
	plan->dry_policy = palloc0(sizeof(RbPolicy *) * Max(ev->ndecisions, 1));

	for (i = 0; i < ev->ndecisions; i++)
	{
		RbDecision *d = &ev->decisions[i];
		RbPolicy   *p = d->policy;
		Memo	   *m = preview ? NULL : memo_get(d->backend);
		RbTarget	t;
		bool		dry = preview || global_dry || p->dry_run;

		memset(&t, 0, sizeof(RbTarget));
		t.backend = *d->backend;
		t.actor = psprintf("policy:%s", p->name);
		t.detail = d->why;
		t.flags = RB_TARGET_SAME_STATE;
		if (p->allow_superuser)
			t.flags |= RB_TARGET_ALLOW_SUPERUSER;

		if (m && m->skip_noted)
			continue;			/* e.g. an exempt role: said once already */

		switch (p->action)
		{
			case RB_POLICY_IGNORE:
				continue;
			case RB_POLICY_LOG:
				if (m && m->logged)
					continue;
				if (m)
					m->logged = true;
				plan->log[plan->nlog++] = d;
				continue;
			case RB_POLICY_CANCEL:
				t.action = RB_ACTION_CANCEL;
				break;
			case RB_POLICY_TERMINATE:
				t.action = RB_ACTION_TERMINATE;
				break;
			case RB_POLICY_CANCEL_THEN_TERMINATE:
				if (m == NULL || m->cancelled_at == 0)
				{
					/*
					 * cancelled_at is set once the cancel was sent (run_cycle,
					 * after the remedy path): a cancel skipped (cap, re-check)
					 * must not start the grace period.  A dry run has no
					 * outcome to wait for: its cancel counts as planned.
					 */
					t.action = RB_ACTION_CANCEL;
					if (m && dry)
						m->cancelled_at = now;
					note(next_deadline, now + p->grace_us);
				}
				else if (now - m->cancelled_at >= p->grace_us)
				{
					/* still over the threshold after the grace period */
					t.action = RB_ACTION_TERMINATE;
					t.flags &= ~RB_TARGET_SAME_STATE;
					t.detail = psprintf("%s; still matching %s after the cancel", d->why,
										DatumGetCString(DirectFunctionCall1(interval_out,
																			IntervalPGetDatum(rb_usecs_to_interval(now - m->cancelled_at)))));
				}
				else
				{
					note(next_deadline, m->cancelled_at + p->grace_us);
					continue;	/* in its grace period */
				}
				break;
		}

		/* a dry run of the worker is said once per session state */
		if (dry && m)
		{
			if (m->logged)
				continue;
			m->logged = true;
		}
		if (dry)
		{
			plan->dry_policy[plan->ndry] = p;
			plan->dry[plan->ndry++] = t;
		}
		else
		{
			plan->real_policy[plan->nreal] = p;
			plan->real[plan->nreal++] = t;
		}
	}
}

/*
 * The LOG line of a 'log' policy (or of a dry run), once per session state.
 * Client-controlled text is escaped (no line breaks, no forged pairs).
 */
static void
log_decision(const char *verb, const char *policy, RbBackend *b, const char *why)
{
	char	   *user = OidIsValid(b->roleid) ? GetUserNameFromId(b->roleid, true) : NULL;

	ereport(LOG,
			(errmsg("pg_runbook: %s actor=policy:%s pid=%d user=%s application=\"%s\" state=\"%s\" why=\"%s\"",
					verb, rb_escape_text(policy), b->pid,
					user ? rb_escape_text(user) : "?", rb_escape_text(b->appname),
					rb_state_name(b->state) ? rb_state_name(b->state) : "",
					why ? rb_escape_text(why) : ""),
			 errhidestmt(true)));
}

static void
run_cycle(CycleResult *res, MemoryContext cyclectx)
{
	RbPolicySet *set;
	RbSnapshot *snap;
	RbEvaluation *ev;
	ActionPlan	plan;
	RbOutcome  *outcomes;
	RbHostShot *host = NULL;
	bool		guard_acted = false;
	int			acted = 0;
	int			i;

	memset(res, 0, sizeof(CycleResult));
	res->min_threshold_us = -1;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "pg_runbook worker cycle");

	if (!OidIsValid(get_extension_oid("pg_runbook", true)))
	{
		res->no_extension = true;
		rb_guard_off();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		return;
	}

	SPI_connect();
	set = rb_policies_load();
	res->npolicies = set->npolicies;
	res->min_threshold_us = set->min_threshold_us;
	res->probe_min_blocked = set->min_blocked;
	if (set->min_conn_pct >= 0)
		res->wake_at_clients =
			Max((int) ceil(set->min_conn_pct * rb_usable_connection_slots() / 100.0), 1);

	if (set->npolicies > 0)
	{
		snap = rb_snapshot_take(0);
		cycle_no++;
		/* memory and disk guards: /proc of the sessions they may match */
		if (rb_policies_need_host(set))
		{
			host = rb_guard_take(set, snap);
			rb_guard_mark_settling(host);
		}
		ev = rb_policies_evaluate_host(set, snap,
									   rb_policies_need_locks(set) ?
									   rb_lockshot_take_if_waiting(snap) : NULL,
									   host, MyProcPid, 0, memo_ending, NULL);
		res->next_deadline = ev->next_deadline;
		res->min_threshold_us = ev->min_threshold_us;

		plan_actions(ev, &plan, false, rb_enforce == RB_ENFORCE_LOG,
					 snap->taken_at, &res->next_deadline);

		for (i = 0; i < plan.nlog; i++)
			log_decision("log", plan.log[i]->policy->name, plan.log[i]->backend,
						 plan.log[i]->why);

		if (plan.nreal > 0)
		{
			outcomes = palloc0(sizeof(RbOutcome) * plan.nreal);
			acted = rb_remedy_apply_capped(plan.real, plan.nreal, false,
										   rb_max_actions_per_cycle, outcomes);
			res->actions = acted;
			/* a skip for a lasting reason is audited once per session state */
			for (i = 0; i < plan.nreal; i++)
			{
				const char *r = outcomes[i].reason;

				if ((outcomes[i].outcome == RB_OUTCOME_CANCELLED ||
					 outcomes[i].outcome == RB_OUTCOME_TERMINATED) &&
					rb_policy_is_guard(plan.real_policy[i]))
					guard_acted = true;
				/* escalate only after a cancel that happened */
				if (outcomes[i].outcome == RB_OUTCOME_CANCELLED &&
					plan.real_policy[i]->action == RB_POLICY_CANCEL_THEN_TERMINATE)
				{
					Memo	   *m = hash_search(memo, &plan.real[i].backend.pid,
												HASH_FIND, NULL);

					if (m && m->cancelled_at == 0)
						m->cancelled_at = snap->taken_at;
				}
				/* a session being terminated is neither counted nor chosen again */
				if (outcomes[i].outcome == RB_OUTCOME_TERMINATED)
				{
					Memo	   *m = hash_search(memo, &plan.real[i].backend.pid,
												HASH_FIND, NULL);

					if (m)
						m->terminated = true;
				}

				/* (a skip left out of the audit by the cap is not noted) */
				if (outcomes[i].outcome == RB_OUTCOME_SKIPPED && r &&
					!outcomes[i].unaudited &&
					(strcmp(r, "exempt_role") == 0 || strcmp(r, "superuser") == 0 ||
					 strcmp(r, "permission_denied") == 0 ||
					 strcmp(r, "not_client_backend") == 0))
				{
					Memo	   *m = hash_search(memo, &plan.real[i].backend.pid,
												HASH_FIND, NULL);

					if (m)
						m->skip_noted = true;
				}
			}
		}
		if (plan.ndry > 0)
		{
			outcomes = palloc0(sizeof(RbOutcome) * plan.ndry);
			rb_remedy_apply_capped(plan.dry, plan.ndry, true,
								   Max(rb_max_actions_per_cycle - acted, 0), outcomes);
			for (i = 0; i < plan.ndry; i++)
				if (outcomes[i].outcome == RB_OUTCOME_DRY_RUN)
					log_decision(psprintf("dry run: would %s", rb_action_name(plan.dry[i].action)),
								 plan.dry_policy[i]->name, &plan.dry[i].backend,
								 plan.dry[i].detail);
		}
		memo_prune();
	}
	rb_guard_after_cycle(set, host, cycle_by_guard, guard_acted);

	/* copy the audit ring into runbook.actions, in this transaction */
	if (!RecoveryInProgress())
		rb_audit_flush();

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Milliseconds to sleep after a cycle. */
static long
sleep_ms_after(CycleResult *res)
{
	TimestampTz now = GetCurrentTimestamp();
	int64		ms = (int64) rb_naptime_ms;

	if (res->min_threshold_us >= 0)
		ms = Min(ms, Max(res->min_threshold_us / 1000, WORKER_MIN_CAP_MS));
	if (res->next_deadline != 0)
		ms = Min(ms, (res->next_deadline - now) / 1000 + 1);
	return (long) Max(ms, WORKER_MIN_SLEEP_MS);
}

/* The wait after the n-th failure in a row: 1 s, doubling, at most 5 min. */
static long
backoff_ms(int n)
{
	int64		ms = WORKER_BACKOFF_FIRST_MS;

	while (--n > 0 && ms < WORKER_BACKOFF_MAX_MS)
		ms *= 2;
	return (long) Min(ms, WORKER_BACKOFF_MAX_MS);
}

/* Sleep on the latch, handling reloads and termination. */
static void
worker_nap(long ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/*
 * Is there a database of this name?  Without a database, only shared
 * catalogs can be read, and only by a heap scan (as the autovacuum launcher
 * reads pg_database): their indexes need a database's relcache.
 */
static bool
database_exists(const char *name)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), name) == 0)
		{
			found = true;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Publish this process as the worker (worker_status(), wake-ups) and
 * clear that on exit.  'connected': connected to pg_runbook.database (the
 * connection attempt is over, the database is no longer missing); else
 * waiting for it, connected to no database.
 */
static void
worker_attach(bool connected)
{
	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	if (connected)
	{
		rb_shared->worker.connecting = false;
		rb_shared->worker.told_db_missing[0] = '\0';
	}
	rb_shared->worker.pid = MyProcPid;
	rb_shared->worker.latch = MyLatch;
	rb_shared->worker.started_at = GetCurrentTimestamp();
	rb_shared->worker.dbid = connected ? MyDatabaseId : InvalidOid;
	LWLockRelease(rb_shared->lock);
	before_shmem_exit(worker_detach, (Datum) 0);
}

/*
 * The previous start died while connecting (e.g. pg_runbook.database names
 * no database: InitPostgres raised FATAL).  Connect to no database, and
 * wait until the database exists, saying so once; then exit so that the
 * postmaster starts the worker again (bgw_restart_time) to connect to it.
 */
static void
wait_for_database(int failures)
{
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pg_runbook worker");

	worker_attach(false);

	for (;;)
	{
		bool		exists;
		bool		told;

		StartTransactionCommand();
		exists = database_exists(rb_database);
		CommitTransactionCommand();

		if (exists)
		{
			/* it exists: the failure was something else; retry, backing off */
			LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
			rb_shared->worker.told_db_missing[0] = '\0';
			LWLockRelease(rb_shared->lock);
			worker_nap(backoff_ms(failures));
			proc_exit(1);
		}

		LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
		told = strcmp(rb_shared->worker.told_db_missing, rb_database) == 0;
		strlcpy(rb_shared->worker.told_db_missing, rb_database, NAMEDATALEN);
		LWLockRelease(rb_shared->lock);
		if (!told)
		{
			char	   *msg = psprintf("database \"%s\" named by pg_runbook.database does not exist",
									   rb_database);

			ereport(LOG,
					(errmsg("pg_runbook worker: %s; waiting for it", msg),
					 errhint("Create the database, or set pg_runbook.database to an existing database and restart the server.")));
			set_last_error(msg);
		}
		worker_nap(WORKER_DB_RECHECK_MS);
	}
}

/* Record a failed cycle, log it once per distinct message; returns the wait. */
static long
note_failure(const char *message)
{
	int			n;
	bool		same;

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	n = ++rb_shared->worker.consecutive_errors;
	same = strncmp(rb_shared->worker.last_error, message,
				   sizeof(rb_shared->worker.last_error) - 1) == 0;
	LWLockRelease(rb_shared->lock);

	if (!same || n == 1)
		ereport(LOG,
				(errmsg("pg_runbook worker cycle failed: %s", message),
				 errdetail("Failure %d in a row; the next try is in %ld ms.", n, backoff_ms(n))));
	else if ((n & (n - 1)) == 0)
		ereport(LOG,
				(errmsg("pg_runbook worker cycle failed %d times in a row: %s", n, message),
				 errdetail("The next try is in %ld ms.", backoff_ms(n))));
	set_last_error(message);
	return backoff_ms(n);
}

void
rb_worker_main(Datum main_arg)
{
	MemoryContext cyclectx;
	bool		was_connecting;
	int			failures;
	volatile int probe_min_blocked = 0;
	volatile int cycle_waiters = 0;
	TimestampTz last_cycle_end = 0;
	long		guard_ms = RB_GUARD_TICK_MS;
	MemoryContext guardctx;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	was_connecting = rb_shared->worker.connecting;
	failures = rb_shared->worker.consecutive_errors;
	if (was_connecting)
		failures = ++rb_shared->worker.consecutive_errors;
	rb_shared->worker.connecting = false;
	LWLockRelease(rb_shared->lock);
	if (was_connecting)
		wait_for_database(failures);	/* does not return */

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	rb_shared->worker.connecting = true;
	LWLockRelease(rb_shared->lock);
	BackgroundWorkerInitializeConnection(rb_database, NULL, 0);
	rb_worker_fixed_environment();
	pgstat_report_appname("pg_runbook worker");

	worker_attach(true);

	ereport(LOG,
			(errmsg("pg_runbook worker started in database \"%s\" (enforce = %s, naptime = %d ms)",
					rb_database, rb_enforce_name(), rb_naptime_ms)));

	cyclectx = AllocSetContextCreate(TopMemoryContext, "pg_runbook cycle",
									 ALLOCSET_DEFAULT_SIZES);
	guardctx = AllocSetContextCreate(TopMemoryContext, "pg_runbook guard check",
									 ALLOCSET_SMALL_SIZES);

	for (;;)
	{
		CycleResult res;
		TimestampTz t0,
					t1,
					wake_at;
		bool		paused;
		bool		failed = false;
		long		sleep_ms = rb_naptime_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		LWLockAcquire(rb_shared->lock, LW_SHARED);
		paused = rb_shared->worker.paused;
		LWLockRelease(rb_shared->lock);

		probe_min_blocked = 0;
		if (paused || rb_enforce == RB_ENFORCE_OFF)
		{
			rb_guard_off();
			LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
			rb_shared->worker.wake_at_clients = 0;
			LWLockRelease(rb_shared->lock);
			goto sleep;
		}
		if (RecoveryInProgress() && !rb_act_on_standby)
		{
			if (!told_standby)
				ereport(LOG,
						(errmsg("pg_runbook worker is on a standby and does not act"),
						 errhint("Set pg_runbook.act_on_standby = on to enforce policies on this standby.")));
			told_standby = true;
			rb_guard_off();
			goto sleep;
		}
		told_standby = false;

		/* events come in bursts: keep event-driven cycles a little apart */
		if (last_cycle_end != 0)
		{
			long		since = (long) ((GetCurrentTimestamp() - last_cycle_end) / 1000);

			if (since >= 0 && since < WORKER_EVENT_GAP_MS)
				pg_usleep((WORKER_EVENT_GAP_MS - since) * 1000L);
		}

		t0 = GetCurrentTimestamp();
		MemoryContextReset(cyclectx);
		{
			MemoryContext old = MemoryContextSwitchTo(cyclectx);

			PG_TRY();
			{
				run_cycle(&res, cyclectx);
			}
			PG_CATCH();
			{
				ErrorData  *edata;

				MemoryContextSwitchTo(cyclectx);
				edata = CopyErrorData();
				FlushErrorState();
				AbortCurrentTransaction();
				sleep_ms = note_failure(edata->message);
				failed = true;
				rb_guard_off();
				memset(&res, 0, sizeof(res));
				res.min_threshold_us = -1;
			}
			PG_END_TRY();
			MemoryContextSwitchTo(old);
		}
		t1 = GetCurrentTimestamp();
		last_cycle_end = t1;
		cycle_by_guard = false;
		guard_ms = RB_GUARD_MIN_TICK_MS;

		if (res.no_extension)
		{
			if (!told_no_extension)
			{
				ereport(LOG,
						(errmsg("pg_runbook worker: extension pg_runbook is not installed in database \"%s\"; waiting",
								rb_database),
						 errhint("Run CREATE EXTENSION pg_runbook in database \"%s\", or set pg_runbook.database.",
								 rb_database)));
				set_last_error("extension pg_runbook is not installed in this database");
			}
			told_no_extension = true;
		}
		else if (told_no_extension)
			told_no_extension = false;

		LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
		{
			RbWorkerState *w = &rb_shared->worker;
			double		ms = (double) (t1 - t0) / 1000.0;

			w->cycles++;
			w->actions += res.actions;
			w->last_cycle_at = t1;
			w->last_cycle_ms = ms;
			w->total_cycle_ms += ms;
			w->max_cycle_ms = Max(w->max_cycle_ms, ms);
			w->npolicies = res.npolicies;
			w->wake_at_clients = res.wake_at_clients;
			if (!failed && !res.no_extension)
			{
				/* a successful cycle supersedes an earlier error */
				w->last_success_at = t1;
				w->consecutive_errors = 0;
			}
		}
		LWLockRelease(rb_shared->lock);

		if (!failed)
		{
			sleep_ms = sleep_ms_after(&res);
			probe_min_blocked = res.probe_min_blocked;
			if (probe_min_blocked > 0)
				cycle_waiters = rb_lock_waiters_count();
		}
sleep:
		wake_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), sleep_ms);
		LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
		rb_shared->worker.next_wakeup = wake_at;
		LWLockRelease(rb_shared->lock);

		/*
		 * Sleep until the timer, a latch (policy change, pause / resume, a
		 * connection at the high-water mark), or a lock queue that the probe
		 * sees reach a blocking policy's size.
		 */
		for (;;)
		{
			long		left = (long) ((wake_at - GetCurrentTimestamp()) / 1000);
			int			rc;

			if (left <= 0)
				break;
			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   Min(left, Min(probe_min_blocked > 0 ? WORKER_PROBE_MS : left,
										 rb_guard_watching() ? guard_ms : left)),
						   PG_WAIT_EXTENSION);
			if (rc & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
				rb_shared->worker.event_wakeups++;
				LWLockRelease(rb_shared->lock);
				break;
			}
			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending)
				break;
			if (rb_guard_watching())
			{
				/* the memory and disk guards' cheap check (guard.c) */
				MemoryContext old = MemoryContextSwitchTo(guardctx);
				bool		due = rb_guard_check(&guard_ms);

				MemoryContextSwitchTo(old);
				MemoryContextReset(guardctx);
				if (due)
				{
					cycle_by_guard = true;
					LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
					rb_shared->worker.event_wakeups++;
					LWLockRelease(rb_shared->lock);
					break;
				}
			}
			if (probe_min_blocked > 0)
			{
				int			n = rb_lock_waiters_count();

				/*
				 * A queue long enough for a blocking policy: a cycle when it
				 * changed, and at least every second while it lasts (the
				 * root may change state under an unchanged queue).
				 */
				if (n >= probe_min_blocked &&
					(n != cycle_waiters ||
					 GetCurrentTimestamp() - last_cycle_end >= USECS_PER_SEC))
				{
					LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
					rb_shared->worker.event_wakeups++;
					LWLockRelease(rb_shared->lock);
					break;
				}
			}
		}
	}
}

/* ---------- SQL: status and controls ---------- */

Datum
rb_worker_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[17];
	bool		nulls[17];
	RbWorkerState w;
	bool		running;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rb_require_preload("runbook.worker_status()");

	LWLockAcquire(rb_shared->lock, LW_SHARED);
	w = rb_shared->worker;
	LWLockRelease(rb_shared->lock);

	running = rb_process_alive(w.pid);
	memset(nulls, 0, sizeof(nulls));
	values[0] = BoolGetDatum(running);
	values[1] = BoolGetDatum(w.paused);
	if (running)
		values[2] = Int32GetDatum(w.pid);
	else
		nulls[2] = true;
	values[3] = CStringGetDatum(rb_database);
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(rb_database));
	values[4] = CStringGetTextDatum(rb_enforce_name());
	if (w.started_at)
		values[5] = TimestampTzGetDatum(w.started_at);
	else
		nulls[5] = true;
	values[6] = Int64GetDatum((int64) w.cycles);
	values[7] = Int64GetDatum((int64) w.actions);
	if (w.last_cycle_at)
		values[8] = TimestampTzGetDatum(w.last_cycle_at);
	else
		nulls[8] = true;
	if (w.cycles > 0)
	{
		/* milliseconds to the microsecond, not 1.8085999999999998 */
		values[9] = Float8GetDatum(rint(w.last_cycle_ms * 1000.0) / 1000.0);
		values[10] = Float8GetDatum(rint(w.total_cycle_ms / w.cycles * 1000.0) / 1000.0);
		values[11] = Float8GetDatum(rint(w.max_cycle_ms * 1000.0) / 1000.0);
	}
	else
		nulls[9] = nulls[10] = nulls[11] = true;
	if (running && w.next_wakeup)
		values[12] = TimestampTzGetDatum(w.next_wakeup);
	else
		nulls[12] = true;
	values[13] = Int32GetDatum(w.npolicies);
	if (w.last_error[0])
	{
		values[14] = CStringGetTextDatum(w.last_error);
		values[15] = TimestampTzGetDatum(w.last_error_at);
	}
	else
		nulls[14] = nulls[15] = true;
	/* 1.0's worker_status() has 16 columns; 1.1 adds last_success_at */
	if (tupdesc->natts > 16)
	{
		if (w.last_success_at)
			values[16] = TimestampTzGetDatum(w.last_success_at);
		else
			nulls[16] = true;
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static bool
set_paused(bool paused)
{
	bool		was;

	rb_require_preload(paused ? "runbook.pause_worker()" : "runbook.resume_worker()");
	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	was = rb_shared->worker.paused;
	rb_shared->worker.paused = paused;
	LWLockRelease(rb_shared->lock);
	if (was != paused)
		ereport(LOG,
				(errmsg("pg_runbook worker %s by role \"%s\"",
						paused ? "paused" : "resumed",
						GetUserNameFromId(GetUserId(), false))));
	/* an action in the audit like any other (audit.c) */
	rb_audit_record_control(paused ? "pause" : "resume",
							was != paused ? (paused ? "paused" : "resumed") : "skipped",
							was != paused ? NULL : (paused ? "already_paused" : "not_paused"),
							rb_worker_pid(), NULL);
	wake_worker();
	return was != paused;
}

Datum
rb_pause_worker(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(set_paused(true));
}

Datum
rb_resume_worker(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(set_paused(false));
}

/* AFTER statement trigger on runbook.policies: wake the worker. */
Datum
rb_policies_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("rb_policies_changed must be called as a trigger")));
	/* the worker re-reads policies every cycle; wake it at commit time */
	rb_wake_worker_at_commit();
	PG_RETURN_POINTER(NULL);
}

static bool wake_registered = false;
static bool wake_pending = false;

static void
wake_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_pending)
		wake_worker();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_pending = false;
}

void
rb_wake_worker_at_commit(void)
{
	if (!wake_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		wake_registered = true;
	}
	wake_pending = true;
}

/*
 * policy_preview(): what the next cycle would do, by which policy and why;
 * the same evaluation and the same remedy checks as the worker, as a dry
 * run.  'log' policies show as action log.
 */
static void
preview_row(ReturnSetInfo *rsinfo, RbViewer *viewer, TimestampTz now,
			RbBackend *b, const char *policy, const char *action,
			const char *outcome, const char *reason, const char *why)
{
	Datum		values[15];
	bool		nulls[15];
	Datum		act[RB_ACTIVITY_COLS];
	bool		actnulls[RB_ACTIVITY_COLS];
	static const int from_act[] = {0, 2, 3, 4, 5, 7, 17, 15, 16};
	int			i;

	rb_activity_row(viewer, now, b, act, actnulls);
	memset(nulls, 0, sizeof(nulls));
	for (i = 0; i < lengthof(from_act); i++)
	{
		values[i] = act[from_act[i]];
		nulls[i] = actnulls[from_act[i]];
	}
	values[9] = CStringGetTextDatum(policy);
	values[10] = CStringGetTextDatum(action);
	values[11] = CStringGetTextDatum(outcome);
	if (reason)
		values[12] = CStringGetTextDatum(reason);
	else
		nulls[12] = true;
	if (why && why[0])
		values[13] = CStringGetTextDatum(why);
	else
		nulls[13] = true;
	values[14] = act[25];
	nulls[14] = actnulls[25];
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

Datum
rb_policy_preview(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbPolicySet *set;
	RbSnapshot *snap;
	RbEvaluation *ev;
	ActionPlan	plan;
	RbOutcome  *outcomes = NULL;
	RbViewer   *viewer;
	MemoryContext callerctx;
	int			i;

	InitMaterializedSRF(fcinfo, 0);

	/*
	 * Everything the rows need is allocated in the caller's context, not in
	 * SPI's, which SPI_finish() releases before the rows are formed.  SPI
	 * switches to its own context after connecting and after every query it
	 * runs, so switch back after each call that may run one.
	 */
	callerctx = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(callerctx);
	set = rb_policies_load();
	MemoryContextSwitchTo(callerctx);
	snap = rb_snapshot_take(RB_SNAP_QUERY);
	ev = rb_policies_evaluate_host(set, snap,
								   rb_policies_need_locks(set) ?
								   rb_lockshot_take_if_waiting(snap) : NULL,
								   rb_policies_need_host(set) ? rb_guard_take(set, snap) : NULL,
								   rb_worker_pid(), 0, NULL, NULL);
	plan_actions(ev, &plan, true, true, snap->taken_at, NULL);
	if (plan.ndry > 0)
	{
		outcomes = palloc0(sizeof(RbOutcome) * plan.ndry);
		rb_remedy_apply_capped(plan.dry, plan.ndry, true,
							   rb_max_actions_per_cycle, outcomes);
		MemoryContextSwitchTo(callerctx);
	}
	SPI_finish();

	viewer = rb_viewer_new();
	for (i = 0; i < plan.nlog; i++)
	{
		preview_row(rsinfo, viewer, snap->taken_at, plan.log[i]->backend,
					plan.log[i]->policy->name, "log", "dry_run", NULL,
					plan.log[i]->why);
	}
	for (i = 0; i < plan.ndry; i++)
		preview_row(rsinfo, viewer, snap->taken_at, &plan.dry[i].backend,
					plan.dry_policy[i]->name, rb_action_name(plan.dry[i].action),
					rb_outcome_name(outcomes[i].outcome), outcomes[i].reason,
					plan.dry[i].detail);
	PG_RETURN_VOID();
}

int
rb_worker_pid(void)
{
	int			pid = 0;

	if (rb_shared == NULL)
		return 0;
	LWLockAcquire(rb_shared->lock, LW_SHARED);
	pid = rb_shared->worker.pid;
	LWLockRelease(rb_shared->lock);
	return pid;
}
