/*-------------------------------------------------------------------------
 *
 * audit.h
 *		Audit of remedies (audit.c): a shared-memory ring that survives
 *		rollbacks and works on standbys, rows in runbook.actions on a
 *		primary, and one structured LOG line per action.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_AUDIT_H
#define PG_RUNBOOK_AUDIT_H

#include "postgres.h"

#include "remedy.h"

#define RB_AUDIT_QUERY_LEN	512

typedef struct RbAuditEntry
{
	uint64		seq;			/* 0 = unused slot */
	TimestampTz acted_at;
	int			pid;
	char		usename[NAMEDATALEN];
	char		datname[NAMEDATALEN];
	char		appname[NAMEDATALEN];
	char		client[64];
	char		state[32];
	int64		state_age_us;	/* -1 = unknown */
	int64		xact_age_us;
	int64		query_age_us;
	char		action[12];
	char		outcome[12];
	char		reason[32];
	char		actor[NAMEDATALEN + 8];
	char		acting_role[NAMEDATALEN];
	char		detail[256];
	char		query[RB_AUDIT_QUERY_LEN];
} RbAuditEntry;

typedef struct RbAuditRing
{
	uint64		next_seq;		/* seq of the next entry (starts at 1) */
	int			size;			/* entries */
	RbAuditEntry entries[FLEXIBLE_ARRAY_MEMBER];
} RbAuditRing;

extern int	rb_audit_ring_size;

extern Size rb_audit_shmem_size(void);
extern void rb_audit_shmem_init(RbAuditRing *ring, bool found);
extern void rb_audit_record(RbTarget *targets, RbOutcome *outcomes, int n);

#endif							/* PG_RUNBOOK_AUDIT_H */
