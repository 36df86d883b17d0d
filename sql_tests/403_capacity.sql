-- sequences_near_overflow, vacuum_status, wraparound, sizes, disk_usage
CREATE EXTENSION IF NOT EXISTS pg_runbook;
SET client_min_messages = warning;

CREATE TABLE sq_serial (id serial, v text);                       -- int4 column, int4 sequence
SELECT setval('sq_serial_id_seq', 2000000000);
CREATE TABLE sq_ident (id smallint GENERATED ALWAYS AS IDENTITY, v text);
SELECT setval(pg_get_serial_sequence('sq_ident', 'id'), 30000);
CREATE SEQUENCE sq_big;                                            -- bigint sequence ...
CREATE TABLE sq_default (id int DEFAULT nextval('sq_big'), v text); -- ... feeding an int column
SELECT setval('sq_big', 1900000000);
CREATE SEQUENCE sq_down INCREMENT -1 MINVALUE -1000 MAXVALUE -1 START -1;
SELECT setval('sq_down', -950);
CREATE SEQUENCE sq_low;                                             -- barely used
SELECT setval('sq_low', 10);
CREATE SEQUENCE sq_fresh;                                           -- never used

SELECT sequence, table_name, column_name, column_type, sequence_type, last_value,
       limit_value, limited_by, pct_used, remaining, status, remedy
  FROM runbook.sequences_near_overflow()
 WHERE sequence::text LIKE 'sq\_%'
 ORDER BY sequence::text;
SELECT count(*) AS listed_at_0 FROM runbook.sequences_near_overflow(0) WHERE sequence::text LIKE 'sq\_%';
SELECT * FROM runbook.sequences_near_overflow(1.5);

-- vacuum_status: thresholds from settings and reloptions, insert threshold
CREATE TABLE vs_t (id int) WITH (autovacuum_vacuum_threshold = 10, autovacuum_vacuum_scale_factor = 0,
                                 autovacuum_enabled = false);
INSERT INTO vs_t SELECT generate_series(1, 100);
DELETE FROM vs_t WHERE id <= 50;
SELECT pg_stat_force_next_flush();
SELECT relation, n_dead_tup, vacuum_threshold, insert_threshold, analyze_threshold,
       vacuum_due, insert_vacuum_due, autovacuum_enabled, status
  FROM runbook.vacuum_status WHERE relation = 'vs_t'::regclass;

-- wraparound: every database, the oldest tables, and horizon holders
SELECT kind, name, xid_age >= 0 AS has_xid_age, mxid_age >= 0 AS has_mxid_age,
       autovacuum_freeze_max_age > 0 AS has_limit, pct_of_hard_limit < 1 AS far_from_limit, action
  FROM runbook.wraparound WHERE kind = 'database' ORDER BY name;
SELECT count(*) BETWEEN 1 AND 20 AS oldest_tables FROM runbook.wraparound WHERE kind = 'table';
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) AS vs_t_rows FROM vs_t;  -- takes the snapshot the prepared transaction keeps
PREPARE TRANSACTION 'rb_wrap_test';
SELECT kind, name LIKE '%rb_wrap_test%' AS names_gid, action
  FROM runbook.wraparound WHERE kind = 'horizon: prepared transaction';
ROLLBACK PREPARED 'rb_wrap_test';

-- sizes: database rows and per-relation bytes that add up
SELECT count(*) > 0 AS has_databases FROM runbook.sizes WHERE kind = 'database' AND total_bytes > 0;
SELECT name, table_bytes > 0 AS has_heap, indexes_bytes = 0 AS no_indexes,
       total_bytes = table_bytes + toast_bytes + indexes_bytes AS adds_up,
       total_bytes = pg_total_relation_size('vs_t') AS matches_pg_total_relation_size, status
  FROM runbook.sizes WHERE relation = 'vs_t'::regclass;
SELECT runbook.relation_size_nowait('vs_t') = pg_relation_size('vs_t') AS nowait_matches;

-- disk_usage: the categories are there
SELECT DISTINCT category FROM runbook.disk_usage() ORDER BY 1;

-- pg_monitor can read everything here, and sees what a superuser sees
CREATE TABLE cap_dup (a int);
CREATE INDEX cap_dup_1 ON cap_dup (a);
CREATE INDEX cap_dup_2 ON cap_dup (a);
CREATE SEQUENCE cap_seq AS smallint;
SELECT setval('cap_seq', 32000) AS cap_seq_set;
SELECT count(*) AS n FROM runbook.index_advice() \gset su_advice_
CREATE ROLE rb_maint_mon IN ROLE pg_monitor;
SET ROLE rb_maint_mon;
SELECT count(*) > 0 AS ok FROM runbook.bloat_report();
SELECT count(*) > 0 AS ok FROM runbook.sizes;
SELECT count(*) > 0 AS ok FROM runbook.vacuum_status;
SELECT count(*) > 0 AS ok FROM runbook.wraparound;
SELECT count(*) > 0 AS ok FROM runbook.disk_usage();
SELECT count(*) = :su_advice_n AS same_as_superuser FROM runbook.index_advice();
SELECT verdict, index FROM runbook.index_advice() WHERE table_name = 'cap_dup'::regclass ORDER BY 1, 2::text;
-- the sequence is listed; reading its value needs a privilege pg_monitor lacks
SELECT sequence, sequence_type, limit_value, status FROM runbook.sequences_near_overflow() WHERE sequence = 'cap_seq'::regclass;
RESET ROLE;
SELECT sequence, last_value, pct_used > 97 AS near, status FROM runbook.sequences_near_overflow() WHERE sequence = 'cap_seq'::regclass;
DROP ROLE rb_maint_mon;
DROP TABLE cap_dup;
DROP SEQUENCE cap_seq;

-- leave nothing behind for the other suites sharing this database
DROP TABLE sq_serial, sq_ident, sq_default, vs_t;
DROP SEQUENCE sq_big, sq_down, sq_low, sq_fresh;
