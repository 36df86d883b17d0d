/*-------------------------------------------------------------------------
 *
 * util.c
 *		Small helpers shared by the SQL front ends: argument checks with
 *		clear errors, interval arithmetic for ages; and the registration of
 *		pg_runbook's static background workers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "postmaster/bgworker.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"

/* An interval as microseconds (months as 30 days, days as 24 hours). */
int64
rb_interval_usecs(Interval *iv)
{
	return iv->time +
		((int64) iv->month * DAYS_PER_MONTH + iv->day) * USECS_PER_DAY;
}

/*
 * Fetch a non-NULL, non-negative interval argument as microseconds, or
 * raise 22023 with a hint.
 */
int64
rb_check_interval_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	Interval   *iv;
	int64		us;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be NULL", argname),
				 errhint("Pass an interval such as '5 min'; use '0' for no threshold.")));
	iv = PG_GETARG_INTERVAL_P(argno);
	us = rb_interval_usecs(iv);
	if (us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname),
				 errdetail("The value given was %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(iv)))),
				 errhint("Pass an interval such as '5 min'; use '0' for no threshold.")));
	return us;
}

/* Microseconds as an interval, hours justified into days like now() - ts. */
Interval *
rb_usecs_to_interval(int64 usecs)
{
	Interval   *iv = palloc(sizeof(Interval));

	iv->month = 0;
	iv->day = (int32) (usecs / USECS_PER_DAY);
	iv->time = usecs - (int64) iv->day * USECS_PER_DAY;
	return iv;
}

/* now - then as an interval datum; NULL when 'then' is unset. */
Datum
rb_age_datum(TimestampTz now, TimestampTz then, bool *isnull)
{
	if (then == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	*isnull = false;
	return IntervalPGetDatum(rb_usecs_to_interval(now - then));
}

/*
 * Register a background worker of this library at postmaster start (from
 * _PG_init): connected to shared memory and a database, started once the
 * server is consistent (so on a hot standby too), restarted after 1 s.
 * 'name' is its bgw_name and bgw_type.
 */
void
rb_register_static_worker(const char *function, const char *name)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, sizeof(worker.bgw_library_name), "pg_runbook");
	snprintf(worker.bgw_function_name, sizeof(worker.bgw_function_name), "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", name);
	RegisterBackgroundWorker(&worker);
}
