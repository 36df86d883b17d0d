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
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"
#include "audit.h"
#include "snapshot.h"

PG_FUNCTION_INFO_V1(rb_recent_actions);

#define RB_SCHEMA "runbook"		/* fixed by pg_runbook.control */

static RbAuditEntry *ring = NULL;

/* ---------- shared memory ---------- */

Size
rb_audit_shmem_size(void)
{
	return mul_size(sizeof(RbAuditEntry), rb_audit_ring_size);
}

/* Called once, by the postmaster, with the space after RbShared. */
void
rb_audit_shmem_init(void *space)
{
	memset(space, 0, rb_audit_shmem_size());
	rb_shared->audit_ring_size = rb_audit_ring_size;
	rb_shared->audit_next_seq = 1;
	rb_shared->audit_epoch = GetCurrentTimestamp();
}

static RbAuditEntry *
audit_ring(void)
{
	if (ring == NULL && rb_shared != NULL)
		ring = (RbAuditEntry *) ((char *) rb_shared + MAXALIGN(sizeof(RbShared)));
	return ring;
}

/* ---------- helpers ---------- */

void
rb_client_addr_text(const SockAddr *sa, char *buf, size_t len)
{
	char		host[NI_MAXHOST];
	int			family = sa->addr.ss_family;

	buf[0] = '\0';
	if (family != AF_INET && family != AF_INET6)
		return;
	host[0] = '\0';
	if (pg_getnameinfo_all(&sa->addr, sa->salen, host, sizeof(host),
						   NULL, 0, NI_NUMERICHOST) != 0)
		return;
	clean_ipv6_addr(family, host);
	strlcpy(buf, host, len);
}

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
	appendStringInfo(&s, "pg_runbook audit: seq=%llu%s",
					 (unsigned long long) e->seq,
					 correction ? " correction=true" : "");
	append_quoted(&s, "actor", e->actor);
	append_quoted(&s, "acting_role", e->acting_role);
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

/*
 * Append entries to the ring (assigning their sequence numbers) and write
 * their LOG lines.  Must not fail between the two lock calls.
 */
void
rb_audit_record_batch(RbAuditEntry *es, int n)
{
	RbAuditEntry *r = audit_ring();
	int			i;

	if (r == NULL)
		elog(ERROR, "pg_runbook audit ring not initialised");

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		RbAuditEntry *e = &es[i];

		e->seq = rb_shared->audit_next_seq++;
		e->in_table = false;
		memcpy(&r[(e->seq - 1) % rb_shared->audit_ring_size], e, sizeof(RbAuditEntry));
	}
	LWLockRelease(rb_shared->lock);

	for (i = 0; i < n; i++)
		audit_log(&es[i], false);
}

void
rb_audit_settle(RbAuditEntry *es, int n, const bool *corrected)
{
	RbAuditEntry *r = audit_ring();
	int			i;

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		RbAuditEntry *e = &r[(es[i].seq - 1) % rb_shared->audit_ring_size];

		es[i].pending = false;
		if (e->seq != es[i].seq)
			continue;			/* overwritten already: a tiny ring */
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
	size = rb_shared->audit_ring_size;
	last = rb_shared->audit_next_seq;	/* exclusive */
	first = last > (uint64) size ? last - size : 1;
	*epoch = rb_shared->audit_epoch;
	out = palloc(sizeof(RbAuditEntry) * Max(last - first, 1));
	for (seq = first; seq < last; seq++)
	{
		RbAuditEntry *e = &r[(seq - 1) % size];

		if (e->seq != seq)
			continue;
		if (OidIsValid(only_db) &&
			(e->in_table || e->pending || e->origin_db != only_db))
			continue;
		memcpy(&out[k++], e, sizeof(RbAuditEntry));
	}
	LWLockRelease(rb_shared->lock);
	*n = k;
	return out;
}

/* ---------- runbook.recent_actions() ---------- */

#define RECENT_COLS 20

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
	int			n;
	int			i;
	bool		pending = false;

	rb_require_preload("runbook.recent_actions()");
	InitMaterializedSRF(fcinfo, 0);
	es = ring_copy(&n, &epoch, InvalidOid);

	for (i = 0; i < n; i++)
	{
		RbAuditEntry *e = &es[i];
		Datum		v[RECENT_COLS];
		bool		nl[RECENT_COLS];
		const char *state = rb_state_name((BackendState) e->state);

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
		if (e->client_addr[0])
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
		v[17] = text_or_null(e->query, &nl[17]);
		v[18] = BoolGetDatum(e->in_table);
		v[19] = TimestampTzGetDatum(e->backend_start);
		nl[19] = (e->backend_start == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);

		if (!e->in_table && e->origin_db == MyDatabaseId)
			pending = true;
	}

	/* rows that did not reach the table yet (no worker slot?): retry */
	if (pending)
		rb_audit_launch_writer();

	PG_RETURN_VOID();
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
			RbAuditEntry *e = &r[(pending_seqs[i] - 1) % rb_shared->audit_ring_size];

			if (e->seq == pending_seqs[i])
				e->in_table = true;
		}
		LWLockRelease(rb_shared->lock);
	}
	else if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	pfree(pending_seqs);
	pending_seqs = NULL;
	npending = 0;
}

