-- pg_runbook 1.1 -> 1.2, after the objects: shipped rows that are new in
-- 1.2, and shipped descriptions that changed (rows users did not change
-- only).  The stamp and write triggers are off around them, so that shipped
-- rows keep updated_by NULL and user_set false, as a fresh install has them.

ALTER TABLE @extschema@.alert_thresholds DISABLE TRIGGER alert_thresholds_stamp;
ALTER TABLE @extschema@.alert_thresholds DISABLE TRIGGER alert_thresholds_write;

-- issue 23: the share of statement time (slow_queries), any inactive slot
INSERT INTO @extschema@.alert_thresholds (name, value, unit, description, user_set) VALUES
 ('slow_query_share_pct',        20,         'percent', 'a statement taking this share of all statement time (pg_stat_statements), with a mean of at least slow_query_share_mean_ms: SEV3', false),
 ('slow_query_share_mean_ms',    20,         'ms',      'a statement faster than this per call is ordinary traffic whatever its share of the time', false)
ON CONFLICT (name) DO NOTHING;
UPDATE @extschema@.alert_thresholds
   SET description = 'an inactive replication slot retaining this much WAL: SEV2 (any inactive slot holding a WAL segment: SEV3)'
 WHERE name = 'slot_retained_bytes' AND NOT user_set;

ALTER TABLE @extschema@.alert_thresholds ENABLE TRIGGER alert_thresholds_write;
ALTER TABLE @extschema@.alert_thresholds ENABLE TRIGGER alert_thresholds_stamp;
