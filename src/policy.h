/*-------------------------------------------------------------------------
 *
 * policy.h
 *		Worker policies (runbook.policies) and their evaluation against a
 *		snapshot: which session matches which policy first, what action is
 *		due, and when the next session can cross a threshold.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_POLICY_H
#define PG_RUNBOOK_POLICY_H

#include "postgres.h"

#include "utils/inet.h"

#include "hostshot.h"
#include "lockshot.h"
#include "snapshot.h"

typedef enum RbPolicyAction
{
	RB_POLICY_IGNORE,
	RB_POLICY_LOG,
	RB_POLICY_CANCEL,
	RB_POLICY_TERMINATE,
	RB_POLICY_CANCEL_THEN_TERMINATE
} RbPolicyAction;

/*
 * Which sessions a policy or a remedy function's arguments select, apart
 * from state and ages: the one place that matches role membership,
 * database, application and client network (rb_filter_match).
 */
typedef struct RbSessionFilter
{
	Oid			roleid;			/* InvalidOid = any role; else members of it */
	Oid			dbid;			/* InvalidOid = any database */
	text	   *app_pattern;	/* NULL = any application; else LIKE */
	inet	   *network;		/* NULL = any client; local sockets match none */
} RbSessionFilter;

extern bool rb_filter_match(const RbSessionFilter *f, const RbBackend *b);

typedef struct RbPolicy
{
	char	   *name;
	int			priority;
	RbSessionFilter filter;
	bool		role_missing;	/* role_name names no role (dropped) */
	bool		db_missing;
	uint32		state_mask;		/* bit (1 << BackendState) per state */
	bool		has_window;
	int64		window_from;	/* time of day, microseconds */
	int64		window_until;
	int64		min_state_us;	/* -1 = no threshold */
	int64		min_xact_us;
	int64		min_query_us;
	bool		only_if_blocking;
	int			min_blocked;
	int64		min_blocked_wait_us;
	int32		min_xmin_age;	/* -1 = none */
	RbPolicyAction action;
	int64		grace_us;
	bool		allow_superuser;
	bool		dry_run;
	/* added in 1.1; all-zero means "not set" (callers memset a policy) */
	bool		has_backend_age;
	int64		min_backend_us; /* connection age threshold */
	text	   *exclude_app_pattern;	/* NULL = exclude nothing; else LIKE */
	bool		saturation;		/* min_conn_pct is set */
	double		min_conn_pct;	/* act only at or above this % of usable
								 * connection slots */
	double		target_conn_pct;	/* end only down to this %; < 0 = down to
									 * min_conn_pct */
	bool		saturated;		/* evaluation: not a saturation policy, or
								 * min_conn_pct reached */
	/* added in 1.2, memory and disk guards; all-zero means "not set" */
	bool		has_private_mem;
	int64		min_private_mem;	/* bytes of private memory (RssAnon of
									 * the session and its parallel workers) */
	bool		has_temp;
	int64		min_temp_bytes; /* bytes of temporary files of the session */
	bool		mem_guard;		/* min_mem_pct is set */
	double		min_mem_pct;	/* act only while memory in use is at or
								 * above this % of the limit */
	double		target_mem_pct; /* end only down to this %; < 0 = min */
	bool		disk_guard;		/* min_disk_pct is set */
	double		min_disk_pct;	/* act on sessions with temporary files on a
								 * filesystem at or above this % used */
	double		target_disk_pct;	/* < 0 = min_disk_pct */
	bool		mem_reached;	/* evaluation: not a memory guard, or its
								 * mark is reached */
	/* added in 1.2 (not a column: set by remedy functions' ad hoc policies) */
	bool		skip_lock_waiters;	/* a session waiting on a heavyweight lock
									 * is a victim, not a target: its decision
									 * is marked lock_waiter */
} RbPolicy;

