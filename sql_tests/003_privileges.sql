-- Privileges: nothing for PUBLIC, read access through pg_monitor, and the
-- "<insufficient privilege>" rule of pg_stat_activity for others' sessions.
CREATE ROLE rb_nobody LOGIN;
CREATE ROLE rb_monitor LOGIN IN ROLE pg_monitor;
CREATE ROLE rb_granted LOGIN;
GRANT USAGE ON SCHEMA runbook TO rb_granted;
GRANT EXECUTE ON FUNCTION runbook.idle_sessions(interval), runbook._sessions() TO rb_granted;
GRANT SELECT ON runbook.sessions TO rb_granted;

SET ROLE rb_nobody;
SELECT count(*) FROM runbook.sessions;
SELECT * FROM runbook.connections();
SELECT * FROM runbook.long_running();
RESET ROLE;

SET ROLE rb_monitor;
-- pg_monitor sees every session in full, including the superuser's own:
-- this one (SET ROLE keeps the session's user), with its state and query
SELECT count(*) FILTER (WHERE query = '<insufficient privilege>') AS hidden,
       count(*) FILTER (WHERE pid = pg_backend_pid() AND usename = session_user
                          AND state = 'active' AND query LIKE '%AS superusers_own_in_full%') AS superusers_own_in_full,
       count(*) FILTER (WHERE backend_type = 'client backend') >= 1 AS has_client_backends
  FROM runbook.sessions;
SELECT in_use >= 1 FROM runbook.connections();
RESET ROLE;

SET ROLE rb_granted;
-- a role without pg_read_all_stats sees what pg_stat_activity shows it: this
-- session belongs to the superuser (SET ROLE), so it is masked too
SELECT (SELECT count(*) FROM runbook.sessions WHERE query = '<insufficient privilege>')
     = (SELECT count(*) FROM pg_stat_activity WHERE query = '<insufficient privilege>') AS same_as_pg_stat_activity;
SELECT state, backend_type, query IS NOT NULL AS has_query
  FROM runbook.sessions WHERE pid = pg_backend_pid();
SELECT DISTINCT state, backend_type, client_addr, query
  FROM runbook.sessions WHERE query = '<insufficient privilege>';
RESET ROLE;

DROP OWNED BY rb_granted;
DROP ROLE rb_nobody, rb_monitor, rb_granted;
