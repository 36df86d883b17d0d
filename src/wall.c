/*-------------------------------------------------------------------------
 *
 * wall.c
 *		The connection hook: wakes the policy worker at the high-water mark
 *		of a saturation policy, and lets a new connection of an ordinary
 *		role that reached the wall (every ordinary slot taken) wait a
 *		moment for the worker to free one -- without ever using a slot
 *		that a superuser would need.  runbook.connection_wall() shows it.
 *
 * The hook is ClientAuthentication_hook: it runs in the new backend inside
 * InitPostgres, once the client is authenticated, in the transaction that
 * authentication reads the catalogs in, and before the reserved-slots test
 * that refuses an ordinary role with 53300.  The backend already holds its
 * PGPROC there: a connection that waits holds a slot.  So:
 *
 *	- a superuser, a role that may use the reserved_connections slots (16+:
 *	  pg_use_reserved_connections) and a role of pg_runbook.exempt_roles
 *	  never wait: the hook looks the role up (port->user_name, the role
 *	  authentication just accepted) only at the wall;
 *	- an ordinary connection waits only while enough PGPROCs stay free for
 *	  the roles that may use the reserved slots: one for a superuser's
 *	  login plus RB_WALL_SPARE for a connection passing through (on 16+
 *	  with reserved_connections, one for a pg_use_reserved_connections
 *	  member's login instead: superuser_reserved_connections + 1 free);
 *	  with superuser_reserved_connections = 3 and no reserved_connections,
 *	  at most 3 - 1 - RB_WALL_SPARE connections wait at once (a ticket
 *	  counter in shared memory enforces that bound, and every waiter
 *	  leaves at once when the free slots drop below it, e.g. because a
 *	  superuser logged in);
 *	- only a lone connection waits: one that reaches the wall less than
 *	  RB_WALL_QUIET_MS after another ordinary one does not wait, and a
 *	  waiter leaves as soon as another arrives.  Free PGPROCs are not the
 *	  whole story: a connection in transit holds one from InitProcess,
 *	  before any hook sees it, until it is refused, and in a storm (an
 *	  application's loops reconnecting without pause) several are in
 *	  transit at once.  A waiter beside them could leave a superuser's
 *	  login no PGPROC (303_wall_reserved measured 2 failed logins of 600
 *	  with waiters in a storm, 0 of 300 without); so in a storm nobody
 *	  waits and the reserved slots face only what PostgreSQL alone faces;
 *	- it waits at most RB_SLOT_WAIT_MS, only while the worker runs, is not
 *	  paused and enforces, and answers interrupts, looking every
 *	  RB_WALL_POLL_MS; the ticket is given back on every way out, FATAL
 *	  included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/*
 * libpq-be.h includes the GSSAPI headers when the server was built with
 * GSSAPI, and a build host need not have them.  The server keeps Port's
 * layout the same with and without GSSAPI ("to keep struct offsets the
 * same (for extension ABI compatibility)", libpq-be.h), and this file
 * reads only port->user_name: it includes the header as if GSSAPI were
 * off.  Nothing else here depends on ENABLE_GSS.
 */
#undef ENABLE_GSS
#include "libpq/libpq-be.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/walsender.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "compat.h"
#include "snapshot.h"
#include "wall.h"

PG_FUNCTION_INFO_V1(rb_connection_wall);

/* the hook's declaration, as in libpq/auth.h (which needs more headers) */
typedef void (*RbClientAuthHook) (Port *, int);
extern PGDLLIMPORT RbClientAuthHook ClientAuthentication_hook;

#define RB_SLOT_WAIT_MS		3000	/* the longest wait at the wall */
#define RB_WALL_POLL_MS		1		/* how often a waiter looks */
#define RB_WALL_QUIET_MS	100		/* a storm: arrivals closer than this */

/*
 * PGPROCs left free beyond the one a superuser's login needs: a connection
 * on its way through (an ordinary one being refused at the wall holds a
 * slot for a moment too) must not leave the superuser none.
 */
