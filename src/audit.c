/*-------------------------------------------------------------------------
 *
 * audit.c
 *		The audit of remediation: every action and every skip of a real run
 *		goes to
 *
 *	1. a ring in shared memory (pg_runbook.audit_ring_size entries), written
 *	   under the RbShared lock.  It is not transactional: it survives the
 *	   caller's rollback and works on standbys.  runbook.recent_actions()
 *	   reads it.  It is the authoritative record until a restart.
 *	2. the table runbook.actions, on a primary.  Rows are copied from the
 *	   ring by a short-lived background worker ("pg_runbook audit writer")
 *	   in a transaction of its own, started after each real run, so they
 *	   survive the caller's rollback too.  Each ring entry carries
 *	   (ring_epoch, ring_seq), unique in the table, so a copy is never made
 *	   twice; an entry is marked as copied only after the copying
 *	   transaction committed.
 *	3. one structured LOG line (key=value) per entry.
 *
 * The ring loses nothing: on a primary, a slot whose entry has not reached
 * runbook.actions is never reused.  A remedy call that needs more room
 * than is free waits for the writer (rb_audit_room); if the ring stays full
 * (no writer can run, the table is locked) the entries that do not fit are
 * spilled: written to the LOG only, and counted (runbook.audit_status()).
 * At most one writer runs at a time; it copies the entries of every
 * database in turn, retries a failed copy with a back-off, and records its
 * last error for audit_status().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netdb.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "common/ip.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "tcop/tcopprot.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"
#include "audit.h"
#include "snapshot.h"
#include "viewer.h"

PG_FUNCTION_INFO_V1(rb_recent_actions);
PG_FUNCTION_INFO_V1(rb_audit_status);

#define RB_SCHEMA "runbook"		/* fixed by pg_runbook.control */

/* a writer that was asked for but has not attached after this long failed */
#define WRITER_START_TIMEOUT_MS	10000
/* attempts of one writer at a copy that fails, and the first back-off */
#define WRITER_ATTEMPTS			12
#define WRITER_BACKOFF_MS		100
#define WRITER_BACKOFF_MAX_MS	10000

int			rb_audit_wait_ms = 5000;

/*
 * The audit's shared memory, its own area "pg_runbook audit": this header,
 * then the ring of entries.  Protected by rb_shared->lock (shmem.c), like
 * the worker's state.
 */
typedef struct RbAuditShared
{
	int			ring_size;		/* number of entries */
	uint64		next_seq;		/* sequence number of the next entry (from 1) */
	TimestampTz epoch;			/* when the ring was created: (epoch, seq)
								 * identifies an entry across restarts */
	uint64		spilled;		/* entries that found no free slot */
	uint64		copied;			/* entries copied into a table */
	int			writer_pid;		/* the running writer, 0 = none */
	Oid			writer_db;		/* its database (or the one asked for) */
	TimestampTz writer_asked_at;	/* launch requested, not attached yet */
	uint64		writer_starts;
	uint64		writer_failures;	/* copies that failed (each retried) */
	TimestampTz last_copy_at;
	TimestampTz last_error_at;
	char		last_error[256];
} RbAuditShared;

static RbAuditShared *audit_shared = NULL;
static RbAuditEntry *ring = NULL;	/* NULL when not preloaded */

/* ---------- shared memory and settings ---------- */

static Size
rb_audit_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(RbAuditShared)),
					mul_size(sizeof(RbAuditEntry), rb_audit_ring_size));
}

/* From the shmem_request_hook (pg_runbook.c). */
void
rb_audit_shmem_request(void)
{
	RequestAddinShmemSpace(rb_audit_shmem_size());
}

/* From the shmem_startup_hook (pg_runbook.c), after rb_shmem_startup(). */
void
rb_audit_shmem_startup(void)
{
	bool		found;
	char	   *area;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	area = ShmemInitStruct("pg_runbook audit", rb_audit_shmem_size(), &found);
	audit_shared = (RbAuditShared *) area;
	if (!found)
	{
		memset(area, 0, rb_audit_shmem_size());
		audit_shared->ring_size = rb_audit_ring_size;
		audit_shared->next_seq = 1;
		audit_shared->epoch = GetCurrentTimestamp();
	}
	LWLockRelease(AddinShmemInitLock);
	ring = (RbAuditEntry *) (area + MAXALIGN(sizeof(RbAuditShared)));
}

