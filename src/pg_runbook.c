/*-------------------------------------------------------------------------
 *
 * pg_runbook.c
 *		Module entry point: settings (GUCs), shared memory, hook chaining.
 *
 * Diagnostic functions work without preloading; features that need shared
 * memory (audit ring, worker) call rb_require_preload() and say how to
 * enable them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "pg_runbook.h"
#include "audit.h"
#include "remedy.h"
#include "history.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* settings */
char	   *rb_exempt_roles = NULL;
int			rb_max_actions_per_cycle = 100;
int			rb_audit_ring_size = 1024;
#ifdef RB_TEST_HOOKS
int			rb_test_delay_before_signal = 0;
#endif

char	   *rb_database = NULL;
int			rb_naptime_ms = 10000;
int			rb_enforce = RB_ENFORCE_ON;
bool		rb_act_on_standby = false;

static const struct config_enum_entry enforce_options[] = {
	{"off", RB_ENFORCE_OFF, false},
	{"log", RB_ENFORCE_LOG, false},
	{"on", RB_ENFORCE_ON, false},
	{NULL, 0, false}
};

const char *
rb_enforce_name(void)
{
	return enforce_options[rb_enforce].name;
}

/* shared state */
RbShared   *rb_shared = NULL;

#define RB_SHARED_MAGIC 0x52424b31	/* "RBK1" */

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
rb_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(RbShared)), rb_audit_shmem_size());
}

static void
rb_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(rb_shmem_size());
	RequestNamedLWLockTranche("pg_runbook", 1);
	rb_history_shmem_request();
}

static void
rb_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rb_shared = ShmemInitStruct("pg_runbook", rb_shmem_size(), &found);
	if (!found)
	{
		memset(rb_shared, 0, rb_shmem_size());
		rb_shared->lock = &(GetNamedLWLockTranche("pg_runbook"))->lock;
		rb_shared->magic = RB_SHARED_MAGIC;
		pg_atomic_init_u32(&rb_shared->nclients, 0);
		rb_audit_shmem_init((char *) rb_shared + MAXALIGN(sizeof(RbShared)));
	}
	LWLockRelease(AddinShmemInitLock);
	rb_history_shmem_init();
}

/*
 * Error out, with the remedy, when a feature needs shared memory and the
 * library was not preloaded.
 */
void
rb_require_preload(const char *feature)
{
	if (rb_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs pg_runbook in shared_preload_libraries", feature),
				 errhint("Add pg_runbook to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * pg_runbook.exempt_roles must be a list of identifiers; a bad list is
 * rejected when it is set (SET, ALTER SYSTEM, a reload), not discovered by
 * the worker later.  Whether the roles exist is not checked here: a
 * postmaster and a reload have no catalog access, and a role may be
 * created after the setting.  A name that names no role exempts nobody
 * and is reported by the remedy path when it acts.
 */
static bool
check_exempt_roles(char **newval, void **extra, GucSource source)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	bool		ok;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	raw = pstrdup(*newval);
	ok = SplitIdentifierString(raw, ',', &names);
	if (!ok)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errdetail("List syntax is invalid.");
		GUC_check_errhint("Give role names separated by commas, in double quotes where a name needs them, e.g. 'backup, \"Ops Team\"'.");
	}
	else
		foreach(lc, names)
		{
			if (((char *) lfirst(lc))[0] == '\0')
			{
				GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
				GUC_check_errdetail("A role name is empty.");
				ok = false;
				break;
			}
		}
	list_free(names);
	pfree(raw);
	return ok;
}

static void
rb_define_gucs(void)
{
	DefineCustomStringVariable("pg_runbook.exempt_roles",
							   "Roles whose sessions pg_runbook never signals (comma-separated).",
							   "Membership counts: a session of a member of an exempt role is exempt too.",
							   &rb_exempt_roles,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   check_exempt_roles, NULL, NULL);

	DefineCustomIntVariable("pg_runbook.max_actions_per_cycle",
							"Most sessions signalled by one function call or one worker cycle.",
							NULL,
							&rb_max_actions_per_cycle,
							100, 1, 100000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

#ifdef RB_TEST_HOOKS

	/*
	 * Test builds only (make RB_TEST_HOOKS=1, which tools/run-tests.sh
	 * uses): a production build has no such setting.
	 */
	DefineCustomIntVariable("pg_runbook.test_delay_before_signal",
							"Test only: wait this long between choosing targets and re-checking them.",
							"Used by the test suite to change a session between selection and signal. Leave at 0.",
							&rb_test_delay_before_signal,
							0, 0, 60000,
							PGC_SUSET,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
#endif

	/*
	 * Settings that size shared memory or place the worker exist only when
	 * the library is preloaded: PGC_POSTMASTER variables cannot be created
	 * later.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("pg_runbook.audit_ring_size",
								"Entries kept in the shared-memory audit ring (runbook.recent_actions()).",
								"Every action and skip of a real remediation run is kept here, on primaries and standbys; on a primary an entry is not overwritten before it reached runbook.actions.",
								&rb_audit_ring_size,
								1024, 16, 1000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomStringVariable("pg_runbook.database",
								   "Database the pg_runbook worker connects to and reads runbook.policies from.",
								   NULL,
								   &rb_database,
								   "postgres",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);
	}

	DefineCustomIntVariable("pg_runbook.naptime",
							"Longest sleep of the pg_runbook worker between cycles.",
							"The worker wakes earlier when a session is about to cross a policy threshold.",
							&rb_naptime_ms,
							10000, 10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("pg_runbook.enforce",
							 "Whether the pg_runbook worker acts: off, log (dry run of every policy) or on.",
							 NULL,
							 &rb_enforce,
							 RB_ENFORCE_ON,
							 enforce_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_runbook.act_on_standby",
							 "Whether the pg_runbook worker enforces policies on a hot standby.",
							 NULL,
							 &rb_act_on_standby,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	rb_remedy_define_gucs();	/* remedy.c, audit.c */
	rb_history_init_gucs();		/* flight recorder (history.c) */

	MarkGUCPrefixReserved("pg_runbook");
}

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	rb_define_gucs();

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rb_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rb_shmem_startup;

	rb_worker_register();
	rb_worker_install_hooks();
	rb_history_register_worker();
}
