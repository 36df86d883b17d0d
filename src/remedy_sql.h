/*-------------------------------------------------------------------------
 *
 * remedy_sql.h
 *		Shared row format of remediation output (remedy_sql.c):
 *		pid, usename, datname, application_name, client_addr, state,
 *		state_age, xact_age, query_age, action, outcome, reason, query.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_REMEDY_SQL_H
#define PG_RUNBOOK_REMEDY_SQL_H

#include "activity.h"
#include "remedy.h"

#define RB_REMEDY_COLS 13

extern void rb_remedy_row(RbViewer *v, RbTarget *t, RbOutcome *o,
						  Datum *values, bool *nulls);

#endif							/* PG_RUNBOOK_REMEDY_SQL_H */
