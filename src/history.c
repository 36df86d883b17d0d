/*-------------------------------------------------------------------------
 *
 * history.c
 *		The flight recorder: settings, shared memory and the "pg_runbook
 *		sampler" background worker.
 *
 * Every pg_runbook.sample_interval the sampler takes one backend snapshot
 * (snapshot.c) and, when a backend waits on a heavyweight lock, one lock
 * snapshot (lockshot.c) analysed by locks.c, and reads the pg_stat_database
 * counters of every database from the shared statistics (no catalog
 * access).  It reduces them to one fixed-size sample (connections by
 * state, where the active sessions are, lock waiters and root blockers,
 * ages, counters) appended to a shared-memory ring of
 * pg_runbook.history_size samples: no table is written, no lock beyond the
 * ring's LWLock is taken on this path.  Crossings of the triage thresholds
 * (connections high, a lock queue formed / grew / cleared, a session
 * passing an age, deadlocks) become events in a second ring, which lasts
 * longer because events are rare.  A third, small area keeps the texts of
 * the queries the samples name.
 *
 * Everything lives in shared memory only: a restart empties it.  The
 * sampler is a separate process from the policy worker, so neither delays
 * the other.  Thresholds come from runbook.alert_thresholds, re-read once
 * a minute and on reload in a short read-only transaction (locks taken
 * conditionally: a locked table keeps the previous values).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "history.h"
#include "locks.h"
#include "lockshot.h"
#include "snapshot.h"

/* settings */
int			rb_sample_interval_ms = 1000;
int			rb_history_size = 3600;
int			rb_history_events = 2048;

#define RB_HIST_MIN_INTERVAL_MS	10
#define RB_HIST_REFRESH_MS		60000	/* thresholds and database list */
#define RB_HIST_MAX_ROOTS		32
#define RB_HIST_MAX_AGE_EVENTS	16	/* session-age events per sample */

static RbHistShared *hist = NULL;

/* ---------- settings ---------- */

static bool
check_sample_interval(int *newval, void **extra, GucSource source)
{
	if (*newval != 0 && *newval < RB_HIST_MIN_INTERVAL_MS)
	{
		GUC_check_errdetail("pg_runbook.sample_interval must be 0 (off) or at least %d ms.",
							RB_HIST_MIN_INTERVAL_MS);
		return false;
	}
	return true;
}

static void
assign_sample_interval(int newval, void *extra)
{
	/* the sampler wakes on SIGHUP anyway; nothing to do here */
}

