/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between the supported PostgreSQL major versions,
 *		in one place.  Logic elsewhere uses only the names defined here.
 *
 * Supported: 15, 17 and 18 (16 compiles through the same branches, but is
 * not tested).  `make test-matrix` builds and tests all three.  The facts
 * behind each branch: tools/HEADER_NOTES.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_COMPAT_H
#define PG_RUNBOOK_COMPAT_H

#include "postgres.h"
#include "catalog/pg_authid.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/postmaster.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/relmapper.h"

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
 * Up to 16 the array is indexed by BackendId - 1; from 17 by ProcNumber
 * (which also gives auxiliary processes their slot).
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

/* superuser_reserved_connections: the last slots, for superusers only */
static inline int
rb_superuser_reserved_connections(void)
{
#if PG_VERSION_NUM < 160000
	return ReservedBackends;
#else
	return SuperuserReservedConnections;
#endif
}

/*
 * reserved_connections (16+; none before): the slots before the superusers'
 * ones, for roles with the privileges of pg_use_reserved_connections.
 */
static inline int
rb_role_reserved_connections(void)
{
#if PG_VERSION_NUM < 160000
	return 0;
#else
	return ReservedConnections;
#endif
}

/* May this role use the reserved_connections slots (16+)? */
static inline bool
rb_may_use_reserved_connections(Oid roleid)
{
#if PG_VERSION_NUM < 160000
	return false;
#else
	return has_privs_of_role(roleid, ROLE_PG_USE_RESERVED_CONNECTIONS);
#endif
}

/* Are at least n PGPROCs free (InitPostgres' reserved-slots test)? */
static inline bool
rb_have_free_procs(int n)
{
#if PG_VERSION_NUM < 160000
	return HaveNFreeProcs(n);
#else
	int			nfree;

	return HaveNFreeProcs(n, &nfree);
#endif
}

/*
 * True if a PGPROC is not a regular client backend (background worker,
 * autovacuum, walsender, auxiliary process).  18 inverted the flag and
 * renamed it to isRegularBackend.
 */
static inline bool
rb_proc_is_bgworker(volatile PGPROC *proc)
{
#if PG_VERSION_NUM >= 180000
	return !proc->isRegularBackend;
#else
	return proc->isBackgroundWorker;
#endif
}

/*
 * Is the calling process a background worker?  The global IsBackgroundWorker
 * exists only up to 16; MyBackendType says the same in every version.
 */
static inline bool
rb_am_background_worker(void)
{
	return MyBackendType == B_BG_WORKER;
}

/*
 * Index of a PGPROC in ProcGlobal->allProcs.  15 has a field for it; 17
 * dropped the field for a macro.
 */
static inline int
rb_proc_number(PGPROC *proc)
{
#if PG_VERSION_NUM < 170000
	return proc->pgprocno;
#else
	return (int) GetNumberFromPGProc(proc);
#endif
}

/*
 * 18 adds the state STATE_STARTING (a backend still authenticating, shown
 * as "starting" in pg_stat_activity).  A switch over BackendState that
 * names every state puts RB_CASE_STATE_STARTING(name) among its cases.
 */
#if PG_VERSION_NUM >= 180000
#define RB_CASE_STATE_STARTING(name)	case STATE_STARTING: return (name);
#else
#define RB_CASE_STATE_STARTING(name)
#endif

/*
 * 16 adds the lock tag LOCKTAG_APPLY_TRANSACTION (a logical-replication apply
 * worker's lock on a remote transaction).  A switch over LockTagType that
 * names every tag puts RB_CASE_LOCKTAG_APPLY_TRANSACTION directly before the
 * case whose code should handle it (it is only a label; empty before 16).
 */
#if PG_VERSION_NUM >= 160000
#define RB_CASE_LOCKTAG_APPLY_TRANSACTION	case LOCKTAG_APPLY_TRANSACTION:
#else
#define RB_CASE_LOCKTAG_APPLY_TRANSACTION
#endif

/*
 * The query identifier of PgBackendStatus: uint64 up to 17, int64 from 18.
 * SQL shows it as bigint in all versions, so the bits are what count.
 */
static inline uint64
rb_status_query_id(volatile PgBackendStatus *be)
{
	return (uint64) be->st_query_id;
}

/*
 * May 'roleid' signal an autovacuum worker?  The server's rule
 * (pg_signal_backend): superuser only up to 17; from 18 also members of
 * pg_signal_autovacuum_worker.
 */
static inline bool
rb_may_signal_autovacuum_worker(Oid roleid)
{
#if PG_VERSION_NUM >= 180000
	return superuser_arg(roleid) ||
		has_privs_of_role(roleid, ROLE_PG_SIGNAL_AUTOVACUUM_WORKER);
#else
	return superuser_arg(roleid);
#endif
}

