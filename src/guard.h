/*-------------------------------------------------------------------------
 *
 * guard.h
 *		The worker's cheap check for memory and disk guards (guard.c):
 *		between cycles, while a guard policy is enabled, read the memory
 *		counters and statvfs the filesystems every 250 ms at most (more
 *		often near a mark),
 *		and say when a cycle (with /proc per backend) is due.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_GUARD_H
#define PG_RUNBOOK_GUARD_H

#include "postgres.h"

#include "hostshot.h"
#include "policy.h"

/* longest and shortest time between two cheap checks, and at a mark */
#define RB_GUARD_TICK_MS		250
#define RB_GUARD_MIN_TICK_MS	10
#define RB_GUARD_AT_MARK_TICK_MS	25

/*
 * After a cycle: what to watch (the guards of 'set'; the locations of
 * 'host', if any) and whether a guard acted.  'triggered': the cycle was
 * run because the check said so.
 */
extern void rb_guard_after_cycle(const RbPolicySet *set, const RbHostShot *host,
								 bool triggered, bool acted);
/* no guard to watch (paused, enforce off, no policies, a failed cycle) */
extern void rb_guard_off(void);
/* is a guard being watched? */
extern bool rb_guard_watching(void);
/*
 * The cheap check: true when a cycle is due now.  *next_ms: when to check
 * again (shorter while a figure rises fast towards its mark).
 */
extern bool rb_guard_check(long *next_ms);

/* the host snapshot for a cycle that evaluates 'set' over 'snap' */
extern RbHostShot *rb_guard_take(const RbPolicySet *set, const RbSnapshot *snap);
extern void rb_guard_mark_settling(RbHostShot *host);

#endif							/* PG_RUNBOOK_GUARD_H */
