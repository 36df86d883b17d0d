-- runbook.alert_thresholds: the thresholds of triage(), the alerts view and
-- metrics(), one row each, with the shipped defaults.  A user change marks
-- the row user_set (objects/80_triage/alert_thresholds.sql); pg_dump keeps
-- only those rows.
CREATE TABLE @extschema@.alert_thresholds (
    name        text PRIMARY KEY,
    value       numeric NOT NULL,
    unit        text NOT NULL,
    description text NOT NULL,
    user_set    boolean NOT NULL DEFAULT true,
    updated_at  timestamptz,
    updated_by  name
);

COMMENT ON TABLE @extschema@.alert_thresholds IS
'thresholds of triage() and the alerts view; UPDATE value to change one (user_set then becomes true and pg_dump keeps the row)';

COMMENT ON COLUMN @extschema@.alert_thresholds.updated_at IS
'time of the last change of this row; NULL for a shipped default never changed';
COMMENT ON COLUMN @extschema@.alert_thresholds.updated_by IS
'session_user of the last change of this row; NULL for a shipped default never changed';

-- the shipped defaults (inserted before the write and stamp triggers exist)
INSERT INTO @extschema@.alert_thresholds (name, value, unit, description, user_set) VALUES
 ('connections_sev1_pct',        95,         'percent', 'connections in use of the usable slots: SEV1 at or above', false),
 ('connections_sev2_pct',        80,         'percent', 'connections in use of the usable slots: SEV2 at or above; DatabaseHighConnections', false),
 ('connections_sev3_pct',        70,         'percent', 'connections in use of the usable slots: SEV3 at or above', false),
 ('lock_wait_seconds',           60,         'seconds', 'a session waiting on a lock this long is SEV2 (shorter: SEV3); DatabaseLockWaits', false),
 ('lock_waiters_sev1',           20,         'count',   'this many sessions waiting on locks at once is SEV1', false),
 ('idle_xact_seconds',           600,        'seconds', 'idle in transaction this long without blocking anyone: SEV3', false),
 ('long_query_seconds',          300,        'seconds', 'a statement running this long: SEV3; DatabaseLongTransaction uses it for transactions', false),
 ('long_query_sev2_seconds',     3600,       'seconds', 'a statement running this long: SEV2', false),
 ('xmin_age_xids',               10000000,   'xids',    'a session, prepared transaction or slot holding the xmin horizon back by this many transactions: SEV3', false),
 ('xmin_age_sev2_xids',          100000000,  'xids',    'the same, SEV2', false),
 ('prepared_xact_seconds',       300,        'seconds', 'a prepared transaction older than this: SEV2', false),
 ('wraparound_sev1_pct',         90,         'percent', 'age(datfrozenxid) or mxid_age(datminmxid) as a share of 2^31: SEV1 at or above', false),
 ('wraparound_sev2_pct',         50,         'percent', 'the same, SEV2 at or above; DatabaseWraparoundRisk', false),
 ('replication_lag_bytes',       104857600,  'bytes',   'a replica replaying this far behind: SEV3; DatabaseReplicationLag', false),
 ('replication_lag_sev2_bytes',  1073741824, 'bytes',   'the same, SEV2', false),
 ('slot_retained_bytes',         1073741824, 'bytes',   'an inactive replication slot retaining this much WAL: SEV2 (any inactive slot holding a WAL segment: SEV3)', false),
 ('dead_tuples_pct',             20,         'percent', 'n_dead_tup of n_live_tup + n_dead_tup: DatabaseHighDeadTuples and SEV3 at or above', false),
 ('dead_tuples_min',             10000,      'count',   'ignore tables with fewer dead tuples than this', false),
 ('slow_query_mean_ms',          1000,       'ms',      'pg_stat_statements mean time per call: DatabaseSlowQueries and SEV3 at or above', false),
 ('slow_query_min_calls',        10,         'count',   'ignore statements called fewer times than this', false),
 ('memory_sev1_pct',             95,         'percent', 'memory in use of the server''s limit (runbook.host(): its cgroup, else the machine; page cache not counted): SEV1 at or above', false),
 ('memory_sev2_pct',             90,         'percent', 'the same, SEV2 at or above', false),
 ('memory_sev3_pct',             80,         'percent', 'the same, SEV3 at or above', false),
 ('disk_sev1_pct',               95,         'percent', 'a filesystem holding the data directory, pg_wal or a tablespace used (space or inodes): SEV1 at or above', false),
 ('disk_sev2_pct',               90,         'percent', 'the same, SEV2 at or above', false),
 ('disk_sev3_pct',               80,         'percent', 'the same, SEV3 at or above', false),
 ('slow_query_share_pct',        20,         'percent', 'a statement taking this share of all statement time (pg_stat_statements), with a mean of at least slow_query_share_mean_ms: SEV3', false),
 ('slow_query_share_mean_ms',    20,         'ms',      'a statement faster than this per call is ordinary traffic whatever its share of the time', false),
 ('sequence_used_pct',           80,         'percent', 'a sequence (serial, identity) that has used this share of the range of its type or column, in any database: SEV3 (exhausted: SEV1)', false),
 ('sequence_used_sev2_pct',      95,         'percent', 'the same, SEV2', false);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert_thresholds', 'WHERE user_set');

REVOKE ALL ON TABLE @extschema@.alert_thresholds FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.alert_thresholds TO pg_monitor;
