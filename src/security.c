/*-------------------------------------------------------------------------
 *
 * security.c
 *		Privilege safety shared by the modules (docs/security.md): the fixed
 *		environment of the background workers (the policy worker and audit
 *		writer; the per-database workers of whole-server calls), and the
 *		escaping of client-controlled text in LOG lines.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/guc.h"

#include "pg_runbook.h"

/*
 * Statements of pg_runbook's own background workers (the policy worker, the
 * audit writer, the sampler, the per-database workers) are not recorded in
 * pg_stat_statements: they are pg_runbook's bookkeeping (reading
 * runbook.policies and runbook.alert_thresholds, writing runbook.actions,
 * the check a per-database worker runs for its caller, whose own call is
 * recorded, as a parallel worker's part is), not the workload a DBA ranks
 * with slow_queries().  pg_stat_statements.track = none at PGC_S_OVERRIDE;
 * nothing to do when pg_stat_statements is not loaded.
 */
void
rb_worker_untracked(void)
{
	if (GetConfigOption("pg_stat_statements.track", true, false) != NULL)
		SetConfigOption("pg_stat_statements.track", "none", PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * The environment of both background workers (policy worker and audit
 * writer), forced right after BackgroundWorkerInitializeConnection*(): the
 * settings of ALTER DATABASE / ALTER ROLE ... SET were applied by then, and
 * these replace them.  PGC_S_OVERRIDE: nothing set later in the database
 * (a function's SET clause, say) takes precedence.
 *
 *	search_path				  pg_catalog, pg_temp: no name the workers' SQL
 *							  resolves can be shadowed by a planted object
 *	default_transaction_read_only  off: the audit rows and the worker's
 *							  bookkeeping must be written
 *	default_transaction_isolation  read committed: no serialization failures
 *	session_replication_role  origin
 *	statement_timeout		  30 s: bounds a stuck cycle, far above the
 *							  milliseconds one takes
 *	lock_timeout			  5 s: DDL on runbook.policies delays a cycle at
 *							  most this long (the cycle fails and is retried)
 *	idle_in_transaction_session_timeout, idle_session_timeout,
 *	transaction_timeout (17+)  0: the workers never idle in a transaction
 *	TimeZone				  the server's log_timezone: policies' active_from
 *							  / active_until are read in it.  log_timezone is
 *							  a postgresql.conf setting (sighup) that no
 *							  database or role can change; initdb sets it to
 *							  the same zone as timezone.
 *	pg_stat_statements.track  none (rb_worker_untracked())
 */
void
rb_worker_fixed_environment(void)
{
	static const char *const fixed[][2] = {
		{"search_path", "pg_catalog, pg_temp"},
		{"default_transaction_read_only", "off"},
		{"default_transaction_isolation", "read committed"},
		{"session_replication_role", "origin"},
		{"statement_timeout", "30s"},
		{"lock_timeout", "5s"},
		{"idle_in_transaction_session_timeout", "0"},
		{"idle_session_timeout", "0"},
		{"transaction_timeout", "0"},
	};
	const char *logtz;
	int			i;

	for (i = 0; i < lengthof(fixed); i++)
	{
		/* transaction_timeout exists from PostgreSQL 17 */
		if (GetConfigOption(fixed[i][0], true, false) == NULL)
			continue;
		SetConfigOption(fixed[i][0], fixed[i][1], PGC_SUSET, PGC_S_OVERRIDE);
	}
	rb_worker_untracked();
	logtz = GetConfigOption("log_timezone", false, false);
	if (logtz != NULL)
		SetConfigOption("TimeZone", pstrdup(logtz), PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * Client-controlled text (application_name, query text, names) for a LOG
 * line: backslash and double quote are escaped, control characters
 * (line breaks included) become \n, \r, \t or \xHH, so that a client
 * can neither end a line nor forge a key="value" pair.
 */
void
rb_append_escaped(StringInfo s, const char *val)
{
	const unsigned char *p;

	if (val == NULL)
		return;
	for (p = (const unsigned char *) val; *p; p++)
	{
		switch (*p)
		{
			case '"':
			case '\\':
				appendStringInfoChar(s, '\\');
				appendStringInfoChar(s, (char) *p);
				break;
			case '\n':
				appendStringInfoString(s, "\\n");
				break;
			case '\r':
				appendStringInfoString(s, "\\r");
				break;
			case '\t':
				appendStringInfoString(s, "\\t");
				break;
			default:
				if (*p < 0x20 || *p == 0x7f)
					appendStringInfo(s, "\\x%02x", *p);
				else
					appendStringInfoChar(s, (char) *p);
		}
	}
}

/* rb_append_escaped() into a new palloc'd string */
char *
rb_escape_text(const char *val)
{
	StringInfoData s;

	initStringInfo(&s);
	rb_append_escaped(&s, val);
	return s.data;
}

/*
 * The environment of a per-database worker (dbworker.c), forced right after
 * BackgroundWorkerInitializeConnectionByOid(): it runs one read-only check
 * as the calling role, and no ALTER DATABASE / ALTER ROLE ... SET may change
 * how.
 *
 *	search_path				  pg_catalog, pg_temp (the checks name their
 *							  objects; nothing planted can shadow a name)
 *	default_transaction_read_only  on: a check never writes, in any database
 *	default_transaction_isolation  read committed: one snapshot, no
 *							  serialization failure
 *	lock_timeout			  100ms: the diagnostics' rule, no lock waits
 *							  (the checks lock conditionally; this is the
 *							  backstop for a catalog held by DDL)
 *	statement_timeout		  0: the worker arms its own timer, the time
 *							  budget plus a second (a background worker has
 *							  no statement timer of its own)
 *	idle_in_transaction_session_timeout, idle_session_timeout,
 *	transaction_timeout (17+)  0
 *	max_parallel_workers_per_gather  0: no worker starts more workers
 *	jit						  off: catalog queries, never worth compiling
 *	DateStyle, IntervalStyle, extra_float_digits, bytea_output
 *							  the defaults (ISO, MDY; postgres; 1; hex): a
 *							  value a check writes into text (an age, a
 *							  size, a timestamp) reads the same whatever the
 *							  role or the database sets
 *	row_security			  on, the default: a table's policies apply to
 *							  the role as in its own session (the checks
 *							  refuse such a table rather than read it,
 *							  _read_refusal())
 *	TimeZone				  the caller's, so that times in the check's
 *							  texts read as in the caller's session
 *	pg_stat_statements.track  none (rb_worker_untracked())
 */
void
rb_dbworker_fixed_environment(const char *timezone)
{
	static const char *const fixed[][2] = {
		{"search_path", "pg_catalog, pg_temp"},
		{"default_transaction_read_only", "on"},
		{"default_transaction_isolation", "read committed"},
		{"lock_timeout", "100ms"},
		{"statement_timeout", "0"},
		{"idle_in_transaction_session_timeout", "0"},
		{"idle_session_timeout", "0"},
		{"transaction_timeout", "0"},
		{"max_parallel_workers_per_gather", "0"},
		{"jit", "off"},
		{"DateStyle", "ISO, MDY"},
		{"IntervalStyle", "postgres"},
		{"extra_float_digits", "1"},
		{"bytea_output", "hex"},
		{"row_security", "on"},
	};
	int			i;

	for (i = 0; i < lengthof(fixed); i++)
	{
		if (GetConfigOption(fixed[i][0], true, false) == NULL)
			continue;
		SetConfigOption(fixed[i][0], fixed[i][1], PGC_SUSET, PGC_S_OVERRIDE);
	}
	rb_worker_untracked();
	if (timezone != NULL && timezone[0] != '\0')
		SetConfigOption("TimeZone", timezone, PGC_SUSET, PGC_S_OVERRIDE);
}
