/*-------------------------------------------------------------------------
 *
 * lockshot.h
 *		A consistent copy of the part of the lock manager that lock-wait
 *		analysis needs: the backends waiting on a heavyweight lock and, for
 *		each lock they wait on, its holders and its wait queue.  lockshot.c
 *		is, with snapshot.c, the only code that reads lock-manager shared
 *		memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_LOCKSHOT_H
#define PG_RUNBOOK_LOCKSHOT_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/lock.h"

#include "snapshot.h"

/* One PROCLOCK of a waited-on lock: a holder, a waiter, or both. */
typedef struct RbLockHolder
{
	int			pid;			/* 0 for a prepared transaction */
	int			leader_pid;		/* lock-group leader's pid, or pid */
	int			procno;			/* index in ProcGlobal->allProcs */
	LOCKMASK	hold_mask;		/* granted modes */
	LOCKMODE	wait_mode;		/* requested mode if waiting on this lock */
	int			queue_pos;		/* position in the wait queue, or -1 */
	TransactionId xid;			/* for prepared transactions: their xid */
} RbLockHolder;

/* One lock that some backend waits on. */
typedef struct RbLockEntry
{
	LOCKTAG		tag;
	int			first_holder;	/* PROCLOCKs, in the lock's list order */
	int			nholders;
	int			first_queued;	/* waiting procnos, in wait-queue order */
	int			nqueued;
} RbLockEntry;

/* One backend waiting on a heavyweight lock. */
typedef struct RbLockWaiter
{
	int			pid;
	int			leader_pid;		/* lock-group leader's pid, or pid */
	int			procno;
	int			lock;			/* index in RbLockShot.locks */
	LOCKMODE	mode;			/* requested mode */
	int			queue_pos;		/* 0-based position in the wait queue */
	TimestampTz wait_start;		/* 0 if the server has not recorded it */
} RbLockWaiter;

typedef struct RbLockShot
{
	TimestampTz taken_at;
	int			nwaiters;
	RbLockWaiter *waiters;		/* in ProcGlobal->allProcs order */
	int			nlocks;
	RbLockEntry *locks;
	int			nholders;
	RbLockHolder *holders;
	int			nqueued;
	int		   *queued;			/* procnos */
} RbLockShot;

extern bool rb_lock_waits_exist(void);
extern int	rb_lock_waiters_count(void);
extern RbLockShot *rb_lockshot_take(void);
extern RbLockShot *rb_lockshot_take_if_waiting(const RbSnapshot *snap);

#endif							/* PG_RUNBOOK_LOCKSHOT_H */
