/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		pg_runbook's main shared-memory area (shmem.c): the LWLock that
 *		protects it and the audit ring, the connection count of the
 *		connection hook, and the policy worker's state.  A leaf: shmem.c
 *		calls nothing of pg_runbook.  The audit ring (audit.c) and the
 *		flight recorder (history.c) own areas of their own; _PG_init
 *		(pg_runbook.c) requests and initialises each.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_SHMEM_H
#define PG_RUNBOOK_SHMEM_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

/* The worker's state, for worker_status() and pause/resume. */
typedef struct RbWorkerState
{
	int			pid;			/* 0 when not running */
	Oid			dbid;
	bool		paused;
	TimestampTz started_at;
	uint64		cycles;
	uint64		actions;
	TimestampTz last_cycle_at;
	double		last_cycle_ms;
	double		total_cycle_ms;
	double		max_cycle_ms;
	TimestampTz next_wakeup;
	int			npolicies;
	char		last_error[256];
	TimestampTz last_error_at;
	TimestampTz last_success_at;	/* end of the last cycle that succeeded */
	int			consecutive_errors; /* failed cycles or starts since a success */
	bool		connecting;		/* set while connecting: still set at the next
								 * start means the connection attempt failed */
	char		told_db_missing[NAMEDATALEN];	/* database said missing */
	Latch	   *latch;			/* the worker's latch (wake-ups) */
	int			wake_at_clients;	/* the connection hook wakes the worker when
									 * client backends reach this; 0 = never */
	int			lock_waiters;	/* heavyweight-lock waiters seen by the last
								 * cycle's probe */
	uint64		event_wakeups;	/* cycles started by a connection or lock event */
} RbWorkerState;

typedef struct RbShared
{
	LWLock	   *lock;			/* protects everything below, and the audit
								 * ring (audit.c) */
	uint32		magic;
	pg_atomic_uint32 nclients;	/* client backends past authentication (the
								 * connection hook's cheap count) */
	pg_atomic_uint32 wall_waiters;	/* connections waiting at the wall now
									 * (wall.c) */
	pg_atomic_uint32 wall_peak_waiters;	/* most waiting at once */
	pg_atomic_uint64 wall_waits;	/* connections that waited, in total */
	pg_atomic_uint64 wall_last_arrival;	/* when an ordinary connection last
										 * reached the wall (TimestampTz) */
	pg_atomic_uint64 wall_not_waited;	/* ordinary connections at the wall
										 * that did not wait: no room */
	RbWorkerState worker;
} RbShared;

extern RbShared *rb_shared;		/* NULL when not preloaded */
extern void rb_require_preload(const char *feature);

/* called from the shared-memory hooks of pg_runbook.c */
extern void rb_shmem_request(void);
extern void rb_shmem_startup(void);

#endif							/* PG_RUNBOOK_SHMEM_H */