#define RB_WALL_SPARE		1

static RbClientAuthHook prev_client_auth_hook = NULL;
static bool holds_ticket = false;

/* ---------- the bound ---------- */

/*
 * PGPROCs that must stay free while ordinary connections wait: a login of
 * every role that may use reserved slots must still get in.
 */
static int
wall_keep_free(void)
{
	int			keep = 1;		/* a superuser's login */

	if (rb_role_reserved_connections() > 0)
		keep = rb_superuser_reserved_connections() + 1;	/* a
														 * pg_use_reserved_connections
														 * member's */
	return keep + RB_WALL_SPARE;
}

/*
 * At most this many wait at once: at the wall (every ordinary slot taken)
 * rb_reserved_connections() slots are free before any waiter, and each
 * waiter holds one.
 */
static int
wall_wait_limit(void)
{
	return Max(rb_reserved_connections() - wall_keep_free(), 0);
}

static bool
take_ticket(void)
{
	int			limit = wall_wait_limit();
	uint32		cur = pg_atomic_read_u32(&rb_shared->wall_waiters);

	while ((int) cur < limit)
	{
		if (pg_atomic_compare_exchange_u32(&rb_shared->wall_waiters, &cur, cur + 1))
		{
			holds_ticket = true;
			return true;
		}
	}
	return false;
}

static void
give_back_ticket(void)
{
	if (holds_ticket)
	{
		holds_ticket = false;
		pg_atomic_fetch_sub_u32(&rb_shared->wall_waiters, 1);
	}
}

/* ---------- who is connecting ---------- */

/* Is the role a member of a role named in pg_runbook.exempt_roles?  Quiet. */
static bool
role_is_exempt(Oid roleid)
{
	char	   *raw;
	List	   *names = NIL;
	ListCell   *lc;

	if (rb_exempt_roles == NULL || rb_exempt_roles[0] == '\0')
		return false;
	raw = pstrdup(rb_exempt_roles);
	if (!SplitIdentifierString(raw, ',', &names))
		return false;			/* the setting's check hook refuses that */
	foreach(lc, names)
	{
		Oid			ex = get_role_oid((char *) lfirst(lc), true);

		/* _nosuper: being superuser does not make a role a member */
		if (OidIsValid(ex) && (ex == roleid || is_member_of_role_nosuper(roleid, ex)))
			return true;
	}
	return false;
}

/*
 * May the connecting role wait at the wall?  Not a superuser, not a role
 * that may use reserved slots, not an exempt role.  The role is the one
 * authentication just accepted (looked up by name in its transaction).
 */
static bool
ordinary_role(Port *port)
{
	HeapTuple	tup;
	Oid			roleid;
	bool		super;

	if (port == NULL || port->user_name == NULL)
		return false;
	tup = SearchSysCache1(AUTHNAME, CStringGetDatum(port->user_name));
	if (!HeapTupleIsValid(tup))
		return false;			/* InitializeSessionUserId will say so */
	roleid = ((Form_pg_authid) GETSTRUCT(tup))->oid;
	super = ((Form_pg_authid) GETSTRUCT(tup))->rolsuper;
	ReleaseSysCache(tup);
	if (super)
		return false;
	if (rb_may_use_reserved_connections(roleid))
		return false;
	return !role_is_exempt(roleid);
}

/* ---------- the wait ---------- */

static bool
worker_enforces(void)
{
	return rb_enforce == RB_ENFORCE_ON && !rb_shared->worker.paused &&
		rb_shared->worker.latch != NULL;
}

/*
 * A connection of an ordinary role that would be refused with 53300 waits
 * for the worker, just woken, to end idle sessions down to the low-water
 * mark: at most RB_SLOT_WAIT_MS, and only while the slots that roles
 * allowed into the reserved ones need stay free.  Then it goes on (and is
 * refused if no slot came free, as it would have been).
 */