void
rb_history_init_gucs(void)
{
	DefineCustomIntVariable("pg_runbook.sample_interval",
							"Time between two samples of the pg_runbook flight recorder (runbook.history()); 0 turns sampling off.",
							"At least 10 ms.  Each sample costs about 400 bytes of pg_runbook.history_size.",
							&rb_sample_interval_ms,
							1000, 0, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							check_sample_interval, assign_sample_interval, NULL);

	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("pg_runbook.history_size",
								"Samples kept in the shared-memory ring of the flight recorder (runbook.history()).",
								"About 400 bytes each: the default, 3600, is one hour at a 1 s interval in 1.4 MB.",
								&rb_history_size,
								3600, 10, 1000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomIntVariable("pg_runbook.history_events",
								"Events kept in the shared-memory ring of the flight recorder (runbook.events()).",
								"About 512 bytes each.",
								&rb_history_events,
								2048, 16, 1000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
	}
}

/* ---------- shared memory ---------- */

Size
rb_history_shmem_size(void)
{
	Size		sz = MAXALIGN(sizeof(RbHistShared));

	sz = add_size(sz, mul_size(sizeof(RbHistSample), rb_history_size));
	sz = add_size(sz, mul_size(sizeof(RbHistEvent), rb_history_events));
	sz = add_size(sz, mul_size(sizeof(RbHistQText), RB_HIST_QTEXTS));
	return sz;
}

void
rb_history_shmem_request(void)
{
	RequestAddinShmemSpace(rb_history_shmem_size());
	RequestNamedLWLockTranche("pg_runbook history", 1);
}

void
rb_history_shmem_init(void)
{
	bool		found;
	RbHistShared *h;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	h = ShmemInitStruct("pg_runbook history", rb_history_shmem_size(), &found);
	if (!found)
	{
		memset(h, 0, rb_history_shmem_size());
		h->lock = &(GetNamedLWLockTranche("pg_runbook history"))->lock;
		h->nsamples = rb_history_size;
		h->nevents = rb_history_events;
		h->next_sample = 1;
		h->next_event = 1;
		h->epoch = GetCurrentTimestamp();
	}
	LWLockRelease(AddinShmemInitLock);
	hist = h;
}

RbHistShared *
rb_history_shared(void)
{
	return hist;
}

RbHistSample *
rb_history_samples(RbHistShared *h)
{
	return (RbHistSample *) ((char *) h + MAXALIGN(sizeof(RbHistShared)));
}

RbHistEvent *
rb_history_events_ring(RbHistShared *h)
{
	return (RbHistEvent *) (rb_history_samples(h) + h->nsamples);
}

RbHistQText *
rb_history_qtexts(RbHistShared *h)
{
	return (RbHistQText *) (rb_history_events_ring(h) + h->nevents);
}

/* ---------- registration ---------- */

void
rb_history_register_worker(void)
{
	/* consistent state: samples a hot standby too */
	rb_register_static_worker("rb_history_sampler_main", "pg_runbook sampler");
}

/* ---------- the sampler's private state ---------- */

typedef struct Thresholds
{
	double		connections_pct;	/* connections_sev2_pct */
	double		lock_wait_s;	/* lock_wait_seconds */
	double		long_query_s;	/* long_query_seconds */
	double		idle_xact_s;	/* idle_xact_seconds */
} Thresholds;

typedef struct TrackedRoot
{
	int			pid;
	TimestampTz since;
	int			reported;		/* blocked count last reported */
	int			max_blocked;
	bool		long_reported;
	bool		seen;
} TrackedRoot;

/* sessions over an age threshold, so that each crossing is told once */
typedef struct AgeMemo
{
	int			pid;			/* hash key */
	TimestampTz backend_start;
	TimestampTz query_start;	/* reported long_query for this statement */
	TimestampTz state_start;	/* reported idle_in_transaction */
	TimestampTz xact_start;		/* reported long_transaction */
	uint64		seen;
} AgeMemo;

typedef struct SamplerState
{
	Thresholds	thr;
	Oid		   *dboids;			/* in TopMemoryContext */
	int			ndboids;
	TimestampTz refreshed_at;
	bool		refresh_now;
	bool		conn_high;
	int			nroots;
	TrackedRoot roots[RB_HIST_MAX_ROOTS];
	HTAB	   *memo;
	uint64		nsample;
	bool		have_prev;
	int64		prev_deadlocks;
	/* events of the current sample */
	int			nevents;
	int			maxevents;
	RbHistEvent *events;
} SamplerState;

static SamplerState st;

static void
thresholds_default(Thresholds *t)
{
	t->connections_pct = 80;
	t->lock_wait_s = 60;
	t->long_query_s = 300;
	t->idle_xact_s = 600;
}

static void
set_error(const char *msg)
{
	LWLockAcquire(hist->lock, LW_EXCLUSIVE);
	strlcpy(hist->status.last_error, msg ? msg : "", sizeof(hist->status.last_error));
	hist->status.last_error_at = msg ? GetCurrentTimestamp() : 0;
	LWLockRelease(hist->lock);
}

/*
 * Re-read the thresholds (runbook.alert_thresholds, when the extension is
 * installed in this database) and the list of databases, in one short
 * read-only transaction.  Relations are locked conditionally: if one is
 * locked (a DDL in progress), the previous values stay.
 */
static void
refresh_settings(void)
{
	Thresholds	t = st.thr;
	Oid		   *oids = NULL;
	int			noids = -1;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "pg_runbook sampler: reading thresholds");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (OidIsValid(get_extension_oid("pg_runbook", true)))
	{
		Oid			nsp = get_namespace_oid("runbook", true);
		Oid			relid = OidIsValid(nsp) ? get_relname_relid("alert_thresholds", nsp) : InvalidOid;

		if (OidIsValid(relid) && ConditionalLockRelationOid(relid, AccessShareLock))
		{
			int			i;

			if (SPI_execute("SELECT t.name::pg_catalog.text, t.value::pg_catalog.float8"
							"  FROM runbook.alert_thresholds t"
							" WHERE t.name OPERATOR(pg_catalog.=) ANY (ARRAY['connections_sev2_pct',"
							" 'lock_wait_seconds', 'long_query_seconds', 'idle_xact_seconds']::pg_catalog.text[])",
							true, 0) != SPI_OK_SELECT)
				elog(ERROR, "reading runbook.alert_thresholds failed");
			for (i = 0; i < (int) SPI_processed; i++)
			{
				bool		n1,
							n2;
				Datum		d1 = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &n1);
				Datum		d2 = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &n2);
				char	   *name;
				double		v;

				if (n1 || n2)
					continue;
				name = TextDatumGetCString(d1);
				v = DatumGetFloat8(d2);
				if (strcmp(name, "connections_sev2_pct") == 0)
					t.connections_pct = v;
				else if (strcmp(name, "lock_wait_seconds") == 0)
					t.lock_wait_s = v;
				else if (strcmp(name, "long_query_seconds") == 0)
					t.long_query_s = v;
				else if (strcmp(name, "idle_xact_seconds") == 0)
					t.idle_xact_s = v;
			}
		}
	}
	else
		thresholds_default(&t);

	if (ConditionalLockRelationOid(DatabaseRelationId, AccessShareLock))
	{
		if (SPI_execute("SELECT d.oid FROM pg_catalog.pg_database d", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "reading pg_database failed");
		noids = (int) SPI_processed;
		oids = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * (noids + 1));
		for (int i = 0; i < noids; i++)
		{
			bool		isnull;

			oids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		}
		/* the shared-relation entry of pg_stat_database */
		oids[noids++] = InvalidOid;
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	st.thr = t;
	if (noids >= 0)
	{
		if (st.dboids)
			pfree(st.dboids);
		st.dboids = oids;
		st.ndboids = noids;
	}
	st.refreshed_at = GetCurrentTimestamp();
}

