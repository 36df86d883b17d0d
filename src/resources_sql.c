/*-------------------------------------------------------------------------
 *
 * resources_sql.c
 *		SQL front ends for what the operating system says about the server:
 *		runbook.host() (memory limit and use, the filesystems of the data
 *		directory, pg_wal and every tablespace, load and CPUs) and
 *		runbook.backend_resources() (per backend: private memory,
 *		temporary files, I/O, CPU time, with the session columns).  The
 *		reading is hostshot.c's; this file turns it into rows, with the
 *		visibility rule of pg_stat_activity (viewer.c) for other roles'
 *		sessions.  Linux only: elsewhere both raise "not supported on this
 *		platform".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_tablespace_d.h"
#include "commands/tablespace.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/numeric.h"
#include "utils/varlena.h"

#include "pg_runbook.h"
#include "activity.h"
#include "hostshot.h"
#include "snapshot.h"
#include "viewer.h"

PG_FUNCTION_INFO_V1(rb_host);
PG_FUNCTION_INFO_V1(rb_backend_resources);

static Datum
pretty(int64 bytes)
{
	return DirectFunctionCall1(pg_size_pretty, Int64GetDatum(bytes));
}

/* a percentage as numeric, one decimal */
static Datum
pct_datum(double pct)
{
	return DirectFunctionCall2(numeric_round,
							   DirectFunctionCall1(float8_numeric, Float8GetDatum(pct)),
							   Int32GetDatum(1));
}

/*
 * The tablespaces that hold temporary files for this session:
 * temp_tablespaces, or the database's default tablespace when it is empty
 * (an empty name in the list is that default too).
 */
static List *
temp_tablespace_oids(void)
{
	const char *setting = GetConfigOption("temp_tablespaces", true, false);
	char	   *raw;
	List	   *names = NIL;
	List	   *oids = NIL;
	ListCell   *lc;

	if (setting == NULL || setting[0] == '\0')
		return list_make1_oid(MyDatabaseTableSpace);
	raw = pstrdup(setting);
	if (!SplitIdentifierString(raw, ',', &names))
		return list_make1_oid(MyDatabaseTableSpace);
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		Oid			oid = name[0] == '\0' ? MyDatabaseTableSpace : get_tablespace_oid(name, true);

		if (OidIsValid(oid))
			oids = lappend_oid(oids, oid);
	}
	if (oids == NIL)
		oids = list_make1_oid(MyDatabaseTableSpace);
	return oids;
}

#define HOST_COLS 23

