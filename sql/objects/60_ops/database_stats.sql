-- The view runbook.database_stats: pg_stat_database counters and ratios per
-- database.  Named columns only (never d.*): 18 added columns to
-- pg_stat_database (parallel_workers_to_launch, parallel_workers_launched)
-- and the view keeps its shape on 15, 17 and 18.

CREATE OR REPLACE VIEW @extschema@.database_stats AS
SELECT d.datid,
       d.datname,
       d.numbackends,
       d.xact_commit,
       d.xact_rollback,
       round(100.0 * d.xact_rollback / nullif(d.xact_commit + d.xact_rollback, 0), 2) AS rollback_pct,
       round(d.xact_commit::numeric / nullif(d.xact_rollback, 0), 2) AS commit_rollback_ratio,
       d.blks_read,
       d.blks_hit,
       round(100.0 * d.blks_hit / nullif(d.blks_hit + d.blks_read, 0), 2) AS cache_hit_pct,
       d.tup_returned,
       d.tup_fetched,
       d.tup_inserted,
       d.tup_updated,
       d.tup_deleted,
       d.deadlocks,
       d.temp_files,
       d.temp_bytes,
       pg_catalog.pg_size_pretty(d.temp_bytes) AS temp_size,
       d.conflicts,
       d.checksum_failures,
       d.checksum_last_failure,
       d.sessions,
       d.sessions_abandoned,
       d.sessions_fatal,
       d.sessions_killed,
       round((d.session_time / 1000)::numeric, 3) AS session_time_s,
       round((d.active_time / 1000)::numeric, 3) AS active_time_s,
       round((d.idle_in_transaction_time / 1000)::numeric, 3) AS idle_in_transaction_time_s,
       d.stats_reset,
       date_trunc('second', pg_catalog.now() - d.stats_reset) AS since_reset
  FROM pg_catalog.pg_stat_database d;

COMMENT ON VIEW @extschema@.database_stats IS
'per database, from pg_stat_database since its last reset (stats_reset, since_reset): commit/rollback, cache hit ratio, deadlocks, temp files and bytes, recovery conflicts, checksum failures (NULL when checksums are off), sessions abandoned/fatal/killed; the row with datname NULL counts shared objects';

REVOKE ALL ON TABLE @extschema@.database_stats FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.database_stats TO pg_monitor;