/* ---------- events ---------- */

static RbHistEvent *
event_new(const char *kind, TimestampTz at, int pid)
{
	RbHistEvent *e;

	if (st.nevents >= st.maxevents)
	{
		st.maxevents = Max(16, st.maxevents * 2);
		st.events = st.events ?
			repalloc(st.events, sizeof(RbHistEvent) * st.maxevents) :
			palloc(sizeof(RbHistEvent) * st.maxevents);
	}
	e = &st.events[st.nevents++];
	memset(e, 0, sizeof(RbHistEvent));
	strlcpy(e->kind, kind, sizeof(e->kind));
	e->at = at;
	e->pid = pid;
	return e;
}

/* The (truncated) query text of a session, read fresh. */
static void
event_query(RbHistEvent *e, int pid)
{
	RbBackend	b;

	if (pid <= 0)
		return;
	if (rb_backend_read(pid, &b, RB_SNAP_QUERY) && b.query)
	{
		strlcpy(e->query, b.query, sizeof(e->query));
		e->roleid = b.roleid;
	}
}

static double
secs(TimestampTz later, TimestampTz earlier)
{
	return (double) (later - earlier) / USECS_PER_SEC;
}

/*
 * An event about a session that has been in something ('since') for at
 * least 'threshold' seconds; 'fmt' takes the pid, the age and the
 * threshold.
 */
static void
age_event(const char *kind, TimestampTz now, const RbBackend *b,
		  TimestampTz since, double threshold, const char *fmt)
{
	RbHistEvent *e = event_new(kind, now, b->pid);

	e->value = secs(now, since);
	e->threshold = threshold;
	snprintf(e->detail, sizeof(e->detail), fmt, b->pid, e->value, e->threshold);
	event_query(e, b->pid);
}

/* ---------- one sample ---------- */

typedef struct WaitCount
{
	uint32		wait_event_info;
	int			count;
} WaitCount;

typedef struct QCount
{
	bool		used;
	uint32		wait_event_info;
	uint64		qkey;
	int			count;
	int			pid;			/* one session running it */
	TimestampTz query_start;
	bool		is_queryid;
} QCount;

static inline uint64
hash64(uint64 v)
{
	v ^= v >> 33;
	v *= UINT64CONST(0xff51afd7ed558ccd);
	v ^= v >> 33;
	v *= UINT64CONST(0xc4ceb9fe1a85ec53);
	v ^= v >> 33;
	return v;
}

/* An event about a lock queue: its root, the sessions behind it. */
static RbHistEvent *
queue_event(const char *kind, TimestampTz now, RbWaitGraph *g,
			const RbLockRoot *r)
{
	RbHistEvent *e = event_new(kind, now, r->pid);
	int		   *nodes;
	int			n = rb_wait_graph_behind(g, r->pid, &nodes);
	int			k;

	for (k = 0; k < n && e->npids < RB_HIST_EV_PIDS; k++)
		e->pids[e->npids++] = g->nodes[nodes[k]].pid;
	e->value = r->blocked;
	return e;
}

/*
 * The key under which a statement's waits are counted: its query id when
 * the server computes them (compute_query_id), else the statement itself
 * (pid and start time), so that its text can still be shown.
 */
static uint64
query_key(const RbBackend *b, bool *is_queryid)
{
	if (b->query_id != 0)
	{
		*is_queryid = true;
		return b->query_id;
	}
	*is_queryid = false;
	return hash64(((uint64) (uint32) b->pid << 32) ^ (uint64) b->query_start) | 1;
}

