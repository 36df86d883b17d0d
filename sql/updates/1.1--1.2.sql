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
