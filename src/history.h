/*-------------------------------------------------------------------------
 *
 * history.h
 *		The flight recorder (history.c): a shared-memory ring of compact
 *		samples of the server's state, taken every pg_runbook.sample_interval
 *		by the "pg_runbook sampler" background worker from the snapshot layer
 *		(snapshot.c, lockshot.c, locks.c), a ring of events (moments a
 *		threshold was crossed) kept longer than the samples, and a small
 *		dictionary of query texts referenced by the samples.  history_sql.c
 *		has the SQL front ends.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_HISTORY_H
#define PG_RUNBOOK_HISTORY_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/lwlock.h"

#define RB_HIST_WAITS		8	/* wait events kept per sample */
#define RB_HIST_QWAITS		8	/* (wait event, query) pairs kept per sample */
#define RB_HIST_QTEXTS		512 /* query texts in the dictionary */
#define RB_HIST_QTEXT_LEN	200
#define RB_HIST_EV_PIDS		8
#define RB_HIST_EV_KIND_LEN 24
#define RB_HIST_EV_DETAIL_LEN 160
#define RB_HIST_EV_QUERY_LEN 256

/* wait_event_info value that stands for "active, not waiting" (CPU) */
#define RB_HIST_CPU			0
/* ... and for "every other event" once RB_HIST_WAITS are taken */
#define RB_HIST_OTHER		0xFFFFFFFF

typedef struct RbHistWait
{
	uint32		wait_event_info;
	int32		count;
} RbHistWait;

typedef struct RbHistQWait
{
	uint32		wait_event_info;
	int32		count;
	uint64		qkey;			/* query_id, or a statement key; see history.c */
} RbHistQWait;

/* One sample: fixed size, no pointers. */
typedef struct RbHistSample
{
	uint64		seq;
	TimestampTz sampled_at;
	float4		sample_ms;		/* what taking it cost */
	int32		interval_ms;	/* sample_interval in effect */
	/* client connections by state */
	int32		connections;
	int32		active;
	int32		idle;
	int32		idle_xact;
	int32		idle_xact_aborted;
	int32		other;
	int32		usable;			/* usable slots (max_connections - reserved) */
	int32		backends;		/* every process with a status entry */
	int32		active_waiting; /* active client sessions waiting on an event */
	/* heavyweight locks */
	int32		lock_waiters;
	int32		lock_roots;
	int32		root_pid;		/* the root blocker with most sessions behind */
	int32		root_blocked;	/* sessions (transitively) behind it */
	int64		longest_lock_wait_us;
	/* ages */
	int64		oldest_xact_us; /* client backends */
	int64		oldest_idle_xact_us;	/* idle in transaction, state age */
	int64		oldest_query_us;	/* active client statements */
	int64		oldest_xmin_age;	/* xids, every backend; -1 if none */
	int32		long_running;	/* active statements >= long_query_seconds */
	/* the worker's actions, cumulative (worker_status().actions) */
	int64		worker_actions;
	/* pg_stat_database, summed over databases (cumulative) */
	int64		xact_commit;
	int64		xact_rollback;
	int64		deadlocks;
	int64		temp_files;
	int64		temp_bytes;
	int64		blks_read;
	int64		blks_hit;
	bool		have_dbstats;
	/* where active sessions were */
	int32		nwaits;
	RbHistWait	waits[RB_HIST_WAITS];
	int32		nqwaits;
	RbHistQWait qwaits[RB_HIST_QWAITS];
} RbHistSample;

/* One event: a threshold crossed. */
typedef struct RbHistEvent
{
	uint64		seq;
	TimestampTz at;
	char		kind[RB_HIST_EV_KIND_LEN];
	int32		pid;			/* the session concerned (root blocker, ...) */
	int32		npids;
	int32		pids[RB_HIST_EV_PIDS];	/* others involved (waiters) */
	double		value;
	double		threshold;
	char		detail[RB_HIST_EV_DETAIL_LEN];
	char		query[RB_HIST_EV_QUERY_LEN];	/* of 'pid', truncated */
	Oid			roleid;			/* the role of 'pid' when the query was read:
								 * who may see it */
} RbHistEvent;

typedef struct RbHistQText
{
	uint64		qkey;			/* 0 = free */
	TimestampTz last_used;
	bool		is_queryid;		/* qkey is a query id (else a statement) */
	Oid			roleid;			/* the role of the session the text was read
								 * from: who may see it */
	char		text[RB_HIST_QTEXT_LEN];
} RbHistQText;

/* The sampler's status, for runbook.history_status(). */
typedef struct RbHistStatus
{
	int			pid;
	TimestampTz started_at;
	uint64		samples;
	double		last_sample_ms;
	double		total_sample_ms;
	double		max_sample_ms;
	int			interval_ms;	/* in effect in the sampler */
	char		last_error[256];
	TimestampTz last_error_at;
} RbHistStatus;

typedef struct RbHistShared
{
	LWLock	   *lock;
	int			nsamples;		/* ring sizes */
	int			nevents;
	uint64		next_sample;	/* seq of the next sample (from 1) */
	uint64		next_event;
	TimestampTz epoch;			/* when the rings were created */
	RbHistStatus status;
	/* then: samples[nsamples], events[nevents], qtexts[RB_HIST_QTEXTS] */
} RbHistShared;

/* settings */
extern int	rb_sample_interval_ms;
extern int	rb_history_size;
extern int	rb_history_events;

/* called from pg_runbook.c */
extern void rb_history_init_gucs(void);
extern void rb_history_shmem_request(void);
extern void rb_history_shmem_init(void);
extern void rb_history_register_worker(void);

PGDLLEXPORT void rb_history_sampler_main(Datum arg);

/* readers (history_sql.c) */
extern RbHistShared *rb_history_shared(void);
extern RbHistSample *rb_history_samples(RbHistShared *h);
extern RbHistEvent *rb_history_events_ring(RbHistShared *h);
extern RbHistQText *rb_history_qtexts(RbHistShared *h);
extern Size rb_history_shmem_size(void);

#endif							/* PG_RUNBOOK_HISTORY_H */
