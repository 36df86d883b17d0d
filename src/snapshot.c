/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *		The one place that reads backend status and PGPROC.
 *
 * rb_snapshot_take() copies every in-use entry of the shared backend status
 * array, in one pass, into a plain palloc'd array, adding the few PGPROC
 * fields the analysis needs (xid, xmin, wait event, lock-group leader).
 * Entries are read with the server's change-count protocol, so no lock is
 * taken and no backend is ever held up.  rb_backend_read() re-reads one
 * backend, fresh, for the re-check before a signal.
 *
 * Unlike pg_stat_activity (pgstat_read_current_status), nothing is cached
 * for the rest of the transaction: every call sees the present.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/backend_status.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"
#include "compat.h"
#include "snapshot.h"

static PgBackendStatus *status_array = NULL;

/*
 * Attach to the server's own "Backend Status Array" (allocated by the
 * postmaster; ShmemInitStruct finds it by name and checks the size).
 */
static PgBackendStatus *
rb_status_array(void)
{
	if (status_array == NULL)
	{
		bool		found;
		Size		size = mul_size(sizeof(PgBackendStatus), RB_NUM_STATUS_SLOTS);
		PgBackendStatus *arr;

		arr = (PgBackendStatus *) ShmemInitStruct("Backend Status Array",
												  size, &found);
		if (!found)
			elog(ERROR, "backend status array not found in shared memory");
		status_array = arr;
	}
	return status_array;
}

/*
 * Copy one status entry with the change-count protocol.  Returns false if
 * the slot is unused.  The query text, if wanted, goes through 'scratch'
 * (track_activity_query_size bytes) and is clipped into a palloc'd copy.
 */