static RbAuditEntry *
audit_ring(void)
{
	return ring;
}

void
rb_audit_define_gucs(void)
{
	DefineCustomIntVariable("pg_runbook.audit_wait",
							"Longest wait of a remedy call for room in a full audit ring.",
							"A call that records more entries than the ring has free slots waits for the audit writer to copy older entries into runbook.actions; after this long the entries that do not fit are written to the log only (spilled).",
							&rb_audit_wait_ms,
							5000, 0, 600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* May this slot be reused?  (Caller holds rb_shared->lock.) */
static inline bool
slot_free(const RbAuditEntry *e)
{
	return e->seq == 0 || (!e->pending && (e->in_table || e->log_only));
}

/* Does this entry wait for the writer of some database? */
static inline bool
entry_to_copy(const RbAuditEntry *e)
{
	return e->seq != 0 && !e->pending && !e->in_table && !e->log_only;
}

/* ---------- helpers ---------- */

/* key="value", the value escaped (rb_append_escaped: quotes, backslashes, control characters) */
static void
append_quoted(StringInfo s, const char *key, const char *val)
{
	appendStringInfo(s, " %s=\"", key);
	rb_append_escaped(s, val);
	appendStringInfoChar(s, '"');
}

/* key=12.345s, or key= when the start time is unset */
static void
append_age(StringInfo s, const char *key, TimestampTz now, TimestampTz then)
{
	if (then == 0)
		appendStringInfo(s, " %s=", key);
	else
		appendStringInfo(s, " %s=%.3fs", key, (double) (now - then) / USECS_PER_SEC);
}

static void
audit_log(const RbAuditEntry *e, bool correction)
{
	StringInfoData s;
	const char *state = rb_state_name((BackendState) e->state);

	initStringInfo(&s);
	appendStringInfo(&s, "pg_runbook audit: seq=%llu%s%s",
					 (unsigned long long) e->seq,
					 correction ? " correction=true" : "",
					 e->seq == 0 ? " spilled=true" : "");
	append_quoted(&s, "actor", e->actor);
	append_quoted(&s, "acting_role", e->acting_role);
	append_quoted(&s, "session_role", e->session_role);
	appendStringInfo(&s, " action=%s outcome=%s reason=%s pid=%d",
					 e->action, e->outcome, e->reason, e->pid);
	append_quoted(&s, "usename", e->usename);
	append_quoted(&s, "datname", e->datname);
	append_quoted(&s, "application_name", e->appname);
	appendStringInfo(&s, " client_addr=%s state=%s",
					 e->client_addr[0] ? e->client_addr : "local",
					 state ? state : "unknown");
	append_age(&s, "state_age", e->acted_at, e->state_start);
	append_age(&s, "xact_age", e->acted_at, e->xact_start);
	append_age(&s, "query_age", e->acted_at, e->query_start);
	append_age(&s, "backend_age", e->acted_at, e->backend_start);
	append_quoted(&s, "detail", e->detail);
	append_quoted(&s, "query", e->query);

	ereport(LOG, (errhidestmt(true), errhidecontext(true),
				  errmsg_internal("%s", s.data)));
	pfree(s.data);
}

/* current_user and session_user, for an entry */
void
rb_audit_fill_roles(RbAuditEntry *e)
{
	char	   *s;

	s = GetUserNameFromId(GetUserId(), true);
	strlcpy(e->acting_role, s ? s : "", sizeof(e->acting_role));
	s = GetUserNameFromId(GetSessionUserId(), true);
	strlcpy(e->session_role, s ? s : "", sizeof(e->session_role));
}

/*
 * How many of the next 'want' entries have a free slot; wait for the
 * writer when none has.  See audit.h.
 */
int
rb_audit_room(int want)
{
	RbAuditEntry *r = audit_ring();
	TimestampTz deadline = 0;

	if (r == NULL || want <= 0)
		return want;
	for (;;)
	{
		int			room = 0;
		int			size;
		uint64		next;

		LWLockAcquire(rb_shared->lock, LW_SHARED);
		size = audit_shared->ring_size;
		next = audit_shared->next_seq;
		while (room < want && room < size &&
			   slot_free(&r[(next - 1 + room) % size]))
			room++;
		LWLockRelease(rb_shared->lock);
		if (room > 0)
			return room;

		/* full of entries not copied yet: have the writer copy them */
		if (deadline == 0)
			deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   rb_audit_wait_ms);
		else if (GetCurrentTimestamp() >= deadline)
			return 0;
		rb_audit_launch_writer();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Append entries to the ring (assigning their sequence numbers) and write
 * their LOG lines.  Nothing can fail while the lock is held.  An entry
 * whose slot is not free (an entry there has not reached its table) is
 * spilled: seq 0, LOG line only.
 */
void
rb_audit_record_batch(RbAuditEntry *es, int n)
{
	RbAuditEntry *r = audit_ring();
	bool		standby = RecoveryInProgress();
	int			i;

	if (r == NULL)
		elog(ERROR, "pg_runbook audit ring not initialised");

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		RbAuditEntry *e = &es[i];
		RbAuditEntry *slot = &r[(audit_shared->next_seq - 1) % audit_shared->ring_size];

		e->in_table = false;
		/* on a standby there is no table: the LOG line is the record */
		e->log_only = standby;
		if (!slot_free(slot))
		{
			e->seq = 0;
			audit_shared->spilled++;
			continue;
		}
		e->seq = audit_shared->next_seq++;
		memcpy(slot, e, sizeof(RbAuditEntry));
	}
	LWLockRelease(rb_shared->lock);

	PG_TRY();
	{
		int			j;

		for (j = 0; j < n; j++)
			audit_log(&es[j], false);
	}
	PG_CATCH();
	{
		/* nothing was signalled: no entry of this batch may stay pending */
		RbAuditEntry *rr = audit_ring();
		int			j;

		LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
		for (j = 0; j < n; j++)
		{
			RbAuditEntry *e;

			if (!es[j].pending || es[j].seq == 0)
				continue;
			e = &rr[(es[j].seq - 1) % audit_shared->ring_size];
			if (e->seq != es[j].seq)
				continue;
			strlcpy(e->outcome, "skipped", sizeof(e->outcome));
			strlcpy(e->reason, "audit_error", sizeof(e->reason));
			strlcpy(e->detail, "the audit could not be written; not signalled",
					sizeof(e->detail));
			e->pending = false;
		}
		LWLockRelease(rb_shared->lock);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

void
rb_audit_settle(RbAuditEntry *es, int n, const bool *corrected)
{
	RbAuditEntry *r = audit_ring();
	int			i;

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		RbAuditEntry *e;

		es[i].pending = false;
		if (es[i].seq == 0)
			continue;			/* spilled: the LOG line is all there is */
		e = &r[(es[i].seq - 1) % audit_shared->ring_size];
		if (e->seq != es[i].seq)
			continue;			/* cannot happen: pending slots are not reused */
		if (corrected && corrected[i])
		{
			strlcpy(e->outcome, es[i].outcome, sizeof(e->outcome));
			strlcpy(e->reason, es[i].reason, sizeof(e->reason));
			strlcpy(e->detail, es[i].detail, sizeof(e->detail));
		}
		e->pending = false;
	}
	LWLockRelease(rb_shared->lock);

	for (i = 0; i < n; i++)
		if (corrected && corrected[i])
			audit_log(&es[i], true);
}

void
rb_audit_record_control(const char *action, const char *outcome,
						const char *skip_reason, int pid, const char *detail)
{
	RbAuditEntry e;

	memset(&e, 0, sizeof(e));
	e.origin_db = MyDatabaseId;
	e.acted_at = GetCurrentTimestamp();
	e.pid = pid;
	strlcpy(e.action, action, sizeof(e.action));
	strlcpy(e.outcome, outcome, sizeof(e.outcome));
	if (skip_reason)
		strlcpy(e.reason, skip_reason, sizeof(e.reason));
	snprintf(e.actor, sizeof(e.actor), "%s_worker", action);
	rb_audit_fill_roles(&e);
	if (detail)
		strlcpy(e.detail, detail, sizeof(e.detail));
	if (rb_audit_room(1) == 0)
		ereport(WARNING,
				(errmsg("the pg_runbook audit ring is full: this action is in the server log only"),
				 errhint("See runbook.audit_status().")));
	rb_audit_record_batch(&e, 1);
	if (!rb_am_background_worker())
		rb_audit_launch_writer();
}

/*
 * Copy the ring's live entries, oldest first, into a palloc'd array.
 * only_db: only entries not yet in the table whose origin is this database.
 */
static RbAuditEntry *
ring_copy(int *n, TimestampTz *epoch, Oid only_db)
{
	RbAuditEntry *r = audit_ring();
	RbAuditEntry *out;
	uint64		first,
				last,
				seq;
	int			size;
	int			k = 0;

	LWLockAcquire(rb_shared->lock, LW_SHARED);
	size = audit_shared->ring_size;
	last = audit_shared->next_seq;	/* exclusive */
	first = last > (uint64) size ? last - size : 1;
	*epoch = audit_shared->epoch;
	out = palloc(sizeof(RbAuditEntry) * Max(last - first, 1));
	for (seq = first; seq < last; seq++)
	{
		RbAuditEntry *e = &r[(seq - 1) % size];

		if (e->seq != seq)
			continue;
		if (OidIsValid(only_db) &&
			(!entry_to_copy(e) || e->origin_db != only_db))
			continue;
		memcpy(&out[k++], e, sizeof(RbAuditEntry));
	}
	LWLockRelease(rb_shared->lock);
	*n = k;
	return out;
}

/* ---------- runbook.recent_actions() ---------- */

#define RECENT_COLS 21

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s[0] == '\0');
	return *isnull ? (Datum) 0 : CStringGetTextDatum(s);
}

Datum
rb_recent_actions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbAuditEntry *es;
	TimestampTz epoch;
	RbViewer   *viewer;
	int			n;
	int			i;

	rb_require_preload("runbook.recent_actions()");
	InitMaterializedSRF(fcinfo, 0);
	viewer = rb_viewer_new();
	es = ring_copy(&n, &epoch, InvalidOid);

	for (i = 0; i < n; i++)
	{
		RbAuditEntry *e = &es[i];
		Datum		v[RECENT_COLS];
		bool		nl[RECENT_COLS];
		const char *state = rb_state_name((BackendState) e->state);

		/*
		 * pg_stat_activity's rule: the query and the client address of a
		 * session only to a caller who may see that session's role.
		 */
		bool		visible = rb_viewer_can_see(viewer, e->roleid);

		memset(nl, 0, sizeof(nl));
		v[0] = Int64GetDatum((int64) e->seq);
		v[1] = TimestampTzGetDatum(e->acted_at);
		v[2] = CStringGetTextDatum(e->actor);
		v[3] = DirectFunctionCall1(namein, CStringGetDatum(e->acting_role));
		v[4] = Int32GetDatum(e->pid);
		v[5] = DirectFunctionCall1(namein, CStringGetDatum(e->usename));
		nl[5] = (e->usename[0] == '\0');
		v[6] = DirectFunctionCall1(namein, CStringGetDatum(e->datname));
		nl[6] = (e->datname[0] == '\0');
		v[7] = CStringGetTextDatum(e->appname);
		if (e->client_addr[0] && visible)
			v[8] = DirectFunctionCall1(inet_in, CStringGetDatum(e->client_addr));
		else
			nl[8] = true;
		if (state)
			v[9] = CStringGetTextDatum(state);
		else
			nl[9] = true;
		v[10] = rb_age_datum(e->acted_at, e->state_start, &nl[10]);
		v[11] = rb_age_datum(e->acted_at, e->xact_start, &nl[11]);
		v[12] = rb_age_datum(e->acted_at, e->query_start, &nl[12]);
		v[13] = CStringGetTextDatum(e->action);
		v[14] = CStringGetTextDatum(e->outcome);
		v[15] = text_or_null(e->reason, &nl[15]);
		v[16] = text_or_null(e->detail, &nl[16]);
		v[17] = text_or_null(visible || e->query[0] == '\0' ? e->query :
							 RB_INSUFFICIENT_PRIVILEGE, &nl[17]);
		v[18] = BoolGetDatum(e->in_table);
		v[19] = TimestampTzGetDatum(e->backend_start);
		nl[19] = (e->backend_start == 0);
		v[20] = DirectFunctionCall1(namein, CStringGetDatum(e->session_role));
		nl[20] = (e->session_role[0] == '\0');
		/* a 1.0 definition (before ALTER EXTENSION UPDATE) has 20 columns */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
	}

	/*
	 * A monitoring call never starts a background worker: the writer is
	 * started by the calls that record, and retries by itself.
	 */
	PG_RETURN_VOID();
}