static void
host_put(ReturnSetInfo *rsinfo, Datum *values, bool *nulls)
{
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

static void
host_sizes(Datum *values, bool *nulls, int64 size, int64 used, int64 freeb, double pct)
{
	values[7] = Int64GetDatum(size);
	values[8] = Int64GetDatum(used);
	values[9] = Int64GetDatum(freeb);
	values[10] = pct_datum(pct);
	values[11] = pretty(size);
	values[12] = pretty(used);
	values[13] = pretty(freeb);
	nulls[7] = nulls[8] = nulls[9] = nulls[10] = nulls[11] = nulls[12] = nulls[13] = false;
}

/*
 * runbook.host(): one row for memory, one per location (data directory,
 * pg_wal, each tablespace) and one for the CPUs.
 */
Datum
rb_host(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[HOST_COLS];
	bool		nulls[HOST_COLS];
	RbHostShot *shot;
	List	   *temp_oids;
	int			i;

	rb_host_require("runbook.host()");
	InitMaterializedSRF(fcinfo, 0);
	shot = rb_hostshot_take(NULL, NULL, 0, RB_HOST_MEMORY | RB_HOST_FS | RB_HOST_TEMP);
	temp_oids = temp_tablespace_oids();

	/* memory */
	memset(nulls, true, sizeof(nulls));
	values[0] = CStringGetTextDatum("memory");
	values[1] = CStringGetTextDatum("memory");
	nulls[0] = nulls[1] = false;
	if (shot->memory_ok)
	{
		RbMemory   *m = &shot->memory;

		if (m->cgroup[0])
		{
			values[4] = CStringGetTextDatum(m->cgroup);
			nulls[4] = false;
		}
		values[6] = CStringGetTextDatum(m->source);
		nulls[6] = false;
		host_sizes(values, nulls, m->limit_bytes, m->used_bytes,
				   Max(m->limit_bytes - m->used_bytes, 0), m->used_pct);
		values[17] = Int64GetDatum(m->cache_bytes);
		nulls[17] = false;
	}
	host_put(rsinfo, values, nulls);

	/* filesystems */
	for (i = 0; i < shot->nlocs; i++)
	{
		RbFsLocation *loc = &shot->locs[i];
		char		mount[MAXPGPATH];

		memset(nulls, true, sizeof(nulls));
		values[0] = CStringGetTextDatum("filesystem");
		values[1] = CStringGetTextDatum(loc->kind == RB_LOC_DATA ? "data directory" :
										loc->kind == RB_LOC_WAL ? "pg_wal" : "tablespace");
		nulls[0] = nulls[1] = false;
		if (OidIsValid(loc->spcoid))
		{
			char	   *spc = get_tablespace_name(loc->spcoid);

			if (spc)
			{
				values[2] = DirectFunctionCall1(namein, CStringGetDatum(spc));
				nulls[2] = false;
			}
		}
		values[3] = BoolGetDatum(loc->kind != RB_LOC_WAL &&
								 list_member_oid(temp_oids, loc->spcoid));
		nulls[3] = false;
		values[4] = CStringGetTextDatum(loc->path);
		nulls[4] = false;
		rb_host_mountpoint(loc->path, mount, sizeof(mount));
		if (mount[0])
		{
			values[5] = CStringGetTextDatum(mount);
			nulls[5] = false;
		}
		values[6] = CStringGetTextDatum("statvfs");
		nulls[6] = false;
		if (loc->ok)
		{
			host_sizes(values, nulls, loc->size_bytes, loc->used_bytes,
					   loc->free_bytes, loc->used_pct);
			if (loc->inodes > 0)
			{
				values[14] = Int64GetDatum(loc->inodes);
				values[15] = Int64GetDatum(loc->inodes_free);
				values[16] = pct_datum(100.0 * (double) (loc->inodes - loc->inodes_free) /
									   (double) loc->inodes);
				nulls[14] = nulls[15] = nulls[16] = false;
			}
		}
		if (loc->kind != RB_LOC_WAL)
		{
			values[18] = Int64GetDatum(loc->temp_bytes);
			nulls[18] = false;
		}
		host_put(rsinfo, values, nulls);
	}

	/* cpu */
	{
		double		l1,
					l5,
					l15;

		memset(nulls, true, sizeof(nulls));
		values[0] = CStringGetTextDatum("cpu");
		values[1] = CStringGetTextDatum("cpu");
		values[6] = CStringGetTextDatum("loadavg");
		nulls[0] = nulls[1] = nulls[6] = false;
		if (rb_host_load(&l1, &l5, &l15))
		{
			values[19] = Float8GetDatum(l1);
			values[20] = Float8GetDatum(l5);
			values[21] = Float8GetDatum(l15);
			nulls[19] = nulls[20] = nulls[21] = false;
		}
		values[22] = Int32GetDatum(rb_host_cpus());
		nulls[22] = false;
		host_put(rsinfo, values, nulls);
	}
	PG_RETURN_VOID();
}

/*
 * runbook.backend_resources(): every backend, with what /proc says of it.
 * The session columns follow runbook.sessions (rb_activity_row); the
 * resource columns are NULL for sessions the caller may not see, as
 * pg_stat_activity hides their details.
 */
#define RES_COLS 25

Datum
rb_backend_resources(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbSnapshot *snap;
	RbViewer   *v;
	RbHostShot *shot;
	int		   *pids;
	int			i;
	/* session columns taken from the activity row, in output order */
	static const int from_act[] = {0, 22, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17};

	rb_host_require("runbook.backend_resources()");
	InitMaterializedSRF(fcinfo, 0);
	snap = rb_snapshot_take(RB_SNAP_QUERY);
	v = rb_viewer_new();
	pids = palloc(sizeof(int) * Max(snap->nbackends, 1));
	for (i = 0; i < snap->nbackends; i++)
		pids[i] = snap->backends[i].pid;
	shot = rb_hostshot_take(pids, NULL, snap->nbackends,
							RB_HOST_FS | RB_HOST_TEMP | RB_HOST_PROC_STATUS | RB_HOST_PROC_IO);

	for (i = 0; i < snap->nbackends; i++)
	{
		RbBackend  *b = &snap->backends[i];
		RbProcUse  *u = &shot->procs[i];
		Datum		act[RB_ACTIVITY_COLS];
		bool		actnulls[RB_ACTIVITY_COLS];
		Datum		values[RES_COLS];
		bool		nulls[RES_COLS];
		int			k;
		int			c = lengthof(from_act);

		rb_activity_row(v, snap->taken_at, b, act, actnulls);
		memset(nulls, true, sizeof(nulls));
		for (k = 0; k < lengthof(from_act); k++)
		{
			values[k] = act[from_act[k]];
			nulls[k] = actnulls[from_act[k]];
		}
		/* 13..23: the resources */
		if (rb_viewer_can_see(v, b->roleid))
		{
			if (u->ok)
			{
				values[c] = Int64GetDatum(u->rss_anon);
				values[c + 1] = pretty(u->rss_anon);
				nulls[c] = nulls[c + 1] = false;
				if (u->rss_shmem >= 0)
				{
					values[c + 2] = Int64GetDatum(u->rss_shmem);
					nulls[c + 2] = false;
				}
			}
			values[c + 3] = Int64GetDatum(u->temp_bytes);
			values[c + 4] = pretty(u->temp_bytes);
			values[c + 5] = Int32GetDatum(u->temp_files);
			nulls[c + 3] = nulls[c + 4] = nulls[c + 5] = false;
			if (u->io_ok)
			{
				values[c + 6] = Int64GetDatum(u->read_bytes);
				values[c + 7] = pretty(u->read_bytes);
				values[c + 8] = Int64GetDatum(u->write_bytes);
				values[c + 9] = pretty(u->write_bytes);
				nulls[c + 6] = nulls[c + 7] = nulls[c + 8] = nulls[c + 9] = false;
			}
			if (u->cpu_ok)
			{
				values[c + 10] = Float8GetDatum(round(u->cpu_seconds * 100.0) / 100.0);
				nulls[c + 10] = false;
			}
		}
		/* the query, last */
		values[RES_COLS - 1] = act[25];
		nulls[RES_COLS - 1] = actnulls[25];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
