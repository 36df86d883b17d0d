/*-------------------------------------------------------------------------
 *
 * guard.c
 *		The worker's cheap check for memory and disk guards.
 *
 * Memory can grow by gigabytes a second, faster than any timer-driven
 * cycle.  While an acting guard policy is enabled, the worker calls
 * rb_guard_check() between cycles: it reads the memory counters
 * (rb_host_memory: the cgroup's limit, usage and page cache, or
 * /proc/meminfo; a few small files) and statvfs the filesystems the last
 * cycle listed, never /proc per backend, and compares them with the
 * lowest marks of the guards.  Only at a mark does it ask for a cycle,
 * which reads /proc for the sessions a guard may match and acts through
 * the remedy path.
 *
 * When to check again: half the time a figure would take to reach its
 * mark, at the faster of the rise seen since the last check and an assumed
 * one (memory: 1 GB a second; a filesystem: 500 MB a second), between 10 ms
 * and 250 ms; at or above a mark (a cycle there found nothing more to
 * end), every 25 ms.  A server far from its marks costs four checks a
 * second; with a 1 GiB limit and a 90 % mark, memory at 80 % costs 18, at
 * 89 % a hundred; with 64 GB, at 89 % still 4.
 *
 * Restraint: a cycle at the mark that finds nothing to end (no session
 * over a guard's floor) is not repeated for 1 s unless the figure rises by
 * another point; after a guard acted (in any cycle), the sessions it
 * cancelled need a moment to free what they held, so the next cycle the
 * check asks for waits 500 ms unless the figure still rises by a point.
 * (Cycles for other reasons evaluate the guards as always.)
 *
 * Kernel notifications (cgroup v1 memory thresholds through
 * cgroup.event_control and an eventfd, v2 memory.events, PSI triggers)
 * would let the worker sleep instead; why it polls is in ARCHITECTURE.md.
 *
 * Worker-local state; no shared memory.  A front-end helper: it reads
 * through hostshot.c and takes the marks from the policies.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "guard.h"

#define GUARD_MAX_LOCS		64
#define GUARD_QUIET_US		(1000 * 1000)	/* nothing to end at the mark */
#define GUARD_SETTLE_US		(500 * 1000)	/* after an action */
#define GUARD_RISE_PCT		1.0
#define GUARD_RELIST_US		(1000 * 1000)	/* list the locations again */
/* rises assumed when a faster one is not seen, in bytes a second */
#define GUARD_ASSUMED_MEM_RISE	1e9		/* a runaway query's allocations */
#define GUARD_ASSUMED_DISK_RISE	5e8		/* a fast disk's writes */

typedef struct GuardWatch
{
	bool		active;
	double		min_mem_pct;	/* < 0: none */
	double		min_disk_pct;
	int64		min_private_mem;	/* floors without a mark; < 0: none */
	int64		min_temp_bytes;
	int			nlocs;
	RbFsLocation locs[GUARD_MAX_LOCS];
	double		locs_last[GUARD_MAX_LOCS];	/* used_pct at the last check */
	TimestampTz locs_at;		/* when they were listed */
	/* the previous check, for the rate of rise */
	TimestampTz last_at;
	double		last_mem_pct;
	/* restraint: no cycle before quiet_until unless a figure rises above */
	TimestampTz quiet_until;
	double		quiet_mem_pct;
	double		quiet_disk_pct;
	/* after an action: no guard acts again on the marks before settle_until */
	TimestampTz settle_until;
	/* the figures at the last check */
	double		mem_pct;
	double		disk_pct;
} GuardWatch;

static GuardWatch watch;

void
rb_guard_off(void)
{
	watch.active = false;
}

bool
rb_guard_watching(void)
{
	return watch.active;
}

static long tick_for(double pct, double last_pct, double mark, int64 elapsed_us,
					 double assumed);

/*
 * statvfs of every watched location: the fullest one's percent (< 0 if
 * none), and in *tick when to look again for the fullest-rising one.
 */