/* ---------- runbook.audit_status() ---------- */

#define STATUS_COLS 13

Datum
rb_audit_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		v[STATUS_COLS];
	bool		nl[STATUS_COLS];
	RbAuditEntry *r;
	RbAuditShared st;
	int			size;
	int			used = 0;
	int			pending = 0;
	int			signalling = 0;
	int			i;
	bool		running;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rb_require_preload("runbook.audit_status()");
	r = audit_ring();

	LWLockAcquire(rb_shared->lock, LW_SHARED);
	size = audit_shared->ring_size;
	for (i = 0; i < size; i++)
	{
		if (r[i].seq == 0)
			continue;
		used++;
		if (r[i].pending)
			signalling++;
		else if (entry_to_copy(&r[i]))
			pending++;
	}
	memcpy(&st, audit_shared, sizeof(st));
	LWLockRelease(rb_shared->lock);

	running = rb_process_alive(st.writer_pid);
	memset(nl, 0, sizeof(nl));
	v[0] = Int32GetDatum(size);
	v[1] = Int32GetDatum(used);
	v[2] = Int32GetDatum(pending);
	v[3] = Int32GetDatum(signalling);
	v[4] = Int64GetDatum((int64) st.spilled);
	v[5] = Int64GetDatum((int64) st.copied);
	v[6] = BoolGetDatum(running);
	/* asked for and not attached yet (a start that failed ends in 10 s) */
	v[7] = BoolGetDatum(st.writer_pid == 0 && st.writer_asked_at != 0 &&
						!TimestampDifferenceExceeds(st.writer_asked_at,
													GetCurrentTimestamp(),
													WRITER_START_TIMEOUT_MS));
	v[8] = Int32GetDatum(st.writer_pid);
	nl[8] = !running;
	v[9] = Int64GetDatum((int64) st.writer_failures);
	v[10] = TimestampTzGetDatum(st.last_copy_at);
	nl[10] = (st.last_copy_at == 0);
	v[11] = CStringGetTextDatum(st.last_error);
	nl[11] = (st.last_error[0] == '\0');
	v[12] = TimestampTzGetDatum(st.last_error_at);
	nl[12] = (st.last_error_at == 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, nl)));
}

