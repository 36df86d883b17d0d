/*-------------------------------------------------------------------------
 *
 * lockgraph.c
 *		Sessions waiting behind each backend, for the policy engine's
 *		only_if_blocking condition: direct blockers of every lock waiter
 *		in the snapshot, then the transitive closure (cycle-safe).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/fmgrprotos.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "lockgraph.h"

typedef struct Waiter
{
	int			pid;
	TimestampTz wait_start;
	int			nblockers;
	int		   *blockers;
} Waiter;

struct RbLockGraph
{
	int			nwaiters;
	Waiter	   *waiters;
};

RbLockGraph *
rb_lock_graph_build(RbSnapshot *snap)
{
	RbLockGraph *g = palloc0(sizeof(RbLockGraph));
	int			i;

	g->waiters = palloc0(sizeof(Waiter) * Max(snap->nbackends, 1));
	for (i = 0; i < snap->nbackends; i++)
	{
		RbBackend  *b = &snap->backends[i];
		ArrayType  *arr;
		Waiter	   *w;
		Datum	   *elems;
		bool	   *nulls;
		int			n,
					k;

		if ((b->wait_event_info & 0xFF000000) != PG_WAIT_LOCK)
			continue;
		arr = DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids,
													 Int32GetDatum(b->pid)));
		deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
		if (n == 0)
			continue;
		w = &g->waiters[g->nwaiters++];
		w->pid = b->pid;
		w->wait_start = b->wait_start;
		w->blockers = palloc(sizeof(int) * n);
		for (k = 0; k < n; k++)
			w->blockers[w->nblockers++] = DatumGetInt32(elems[k]);
	}
	return g;
}

static Waiter *
find_waiter(RbLockGraph *g, int pid)
{
	int			i;

	for (i = 0; i < g->nwaiters; i++)
		if (g->waiters[i].pid == pid)
			return &g->waiters[i];
	return NULL;
}

/* Does 'w' wait, directly or through others, on 'pid'? (cycle-safe) */
static bool
waits_on(RbLockGraph *g, Waiter *w, int pid, int depth)
{
	int			k;

	if (depth > g->nwaiters)
		return false;
	for (k = 0; k < w->nblockers; k++)
	{
		Waiter	   *up;

		if (w->blockers[k] == pid)
			return true;
		up = find_waiter(g, w->blockers[k]);
		if (up && waits_on(g, up, pid, depth + 1))
			return true;
	}
	return false;
}

int
rb_lock_graph_waiters_behind(RbLockGraph *g, int pid, TimestampTz **wait_starts)
{
	int			i,
				n = 0;

	*wait_starts = palloc(sizeof(TimestampTz) * Max(g->nwaiters, 1));
	for (i = 0; i < g->nwaiters; i++)
	{
		Waiter	   *w = &g->waiters[i];

		if (w->pid != pid && waits_on(g, w, pid, 0))
			(*wait_starts)[n++] = w->wait_start;
	}
	return n;
}
