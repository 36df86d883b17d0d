/*-------------------------------------------------------------------------
 *
 * remedy_sql.h
 *		The row format shared by the remediation functions (remedy_sql.c):
 *		pid, usename, datname, application_name, client_addr, backend_type,
 *		state, state_age, xact_age, query_age, action, outcome, reason,
 *		detail, query.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_REMEDY_SQL_H
#define PG_RUNBOOK_REMEDY_SQL_H

#include "postgres.h"

#include "nodes/execnodes.h"

#include "activity.h"
#include "remedy.h"

/* the max_actions argument (NULL = the setting), checked against the limit */
extern int	rb_remedy_call_cap(FunctionCallInfo fcinfo, int argno);

extern void rb_remedy_put_row(ReturnSetInfo *rsinfo, RbViewer *v, TimestampTz now,
							  const RbTarget *t, const char *outcome,
							  const char *reason, const char *detail);

#endif							/* PG_RUNBOOK_REMEDY_SQL_H */
