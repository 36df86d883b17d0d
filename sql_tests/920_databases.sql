-- Every database from one call (issue 24): the per-database workers, their
-- rows and their refusals, on one server.  A short run for the suites that
-- have no TAP (the assert-enabled server, valgrind): the full scenario is
-- sql_tests/t/920_databases.pl.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_runbook;
\pset null '(null)'
CREATE DATABASE rb_fanout_a;
CREATE DATABASE rb_fanout_b;
CREATE DATABASE rb_fanout_c;
REVOKE CONNECT ON DATABASE rb_fanout_c FROM PUBLIC;
\c rb_fanout_a
CREATE EXTENSION pg_runbook;
CREATE TABLE t (id int) WITH (autovacuum_enabled = false);
INSERT INTO t SELECT generate_series(1, 20000);
DELETE FROM t;
SELECT pg_stat_force_next_flush();
SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 't';
\c rb_fanout_c
CREATE EXTENSION pg_runbook;
\c contrib_regression
SET client_min_messages = warning;
-- under valgrind a worker takes seconds to start: a budget it never needs
SET pg_runbook.per_database_timeout = '10min';
CREATE ROLE rb_fanout_mon LOGIN IN ROLE pg_monitor;

-- which databases a whole-server call covers, and why not
SELECT datname, is_current, checked, code, reason, fix, extversion IS NOT NULL AS has_version
  FROM runbook.databases()
 WHERE datname LIKE 'rb\_fanout\_%' OR is_current
 ORDER BY datname;

-- rows of another database: relation NULL, schemaname and relname given
SELECT datname, relation, schemaname, relname, n_dead_tup, status
  FROM runbook.vacuum_status(ARRAY['rb_fanout_a', 'rb_fanout_b'])
 WHERE relname = 't' OR relname IS NULL
 ORDER BY datname;
SELECT kind, datname, relation, schemaname, relname, total_bytes > 0 AS has_bytes, status
  FROM runbook.sizes(ARRAY['rb_fanout_a', 'rb_fanout_b'])
 WHERE relname = 't' OR kind = 'database'
 ORDER BY datname, kind;

-- triage(): the dead tuples of rb_fanout_a, the databases it could not check
SELECT check_name, datname, severity, finding, remedy_sql
  FROM runbook.triage()
 WHERE check_name IN ('dead_tuples', 'databases') AND datname LIKE 'rb\_fanout\_%'
 ORDER BY datname, check_name;

-- metrics: the family covers each database, or says it does not
SELECT metric, labels, value
  FROM runbook.metric_samples(ARRAY['pg_runbook_table_dead_tuples', 'pg_runbook_check_up'])
 WHERE labels->>'datname' LIKE 'rb\_fanout\_%'
 ORDER BY metric, labels::text;

-- a pg_monitor role: refused where its own connection would be
SET ROLE rb_fanout_mon;
SELECT datname, checked, code, reason, fix
  FROM runbook.databases()
 WHERE datname LIKE 'rb\_fanout\_%'
 ORDER BY datname;
RESET ROLE;

-- over the time budget: reported, not waited for
SET pg_runbook.test_per_database_delay = '60s';
SET pg_runbook.per_database_timeout = '500ms';
SELECT datname, checked, code, reason
  FROM runbook.databases()
 WHERE datname IN ('rb_fanout_a', 'rb_fanout_b')
 ORDER BY datname;
-- a cancel (statement_timeout) stops the workers: none is left
SET pg_runbook.per_database_timeout = '10min';
SET statement_timeout = '1s';
SELECT count(*) FROM runbook.vacuum_status(ARRAY['rb_fanout_a', 'rb_fanout_b']);
RESET statement_timeout;
SELECT count(*) AS workers_left FROM pg_stat_activity
 WHERE backend_type = 'pg_runbook per-database check';
RESET pg_runbook.test_per_database_delay;

-- bad input
SELECT * FROM runbook.vacuum_status(ARRAY['rb_no_such_database']);
SELECT * FROM runbook._on_databases('no_such_check', NULL, NULL::runbook.sizes);
SELECT * FROM runbook._on_databases('vacuum_status', NULL, 1);
SELECT datname, summary, checked, code, reason, r
  FROM runbook._on_databases('vacuum_status', ARRAY['rb_fanout_a']::name[], NULL::runbook.sizes);

DROP ROLE rb_fanout_mon;
DROP DATABASE rb_fanout_a;
DROP DATABASE rb_fanout_b;
DROP DATABASE rb_fanout_c;
