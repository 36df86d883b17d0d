/*-------------------------------------------------------------------------
 *
 * locks.c
 *		Lock-wait analysis: pure functions over one lock snapshot
 *		(lockshot.c), no shared-memory access and no side effects.
 *
 * For every waiting backend its direct blockers are found with the
 * server's own conflict table and the rules of pg_blocking_pids():
 *  - hard blockers: other lock groups holding a mode that conflicts with
 *    the requested one;
 *  - soft blockers: other lock groups queued ahead in the lock's wait queue
 *    with a conflicting request;
 *  - members of the waiter's own lock group never block it; blockers are
 *    named by their lock-group leader (parallel workers map to the leader);
 *    prepared transactions appear as pid 0.
 * pg_blocking_pids() lists a pid once per blocking PROCLOCK; here each
 * blocker is listed once, in the order pg_blocking_pids() first lists it,
 * so the arrays are equal whenever no parallel query is involved.
 *
 * The graph has one node per lock group and an edge from each waiter to
 * each direct blocker.  Roots are blockers that wait on nothing; depth is
 * the shortest distance to a root (1 = waits directly on a root); the
 * blocked count of a node is the number of nodes that reach it.  Wait-for
 * cycles (a deadlock the detector has not yet broken, e.g. under a long
 * deadlock_timeout) are the strongly connected components of more than one
 * node; every traversal is iterative and visits each node once, so cycles
 * terminate and are reported.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "port/pg_bitutils.h"
#include "storage/lock.h"

#include "pg_runbook.h"
#include "locks.h"

typedef struct PidSlot
{
	bool		used;
	int			pid;
	int			node;
} PidSlot;

/* the modes a PROCLOCK holds or requests */
static inline LOCKMASK
holder_modes(const RbLockHolder *h)
{
	LOCKMASK	rm = h->hold_mask;

	if (h->wait_mode != NoLock)
		rm |= LOCKBIT_ON(h->wait_mode);
	return rm;
}

/*
 * Per waited-on lock, built when its first waiter is met: its PROCLOCKs
 * listed by each mode they hold or request (in PROCLOCK order), and the
 * PROCLOCK of each wait-queue position.  A waiter then looks only at the
 * PROCLOCKs that can conflict with its request, not at every one: with
 * 1,000 AccessShareLock waiters queued behind one AccessExclusiveLock that
 * is one entry each instead of 1,001.
 */
typedef struct LockIndex
{
	bool		built;
	int		   *by_mode[MAX_LOCKMODES];
	int			nby_mode[MAX_LOCKMODES];
	int		   *own_by_pos;		/* queue position -> holder index */
} LockIndex;

typedef struct Builder
{
	RbWaitGraph *g;
	PidSlot    *map;
	uint32		mask;
	int			maxnodes;
	LockIndex  *lidx;			/* per lock */
	int		   *cand;			/* scratch: candidate holders */
} Builder;

static int
int_cmp(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x < y) ? -1 : (x > y) ? 1 : 0;
}

static LockIndex *
lock_index(Builder *b, int lock)
{
	RbLockShot *shot = b->g->shot;
	RbLockEntry *e = &shot->locks[lock];
	RbLockHolder *hs = &shot->holders[e->first_holder];
	LockIndex  *li = &b->lidx[lock];
	int			k,
				m;

	if (li->built)
		return li;
	li->built = true;
	for (k = 0; k < e->nholders; k++)
	{
		LOCKMASK	rm = holder_modes(&hs[k]);

		for (m = 1; m < MAX_LOCKMODES; m++)
			if (rm & LOCKBIT_ON(m))
				li->nby_mode[m]++;
	}
	for (m = 1; m < MAX_LOCKMODES; m++)
	{
		li->by_mode[m] = palloc(sizeof(int) * Max(li->nby_mode[m], 1));
		li->nby_mode[m] = 0;
	}
	li->own_by_pos = palloc(sizeof(int) * Max(e->nqueued, 1));
	for (k = 0; k < e->nqueued; k++)
		li->own_by_pos[k] = -1;
	for (k = 0; k < e->nholders; k++)
	{
		LOCKMASK	rm = holder_modes(&hs[k]);

		for (m = 1; m < MAX_LOCKMODES; m++)
			if (rm & LOCKBIT_ON(m))
				li->by_mode[m][li->nby_mode[m]++] = k;
		if (hs[k].queue_pos >= 0 && hs[k].queue_pos < e->nqueued)
			li->own_by_pos[hs[k].queue_pos] = k;
	}
	return li;
}

