/*-------------------------------------------------------------------------
 *
 * activity.h
 *		The shared row format of live-activity output (activity_sql.c),
 *		reused by the worker's previews.  The caller's visibility rules and
 *		name caches are in viewer.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_ACTIVITY_H
#define PG_RUNBOOK_ACTIVITY_H

#include "postgres.h"

#include "snapshot.h"
#include "viewer.h"

/* Columns of runbook.sessions, long_running() and idle_sessions(). */
#define RB_ACTIVITY_COLS 26

extern void rb_activity_row(RbViewer *v, TimestampTz now, const RbBackend *b,
							Datum *values, bool *nulls);

#endif							/* PG_RUNBOOK_ACTIVITY_H */
