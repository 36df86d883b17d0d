/*-------------------------------------------------------------------------
 *
 * remedy.c
 *		The only code that signals a backend.
 *
 * rb_remedy_apply() takes targets chosen from a snapshot and, for each, in
 * order and immediately before its signal:
 *   - re-reads the backend fresh (snapshot.c) and checks that the pid still
 *     belongs to the same backend (same backend start: pids are reused) and,
 *     if asked, is still in the judged state since the judged moment;
 *   - applies every safety rule of DESIGN.md section 3: never the caller's
 *     own backend, never the worker, never a process that is not a client
 *     backend, never a member of pg_runbook.exempt_roles, superuser sessions
 *     only by a superuser who opted in, the permission rules of
 *     pg_terminate_backend(), and a cap per call or cycle;
 *   - signals the way the server does (SIGINT / SIGTERM to the backend's
 *     process group) or, in a dry run, says what it would have done.
 * Every outcome of a real run, skips included, is audited (audit.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

#include "pg_runbook.h"
#include "audit.h"
#include "remedy.h"
#include "worker.h"

int			rb_test_delay_ms = 0;

const char *
rb_action_name(RbAction a)
{
	switch (a)
	{
		case RB_ACTION_LOG:
			return "log";
		case RB_ACTION_CANCEL:
			return "cancel";
		case RB_ACTION_TERMINATE:
			return "terminate";
	}
	return "?";
}

/*
 * Is the role a member (directly or not) of a role listed in
 * pg_runbook.exempt_roles?  Superuser status does not make a role a member.
 */
static bool
is_exempt(Oid roleid)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	bool		exempt = false;

	if (rb_exempt_roles == NULL || rb_exempt_roles[0] == '\0')
		return false;
	raw = pstrdup(rb_exempt_roles);
	if (!SplitIdentifierString(raw, ',', &names))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pg_runbook.exempt_roles is not a valid list of role names: \"%s\"",
						rb_exempt_roles),
				 errhint("Use a comma-separated list of role names, double-quoting names as in SQL.")));
	foreach(lc, names)
	{
		Oid			exempt_oid = get_role_oid((char *) lfirst(lc), true);

		if (OidIsValid(exempt_oid) &&
			(exempt_oid == roleid || is_member_of_role_nosuper(roleid, exempt_oid)))
		{
			exempt = true;
			break;
		}
	}
	list_free(names);
	pfree(raw);
	return exempt;
}

/* Send the signal like pg_signal_backend(): to the process group. */
static bool
send_signal(int pid, int sig)
{
#ifdef HAVE_SETSID
	if (kill(-pid, sig) == 0)
		return true;
#else
	if (kill(pid, sig) == 0)
		return true;
#endif
	ereport(WARNING,
			(errmsg("could not send signal to process %d: %m", pid)));
	return false;
}

/*
 * The reason the target must be skipped now, or NULL if it may be signalled.
 * 'cur' is the fresh re-read.
 */
static const char *
check_target(RbTarget *t, RbBackend *cur, bool found, int worker_pid)
{
	RbBackend  *j = &t->judged;
	Oid			role;

	if (!found || cur->backend_start != j->backend_start)
		return "gone";			/* exited, or its pid now names another backend */
	if (cur->pid == MyProcPid)
		return "own_backend";
	if (worker_pid != 0 && cur->pid == worker_pid)
		return "worker";
	if (!rb_is_client_backend(cur))
		return "not_client_backend";
	if (t->require_same_state &&
		(cur->state != j->state || cur->state_start != j->state_start))
		return "state_changed";
	role = cur->roleid;
	if (!OidIsValid(role))
		return "not_client_backend";
	if (is_exempt(role))
		return "exempt_role";
	if (superuser_arg(role))
	{
		if (!superuser())
			return "permission_denied";
		if (!t->allow_superuser)
			return "superuser";
	}
	if (!has_privs_of_role(GetUserId(), role) &&
		!has_privs_of_role(GetUserId(), ROLE_PG_SIGNAL_BACKEND))
		return "permission_denied";
	return NULL;
}

/*
 * Apply the targets in order.  outcomes[] gets one entry per target.
 * Actions beyond pg_runbook.max_actions_per_cycle are skipped as
 * cap_reached (dry runs count what they would have done).
 */
void
rb_remedy_apply(RbTarget *targets, int n, RbOutcome *outcomes)
{
	int			acted = 0;
	int			worker_pid = rb_worker_pid();
	bool		audit_any = false;
	int			i;

	/* a real action must be audited: that needs the shared-memory ring */
	for (i = 0; i < n; i++)
		if (!targets[i].dry_run)
			rb_require_preload("a remedy that is not a dry run");

	for (i = 0; i < n; i++)
	{
		RbTarget   *t = &targets[i];
		RbOutcome  *o = &outcomes[i];
		const char *skip;

		memset(o, 0, sizeof(RbOutcome));
		CHECK_FOR_INTERRUPTS();

		if (rb_test_delay_ms > 0 && t->action != RB_ACTION_LOG)
			pg_usleep(rb_test_delay_ms * 1000L);

		o->found = rb_backend_read(t->judged.pid, &o->current, RB_SNAP_QUERY);
		skip = check_target(t, &o->current, o->found, worker_pid);
		if (skip == NULL && t->action != RB_ACTION_LOG &&
			acted >= rb_max_actions_per_cycle)
			skip = "cap_reached";

		if (!t->dry_run)
			audit_any = true;
		if (skip)
		{
			o->outcome = "skipped";
			o->reason = skip;
			continue;
		}
		if (t->action == RB_ACTION_LOG)
		{
			o->outcome = t->dry_run ? "dry_run" : "logged";
			continue;
		}
		acted++;
		if (t->dry_run)
		{
			o->outcome = "dry_run";
			continue;
		}
		if (send_signal(o->current.pid,
						t->action == RB_ACTION_TERMINATE ? SIGTERM : SIGINT))
		{
			o->outcome = t->action == RB_ACTION_TERMINATE ? "terminated" : "cancelled";
			o->signalled = true;
		}
		else
		{
			o->outcome = "skipped";
			o->reason = "signal_failed";
		}
	}

	if (audit_any)
		rb_audit_record(targets, outcomes, n);
}
