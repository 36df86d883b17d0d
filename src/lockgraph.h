/*-------------------------------------------------------------------------
 *
 * lockgraph.h
 *		What the policy engine needs from the lock analysis: for a backend,
 *		the sessions waiting (directly or transitively) behind it.
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

#endif							/* PG_RUNBOOK_LOCKGRAPH_H */