#define INSERT_ACTION \
	"INSERT INTO " RB_SCHEMA ".actions (ring_epoch, ring_seq, acted_at, actor, " \
	"acting_role, pid, usename, datname, application_name, client_addr, state, " \
	"state_age, xact_age, query_age, action, outcome, reason, detail, query, " \
	"backend_start) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::pg_catalog.inet, " \
	"$11, $12, $13, $14, $15, $16, $17, $18, $19, $20) " \
	"ON CONFLICT (ring_epoch, ring_seq) DO NOTHING"

int
rb_audit_flush(void)
{
	static Oid	argtypes[20] = {
		TIMESTAMPTZOID, INT8OID, TIMESTAMPTZOID, TEXTOID, NAMEOID, INT4OID,
		NAMEOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, INTERVALOID, INTERVALOID,
		INTERVALOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID
	};
	RbAuditEntry *es;
	TimestampTz epoch;
	SPIPlanPtr	plan;
	MemoryContext oldcxt;
	int			n;
	int			i;

	if (rb_shared == NULL || RecoveryInProgress())
		return 0;
	if (!OidIsValid(get_extension_oid("pg_runbook", true)))
		return 0;
	es = ring_copy(&n, &epoch, MyDatabaseId);
	if (n == 0)
		return 0;

	if (!xact_cb_registered)
	{
		RegisterXactCallback(audit_xact_callback, NULL);
		xact_cb_registered = true;
	}

	SPI_connect();
	plan = SPI_prepare(INSERT_ACTION, 20, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));

	for (i = 0; i < n; i++)
	{
		RbAuditEntry *e = &es[i];
		Datum		v[20];
		char		nl[20];
		bool		isnull;
		const char *state = rb_state_name((BackendState) e->state);
		int			rc;

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

		rc = SPI_execute_plan(plan, v, nl, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "inserting into " RB_SCHEMA ".actions failed: %s",
				 SPI_result_code_string(rc));
	}
	SPI_finish();

	/* remember what to mark once this transaction commits */
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (pending_seqs == NULL)
		pending_seqs = palloc(sizeof(uint64) * n);
	else
		pending_seqs = repalloc(pending_seqs, sizeof(uint64) * (npending + n));
	MemoryContextSwitchTo(oldcxt);
	for (i = 0; i < n; i++)
		pending_seqs[npending++] = es[i].seq;
	return n;
}

/*
 * Start the audit writer for this database.  Not on a standby (no table
 * to write); if no worker slot is free, the rows stay in the ring and the
 * next real run or recent_actions() call tries again.
 */
void
rb_audit_launch_writer(void)
{
	BackgroundWorker w;
	BackgroundWorkerHandle *h;

	if (rb_shared == NULL || RecoveryInProgress())
		return;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(w.bgw_library_name, "pg_runbook", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "rb_audit_writer_main", BGW_MAXLEN);
	strlcpy(w.bgw_name, "pg_runbook audit writer", BGW_MAXLEN);
	strlcpy(w.bgw_type, "pg_runbook audit writer", BGW_MAXLEN);
	w.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	w.bgw_notify_pid = 0;

	if (!RegisterDynamicBackgroundWorker(&w, &h))
		ereport(NOTICE,
				(errmsg("could not start the pg_runbook audit writer"),
				 errdetail("The actions are in runbook.recent_actions(); they are copied into runbook.actions by a later call."),
				 errhint("Raise max_worker_processes if this persists.")));
}

/*
 * The audit writer: copy this database's pending ring entries into
 * runbook.actions, in its own transactions, then exit.
 */
void
rb_audit_writer_main(Datum arg)
{
	Oid			dbid = DatumGetObjectId(arg);
	int			round;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	rb_worker_fixed_environment();
	pgstat_report_appname("pg_runbook audit writer");

	for (round = 0; round < 100; round++)
	{
		int			n;

		CHECK_FOR_INTERRUPTS();
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "copying the audit ring into " RB_SCHEMA ".actions");
		n = rb_audit_flush();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		if (n == 0)
			break;
	}
	proc_exit(0);
}
