/*-------------------------------------------------------------------------
 *
 * remedy.c
 *		The only code in pg_runbook that signals a backend.
 *
 * Targets are chosen by a front end from a snapshot.  Immediately before
 * each signal the target is read again, fresh (rb_backend_read), and every
 * safety rule is applied to what is there now:
 *
 *	- the same process: same pid and same backend start time (PID reuse);
 *	- never the caller's own backend, never the pg_runbook worker, never a
 *	  process that is not a client backend;
 *	- never a session of a member of a role in pg_runbook.exempt_roles;
 *	- superuser sessions only when the caller opted in and the acting role
 *	  is superuser; otherwise the permission rules of pg_terminate_backend /
 *	  pg_cancel_backend (PG15 signalfuncs.c): membership in the session's
 *	  role or in pg_signal_backend;
 *	- when asked, the same state and state start (and the same statement);
 *	- at most max_actions sessions signalled per call.
 *
 * The work is done in four phases, so that nothing costly happens once
 * sessions start exiting (they compete with the caller for the CPU):
 *	1. re-read every target fresh (rb_backend_read) and apply every rule;
 *	2. write-ahead audit: every decision goes to the ring and the log
 *	   before any signal (planned actions marked pending);
 *	3. immediately before each signal, an O(1) lock-free re-read of the
 *	   target's status slot (rb_backend_recheck: same process, same state /
 *	   statement), then the signal, sent as the server does (kill() of the
 *	   process group, SIGTERM to terminate, SIGINT to cancel; see
 *	   signal_one); interrupts are held and nothing in the loop can fail;
 *	4. settle the audit: confirm, or correct the entries of targets that
 *	   changed or vanished in the last instant.
 *
 * Phases 2 to 4 run once per chunk of targets that fits in the audit
 * ring's free slots (rb_audit_room): the ring never overwrites an entry
 * that has not reached runbook.actions, so a call with more decisions than
 * free slots lets the audit writer copy the earlier chunks first.  Between
 * recording a chunk and settling it nothing can fail: no entry stays
 * pending.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "audit.h"
#include "remedy.h"
#include "snapshot.h"
#include "viewer.h"

int			rb_max_actions_per_call_limit = 10000;

void
rb_remedy_define_gucs(void)
{
	DefineCustomIntVariable("pg_runbook.max_actions_per_call_limit",
							"Largest max_actions a remedy function call may pass.",
							"The remedy functions take max_actions (default pg_runbook.max_actions_per_cycle); only a superuser can raise this limit.",
							&rb_max_actions_per_call_limit,
							10000, 1, 1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	rb_audit_define_gucs();
}

const char *
rb_action_name(RbAction action)
{
	return action == RB_ACTION_CANCEL ? "cancel" : "terminate";
}

const char *
rb_outcome_name(RbOutcomeKind outcome)
{
	switch (outcome)
	{
		case RB_OUTCOME_TERMINATED:
			return "terminated";
		case RB_OUTCOME_CANCELLED:
			return "cancelled";
		case RB_OUTCOME_DRY_RUN:
			return "dry_run";
		case RB_OUTCOME_SKIPPED:
			break;
	}
	return "skipped";
}

/*
 * Parse pg_runbook.exempt_roles into a list of role OIDs.  A name that is
 * not a role protects nobody: say so (a typo there is dangerous).
 */
List *
rb_exempt_role_oids(void)
{
	char	   *raw;
	List	   *names = NIL;
	List	   *oids = NIL;
	ListCell   *lc;

	if (rb_exempt_roles == NULL || rb_exempt_roles[0] == '\0')
		return NIL;
	raw = pstrdup(rb_exempt_roles);
	if (!SplitIdentifierString(raw, ',', &names))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in pg_runbook.exempt_roles"),
				 errhint("List role names separated by commas; quote names with upper case or special characters.")));
	foreach(lc, names)
	{
		char	   *name = (char *) lfirst(lc);
		Oid			oid = get_role_oid(name, true);

		if (OidIsValid(oid))
			oids = list_append_unique_oid(oids, oid);
		else
			ereport(WARNING,
					(errmsg("pg_runbook.exempt_roles names role \"%s\", which does not exist", name),
					 errhint("Sessions are exempt only through roles that exist; correct the setting.")));
	}
	return oids;
}