typedef struct RbPolicySet
{
	int			npolicies;
	RbPolicy   *policies;		/* sorted: priority, then name */
	int64		min_threshold_us;	/* smallest threshold of an acting policy
									 * that is neither a saturation nor a
									 * blocking policy (those are woken by
									 * events) */
	double		min_conn_pct;	/* smallest min_conn_pct of an acting policy;
								 * < 0 = none */
	int			min_blocked;	/* smallest min_blocked_sessions of an acting
								 * only_if_blocking policy; 0 = none */
	/* the guards (1.2), for the worker's cheap check (guard.c) */
	bool		need_host;		/* an acting policy reads the host */
	uint32		host_states;	/* states of the sessions they may match */
	int			host_flags;		/* RB_HOST_* the evaluation needs */
	double		min_mem_pct;	/* smallest memory mark; < 0 = none */
	double		min_disk_pct;	/* smallest disk mark; < 0 = none */
	int64		min_private_mem;	/* smallest private-memory floor of a
									 * guard without a memory mark; < 0 =
									 * none */
	int64		min_temp_bytes; /* the same for temporary files */
} RbPolicySet;

typedef struct RbDecision
{
	RbBackend  *backend;
	RbPolicy   *policy;
	char	   *why;			/* the thresholds that were crossed */
	int64		figure;			/* a guard's: private memory, or temporary
								 * bytes on the filesystem that is full */
	int			loc;			/* a disk guard's location (host->locs) */
	bool		lock_waiter;	/* skip_lock_waiters: it waits on a lock (do
								 * not act on it; its root is lock_root) */
	int			lock_root;		/* root blocker's pid, 0 = prepared
								 * transaction, -1 = none (a cycle) */
} RbDecision;

typedef struct RbEvaluation
{
	int			ndecisions;
	RbDecision *decisions;		/* one per session matched by a non-ignore policy */
	TimestampTz next_deadline;	/* earliest future crossing; 0 = none */
	int			nclients;		/* client backends counted for saturation */
	int			usable_slots;	/* max_connections - reserved slots */
	int64		min_threshold_us;	/* set's, and of saturation policies whose
									 * mark is reached; -1 = none */
} RbEvaluation;

/* sessions the caller already ended, still exiting: neither counted nor chosen */
typedef bool (*RbEndingFn) (const RbBackend *b, void *arg);

extern int	rb_usable_connection_slots(void);

extern RbPolicySet *rb_policies_load(void);
/* rb_policies_evaluate flags */
#define RB_EVAL_KEEP_BACKGROUND 0x01	/* consider non-client backends too (a
										 * remedy function reports them as
										 * skipped; the worker ignores them) */

/*
 * Evaluation is analysis: it reads only the snapshots it is given, never
 * shared memory, and neither signals nor writes.  'locks' is the lock
 * snapshot for only_if_blocking policies: when rb_policies_need_locks(set),
 * pass rb_lockshot_take_if_waiting(snap) (NULL: nobody waits on a lock);
 * otherwise NULL.
 */
extern bool rb_policies_need_locks(const RbPolicySet *set);
extern RbEvaluation *rb_policies_evaluate(RbPolicySet *set, RbSnapshot *snap,
										  RbLockShot *locks,
										  int self_pid, int flags);
extern RbEvaluation *rb_policies_evaluate_ext(RbPolicySet *set, RbSnapshot *snap,
											  RbLockShot *locks,
											  int self_pid, int flags,
											  RbEndingFn ending, void *arg);

/*
 * Memory and disk guards (1.2).  When rb_policies_need_host(set), the
 * caller takes a host snapshot of its backend snapshot's pids (want[] from
 * rb_policies_host_wanted: the sessions a guard may match and their
 * parallel workers; flags set->host_flags) and passes it here; host->procs
 * is parallel to snap->backends.  NULL: guards match nothing.
 */
extern bool rb_policies_need_host(const RbPolicySet *set);
extern bool rb_policy_is_guard(const RbPolicy *p);
extern void rb_policies_host_wanted(const RbPolicySet *set, const RbSnapshot *snap,
									bool *want);
extern RbEvaluation *rb_policies_evaluate_host(RbPolicySet *set, RbSnapshot *snap,
											   RbLockShot *locks, RbHostShot *host,
											   int self_pid, int flags,
											   RbEndingFn ending, void *arg);

#endif							/* PG_RUNBOOK_POLICY_H */
