-- runbook.history_status(): the sampler and its rings.

CREATE OR REPLACE FUNCTION @extschema@.history_status(
    OUT running boolean,
    OUT pid integer,
    OUT sample_interval_ms integer,
    OUT history_size integer,
    OUT samples_kept integer,
    OUT samples_taken bigint,
    OUT oldest_sample timestamptz,
    OUT newest_sample timestamptz,
    OUT last_sample_ms float8,
    OUT avg_sample_ms float8,
    OUT max_sample_ms float8,
    OUT events_size integer,
    OUT events_kept integer,
    OUT events_recorded bigint,
    OUT memory_bytes bigint,
    OUT bytes_per_sample integer,
    OUT last_error text,
    OUT last_error_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_history_status';

COMMENT ON FUNCTION @extschema@.history_status() IS
'the pg_runbook sampler: running, interval, ring sizes and fill, the time each sample took, shared memory used';

REVOKE ALL ON FUNCTION @extschema@.history_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.history_status() TO pg_monitor;
