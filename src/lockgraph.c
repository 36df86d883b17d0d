/*-------------------------------------------------------------------------
 *
 * lockgraph.c
 *		What the policy engine needs from the lock analysis: for a backend,
 *		the sessions waiting (directly or transitively) behind it, and
 *		whether it is itself waiting on a heavyweight lock.  A thin
 *		adapter over the wait-for graph (locks.c) of a lock snapshot the
 *		caller took (rb_lockshot_take_if_waiting: NULL when no backend of
 *		the cycle's snapshot waits on a lock).  Analysis: reads nothing
 *		shared.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_runbook.h"
#include "lockgraph.h"
#include "locks.h"
#include "lockshot.h"

struct RbLockGraph
{
	RbWaitGraph *wg;			/* NULL when nobody waits on a lock */
};

RbLockGraph *
rb_lock_graph_build(RbLockShot *shot)
{
	RbLockGraph *g = palloc0(sizeof(RbLockGraph));

	if (shot != NULL)
		g->wg = rb_wait_graph_build(shot);
	return g;
}

/*
 * Lock groups waiting behind 'pid' (a session, or the leader of a parallel
 * query), directly or through others; cycle-safe.  *wait_starts gets the
 * earliest recorded wait start of each (0 if not recorded).
 */
int
rb_lock_graph_waiters_behind(RbLockGraph *g, int pid, TimestampTz **wait_starts)
{
	int		   *nodes;
	int			n,
				i;

	if (g->wg == NULL)
	{
		*wait_starts = palloc(sizeof(TimestampTz));
		return 0;
	}
	n = rb_wait_graph_behind(g->wg, pid, &nodes);
	*wait_starts = palloc(sizeof(TimestampTz) * Max(n, 1));
	for (i = 0; i < n; i++)
		(*wait_starts)[i] = g->wg->nodes[nodes[i]].wait_start;
	pfree(nodes);
	return n;
}

/*
 * Does the lock group of 'pid' (a session, or the leader of a parallel
 * query whose workers wait) wait on a heavyweight lock?  *root_pid gets the
 * root blocker at the head of its wait (0 for a prepared transaction), or
 * -1 when there is none (a wait-for cycle).
 */
bool
rb_lock_graph_waiting(RbLockGraph *g, int pid, int *root_pid)
{
	int			v;
	RbLockNode *n;

	*root_pid = -1;
	if (g == NULL || g->wg == NULL)
		return false;
	v = rb_wait_graph_node(g->wg, pid);
	if (v < 0)
		return false;
	n = &g->wg->nodes[v];
	if (!n->waiting)
		return false;
	if (n->root >= 0)
		*root_pid = g->wg->nodes[n->root].pid;
	return true;
}
