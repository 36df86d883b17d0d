/*-------------------------------------------------------------------------
 *
 * blockers_sql.c
 *		runbook.terminate_blockers(): end the root blockers of lock queues
 *		whose waiters have waited long enough.  A thin front end: the roots
 *		come from the lock analysis (locks.c), the sessions from the
 *		snapshot, and the signal, its re-check and its audit from the
 *		remedy path (remedy.c), like every other remedy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"
#include "activity.h"
#include "locks.h"
#include "remedy.h"
#include "remedy_sql.h"
#include "snapshot.h"

PG_FUNCTION_INFO_V1(rb_terminate_blockers);

static char *
interval_text(int64 us)
{
	return DatumGetCString(DirectFunctionCall1(interval_out,
											   IntervalPGetDatum(rb_usecs_to_interval(us))));
}

/*
 * runbook.terminate_blockers(min_wait interval, dry_run boolean DEFAULT true,
 *                            allow_superuser boolean DEFAULT false,
 *                            max_actions int DEFAULT NULL)
 *
 * One row per root blocker considered, most harmful first.  A root is
 * considered when some session has waited behind it (directly or not) for
 * at least min_wait.  Prepared transactions (pid 0) cannot be terminated:
 * they are reported with the SQL that ends them.
 */
Datum
rb_terminate_blockers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		min_us = rb_check_interval_arg(fcinfo, 0, "min_wait");
	bool		dry_run;
	bool		allow_super;
	RbLockRoot *roots;
	int			nroots;
	RbSnapshot *snap;
	RbViewer   *v;
	RbTarget   *targets;
	RbOutcome  *outs;
	int			n = 0;
	int			i;
	int			cap;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be NULL", PG_ARGISNULL(1) ? "dry_run" : "allow_superuser"),
				 errhint("Pass true or false.")));
	dry_run = PG_GETARG_BOOL(1);
	allow_super = PG_GETARG_BOOL(2);
	cap = rb_remedy_call_cap(fcinfo, 3);
	if (!dry_run)
		rb_require_preload("runbook.terminate_blockers()");

	InitMaterializedSRF(fcinfo, 0);
	roots = rb_lock_root_blockers(&nroots);
	snap = rb_snapshot_take(RB_SNAP_QUERY);
	v = rb_viewer_new();
	targets = palloc0(sizeof(RbTarget) * Max(nroots, 1));
	outs = palloc0(sizeof(RbOutcome) * Max(nroots, 1));

	for (i = 0; i < nroots; i++)
	{
		RbLockRoot *r = &roots[i];
		RbBackend  *b;
		RbTarget   *t;
		int64		waited;

		if (r->oldest_wait == 0)
			continue;			/* no recorded wait start yet */
		waited = snap->taken_at - r->oldest_wait;
		if (waited < min_us)
			continue;

		if (r->pid == 0)
		{
			RbTarget	pt;

			/* a prepared transaction: no backend to signal */
			memset(&pt, 0, sizeof(pt));
			pt.action = RB_ACTION_TERMINATE;
			pt.actor = "terminate_blockers";
			rb_remedy_put_row(rsinfo, v, snap->taken_at, &pt, "skipped",
							  "prepared_transaction",
							  psprintf("a prepared transaction blocks %d session%s (oldest waiting %s); "
									   "find it in pg_prepared_xacts and run COMMIT PREPARED or ROLLBACK PREPARED",
									   r->blocked, r->blocked == 1 ? "" : "s",
									   interval_text(waited)));
			continue;
		}

		t = &targets[n++];
		b = rb_snapshot_find(snap, r->pid);
		if (b)
			t->backend = *b;
		else
			t->backend.pid = r->pid;	/* gone already: the re-check says so */
		t->action = RB_ACTION_TERMINATE;
		t->actor = "terminate_blockers";
		t->flags = RB_TARGET_SAME_STATE |
			(allow_super ? RB_TARGET_ALLOW_SUPERUSER : 0);
		t->detail = psprintf("root blocker of %d session%s, the oldest waiting %s",
							 r->blocked, r->blocked == 1 ? "" : "s",
							 interval_text(waited));
	}

	if (n > 0)
		rb_remedy_apply_capped(targets, n, dry_run, cap, outs);

	for (i = 0; i < n; i++)
		rb_remedy_put_row(rsinfo, v, snap->taken_at, &targets[i],
						  rb_outcome_name(outs[i].outcome), outs[i].reason,
						  outs[i].detail ? outs[i].detail : targets[i].detail);
	PG_RETURN_VOID();
}