static void
lock_events(TimestampTz now, RbSnapshot *snap, RbWaitGraph *g,
			RbLockRoot *roots, int nroots)
{
	int			i,
				j;

	for (j = 0; j < st.nroots; j++)
		st.roots[j].seen = false;

	for (i = 0; i < nroots && i < RB_HIST_MAX_ROOTS; i++)
	{
		RbLockRoot *r = &roots[i];
		TrackedRoot *t = NULL;

		for (j = 0; j < st.nroots; j++)
			if (st.roots[j].pid == r->pid)
				t = &st.roots[j];

		if (t == NULL && st.nroots < RB_HIST_MAX_ROOTS)
		{
			RbHistEvent *e = queue_event("lock_queue_formed", now, g, r);

			snprintf(e->detail, sizeof(e->detail),
					 "%d session(s) waiting on locks behind %s %d",
					 r->blocked, r->pid ? "pid" : "a prepared transaction,", r->pid);
			event_query(e, r->pid);

			t = &st.roots[st.nroots++];
			memset(t, 0, sizeof(TrackedRoot));
			t->pid = r->pid;
			t->since = now;
			t->reported = r->blocked;
			t->max_blocked = r->blocked;
		}
		else if (t != NULL && r->blocked >= 2 * t->reported && r->blocked > t->reported)
		{
			RbHistEvent *e = queue_event("lock_queue_grew", now, g, r);

			snprintf(e->detail, sizeof(e->detail),
					 "%d session(s) waiting behind pid %d (was %d)",
					 r->blocked, r->pid, t->reported);
			event_query(e, r->pid);
			t->reported = r->blocked;
		}
		if (t == NULL)
			continue;
		t->seen = true;
		t->max_blocked = Max(t->max_blocked, r->blocked);
		if (!t->long_reported && r->oldest_wait != 0 &&
			secs(now, r->oldest_wait) >= st.thr.lock_wait_s)
		{
			RbHistEvent *e = event_new("lock_wait_long", now, r->pid);

			e->value = secs(now, r->oldest_wait);
			e->threshold = st.thr.lock_wait_s;
			snprintf(e->detail, sizeof(e->detail),
					 "a session has waited %.0f s behind pid %d (lock_wait_seconds %.0f)",
					 e->value, r->pid, e->threshold);
			t->long_reported = true;
		}
	}

	/* queues that are gone */
	for (j = 0; j < st.nroots;)
	{
		TrackedRoot *t = &st.roots[j];

		if (!t->seen)
		{
			RbHistEvent *e = event_new("lock_queue_cleared", now, t->pid);
			bool		alive = t->pid > 0 && rb_snapshot_find(snap, t->pid) != NULL;

			e->value = secs(now, t->since);
			snprintf(e->detail, sizeof(e->detail),
					 "the queue behind pid %d cleared after %.1f s (at most %d waiting); the root blocker %s",
					 t->pid, e->value, t->max_blocked,
					 t->pid == 0 ? "was a prepared transaction" :
					 alive ? "released its locks" : "session ended");
			st.roots[j] = st.roots[--st.nroots];
			continue;
		}
		j++;
	}
}

static void
age_events(TimestampTz now, RbSnapshot *snap)
{
	int			i;
	int			told = 0;
	HASH_SEQ_STATUS seq;
	AgeMemo    *m;

	if (st.memo == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int);
		ctl.entrysize = sizeof(AgeMemo);
		st.memo = hash_create("pg_runbook sampler ages", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS);
	}

	for (i = 0; i < snap->nbackends; i++)
	{
		RbBackend  *b = &snap->backends[i];
		bool		long_query,
					idle_xact,
					long_xact;
		bool		found;

		if (!rb_is_client_backend(b) || b->pid == MyProcPid)
			continue;
		long_query = b->state == STATE_RUNNING && b->query_start != 0 &&
			secs(now, b->query_start) >= st.thr.long_query_s;
		idle_xact = (b->state == STATE_IDLEINTRANSACTION ||
					 b->state == STATE_IDLEINTRANSACTION_ABORTED) &&
			b->state_start != 0 && secs(now, b->state_start) >= st.thr.idle_xact_s;
		long_xact = b->xact_start != 0 && secs(now, b->xact_start) >= st.thr.long_query_s;
		if (!long_query && !idle_xact && !long_xact)
			continue;

		m = hash_search(st.memo, &b->pid, HASH_ENTER, &found);
		if (!found || m->backend_start != b->backend_start)
		{
			m->backend_start = b->backend_start;
			m->query_start = m->state_start = m->xact_start = 0;
		}
		m->seen = st.nsample;

		if (told >= RB_HIST_MAX_AGE_EVENTS)
			continue;			/* told in a later sample */
		if (long_query && m->query_start != b->query_start)
		{
			age_event("long_query", now, b, b->query_start, st.thr.long_query_s,
					  "a statement of pid %d has run %.0f s (long_query_seconds %.0f)");
			m->query_start = b->query_start;
			told++;
		}
		if (idle_xact && m->state_start != b->state_start)
		{
			age_event("idle_in_transaction", now, b, b->state_start, st.thr.idle_xact_s,
					  "pid %d has been idle in transaction %.0f s (idle_xact_seconds %.0f)");
			m->state_start = b->state_start;
			told++;
		}
		if (long_xact && m->xact_start != b->xact_start)
		{
			age_event("long_transaction", now, b, b->xact_start, st.thr.long_query_s,
					  "a transaction of pid %d has been open %.0f s (long_query_seconds %.0f)");
			m->xact_start = b->xact_start;
			told++;
		}
	}

	/* forget sessions that are no longer over a threshold */
	hash_seq_init(&seq, st.memo);
	while ((m = hash_seq_search(&seq)) != NULL)
		if (m->seen != st.nsample)
			hash_search(st.memo, &m->pid, HASH_REMOVE, NULL);
}

