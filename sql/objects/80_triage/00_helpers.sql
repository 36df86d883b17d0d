-- Small helpers of triage() and the reports: a threshold by name, whether
-- the library is preloaded, seconds of an interval, one-line text, UTC time.

-- Threshold by name (a missing row falls back to the shipped default).

CREATE OR REPLACE FUNCTION @extschema@._threshold(threshold_name text)
RETURNS numeric
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT value FROM @extschema@.alert_thresholds WHERE name = threshold_name),
        CASE threshold_name
            WHEN 'connections_sev1_pct' THEN 95 WHEN 'connections_sev2_pct' THEN 80
            WHEN 'connections_sev3_pct' THEN 70 WHEN 'lock_wait_seconds' THEN 60
            WHEN 'lock_waiters_sev1' THEN 20 WHEN 'idle_xact_seconds' THEN 600
            WHEN 'long_query_seconds' THEN 300 WHEN 'long_query_sev2_seconds' THEN 3600
            WHEN 'xmin_age_xids' THEN 10000000 WHEN 'xmin_age_sev2_xids' THEN 100000000
            WHEN 'prepared_xact_seconds' THEN 300 WHEN 'wraparound_sev1_pct' THEN 90
            WHEN 'wraparound_sev2_pct' THEN 50 WHEN 'replication_lag_bytes' THEN 104857600
            WHEN 'replication_lag_sev2_bytes' THEN 1073741824 WHEN 'slot_retained_bytes' THEN 1073741824
            WHEN 'dead_tuples_pct' THEN 20 WHEN 'dead_tuples_min' THEN 10000
            WHEN 'slow_query_mean_ms' THEN 1000 WHEN 'slow_query_min_calls' THEN 10
            WHEN 'memory_sev1_pct' THEN 95 WHEN 'memory_sev2_pct' THEN 90
            WHEN 'memory_sev3_pct' THEN 80 WHEN 'disk_sev1_pct' THEN 95
            WHEN 'disk_sev2_pct' THEN 90 WHEN 'disk_sev3_pct' THEN 80
            WHEN 'slow_query_share_pct' THEN 20 WHEN 'slow_query_share_mean_ms' THEN 20
            WHEN 'sequence_used_pct' THEN 80 WHEN 'sequence_used_sev2_pct' THEN 95
        END)
$$;

COMMENT ON FUNCTION @extschema@._threshold(text) IS
'internal: the value of one alert threshold (the shipped default if its row is gone)';

REVOKE ALL ON FUNCTION @extschema@._threshold(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._threshold(text) TO pg_monitor;

-- Whether pg_runbook's shared memory exists (loaded by shared_preload_libraries).

CREATE OR REPLACE FUNCTION @extschema@._is_preloaded()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 'pg_runbook' = ANY (@extschema@._preloaded_libraries()) $$;

COMMENT ON FUNCTION @extschema@._is_preloaded() IS
'internal: pg_runbook is in shared_preload_libraries (worker and audit ring exist)';

REVOKE ALL ON FUNCTION @extschema@._is_preloaded() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._is_preloaded() TO pg_monitor;

-- Seconds of an interval, NULL-safe, rounded for evidence.

CREATE OR REPLACE FUNCTION @extschema@._secs(i interval)
RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT round(extract(epoch FROM i), 1) $$;

REVOKE ALL ON FUNCTION @extschema@._secs(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._secs(interval) TO pg_monitor;

-- ---------------------------------------------------------------------
-- quoting helpers for remedy text
-- ---------------------------------------------------------------------
-- A word for a POSIX shell: single-quoted, a quote inside as '"'"'.
-- (_shell_quote(text), a string as one single-quoted POSIX shell word, is
-- created by 10_security.sql.)

-- A value in a line of prose (incident messages): runs of line breaks and
-- tabs become one space, other control characters (and C1 controls,
-- zero-width and direction marks) are shown as \xHH / \uXXXX by
-- _runnable('text').  Never used to put a value into SQL: values go into
-- SQL only through _runnable('sql').

CREATE OR REPLACE FUNCTION @extschema@._one_line(s text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@._runnable('text', '%s', pg_catalog.regexp_replace(coalesce(s, ''), '[\n\r\t]+', ' ', 'g')) $$;

COMMENT ON FUNCTION @extschema@._one_line(text) IS
'internal: a value on one line of prose, its control characters shown (_runnable text)';

REVOKE ALL ON FUNCTION @extschema@._one_line(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._one_line(text) TO pg_monitor;

-- ---------------------------------------------------------------------
-- incident_message: the seeds' communication templates (internal
-- declaration, update, resolution; status page investigating, identified,
-- resolved), filled from triage(), connections(), the server log and the
-- audit (recent_actions()).  What the server cannot know stays "____".
-- Status-page texts are for the public: no pid, user, query or finding.
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@._utc(ts timestamptz)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') $$;

COMMENT ON FUNCTION @extschema@._utc(timestamptz) IS
'internal: a time as incident messages print it (UTC, to the second)';

REVOKE ALL ON FUNCTION @extschema@._utc(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._utc(timestamptz) TO pg_monitor;