/* ---------- copying the ring into runbook.actions ---------- */

static uint64 *pending_seqs = NULL;
static int	npending = 0;
static bool xact_cb_registered = false;

/* Mark the entries copied by a committed transaction; forget on abort. */
static void
audit_xact_callback(XactEvent event, void *arg)
{
	int			i;

	if (npending == 0)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		RbAuditEntry *r = audit_ring();

		LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
		for (i = 0; i < npending; i++)
		{
			RbAuditEntry *e = &r[(pending_seqs[i] - 1) % audit_shared->ring_size];

			if (e->seq == pending_seqs[i] && !e->in_table)
			{
				e->in_table = true;
				audit_shared->copied++;
			}
		}
		audit_shared->last_copy_at = GetCurrentTimestamp();
		LWLockRelease(rb_shared->lock);
	}
	else if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	pfree(pending_seqs);
	pending_seqs = NULL;
	npending = 0;
}

/* Entries of this database that no table will take: the log has them. */
static void
mark_log_only(RbAuditEntry *es, int n, bool only_controls)
{
	RbAuditEntry *r = audit_ring();
	int			i;

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		RbAuditEntry *e = &r[(es[i].seq - 1) % audit_shared->ring_size];

		if (only_controls && (strcmp(es[i].action, "cancel") == 0 ||
							  strcmp(es[i].action, "terminate") == 0))
			continue;
		if (e->seq == es[i].seq && entry_to_copy(e))
			e->log_only = true;
	}
	LWLockRelease(rb_shared->lock);
}

