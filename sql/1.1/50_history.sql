-- ---------------------------------------------------------------------
-- The flight recorder (issue 14): what the server looked like at 03:02.
-- The "pg_runbook sampler" worker samples the server every
-- pg_runbook.sample_interval into a shared-memory ring
-- (pg_runbook.history_size samples) and records threshold crossings as
-- events; these functions read them.  A restart empties both rings;
-- archive_history() keeps a copy in tables when wanted.  What is built on
-- the history: 52_alerts.sql (durations of the alerts), 54_incident_report.sql.
-- Read-only things go to pg_monitor; archive_history() writes (owner only).
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.history(
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

CREATE FUNCTION @extschema@.events(
    since timestamptz,
    until timestamptz DEFAULT now(),
    OUT seq bigint,
    OUT at timestamptz,
    OUT kind text,
    OUT pid integer,
    OUT pids integer[],
    OUT value float8,
    OUT threshold float8,
    OUT detail text,
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_events';

COMMENT ON FUNCTION @extschema@.events(timestamptz, timestamptz) IS
'moments a threshold was crossed (connections_high/normal, lock_queue_formed/grew/cleared, lock_wait_long, long_query, idle_in_transaction, long_transaction, deadlock), with the pids and the query involved; oldest first';
REVOKE ALL ON FUNCTION @extschema@.events(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.events(timestamptz, timestamptz) TO pg_monitor;

CREATE FUNCTION @extschema@._wait_samples(
    since timestamptz,
    until timestamptz,
    OUT kind text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT queryid bigint,
    OUT query text,
    OUT samples bigint,
    OUT seconds float8,
    OUT pct float8,
    OUT avg_active float8)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_wait_samples';

COMMENT ON FUNCTION @extschema@._wait_samples(timestamptz, timestamptz) IS
'internal: the rows of wait_profile(), unordered';
REVOKE ALL ON FUNCTION @extschema@._wait_samples(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._wait_samples(timestamptz, timestamptz) TO pg_monitor;

CREATE FUNCTION @extschema@.wait_profile(
    since timestamptz,
    until timestamptz DEFAULT now(),
    OUT kind text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT queryid bigint,
    OUT query text,
    OUT samples bigint,
    OUT seconds numeric,
    OUT pct numeric,
    OUT avg_active numeric)
RETURNS SETOF record
LANGUAGE sql VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.kind, w.wait_event_type, w.wait_event, w.queryid, w.query, w.samples,
           round(w.seconds::numeric, 1), round(w.pct::numeric, 1), round(w.avg_active::numeric, 2)
      FROM @extschema@._wait_samples(since, until) w
     ORDER BY w.kind DESC, w.seconds DESC, w.wait_event_type, w.wait_event, w.query
$$;

COMMENT ON FUNCTION @extschema@.wait_profile(timestamptz, timestamptz) IS
'where the active sessions'' time went between since and until: session-seconds by wait event (kind wait_event; CPU:running = not waiting), then by wait event and statement (kind query), with the share of active time and the average number of active sessions';
REVOKE ALL ON FUNCTION @extschema@.wait_profile(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.wait_profile(timestamptz, timestamptz) TO pg_monitor;

CREATE FUNCTION @extschema@.history_status(
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

-- ---------------------------------------------------------------------
-- An optional persisted copy: archive_history() appends what the rings
-- hold since its last call.  Nothing calls it by itself (schedule it, e.g.
-- with pg_cron, if the history must outlive a restart).
-- ---------------------------------------------------------------------
CREATE TABLE @extschema@.history_archive (
    sampled_at                  timestamptz PRIMARY KEY,
    connections                 integer,
    active                      integer,
    idle                        integer,
    idle_in_transaction         integer,
    idle_in_transaction_aborted integer,
    other                       integer,
    connections_pct             float8,
    backends                    integer,
    active_waiting              integer,
    lock_waiters                integer,
    lock_roots                  integer,
    root_blocker                integer,
    root_blocked                integer,
    longest_lock_wait           interval,
    oldest_xact_age             interval,
    oldest_idle_xact_age        interval,
    oldest_query_age            interval,
    oldest_xmin_age             bigint,
    long_running                integer,
    wait_events                 jsonb,
    worker_actions              bigint,
    tps                         float8,
    commits_per_s               float8,
    rollbacks_per_s             float8,
    deadlocks_per_s             float8,
    temp_bytes_per_s            float8,
    cache_hit_pct               float8,
    xact_commit                 bigint,
    xact_rollback               bigint,
    deadlocks                   bigint,
    temp_files                  bigint,
    temp_bytes                  bigint,
    blks_read                   bigint,
    blks_hit                    bigint,
    worker_actions_total        bigint,
    interval_s                  float8,
    sample_ms                   float8
);

COMMENT ON TABLE @extschema@.history_archive IS
'optional persisted copy of runbook.history(), appended by runbook.archive_history(); delete old rows as you see fit';
REVOKE ALL ON TABLE @extschema@.history_archive FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.history_archive TO pg_monitor;

CREATE TABLE @extschema@.events_archive (
    at        timestamptz NOT NULL,
    seq       bigint NOT NULL,
    kind      text NOT NULL,
    pid       integer,
    pids      integer[],
    value     float8,
    threshold float8,
    detail    text,
    query     text
);

CREATE INDEX events_archive_at_idx ON @extschema@.events_archive (at);

COMMENT ON TABLE @extschema@.events_archive IS
'optional persisted copy of runbook.events(), appended by runbook.archive_history()';
REVOKE ALL ON TABLE @extschema@.events_archive FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.events_archive TO pg_monitor;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.history_archive', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.events_archive', '');

CREATE FUNCTION @extschema@.archive_history(OUT samples bigint, OUT events bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    last_sample timestamptz;
    last_event  timestamptz;
BEGIN
    IF pg_catalog.pg_is_in_recovery() THEN
        RAISE EXCEPTION 'runbook.archive_history() cannot write on a standby'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Read runbook.history() on the standby, or archive on the primary.';
    END IF;
    -- one archiver at a time; a concurrent call waits, then sees the rows
    LOCK TABLE @extschema@.history_archive IN SHARE ROW EXCLUSIVE MODE;
    SELECT max(h.sampled_at) INTO last_sample FROM @extschema@.history_archive h;
    SELECT max(e.at) INTO last_event FROM @extschema@.events_archive e;

    INSERT INTO @extschema@.history_archive
    SELECT h.* FROM @extschema@.history(NULL, NULL) h
     WHERE h.sampled_at > coalesce(last_sample, '-infinity');
    GET DIAGNOSTICS samples = ROW_COUNT;

    INSERT INTO @extschema@.events_archive (at, seq, kind, pid, pids, value, threshold, detail, query)
    SELECT e.at, e.seq, e.kind, e.pid, e.pids, e.value, e.threshold, e.detail, e.query
      FROM @extschema@.events(NULL, NULL) e
     WHERE e.at > coalesce(last_event, '-infinity');
    GET DIAGNOSTICS events = ROW_COUNT;
END
$fn$;

COMMENT ON FUNCTION @extschema@.archive_history() IS
'append the samples and events taken since the last call to runbook.history_archive and runbook.events_archive; optional, never called by pg_runbook itself';
REVOKE ALL ON FUNCTION @extschema@.archive_history() FROM PUBLIC;
