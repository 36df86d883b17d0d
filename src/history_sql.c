/*-------------------------------------------------------------------------
 *
 * history_sql.c
 *		SQL front ends of the flight recorder (history.c):
 *		runbook.history(since, until), runbook.events(since, until),
 *		runbook._wait_samples(since, until) (under runbook.wait_profile())
 *		and runbook.history_status().
 *
 * Each copies the part of a ring it needs under the ring's LWLock in
 * shared mode (a plain memcpy: the sampler is held up for at most that
 * long), then formats outside the lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "history.h"
#include "snapshot.h"
#include "viewer.h"

PG_FUNCTION_INFO_V1(rb_history);
PG_FUNCTION_INFO_V1(rb_events);
PG_FUNCTION_INFO_V1(rb_wait_samples);
PG_FUNCTION_INFO_V1(rb_history_status);

static RbHistShared *
history_or_error(const char *fn)
{
	RbHistShared *h = rb_history_shared();

	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs pg_runbook in shared_preload_libraries", fn),
				 errhint("Add pg_runbook to shared_preload_libraries in postgresql.conf and restart the server.")));
	return h;
}

/* since / until arguments: NULL since = everything kept, NULL until = now */
static void
window_args(FunctionCallInfo fcinfo, const char *fn, TimestampTz *since, TimestampTz *until)
{
	*since = PG_ARGISNULL(0) ? DT_NOBEGIN : PG_GETARG_TIMESTAMPTZ(0);
	*until = PG_ARGISNULL(1) ? GetCurrentTimestamp() : PG_GETARG_TIMESTAMPTZ(1);
	if (*since > *until)
	{
		/* timestamptz_to_str() returns a static buffer: copy the first */
		char	   *since_str = pstrdup(timestamptz_to_str(*since));

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: since must not be later than until", fn),
				 errdetail("since is %s, until is %s.",
						   since_str, timestamptz_to_str(*until)),
				 errhint("Pass the start of the period first, e.g. runbook.history(now() - interval '1 hour').")));
	}
}

/*
 * Copy the samples taken in [since, until] and, when kept, the one before
 * (for rates).  Returns the number copied; *first_in is the index of the
 * first one in the window (0 or 1).
 */
static int
copy_samples(RbHistShared *h, TimestampTz since, TimestampTz until,
			 RbHistSample **out, int *first_in)
{
	RbHistSample *ring = rb_history_samples(h);
	uint64		oldest,
				newest,
				lo,
				hi,
				first,
				last;
	int			n = 0;

	*out = NULL;
	*first_in = 0;
	LWLockAcquire(h->lock, LW_SHARED);
	newest = h->next_sample - 1;
	oldest = (h->next_sample > (uint64) h->nsamples) ? h->next_sample - h->nsamples : 1;
	if (newest >= oldest)
	{
#define TS(seq) (ring[((seq) - 1) % h->nsamples].sampled_at)
		/* first seq with sampled_at >= since */
		lo = oldest;
		hi = newest + 1;
		while (lo < hi)
		{
			uint64		mid = lo + (hi - lo) / 2;

			if (TS(mid) < since)
				lo = mid + 1;
			else
				hi = mid;
		}
		first = lo;
		/* last seq with sampled_at <= until */
		lo = oldest;
		hi = newest + 1;
		while (lo < hi)
		{
			uint64		mid = lo + (hi - lo) / 2;

			if (TS(mid) <= until)
				lo = mid + 1;
			else
				hi = mid;
		}
		last = lo - 1;
#undef TS
		if (first <= last && last >= oldest)
		{
			uint64		s;

			if (first > oldest)
			{
				first--;
				*first_in = 1;
			}
			n = (int) (last - first + 1);
			*out = palloc(sizeof(RbHistSample) * n);
			for (s = first; s <= last; s++)
				memcpy(&(*out)[s - first], &ring[(s - 1) % h->nsamples], sizeof(RbHistSample));
		}
	}
	LWLockRelease(h->lock);
	return n;
}

static Datum
interval_datum(int64 us, bool *isnull)
{
	*isnull = false;
	return IntervalPGetDatum(rb_usecs_to_interval(Max(us, 0)));
}

static void
wait_names(uint32 info, const char **type, const char **event)
{
	if (info == RB_HIST_CPU)
	{
		*type = "CPU";
		*event = "running";
	}
	else if (info == RB_HIST_OTHER)
	{
		*type = "Other";
		*event = "other events";
	}
	else
	{
		*type = pgstat_get_wait_event_type(info);
		*event = pgstat_get_wait_event(info);
		if (*type == NULL)
			*type = "???";
		if (*event == NULL)
			*event = "???";
	}
}

