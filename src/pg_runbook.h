/*-------------------------------------------------------------------------
 *
 * pg_runbook.h
 *		Declarations shared by all pg_runbook modules: settings, the shared
 *		memory area, small helpers for argument checking and output.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_H
#define PG_RUNBOOK_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "compat.h"

/* ---- settings (pg_runbook.c) ---- */
extern char *rb_exempt_roles;
extern int	rb_max_actions_per_cycle;
extern int	rb_audit_ring_size;
#ifdef RB_TEST_HOOKS
extern int	rb_test_delay_before_signal;
#endif

/* worker settings */
typedef enum RbEnforce
{
	RB_ENFORCE_OFF,
	RB_ENFORCE_LOG,
	RB_ENFORCE_ON
} RbEnforce;

extern char *rb_database;
extern int	rb_naptime_ms;
extern int	rb_enforce;
extern bool rb_act_on_standby;
extern const char *rb_enforce_name(void);

/* ---- shared memory (pg_runbook.c) ---- */

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
	LWLock	   *lock;			/* protects everything below */
	uint32		magic;
	pg_atomic_uint32 nclients;	/* client backends past authentication (the
								 * connection hook's cheap count) */
	RbWorkerState worker;
	/* audit ring (audit.c): entries follow this struct in shared memory */
	int			audit_ring_size;	/* number of entries */
	uint64		audit_next_seq; /* sequence number of the next entry (from 1) */
	TimestampTz audit_epoch;	/* when the ring was created: (epoch, seq)
								 * identifies an entry across restarts */
} RbShared;

extern RbShared *rb_shared;		/* NULL when not preloaded */
extern void rb_require_preload(const char *feature);

/* ---- argument checking and output helpers (util.c) ---- */
extern int64 rb_interval_usecs(Interval *iv);
extern int64 rb_check_interval_arg(FunctionCallInfo fcinfo, int argno,
								   const char *argname);
extern Interval *rb_usecs_to_interval(int64 usecs);
extern Datum rb_age_datum(TimestampTz now, TimestampTz then, bool *isnull);

/* ---- privilege safety (security.c) ---- */
extern void rb_worker_fixed_environment(void);
extern void rb_append_escaped(StringInfo s, const char *val);
extern char *rb_escape_text(const char *val);

#endif							/* PG_RUNBOOK_H */