/* Every type and function of the built SQL is qualified (pg_catalog). */
#define INSERT_ACTION_10 \
	"INSERT INTO " RB_SCHEMA ".actions (ring_epoch, ring_seq, acted_at, actor, " \
	"acting_role, pid, usename, datname, application_name, client_addr, state, " \
	"state_age, xact_age, query_age, action, outcome, reason, detail, query, " \
	"backend_start) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, " \
	"CAST($10 AS pg_catalog.inet), " \
	"$11, $12, $13, $14, $15, $16, $17, $18, $19, $20) " \
	"ON CONFLICT (ring_epoch, ring_seq) DO NOTHING"
#define INSERT_ACTION \
	"INSERT INTO " RB_SCHEMA ".actions (ring_epoch, ring_seq, acted_at, actor, " \
	"acting_role, pid, usename, datname, application_name, client_addr, state, " \
	"state_age, xact_age, query_age, action, outcome, reason, detail, query, " \
	"backend_start, session_role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, " \
	"CAST($10 AS pg_catalog.inet), " \
	"$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) " \
	"ON CONFLICT (ring_epoch, ring_seq) DO NOTHING"

/*
 * Does runbook.actions have the 1.1 columns?  (A database still at 1.0,
 * before ALTER EXTENSION UPDATE, has neither session_role nor the
 * pause / resume actions.)
 */
