/*-------------------------------------------------------------------------
 *
 * lockgraph.h
 *		What the policy engine needs from the lock analysis: for a backend,
 *		the sessions waiting (directly or transitively) behind it, and
 *		whether it waits on a heavyweight lock itself (and behind whom).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_LOCKGRAPH_H
#define PG_RUNBOOK_LOCKGRAPH_H

#include "postgres.h"

#include "lockshot.h"

typedef struct RbLockGraph RbLockGraph;

extern RbLockGraph *rb_lock_graph_build(RbLockShot *shot);
extern int	rb_lock_graph_waiters_behind(RbLockGraph *g, int pid,
										 TimestampTz **wait_starts);
extern bool rb_lock_graph_waiting(RbLockGraph *g, int pid, int *root_pid);

#endif							/* PG_RUNBOOK_LOCKGRAPH_H */
