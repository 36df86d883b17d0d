/*-------------------------------------------------------------------------
 *
 * viewer.c
 *		What the caller may see, and the names and addresses shown: the
 *		per-call viewer (RbViewer) with its pg_stat_activity visibility rule
 *		and role/database name caches, and the formatting of client
 *		addresses.  Shared by the front ends that list sessions (activity,
 *		locks, remedies, the worker's previews) and by the audit entries of
 *		remedy.c.  A leaf module: it calls nothing of pg_runbook.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netdb.h>

#include "access/transam.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "common/ip.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "viewer.h"

/* ---------- names, with a small per-call cache ---------- */

#define NAME_CACHE_SIZE 64

typedef struct NameCache
{
	int			n;
	Oid			oids[NAME_CACHE_SIZE];
	NameData	names[NAME_CACHE_SIZE];
	bool		found[NAME_CACHE_SIZE];
} NameCache;

static bool
cached_name(NameCache *c, Oid oid, bool is_role, Name out)
{
	int			i;
	char	   *s;

	for (i = 0; i < c->n; i++)
	{
		if (c->oids[i] == oid)
		{
			*out = c->names[i];
			return c->found[i];
		}
	}
	s = is_role ? GetUserNameFromId(oid, true) : get_database_name(oid);
	memset(out, 0, sizeof(NameData));
	if (s)
		namestrcpy(out, s);
	if (c->n < NAME_CACHE_SIZE)
	{
		c->oids[c->n] = oid;
		c->names[c->n] = *out;
		c->found[c->n] = (s != NULL);
		c->n++;
	}
	return s != NULL;
}

Name
rb_name_copy(const NameData *src)
{
	Name		n = palloc(sizeof(NameData));

	*n = *src;
	return n;
}

/* ---------- visibility, like pg_stat_activity ---------- */

RbViewer *
rb_viewer_new(void)
{
	RbViewer   *v = palloc0(sizeof(RbViewer));

	v->all_stats = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	v->next_xid = ReadNextTransactionId();
	v->roles = palloc0(sizeof(NameCache));
	v->dbs = palloc0(sizeof(NameCache));
	return v;
}

/* May the caller see the details of a session of this role? */
bool
rb_viewer_can_see(RbViewer *v, Oid roleid)
{
	int			i;
	bool		ok;

	if (v->all_stats)
		return true;
	for (i = 0; i < v->nseen; i++)
		if (v->seen_oid[i] == roleid)
			return v->seen_ok[i];
	ok = has_privs_of_role(GetUserId(), roleid);
	if (v->nseen < lengthof(v->seen_oid))
	{
		v->seen_oid[v->nseen] = roleid;
		v->seen_ok[v->nseen] = ok;
		v->nseen++;
	}
	return ok;
}

/* The name of a role, through the viewer's per-call cache. */
bool
rb_viewer_role_name(RbViewer *v, Oid roleid, Name out)
{
	if (!OidIsValid(roleid))
		return false;
	return cached_name(v->roles, roleid, true, out);
}

/* The name of a database, through the viewer's per-call cache. */
bool
rb_viewer_db_name(RbViewer *v, Oid dbid, Name out)
{
	if (!OidIsValid(dbid))
		return false;
	return cached_name(v->dbs, dbid, false, out);
}

/* client address as inet, and the port; false if unknown or a socket */
bool
rb_client_inet(const SockAddr *sa, Datum *addr, int *port)
{
	char		host[NI_MAXHOST];
	char		serv[NI_MAXSERV];
	int			family = sa->addr.ss_family;

	*port = 0;
	if (family == AF_UNIX)
	{
		*port = -1;
		return false;
	}
	if (family != AF_INET && family != AF_INET6)
		return false;
	host[0] = serv[0] = '\0';
	if (pg_getnameinfo_all(&sa->addr, sa->salen, host, sizeof(host),
						   serv, sizeof(serv),
						   NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return false;
	clean_ipv6_addr(family, host);
	*addr = DirectFunctionCall1(inet_in, CStringGetDatum(host));
	*port = atoi(serv);
	return true;
}

/* numeric client address of a session, "" for a Unix socket / unknown */
void
rb_client_addr_text(const SockAddr *sa, char *buf, size_t len)
{
	char		host[NI_MAXHOST];
	int			family = sa->addr.ss_family;

	buf[0] = '\0';
	if (family != AF_INET && family != AF_INET6)
		return;
	host[0] = '\0';
	if (pg_getnameinfo_all(&sa->addr, sa->salen, host, sizeof(host),
						   NULL, 0, NI_NUMERICHOST) != 0)
		return;
	clean_ipv6_addr(family, host);
	strlcpy(buf, host, len);
}
