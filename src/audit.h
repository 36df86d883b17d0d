/*-------------------------------------------------------------------------
 *
 * audit.h
 *		The audit of remediation (audit.c): a shared-memory ring of every
 *		action and skip, the structured LOG line, and the writer that copies
 *		the ring into the table runbook.actions on a primary.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_AUDIT_H
#define PG_RUNBOOK_AUDIT_H

#include "postgres.h"

#include "libpq/pqcomm.h"
#include "utils/backend_status.h"
#include "utils/timestamp.h"

#define RB_AUDIT_CLIENT_LEN		64
#define RB_AUDIT_REASON_LEN		32
#define RB_AUDIT_DETAIL_LEN		160
#define RB_AUDIT_QUERY_LEN		256

/*
 * One audit record: a fixed-size copy of everything the DBA needs, so that
 * it can live in shared memory.  Strings are always '\0'-terminated.
 */
typedef struct RbAuditEntry
{
	uint64		seq;			/* 0 = empty slot (or, in a caller's copy, an
								 * entry that found no free slot: spilled to
								 * the log only); assigned by
								 * rb_audit_record_batch */
	bool		in_table;		/* copied into runbook.actions (committed) */
	bool		pending;		/* signal not sent yet: not copied to the table */
	bool		log_only;		/* no table will take it (recorded on a
								 * standby, or the extension is gone from its
								 * database): the LOG line is its record */
	Oid			origin_db;		/* database whose runbook.actions gets it */
	TimestampTz acted_at;
	int			pid;
	TimestampTz backend_start;
	TimestampTz xact_start;		/* 0 if none */
	TimestampTz query_start;	/* 0 if none */
	TimestampTz state_start;	/* 0 if none */
	int			state;			/* BackendState */
	Oid			roleid;			/* the session's role: who may read the
								 * query and client address */
	char		action[16];		/* "cancel" | "terminate" */
	char		outcome[16];	/* "terminated" | "cancelled" | "skipped" */
	char		reason[RB_AUDIT_REASON_LEN];	/* why skipped, or "" */
	char		actor[NAMEDATALEN];	/* function or "policy:<name>" */
	char		acting_role[NAMEDATALEN];	/* current_user */
	char		session_role[NAMEDATALEN];	/* session_user */
	char		usename[NAMEDATALEN];
	char		datname[NAMEDATALEN];
	char		appname[NAMEDATALEN];
	char		client_addr[RB_AUDIT_CLIENT_LEN];	/* numeric host, "" = local */
	char		detail[RB_AUDIT_DETAIL_LEN];
	char		query[RB_AUDIT_QUERY_LEN];	/* truncated */
} RbAuditEntry;

/* shared memory, the area "pg_runbook audit" (called from pg_runbook.c) */
extern void rb_audit_shmem_request(void);
extern void rb_audit_shmem_startup(void);

/* settings (defined by rb_audit_define_gucs, called from pg_runbook.c) */
extern int	rb_audit_wait_ms;
extern void rb_audit_define_gucs(void);

/*
 * The ring never overwrites an entry that has not reached runbook.actions
 * (on a primary).  rb_audit_room(want) returns how many of the next 'want'
 * entries have a free slot (at least 1); when none is free it starts the
 * audit writer and waits for it, up to pg_runbook.audit_wait, and returns
 * 0 if the ring is still full (the entries recorded then are spilled:
 * written to the log only, and counted in runbook.audit_status()).
 * Interruptible; call it before recording, never between recording and
 * settling.
 */
extern int	rb_audit_room(int want);

/*
 * Write entries to the ring (seq and in_table are set here; entries get
 * consecutive numbers) and to the log.  Entries marked pending are actions
 * about to be taken: rb_audit_settle() then confirms them, or rewrites those
 * flagged in 'corrected' (outcome, reason, detail) and logs the correction.
 * If writing the LOG lines fails, the batch's pending entries are settled
 * as skipped (reason audit_error) before the error propagates: no entry
 * stays pending.  An entry that finds no free slot gets seq 0: it is
 * spilled (LOG line only, with spilled=true).
 */
extern void rb_audit_record_batch(RbAuditEntry *es, int n);
extern void rb_audit_settle(RbAuditEntry *es, int n, const bool *corrected);

/*
 * Audit a control action that is not a signal (pause_worker(),
 * resume_worker()): action "pause" / "resume", outcome "paused" /
 * "resumed", or "skipped" with 'skip_reason' when nothing changed; 'pid'
 * is the process concerned (0 if none).  Fills the acting and session
 * roles, records, and starts the audit writer.
 */
extern void rb_audit_record_control(const char *action, const char *outcome,
									const char *skip_reason, int pid,
									const char *detail);

/* current_user and session_user names, for an entry */
extern void rb_audit_fill_roles(RbAuditEntry *e);

/*
 * Copying the ring into runbook.actions.  rb_audit_flush() inserts the
 * entries of this database that are not in the table yet, in the current
 * transaction, and marks them as copied only when that transaction
 * commits (for callers that have their own transaction, such as the
 * background worker).  rb_audit_launch_writer() starts a short-lived
 * background worker that does the same in its own transaction, so rows
 * survive the caller's rollback; it does nothing on a standby, and nothing
 * while a writer runs or is starting (at most one writer at a time: the
 * running writer copies the entries of every database in turn before it
 * exits).  Only callers that recorded something start it: monitoring
 * functions never do.
 */
extern int	rb_audit_flush(void);
extern void rb_audit_launch_writer(void);

PGDLLEXPORT void rb_audit_writer_main(Datum arg);

#endif							/* PG_RUNBOOK_AUDIT_H */