static double
disk_pct_now(int64 elapsed_us, long *tick)
{
	double		pct = -1;
	int			i;

	for (i = 0; i < watch.nlocs; i++)
	{
		RbFsLocation *loc = &watch.locs[i];

		rb_host_statfs(loc);
		if (!loc->ok)
			continue;
		if (loc->used_pct > pct)
			pct = loc->used_pct;
		if (watch.min_disk_pct >= 0 && loc->size_bytes > 0)
			*tick = Min(*tick, tick_for(loc->used_pct, watch.locs_last[i], watch.min_disk_pct,
										elapsed_us,
										GUARD_ASSUMED_DISK_RISE / 1000.0 * 100.0 / (double) loc->size_bytes));
		watch.locs_last[i] = loc->used_pct;
	}
	return pct;
}

/* the locations to statvfs: those given, else listed now */
static void
set_locations(const RbFsLocation *given, int n, TimestampTz now)
{
	RbFsLocation *locs = (RbFsLocation *) given;
	double		last[GUARD_MAX_LOCS];
	int			i,
				j;

	if (locs == NULL)
		n = rb_host_locations(&locs);
	n = Min(n, GUARD_MAX_LOCS);
	/* keep the last figure of a location watched before (its rise) */
	for (i = 0; i < n; i++)
	{
		last[i] = -1;
		for (j = 0; j < watch.nlocs; j++)
			if (watch.locs[j].kind == locs[i].kind && watch.locs[j].spcoid == locs[i].spcoid)
				last[i] = watch.locs_last[j];
	}
	watch.nlocs = n;
	for (i = 0; i < n; i++)
	{
		watch.locs[i] = locs[i];
		watch.locs_last[i] = last[i];
	}
	watch.locs_at = now;
}

void
rb_guard_after_cycle(const RbPolicySet *set, const RbHostShot *host,
					 bool triggered, bool acted)
{
	TimestampTz now = GetCurrentTimestamp();

	if (set == NULL || !set->need_host)
	{
		watch.active = false;
		return;
	}
	if (!watch.active)
	{
		watch.last_at = 0;
		watch.quiet_until = 0;
	}
	watch.active = true;
	watch.min_mem_pct = set->min_mem_pct;
	watch.min_disk_pct = set->min_disk_pct;
	watch.min_private_mem = set->min_private_mem;
	watch.min_temp_bytes = set->min_temp_bytes;

	/* the filesystems to statvfs: those of the last cycle, else listed now */
	if (set->min_disk_pct >= 0)
		set_locations(host && host->nlocs > 0 ? host->locs : NULL,
					  host ? host->nlocs : 0, now);
	else
		watch.nlocs = 0;

	if (triggered || acted)
	{
		/*
		 * Restraint before the next cycle the check asks for: after a guard
		 * acted (in any cycle), or after a cycle asked for found nothing.
		 */
		watch.quiet_until = now + (acted ? GUARD_SETTLE_US : GUARD_QUIET_US);
		watch.quiet_mem_pct = watch.mem_pct + GUARD_RISE_PCT;
		watch.quiet_disk_pct = watch.disk_pct + GUARD_RISE_PCT;
	}
	if (acted)
		watch.settle_until = now + GUARD_SETTLE_US;
}

/*
 * Right after a guard acted, the memory of a cancelled statement is freed
 * only at its next interrupt check and a filesystem's figure only as its
 * files are removed: a cycle that came for another reason (a timer, a
 * policy change) must not take the unsettled figure for a new need and end
 * the next largest too.  Until the settle time is over, the server-wide
 * marks count as not reached in any cycle -- unless a figure rose again.
 */
void
rb_guard_mark_settling(RbHostShot *host)
{
	double		disk = -1;
	int			i;

	if (host == NULL || !watch.active || GetCurrentTimestamp() >= watch.settle_until)
		return;
	for (i = 0; i < host->nlocs; i++)
		if (host->locs[i].ok && host->locs[i].used_pct > disk)
			disk = host->locs[i].used_pct;
	if (host->memory_ok && host->memory.used_pct >= watch.quiet_mem_pct)
		return;
	if (disk >= 0 && disk >= watch.quiet_disk_pct)
		return;
	host->settling = true;
}

/*
 * Milliseconds until the next check for one figure (percent) and its mark:
 * half the time the figure would take to reach the mark at the faster of
 * the rise seen since the last check and an assumed rise (points per ms),
 * between RB_GUARD_MIN_TICK_MS and RB_GUARD_TICK_MS; at or above the mark,
 * RB_GUARD_AT_MARK_TICK_MS.
 */
