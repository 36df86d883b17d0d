/*-------------------------------------------------------------------------
 *
 * lockgraph.c
 *		What the policy engine needs from the lock analysis: for a backend,
 *		the sessions waiting (directly or transitively) behind it.  A thin
 *		adapter over the lock snapshot (lockshot.c) and the wait-for graph
 *		(locks.c), built once per policy cycle and only when some backend
 *		in the cycle's snapshot waits on a lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pgstat.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "lockgraph.h"
#include "locks.h"
#include "lockshot.h"

struct RbLockGraph
{
	RbWaitGraph *wg;			/* NULL when nobody waits on a lock */
};

RbLockGraph *
rb_lock_graph_build(RbSnapshot *snap)
{
	RbLockGraph *g = palloc0(sizeof(RbLockGraph));
	int			i;

	for (i = 0; i < snap->nbackends; i++)
	{
		if ((snap->backends[i].wait_event_info & 0xFF000000) == PG_WAIT_LOCK)
		{
			g->wg = rb_wait_graph_build(rb_lockshot_take());
			break;
		}
	}
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