static inline uint32
int_hash(uint32 v)
{
	v ^= v >> 16;
	v *= 0x7feb352d;
	v ^= v >> 15;
	v *= 0x846ca68b;
	v ^= v >> 16;
	return v;
}

/* node of a pid, created when asked */
static int
node_for(Builder *b, int pid, bool create)
{
	uint32		h;

	for (h = int_hash((uint32) pid) & b->mask;; h = (h + 1) & b->mask)
	{
		PidSlot    *s = &b->map[h];

		if (!s->used)
		{
			RbLockNode *n;

			if (!create)
				return -1;
			Assert(b->g->nnodes < b->maxnodes);
			s->used = true;
			s->pid = pid;
			s->node = b->g->nnodes++;
			n = &b->g->nodes[s->node];
			memset(n, 0, sizeof(RbLockNode));
			n->pid = pid;
			n->first_waiter = -1;
			n->root = n->depth = n->parent = n->cycle = -1;
			n->prepared_xid = InvalidTransactionId;
			return s->node;
		}
		if (s->pid == pid)
			return s->node;
	}
}

/*
 * Direct blockers of waiter i, appended to g->edges in the order
 * pg_blocking_pids() reports them (the lock's PROCLOCK list order).
 */
static void
waiter_edges(Builder *b, int i)
{
	RbWaitGraph *g = b->g;
	RbLockShot *shot = g->shot;
	RbLockWaiter *w = &shot->waiters[i];
	RbLockEntry *e = &shot->locks[w->lock];
	RbLockHolder *hs = &shot->holders[e->first_holder];
	LockMethod	method = GetLockTagsMethodTable(&e->tag);
	LOCKMASK	conflicts = method->conflictTab[w->mode];
	LockIndex  *li = lock_index(b, w->lock);
	int			own_leader = w->leader_pid;
	int			own = -1;
	int			ncand = 0;
	int			nmodes = 0;
	int			k,
				m,
				c;

	/* the waiter's own PROCLOCK names the group it waits as */
	if (w->queue_pos >= 0 && w->queue_pos < e->nqueued)
		own = li->own_by_pos[w->queue_pos];
	if (own < 0 || hs[own].procno != w->procno)
	{
		own = -1;
		for (k = 0; k < e->nholders; k++)
			if (hs[k].procno == w->procno)
			{
				own = k;
				break;
			}
	}
	if (own >= 0)
		own_leader = hs[own].leader_pid;

	/* PROCLOCKs holding or requesting a conflicting mode, in list order */
	for (m = 1; m < MAX_LOCKMODES; m++)
	{
		if (!(conflicts & LOCKBIT_ON(m)) || li->nby_mode[m] == 0)
			continue;
		memcpy(b->cand + ncand, li->by_mode[m], sizeof(int) * li->nby_mode[m]);
		ncand += li->nby_mode[m];
		nmodes++;
	}
	if (nmodes > 1)
	{
		int			j = 0;

		qsort(b->cand, ncand, sizeof(int), int_cmp);
		for (c = 0; c < ncand; c++)
			if (j == 0 || b->cand[j - 1] != b->cand[c])
				b->cand[j++] = b->cand[c];
		ncand = j;
	}

	for (c = 0; c < ncand; c++)
	{
		RbLockHolder *h;
		RbLockEdge *edge;
		bool		hard;

		k = b->cand[c];
		h = &hs[k];
		if (k == own || h->leader_pid == own_leader)
			continue;
		if (conflicts & h->hold_mask)
			hard = true;
		else if (h->wait_mode != NoLock &&
				 (conflicts & LOCKBIT_ON(h->wait_mode)) &&
				 h->queue_pos >= 0 && h->queue_pos < w->queue_pos)
			hard = false;
		else
			continue;

		edge = &g->edges[g->nedges++];
		edge->waiter = i;
		edge->blocker = node_for(b, h->leader_pid, true);
		edge->hard = hard;
		if (hard)
		{
			edge->modes = conflicts & h->hold_mask;
			g->held_conflict[i] |= edge->modes;
		}
		else
		{
			edge->modes = LOCKBIT_ON(h->wait_mode);
			g->queued_conflict[i] |= edge->modes;
		}
		if (h->pid == 0 && !TransactionIdIsValid(g->nodes[edge->blocker].prepared_xid))
			g->nodes[edge->blocker].prepared_xid = h->xid;
	}
}

