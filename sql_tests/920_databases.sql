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
-- the conditions of the per-database functions
CREATE TABLE p (id serial PRIMARY KEY, v int, note text);
INSERT INTO p (v, note) SELECT g, 'n' || g FROM generate_series(1, 10) g;
ALTER TABLE p ADD CONSTRAINT p_v_check CHECK (v > 5) NOT VALID;
SELECT setval('p_id_seq', 2100000000) > 0 AS near_the_end;
CREATE INDEX p_note ON p (note);
CREATE INDEX p_note_dup ON p (note);
CREATE TABLE knex_migrations_lock (index serial PRIMARY KEY, is_locked int);
INSERT INTO knex_migrations_lock (is_locked) VALUES (1);
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

-- the per-database functions over the server: rows of another database
-- with datname, relation NULL, schemaname and relname; a database not
-- checked is one row with the fix
SELECT verdict, datname, index, schemaname, relname, table_relname, ddl
  FROM runbook.index_advice(databases => ARRAY['rb_fanout_a', 'rb_fanout_b'])
 WHERE verdict IN ('duplicate', 'not_checked')
 ORDER BY datname, verdict;
SELECT check_name, status, datname, relation, schemaname, relname, detail, remedy_sql
  FROM runbook.integrity_check(databases => ARRAY['rb_fanout_a', 'rb_fanout_b'])
 ORDER BY datname, check_name;
SELECT datname, sequence, schemaname, relname, table_relname, column_name, column_type, status, remedy
  FROM runbook.sequences_near_overflow(databases => ARRAY['rb_fanout_a', 'rb_fanout_b'])
 ORDER BY datname;
SELECT datname, tool, migration_table, schemaname, relname, status, detail, remedy_command, remedy_sql
  FROM runbook.migration_status(databases => ARRAY['rb_fanout_a', 'rb_fanout_b'])
 ORDER BY datname, tool;
SELECT datname, relation, schemaname, relname, kind, dead_tuples, remedy, reason
  FROM runbook.bloat_report(databases => ARRAY['rb_fanout_a', 'rb_fanout_b'])
 WHERE relname = 't' OR kind IS NULL
 ORDER BY datname;
-- this database read here while the worker reads the other: both
SELECT datname = current_database() AS here, count(*) > 0 AS has_rows, count(relation) = count(*) AS relation_known
  FROM runbook.bloat_report(databases => ARRAY[current_database(), 'rb_fanout_a']::name[])
 GROUP BY 1 ORDER BY 1;
-- a relation names one of this database: the call covers it alone
SELECT * FROM runbook.bloat_report(rel => 'pg_class', databases => ARRAY['rb_fanout_a']);
-- a call started and never collected is stopped when its transaction ends
BEGIN;
SET LOCAL pg_runbook.test_per_database_delay = '60s';
SELECT runbook._on_databases_start('vacuum_status', ARRAY['rb_fanout_a'], NULL::runbook.vacuum_status) > 0 AS started;
DO $$ BEGIN
  FOR i IN 1..1200 LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'pg_runbook per-database check' AND state = 'active');
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT count(*) AS workers_running FROM pg_stat_activity
 WHERE backend_type = 'pg_runbook per-database check';
COMMIT;
SELECT count(*) AS workers_left FROM pg_stat_activity
 WHERE backend_type = 'pg_runbook per-database check';
SELECT * FROM runbook._on_databases_collect(1, NULL::runbook.vacuum_status);

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
-- ... also while the rows of a started call are collected
SET statement_timeout = '1s';
\set VERBOSITY terse
SELECT count(*) FROM runbook.index_advice(databases => ARRAY['rb_fanout_a', 'rb_fanout_b']);
\set VERBOSITY default
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
