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

-- long_running(): include_lock_waits and the root_blocker column (issue 23)
DROP FUNCTION @extschema@.long_running(interval);

-- triage(): the live column (a finding about the past ranks after the live
-- ones) (issue 23)
DROP FUNCTION @extschema@.triage();
DROP FUNCTION @extschema@._triage_rows();

-- slow_queries(): include_utility, lock_wait_pct and lock_wait_note; ranked
-- by total time by default (issue 23)
DROP FUNCTION @extschema@.slow_queries(integer, text, bigint);
