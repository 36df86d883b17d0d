-- An optional persisted copy: archive_history() appends what the rings
-- hold since its last call.  Nothing calls it by itself (schedule it, e.g.
-- with pg_cron, if the history must outlive a restart).
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

-- Who reads which rows (issue 22): an event's query text is another
-- session's, and the archive does not keep whose; rows with one are for
-- members of pg_read_all_stats (pg_monitor is one), as pg_stat_activity
-- would show them; the others for every reader.  The owner and superusers
-- (archive_history()) are not subject to row-level security.
ALTER TABLE @extschema@.events_archive ENABLE ROW LEVEL SECURITY;
CREATE POLICY events_archive_visible ON @extschema@.events_archive FOR SELECT
    USING ((SELECT pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')) OR query IS NULL);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.history_archive', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.events_archive', '');