static void
add_wait(WaitCount *w, int *nw, int maxw, uint32 info)
{
	int			i;

	for (i = 0; i < *nw; i++)
		if (w[i].wait_event_info == info)
		{
			w[i].count++;
			return;
		}
	if (*nw < maxw)
	{
		w[*nw].wait_event_info = info;
		w[*nw].count = 1;
		(*nw)++;
	}
	else
		w[maxw - 1].count++;	/* unreachable in practice: counted last */
}

/* pg_stat_database, summed over the databases; false if none is there */
static bool
read_dbstats(RbHistSample *s)
{
	int			i;
	bool		any = false;

	for (i = 0; i < st.ndboids; i++)
	{
		PgStat_StatDBEntry *e = pgstat_fetch_stat_dbentry(st.dboids[i]);

		if (e == NULL)
			continue;
		any = true;
		s->xact_commit += RB_DBSTAT(e, xact_commit);
		s->xact_rollback += RB_DBSTAT(e, xact_rollback);
		s->deadlocks += RB_DBSTAT(e, deadlocks);
		s->temp_files += RB_DBSTAT(e, temp_files);
		s->temp_bytes += RB_DBSTAT(e, temp_bytes);
		s->blks_read += RB_DBSTAT(e, blocks_fetched) - RB_DBSTAT(e, blocks_hit);
		s->blks_hit += RB_DBSTAT(e, blocks_hit);
		pfree(e);
	}
	return any;
}

static int64
worker_actions(void)
{
	int64		n = 0;

	if (rb_shared == NULL)
		return 0;
	LWLockAcquire(rb_shared->lock, LW_SHARED);
	n = (int64) rb_shared->worker.actions;
	LWLockRelease(rb_shared->lock);
	return n;
}

