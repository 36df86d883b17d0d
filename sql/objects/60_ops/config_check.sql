-- runbook.config_check(server_memory): settings against the server's
-- memory, with ALTER SYSTEM lines.

CREATE OR REPLACE FUNCTION @extschema@._checkpoint_counts(OUT requested bigint, OUT timed bigint)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF to_regclass('pg_catalog.pg_stat_checkpointer') IS NOT NULL THEN
        EXECUTE 'SELECT num_requested, num_timed FROM pg_catalog.pg_stat_checkpointer'
            INTO requested, timed;
    ELSE
        EXECUTE 'SELECT checkpoints_req, checkpoints_timed FROM pg_catalog.pg_stat_bgwriter'
            INTO requested, timed;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._checkpoint_counts() IS
'internal: checkpoints requested and timed, from whichever view this server version has';

REVOKE ALL ON FUNCTION @extschema@._checkpoint_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._checkpoint_counts() TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.config_check(
    server_memory text DEFAULT NULL,
    OUT setting text,
    OUT current_value text,
    OUT suggested_value text,
    OUT severity text,
    OUT reason text,
    OUT remedy_sql text)
RETURNS SETOF record
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH v AS (
    -- the memory the server may use: as given ('16GB'), else RAM or the
    -- cgroup limit as the server's own process sees them
    SELECT coalesce(pg_size_bytes(server_memory)::bigint, @extschema@._server_memory()) AS mem,
           pg_size_bytes(current_setting('shared_buffers')) AS shared_buffers,
           pg_size_bytes(current_setting('work_mem')) AS work_mem,
           current_setting('max_connections')::bigint AS max_conn,
           'pg_stat_statements' = ANY (@extschema@._preloaded_libraries()) AS pgss_loaded,
           EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS pgss_created,
           (SELECT requested FROM @extschema@._checkpoint_counts()) AS ckpt_req,
           (SELECT timed FROM @extschema@._checkpoint_counts()) AS ckpt_timed
),
-- a backend's own memory beyond work_mem: catalog caches, plan caches, buffers
per_conn AS (SELECT v.work_mem + 10 * 1024 * 1024 AS bytes FROM v),
f(setting, suggested, severity, reason, remedy) AS (
    SELECT 'fsync', 'on', 'high',
           'a crash of the operating system or power loss can corrupt the whole cluster', NULL
     WHERE NOT current_setting('fsync')::boolean
    UNION ALL
    SELECT 'full_page_writes', 'on', 'high',
           'torn pages after a crash cannot be repaired from WAL: silent corruption', NULL
     WHERE NOT current_setting('full_page_writes')::boolean
    UNION ALL
    SELECT 'autovacuum', 'on', 'high',
           'dead rows are never cleaned and transaction ids never frozen: bloat, then a wraparound shutdown', NULL
     WHERE NOT current_setting('autovacuum')::boolean
    UNION ALL
    SELECT 'archive_command', '<a command that copies %p to the archive>', 'high',
           'archive_mode is on but nothing archives: every WAL segment stays in pg_wal until the disk fills',
           '-- set archive_command to a command that copies %%p to the archive (ALTER SYSTEM SET archive_command = ...), then SELECT pg_reload_conf();'
     WHERE current_setting('archive_mode') <> 'off'
       AND current_setting('archive_command') = ''
       AND current_setting('archive_library') = ''
    UNION ALL
    -- anti-wraparound autovacuum starts only at this age: far up, a database
    -- it cannot freeze in time (template0 takes no connections, a horizon
    -- held) nears the shutdown at 2^31
    SELECT 'autovacuum_freeze_max_age', '200000000',
           CASE WHEN current_setting('autovacuum_freeze_max_age')::bigint > 1000000000 THEN 'high' ELSE 'medium' END,
           format('anti-wraparound autovacuum starts only at %s transactions, %s%% of the 2^31 limit: a database it cannot freeze in time (one that takes no connections, a horizon held back) comes near the shutdown',
                  current_setting('autovacuum_freeze_max_age'),
                  round(100.0 * current_setting('autovacuum_freeze_max_age')::bigint / 2147483648, 1)),
           NULL
     WHERE current_setting('autovacuum_freeze_max_age')::bigint > 400000000
    UNION ALL
    SELECT 'autovacuum_multixact_freeze_max_age', '400000000',
           CASE WHEN current_setting('autovacuum_multixact_freeze_max_age')::bigint > 1000000000 THEN 'high' ELSE 'medium' END,
           format('anti-wraparound autovacuum for multixacts starts only at %s, %s%% of the 2^31 limit',
                  current_setting('autovacuum_multixact_freeze_max_age'),
                  round(100.0 * current_setting('autovacuum_multixact_freeze_max_age')::bigint / 2147483648, 1)),
           NULL
     WHERE current_setting('autovacuum_multixact_freeze_max_age')::bigint > 800000000
    UNION ALL
    -- -1 (the default): a replication slot whose consumer is gone keeps WAL
    -- until the disk is full
    SELECT 'max_slot_wal_keep_size',
           CASE WHEN w.free IS NOT NULL THEN greatest(1, w.free / 2 / 1073741824) || 'GB' ELSE '10GB' END,
           CASE WHEN EXISTS (SELECT 1 FROM pg_replication_slots) THEN 'medium' ELSE 'low' END,
           'no limit on the WAL a replication slot keeps: a slot whose consumer is gone fills the WAL filesystem and the server stops; with a limit the slot is invalidated instead'
             || CASE WHEN w.free IS NOT NULL THEN format(' (suggested: half of the %s free there now)', pg_size_pretty(w.free)) ELSE '' END
             || CASE WHEN EXISTS (SELECT 1 FROM pg_replication_slots) THEN '; this server has replication slots' ELSE '' END,
           NULL
      FROM (SELECT @extschema@._wal_free_bytes() AS free) w
     WHERE current_setting('max_slot_wal_keep_size') IN ('-1', '-1MB')
    UNION ALL
    SELECT 'archive_mode', 'on', 'medium',
           'no WAL archive: no point-in-time recovery, a restore loses everything since the last base backup', NULL
     WHERE current_setting('archive_mode') = 'off'
    UNION ALL
    SELECT 'wal_level', 'replica', 'medium',
           'minimal WAL allows neither archiving nor replicas', NULL
     WHERE current_setting('wal_level') = 'minimal'
    UNION ALL
    SELECT 'data_checksums', 'on', 'medium',
           'storage corruption goes undetected: pages are read back without verification',
           '-- offline: stop the server, run pg_checksums --enable -D <data directory>, start it'
     WHERE NOT current_setting('data_checksums')::boolean
    UNION ALL
    SELECT 'idle_in_transaction_session_timeout', '10min', 'medium',
           'a session idle in a transaction keeps its locks and holds back vacuum (xmin) forever; set it globally or per application role (ALTER ROLE ... SET)', NULL
     WHERE current_setting('idle_in_transaction_session_timeout') IN ('0', '0ms')
    UNION ALL
    SELECT 'shared_preload_libraries',
           array_to_string(ARRAY['pg_stat_statements'] || @extschema@._preloaded_libraries(), ','), 'medium',
           'pg_stat_statements is not loaded: no history of which statements are slow (runbook.slow_queries)', NULL
      FROM v WHERE NOT v.pgss_loaded
    UNION ALL
    SELECT 'pg_stat_statements', 'CREATE EXTENSION pg_stat_statements', 'low',
           @extschema@._runnable('text', 'the library is loaded but the extension is not created in database %I: its view cannot be queried here', current_database()),
           'CREATE EXTENSION pg_stat_statements;'
      FROM v WHERE v.pgss_loaded AND NOT v.pgss_created
    UNION ALL
    SELECT 'max_connections',
           greatest(20, least(v.max_conn, (v.mem - v.shared_buffers) / p.bytes))::text,
           'medium',
           format('%s connections at %s each (work_mem + ~10MB) plus shared_buffers %s exceed the %s of memory available: use a connection pooler (PgBouncer) and lower it',
                  v.max_conn, pg_size_pretty(p.bytes), pg_size_pretty(v.shared_buffers), pg_size_pretty(v.mem)),
           NULL
      FROM v, per_conn p
     WHERE v.mem IS NOT NULL AND v.max_conn * p.bytes + v.shared_buffers > v.mem
    UNION ALL
    SELECT 'max_connections', '<= 500', 'medium',
           'more than 500 server processes contend on locks and snapshots even when idle: use a connection pooler (PgBouncer)',
           '-- put a connection pooler in front, then lower max_connections to 500 or less (ALTER SYSTEM SET max_connections = ...) and restart the server'
      FROM v, per_conn p
     WHERE v.max_conn > 500 AND NOT (v.mem IS NOT NULL AND v.max_conn * p.bytes + v.shared_buffers > v.mem)
    UNION ALL
    SELECT 'shared_buffers', (v.mem / 4 / 1048576) || 'MB', 'low',
           'the default 128MB on a server with ' || pg_size_pretty(v.mem) || ': about 25% of memory is the usual start', NULL
      FROM v WHERE v.mem >= 2::bigint * 1024 * 1024 * 1024 AND v.shared_buffers <= 128 * 1024 * 1024
    UNION ALL
    SELECT 'max_wal_size', (2 * pg_size_bytes(current_setting('max_wal_size')) / 1048576) || 'MB', 'low',
           format('%s of %s checkpoints were forced by WAL volume, not by checkpoint_timeout: frequent checkpoints multiply full-page writes',
                  v.ckpt_req, v.ckpt_req + v.ckpt_timed), NULL
      FROM v WHERE v.ckpt_req > 10 AND v.ckpt_req > v.ckpt_timed
    UNION ALL
    SELECT 'log_min_duration_statement', '1s', 'low',
           'slow statements are not logged: nothing to look at after an incident', NULL
     WHERE current_setting('log_min_duration_statement') IN ('-1')
    UNION ALL
    SELECT 'track_io_timing', 'on', 'low',
           'no I/O timing in pg_stat_statements and EXPLAIN (BUFFERS): cannot tell slow disks from slow plans (cheap on modern clocks; check with pg_test_timing)', NULL
     WHERE NOT current_setting('track_io_timing')::boolean
    UNION ALL
    SELECT 'log_lock_waits', 'on', 'low',
           'waits longer than deadlock_timeout are not logged: lock queues leave no trace', NULL
     WHERE NOT current_setting('log_lock_waits')::boolean
    UNION ALL
    SELECT 'log_autovacuum_min_duration', '10min', 'low',
           'autovacuum runs are never logged: no evidence when vacuum falls behind', NULL
     WHERE current_setting('log_autovacuum_min_duration') = '-1'
    UNION ALL
    SELECT 'password_encryption', 'scram-sha-256', 'low',
           'md5 password hashes are weak; new passwords should be stored as SCRAM', NULL
     WHERE current_setting('password_encryption') = 'md5'
    UNION ALL
    SELECT s.name, s.setting, 'medium',
           'changed in the configuration file but not in effect until the server restarts',
           '-- restart the server'
      FROM pg_settings s WHERE s.pending_restart
)
SELECT f.setting,
       CASE WHEN f.setting = 'pg_stat_statements' THEN 'not installed'
            WHEN s.name IS NOT NULL THEN current_setting(f.setting) END,
       f.suggested, f.severity, f.reason,
       -- the remedies of f are constant templates; a setting's name and value
       -- only through %I and %L
       coalesce(@extschema@._runnable('sql', f.remedy),
                CASE WHEN s.context IN ('postmaster')
                     THEN @extschema@._runnable('sql', 'ALTER SYSTEM SET %I = %L;  -- then restart the server', f.setting, f.suggested)
                     ELSE @extschema@._runnable('sql', 'ALTER SYSTEM SET %I = %L;  SELECT pg_reload_conf();', f.setting, f.suggested) END)
  FROM f
  LEFT JOIN pg_settings s ON s.name = f.setting
 ORDER BY array_position(ARRAY['high', 'medium', 'low'], f.severity), f.setting
$fn$;

COMMENT ON FUNCTION @extschema@.config_check(text) IS
'configuration findings: setting, current and suggested value, severity, why, and the SQL to change it (values as seen by this session)';

REVOKE ALL ON FUNCTION @extschema@.config_check(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.config_check(text) TO pg_monitor;
