-- The flight recorder: what the server looked like at 03:02.  The
-- "pg_runbook sampler" worker samples the server every
-- pg_runbook.sample_interval into a shared-memory ring
-- (pg_runbook.history_size samples) and records threshold crossings as
-- events; the functions of this directory read them.  A restart empties
-- both rings; archive_history() keeps a copy in tables when wanted.  Built
-- on the history: the alerts' durations (85_alerts/alerts.sql) and the
-- incident report (90_report/).  runbook.history(since, until) is here.

CREATE OR REPLACE FUNCTION @extschema@.history(
    since timestamptz,
    until timestamptz DEFAULT now(),
    OUT sampled_at timestamptz,
    OUT connections integer,
    OUT active integer,
    OUT idle integer,
    OUT idle_in_transaction integer,
    OUT idle_in_transaction_aborted integer,
    OUT other integer,
    OUT connections_pct float8,
    OUT backends integer,
    OUT active_waiting integer,
    OUT lock_waiters integer,
    OUT lock_roots integer,
    OUT root_blocker integer,
    OUT root_blocked integer,
    OUT longest_lock_wait interval,
    OUT oldest_xact_age interval,
    OUT oldest_idle_xact_age interval,
    OUT oldest_query_age interval,
    OUT oldest_xmin_age bigint,
    OUT long_running integer,
    OUT wait_events jsonb,
    OUT worker_actions bigint,
    OUT tps float8,
    OUT commits_per_s float8,
    OUT rollbacks_per_s float8,
    OUT deadlocks_per_s float8,
    OUT temp_bytes_per_s float8,
    OUT cache_hit_pct float8,
    OUT xact_commit bigint,
    OUT xact_rollback bigint,
    OUT deadlocks bigint,
    OUT temp_files bigint,
    OUT temp_bytes bigint,
    OUT blks_read bigint,
    OUT blks_hit bigint,
    OUT worker_actions_total bigint,
    OUT interval_s float8,
    OUT sample_ms float8)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_history';

COMMENT ON FUNCTION @extschema@.history(timestamptz, timestamptz) IS
'the flight recorder: one row per sample taken between since and until (connections by state, lock waiters and root blocker, ages, where active sessions wait, pg_stat_database counters and their rates per second); kept in shared memory, emptied by a restart';

REVOKE ALL ON FUNCTION @extschema@.history(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.history(timestamptz, timestamptz) TO pg_monitor;
