-- pg_runbook 1.1 -> 1.2, after the objects: the shipped rows that are new
-- in 1.2 (a fresh install has them from sql/install/ and sql/seed/).

-- the memory and disk thresholds of triage() and metrics(); a shipped row
-- is not stamped (updated_by and updated_at NULL, as a fresh install has it)
ALTER TABLE @extschema@.alert_thresholds DISABLE TRIGGER alert_thresholds_stamp;
INSERT INTO @extschema@.alert_thresholds (name, value, unit, description, user_set) VALUES
 ('memory_sev1_pct',             95,         'percent', 'memory in use of the server''s limit (runbook.host(): its cgroup, else the machine; page cache not counted): SEV1 at or above', false),
 ('memory_sev2_pct',             90,         'percent', 'the same, SEV2 at or above', false),
 ('memory_sev3_pct',             80,         'percent', 'the same, SEV3 at or above', false),
 ('disk_sev1_pct',               95,         'percent', 'a filesystem holding the data directory, pg_wal or a tablespace used (space or inodes): SEV1 at or above', false),
 ('disk_sev2_pct',               90,         'percent', 'the same, SEV2 at or above', false),
 ('disk_sev3_pct',               80,         'percent', 'the same, SEV3 at or above', false)
ON CONFLICT (name) DO NOTHING;
ALTER TABLE @extschema@.alert_thresholds ENABLE TRIGGER alert_thresholds_stamp;

-- the starter guards, installed disabled (objects/40_worker/starter_policies.sql)
INSERT INTO @extschema@.policies
SELECT * FROM @extschema@._starter_policies() s
 WHERE s.name IN ('starter_memory_guard', 'starter_disk_guard')
ON CONFLICT (name) DO NOTHING;

-- issue 23: the share of statement time (slow_queries) and the changed
-- description of slot_retained_bytes (rows users did not change only); the
-- write trigger is off too, so that the update does not mark the row user_set
ALTER TABLE @extschema@.alert_thresholds DISABLE TRIGGER alert_thresholds_stamp;
ALTER TABLE @extschema@.alert_thresholds DISABLE TRIGGER alert_thresholds_write;

INSERT INTO @extschema@.alert_thresholds (name, value, unit, description, user_set) VALUES
 ('slow_query_share_pct',        20,         'percent', 'a statement taking this share of all statement time (pg_stat_statements), with a mean of at least slow_query_share_mean_ms: SEV3', false),
 ('slow_query_share_mean_ms',    20,         'ms',      'a statement faster than this per call is ordinary traffic whatever its share of the time', false),
 ('sequence_used_pct',           80,         'percent', 'a sequence (serial, identity) that has used this share of the range of its type or column, in any database: SEV3 (exhausted: SEV1)', false),
 ('sequence_used_sev2_pct',      95,         'percent', 'the same, SEV2', false)
ON CONFLICT (name) DO NOTHING;
UPDATE @extschema@.alert_thresholds
   SET description = 'an inactive replication slot retaining this much WAL: SEV2 (any inactive slot holding a WAL segment: SEV3)'
 WHERE name = 'slot_retained_bytes' AND NOT user_set;

ALTER TABLE @extschema@.alert_thresholds ENABLE TRIGGER alert_thresholds_write;
ALTER TABLE @extschema@.alert_thresholds ENABLE TRIGGER alert_thresholds_stamp;
