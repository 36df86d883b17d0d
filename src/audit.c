/*-------------------------------------------------------------------------
 *
 * audit.c
 *		Audit of every remedy outcome of a real (non-dry) run, three ways:
 *
 *   1. a ring in shared memory (pg_runbook.audit_ring_size entries), written
 *      before anything else: it survives the caller's transaction rolling
 *      back and works on a standby; runbook.recent_actions() reads it;
 *   2. one structured LOG line per outcome;
 *   3. on a primary, rows in runbook.actions, inserted in a subtransaction
 *      of the caller's transaction as the table's owner (a failure there is
 *      a WARNING, never an error after sessions were signalled; and rows of
 *      a transaction that rolls back are gone from the table but stay in
 *      the ring and the log).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netdb.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/ip.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "catalog/pg_class.h"
#include "access/htup_details.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"
#include "audit.h"

PG_FUNCTION_INFO_V1(rb_recent_actions);

int			rb_audit_ring_size = 1000;

Size
rb_audit_shmem_size(void)
{
	return add_size(offsetof(RbAuditRing, entries),
					mul_size(sizeof(RbAuditEntry), rb_audit_ring_size));
}

void
rb_audit_shmem_init(RbAuditRing *ring, bool found)
{
	if (found)
		return;
	memset(ring, 0, rb_audit_shmem_size());
	ring->size = rb_audit_ring_size;
	ring->next_seq = 1;
}

static void
age_text(StringInfo buf, const char *label, int64 us)
{
	if (us < 0)
		return;
	appendStringInfo(buf, " %s=%s", label,
					 DatumGetCString(DirectFunctionCall1(interval_out,
														 IntervalPGetDatum(rb_usecs_to_interval(us)))));
}

static void
client_text(const SockAddr *sa, char *out, size_t len)
{
	char		host[NI_MAXHOST];

	out[0] = '\0';
	if (sa->addr.ss_family == AF_UNIX)
	{
		strlcpy(out, "local", len);
		return;
	}
	if (sa->addr.ss_family != AF_INET && sa->addr.ss_family != AF_INET6)
		return;
	if (pg_getnameinfo_all(&sa->addr, sa->salen, host, sizeof(host), NULL, 0,
						   NI_NUMERICHOST) == 0)
	{
		clean_ipv6_addr(sa->addr.ss_family, host);
		strlcpy(out, host, len);
	}
}

/* Fill a ring entry from a target and its outcome. */
static void
fill_entry(RbAuditEntry *e, RbTarget *t, RbOutcome *o, TimestampTz now,
		   const char *acting_role)
{
	RbBackend  *b = o->found ? &o->current : &t->judged;
	char	   *s;

	memset(e, 0, sizeof(RbAuditEntry));
	e->acted_at = now;
	e->pid = b->pid;
	s = OidIsValid(b->roleid) ? GetUserNameFromId(b->roleid, true) : NULL;
	strlcpy(e->usename, s ? s : "", NAMEDATALEN);
	s = OidIsValid(b->dbid) ? get_database_name(b->dbid) : NULL;
	strlcpy(e->datname, s ? s : "", NAMEDATALEN);
	strlcpy(e->appname, b->appname, NAMEDATALEN);
	client_text(&b->clientaddr, e->client, sizeof(e->client));
	strlcpy(e->state, rb_state_name(b->state) ? rb_state_name(b->state) : "", sizeof(e->state));
	e->state_age_us = b->state_start ? now - b->state_start : -1;
	e->xact_age_us = b->xact_start ? now - b->xact_start : -1;
	e->query_age_us = b->query_start ? now - b->query_start : -1;
	strlcpy(e->action, rb_action_name(t->action), sizeof(e->action));
	strlcpy(e->outcome, o->outcome, sizeof(e->outcome));
	strlcpy(e->reason, o->reason ? o->reason : "", sizeof(e->reason));
	strlcpy(e->actor, t->actor ? t->actor : "", sizeof(e->actor));
	strlcpy(e->acting_role, acting_role, NAMEDATALEN);
	strlcpy(e->detail, t->detail ? t->detail : "", sizeof(e->detail));
	if (o->found && o->current.query)
		strlcpy(e->query, o->current.query, RB_AUDIT_QUERY_LEN);
	else if (t->judged.query)
		strlcpy(e->query, t->judged.query, RB_AUDIT_QUERY_LEN);
}