static bool
actions_table_is_11(void)
{
	Oid			nsp = get_namespace_oid(RB_SCHEMA, true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("actions", nsp) : InvalidOid;

	return OidIsValid(rel) && get_attnum(rel, "session_role") != InvalidAttrNumber;
}

int
rb_audit_flush(void)
{
	static Oid	argtypes[21] = {
		TIMESTAMPTZOID, INT8OID, TIMESTAMPTZOID, TEXTOID, NAMEOID, INT4OID,
		NAMEOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, INTERVALOID, INTERVALOID,
		INTERVALOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
		NAMEOID
	};
	RbAuditEntry *es;
	TimestampTz epoch;
	SPIPlanPtr	plan;
	MemoryContext oldcxt;
	bool		v11;
	int			nargs;
	int			n;
	int			i;
	int			copied = 0;

	if (rb_shared == NULL || RecoveryInProgress())
		return 0;
	es = ring_copy(&n, &epoch, MyDatabaseId);
	if (n == 0)
		return 0;
	if (!OidIsValid(get_extension_oid("pg_runbook", true)))
	{
		/* the extension was dropped since: no table to copy to */
		mark_log_only(es, n, false);
		return 0;
	}
	v11 = actions_table_is_11();
	if (!v11)
		mark_log_only(es, n, true);	/* 1.0's table takes only signals */
	nargs = v11 ? 21 : 20;

	if (!xact_cb_registered)
	{
		RegisterXactCallback(audit_xact_callback, NULL);
		xact_cb_registered = true;
	}

	SPI_connect();
	plan = SPI_prepare(v11 ? INSERT_ACTION : INSERT_ACTION_10, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));

	/* remember what to mark once this transaction commits */
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (pending_seqs == NULL)
		pending_seqs = palloc(sizeof(uint64) * n);
	else
		pending_seqs = repalloc(pending_seqs, sizeof(uint64) * (npending + n));
	MemoryContextSwitchTo(oldcxt);

	for (i = 0; i < n; i++)
	{
		RbAuditEntry *e = &es[i];
		Datum		v[21];
		char		nl[21];
		bool		isnull;
		const char *state = rb_state_name((BackendState) e->state);
		int			rc;

		if (!v11 && strcmp(e->action, "cancel") != 0 &&
			strcmp(e->action, "terminate") != 0)
			continue;
		memset(nl, ' ', sizeof(nl));
		v[0] = TimestampTzGetDatum(epoch);
		v[1] = Int64GetDatum((int64) e->seq);
		v[2] = TimestampTzGetDatum(e->acted_at);
		v[3] = CStringGetTextDatum(e->actor);
		v[4] = DirectFunctionCall1(namein, CStringGetDatum(e->acting_role));
		v[5] = Int32GetDatum(e->pid);
		v[6] = DirectFunctionCall1(namein, CStringGetDatum(e->usename));
		if (!e->usename[0])
			nl[6] = 'n';
		v[7] = DirectFunctionCall1(namein, CStringGetDatum(e->datname));
		if (!e->datname[0])
			nl[7] = 'n';
		v[8] = CStringGetTextDatum(e->appname);
		v[9] = text_or_null(e->client_addr, &isnull);
		if (isnull)
			nl[9] = 'n';
		if (state)
			v[10] = CStringGetTextDatum(state);
		else
			nl[10] = 'n';
		v[11] = rb_age_datum(e->acted_at, e->state_start, &isnull);
		if (isnull)
			nl[11] = 'n';
		v[12] = rb_age_datum(e->acted_at, e->xact_start, &isnull);
		if (isnull)
			nl[12] = 'n';
		v[13] = rb_age_datum(e->acted_at, e->query_start, &isnull);
		if (isnull)
			nl[13] = 'n';
		v[14] = CStringGetTextDatum(e->action);
		v[15] = CStringGetTextDatum(e->outcome);
		v[16] = text_or_null(e->reason, &isnull);
		if (isnull)
			nl[16] = 'n';
		v[17] = text_or_null(e->detail, &isnull);
		if (isnull)
			nl[17] = 'n';
		v[18] = text_or_null(e->query, &isnull);
		if (isnull)
			nl[18] = 'n';
		v[19] = TimestampTzGetDatum(e->backend_start);
		if (e->backend_start == 0)
			nl[19] = 'n';
		v[20] = DirectFunctionCall1(namein, CStringGetDatum(e->session_role));
		if (!e->session_role[0])
			nl[20] = 'n';

		rc = SPI_execute_plan(plan, v, nl, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "inserting into " RB_SCHEMA ".actions failed: %s",
				 SPI_result_code_string(rc));
		pending_seqs[npending++] = e->seq;
		copied++;
	}
	SPI_finish();
	return copied;
}