/*
 * Fields of a table's cumulative statistics (PgStat_StatTabEntry, from
 * pgstat_fetch_stat_tabentry): renamed in 16.  The macros take the entry
 * pointer and name the field, so they read and write alike.
 */
#if PG_VERSION_NUM < 160000
#define RB_TABSTAT_LIVE_TUPLES(e)			((e)->n_live_tuples)
#define RB_TABSTAT_DEAD_TUPLES(e)			((e)->n_dead_tuples)
#define RB_TABSTAT_MOD_SINCE_ANALYZE(e)		((e)->changes_since_analyze)
#define RB_TABSTAT_INS_SINCE_VACUUM(e)		((e)->inserts_since_vacuum)
#define RB_TABSTAT_LAST_VACUUM(e)			((e)->vacuum_timestamp)
#define RB_TABSTAT_LAST_AUTOVACUUM(e)		((e)->autovac_vacuum_timestamp)
#define RB_TABSTAT_LAST_ANALYZE(e)			((e)->analyze_timestamp)
#define RB_TABSTAT_LAST_AUTOANALYZE(e)		((e)->autovac_analyze_timestamp)
#define RB_TABSTAT_AUTOVACUUM_COUNT(e)		((e)->autovac_vacuum_count)
#define RB_TABSTAT_AUTOANALYZE_COUNT(e)		((e)->autovac_analyze_count)
#else
#define RB_TABSTAT_LIVE_TUPLES(e)			((e)->live_tuples)
#define RB_TABSTAT_DEAD_TUPLES(e)			((e)->dead_tuples)
#define RB_TABSTAT_MOD_SINCE_ANALYZE(e)		((e)->mod_since_analyze)
#define RB_TABSTAT_INS_SINCE_VACUUM(e)		((e)->ins_since_vacuum)
#define RB_TABSTAT_LAST_VACUUM(e)			((e)->last_vacuum_time)
#define RB_TABSTAT_LAST_AUTOVACUUM(e)		((e)->last_autovacuum_time)
#define RB_TABSTAT_LAST_ANALYZE(e)			((e)->last_analyze_time)
#define RB_TABSTAT_LAST_AUTOANALYZE(e)		((e)->last_autoanalyze_time)
#define RB_TABSTAT_AUTOVACUUM_COUNT(e)		((e)->autovacuum_count)
#define RB_TABSTAT_AUTOANALYZE_COUNT(e)		((e)->autoanalyze_count)
#endif

/*
 * The file of a relation: 16 renamed RelFileNode to RelFileLocator and
 * "filenode" to "filenumber" (RelationMapOidToFilenumber), 17 replaced
 * InvalidBackendId by INVALID_PROC_NUMBER, and 18 returns the path in a
 * struct (RelPathStr) instead of a palloc'd string.
 */

/* relfilenumber of a mapped relation (pg_class.relfilenode = 0) */
static inline Oid
rb_relation_map_filenumber(Oid relid, bool shared)
{
#if PG_VERSION_NUM < 160000
	return RelationMapOidToFilenode(relid, shared);
#else
	return RelationMapOidToFilenumber(relid, shared);
#endif
}

/*
 * Path, relative to the data directory, of the first segment of one fork of
 * a permanent (not temporary) relation; palloc'd.
 */
static inline char *
rb_relation_fork_path(Oid spcoid, Oid dboid, Oid relfilenumber,
					  ForkNumber fork)
{
#if PG_VERSION_NUM < 170000
	return GetRelationPath(dboid, spcoid, relfilenumber, InvalidBackendId, fork);
#elif PG_VERSION_NUM < 180000
	return GetRelationPath(dboid, spcoid, relfilenumber, INVALID_PROC_NUMBER, fork);
#else
	return pstrdup(GetRelationPath(dboid, spcoid, relfilenumber,
								   INVALID_PROC_NUMBER, fork).str);
#endif
}

/*
 * Entry points of background workers: from 16 symbols are hidden by
 * default, and the postmaster finds the function by name, so it must be
 * exported (PGDLLEXPORT, which is empty where nothing is hidden).
 */
#define RB_WORKER_ENTRY PGDLLEXPORT

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

/*
 * PgStat_StatDBEntry counters (pg_stat_database): 16 dropped the n_ prefix
 * (n_xact_commit -> xact_commit, ...).
 */
#if PG_VERSION_NUM < 160000
#define RB_DBSTAT(e, field)		((e)->n_##field)
#else
#define RB_DBSTAT(e, field)		((e)->field)
#endif

/*
 * The temporary-file directory and prefix ("pgsql_tmp"): storage/fd.h up to
 * 16, common/file_utils.h from 17.
 */
#if PG_VERSION_NUM >= 170000
#include "common/file_utils.h"
#else
#include "storage/fd.h"
#endif

#endif							/* PG_RUNBOOK_COMPAT_H */
