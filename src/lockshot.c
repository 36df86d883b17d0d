/*-------------------------------------------------------------------------
 *
 * lockshot.c
 *		The one place that reads the heavyweight lock manager's shared
 *		memory (like snapshot.c for backend status and PGPROC).
 *
 * rb_lockshot_take() copies, in one pass and as one consistent picture,
 * what the wait-for analysis (locks.c) needs and nothing more: the backends
 * that wait on a heavyweight lock and, for each lock they wait on, its
 * PROCLOCKs (holders with their granted modes, waiters with their requested
 * mode) and its wait queue in order.  pg_locks (GetLockStatusData) copies
 * the whole lock table; pg_blocking_pids (GetBlockerStatusData) takes every
 * partition lock once per waiter.  Here the partition locks are taken once,
 * in partition order and in shared mode like those functions do, held
 * only while copying, and released in reverse order.
 *
 * Holding all partition locks freezes every field we read: a proc's
 * waitLock/waitLockMode and its position in a wait queue change only under
 * the partition lock of the lock concerned, a lock's PROCLOCK list likewise,
 * and lock-group membership (lockGroupLeader, PROCLOCK groupLeader) only
 * under the partition lock of the leader's lock group, which we hold too.
 * Even so every shared pointer is read once into a local, so that no
 * compiler or future change can make a check and a dereference see two
 * different values.
 *
 * Fast-path locks are ignored, and that is exact, not an approximation:
 * only weak relation locks (AccessShare, RowShare, RowExclusive on a
 * relation of the backend's database) and a backend's own virtualxid lock
 * are ever held in a PGPROC's fast-path slots.
 *  - Weak modes conflict only with strong ones (ShareLock and above), and
 *    a backend requesting a strong relation lock first bumps the
 *    strong-lock count of that lock's fast-path partition (so nobody may
 *    take a fast-path lock there any more) and then moves every existing
 *    fast-path lock on that relation into the main table
 *    (LockAcquireExtended -> BeginStrongLockAcquire +
 *    FastPathTransferRelationLocks in lock.c).  The count stays up while it
 *    waits.  So every holder that can conflict with a waiter, and every
 *    waiter, is in the main table.
 *  - A backend that waits on a virtualxid first converts the target's
 *    fast-path VXID lock into a main-table lock (VirtualXactLock).
 * GetBlockerStatusData relies on the same fact ("nothing in those could be
 * related to a contended lock").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/wait_event.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"
#include "lockshot.h"

/*
 * Does any backend wait on a heavyweight lock?  A lock-free look at every
 * PGPROC's waitLock: it may miss a wait that starts this very instant,
 * which is no different from taking the snapshot a moment earlier.  Lets
 * callers skip the partition locks entirely in the common case.
 */
bool
rb_lock_waits_exist(void)
{
	uint32		i;

	for (i = 0; i < ProcGlobal->allProcCount; i++)
	{
		volatile PGPROC *proc = &ProcGlobal->allProcs[i];

		if (proc->waitLock != NULL)
			return true;
	}
	return false;
}

/*
 * Backends waiting on a heavyweight lock now: an unlocked read of each
 * PGPROC's wait event (what pg_stat_activity shows), only a hint for
 * deciding whether to run a cycle (the worker's cheap lock-queue probe;
 * takes no lock).
 */
int
rb_lock_waiters_count(void)
{
	PROC_HDR   *pg = ProcGlobal;
	uint32		nprocs = pg->allProcCount;
	int			n = 0;
	uint32		i;

	for (i = 0; i < nprocs; i++)
	{
		uint32		we = *((volatile uint32 *) &pg->allProcs[i].wait_event_info);

		if ((we & 0xFF000000) == PG_WAIT_LOCK)
			n++;
	}
	return n;
}

/*
 * A lock snapshot for the analysis of a backend snapshot: taken only when
 * some backend of 'snap' was waiting on a heavyweight lock (its wait event
 * says so); NULL otherwise.  For rb_policies_evaluate.
 */
RbLockShot *
rb_lockshot_take_if_waiting(const RbSnapshot *snap)
{
	int			i;

	for (i = 0; i < snap->nbackends; i++)
	{
		if ((snap->backends[i].wait_event_info & 0xFF000000) == PG_WAIT_LOCK)
			return rb_lockshot_take();
	}
	return NULL;
}

/* open-addressing map from LOCK pointer to index in locks[] */
typedef struct LockSlot
{
	LOCK	   *lock;
	int			index;
} LockSlot;

static inline uint32
ptr_hash(const void *p)
{
	uint64		v = (uint64) (uintptr_t) p;

	v ^= v >> 33;
	v *= UINT64CONST(0xff51afd7ed558ccd);
	v ^= v >> 33;
	return (uint32) v;
}

/*
 * Take the lock snapshot.  Never errors while partition locks are held
 * except on out-of-memory in repalloc, where transaction abort releases
 * them (LWLockReleaseAll), as for GetBlockerStatusData.
 */
