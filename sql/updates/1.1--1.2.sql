-- pg_runbook 1.1 -> 1.2: what 1.2 changes in the tables and types of
-- sql/install/, and the objects it drops or whose signature or result
-- columns change (CREATE OR REPLACE cannot change those; the objects
-- themselves follow from sql/objects/).  Rules:
-- - never drop a table or a column users fill; add columns at the end, as
--   sql/install/ adds them, so that a fresh install and an update match;
-- - a function whose OUT list or argument types change is dropped here and
--   created again by sql/objects/ (pre-update.sql notes its grants and
--   post-update.sql gives them back);
-- - new shipped rows (thresholds, starter policies) that need the new
--   functions go into 1.1--1.2.post.sql.

-- issue 22 (emitted text): migration_status() gains remedy_command (the
-- tool's shell command) and remedy_sql; _migration_remedy() (shell text in
-- an SQL comment) is gone: triage's remedy_sql holds only SQL.
DROP FUNCTION @extschema@.migration_status(interval);
DROP FUNCTION @extschema@._migration_remedy(text, text, text, text, text);

-- issue 25: bloat_report()'s estimate returns finished rows (_bloat_rows)
-- and its remedy text is built inline from an advice; _bloat_estimate's C
-- symbol stays for 1.0 / 1.1 installations.
DROP FUNCTION @extschema@._bloat_estimate(regclass);
DROP FUNCTION @extschema@._bloat_remedy(text, regclass, regclass, bigint, numeric, numeric, text);

