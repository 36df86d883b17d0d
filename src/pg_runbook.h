/*-------------------------------------------------------------------------
 *
 * pg_runbook.h
 *		Declarations shared by all pg_runbook modules: the settings
 *		(settings.h) and the main shared-memory area (shmem.h), small helpers
 *		for argument checking and output (util.c) and for privilege safety
 *		(security.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_H
#define PG_RUNBOOK_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "compat.h"

#include "settings.h"
#include "shmem.h"

/* the reason of a relation skipped because it is locked (maint.c, bloat.c) */
#define RB_SKIP_LOCKED "skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for"

/* ---- argument checking and output helpers (util.c) ---- */
extern int64 rb_interval_usecs(Interval *iv);
extern int64 rb_check_interval_arg(FunctionCallInfo fcinfo, int argno,
								   const char *argname);
extern Interval *rb_usecs_to_interval(int64 usecs);
extern Datum rb_age_datum(TimestampTz now, TimestampTz then, bool *isnull);
extern void rb_register_static_worker(const char *function, const char *name);

/* ---- privilege safety (security.c) ---- */
extern void rb_worker_fixed_environment(void);
extern void rb_worker_untracked(void);
extern void rb_dbworker_fixed_environment(const char *timezone);
extern void rb_append_escaped(StringInfo s, const char *val);
extern char *rb_escape_text(const char *val);

/* ---- text for a person (emit.c) ---- */
extern void rb_append_visible(StringInfo out, const char *v);

#endif							/* PG_RUNBOOK_H */