static long
tick_for(double pct, double last_pct, double mark, int64 elapsed_us, double assumed)
{
	double		rise = assumed;
	double		ms;

	if (mark < 0 || pct < 0)
		return RB_GUARD_TICK_MS;
	if (pct >= mark)
		return RB_GUARD_AT_MARK_TICK_MS;
	if (last_pct >= 0 && elapsed_us > 0 && pct > last_pct)
		rise = Max(rise, (pct - last_pct) / ((double) elapsed_us / 1000.0));
	ms = (mark - pct) / rise / 2.0;
	return (long) Max(Min(ms, (double) RB_GUARD_TICK_MS), (double) RB_GUARD_MIN_TICK_MS);
}

bool
rb_guard_check(long *next_ms)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		due = false;
	RbMemory	m;
	bool		need_mem = watch.min_mem_pct >= 0 || watch.min_private_mem >= 0;
	bool		mem_ok;
	double		mem;
	double		disk;
	long		tick = RB_GUARD_TICK_MS;

	*next_ms = RB_GUARD_TICK_MS;
	if (!watch.active)
		return false;

	/*
	 * A tablespace created since the last cycle is watched within a second
	 * (listing: a readdir of pg_tblspc, palloc'd in the caller's context).
	 */
	if (watch.min_disk_pct >= 0 && now - watch.locs_at >= GUARD_RELIST_US)
		set_locations(NULL, 0, now);
	mem_ok = need_mem && rb_host_memory(&m);
	mem = mem_ok ? m.used_pct : -1;
	disk = watch.nlocs > 0 ? disk_pct_now(watch.last_at ? now - watch.last_at : 0, &tick) : -1;

	/* a mark reached */
	if (watch.min_mem_pct >= 0 && mem >= watch.min_mem_pct)
		due = true;
	if (watch.min_disk_pct >= 0 && disk >= watch.min_disk_pct)
		due = true;

	/*
	 * A floor without a mark: a session may hold that much once the whole
	 * server does (memory), or once that many temporary bytes exist
	 * (palloc'd in the caller's context, which the worker resets).
	 */
	if (!due && watch.min_private_mem >= 0 && mem_ok && m.used_bytes >= watch.min_private_mem)
		due = true;
	if (!due && watch.min_temp_bytes >= 0)
	{
		RbHostShot *shot = rb_hostshot_take(NULL, NULL, 0, RB_HOST_TEMP);

		if (shot->orphan_temp_bytes >= watch.min_temp_bytes)
			due = true;
	}

	/* restraint after a cycle that was asked for */
	if (due && now < watch.quiet_until &&
		!(mem >= 0 && mem >= watch.quiet_mem_pct) &&
		!(disk >= 0 && disk >= watch.quiet_disk_pct))
		due = false;

	/* when to look again (the filesystems' ticks: disk_pct_now) */
	if (mem_ok && m.limit_bytes > 0)
		tick = Min(tick, tick_for(mem, watch.last_mem_pct, watch.min_mem_pct,
								  watch.last_at ? now - watch.last_at : 0,
								  GUARD_ASSUMED_MEM_RISE / 1000.0 * 100.0 / (double) m.limit_bytes));
	watch.last_at = now;
	watch.last_mem_pct = mem;
	watch.mem_pct = mem;
	watch.disk_pct = disk;
	*next_ms = tick;
	return due;
}

/*
 * The host snapshot a cycle's evaluation needs: /proc of the sessions a
 * guard may match (and their parallel workers), parallel to snap.
 */
RbHostShot *
rb_guard_take(const RbPolicySet *set, const RbSnapshot *snap)
{
	int		   *pids = palloc(sizeof(int) * Max(snap->nbackends, 1));
	bool	   *want = palloc(sizeof(bool) * Max(snap->nbackends, 1));
	int			i;

	for (i = 0; i < snap->nbackends; i++)
		pids[i] = snap->backends[i].pid;
	rb_policies_host_wanted(set, snap, want);
	return rb_hostshot_take(pids, want, snap->nbackends, set->host_flags);
}