/*
 * Strongly connected components (Tarjan, iterative) over waiter -> blocker
 * edges.  Component ids come out in reverse topological order: a component
 * gets its id after every component it reaches.  Returns their number.
 */
static int
find_sccs(RbWaitGraph *g)
{
	int			n = g->nnodes;
	int		   *idx = palloc(sizeof(int) * n);
	int		   *low = palloc(sizeof(int) * n);
	bool	   *on = palloc0(sizeof(bool) * n);
	int		   *stk = palloc(sizeof(int) * n);
	int		   *cs = palloc(sizeof(int) * n);
	int		   *ce = palloc(sizeof(int) * n);
	int			sp = 0,
				csp = 0,
				counter = 0,
				nscc = 0;
	int			s;

	for (s = 0; s < n; s++)
		idx[s] = -1;

	for (s = 0; s < n; s++)
	{
		if (idx[s] != -1)
			continue;
		idx[s] = low[s] = counter++;
		stk[sp++] = s;
		on[s] = true;
		cs[csp] = s;
		ce[csp] = 0;
		csp++;
		while (csp > 0)
		{
			int			v = cs[csp - 1];
			RbLockNode *nv = &g->nodes[v];

			if (ce[csp - 1] < nv->nblockers)
			{
				int			x = g->blockers[nv->first_blocker + ce[csp - 1]++];

				if (idx[x] == -1)
				{
					idx[x] = low[x] = counter++;
					stk[sp++] = x;
					on[x] = true;
					cs[csp] = x;
					ce[csp] = 0;
					csp++;
				}
				else if (on[x])
					low[v] = Min(low[v], idx[x]);
				continue;
			}
			if (low[v] == idx[v])
			{
				int			x;

				do
				{
					x = stk[--sp];
					on[x] = false;
					g->nodes[x].scc = nscc;
				} while (x != v);
				nscc++;
			}
			csp--;
			if (csp > 0)
			{
				int			u = cs[csp - 1];

				low[u] = Min(low[u], low[v]);
			}
		}
	}
	pfree(idx);
	pfree(low);
	pfree(on);
	pfree(stk);
	pfree(cs);
	pfree(ce);
	return nscc;
}

static inline TimestampTz
min_ts(TimestampTz a, TimestampTz b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return Min(a, b);
}

/*
 * Transitive blocked counts and the oldest wait among the blocked, per
 * node: one pass over the components from sources to sinks, carrying a
 * bitset of the nodes that reach each component.
 */