static Datum
waits_jsonb(const RbHistSample *s)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < s->nwaits; i++)
	{
		const char *type,
				   *event;
		char	   *key;

		wait_names(s->waits[i].wait_event_info, &type, &event);
		key = psprintf("%s:%s", type, event);
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, key);
		appendStringInfo(&buf, ": %d", s->waits[i].count);
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

#define HISTORY_COLS 38

/*
 * runbook.history(since, until): one row per sample, with the rates from
 * the previous sample.
 */
Datum
rb_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbHistShared *h = history_or_error("runbook.history()");
	TimestampTz since,
				until;
	RbHistSample *ss;
	int			n,
				first_in,
				i;

	MemoryContext rowctx;

	window_args(fcinfo, "runbook.history()", &since, &until);
	InitMaterializedSRF(fcinfo, 0);
	n = copy_samples(h, since, until, &ss, &first_in);

	/* each row's values live only until the tuplestore has copied them */
	rowctx = AllocSetContextCreate(CurrentMemoryContext, "runbook.history() row",
								   ALLOCSET_DEFAULT_SIZES);
	for (i = first_in; i < n; i++)
	{
		RbHistSample *s = &ss[i];
		RbHistSample *p = (i > 0) ? &ss[i - 1] : NULL;
		Datum		v[HISTORY_COLS];
		bool		nl[HISTORY_COLS];
		double		dt = p ? (double) (s->sampled_at - p->sampled_at) / USECS_PER_SEC : 0;
		bool		rates = p && dt > 0 && s->have_dbstats && p->have_dbstats &&
			s->xact_commit >= p->xact_commit && s->xact_rollback >= p->xact_rollback &&
			s->deadlocks >= p->deadlocks && s->temp_bytes >= p->temp_bytes &&
			s->blks_read >= p->blks_read && s->blks_hit >= p->blks_hit;
		int			c = 0;
		MemoryContext oldctx = MemoryContextSwitchTo(rowctx);

		memset(nl, 0, sizeof(nl));
		v[c++] = TimestampTzGetDatum(s->sampled_at);
		v[c++] = Int32GetDatum(s->connections);
		v[c++] = Int32GetDatum(s->active);
		v[c++] = Int32GetDatum(s->idle);
		v[c++] = Int32GetDatum(s->idle_xact);
		v[c++] = Int32GetDatum(s->idle_xact_aborted);
		v[c++] = Int32GetDatum(s->other);
		if (s->usable > 0)
			v[c++] = Float8GetDatum(round(1000.0 * s->connections / s->usable) / 10.0);
		else
			nl[c++] = true;
		v[c++] = Int32GetDatum(s->backends);
		v[c++] = Int32GetDatum(s->active_waiting);
		v[c++] = Int32GetDatum(s->lock_waiters);
		v[c++] = Int32GetDatum(s->lock_roots);
		if (s->lock_roots > 0)
		{
			v[c++] = Int32GetDatum(s->root_pid);
			v[c++] = Int32GetDatum(s->root_blocked);
		}
		else
		{
			nl[c++] = true;
			v[c++] = Int32GetDatum(0);
		}
		if (s->lock_waiters > 0)
			v[c] = interval_datum(s->longest_lock_wait_us, &nl[c]);
		else
			nl[c] = true;
		c++;
		v[c] = interval_datum(s->oldest_xact_us, &nl[c]);
		c++;
		v[c] = interval_datum(s->oldest_idle_xact_us, &nl[c]);
		c++;
		v[c] = interval_datum(s->oldest_query_us, &nl[c]);
		c++;
		if (s->oldest_xmin_age >= 0)
			v[c++] = Int64GetDatum(s->oldest_xmin_age);
		else
			nl[c++] = true;
		v[c++] = Int32GetDatum(s->long_running);
		v[c++] = waits_jsonb(s);
		if (p)
			v[c++] = Int64GetDatum(Max(s->worker_actions - p->worker_actions, 0));
		else
			nl[c++] = true;
		/* rates */
		if (rates)
		{
			int64		reads = s->blks_read - p->blks_read;
			int64		hits = s->blks_hit - p->blks_hit;

			v[c++] = Float8GetDatum((s->xact_commit - p->xact_commit +
									 s->xact_rollback - p->xact_rollback) / dt);
			v[c++] = Float8GetDatum((s->xact_commit - p->xact_commit) / dt);
			v[c++] = Float8GetDatum((s->xact_rollback - p->xact_rollback) / dt);
			v[c++] = Float8GetDatum((s->deadlocks - p->deadlocks) / dt);
			v[c++] = Float8GetDatum((s->temp_bytes - p->temp_bytes) / dt);
			if (reads + hits > 0)
				v[c++] = Float8GetDatum(round(1000.0 * hits / (reads + hits)) / 10.0);
			else
				nl[c++] = true;
		}
		else
		{
			int			k;

			for (k = 0; k < 6; k++)
				nl[c++] = true;
		}
		/* cumulative counters, as pg_stat_database names them */
		if (s->have_dbstats)
		{
			v[c++] = Int64GetDatum(s->xact_commit);
			v[c++] = Int64GetDatum(s->xact_rollback);
			v[c++] = Int64GetDatum(s->deadlocks);
			v[c++] = Int64GetDatum(s->temp_files);
			v[c++] = Int64GetDatum(s->temp_bytes);
			v[c++] = Int64GetDatum(s->blks_read);
			v[c++] = Int64GetDatum(s->blks_hit);
		}
		else
		{
			int			k;

			for (k = 0; k < 7; k++)
				nl[c++] = true;
		}
		v[c++] = Int64GetDatum(s->worker_actions);
		if (p)
			v[c++] = Float8GetDatum(dt);
		else
			nl[c++] = true;
		v[c++] = Float8GetDatum(round((double) s->sample_ms * 1000.0) / 1000.0);
		Assert(c == HISTORY_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
		MemoryContextSwitchTo(oldctx);
		MemoryContextReset(rowctx);
	}
	MemoryContextDelete(rowctx);
	PG_RETURN_VOID();
}