RbLockShot *
rb_lockshot_take(void)
{
	RbLockShot *shot = palloc0(sizeof(RbLockShot));
	uint32		nprocs = ProcGlobal->allProcCount;
	uint32		mapsize = 16;
	LockSlot   *map;
	LOCK	  **lockptrs;
	int		   *pos_by_procno;
	int			maxholders;
	int			i;
	uint32		p;

	if (!rb_lock_waits_exist())
	{
		shot->taken_at = GetCurrentTimestamp();
		return shot;
	}

	/* everything bounded by the number of PGPROCs is allocated up front */
	while (mapsize < 2 * nprocs)
		mapsize <<= 1;
	map = palloc0(sizeof(LockSlot) * mapsize);
	lockptrs = palloc(sizeof(LOCK *) * nprocs);
	pos_by_procno = palloc(sizeof(int) * nprocs);
	shot->waiters = palloc(sizeof(RbLockWaiter) * nprocs);
	shot->locks = palloc(sizeof(RbLockEntry) * nprocs);
	shot->queued = palloc(sizeof(int) * nprocs);
	maxholders = 2 * nprocs;
	shot->holders = palloc(sizeof(RbLockHolder) * maxholders);

	for (i = 0; i < NUM_LOCK_PARTITIONS; i++)
		LWLockAcquire(LockHashPartitionLockByIndex(i), LW_SHARED);

	/* 1. the waiters, and the distinct locks they wait on */
	for (p = 0; p < nprocs; p++)
	{
		PGPROC	   *proc = &ProcGlobal->allProcs[p];
		LOCK	   *lock = proc->waitLock;
		PGPROC	   *leader;
		RbLockWaiter *w;
		uint32		h;

		pos_by_procno[p] = -1;
		if (lock == NULL)
			continue;

		for (h = ptr_hash(lock) & (mapsize - 1);; h = (h + 1) & (mapsize - 1))
		{
			if (map[h].lock == NULL)
			{
				map[h].lock = lock;
				map[h].index = shot->nlocks;
				lockptrs[shot->nlocks] = lock;
				shot->locks[shot->nlocks].tag = lock->tag;
				shot->nlocks++;
				break;
			}
			if (map[h].lock == lock)
				break;
		}

		w = &shot->waiters[shot->nwaiters++];
		w->pid = proc->pid;
		leader = proc->lockGroupLeader;
		w->leader_pid = leader ? leader->pid : w->pid;
		w->procno = p;
		w->lock = map[h].index;
		w->mode = proc->waitLockMode;
		w->queue_pos = -1;
		w->wait_start = (TimestampTz) pg_atomic_read_u64(&proc->waitStart);
	}

	/* 2. for each such lock, its PROCLOCKs and its wait queue */
	for (i = 0; i < shot->nlocks; i++)
	{
		LOCK	   *lock = lockptrs[i];
		RbLockEntry *e = &shot->locks[i];
		PROCLOCK   *pl;
		PGPROC	   *wp;
		int			qsize;
		int			k;

		e->first_holder = shot->nholders;
		for (pl = rb_lock_next_proclock(lock, NULL); pl != NULL;
			 pl = rb_lock_next_proclock(lock, pl))
		{
			PGPROC	   *proc = pl->tag.myProc;
			PGPROC	   *leader = pl->groupLeader;
			LOCK	   *waiting_on = proc->waitLock;
			RbLockHolder *hd;

			if (shot->nholders >= maxholders)
			{
				maxholders *= 2;
				shot->holders = repalloc(shot->holders,
										 sizeof(RbLockHolder) * maxholders);
			}
			hd = &shot->holders[shot->nholders++];
			hd->pid = proc->pid;
			hd->leader_pid = leader->pid;
			hd->procno = (int) (proc - ProcGlobal->allProcs);
			hd->hold_mask = pl->holdMask;
			hd->wait_mode = (waiting_on == lock) ? proc->waitLockMode : NoLock;
			hd->xid = (hd->pid == 0) ? proc->xid : InvalidTransactionId;
		}
		e->nholders = shot->nholders - e->first_holder;

		e->first_queued = shot->nqueued;
		qsize = rb_lock_queue_size(lock);
		wp = NULL;
		for (k = 0; k < qsize && shot->nqueued < (int) nprocs; k++)
		{
			int			procno;

			wp = rb_lock_next_waiter(lock, wp);
			procno = (int) (wp - ProcGlobal->allProcs);
			pos_by_procno[procno] = k;
			shot->queued[shot->nqueued++] = procno;
		}
		e->nqueued = shot->nqueued - e->first_queued;
	}

	for (i = NUM_LOCK_PARTITIONS; --i >= 0;)
		LWLockRelease(LockHashPartitionLockByIndex(i));

	shot->taken_at = GetCurrentTimestamp();

	for (i = 0; i < shot->nwaiters; i++)
		shot->waiters[i].queue_pos = pos_by_procno[shot->waiters[i].procno];
	for (i = 0; i < shot->nholders; i++)
	{
		RbLockHolder *hd = &shot->holders[i];

		hd->queue_pos = (hd->wait_mode != NoLock && hd->procno >= 0 &&
						 hd->procno < (int) nprocs) ? pos_by_procno[hd->procno] : -1;
	}

	pfree(map);
	pfree(lockptrs);
	pfree(pos_by_procno);
	return shot;
}
