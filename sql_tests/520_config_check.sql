-- config_check: findings follow the settings this session sees.
SET idle_in_transaction_session_timeout = 0;
SET log_min_duration_statement = -1;
SET track_io_timing = off;
SET log_lock_waits = off;
-- settings whose value the test instance fixes (memory-based rows vary by machine)
SELECT setting, current_value, suggested_value, severity, reason, remedy_sql
  FROM runbook.config_check()
 WHERE setting IN ('idle_in_transaction_session_timeout', 'log_min_duration_statement',
                   'track_io_timing', 'log_lock_waits', 'shared_preload_libraries',
                   'archive_mode', 'autovacuum', 'pg_stat_statements')
 ORDER BY setting;
-- every row is complete, high before medium before low
SELECT count(*) FILTER (WHERE current_value IS NULL OR suggested_value IS NULL
                          OR reason IS NULL OR remedy_sql IS NULL) AS incomplete,
       array_agg(DISTINCT severity) <@ ARRAY['high', 'medium', 'low'] AS known_severities
  FROM runbook.config_check();
SELECT bool_and(s1 <= s2) AS ordered
  FROM (SELECT array_position(ARRAY['high', 'medium', 'low'], severity) AS s1,
               lead(array_position(ARRAY['high', 'medium', 'low'], severity)) OVER () AS s2
          FROM runbook.config_check()) x
 WHERE s2 IS NOT NULL;
-- fixing them clears them
SET idle_in_transaction_session_timeout = '10min';
SET log_min_duration_statement = '1s';
SET track_io_timing = on;
SET log_lock_waits = on;
SELECT setting FROM runbook.config_check()
 WHERE setting IN ('idle_in_transaction_session_timeout', 'log_min_duration_statement',
                   'track_io_timing', 'log_lock_waits');
-- checkpoint counters from whichever view this version has: a CHECKPOINT
-- counts as requested (the checkpointer reports it just after waking the
-- caller: wait for it, clearing the cached statistics snapshot)
CREATE TEMP TABLE ckpt_before AS SELECT * FROM runbook._checkpoint_counts();
CHECKPOINT;
DO $$
BEGIN
    FOR i IN 1..3000 LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN (SELECT c.requested FROM runbook._checkpoint_counts() c)
                > (SELECT b.requested FROM ckpt_before b);
        PERFORM pg_sleep(0.01);
    END LOOP;
END $$;
SELECT c.requested > b.requested AS requested_counted, c.timed IS NOT NULL AND c.timed >= b.timed AS timed_read
  FROM runbook._checkpoint_counts() c, ckpt_before b;
DROP TABLE ckpt_before;
-- memory-based advice, with the memory given (a container whose limit the
-- server cannot see): 100 connections at work_mem + ~10MB do not fit 512MB
SELECT setting, current_value, suggested_value, severity, reason
  FROM runbook.config_check('512MB')
 WHERE setting IN ('max_connections', 'shared_buffers');
SELECT setting, current_value, suggested_value, severity, reason
  FROM runbook.config_check('64GB')
 WHERE setting IN ('max_connections', 'shared_buffers');
SELECT * FROM runbook.config_check('lots');
-- the memory the server may use is known on this platform
SELECT runbook._server_memory() > 0 AS memory_known;
RESET ALL;