static void
count_blocked(RbWaitGraph *g, int nscc)
{
	int			n = g->nnodes;
	int			words = (n + 63) / 64;
	uint64	  **reach = palloc0(sizeof(uint64 *) * nscc);
	TimestampTz *minwait = palloc0(sizeof(TimestampTz) * nscc);
	TimestampTz *ownwait = palloc0(sizeof(TimestampTz) * nscc);
	int		   *size = palloc0(sizeof(int) * nscc);
	int		   *first = palloc(sizeof(int) * (nscc + 1));
	int		   *members = palloc(sizeof(int) * Max(n, 1));
	int		   *stamp = palloc(sizeof(int) * nscc);
	int			c,
				v;

	for (v = 0; v < n; v++)
	{
		size[g->nodes[v].scc]++;
		ownwait[g->nodes[v].scc] = min_ts(ownwait[g->nodes[v].scc],
										  g->nodes[v].wait_start);
	}
	first[0] = 0;
	for (c = 0; c < nscc; c++)
	{
		first[c + 1] = first[c] + size[c];
		stamp[c] = -1;
	}
	{
		int		   *fill = palloc0(sizeof(int) * nscc);

		for (v = 0; v < n; v++)
		{
			c = g->nodes[v].scc;
			members[first[c] + fill[c]++] = v;
		}
		pfree(fill);
	}

	for (c = nscc - 1; c >= 0; c--)
	{
		int			m;

		for (m = first[c]; m < first[c + 1]; m++)
		{
			RbLockNode *nv = &g->nodes[members[m]];
			int			k;

			for (k = 0; k < nv->nblockers; k++)
			{
				int			t = g->nodes[g->blockers[nv->first_blocker + k]].scc;
				int			j;

				if (t == c || stamp[t] == c)
					continue;
				stamp[t] = c;
				if (reach[t] == NULL)
					reach[t] = palloc0(sizeof(uint64) * words);
				if (reach[c] != NULL)
					for (j = 0; j < words; j++)
						reach[t][j] |= reach[c][j];
				for (j = first[c]; j < first[c + 1]; j++)
					reach[t][members[j] / 64] |= UINT64CONST(1) << (members[j] % 64);
				minwait[t] = min_ts(minwait[t], min_ts(minwait[c], ownwait[c]));
			}
		}
	}

	for (v = 0; v < n; v++)
	{
		RbLockNode *nv = &g->nodes[v];

		c = nv->scc;
		nv->blocked = size[c] - 1;
		if (reach[c] != NULL)
			nv->blocked += (int) pg_popcount((const char *) reach[c],
											 sizeof(uint64) * words);
		nv->oldest_blocked_wait = minwait[c];
		if (size[c] > 1)
			nv->oldest_blocked_wait = min_ts(minwait[c], ownwait[c]);
	}

	for (c = 0; c < nscc; c++)
		if (reach[c])
			pfree(reach[c]);
	pfree(reach);
	pfree(minwait);
	pfree(ownwait);
	pfree(size);
	pfree(first);
	pfree(members);
	pfree(stamp);
}

/* one cycle through 'start' inside its component, as "a -> b -> a" */
static char *
cycle_text(RbWaitGraph *g, int start)
{
	StringInfoData buf;
	int		   *pos = palloc(sizeof(int) * g->nnodes);
	int		   *path = palloc(sizeof(int) * (g->nnodes + 1));
	int			len = 0;
	int			cur = start;
	int			scc = g->nodes[start].scc;
	int			i;

	for (i = 0; i < g->nnodes; i++)
		pos[i] = -1;
	while (pos[cur] == -1)
	{
		RbLockNode *nc = &g->nodes[cur];
		int			next = -1;

		pos[cur] = len;
		path[len++] = cur;
		for (i = 0; i < nc->nblockers; i++)
		{
			int			x = g->blockers[nc->first_blocker + i];

			if (g->nodes[x].scc == scc)
			{
				next = x;
				break;
			}
		}
		if (next < 0)
			break;				/* cannot happen inside a component */
		cur = next;
	}
	initStringInfo(&buf);
	for (i = (pos[cur] >= 0 ? pos[cur] : 0); i < len; i++)
		appendStringInfo(&buf, "%d -> ", g->nodes[path[i]].pid);
	appendStringInfo(&buf, "%d", g->nodes[cur].pid);
	pfree(pos);
	pfree(path);
	return buf.data;
}

static RbWaitGraph *sort_graph;

static int
root_cmp(const void *a, const void *b)
{
	const RbLockNode *x = &sort_graph->nodes[*(const int *) a];
	const RbLockNode *y = &sort_graph->nodes[*(const int *) b];

	if (x->blocked != y->blocked)
		return (x->blocked > y->blocked) ? -1 : 1;
	return (x->pid < y->pid) ? -1 : (x->pid > y->pid) ? 1 : 0;
}

/* the longer waiter first (unknown wait start last), then by pid */
static bool
node_before(const RbLockNode *x, const RbLockNode *y)
{
	if (x->wait_start != y->wait_start)
	{
		if (x->wait_start == 0 || y->wait_start == 0)
			return y->wait_start == 0;
		return x->wait_start < y->wait_start;
	}
	return x->pid < y->pid;
}