/* ---------- the audit writer ---------- */

/* Is a writer running, or asked for and not attached yet?  (Lock held.) */
static bool
writer_busy(void)
{
	if (audit_shared->writer_pid != 0)
		return true;
	return audit_shared->writer_asked_at != 0 &&
		!TimestampDifferenceExceeds(audit_shared->writer_asked_at,
									GetCurrentTimestamp(),
									WRITER_START_TIMEOUT_MS);
}

static void
set_writer_error(const char *msg)
{
	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	strlcpy(audit_shared->last_error, msg, sizeof(audit_shared->last_error));
	audit_shared->last_error_at = GetCurrentTimestamp();
	LWLockRelease(rb_shared->lock);
}

/* Register the writer for database 'dbid'; the caller marked it asked for. */
static void
start_writer(Oid dbid)
{
	BackgroundWorker w;
	BackgroundWorkerHandle *h;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(w.bgw_library_name, "pg_runbook", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "rb_audit_writer_main", BGW_MAXLEN);
	strlcpy(w.bgw_name, "pg_runbook audit writer", BGW_MAXLEN);
	strlcpy(w.bgw_type, "pg_runbook audit writer", BGW_MAXLEN);
	w.bgw_main_arg = ObjectIdGetDatum(dbid);
	w.bgw_notify_pid = 0;

	if (!RegisterDynamicBackgroundWorker(&w, &h))
	{
		LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
		audit_shared->writer_asked_at = 0;
		audit_shared->writer_failures++;
		strlcpy(audit_shared->last_error, "could not start the audit writer: no background worker slot",
				sizeof(audit_shared->last_error));
		audit_shared->last_error_at = GetCurrentTimestamp();
		LWLockRelease(rb_shared->lock);
		if (!rb_am_background_worker())
			ereport(NOTICE,
					(errmsg("could not start the pg_runbook audit writer"),
					 errdetail("The actions are in runbook.recent_actions(); they are copied into runbook.actions by a later call."),
					 errhint("Raise max_worker_processes if this persists.")));
	}
}

/*
 * Start the audit writer for this database, unless a writer runs or is
 * starting (it takes every database's entries in turn before it exits).
 * Not on a standby (no table to write).
 */
void
rb_audit_launch_writer(void)
{
	bool		go = false;

	if (rb_shared == NULL || RecoveryInProgress() || audit_ring() == NULL)
		return;
	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	if (!writer_busy())
	{
		audit_shared->writer_asked_at = GetCurrentTimestamp();
		audit_shared->writer_db = MyDatabaseId;
		go = true;
	}
	LWLockRelease(rb_shared->lock);
	if (go)
		start_writer(MyDatabaseId);
}

static void
writer_detach(int code, Datum arg)
{
	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	if (audit_shared->writer_pid == MyProcPid)
		audit_shared->writer_pid = 0;
	LWLockRelease(rb_shared->lock);
}