/*
 * runbook.events(since, until): the events ring, oldest first.
 */
Datum
rb_events(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbHistShared *h = history_or_error("runbook.events()");
	RbHistEvent *ring = rb_history_events_ring(h);
	TimestampTz since,
				until;
	RbHistEvent *es = NULL;
	int			n = 0,
				i;
	uint64		oldest,
				newest,
				s;
	RbViewer   *viewer;

	window_args(fcinfo, "runbook.events()", &since, &until);
	InitMaterializedSRF(fcinfo, 0);
	viewer = rb_viewer_new();

	LWLockAcquire(h->lock, LW_SHARED);
	newest = h->next_event - 1;
	oldest = (h->next_event > (uint64) h->nevents) ? h->next_event - h->nevents : 1;
	if (newest >= oldest)
	{
		es = palloc(sizeof(RbHistEvent) * (newest - oldest + 1));
		for (s = oldest; s <= newest; s++)
		{
			RbHistEvent *e = &ring[(s - 1) % h->nevents];

			if (e->at >= since && e->at <= until)
				memcpy(&es[n++], e, sizeof(RbHistEvent));
		}
	}
	LWLockRelease(h->lock);

	for (i = 0; i < n; i++)
	{
		RbHistEvent *e = &es[i];
		Datum		v[9];
		bool		nl[9];
		Datum	   *pids;
		int			k;

		memset(nl, 0, sizeof(nl));
		v[0] = Int64GetDatum((int64) e->seq);
		v[1] = TimestampTzGetDatum(e->at);
		v[2] = CStringGetTextDatum(e->kind);
		if (e->pid > 0 || strncmp(e->kind, "lock_", 5) == 0)
			v[3] = Int32GetDatum(e->pid);
		else
			nl[3] = true;
		pids = palloc(sizeof(Datum) * Max(e->npids, 1));
		for (k = 0; k < e->npids; k++)
			pids[k] = Int32GetDatum(e->pids[k]);
		v[4] = PointerGetDatum(construct_array(pids, e->npids, INT4OID, 4, true, TYPALIGN_INT));
		/* a percent or a count: two decimals, not 87.62886597938144 */
		v[5] = Float8GetDatum(rint(e->value * 100.0) / 100.0);
		if (e->threshold > 0)
			v[6] = Float8GetDatum(rint(e->threshold * 100.0) / 100.0);
		else
			nl[6] = true;
		v[7] = CStringGetTextDatum(e->detail);
		/* pg_stat_activity's rule: the query of a role the caller may see */
		if (e->query[0] && !rb_viewer_can_see(viewer, e->roleid))
			v[8] = CStringGetTextDatum(RB_INSUFFICIENT_PRIVILEGE);
		else if (e->query[0])
			v[8] = CStringGetTextDatum(e->query);
		else
			nl[8] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
	}
	PG_RETURN_VOID();
}