static int
wait_cmp(const void *a, const void *b)
{
	const RbLockNode *x = &sort_graph->nodes[*(const int *) a];
	const RbLockNode *y = &sort_graph->nodes[*(const int *) b];

	if (x == y)
		return 0;
	return node_before(x, y) ? -1 : 1;
}

/*
 * Multi-source breadth-first search over waiter edges from 'sources'
 * (already marked): sets depth/root/parent when 'rooted', else the cycle.
 */
static void
spread(RbWaitGraph *g, int *queue, int head, int tail, bool rooted, int cycle)
{
	while (head < tail)
	{
		int			v = queue[head++];
		RbLockNode *nv = &g->nodes[v];
		int			k;

		for (k = 0; k < nv->nwaited; k++)
		{
			int			u = g->waited[nv->first_waited + k];
			RbLockNode *nu = &g->nodes[u];

			if (rooted)
			{
				if (nu->depth != -1 || nu->root != -1)
					continue;
				nu->depth = nv->depth + 1;
				nu->root = nv->root;
				nu->parent = v;
			}
			else
			{
				if (nu->cycle != -1)
					continue;
				nu->cycle = cycle;
				if (nu->parent == -1 && nu->root == -1 && !nu->in_cycle)
					nu->parent = v;
			}
			queue[tail++] = u;
		}
	}
}

/*
 * Build the wait-for graph of one lock snapshot.
 */
