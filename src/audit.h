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
	uint64		seq;			/* 0 = empty slot; assigned by rb_audit_record_batch */
	bool		in_table;		/* copied into runbook.actions (committed) */
	bool		pending;		/* signal not sent yet: not copied to the table */
	Oid			origin_db;		/* database whose runbook.actions gets it */
	TimestampTz acted_at;
	int			pid;
	TimestampTz backend_start;
	TimestampTz xact_start;		/* 0 if none */
	TimestampTz query_start;	/* 0 if none */
	TimestampTz state_start;	/* 0 if none */
	int			state;			/* BackendState */
	char		action[16];		/* "cancel" | "terminate" */
	char		outcome[16];	/* "terminated" | "cancelled" | "skipped" */
	char		reason[RB_AUDIT_REASON_LEN];	/* why skipped, or "" */
	char		actor[NAMEDATALEN];	/* function or "policy:<name>" */
	char		acting_role[NAMEDATALEN];
	char		usename[NAMEDATALEN];
	char		datname[NAMEDATALEN];
	char		appname[NAMEDATALEN];
	char		client_addr[RB_AUDIT_CLIENT_LEN];	/* numeric host, "" = local */
	char		detail[RB_AUDIT_DETAIL_LEN];
	char		query[RB_AUDIT_QUERY_LEN];	/* truncated */
} RbAuditEntry;

/* shared memory (called from pg_runbook.c) */
extern Size rb_audit_shmem_size(void);
extern void rb_audit_shmem_init(void *ring);

/*
 * Write entries to the ring (seq and in_table are set here; entries get
 * consecutive numbers) and to the log.  Entries marked pending are actions
 * about to be taken: rb_audit_settle() then confirms them, or rewrites those
 * flagged in 'corrected' (outcome, reason, detail) and logs the correction.
 */
extern void rb_audit_record_batch(RbAuditEntry *es, int n);
extern void rb_audit_settle(RbAuditEntry *es, int n, const bool *corrected);

/* numeric client address of a session, "" for a Unix socket / unknown */
extern void rb_client_addr_text(const SockAddr *sa, char *buf, size_t len);

/*
 * Copying the ring into runbook.actions.  rb_audit_flush() inserts the
 * entries of this database that are not in the table yet, in the current
 * transaction, and marks them as copied only when that transaction
 * commits (for callers that have their own transaction, such as the
 * background worker).  rb_audit_launch_writer() starts a short-lived
 * background worker that does the same in its own transaction, so rows
 * survive the caller's rollback; it does nothing on a standby.
 */
extern int	rb_audit_flush(void);
extern void rb_audit_launch_writer(void);

PGDLLEXPORT void rb_audit_writer_main(Datum arg);

#endif							/* PG_RUNBOOK_AUDIT_H */