/* The exempt role 'roleid' is (or is a member of), or InvalidOid. */
Oid
rb_exempt_role_of(List *exempt, Oid roleid)
{
	ListCell   *lc;

	if (!OidIsValid(roleid))
		return InvalidOid;
	foreach(lc, exempt)
	{
		Oid			ex = lfirst_oid(lc);

		/* _nosuper: being superuser does not make a role a member */
		if (roleid == ex || is_member_of_role_nosuper(roleid, ex))
			return ex;
	}
	return InvalidOid;
}

/* ---------- small name caches for the audit ---------- */

typedef struct OidName
{
	Oid			oid;
	char		name[NAMEDATALEN];
} OidName;

typedef struct NameCache
{
	int			n;
	OidName		e[32];
} NameCache;

static void
cached_name(NameCache *c, Oid oid, bool is_role, char *out)
{
	int			i;
	char	   *s;

	out[0] = '\0';
	if (!OidIsValid(oid))
		return;
	for (i = 0; i < c->n; i++)
	{
		if (c->e[i].oid == oid)
		{
			strlcpy(out, c->e[i].name, NAMEDATALEN);
			return;
		}
	}
	s = is_role ? GetUserNameFromId(oid, true) : get_database_name(oid);
	if (s)
		strlcpy(out, s, NAMEDATALEN);
	if (c->n < lengthof(c->e))
	{
		c->e[c->n].oid = oid;
		strlcpy(c->e[c->n].name, out, NAMEDATALEN);
		c->n++;
	}
}

/* ---------- the rules ---------- */

/* Is this the pg_runbook background worker (or another of our workers)? */
static bool
is_pg_runbook_worker(const RbBackend *b)
{
	return b->backend_type == B_BG_WORKER &&
		strncmp(rb_backend_type_name(b), "pg_runbook", 10) == 0;
}

/*
 * Sleep for the test-only delay, interruptibly.  Compiled in only by a
 * test build (RB_TEST_HOOKS): a production build has no delay setting.
 */
static void
test_delay(void)
{
#ifdef RB_TEST_HOOKS
	TimestampTz end;

	if (rb_test_delay_before_signal <= 0)
		return;
	end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
									  rb_test_delay_before_signal);
	for (;;)
	{
		long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);

		if (ms <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
#endif
}

/*
 * Send the signal exactly as signalfuncs.c does (pg_terminate_backend,
 * pg_cancel_backend): SIGTERM or SIGINT to the backend's process group
 * where the server makes one (a running statement may have started child
 * processes, e.g. COPY ... PROGRAM), else to the process.  Every session
 * alike, whatever its state.  Returns false, with errno set, if kill()
 * failed.
 */
static bool
signal_one(const RbTarget *t)
{
	int			sig = (t->action == RB_ACTION_CANCEL) ? SIGINT : SIGTERM;

#if defined(HAVE_SETSID) || (PG_VERSION_NUM >= 160000 && !defined(WIN32))
	return kill(-t->backend.pid, sig) == 0;
#else
	return kill(t->backend.pid, sig) == 0;
#endif
}

typedef struct ApplyCtx
{
	Oid			acting;
	bool		acting_super;
	bool		signal_backend;	/* member of pg_signal_backend */
	List	   *exempt;
	NameCache	roles;
	NameCache	dbs;
	char		acting_name[NAMEDATALEN];
	char		session_name[NAMEDATALEN];
	RbViewer   *viewer;			/* what the acting role may see */
} ApplyCtx;

/*
 * Decide about one target from its fresh copy 'now'.  Returns NULL when it
 * may be signalled, otherwise the skip reason (and *detail, maybe).
 */
