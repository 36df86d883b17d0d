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
#include "storage/proc.h"

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

#endif							/* PG_RUNBOOK_COMPAT_H */