-- runbook.actions: pg_stat_activity's visibility rule for its readers
-- (issue 22; as sql/install/20_actions.sql).
ALTER TABLE @extschema@.actions ENABLE ROW LEVEL SECURITY;
CREATE POLICY actions_visible ON @extschema@.actions FOR SELECT
    USING ((SELECT pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'))
           OR usename IS NULL
           OR usename OPERATOR(pg_catalog.=) ANY (ARRAY(
                  SELECT r.rolname FROM pg_catalog.pg_roles r
                   WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'))));

-- runbook.policies: the memory and disk guards (sql/install/30_policies.sql)
ALTER TABLE @extschema@.policies
    ADD COLUMN min_private_memory_bytes bigint,
    ADD COLUMN min_temp_file_bytes bigint,
    ADD COLUMN min_memory_used_pct numeric,
    ADD COLUMN target_memory_used_pct numeric,
    ADD COLUMN min_disk_used_pct numeric,
    ADD COLUMN target_disk_used_pct numeric,
    ADD CONSTRAINT policies_guard_bytes_check
        CHECK (coalesce(min_private_memory_bytes, 0) >= 0 AND coalesce(min_temp_file_bytes, 0) >= 0),
    ADD CONSTRAINT policies_memory_check
        CHECK (min_memory_used_pct > 0 AND min_memory_used_pct <= 100
               AND target_memory_used_pct >= 0 AND target_memory_used_pct <= min_memory_used_pct
               AND (target_memory_used_pct IS NULL OR min_memory_used_pct IS NOT NULL)),
    ADD CONSTRAINT policies_disk_check
        CHECK (min_disk_used_pct > 0 AND min_disk_used_pct <= 100
               AND target_disk_used_pct >= 0 AND target_disk_used_pct <= min_disk_used_pct
               AND (target_disk_used_pct IS NULL OR min_disk_used_pct IS NOT NULL)
               AND (min_disk_used_pct IS NULL OR min_memory_used_pct IS NULL));
COMMENT ON COLUMN @extschema@.policies.min_private_memory_bytes IS
'match only sessions holding at least this much private memory (RssAnon of the session and its parallel workers)';
COMMENT ON COLUMN @extschema@.policies.min_temp_file_bytes IS
'match only sessions with at least this many bytes of temporary files (with a disk guard: on the full filesystem)';
COMMENT ON COLUMN @extschema@.policies.min_memory_used_pct IS
'memory guard: act only while memory in use is at or above this percent of the limit (runbook.host()), largest private memory first';
COMMENT ON COLUMN @extschema@.policies.target_memory_used_pct IS
'memory guard: end only as many sessions as bring memory in use down to this percent (default: min_memory_used_pct)';
COMMENT ON COLUMN @extschema@.policies.min_disk_used_pct IS
'disk guard: act on sessions with temporary files on a filesystem at or above this percent used, most temporary bytes there first';
COMMENT ON COLUMN @extschema@.policies.target_disk_used_pct IS
'disk guard: end only as many sessions as bring that filesystem down to this percent (default: min_disk_used_pct)';

-- runbook.events_archive: rows with a query text only for members of
-- pg_read_all_stats (issue 22; as sql/install/50_archives.sql).
ALTER TABLE @extschema@.events_archive ENABLE ROW LEVEL SECURITY;
CREATE POLICY events_archive_visible ON @extschema@.events_archive FOR SELECT
    USING ((SELECT pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')) OR query IS NULL);

-- ---------------------------------------------------------------------
-- Every database from one call (issue 24): a triage finding names its
-- database; triage() and _triage_rows() gain the column datname; the
-- dead-tuples check becomes a per-database check (_triage_db_dead_tuples,
-- run in every database by the check "databases").
-- ---------------------------------------------------------------------
ALTER TYPE @extschema@.triage_finding ADD ATTRIBUTE datname name;

COMMENT ON TYPE @extschema@.triage_finding IS
'a row of triage(): severity (SEV1 to SEV4), the check that found it, the finding, its evidence, what to do, the SQL to run next and the database it is about';

DROP FUNCTION @extschema@.triage();
DROP FUNCTION @extschema@._triage_rows();
DROP FUNCTION @extschema@._triage_dead_tuples(@extschema@.sessions[], jsonb, integer[]);

-- long_running(): include_lock_waits and the root_blocker column (issue 23)
DROP FUNCTION @extschema@.long_running(interval);

-- triage(): also the live column (a finding about the past ranks after the
-- live ones) (issue 23): dropped above

-- slow_queries(): include_utility, lock_wait_pct and lock_wait_note; ranked
-- by total time by default (issue 23)
DROP FUNCTION @extschema@.slow_queries(integer, text, bigint);

-- ---------------------------------------------------------------------
-- Every database from one call, part 2 (issue 24): bloat_report(),
-- index_advice(), migration_status(), integrity_check() and
-- sequences_near_overflow() cover every database of the server (argument
-- databases), and their rows name their database and relation (datname,
-- schemaname, relname).  Their rows are named types (sql/install/
-- 10_types.sql), as the per-database mechanism needs; migration_status()
-- is dropped above already.
-- ---------------------------------------------------------------------
DROP FUNCTION @extschema@.bloat_report(text, regclass, bigint);
DROP FUNCTION @extschema@.index_advice(bigint, bigint);
DROP FUNCTION @extschema@.integrity_check(regclass[], interval, boolean, boolean);
DROP FUNCTION @extschema@.sequences_near_overflow(real);

ALTER TYPE @extschema@.bloat_row
    ADD ATTRIBUTE datname name,
    ADD ATTRIBUTE schemaname name,
    ADD ATTRIBUTE relname name,
    ADD ATTRIBUTE table_relname name;

COMMENT ON TYPE @extschema@.bloat_row IS
'a row of bloat_report(): a table or index (schemaname, relname; an index''s table in table_relname) of a database, its size and estimated or measured bloat, how far the figure can be trusted, and the remedy to run in that database';

-- @include sql/install/12_whole_server_types.sql

-- triage(): the invalid indexes, NOT VALID constraints and migrations
-- checks become per-database checks (_triage_db_<name>(thresholds), run in
-- every database by the check "databases") (issue 24)
DROP FUNCTION @extschema@._triage_invalid_indexes(@extschema@.sessions[], jsonb, integer[]);
DROP FUNCTION @extschema@._triage_not_valid_constraints(@extschema@.sessions[], jsonb, integer[]);
DROP FUNCTION @extschema@._triage_migrations(@extschema@.sessions[], jsonb, integer[]);

-- triage()'s sequences check reads every sequence of a database: a
-- pg_monitor role may read pg_runbook's own (as sql/install/20_actions.sql)
GRANT SELECT ON SEQUENCE @extschema@.actions_id_seq TO pg_monitor;