static const char *
judge(ApplyCtx *cx, const RbTarget *t, bool found, const RbBackend *now,
	  char **detail)
{
	const RbBackend *then = &t->backend;
	Oid			ex;

	*detail = NULL;
	if (then->pid == MyProcPid)
	{
		*detail = pstrdup("the calling session itself");
		return "own_backend";
	}
	if (!found)
		return "gone";
	if (now->backend_start != then->backend_start)
	{
		*detail = psprintf("pid %d now belongs to another process", then->pid);
		return "gone";
	}
	if (is_pg_runbook_worker(now))
		return "worker";
	if (!rb_is_client_backend(now))
	{
		*detail = psprintf("backend type %s", rb_backend_type_name(now));
		return "not_client_backend";
	}
#if PG_VERSION_NUM >= 180000

	/*
	 * 18 shows a backend still authenticating (state "starting").  It is
	 * not a client session yet, and SIGTERM there closes the connection
	 * without a word to the client (nothing is sent while authentication
	 * is in progress).  Before 18 such a backend has no status entry and
	 * is found "gone" instead.
	 */
	if (now->state == STATE_STARTING)
	{
		*detail = pstrdup("the backend is still starting (authentication): not a client session yet");
		return "not_client_backend";
	}
#endif
	ex = rb_exempt_role_of(cx->exempt, now->roleid);
	if (OidIsValid(ex))
	{
		char	   *exname = GetUserNameFromId(ex, true);

		*detail = psprintf("member of exempt role %s", exname ? exname : "?");
		return "exempt_role";
	}
	/* like signalfuncs.c: a session without a role counts as superuser's */
	if (!OidIsValid(now->roleid) || superuser_arg(now->roleid))
	{
		if (!(t->flags & RB_TARGET_ALLOW_SUPERUSER))
		{
			*detail = pstrdup("superuser session; the caller did not opt in");
			return "superuser";
		}
		if (!cx->acting_super)
		{
			*detail = pstrdup("only a superuser may signal a superuser session");
			return "permission_denied";
		}
	}
	else if (!cx->signal_backend && !has_privs_of_role(cx->acting, now->roleid))
	{
		*detail = psprintf("role %s is neither a member of the session's role nor of pg_signal_backend",
						   cx->acting_name);
		return "permission_denied";
	}
	if ((t->flags & RB_TARGET_SAME_STATE) &&
		(now->state != then->state || now->state_start != then->state_start))
	{
		const char *s = rb_state_name(now->state);

		*detail = psprintf("state is now %s", s ? s : "unknown");
		return "state_changed";
	}
	if ((t->flags & RB_TARGET_SAME_QUERY) &&
		then->state != STATE_RUNNING && then->state != STATE_FASTPATH)
	{
		const char *s = rb_state_name(then->state);

		*detail = psprintf("state is %s: no statement to cancel", s ? s : "unknown");
		return "not_active";
	}
	if ((t->flags & RB_TARGET_SAME_QUERY) &&
		(now->query_start != then->query_start ||
		 (now->state != STATE_RUNNING && now->state != STATE_FASTPATH)))
	{
		*detail = pstrdup("the statement judged has ended");
		return "state_changed";
	}
	return NULL;
}

/* Fill an audit entry from a target, the copy decided on and the outcome. */
static void
fill_entry(ApplyCtx *cx, RbAuditEntry *e, const RbTarget *t,
		   const RbBackend *b, const char *outcome, const char *reason,
		   const char *detail)
{
	memset(e, 0, sizeof(RbAuditEntry));
	e->origin_db = MyDatabaseId;
	e->pid = b->pid;
	e->backend_start = b->backend_start;
	e->xact_start = b->xact_start;
	e->query_start = b->query_start;
	e->state_start = b->state_start;
	e->state = (int) b->state;
	strlcpy(e->action, rb_action_name(t->action), sizeof(e->action));
	strlcpy(e->outcome, outcome, sizeof(e->outcome));
	if (reason)
		strlcpy(e->reason, reason, sizeof(e->reason));
	strlcpy(e->actor, t->actor ? t->actor : "unknown", sizeof(e->actor));
	strlcpy(e->acting_role, cx->acting_name, sizeof(e->acting_role));
	strlcpy(e->session_role, cx->session_name, sizeof(e->session_role));
	e->roleid = b->roleid;
	cached_name(&cx->roles, b->roleid, true, e->usename);
	cached_name(&cx->dbs, b->dbid, false, e->datname);
	strlcpy(e->appname, b->appname, sizeof(e->appname));
	if (detail && t->detail)
		snprintf(e->detail, sizeof(e->detail), "%s; %s", t->detail, detail);
	else if (detail || t->detail)
		strlcpy(e->detail, detail ? detail : t->detail, sizeof(e->detail));

	/*
	 * The audit records what the acting role was allowed to see: the query
	 * and the client address of a session it may not see in
	 * pg_stat_activity are not copied, whether it acted or was refused.
	 */
	if (!rb_viewer_can_see(cx->viewer, b->roleid) ||
		!rb_viewer_can_see(cx->viewer, t->backend.roleid))
	{
		strlcpy(e->query, RB_INSUFFICIENT_PRIVILEGE, sizeof(e->query));
		return;
	}
	rb_client_addr_text(&b->clientaddr, e->client_addr, sizeof(e->client_addr));
	/* the judged copy carries the query text (fresh reads skip it) */
	if (t->backend.query)
	{
		const char *q = t->backend.query;
		int			len = strlen(q);

		if (len >= RB_AUDIT_QUERY_LEN)
			len = pg_mbcliplen(q, len, RB_AUDIT_QUERY_LEN - 1);
		memcpy(e->query, q, len);
		e->query[len] = '\0';
	}
}

