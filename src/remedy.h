/*-------------------------------------------------------------------------
 *
 * remedy.h
 *		The one path that signals a backend (remedy.c).  Front ends (SQL
 *		functions, terminate_blockers, the background worker) choose targets
 *		from a snapshot and hand them here; remedy.c re-reads every target
 *		just before its signal, applies every safety rule of DESIGN.md §3,
 *		signals the way pg_terminate_backend / pg_cancel_backend do, and
 *		writes the audit (audit.c) for real runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_REMEDY_H
#define PG_RUNBOOK_REMEDY_H

#include "postgres.h"

#include "snapshot.h"

typedef enum RbAction
{
	RB_ACTION_CANCEL,			/* SIGINT: cancel the running statement */
	RB_ACTION_TERMINATE			/* SIGTERM: end the session */
} RbAction;

typedef enum RbOutcomeKind
{
	RB_OUTCOME_TERMINATED,
	RB_OUTCOME_CANCELLED,
	RB_OUTCOME_DRY_RUN,
	RB_OUTCOME_SKIPPED
} RbOutcomeKind;

/* RbTarget.flags */
#define RB_TARGET_ALLOW_SUPERUSER	0x01	/* caller opted in to superuser
											 * sessions (acting role must be
											 * superuser too) */
#define RB_TARGET_SAME_STATE		0x02	/* state and state start must be
											 * unchanged */
#define RB_TARGET_SAME_QUERY		0x04	/* query start must be unchanged
											 * (the same statement); a session
											 * judged not active is skipped as
											 * not_active */

typedef struct RbTarget
{
	RbBackend	backend;		/* the copy that was judged (from a snapshot) */
	RbAction	action;
	const char *actor;			/* "kill_idle", "cancel_long",
								 * "terminate_blockers", "policy:<name>" */
	int			flags;			/* RB_TARGET_* */
	const char *detail;			/* optional free text for the audit, or NULL */
} RbTarget;

typedef struct RbOutcome
{
	RbOutcomeKind outcome;
	const char *reason;			/* skip reason (static string), NULL if acted */
	char	   *detail;			/* palloc'd explanation of a skip, or NULL */
	TimestampTz acted_at;		/* when decided / signalled */
	bool		unaudited;		/* a skip of a real run beyond the call's
								 * audit budget (max_actions counts actions
								 * and skips): reported, not audited */
} RbOutcome;

/*
 * Apply targets in array order (put the most important first: the cap
 * keeps the first ones).  Fills outcomes[i] for every target.  A real run
 * (dry_run false) needs the library preloaded and audits every action and
 * skip up to the cap: at most max_actions entries per call, the actions
 * first, then the skips in order; a skip beyond is marked unaudited (and
 * counted in one LOG line).  Returns the number of sessions signalled (or,
 * in a dry run, that would be).
 *
 * rb_remedy_apply caps at pg_runbook.max_actions_per_cycle; the _capped
 * variant takes the cap (a worker cycle spanning several calls passes what
 * is left of its budget).
 *
 * Audit: entries go to the ring and the log here.  The copy into
 * runbook.actions is made by the audit writer, started here, in its own
 * transaction -- except in a background worker, which has a transaction of
 * its own and should call rb_audit_flush() (audit.h) in it instead.
 *
 * Identity of "the pg_runbook worker" (never signalled, reason "worker"):
 * any background worker whose bgw_type starts with "pg_runbook".
 */
extern int	rb_remedy_apply(RbTarget *targets, int n, bool dry_run,
							RbOutcome *outcomes);
extern int	rb_remedy_apply_capped(RbTarget *targets, int n, bool dry_run,
								   int max_actions, RbOutcome *outcomes);

/* pg_runbook.max_actions_per_call_limit, and the settings' definition */
extern int	rb_max_actions_per_call_limit;
extern void rb_remedy_define_gucs(void);

/* "cancel" / "terminate" and "terminated" / "cancelled" / ... */
extern const char *rb_action_name(RbAction action);
extern const char *rb_outcome_name(RbOutcomeKind outcome);

/* role OIDs named by pg_runbook.exempt_roles (unknown names warned about) */
extern List *rb_exempt_role_oids(void);
/* the exempt role the given role is a member of, or InvalidOid */
extern Oid	rb_exempt_role_of(List *exempt, Oid roleid);

#endif							/* PG_RUNBOOK_REMEDY_H */