static void
wait_at_wall(Port *port)
{
	TimestampTz deadline;
	TimestampTz now;
	TimestampTz last;
	int			keep;

	if (rb_ordinary_slot_free() || !worker_enforces())
		return;
	if (!ordinary_role(port))
		return;
	keep = wall_keep_free();
	now = GetCurrentTimestamp();
	last = (TimestampTz) pg_atomic_exchange_u64(&rb_shared->wall_last_arrival, (uint64) now);
	if (now - last < RB_WALL_QUIET_MS * INT64CONST(1000) ||
		!rb_procs_free(keep) || !take_ticket())
	{
		pg_atomic_fetch_add_u64(&rb_shared->wall_not_waited, 1);
		return;
	}
	pg_atomic_fetch_add_u64(&rb_shared->wall_waits, 1);
	{
		uint32		now_waiting = pg_atomic_read_u32(&rb_shared->wall_waiters);
		uint32		peak = pg_atomic_read_u32(&rb_shared->wall_peak_waiters);

		while (now_waiting > peak &&
			   !pg_atomic_compare_exchange_u32(&rb_shared->wall_peak_waiters, &peak, now_waiting))
			;
	}
	deadline = TimestampTzPlusMilliseconds(now, RB_SLOT_WAIT_MS);
	/* leaves when another ordinary connection arrives (it stamps its time) */
	while (!rb_ordinary_slot_free() && rb_procs_free(keep) && worker_enforces() &&
		   (TimestampTz) pg_atomic_read_u64(&rb_shared->wall_last_arrival) == now &&
		   GetCurrentTimestamp() < deadline)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 RB_WALL_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	give_back_ticket();
}

/* ---------- the hook ---------- */

static void
client_gone(int code, Datum arg)
{
	give_back_ticket();
	if (rb_shared != NULL)
		pg_atomic_fetch_sub_u32(&rb_shared->nclients, 1);
}

/*
 * Runs in every new client backend once it is authenticated: one atomic
 * add, and a latch set only when the count of client backends reached the
 * high-water mark the worker published (0 = no saturation policy).  The
 * count is a hint for waking; the worker counts from its own snapshot.
 */
static void
rb_client_authenticated(Port *port, int status)
{
	uint32		n;
	int			wake_at;

	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);
	if (rb_shared == NULL || status != STATUS_OK || am_walsender)
		return;
	n = pg_atomic_add_fetch_u32(&rb_shared->nclients, 1);
	before_shmem_exit(client_gone, (Datum) 0);
	wake_at = rb_shared->worker.wake_at_clients;
	if (wake_at > 0 && n >= (uint32) wake_at)
	{
		Latch	   *latch = rb_shared->worker.latch;

		if (latch != NULL)
		{
			SetLatch(latch);
			wait_at_wall(port);
		}
	}
}

void
rb_wall_install_hook(void)
{
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = rb_client_authenticated;
}

/* ---------- runbook.connection_wall() ---------- */

#define WALL_COLS 7

Datum
rb_connection_wall(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		v[WALL_COLS];
	bool		nl[WALL_COLS];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rb_require_preload("runbook.connection_wall()");
	memset(nl, 0, sizeof(nl));
	v[0] = Int32GetDatum((int32) pg_atomic_read_u32(&rb_shared->wall_waiters));
	v[1] = Int32GetDatum(wall_wait_limit());
	v[2] = Int32GetDatum(wall_keep_free());
	v[3] = Int32GetDatum((int32) pg_atomic_read_u32(&rb_shared->wall_peak_waiters));
	v[4] = Int64GetDatum((int64) pg_atomic_read_u64(&rb_shared->wall_waits));
	v[5] = Int64GetDatum((int64) pg_atomic_read_u64(&rb_shared->wall_not_waited));
	v[6] = Int32GetDatum(RB_SLOT_WAIT_MS);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, nl)));
}
