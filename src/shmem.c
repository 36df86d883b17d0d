/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		pg_runbook's main shared-memory area (RbShared, shmem.h): its lock,
 *		the connection hook's client count and the policy worker's state.
 *		A leaf module: it calls nothing of pg_runbook.  The shared-memory
 *		hooks of pg_runbook.c call rb_shmem_request() and rb_shmem_startup()
 *		before the audit's and the flight recorder's own areas.
 *
 *		Diagnostic functions work without preloading; features that need
 *		shared memory (audit ring, worker) call rb_require_preload() and say
 *		how to enable them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "shmem.h"

/* NULL when not preloaded */
RbShared   *rb_shared = NULL;

#define RB_SHARED_MAGIC 0x52424b31	/* "RBK1" */

static Size
rb_shmem_size(void)
{
	return MAXALIGN(sizeof(RbShared));
}

void
rb_shmem_request(void)
{
	RequestAddinShmemSpace(rb_shmem_size());
	RequestNamedLWLockTranche("pg_runbook", 1);
}

void
rb_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rb_shared = ShmemInitStruct("pg_runbook", rb_shmem_size(), &found);
	if (!found)
	{
		memset(rb_shared, 0, rb_shmem_size());
		rb_shared->lock = &(GetNamedLWLockTranche("pg_runbook"))->lock;
		rb_shared->magic = RB_SHARED_MAGIC;
		pg_atomic_init_u32(&rb_shared->nclients, 0);
		pg_atomic_init_u32(&rb_shared->wall_waiters, 0);
		pg_atomic_init_u32(&rb_shared->wall_peak_waiters, 0);
		pg_atomic_init_u64(&rb_shared->wall_waits, 0);
		pg_atomic_init_u64(&rb_shared->wall_not_waited, 0);
		pg_atomic_init_u64(&rb_shared->wall_last_arrival, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Error out, with the remedy, when a feature needs shared memory and the
 * library was not preloaded.
 */
void
rb_require_preload(const char *feature)
{
	if (rb_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs pg_runbook in shared_preload_libraries", feature),
				 errhint("Add pg_runbook to shared_preload_libraries in postgresql.conf and restart the server.")));
}
