/*-------------------------------------------------------------------------
 *
 * snapshot.h
 *		Plain-array copies of backend status and PGPROC.  snapshot.c is the
 *		only code that reads these shared structures.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_SNAPSHOT_H
#define PG_RUNBOOK_SNAPSHOT_H

#include "postgres.h"

#include "libpq/pqcomm.h"
#include "miscadmin.h"
#include "utils/backend_status.h"

typedef struct RbBackend
{
	int			slot;			/* index in the backend status array */
	int			pid;
	BackendType backend_type;
	Oid			dbid;
	Oid			roleid;
	TimestampTz backend_start;
	TimestampTz xact_start;		/* 0 if none */
	TimestampTz query_start;	/* 0 if none */
	TimestampTz state_start;	/* 0 if none */
	BackendState state;
	uint32		wait_event_info;
	TimestampTz wait_start;		/* lock wait started (0 if not waiting) */
	TransactionId xid;			/* top-level xid, or invalid */
	TransactionId xmin;			/* snapshot xmin, or invalid */
	int			leader_pid;		/* lock-group leader of a parallel worker */
	bool		is_bgworker;	/* PGPROC says: background worker */
	uint64		query_id;
	SockAddr	clientaddr;
	char		appname[NAMEDATALEN];
	char		clienthost[NAMEDATALEN];
	char	   *query;			/* clipped copy; NULL unless RB_SNAP_QUERY */
} RbBackend;

typedef struct RbSnapshot
{
	TimestampTz taken_at;		/* when the copy was complete */
	int			nbackends;
	RbBackend  *backends;		/* palloc'd, in status-array order */
} RbSnapshot;

/* flags */
#define RB_SNAP_QUERY		0x01	/* copy the query text */

extern RbSnapshot *rb_snapshot_take(int flags);
extern bool rb_backend_read(int pid, RbBackend *out, int flags);
extern bool rb_backend_recheck(const RbBackend *judged, RbBackend *out);
extern RbBackend *rb_snapshot_find(RbSnapshot *snap, int pid);
/* does a process with this pid (not 0) have a PGPROC now? */
extern bool rb_process_alive(int pid);
/* would an ordinary role's new connection find a slot (no 53300) now? */
extern bool rb_ordinary_slot_free(void);
extern bool rb_procs_free(int n);

/* descriptions */
extern const char *rb_state_name(BackendState state);
extern bool rb_state_parse(const char *name, BackendState *state);
extern const char *rb_backend_type_name(const RbBackend *b);
extern bool rb_is_client_backend(const RbBackend *b);

#endif							/* PG_RUNBOOK_SNAPSHOT_H */