/* ---------- wait profile ---------- */

typedef struct ProfKey
{
	uint32		wait_event_info;
	uint32		pad;
	uint64		key;			/* query id, hash of the text, or statement */
} ProfKey;

typedef struct ProfEntry
{
	ProfKey		k;
	int64		samples;
	double		seconds;
	uint64		qkey;			/* one of its statements */
	bool		has_text;
} ProfEntry;

/*
 * runbook._wait_samples(since, until): where the active sessions were, per
 * wait event (kind 'wait_event') and per wait event and statement (kind
 * 'query'; statements without a query id are merged by text).  seconds =
 * session-seconds: each session seen counts for the sample's interval.
 */
Datum
rb_wait_samples(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbHistShared *h = history_or_error("runbook.wait_profile()");
	TimestampTz since,
				until;
	RbHistSample *ss;
	RbHistQText *texts;
	HTAB	   *qindex;
	HTAB	   *byevent;
	HTAB	   *byquery;
	HASHCTL		ctl;
	HASH_SEQ_STATUS seq;
	ProfEntry  *pe;
	int			n,
				first_in,
				i,
				k;
	double		total = 0;
	double		window;
	RbViewer   *viewer;

	window_args(fcinfo, "runbook.wait_profile()", &since, &until);
	InitMaterializedSRF(fcinfo, 0);
	viewer = rb_viewer_new();
	n = copy_samples(h, since, until, &ss, &first_in);
	if (n - first_in <= 0)
		PG_RETURN_VOID();

	/* the statement texts, copied once */
	texts = palloc(sizeof(RbHistQText) * RB_HIST_QTEXTS);
	LWLockAcquire(h->lock, LW_SHARED);
	memcpy(texts, rb_history_qtexts(h), sizeof(RbHistQText) * RB_HIST_QTEXTS);
	LWLockRelease(h->lock);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(uint64) + sizeof(int);
	ctl.hcxt = CurrentMemoryContext;
	qindex = hash_create("wait profile texts", RB_HIST_QTEXTS, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (i = 0; i < RB_HIST_QTEXTS; i++)
	{
		char	   *ent;

		if (texts[i].qkey == 0)
			continue;
		ent = hash_search(qindex, &texts[i].qkey, HASH_ENTER, NULL);
		memcpy(ent + sizeof(uint64), &i, sizeof(int));
	}

	ctl.keysize = sizeof(ProfKey);
	ctl.entrysize = sizeof(ProfEntry);
	byevent = hash_create("wait profile events", 64, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	byquery = hash_create("wait profile queries", 256, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	for (i = first_in; i < n; i++)
	{
		RbHistSample *s = &ss[i];
		double		iv = (double) Max(s->interval_ms, 0) / 1000.0;

		total += s->active * iv;
		for (k = 0; k < s->nwaits; k++)
		{
			ProfKey		key;
			bool		found;

			memset(&key, 0, sizeof(key));
			key.wait_event_info = s->waits[k].wait_event_info;
			pe = hash_search(byevent, &key, HASH_ENTER, &found);
			if (!found)
			{
				pe->samples = 0;
				pe->seconds = 0;
			}
			pe->samples += s->waits[k].count;
			pe->seconds += s->waits[k].count * iv;
		}
		for (k = 0; k < s->nqwaits; k++)
		{
			ProfKey		key;
			bool		found;
			char	   *ent = hash_search(qindex, &s->qwaits[k].qkey, HASH_FIND, NULL);
			RbHistQText *t = NULL;

			if (ent)
			{
				int			ix;

				memcpy(&ix, ent + sizeof(uint64), sizeof(int));
				t = &texts[ix];
			}
			memset(&key, 0, sizeof(key));
			key.wait_event_info = s->qwaits[k].wait_event_info;
			if (t && !t->is_queryid)
				key.key = hash_bytes_extended((const unsigned char *) t->text,
											  strlen(t->text), 0);
			else
				key.key = s->qwaits[k].qkey;
			pe = hash_search(byquery, &key, HASH_ENTER, &found);
			if (!found)
			{
				pe->samples = 0;
				pe->seconds = 0;
				pe->qkey = s->qwaits[k].qkey;
				pe->has_text = (t != NULL);
			}
			pe->samples += s->qwaits[k].count;
			pe->seconds += s->qwaits[k].count * iv;
		}
	}
	window = (double) (ss[n - 1].sampled_at - ss[first_in].sampled_at) / USECS_PER_SEC +
		(double) Max(ss[n - 1].interval_ms, 0) / 1000.0;

	for (k = 0; k < 2; k++)
	{
		hash_seq_init(&seq, k == 0 ? byevent : byquery);
		while ((pe = hash_seq_search(&seq)) != NULL)
		{
			Datum		v[9];
			bool		nl[9];
			const char *type,
					   *event;

			memset(nl, 0, sizeof(nl));
			wait_names(pe->k.wait_event_info, &type, &event);
			v[0] = CStringGetTextDatum(k == 0 ? "wait_event" : "query");
			v[1] = CStringGetTextDatum(type);
			v[2] = CStringGetTextDatum(event);
			nl[3] = nl[4] = true;
			if (k == 1)
			{
				char	   *ent = hash_search(qindex, &pe->qkey, HASH_FIND, NULL);

				if (ent)
				{
					int			ix;

					memcpy(&ix, ent + sizeof(uint64), sizeof(int));
					/* pg_stat_activity's rule, on the session the text came from */
					if (!rb_viewer_can_see(viewer, texts[ix].roleid))
						v[4] = CStringGetTextDatum(RB_INSUFFICIENT_PRIVILEGE);
					else
					{
						if (texts[ix].is_queryid)
						{
							v[3] = Int64GetDatum((int64) pe->qkey);
							nl[3] = false;
						}
						v[4] = CStringGetTextDatum(texts[ix].text);
					}
					nl[4] = false;
				}
			}
			v[5] = Int64GetDatum(pe->samples);
			v[6] = Float8GetDatum(pe->seconds);
			if (total > 0)
				v[7] = Float8GetDatum(100.0 * pe->seconds / total);
			else
				nl[7] = true;
			if (window > 0)
				v[8] = Float8GetDatum(pe->seconds / window);
			else
				nl[8] = true;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
		}
	}
	PG_RETURN_VOID();
}

/* ---------- status ---------- */

Datum
rb_history_status(PG_FUNCTION_ARGS)
{
	RbHistShared *h = history_or_error("runbook.history_status()");
	TupleDesc	tupdesc;
	Datum		v[18];
	bool		nl[18];
	RbHistStatus st;
	uint64		next_sample,
				next_event;
	TimestampTz oldest = 0,
				newest = 0;
	int			kept,
				ekept;
	bool		running;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	LWLockAcquire(h->lock, LW_SHARED);
	st = h->status;
	next_sample = h->next_sample;
	next_event = h->next_event;
	kept = (int) Min(next_sample - 1, (uint64) h->nsamples);
	ekept = (int) Min(next_event - 1, (uint64) h->nevents);
	if (kept > 0)
	{
		RbHistSample *ring = rb_history_samples(h);

		newest = ring[(next_sample - 2) % h->nsamples].sampled_at;
		oldest = ring[(next_sample - 1 - kept) % h->nsamples].sampled_at;
	}
	LWLockRelease(h->lock);

	running = rb_process_alive(st.pid);
	memset(nl, 0, sizeof(nl));
	v[0] = BoolGetDatum(running);
	if (running)
		v[1] = Int32GetDatum(st.pid);
	else
		nl[1] = true;
	v[2] = Int32GetDatum(running ? st.interval_ms : rb_sample_interval_ms);
	v[3] = Int32GetDatum(h->nsamples);
	v[4] = Int32GetDatum(kept);
	v[5] = Int64GetDatum((int64) st.samples);
	if (kept > 0)
	{
		v[6] = TimestampTzGetDatum(oldest);
		v[7] = TimestampTzGetDatum(newest);
	}
	else
		nl[6] = nl[7] = true;
	if (st.samples > 0)
	{
		v[8] = Float8GetDatum(st.last_sample_ms);
		v[9] = Float8GetDatum(st.total_sample_ms / st.samples);
		v[10] = Float8GetDatum(st.max_sample_ms);
	}
	else
		nl[8] = nl[9] = nl[10] = true;
	v[11] = Int32GetDatum(h->nevents);
	v[12] = Int32GetDatum(ekept);
	v[13] = Int64GetDatum((int64) (next_event - 1));
	v[14] = Int64GetDatum((int64) rb_history_shmem_size());
	v[15] = Int32GetDatum((int) sizeof(RbHistSample));
	if (st.last_error[0])
	{
		v[16] = CStringGetTextDatum(st.last_error);
		v[17] = TimestampTzGetDatum(st.last_error_at);
	}
	else
		nl[16] = nl[17] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, nl)));
}