static void
take_sample(void)
{
	TimestampTz t0 = GetCurrentTimestamp();
	TimestampTz now;
	RbSnapshot *snap;
	RbLockShot *shot;
	RbHistSample s;
	TransactionId next_xid = ReadNextTransactionId();
	WaitCount	waits[64];
	int			nwaits = 0;
	QCount	   *qc;
	uint32		qmask;
	int			i,
				k;
	RbHistQText *qtexts = rb_history_qtexts(hist);
	char	   *newtext[RB_HIST_QWAITS];
	bool		newisq[RB_HIST_QWAITS];
	Oid			newrole[RB_HIST_QWAITS];
	bool		known[RB_HIST_QWAITS];
	int			qtop[RB_HIST_QWAITS];
	int			nqtop = 0;
	double		ms;

	st.nsample++;
	st.nevents = 0;
	memset(&s, 0, sizeof(s));
	s.oldest_xmin_age = -1;

	snap = rb_snapshot_take(0);
	now = snap->taken_at;
	s.sampled_at = now;
	s.usable = Max(MaxConnections - rb_reserved_connections(), 0);

	/* the statement table is sized by the active sessions (usually few) */
	k = 0;
	for (i = 0; i < snap->nbackends; i++)
		if (snap->backends[i].state == STATE_RUNNING ||
			snap->backends[i].state == STATE_FASTPATH)
			k++;
	qmask = 16;
	while (qmask < (uint32) k * 2)
		qmask <<= 1;
	qc = palloc0(sizeof(QCount) * qmask);
	qmask--;

	for (i = 0; i < snap->nbackends; i++)
	{
		RbBackend  *b = &snap->backends[i];
		TransactionId x;

		s.backends++;
		if (b->pid == MyProcPid)
			continue;
		x = TransactionIdIsNormal(b->xmin) ? b->xmin : b->xid;
		if (TransactionIdIsNormal(x))
		{
			int64		age = (int32) (next_xid - x);

			if (age > s.oldest_xmin_age)
				s.oldest_xmin_age = age;
		}
		if (!rb_is_client_backend(b))
			continue;
		s.connections++;
		if (b->xact_start != 0)
			s.oldest_xact_us = Max(s.oldest_xact_us, now - b->xact_start);
		switch (b->state)
		{
			case STATE_RUNNING:
			case STATE_FASTPATH:
				{
					bool		isq;
					uint64		key = query_key(b, &isq);
					uint32		h = (uint32) hash64(key ^ b->wait_event_info) & qmask;

					s.active++;
					if (b->wait_event_info != 0)
						s.active_waiting++;
					if (b->query_start != 0)
					{
						s.oldest_query_us = Max(s.oldest_query_us, now - b->query_start);
						if (secs(now, b->query_start) >= st.thr.long_query_s)
							s.long_running++;
					}
					add_wait(waits, &nwaits, lengthof(waits), b->wait_event_info);
					for (;; h = (h + 1) & qmask)
					{
						QCount	   *q = &qc[h];

						if (!q->used)
						{
							q->used = true;
							q->qkey = key;
							q->wait_event_info = b->wait_event_info;
							q->pid = b->pid;
							q->query_start = b->query_start;
							q->is_queryid = isq;
						}
						if (q->qkey == key && q->wait_event_info == b->wait_event_info)
						{
							q->count++;
							break;
						}
					}
				}
				break;
			case STATE_IDLE:
				s.idle++;
				break;
			case STATE_IDLEINTRANSACTION:
			case STATE_IDLEINTRANSACTION_ABORTED:
				if (b->state == STATE_IDLEINTRANSACTION)
					s.idle_xact++;
				else
					s.idle_xact_aborted++;
				if (b->state_start != 0)
					s.oldest_idle_xact_us = Max(s.oldest_idle_xact_us, now - b->state_start);
				break;
			default:
				s.other++;
				break;
		}
	}

	/* where the active sessions were: top events, the rest as "other" */
	for (k = 0; k < nwaits && s.nwaits < RB_HIST_WAITS; k++)
	{
		int			best = -1;

		for (i = 0; i < nwaits; i++)
			if (waits[i].count > 0 && (best < 0 || waits[i].count > waits[best].count))
				best = i;
		if (best < 0)
			break;
		if (s.nwaits == RB_HIST_WAITS - 1 && nwaits > RB_HIST_WAITS)
		{
			int			rest = 0;

			for (i = 0; i < nwaits; i++)
				rest += waits[i].count;
			s.waits[s.nwaits].wait_event_info = RB_HIST_OTHER;
			s.waits[s.nwaits++].count = rest;
			break;
		}
		s.waits[s.nwaits].wait_event_info = waits[best].wait_event_info;
		s.waits[s.nwaits++].count = waits[best].count;
		waits[best].count = 0;
	}

	/* ... and the statements with most sessions per event */
	for (k = 0; k < RB_HIST_QWAITS; k++)
	{
		int			best = -1;

		for (i = 0; i <= (int) qmask; i++)
			if (qc[i].used && qc[i].count > 0 &&
				(best < 0 || qc[i].count > qc[best].count))
				best = i;
		if (best < 0)
			break;
		s.qwaits[s.nqwaits].wait_event_info = qc[best].wait_event_info;
		s.qwaits[s.nqwaits].qkey = qc[best].qkey;
		s.qwaits[s.nqwaits++].count = qc[best].count;
		qtop[nqtop++] = best;
		qc[best].count = -qc[best].count;	/* taken */
	}

	/* texts of statements not in the dictionary yet (only this process writes it) */
	for (k = 0; k < nqtop; k++)
	{
		QCount	   *q = &qc[qtop[k]];
		RbBackend	b;

		known[k] = false;
		newtext[k] = NULL;
		newisq[k] = q->is_queryid;
		newrole[k] = InvalidOid;
		for (i = 0; i < RB_HIST_QTEXTS; i++)
			if (qtexts[i].qkey == q->qkey)
			{
				known[k] = true;
				break;
			}
		for (i = 0; i < k && !known[k]; i++)
			if (s.qwaits[i].qkey == q->qkey)
				known[k] = true;	/* same statement, another event */
		if (known[k])
			continue;
		if (rb_backend_read(q->pid, &b, RB_SNAP_QUERY) && b.query &&
			b.query_start == q->query_start)
		{
			newtext[k] = b.query;
			newrole[k] = b.roleid;
		}
	}

	/* heavyweight lock waits */
	shot = rb_lockshot_take();
	s.lock_waiters = shot->nwaiters;
	if (shot->nwaiters > 0 || st.nroots > 0)
	{
		RbWaitGraph *g = rb_wait_graph_build(shot);
		int			nroots;
		RbLockRoot *roots = rb_lock_roots(g, &nroots);
		TimestampTz oldest = 0;

		for (i = 0; i < shot->nwaiters; i++)
			if (shot->waiters[i].wait_start != 0 &&
				(oldest == 0 || shot->waiters[i].wait_start < oldest))
				oldest = shot->waiters[i].wait_start;
		if (oldest != 0)
			s.longest_lock_wait_us = Max(now - oldest, 0);
		s.lock_roots = nroots;
		if (nroots > 0)
		{
			s.root_pid = roots[0].pid;
			s.root_blocked = roots[0].blocked;
		}
		lock_events(now, snap, g, roots, nroots);
	}

	/* connections over the high-water mark, and back */
	if (s.usable > 0)
	{
		double		pct = 100.0 * s.connections / s.usable;

		if (!st.conn_high && pct >= st.thr.connections_pct)
		{
			RbHistEvent *e = event_new("connections_high", now, 0);

			e->value = pct;
			e->threshold = st.thr.connections_pct;
			snprintf(e->detail, sizeof(e->detail),
					 "%d of %d usable connections in use (%d active, %d idle, %d idle in transaction)",
					 s.connections, s.usable, s.active, s.idle, s.idle_xact + s.idle_xact_aborted);
			st.conn_high = true;
		}
		else if (st.conn_high && pct < st.thr.connections_pct)
		{
			RbHistEvent *e = event_new("connections_normal", now, 0);

			e->value = pct;
			e->threshold = st.thr.connections_pct;
			snprintf(e->detail, sizeof(e->detail),
					 "%d of %d usable connections in use", s.connections, s.usable);
			st.conn_high = false;
		}
	}

	age_events(now, snap);

	s.have_dbstats = read_dbstats(&s);
	if (s.have_dbstats && st.have_prev && s.deadlocks > st.prev_deadlocks)
	{
		RbHistEvent *e = event_new("deadlock", now, 0);

		e->value = (double) (s.deadlocks - st.prev_deadlocks);
		snprintf(e->detail, sizeof(e->detail), "%lld deadlock(s) detected since the previous sample",
				 (long long) (s.deadlocks - st.prev_deadlocks));
	}
	if (s.have_dbstats)
	{
		st.have_prev = true;
		st.prev_deadlocks = s.deadlocks;
	}
	s.worker_actions = worker_actions();
	s.interval_ms = rb_sample_interval_ms;

	ms = (double) (GetCurrentTimestamp() - t0) / 1000.0;
	s.sample_ms = (float4) ms;

	/* publish: texts, the sample, the events */
	LWLockAcquire(hist->lock, LW_EXCLUSIVE);
	for (k = 0; k < nqtop; k++)
	{
		uint64		key = s.qwaits[k].qkey;
		int			slot = -1;

		for (i = 0; i < RB_HIST_QTEXTS; i++)
		{
			if (qtexts[i].qkey == key)
			{
				slot = i;
				break;
			}
			if (slot < 0 || qtexts[i].qkey == 0 ||
				(qtexts[slot].qkey != 0 && qtexts[i].last_used < qtexts[slot].last_used))
				slot = i;		/* free, or least recently used */
		}
		if (qtexts[slot].qkey != key)
		{
			if (newtext[k] == NULL)
				continue;
			qtexts[slot].qkey = key;
			strlcpy(qtexts[slot].text, newtext[k], RB_HIST_QTEXT_LEN);
			qtexts[slot].is_queryid = newisq[k];
			qtexts[slot].roleid = newrole[k];
		}
		qtexts[slot].last_used = now;
	}
	s.seq = hist->next_sample++;
	memcpy(&rb_history_samples(hist)[(s.seq - 1) % hist->nsamples], &s, sizeof(s));
	for (k = 0; k < st.nevents; k++)
	{
		RbHistEvent *e = &st.events[k];

		e->seq = hist->next_event++;
		memcpy(&rb_history_events_ring(hist)[(e->seq - 1) % hist->nevents], e,
			   sizeof(RbHistEvent));
	}
	hist->status.samples++;
	hist->status.last_sample_ms = ms;
	hist->status.total_sample_ms += ms;
	hist->status.max_sample_ms = Max(hist->status.max_sample_ms, ms);
	hist->status.interval_ms = rb_sample_interval_ms;
	LWLockRelease(hist->lock);
}