static void
log_entry(RbAuditEntry *e)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "pg_runbook: action=%s outcome=%s", e->action, e->outcome);
	if (e->reason[0])
		appendStringInfo(&buf, " reason=%s", e->reason);
	appendStringInfo(&buf, " actor=%s acting_role=%s pid=%d user=%s database=%s application=\"%s\" client=%s state=\"%s\"",
					 e->actor, e->acting_role, e->pid, e->usename, e->datname,
					 e->appname, e->client[0] ? e->client : "-", e->state);
	age_text(&buf, "state_age", e->state_age_us);
	age_text(&buf, "xact_age", e->xact_age_us);
	age_text(&buf, "query_age", e->query_age_us);
	if (e->detail[0])
		appendStringInfo(&buf, " why=\"%s\"", e->detail);
	appendStringInfo(&buf, " query=\"%.200s\"", e->query);
	ereport(LOG, (errmsg_internal("%s", buf.data), errhidestmt(true)));
	pfree(buf.data);
}

/* Insert entries into runbook.actions; a failure is a WARNING. */
static void
insert_rows(RbAuditEntry *rows, int n)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Oid			relid;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;

	if (RecoveryInProgress() || !IsTransactionState())
		return;
	relid = get_relname_relid("actions", get_namespace_oid("runbook", true));
	if (!OidIsValid(relid))
		return;
	{
		HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

		if (!HeapTupleIsValid(tp))
			return;
		owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
		ReleaseSysCache(tp);
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	PG_TRY();
	{
		Oid			argtypes[17] = {TIMESTAMPTZOID, TEXTOID, NAMEOID, INT4OID, NAMEOID,
			NAMEOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		SPIPlanPtr	plan;
		int			i;

		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		plan = SPI_prepare("INSERT INTO runbook.actions (acted_at, actor, acting_role, pid, "
						   "usename, datname, application_name, client_addr, state, "
						   "state_age, xact_age, query_age, action, outcome, reason, detail, query) "
						   "VALUES ($1, $2, $3, $4, $5, $6, $7, "
						   "CASE WHEN $8 IN ('', 'local') THEN NULL ELSE $8::inet END, $9, "
						   "$10 * interval '1 microsecond', $11 * interval '1 microsecond', "
						   "$12 * interval '1 microsecond', $13, $14, NULLIF($15, ''), $16, $17)",
						   17, argtypes);
		if (plan == NULL)
			elog(ERROR, "could not prepare the insert into runbook.actions");
		for (i = 0; i < n; i++)
		{
			RbAuditEntry *e = &rows[i];
			Datum		v[17];
			char		nulls[17];

			memset(nulls, ' ', sizeof(nulls));
			v[0] = TimestampTzGetDatum(e->acted_at);
			v[1] = CStringGetTextDatum(e->actor);
			v[2] = DirectFunctionCall1(namein, CStringGetDatum(e->acting_role));
			v[3] = Int32GetDatum(e->pid);
			v[4] = DirectFunctionCall1(namein, CStringGetDatum(e->usename));
			v[5] = DirectFunctionCall1(namein, CStringGetDatum(e->datname));
			v[6] = CStringGetTextDatum(e->appname);
			v[7] = CStringGetTextDatum(e->client);
			v[8] = CStringGetTextDatum(e->state);
			v[9] = Int64GetDatum(e->state_age_us);
			v[10] = Int64GetDatum(e->xact_age_us);
			v[11] = Int64GetDatum(e->query_age_us);
			if (e->state_age_us < 0)
				nulls[9] = 'n';
			if (e->xact_age_us < 0)
				nulls[10] = 'n';
			if (e->query_age_us < 0)
				nulls[11] = 'n';
			v[12] = CStringGetTextDatum(e->action);
			v[13] = CStringGetTextDatum(e->outcome);
			v[14] = CStringGetTextDatum(e->reason);
			v[15] = CStringGetTextDatum(e->detail);
			if (!e->detail[0])
				nulls[15] = 'n';
			v[16] = CStringGetTextDatum(e->query);
			if (SPI_execute_plan(plan, v, nulls, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not insert into runbook.actions");
		}
		SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		SetUserIdAndSecContext(save_userid, save_sec);
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		SPI_restore_connection();
		ereport(WARNING,
				(errmsg("could not record %d action%s in runbook.actions: %s",
						n, n == 1 ? "" : "s", edata->message),
				 errdetail("They are in runbook.recent_actions() and the server log.")));
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * Record the outcomes of the non-dry targets: ring first, then the log,
 * then the table.
 */
void
rb_audit_record(RbTarget *targets, RbOutcome *outcomes, int n)
{
	RbAuditRing *ring = rb_audit_ring();
	RbAuditEntry *rows = palloc(sizeof(RbAuditEntry) * Max(n, 1));
	TimestampTz now = GetCurrentTimestamp();
	char	   *acting = GetUserNameFromId(GetUserId(), true);
	int			nrows = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (targets[i].dry_run)
			continue;
		fill_entry(&rows[nrows++], &targets[i], &outcomes[i], now,
				   acting ? acting : "");
	}
	if (nrows == 0)
		return;

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < nrows; i++)
	{
		RbAuditEntry *slot = &ring->entries[(ring->next_seq - 1) % ring->size];

		rows[i].seq = ring->next_seq++;
		memcpy(slot, &rows[i], sizeof(RbAuditEntry));
	}
	LWLockRelease(rb_shared->lock);

	for (i = 0; i < nrows; i++)
		log_entry(&rows[i]);

	insert_rows(rows, nrows);
}

/* runbook.recent_actions(): the ring, oldest first. */
Datum
rb_recent_actions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbAuditRing *ring;
	RbAuditEntry *copy;
	uint64		first,
				last,
				seq;
	int			n = 0;

	InitMaterializedSRF(fcinfo, 0);
	rb_require_preload("runbook.recent_actions()");
	ring = rb_audit_ring();

	copy = palloc(sizeof(RbAuditEntry) * ring->size);
	LWLockAcquire(rb_shared->lock, LW_SHARED);
	last = ring->next_seq;
	first = (last > (uint64) ring->size) ? last - ring->size : 1;
	for (seq = first; seq < last; seq++)
		copy[n++] = ring->entries[(seq - 1) % ring->size];
	LWLockRelease(rb_shared->lock);

	for (seq = 0; seq < (uint64) n; seq++)
	{
		RbAuditEntry *e = &copy[seq];
		Datum		v[18];
		bool		nulls[18];

		memset(nulls, 0, sizeof(nulls));
		v[0] = Int64GetDatum((int64) e->seq);
		v[1] = TimestampTzGetDatum(e->acted_at);
		v[2] = CStringGetTextDatum(e->actor);
		v[3] = DirectFunctionCall1(namein, CStringGetDatum(e->acting_role));
		v[4] = Int32GetDatum(e->pid);
		v[5] = DirectFunctionCall1(namein, CStringGetDatum(e->usename));
		v[6] = DirectFunctionCall1(namein, CStringGetDatum(e->datname));
		v[7] = CStringGetTextDatum(e->appname);
		if (e->client[0] && strcmp(e->client, "local") != 0)
			v[8] = DirectFunctionCall1(inet_in, CStringGetDatum(e->client));
		else
			nulls[8] = true;
		v[9] = CStringGetTextDatum(e->state);
		if (e->state_age_us >= 0)
			v[10] = IntervalPGetDatum(rb_usecs_to_interval(e->state_age_us));
		else
			nulls[10] = true;
		if (e->xact_age_us >= 0)
			v[11] = IntervalPGetDatum(rb_usecs_to_interval(e->xact_age_us));
		else
			nulls[11] = true;
		if (e->query_age_us >= 0)
			v[12] = IntervalPGetDatum(rb_usecs_to_interval(e->query_age_us));
		else
			nulls[12] = true;
		v[13] = CStringGetTextDatum(e->action);
		v[14] = CStringGetTextDatum(e->outcome);
		if (e->reason[0])
			v[15] = CStringGetTextDatum(e->reason);
		else
			nulls[15] = true;
		if (e->detail[0])
			v[16] = CStringGetTextDatum(e->detail);
		else
			nulls[16] = true;
		v[17] = CStringGetTextDatum(e->query);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	PG_RETURN_VOID();
}
