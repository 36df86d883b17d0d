-- Ops functions: executable by pg_monitor only; SECURITY INVOKER, so user
-- tables the caller may not read are reported as skipped, never read.
\set SHOW_CONTEXT never
CREATE ROLE rb_ops_nobody LOGIN;
GRANT USAGE ON SCHEMA runbook TO rb_ops_nobody;
CREATE ROLE rb_ops_monitor LOGIN IN ROLE pg_monitor;
CREATE TABLE ops_parent (id int PRIMARY KEY);
CREATE TABLE ops_child (id int, parent_id int);
INSERT INTO ops_child VALUES (1, 7);
ALTER TABLE ops_child ADD FOREIGN KEY (parent_id) REFERENCES ops_parent NOT VALID;
CREATE TABLE _prisma_migrations (id varchar(36), checksum varchar(64), finished_at timestamptz,
    migration_name varchar(255), logs text, rolled_back_at timestamptz,
    started_at timestamptz, applied_steps_count int);
-- every ops function is SECURITY INVOKER and not executable by PUBLIC
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer,
       has_function_privilege('pg_monitor', p.oid, 'EXECUTE') AS pg_monitor,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p
 WHERE p.pronamespace = 'runbook'::regnamespace
   AND p.proname IN ('slow_queries', 'replication_status', 'integrity_check', 'config_check',
                     'migration_status', '_bounded_query', '_fk_orphan_from', '_deadline_arm', '_checkpoint_counts',
                     '_deadline_disarm', '_server_memory', '_preloaded_libraries')
 ORDER BY 1::text;
SET ROLE rb_ops_nobody;
SELECT * FROM runbook.integrity_check();
SELECT * FROM runbook.migration_status();
SELECT * FROM runbook.config_check();
SELECT * FROM runbook.replication_status();
RESET ROLE;
-- config_check as the superuser, to compare with pg_monitor's view below
CREATE TEMP TABLE cc_super AS SELECT * FROM runbook.config_check();
GRANT SELECT ON cc_super TO rb_ops_monitor;
SET ROLE rb_ops_monitor;
SELECT check_name, status, object, count, detail FROM runbook.integrity_check() ORDER BY 1, 3;
SELECT tool, migration_table, status, detail FROM runbook.migration_status();
SELECT count(*) > 0 AS has_archiver_row FROM runbook.replication_status() WHERE kind = 'archiver';
-- pg_monitor gets the superuser's findings, no more, no fewer (archive_mode
-- is off on the test instance: never empty)
SELECT (SELECT count(*) FROM runbook.config_check()) > 0 AS has_rows,
       (SELECT count(*) FROM cc_super) = (SELECT count(*) FROM runbook.config_check()) AS same_count,
       NOT EXISTS (SELECT * FROM runbook.config_check() EXCEPT SELECT * FROM cc_super)
   AND NOT EXISTS (SELECT * FROM cc_super EXCEPT SELECT * FROM runbook.config_check()) AS same_rows,
       EXISTS (SELECT 1 FROM runbook.config_check() WHERE setting = 'archive_mode') AS has_archive_mode;
RESET ROLE;
DROP TABLE ops_child, ops_parent, _prisma_migrations, cc_super;
REVOKE USAGE ON SCHEMA runbook FROM rb_ops_nobody;
DROP ROLE rb_ops_nobody, rb_ops_monitor;
