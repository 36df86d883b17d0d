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
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "compat.h"

/* ---- settings (pg_runbook.c) ---- */
extern char *rb_exempt_roles;
extern int	rb_max_actions_per_cycle;
extern int	rb_audit_ring_size;
extern int	rb_test_delay_before_signal;

/* ---- shared memory (pg_runbook.c) ---- */
typedef struct RbShared
{
	LWLock	   *lock;			/* protects everything below */
	uint32		magic;
	/* audit ring (audit.c): entries follow this struct in shared memory */
	int			audit_ring_size;	/* number of entries */
	uint64		audit_next_seq; /* sequence number of the next entry (from 1) */
	TimestampTz audit_epoch;	/* when the ring was created: (epoch, seq)
								 * identifies an entry across restarts */
} RbShared;

extern RbShared *rb_shared;		/* NULL when not preloaded */
extern bool rb_preloaded;
extern void rb_require_preload(const char *feature);

/* ---- argument checking and output helpers (util.c) ---- */
extern int64 rb_interval_usecs(Interval *iv);
extern int64 rb_check_interval_arg(FunctionCallInfo fcinfo, int argno,
								   const char *argname);
extern Interval *rb_usecs_to_interval(int64 usecs);
extern Datum rb_age_datum(TimestampTz now, TimestampTz then, bool *isnull);

#endif							/* PG_RUNBOOK_H */