/* One copy in a transaction of its own; false, with the error kept, if it failed. */
static bool
writer_copy(int *n)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	*n = 0;
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "copying the audit ring into " RB_SCHEMA ".actions");
		*n = rb_audit_flush();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("pg_runbook audit writer: copying into " RB_SCHEMA ".actions failed: %s",
						edata->message),
				 errdetail("The entries stay in the ring; the copy is retried.")));
		LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
		audit_shared->writer_failures++;
		LWLockRelease(rb_shared->lock);
		set_writer_error(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/*
 * Entries of databases that were dropped since they were recorded: no
 * writer can ever connect there, and they would hold their ring slots
 * until a restart.  The LOG has them: release their slots.
 */
static void
forget_dropped_databases(Oid self)
{
	Oid			dbs[64];
	int			ndb = 0;
	int			i;
	int			j;

	LWLockAcquire(rb_shared->lock, LW_SHARED);
	for (i = 0; i < audit_shared->ring_size && ndb < lengthof(dbs); i++)
	{
		if (!entry_to_copy(&ring[i]) || ring[i].origin_db == self)
			continue;
		for (j = 0; j < ndb && dbs[j] != ring[i].origin_db; j++)
			;
		if (j == ndb)
			dbs[ndb++] = ring[i].origin_db;
	}
	LWLockRelease(rb_shared->lock);
	if (ndb == 0)
		return;

	StartTransactionCommand();
	for (j = 0; j < ndb; j++)
	{
		int			n = 0;

		if (SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dbs[j])))
			continue;
		LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
		for (i = 0; i < audit_shared->ring_size; i++)
		{
			if (entry_to_copy(&ring[i]) && ring[i].origin_db == dbs[j])
			{
				ring[i].log_only = true;
				n++;
			}
		}
		LWLockRelease(rb_shared->lock);
		if (n > 0)
			ereport(LOG,
					(errmsg("pg_runbook audit writer: %d audit entries of dropped database %u are in the server log only",
							n, dbs[j])));
	}
	CommitTransactionCommand();
}

/*
 * The audit writer: copy this database's entries into runbook.actions, in
 * transactions of its own, retrying a failed copy with a back-off; then
 * hand over to the database with entries left, if any, and exit.
 */
void
rb_audit_writer_main(Datum arg)
{
	Oid			dbid = DatumGetObjectId(arg);
	Oid			next_db = InvalidOid;
	int			failures = 0;
	bool		other = false;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	(void) audit_ring();

	/* at most one writer */
	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	if (audit_shared->writer_pid != MyProcPid &&
		rb_process_alive(audit_shared->writer_pid))
		other = true;
	else
	{
		audit_shared->writer_pid = MyProcPid;
		audit_shared->writer_db = dbid;
		audit_shared->writer_asked_at = 0;
		audit_shared->writer_starts++;
	}
	LWLockRelease(rb_shared->lock);
	if (other)
		proc_exit(0);
	before_shmem_exit(writer_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	rb_worker_fixed_environment();
	pgstat_report_appname("pg_runbook audit writer");

	for (;;)
	{
		int			n;
		bool		more = false;

		CHECK_FOR_INTERRUPTS();
		if (!writer_copy(&n))
		{
			if (++failures >= WRITER_ATTEMPTS)
				break;			/* the next call that records starts a writer again */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Min(WRITER_BACKOFF_MS << Min(failures - 1, 10),
								 WRITER_BACKOFF_MAX_MS),
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		failures = 0;
		if (n > 0)
			continue;

		forget_dropped_databases(dbid);

		/*
		 * Nothing left here.  Under the lock (so that a caller that records
		 * now either sees us running or finds the writer gone): entries
		 * settled meanwhile for this database keep us; else hand over to a
		 * database with entries left.
		 */
		LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
		{
			RbAuditEntry *r = ring;
			int			i;

			for (i = 0; i < audit_shared->ring_size; i++)
			{
				if (!entry_to_copy(&r[i]))
					continue;
				if (r[i].origin_db == dbid)
				{
					more = true;
					break;
				}
				if (!OidIsValid(next_db))
					next_db = r[i].origin_db;
			}
			if (!more)
			{
				audit_shared->writer_pid = 0;
				if (OidIsValid(next_db))
				{
					audit_shared->writer_asked_at = GetCurrentTimestamp();
					audit_shared->writer_db = next_db;
				}
			}
		}
		LWLockRelease(rb_shared->lock);
		if (!more)
			break;
		next_db = InvalidOid;
	}
	if (OidIsValid(next_db))
		start_writer(next_db);
	proc_exit(0);
}
