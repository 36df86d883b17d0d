/*-------------------------------------------------------------------------
 *
 * settings.c
 *		The core settings (GUCs) of pg_runbook: the variables and their
 *		definitions.  A leaf module: it calls nothing of pg_runbook, so that
 *		every subsystem may read these variables without a circle.
 *		_PG_init (pg_runbook.c) calls rb_settings_define() first, then the
 *		definitions of the subsystems that own settings of their own
 *		(remedy.c with audit.c, history.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "settings.h"

char	   *rb_exempt_roles = NULL;
int			rb_max_actions_per_cycle = 100;
int			rb_audit_ring_size = 1024;
#ifdef RB_TEST_HOOKS
int			rb_test_delay_before_signal = 0;
int			rb_test_bloat_delay_after_scan = 0;
char	   *rb_test_os_root = NULL;
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

void
rb_settings_define(void)
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
	DefineCustomIntVariable("pg_runbook.test_bloat_delay_after_scan",
							"Test only: wait this long between the catalog scans of the bloat estimate and its first lock.",
							"Used by the test suite to rewrite or drop a relation in that window. Leave at 0.",
							&rb_test_bloat_delay_after_scan,
							0, 0, 60000,
							PGC_SUSET,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	/*
	 * The memory readers of hostshot.c read /proc/self/cgroup,
	 * /proc/self/mountinfo, /proc/meminfo and the cgroup files under this
	 * directory instead of / (a directory laid out like a cgroup v2 host,
	 * say): tests of layouts the test machine does not have.
	 */
	DefineCustomStringVariable("pg_runbook.test_os_root",
							   "Test only: read the memory files (cgroup, meminfo) under this directory instead of /.",
							   "Used by the test suite to read cgroup layouts laid out in files. Leave empty.",
							   &rb_test_os_root,
							   "",
							   PGC_SUSET,
							   GUC_NOT_IN_SAMPLE,
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
}
