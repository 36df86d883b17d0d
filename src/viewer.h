/*-------------------------------------------------------------------------
 *
 * viewer.h
 *		The caller's view of sessions (viewer.c): the visibility rule of
 *		pg_stat_activity, role and database names through a per-call cache,
 *		and client addresses as inet or text.  A leaf: used by every front
 *		end that lists sessions and by remedy.c's audit entries.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_VIEWER_H
#define PG_RUNBOOK_VIEWER_H

#include "postgres.h"

#include "libpq/pqcomm.h"

typedef struct RbViewer
{
	bool		all_stats;		/* member of pg_read_all_stats */
	TransactionId next_xid;		/* for xid ages, read once per call */
	int			nseen;
	Oid			seen_oid[64];
	bool		seen_ok[64];
	void	   *roles;			/* name caches */
	void	   *dbs;
	void	   *lockgraph;		/* RbWaitGraph of activity_sql.c, made once
								 * when first needed */
} RbViewer;

/* what pg_stat_activity shows in place of a query the caller may not see */
#define RB_INSUFFICIENT_PRIVILEGE "<insufficient privilege>"

extern RbViewer *rb_viewer_new(void);
extern bool rb_viewer_can_see(RbViewer *v, Oid roleid);
extern bool rb_viewer_role_name(RbViewer *v, Oid roleid, Name out);
extern bool rb_viewer_db_name(RbViewer *v, Oid dbid, Name out);
extern Name rb_name_copy(const NameData *src);

/* client address as inet, and the port; false if unknown or a socket */
extern bool rb_client_inet(const SockAddr *sa, Datum *addr, int *port);
/* numeric client address of a session, "" for a Unix socket / unknown */
extern void rb_client_addr_text(const SockAddr *sa, char *buf, size_t len);

#endif							/* PG_RUNBOOK_VIEWER_H */