int
rb_remedy_apply(RbTarget *targets, int n, bool dry_run, RbOutcome *outcomes)
{
	return rb_remedy_apply_capped(targets, n, dry_run,
								  rb_max_actions_per_cycle, outcomes);
}

int
rb_remedy_apply_capped(RbTarget *targets, int n, bool dry_run,
					   int max_actions, RbOutcome *outcomes)
{
	ApplyCtx	cx;
	RbBackend  *fresh;
	RbAuditEntry *es = NULL;	/* the audit entries, nentries of them */
	int		   *idx = NULL;		/* es[j] is about targets[idx[j]] */
	bool	   *corrected = NULL;
	bool	   *found;
	int			nacted = 0;
	int			nentries = 0;
	int			nunaudited = 0;
	int			first_unaudited = 0;
	int			budget;
	int			done;
	int			i;

	if (!dry_run)
		rb_require_preload("signalling sessions (with its audit)");
	if (n <= 0)
		return 0;

	memset(&cx, 0, sizeof(cx));
	cx.acting = GetUserId();
	cx.acting_super = superuser();
	cx.signal_backend = has_privs_of_role(cx.acting, ROLE_PG_SIGNAL_BACKEND);
	cx.exempt = rb_exempt_role_oids();
	cached_name(&cx.roles, cx.acting, true, cx.acting_name);
	cached_name(&cx.roles, GetSessionUserId(), true, cx.session_name);
	if (!dry_run)
		cx.viewer = rb_viewer_new();

	test_delay();

	/*
	 * Phase 1: re-read every target fresh and apply every rule.  Everything
	 * that costs (catalog lookups, formatting) happens here, before the
	 * first signal: once sessions start exiting they compete with us for
	 * the CPU.
	 */
	fresh = palloc0(sizeof(RbBackend) * n);
	if (!dry_run)
	{
		es = palloc(sizeof(RbAuditEntry) * n);
		corrected = palloc0(sizeof(bool) * n);
		idx = palloc(sizeof(int) * n);
	}
	found = palloc0(sizeof(bool) * n);
	for (i = 0; i < n; i++)
	{
		RbTarget   *t = &targets[i];
		RbOutcome  *o = &outcomes[i];
		const char *reason;
		char	   *detail;

		CHECK_FOR_INTERRUPTS();
		memset(o, 0, sizeof(RbOutcome));
		found[i] = (t->backend.pid != MyProcPid) &&
			rb_backend_read(t->backend.pid, &fresh[i], 0);
		reason = judge(&cx, t, found[i], &fresh[i], &detail);
		if (reason == NULL && nacted >= max_actions)
		{
			reason = "cap_reached";
			detail = psprintf("at most %d session%s per call (max_actions)",
							  max_actions, max_actions == 1 ? "" : "s");
		}
		o->acted_at = GetCurrentTimestamp();
		if (reason != NULL)
		{
			o->outcome = RB_OUTCOME_SKIPPED;
			o->reason = reason;
			o->detail = detail;
		}
		else
		{
			nacted++;
			o->outcome = dry_run ? RB_OUTCOME_DRY_RUN :
				t->action == RB_ACTION_CANCEL ? RB_OUTCOME_CANCELLED :
				RB_OUTCOME_TERMINATED;
		}
	}
	if (dry_run)
		return nacted;

	/*
	 * The cap counts skips too: a call writes at most max_actions audit
	 * entries.  The actions (at most max_actions, in order) have them
	 * first; the skips, in order, get what is left.  A skip beyond that is
	 * reported to the caller (outcomes) but not audited, and one LOG line
	 * says how many were left out.  So a call over many sessions it may not
	 * touch cannot flood the ring and runbook.actions.
	 */
	budget = max_actions - nacted;
	for (i = 0; i < n; i++)
	{
		RbOutcome  *o = &outcomes[i];

		if (o->outcome == RB_OUTCOME_SKIPPED)
		{
			if (budget <= 0)
			{
				o->unaudited = true;
				o->detail = psprintf("%s%snot audited: this call's %d audit entries (max_actions) were used",
									 o->detail ? o->detail : "", o->detail ? "; " : "",
									 max_actions);
				if (nunaudited++ == 0)
					first_unaudited = i;
				continue;
			}
			budget--;
		}
		idx[nentries] = i;
		fill_entry(&cx, &es[nentries], &targets[i],
				   found[i] ? &fresh[i] : &targets[i].backend,
				   rb_outcome_name(o->outcome), o->reason, o->detail);
		es[nentries].acted_at = o->acted_at;
		es[nentries].pending = (o->outcome != RB_OUTCOME_SKIPPED);
		nentries++;
	}
	if (nunaudited > 0)
	{
		StringInfoData actor;

		initStringInfo(&actor);
		rb_append_escaped(&actor, targets[first_unaudited].actor ?
						  targets[first_unaudited].actor : "unknown");
		ereport(LOG,
				(errmsg("pg_runbook: actor=\"%s\" skipped %d session%s without an audit entry each: at most %d audit entries per call (max_actions counts actions and skips)",
						actor.data, nunaudited, nunaudited == 1 ? "" : "s", max_actions)));
	}

	for (done = 0; done < nentries;)
	{
		/*
		 * Room in the audit ring for the next chunk (may wait for the
		 * writer; 0 = the ring stays full: the entries are spilled to the
		 * log by rb_audit_record_batch).
		 */
		int			k = rb_audit_room(nentries - done);
		int			end;
		int			j;

		if (k <= 0)
			k = nentries - done;
		end = done + k;

		/*
		 * Phase 2: write-ahead audit.  Every decision goes to the ring (and
		 * the log) before any signal, so an action that happens is never
		 * missing; planned actions are pending until phase 4 confirms them.
		 * If the LOG lines fail, the pending entries are settled as skipped
		 * and nothing of this chunk is signalled.
		 */
		rb_audit_record_batch(&es[done], k);

		/*
		 * Phase 3: signal.  Immediately before each signal, re-read the
		 * target's status slot (O(1), no lock) and require the same process
		 * and, when asked, the same state / statement.  Nothing in this
		 * loop can fail, and interrupts are held: all of it runs or none.
		 */
		HOLD_INTERRUPTS();
		for (j = done; j < end; j++)
		{
			RbTarget   *t = &targets[idx[j]];
			RbOutcome  *o = &outcomes[idx[j]];
			RbBackend	now;
			const char *reason = NULL;

			i = idx[j];

			if (o->outcome == RB_OUTCOME_SKIPPED)
				continue;
			if (!rb_backend_recheck(&fresh[i], &now) ||
				now.backend_start != fresh[i].backend_start)
				reason = "gone";
			else if ((t->flags & RB_TARGET_SAME_STATE) &&
					 (now.state != t->backend.state ||
					  now.state_start != t->backend.state_start))
				reason = "state_changed";
			else if ((t->flags & RB_TARGET_SAME_QUERY) &&
					 (now.query_start != t->backend.query_start ||
					  (now.state != STATE_RUNNING && now.state != STATE_FASTPATH)))
				reason = "state_changed";
			else if (!signal_one(t))
				reason = (errno == ESRCH) ? "gone" : "signal_failed";
			if (reason)
			{
				o->outcome = RB_OUTCOME_SKIPPED;
				o->reason = reason;
				o->detail = "changed or ended just before the signal";
				corrected[j] = true;
				nacted--;
				strlcpy(es[j].outcome, "skipped", sizeof(es[j].outcome));
				strlcpy(es[j].reason, reason, sizeof(es[j].reason));
				strlcpy(es[j].detail, o->detail, sizeof(es[j].detail));
			}
		}

		/*
		 * Phase 4: confirm the signals, correct the entries of those
		 * skipped.  Still with interrupts held, so that no entry stays
		 * pending.
		 */
		rb_audit_settle(&es[done], k, &corrected[done]);
		RESUME_INTERRUPTS();

		/*
		 * The table copy, in a transaction of its own (not on a standby).
		 * The policy worker copies in its own transaction at the end of
		 * its cycle, unless the ring needs room before that.
		 */
		if (!rb_am_background_worker() || end < nentries)
			rb_audit_launch_writer();
		done = end;
	}

	return nacted;
}
