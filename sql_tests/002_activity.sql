-- Live-activity functions: shapes, the caller itself, bad input.
\pset null '(null)'
-- column names and types of the view (contract columns included)
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'runbook.sessions'::regclass AND attnum > 0
 ORDER BY attnum;
-- the caller appears with its own state and query
SELECT pid = pg_backend_pid() AS me, backend_type, usename = current_user AS user_ok,
       datname = current_database() AS db_ok, state, query LIKE 'SELECT pid = pg_backend_pid()%' AS query_ok,
       xact_age >= '0' AS xact_age_ok, state_age >= '0' AS state_age_ok
  FROM runbook.sessions WHERE pid = pg_backend_pid();
-- the same set of pids as pg_stat_activity (background processes included)
SELECT count(*) > 0 AS has_rows,
       (SELECT array_agg(pid ORDER BY pid) FROM runbook.sessions WHERE backend_type <> 'client backend')
     = (SELECT array_agg(pid ORDER BY pid) FROM pg_stat_activity WHERE backend_type <> 'client backend') AS same_background
  FROM runbook.sessions;
-- background processes are listed with their type
SELECT backend_type FROM runbook.sessions
 WHERE backend_type IN ('checkpointer', 'background writer', 'walwriter', 'autovacuum launcher')
 ORDER BY 1;
-- the caller is never listed by long_running(): it is active and older
-- than '0', so only the exclusion of the caller keeps it out
SELECT count(*) AS caller_listed FROM runbook.long_running('0') WHERE pid = pg_backend_pid();
SELECT count(*) AS caller_in_sessions FROM runbook.sessions
 WHERE pid = pg_backend_pid() AND state = 'active' AND query_age >= '0';
-- idle_sessions() lists an idle session (another connection, by dblink)
-- and, like every list, not the caller (which is active here anyway)
CREATE EXTENSION dblink;
SELECT dblink_connect('rb_idle', 'dbname=' || current_database() || ' application_name=rb_idle_peer');
SELECT application_name, state FROM runbook.idle_sessions('0') WHERE application_name = 'rb_idle_peer';
SELECT count(*) AS caller_listed FROM runbook.idle_sessions('0') WHERE pid = pg_backend_pid();
SELECT dblink_disconnect('rb_idle');
DROP EXTENSION dblink;
-- defaults
SELECT pg_get_function_arguments('runbook.long_running'::regproc) ~ '^min_age interval DEFAULT' AS lr_default,
       pg_get_function_arguments('runbook.idle_sessions'::regproc) ~ '^min_idle interval DEFAULT' AS idle_default;
-- connections(): one row, consistent arithmetic
SELECT max_connections = current_setting('max_connections')::int AS max_ok,
       reserved = current_setting('superuser_reserved_connections')::int AS reserved_ok,
       usable = max_connections - reserved AS usable_ok,
       in_use >= 1 AS in_use_ok,
       in_use = active + idle + idle_in_transaction + idle_in_transaction_aborted + other AS states_add_up,
       available = usable - in_use AS available_ok,
       pct_used = round(100.0 * in_use / usable, 1) AS pct_ok,
       background >= 3 AS background_ok
  FROM runbook.connections();
SELECT in_use = (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS matches_pg_stat_activity
  FROM runbook.connections();
-- connection_sources groups client sessions
SELECT datname = current_database() AS db_ok, usename = current_user AS user_ok, state, connections >= 1 AS n_ok
  FROM runbook.connection_sources
 WHERE datname = current_database() AND usename = current_user AND state = 'active';
-- bad input: NULL and negative intervals are errors with a hint
\set VERBOSITY default
SELECT * FROM runbook.long_running(NULL);
SELECT * FROM runbook.long_running('-1 s');
SELECT * FROM runbook.idle_sessions(NULL);
SELECT * FROM runbook.idle_sessions('-1 day');
-- the SQLSTATE (not VERBOSITY verbose: its LOCATION line pins a source line)
SELECT * FROM runbook.idle_sessions('-1 mon');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