static bool
copy_status_entry(volatile PgBackendStatus *be, RbBackend *out, int flags,
				  char *scratch)
{
	for (;;)
	{
		int			before;
		int			after;
		int			pid;

		pgstat_begin_read_activity(be, before);

		pid = be->st_procpid;
		if (pid > 0)
		{
			out->pid = pid;
			out->backend_type = be->st_backendType;
			out->dbid = be->st_databaseid;
			out->roleid = be->st_userid;
			out->backend_start = be->st_proc_start_timestamp;
			out->xact_start = be->st_xact_start_timestamp;
			out->query_start = be->st_activity_start_timestamp;
			out->state_start = be->st_state_start_timestamp;
			out->state = be->st_state;
			out->query_id = rb_status_query_id(be);
			memcpy(&out->clientaddr, unvolatize(SockAddr *, &be->st_clientaddr),
				   sizeof(SockAddr));
			/* strlcpy is safe: the shared buffers always end in '\0' */
			strlcpy(out->appname, be->st_appname, NAMEDATALEN);
			{
				/* a pointer into shared memory: read it once */
				char	   *host = be->st_clienthostname;

				if (host)
					strlcpy(out->clienthost, host, NAMEDATALEN);
				else
					out->clienthost[0] = '\0';
			}
			if ((flags & RB_SNAP_QUERY) && scratch)
				strlcpy(scratch, be->st_activity_raw,
						pgstat_track_activity_query_size);
		}

		pgstat_end_read_activity(be, after);

		if (pgstat_read_activity_complete(before, after))
		{
			if (pid <= 0)
				return false;
			out->query = NULL;
			if ((flags & RB_SNAP_QUERY) && scratch)
				out->query = pgstat_clip_activity(scratch);
			return true;
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/* Fill the PGPROC-derived fields of 'b' from 'proc' (may be NULL). */
static void
fill_from_proc(RbBackend *b, PGPROC *proc)
{
	volatile PGPROC *p = proc;
	PGPROC	   *leader;

	b->xid = InvalidTransactionId;
	b->xmin = InvalidTransactionId;
	b->wait_event_info = 0;
	b->wait_start = 0;
	b->leader_pid = 0;
	b->is_bgworker = false;
	if (p == NULL || p->pid != b->pid)
		return;
	b->xid = p->xid;
	b->xmin = p->xmin;
	b->wait_event_info = p->wait_event_info;
	b->wait_start = (TimestampTz) pg_atomic_read_u64(unvolatize(pg_atomic_uint64 *, &p->waitStart));
	b->is_bgworker = rb_proc_is_bgworker(p);

	/*
	 * No lock is held here: a leader that ends its parallel query clears
	 * lockGroupLeader (ProcKill, under the leader's partition lock only),
	 * so the pointer is read exactly once.  A stale non-NULL value still
	 * points into ProcGlobal->allProcs (PGPROCs are never freed); its pid,
	 * read once too, is at worst that of a leader that just finished.
	 */
	leader = p->lockGroupLeader;
	if (leader != NULL)
	{
		int			lpid = ((volatile PGPROC *) leader)->pid;

		if (lpid != 0 && lpid != b->pid)
			b->leader_pid = lpid;
	}
}

/*
 * Find the PGPROC of a backend read from status slot 'slot'.  'by_slot'
 * (optional) maps regular slots to PGPROCs from one pass over allProcs; a
 * stale mapping is caught by the pid check and resolved the slow way.
 */
static PGPROC *
proc_for(const RbBackend *b, PGPROC **by_slot)
{
	PGPROC	   *proc = NULL;

	if (by_slot && b->slot < MaxBackends)
		proc = by_slot[b->slot];
	if (proc != NULL && ((volatile PGPROC *) proc)->pid == b->pid)
		return proc;
	proc = BackendPidGetProc(b->pid);
	if (proc == NULL)
		proc = AuxiliaryPidGetProc(b->pid);
	return proc;
}

/*
 * Take a snapshot of every backend.
 */
RbSnapshot *
rb_snapshot_take(int flags)
{
	PgBackendStatus *arr = rb_status_array();
	int			nslots = RB_NUM_STATUS_SLOTS;
	RbSnapshot *snap = palloc(sizeof(RbSnapshot));
	PGPROC	  **by_slot = palloc0(sizeof(PGPROC *) * MaxBackends);
	char	   *scratch = NULL;
	uint32		i;
	int			n = 0;

	/* one pass over PGPROC: status slot -> PGPROC for regular backends */
	for (i = 0; i < ProcGlobal->allProcCount; i++)
	{
		PGPROC	   *proc = &ProcGlobal->allProcs[i];
		int			slot;

		if (((volatile PGPROC *) proc)->pid == 0)
			continue;
		slot = rb_proc_status_slot(proc);
		if (slot >= 0 && slot < MaxBackends)
			by_slot[slot] = proc;
	}

	if (flags & RB_SNAP_QUERY)
		scratch = palloc(pgstat_track_activity_query_size);

	snap->backends = palloc(sizeof(RbBackend) * nslots);
	for (i = 0; i < (uint32) nslots; i++)
	{
		RbBackend  *b = &snap->backends[n];

		if (!copy_status_entry(&arr[i], b, flags, scratch))
			continue;
		b->slot = i;
		fill_from_proc(b, proc_for(b, by_slot));
		n++;
	}
	snap->nbackends = n;
	snap->taken_at = GetCurrentTimestamp();

	if (scratch)
		pfree(scratch);
	pfree(by_slot);
	return snap;
}

/*
 * Re-read one backend, fresh from shared memory.  Returns false if no
 * backend with this pid exists now.
 */
bool
rb_backend_read(int pid, RbBackend *out, int flags)
{
	PgBackendStatus *arr = rb_status_array();
	PGPROC	   *proc;
	char	   *scratch = NULL;
	int			slot;
	bool		ok = false;

	if (pid <= 0)
		return false;
	proc = BackendPidGetProc(pid);
	if (proc == NULL)
		proc = AuxiliaryPidGetProc(pid);
	if (proc == NULL)
		return false;

	if (flags & RB_SNAP_QUERY)
		scratch = palloc(pgstat_track_activity_query_size);

	slot = rb_proc_status_slot(proc);
	if (slot >= 0)
	{
		ok = copy_status_entry(&arr[slot], out, flags, scratch) &&
			out->pid == pid;
		out->slot = slot;
	}
	else
	{
		/* auxiliary process: its slot is past the regular ones */
		for (slot = MaxBackends; slot < RB_NUM_STATUS_SLOTS; slot++)
		{
			if (((volatile PgBackendStatus *) &arr[slot])->st_procpid != pid)
				continue;
			ok = copy_status_entry(&arr[slot], out, flags, scratch) &&
				out->pid == pid;
			out->slot = slot;
			break;
		}
	}
	if (ok)
		fill_from_proc(out, proc);
	if (scratch)
		pfree(scratch);
	return ok;
}

RbBackend *
rb_snapshot_find(RbSnapshot *snap, int pid)
{
	int			i;

	for (i = 0; i < snap->nbackends; i++)
		if (snap->backends[i].pid == pid)
			return &snap->backends[i];
	return NULL;
}

/* pg_stat_activity's names for the states */
const char *
rb_state_name(BackendState state)
{
	switch (state)
	{
		case STATE_IDLE:
			return "idle";
		case STATE_RUNNING:
			return "active";
		case STATE_IDLEINTRANSACTION:
			return "idle in transaction";
		case STATE_FASTPATH:
			return "fastpath function call";
		case STATE_IDLEINTRANSACTION_ABORTED:
			return "idle in transaction (aborted)";
		case STATE_DISABLED:
			return "disabled";
		RB_CASE_STATE_STARTING("starting")
		case STATE_UNDEFINED:
			break;
	}
	return NULL;
}

bool
rb_state_parse(const char *name, BackendState *state)
{
	static const BackendState all[] = {
		STATE_IDLE, STATE_RUNNING, STATE_IDLEINTRANSACTION, STATE_FASTPATH,
		STATE_IDLEINTRANSACTION_ABORTED, STATE_DISABLED
	};
	int			i;

	for (i = 0; i < lengthof(all); i++)
	{
		if (strcmp(name, rb_state_name(all[i])) == 0)
		{
			*state = all[i];
			return true;
		}
	}
	return false;
}

const char *
rb_backend_type_name(const RbBackend *b)
{
	if (b->backend_type == B_BG_WORKER)
	{
		const char *t = GetBackgroundWorkerTypeByPid(b->pid);

		return t ? t : GetBackendTypeDesc(b->backend_type);
	}
	return GetBackendTypeDesc(b->backend_type);
}

/*
 * A client backend: a regular session a user opened (not a walsender, not
 * a background worker, autovacuum or other server process).
 */
bool
rb_is_client_backend(const RbBackend *b)
{
	return b->backend_type == B_BACKEND && !b->is_bgworker;
}

/*
 * Re-read the status entry of a backend already read once (its slot is
 * known): O(1), no lock, no PGPROC access; for the last check right before
 * a signal.  Returns false if the slot now holds no backend or another pid.
 * Only status fields are fresh; the PGPROC-derived ones are copied from
 * 'judged' (they cannot change for the same process that matter here).
 */
bool
rb_backend_recheck(const RbBackend *judged, RbBackend *out)
{
	PgBackendStatus *arr = rb_status_array();

	if (judged->slot < 0 || judged->slot >= RB_NUM_STATUS_SLOTS)
		return false;
	if (!copy_status_entry(&arr[judged->slot], out, 0, NULL) ||
		out->pid != judged->pid)
		return false;
	out->slot = judged->slot;
	out->xid = judged->xid;
	out->xmin = judged->xmin;
	out->wait_event_info = judged->wait_event_info;
	out->leader_pid = judged->leader_pid;
	out->is_bgworker = judged->is_bgworker;
	return true;
}

/*
 * Does a process with this pid have a PGPROC now (a status function's
 * "running" column: the worker, the sampler, the audit writer)?  false for
 * pid 0.
 */
bool
rb_process_alive(int pid)
{
	return pid != 0 && BackendPidGetProc(pid) != NULL;
}

/*
 * Would a connection of an ordinary role get past the reserved-slots check
 * of InitPostgres now (53300 "remaining connection slots are reserved")?
 * Counts the free PGPROCs as that check does.
 */
bool
rb_ordinary_slot_free(void)
{
	int			reserved = rb_reserved_connections();

	return reserved <= 0 || rb_have_free_procs(reserved);
}

/*
 * Are at least n PGPROCs of the client-backend pool free now (the count
 * InitProcess takes a slot from)?  A superuser's new connection needs one.
 */
bool
rb_procs_free(int n)
{
	return n <= 0 || rb_have_free_procs(n);
}