/* ---------- the worker ---------- */

static void
sampler_detach(int code, Datum arg)
{
	LWLockAcquire(hist->lock, LW_EXCLUSIVE);
	if (hist->status.pid == MyProcPid)
		hist->status.pid = 0;
	LWLockRelease(hist->lock);
}

void
rb_history_sampler_main(Datum arg)
{
	MemoryContext samplectx;
	static TimestampTz next_due = 0;	/* static: survives the longjmp */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (hist == NULL)
		proc_exit(0);

	/*
	 * Connect where the policy worker connected.  pg_runbook.database may
	 * name no database yet: the worker then waits for it (logging that
	 * once), and a sampler that tried on its own would fail with a FATAL at
	 * every restart.  Until the worker is connected the sampler waits.
	 */
	for (;;)
	{
		Oid			dbid;

		LWLockAcquire(rb_shared->lock, LW_SHARED);
		dbid = rb_shared->worker.dbid;
		LWLockRelease(rb_shared->lock);
		if (OidIsValid(dbid))
		{
			BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
			break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 200L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	pgstat_report_appname("pg_runbook sampler");

	/* a fixed environment that database and role settings cannot change */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("stats_fetch_consistency", "none", PGC_SUSET, PGC_S_OVERRIDE);
	/* its statements are not recorded in pg_stat_statements */
	rb_worker_untracked();

	LWLockAcquire(hist->lock, LW_EXCLUSIVE);
	hist->status.pid = MyProcPid;
	hist->status.started_at = GetCurrentTimestamp();
	hist->status.interval_ms = rb_sample_interval_ms;
	LWLockRelease(hist->lock);
	before_shmem_exit(sampler_detach, (Datum) 0);

	ereport(LOG,
			(errmsg("pg_runbook sampler started (sample_interval = %d ms, history_size = %d samples)",
					rb_sample_interval_ms, hist->nsamples)));

#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)

	/*
	 * A sample's snapshot arrays (about 0.5 MB with 1,000 connection slots)
	 * are freed at the end of each sample.  With glibc's defaults, that
	 * memory goes back to the kernel every time and comes back as fresh
	 * zeroed pages at the next sample: page faults were most of the cost.
	 * Keep it in this process (only this process's allocator is changed).
	 */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif

	memset(&st, 0, sizeof(st));
	thresholds_default(&st.thr);
	st.refresh_now = true;
	samplectx = AllocSetContextCreate(TopMemoryContext, "pg_runbook sample",
									  ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		TimestampTz now;
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			st.refresh_now = true;
			next_due = 0;
			LWLockAcquire(hist->lock, LW_EXCLUSIVE);
			hist->status.interval_ms = rb_sample_interval_ms;
			LWLockRelease(hist->lock);
		}

		now = GetCurrentTimestamp();
		if (rb_sample_interval_ms > 0 && now >= next_due)
		{
			MemoryContext old;

			MemoryContextReset(samplectx);
			old = MemoryContextSwitchTo(samplectx);
			PG_TRY();
			{
				if (st.refresh_now ||
					TimestampDifferenceExceeds(st.refreshed_at, now, RB_HIST_REFRESH_MS))
				{
					st.refresh_now = false;
					refresh_settings();
				}
				take_sample();
			}
			PG_CATCH();
			{
				ErrorData  *edata;

				MemoryContextSwitchTo(samplectx);
				edata = CopyErrorData();
				FlushErrorState();
				AbortCurrentTransaction();
				LWLockReleaseAll();
				ereport(LOG,
						(errmsg("pg_runbook sampler: sample failed: %s", edata->message)));
				set_error(edata->message);
				st.events = NULL;	/* was in samplectx */
				st.maxevents = 0;
			}
			PG_END_TRY();
			MemoryContextSwitchTo(old);
			/* events were allocated in samplectx: forget them with it */
			st.events = NULL;
			st.maxevents = 0;

			/* the next tick, without drift; after a stall, from now */
			if (next_due == 0)
				next_due = now;
			next_due = TimestampTzPlusMilliseconds(next_due, rb_sample_interval_ms);
			now = GetCurrentTimestamp();
			if (next_due < now)
				next_due = TimestampTzPlusMilliseconds(now, rb_sample_interval_ms);
		}

		if (rb_sample_interval_ms > 0)
			sleep_ms = (long) Max((next_due - GetCurrentTimestamp()) / 1000, 1);
		else
			sleep_ms = 60000;	/* off: a reload wakes us */

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
