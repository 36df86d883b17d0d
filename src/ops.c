/*-------------------------------------------------------------------------
 *
 * ops.c
 *		The few pieces of the "ops" runbooks (sql/objects/60_ops/) that SQL
 *		cannot do by itself:
 *
 *		- a time bound for one query run from PL/pgSQL.  statement_timeout
 *		  set inside a function does not apply to the statement already
 *		  running (the timer is armed once, when the top-level statement
 *		  starts), so integrity_check() and migration_status() arm the
 *		  statement-timeout timer themselves around each probe and put the
 *		  caller's own timer back afterwards;
 *		- the memory available to the server (physical RAM, or the cgroup
 *		  limit when it is lower), for config_check().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "pg_runbook.h"

PG_FUNCTION_INFO_V1(rb_deadline_arm);
PG_FUNCTION_INFO_V1(rb_deadline_disarm);
PG_FUNCTION_INFO_V1(rb_server_memory);

/* The caller's statement timer, saved by rb_deadline_arm(). */
static bool saved_timer_active = false;
static TimestampTz saved_timer_fin = 0;

/*
 * _deadline_arm(timeout_ms int) returns timestamptz
 *
 * Arm the statement-timeout timer to fire timeout_ms from now, unless the
 * caller's own statement_timeout fires sooner: then leave it alone and
 * return NULL (the caller's limit governs and its cancellation must not be
 * swallowed).  Otherwise return the deadline, so that a query_canceled
 * error caught after it can be told apart from a user's cancel request.
 * Always pair with _deadline_disarm().
 */
Datum
rb_deadline_arm(PG_FUNCTION_ARGS)
{
	int32		ms = PG_GETARG_INT32(0);
	TimestampTz fin;

	if (ms < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be at least 1 ms")));

	fin = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
	saved_timer_active = get_timeout_active(STATEMENT_TIMEOUT);
	saved_timer_fin = saved_timer_active ?
		get_timeout_finish_time(STATEMENT_TIMEOUT) : 0;

	if (saved_timer_active && saved_timer_fin <= fin)
		PG_RETURN_NULL();

	enable_timeout_at(STATEMENT_TIMEOUT, fin);
	PG_RETURN_TIMESTAMPTZ(fin);
}

/*
 * _deadline_disarm() returns void
 *
 * Put back the statement timer as it was before _deadline_arm(): the
 * caller's own statement_timeout deadline, or no timer.
 */
Datum
rb_deadline_disarm(PG_FUNCTION_ARGS)
{
	if (saved_timer_active)
		enable_timeout_at(STATEMENT_TIMEOUT, saved_timer_fin);
	else if (get_timeout_active(STATEMENT_TIMEOUT))
		disable_timeout(STATEMENT_TIMEOUT, false);
	saved_timer_active = false;
	saved_timer_fin = 0;
	PG_RETURN_VOID();
}

/*
 * Read one unsigned decimal number from a small file; false when the file
 * is absent or holds something else (such as "max").
 */
static bool
read_number_file(const char *path, uint64 *value)
{
	FILE	   *f = fopen(path, "r");
	char		buf[64];
	char	   *end;
	bool		ok = false;

	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) != NULL && buf[0] >= '0' && buf[0] <= '9')
	{
		errno = 0;
		*value = strtoull(buf, &end, 10);
		ok = (errno == 0 && (*end == '\n' || *end == '\0'));
	}
	fclose(f);
	return ok;
}

/*
 * _server_memory() returns bigint
 *
 * Bytes of memory the server can use: physical RAM, lowered to the cgroup
 * (v2 or v1) memory limit of the server's own process when that is smaller
 * (containers).  NULL when it cannot be told.
 */
Datum
rb_server_memory(PG_FUNCTION_ARGS)
{
	long		pages = sysconf(_SC_PHYS_PAGES);
	long		pagesize = sysconf(_SC_PAGESIZE);
	uint64		mem = 0;
	uint64		limit;

	if (pages > 0 && pagesize > 0)
		mem = (uint64) pages * (uint64) pagesize;
	if (read_number_file("/sys/fs/cgroup/memory.max", &limit) ||
		read_number_file("/sys/fs/cgroup/memory/memory.limit_in_bytes", &limit))
	{
		if (limit > 0 && (mem == 0 || limit < mem))
			mem = limit;
	}
	if (mem == 0 || mem > (uint64) PG_INT64_MAX)
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) mem);
}