RbWaitGraph *
rb_wait_graph_build(RbLockShot *shot)
{
	RbWaitGraph *g = palloc0(sizeof(RbWaitGraph));
	Builder		b;
	int			nw = shot->nwaiters;
	int			maxedges = 0;
	int			maxnodes = nw + shot->nholders + 1;
	uint32		mapsize = 16;
	int		   *stamp;
	int		   *order;
	int		   *queue;
	int		   *count;
	int			nscc;
	int			i,
				v,
				tail;

	g->shot = shot;
	for (i = 0; i < nw; i++)
		maxedges += shot->locks[shot->waiters[i].lock].nholders;
	while (mapsize < 2 * (uint32) maxnodes)
		mapsize <<= 1;
	b.g = g;
	b.map = palloc0(sizeof(PidSlot) * mapsize);
	b.mask = mapsize - 1;
	b.maxnodes = maxnodes;
	b.lidx = palloc0(sizeof(LockIndex) * Max(shot->nlocks, 1));
	{
		int			maxh = 1;

		for (i = 0; i < shot->nlocks; i++)
			maxh = Max(maxh, shot->locks[i].nholders);
		b.cand = palloc(sizeof(int) * maxh * MAX_LOCKMODES);
	}
	g->nodes = palloc(sizeof(RbLockNode) * maxnodes);
	g->waiter_node = palloc(sizeof(int) * Max(nw, 1));
	g->held_conflict = palloc0(sizeof(LOCKMASK) * Max(nw, 1));
	g->queued_conflict = palloc0(sizeof(LOCKMASK) * Max(nw, 1));
	g->edges = palloc(sizeof(RbLockEdge) * Max(maxedges, 1));
	g->edge_start = palloc(sizeof(int) * (nw + 1));

	/* waiting lock groups first, then every blocker met */
	for (i = 0; i < nw; i++)
	{
		RbLockWaiter *w = &shot->waiters[i];
		RbLockNode *n;

		v = node_for(&b, w->leader_pid, true);
		n = &g->nodes[v];
		g->waiter_node[i] = v;
		n->waiting = true;
		if (n->first_waiter < 0 || w->pid == w->leader_pid)
			n->first_waiter = i;
		n->wait_start = min_ts(n->wait_start, w->wait_start);
	}
	for (i = 0; i < nw; i++)
	{
		g->edge_start[i] = g->nedges;
		waiter_edges(&b, i);
	}
	g->edge_start[nw] = g->nedges;
	g->pidmap = b.map;
	g->pidmask = b.mask;

	/* per node, deduplicated blockers, members in snapshot order */
	g->blockers = palloc(sizeof(int) * Max(g->nedges, 1));
	g->waited = palloc(sizeof(int) * Max(g->nedges, 1));
	stamp = palloc(sizeof(int) * Max(g->nnodes, 1));
	count = palloc0(sizeof(int) * (g->nnodes + 1));
	order = palloc(sizeof(int) * Max(nw, 1));
	for (i = 0; i < nw; i++)
		count[g->waiter_node[i] + 1]++;
	for (v = 0; v < g->nnodes; v++)
		count[v + 1] += count[v];
	{
		int		   *fill = palloc0(sizeof(int) * Max(g->nnodes, 1));

		for (i = 0; i < nw; i++)
		{
			v = g->waiter_node[i];
			order[count[v] + fill[v]++] = i;
		}
		pfree(fill);
	}
	{
		int			nb = 0;

		for (v = 0; v < g->nnodes; v++)
			stamp[v] = -1;
		for (v = 0; v < g->nnodes; v++)
		{
			RbLockNode *n = &g->nodes[v];
			int			m;

			n->first_blocker = nb;
			for (m = count[v]; m < count[v + 1]; m++)
			{
				int			wi = order[m];
				int			k;

				for (k = g->edge_start[wi]; k < g->edge_start[wi + 1]; k++)
				{
					int			x = g->edges[k].blocker;

					if (stamp[x] == v)
						continue;
					stamp[x] = v;
					g->blockers[nb++] = x;
				}
			}
			n->nblockers = nb - n->first_blocker;
		}
	}

	/* reverse adjacency: who waits on each node */
	memset(count, 0, sizeof(int) * (g->nnodes + 1));
	for (v = 0; v < g->nnodes; v++)
	{
		RbLockNode *n = &g->nodes[v];
		int			k;

		for (k = 0; k < n->nblockers; k++)
			count[g->blockers[n->first_blocker + k] + 1]++;
	}
	for (v = 0; v < g->nnodes; v++)
	{
		count[v + 1] += count[v];
		g->nodes[v].first_waited = count[v];
		g->nodes[v].nwaited = 0;
	}
	for (v = 0; v < g->nnodes; v++)
	{
		RbLockNode *n = &g->nodes[v];
		int			k;

		for (k = 0; k < n->nblockers; k++)
		{
			RbLockNode *x = &g->nodes[g->blockers[n->first_blocker + k]];

			g->waited[x->first_waited + x->nwaited++] = v;
		}
	}

	/* components, counts, roots */
	nscc = find_sccs(g);
	count_blocked(g, nscc);

	g->roots = palloc(sizeof(int) * Max(g->nnodes, 1));
	for (v = 0; v < g->nnodes; v++)
		if (!g->nodes[v].waiting && g->nodes[v].nwaited > 0)
			g->roots[g->nroots++] = v;
	sort_graph = g;
	qsort(g->roots, g->nroots, sizeof(int), root_cmp);
	sort_graph = NULL;

	/* depth and root: breadth-first from the roots, most harmful first */
	queue = palloc(sizeof(int) * Max(g->nnodes, 1));
	tail = 0;
	for (i = 0; i < g->nroots; i++)
	{
		RbLockNode *r = &g->nodes[g->roots[i]];

		r->depth = 0;
		r->root = g->roots[i];
		queue[tail++] = g->roots[i];
	}
	spread(g, queue, 0, tail, true, -1);

	/* cycles: components of more than one node, and who waits behind them */
	{
		int		   *seen_scc = palloc(sizeof(int) * Max(nscc, 1));
		int		   *scc_size = palloc0(sizeof(int) * Max(nscc, 1));

		for (i = 0; i < nscc; i++)
			seen_scc[i] = -1;
		g->cycles = palloc(sizeof(RbLockCycle) * Max(g->nnodes / 2, 1));
		for (v = 0; v < g->nnodes; v++)
			scc_size[g->nodes[v].scc]++;
		for (v = 0; v < g->nnodes; v++)
		{
			int			c = g->nodes[v].scc;

			if (seen_scc[c] != -1)
				continue;
			seen_scc[c] = -2;
			if (scc_size[c] < 2)
				continue;		/* a single node: no cycle */
			seen_scc[c] = g->ncycles;
			g->cycles[g->ncycles].nmembers = 0;
			g->ncycles++;
		}
		pfree(scc_size);
		for (v = 0; v < g->nnodes; v++)
		{
			RbLockNode *n = &g->nodes[v];
			int			c = seen_scc[n->scc];
			RbLockCycle *cy;

			if (c < 0)
				continue;
			cy = &g->cycles[c];
			n->in_cycle = true;
			n->cycle = c;
			if (cy->nmembers == 0 || node_before(n, &g->nodes[cy->start]))
				cy->start = v;
			cy->nmembers++;
		}
		for (i = 0; i < g->ncycles; i++)
		{
			RbLockCycle *cy = &g->cycles[i];

			cy->text = cycle_text(g, cy->start);
			tail = 0;
			for (v = 0; v < g->nnodes; v++)
				if (g->nodes[v].in_cycle && g->nodes[v].cycle == i)
					queue[tail++] = v;
			sort_graph = g;
			qsort(queue, tail, sizeof(int), wait_cmp);
			sort_graph = NULL;
			spread(g, queue, 0, tail, false, i);
		}
		pfree(seen_scc);
	}

	pfree(queue);
	pfree(stamp);
	pfree(count);
	pfree(order);
	return g;
}

