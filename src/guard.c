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
 * When to check again: every RB_GUARD_TICK_MS, and sooner while a figure
 * rises towards its mark: the time the rise seen since the last check
 * would take to eat half of what is left below the mark (at least
 * RB_GUARD_MIN_TICK_MS).  A server at rest costs one check per tick.
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

typedef struct GuardWatch
{
	bool		active;
	double		min_mem_pct;	/* < 0: none */
	double		min_disk_pct;
	int64		min_private_mem;	/* floors without a mark; < 0: none */
	int64		min_temp_bytes;
	int			nlocs;
	RbFsLocation locs[GUARD_MAX_LOCS];
	/* the previous check, for the rate of rise */
	TimestampTz last_at;
	double		last_mem_pct;
	double		last_disk_pct;	/* highest of the filesystems */
	/* restraint: no cycle before quiet_until unless a figure rises above */
	TimestampTz quiet_until;
	double		quiet_mem_pct;
	double		quiet_disk_pct;
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

/* the fullest watched filesystem, in percent; < 0 if none */
static double
disk_pct_now(void)
{
	double		pct = -1;
	int			i;

	for (i = 0; i < watch.nlocs; i++)
	{
		rb_host_statfs(&watch.locs[i]);
		if (watch.locs[i].ok && watch.locs[i].used_pct > pct)
			pct = watch.locs[i].used_pct;
	}
	return pct;
}

void
rb_guard_after_cycle(const RbPolicySet *set, const RbHostShot *host,
					 bool triggered, bool acted)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;

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
	{
		if (host && host->nlocs > 0)
		{
			watch.nlocs = Min(host->nlocs, GUARD_MAX_LOCS);
			for (i = 0; i < watch.nlocs; i++)
				watch.locs[i] = host->locs[i];
		}
		else
		{
			RbFsLocation *locs;
			int			n = rb_host_locations(&locs);

			watch.nlocs = Min(n, GUARD_MAX_LOCS);
			for (i = 0; i < watch.nlocs; i++)
				watch.locs[i] = locs[i];
			pfree(locs);
		}
	}
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
}

/* milliseconds until a figure rising at its last rate eats half its headroom */
static long
tick_for(double pct, double last_pct, double mark, int64 elapsed_us)
{
	double		rise;

	if (mark < 0 || pct < 0 || last_pct < 0 || elapsed_us <= 0 || pct <= last_pct || pct >= mark)
		return RB_GUARD_TICK_MS;
	rise = (pct - last_pct) / ((double) elapsed_us / 1000.0);	/* points per ms */
	return (long) Max(Min((mark - pct) / rise / 2.0, (double) RB_GUARD_TICK_MS),
					  (double) RB_GUARD_MIN_TICK_MS);
}

bool
rb_guard_check(long *next_ms)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		due = false;
	RbMemory	m;
	bool		need_mem = watch.min_mem_pct >= 0 || watch.min_private_mem >= 0;
	bool		mem_ok = need_mem && rb_host_memory(&m);
	double		mem = mem_ok ? m.used_pct : -1;
	double		disk = watch.nlocs > 0 ? disk_pct_now() : -1;
	long		tick = RB_GUARD_TICK_MS;

	*next_ms = RB_GUARD_TICK_MS;
	if (!watch.active)
		return false;

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

	/* when to look again */
	if (watch.last_at != 0)
	{
		tick = Min(tick, tick_for(mem, watch.last_mem_pct, watch.min_mem_pct,
								  now - watch.last_at));
		tick = Min(tick, tick_for(disk, watch.last_disk_pct, watch.min_disk_pct,
								  now - watch.last_at));
	}
	watch.last_at = now;
	watch.last_mem_pct = mem;
	watch.last_disk_pct = disk;
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
