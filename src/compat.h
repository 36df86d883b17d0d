/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between the supported PostgreSQL major versions,
 *		in one place.  Logic elsewhere uses only the names defined here.
 *
 * Supported: 15 (host).  17 and 18 come with the version-matrix work.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_COMPAT_H
#define PG_RUNBOOK_COMPAT_H

#include "postgres.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/shmem.h"

#if PG_VERSION_NUM < 150000
#error "pg_runbook needs PostgreSQL 15 or later"
#endif

/*
 * Slots of the shared "Backend Status Array": one per possible backend, then
 * one per auxiliary process.  Must match the server's own computation
 * exactly, since we attach to that array by name and size.
 */
#if PG_VERSION_NUM < 170000
#define RB_NUM_STATUS_SLOTS		(MaxBackends + NUM_AUXPROCTYPES)
#else
#define RB_NUM_STATUS_SLOTS		(MaxBackends + NUM_AUXILIARY_PROCS)
#endif

/*
 * Status-array slot of a PGPROC belonging to a regular backend (or -1).
 * Up to 16 the array is indexed by BackendId - 1; from 17 by ProcNumber.
 */
static inline int
rb_proc_status_slot(PGPROC *proc)
{
#if PG_VERSION_NUM < 170000
	int			id = proc->backendId;

	return (id >= 1 && id <= MaxBackends) ? id - 1 : -1;
#else
	return GetNumberFromPGProc(proc);
#endif
}

/* Reserved connection slots that ordinary roles cannot use. */
static inline int
rb_reserved_connections(void)
{
#if PG_VERSION_NUM < 160000
	return ReservedBackends;
#else
	return SuperuserReservedConnections + ReservedConnections;
#endif
}

/*
 * Walking a heavyweight LOCK's list of PROCLOCKs and its wait queue (only
 * ever with the lock's partition lock held).  Up to 15 these are SHM_QUEUE
 * and PROC_QUEUE; from 16 dlist_head and dclist_head.
 */
#if PG_VERSION_NUM < 160000
static inline PROCLOCK *
rb_lock_next_proclock(LOCK *lock, PROCLOCK *prev)
{
	return (PROCLOCK *) SHMQueueNext(&lock->procLocks,
									 prev ? &prev->lockLink : &lock->procLocks,
									 offsetof(PROCLOCK, lockLink));
}

static inline int
rb_lock_queue_size(LOCK *lock)
{
	return lock->waitProcs.size;
}

/* first waiter when prev is NULL; callers stop after rb_lock_queue_size() */
static inline PGPROC *
rb_lock_next_waiter(LOCK *lock, PGPROC *prev)
{
	return (PGPROC *) (prev ? prev->links.next : lock->waitProcs.links.next);
}
#else
static inline PROCLOCK *
rb_lock_next_proclock(LOCK *lock, PROCLOCK *prev)
{
	dlist_node *n = prev ? &prev->lockLink : &lock->procLocks.head;

	if (n->next == &lock->procLocks.head || n->next == NULL)
		return NULL;
	return dlist_container(PROCLOCK, lockLink, n->next);
}

static inline int
rb_lock_queue_size(LOCK *lock)
{
	return dclist_count(&lock->waitProcs);
}

static inline PGPROC *
rb_lock_next_waiter(LOCK *lock, PGPROC *prev)
{
	dlist_node *n = prev ? &prev->links : &lock->waitProcs.dlist.head;

	return dlist_container(PGPROC, links, n->next);
}
#endif

#endif							/* PG_RUNBOOK_COMPAT_H */
