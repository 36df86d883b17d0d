/*-------------------------------------------------------------------------
 *
 * activity.h
 *		The shared row format of live-activity output and the caller's
 *		visibility rules (activity_sql.c).  Other front ends that list
 *		sessions (remedies, previews) reuse these.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_ACTIVITY_H
#define PG_RUNBOOK_ACTIVITY_H

#include "postgres.h"

#include "snapshot.h"

/* Columns of runbook.sessions, long_running() and idle_sessions(). */
#define RB_ACTIVITY_COLS 26

typedef struct RbViewer
{
	bool		all_stats;		/* member of pg_read_all_stats */
	TransactionId next_xid;		/* for xid ages, read once per call */
	int			nseen;
	Oid			seen_oid[64];
	bool		seen_ok[64];
	void	   *roles;			/* name caches */
	void	   *dbs;
	void	   *lockgraph;		/* RbLockGraph, made once when first needed */
} RbViewer;

extern RbViewer *rb_viewer_new(void);
extern bool rb_viewer_can_see(RbViewer *v, Oid roleid);
extern bool rb_viewer_role_name(RbViewer *v, Oid roleid, Name out);
extern bool rb_client_inet(const SockAddr *sa, Datum *addr, int *port);
extern void rb_activity_row(RbViewer *v, TimestampTz now, const RbBackend *b,
							Datum *values, bool *nulls);

#endif							/* PG_RUNBOOK_ACTIVITY_H */