/* node index of a pid (lock-group leader pid, or 0), or -1 */
int
rb_wait_graph_node(RbWaitGraph *g, int pid)
{
	PidSlot    *map = (PidSlot *) g->pidmap;
	uint32		h;

	if (map == NULL)
		return -1;
	for (h = int_hash((uint32) pid) & g->pidmask;; h = (h + 1) & g->pidmask)
	{
		if (!map[h].used)
			return -1;
		if (map[h].pid == pid)
			return map[h].node;
	}
}

/*
 * Every node waiting, directly or transitively, on the lock group of 'pid'
 * (not itself): node indexes into *nodes, their number returned.
 */
int
rb_wait_graph_behind(RbWaitGraph *g, int pid, int **nodes)
{
	int			start = rb_wait_graph_node(g, pid);
	int		   *queue;
	bool	   *seen;
	int			head = 0,
				tail = 0;

	*nodes = palloc(sizeof(int) * Max(g->nnodes, 1));
	if (start < 0)
		return 0;
	queue = *nodes;
	seen = palloc0(sizeof(bool) * g->nnodes);
	seen[start] = true;
	queue[tail++] = start;
	while (head < tail)
	{
		RbLockNode *n = &g->nodes[queue[head++]];
		int			k;

		for (k = 0; k < n->nwaited; k++)
		{
			int			u = g->waited[n->first_waited + k];

			if (!seen[u])
			{
				seen[u] = true;
				queue[tail++] = u;
			}
		}
	}
	pfree(seen);
	/* drop the start node itself */
	memmove(queue, queue + 1, sizeof(int) * (tail - 1));
	return tail - 1;
}

/*
 * The root blockers of a graph, most harmful first, with how many sessions
 * wait on each (transitively) and the oldest of their wait starts.  The
 * analysis a remedy needs to pick and justify whom to end.
 */
RbLockRoot *
rb_lock_roots(RbWaitGraph *g, int *nroots)
{
	RbLockRoot *out = palloc(sizeof(RbLockRoot) * Max(g->nroots, 1));
	int			i;

	for (i = 0; i < g->nroots; i++)
	{
		RbLockNode *n = &g->nodes[g->roots[i]];

		out[i].pid = n->pid;
		out[i].blocked = n->blocked;
		out[i].oldest_wait = n->oldest_blocked_wait;
	}
	*nroots = g->nroots;
	return out;
}

/* Names of the modes in a mask, e.g. "AccessShareLock, RowShareLock". */
char *
rb_lock_modes_text(const LOCKTAG *tag, LOCKMASK mask)
{
	StringInfoData buf;
	LOCKMODE	m;

	if (mask == 0)
		return NULL;
	initStringInfo(&buf);
	for (m = 1; m <= MaxLockMode; m++)
	{
		if (!(mask & LOCKBIT_ON(m)))
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, GetLockmodeName(tag->locktag_lockmethodid, m));
	}
	return buf.data;
}
