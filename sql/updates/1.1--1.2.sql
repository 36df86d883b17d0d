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

-- runbook.events_archive: rows with a query text only for members of
-- pg_read_all_stats (issue 22; as sql/install/50_archives.sql).
ALTER TABLE @extschema@.events_archive ENABLE ROW LEVEL SECURITY;
CREATE POLICY events_archive_visible ON @extschema@.events_archive FOR SELECT
    USING ((SELECT pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')) OR query IS NULL);
