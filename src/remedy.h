/*-------------------------------------------------------------------------
 *
 * remedy.h
 *		The one path that signals backends (remedy.c).  Callers choose
 *		targets from a snapshot; rb_remedy_apply() re-checks each target
 *		fresh, applies every safety rule, signals, and audits (audit.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_REMEDY_H
#define PG_RUNBOOK_REMEDY_H

#include "postgres.h"

#include "snapshot.h"

typedef enum RbAction
{
	RB_ACTION_LOG,				/* record only, never signal */
	RB_ACTION_CANCEL,			/* SIGINT: cancel the running statement */
	RB_ACTION_TERMINATE			/* SIGTERM: end the session */
} RbAction;

typedef struct RbTarget
{
	RbBackend	judged;			/* the snapshot entry the decision was made on */
	RbAction	action;
	const char *actor;			/* "kill_idle", "terminate_blockers", "policy:<name>" */
	const char *detail;			/* why it was chosen, for the audit (or NULL) */
	bool		allow_superuser;	/* the rule or argument opts in */
	bool		require_same_state; /* state and state start must be unchanged */
	bool		dry_run;
} RbTarget;

typedef struct RbOutcome
{
	const char *outcome;		/* terminated | cancelled | logged | dry_run | skipped */
	const char *reason;			/* why skipped, else NULL */
	bool		signalled;
	bool		found;			/* 'current' is valid */
	RbBackend	current;		/* the fresh re-read the decision used */
} RbOutcome;

extern const char *rb_action_name(RbAction a);
extern void rb_remedy_apply(RbTarget *targets, int n, RbOutcome *outcomes);

/* test-only: pause between selection and re-check (pg_runbook.test_delay_before_signal) */
extern int	rb_test_delay_ms;

#endif							/* PG_RUNBOOK_REMEDY_H */
