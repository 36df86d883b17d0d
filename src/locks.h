/*-------------------------------------------------------------------------
 *
 * locks.h
 *		The wait-for graph of heavyweight-lock waits, computed from one lock
 *		snapshot (lockshot.c) by pure functions (locks.c): direct blockers
 *		with pg_blocking_pids() semantics, root blockers, depth, transitive
 *		blocked counts and wait-for cycles.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_LOCKS_H
#define PG_RUNBOOK_LOCKS_H

#include "postgres.h"

#include "fmgr.h"

#include "lockshot.h"

/*
 * A node of the graph is a lock group: a session with its parallel workers,
 * named by the leader's pid, as pg_blocking_pids() reports them.  All
 * prepared transactions share the node with pid 0.
 */
typedef struct RbLockNode
{
	int			pid;			/* leader pid; 0 = prepared transaction(s) */
	bool		waiting;		/* some member waits on a lock */
	int			first_waiter;	/* a member's index in shot->waiters, or -1 */
	TimestampTz wait_start;		/* earliest recorded wait start of members */
	TransactionId prepared_xid; /* pid 0: xid of one prepared transaction */
	int			first_blocker;	/* direct blockers: RbWaitGraph.blockers */
	int			nblockers;
	int			first_waited;	/* direct waiters: RbWaitGraph.waited */
	int			nwaited;
	/* derived */
	int			root;			/* nearest root (node index), -1 if none */
	int			depth;			/* 0 = root, 1 = waits on a root; -1 if none */
	int			parent;			/* next node on the path to root, or -1 */
	int			blocked;		/* nodes transitively waiting on this one */
	TimestampTz oldest_blocked_wait;	/* earliest wait start among them */
	int			scc;			/* strongly connected component */
	int			cycle;			/* its own or the upstream cycle, or -1 */
	bool		in_cycle;		/* member of a wait-for cycle */
} RbLockNode;

/* One "waiter blocked by holder" pair, per waiting backend. */
typedef struct RbLockEdge
{
	int			waiter;			/* index in shot->waiters */
	int			blocker;		/* node index of the blocker */
	bool		hard;			/* holds a conflicting mode (else queued ahead) */
	LOCKMASK	modes;			/* conflicting held modes, or requested mode */
} RbLockEdge;

typedef struct RbLockCycle
{
	int			nmembers;		/* nodes in the strongly connected component */
	int			start;			/* node the cycle text starts from */
	char	   *text;			/* e.g. "101 -> 102 -> 101" */
} RbLockCycle;

typedef struct RbWaitGraph
{
	RbLockShot *shot;
	int			nnodes;
	RbLockNode *nodes;
	int		   *waiter_node;	/* per shot->waiters[i]: its node */
	LOCKMASK   *held_conflict;	/* per waiter: conflicting granted modes */
	LOCKMASK   *queued_conflict;	/* per waiter: conflicting requests ahead */
	int			nedges;
	RbLockEdge *edges;			/* grouped by waiter, pg_blocking_pids order */
	int		   *edge_start;		/* per waiter: first edge (nwaiters + 1) */
	int		   *blockers;		/* node indexes, deduplicated per node */
	int		   *waited;			/* node indexes, deduplicated per node */
	int			nroots;
	int		   *roots;			/* by blocked count desc, then pid */
	int			ncycles;
	RbLockCycle *cycles;
	void	   *pidmap;			/* pid -> node (private to locks.c) */
	uint32		pidmask;
} RbWaitGraph;

/* A root blocker summarized for remedies (terminate_blockers). */
typedef struct RbLockRoot
{
	int			pid;			/* 0 = prepared transaction */
	int			blocked;		/* sessions transitively waiting on it */
	TimestampTz oldest_wait;	/* earliest wait start among them, or 0 */
} RbLockRoot;

extern RbWaitGraph *rb_wait_graph_build(RbLockShot *shot);
extern int	rb_wait_graph_node(RbWaitGraph *g, int pid);
extern RbLockRoot *rb_lock_roots(RbWaitGraph *g, int *nroots);
extern int	rb_wait_graph_behind(RbWaitGraph *g, int pid, int **nodes);
extern char *rb_lock_modes_text(const LOCKTAG *tag, LOCKMASK mask);

/* front-end helpers (locks_sql.c): snapshot + analysis, output */
extern RbLockRoot *rb_lock_root_blockers(int *nroots);
extern Datum rb_lock_blocked_by_datum(RbWaitGraph *g, int pid);

#endif							/* PG_RUNBOOK_LOCKS_H */
