-- ---------------------------------------------------------------------
-- Ops runbooks: slow queries (pg_stat_statements), replication and WAL
-- archiving, data integrity, configuration sanity, ORM migrations.
--
-- All SECURITY INVOKER: they read catalogs and statistics views that
-- pg_monitor may read, and (integrity_check, migration_status) user tables
-- with the caller's own privileges; a table the caller may not read is
-- reported as skipped, never read behind its back.
-- ---------------------------------------------------------------------

-- Time bound for one probe (C, src/ops.c): statement_timeout set inside a
-- function does not reach the statement already running.
CREATE FUNCTION @extschema@._deadline_arm(timeout_ms integer)
RETURNS timestamptz
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'rb_deadline_arm';

CREATE FUNCTION @extschema@._deadline_disarm()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_deadline_disarm';

CREATE FUNCTION @extschema@._server_memory()
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_server_memory';

COMMENT ON FUNCTION @extschema@._deadline_arm(integer) IS
'internal: arm the statement timer for one probe (returns the deadline, NULL when the caller''s statement_timeout is sooner)';
COMMENT ON FUNCTION @extschema@._deadline_disarm() IS
'internal: restore the caller''s statement timer after _deadline_arm()';
COMMENT ON FUNCTION @extschema@._server_memory() IS
'internal: bytes of memory available to the server (RAM or cgroup limit), NULL if unknown';

-- Library names in shared_preload_libraries, normalised (no quotes, no
-- directory, no .so suffix).
CREATE FUNCTION @extschema@._preloaded_libraries()
RETURNS text[]
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(array_agg(l ORDER BY n), '{}')
      FROM (SELECT regexp_replace(regexp_replace(btrim(x, ' "'), '^.*/', ''), '\.so$', '') AS l, n
              FROM unnest(string_to_array(current_setting('shared_preload_libraries'), ','))
                   WITH ORDINALITY AS u(x, n)) s
     WHERE l <> ''
$$;

COMMENT ON FUNCTION @extschema@._preloaded_libraries() IS
'internal: library names in shared_preload_libraries, in order, without quotes, directory or .so';

-- ---------------------------------------------------------------------
-- slow_queries
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.slow_queries(
    top integer DEFAULT 10,
    order_by text DEFAULT 'mean',
    min_calls bigint DEFAULT 1,
    OUT rank integer,
    OUT queryid bigint,
    OUT usename name,
    OUT datname name,
    OUT calls bigint,
    OUT total_ms numeric,
    OUT mean_ms numeric,
    OUT max_ms numeric,
    OUT stddev_ms numeric,
    OUT total_time interval,
    OUT mean_time interval,
    OUT max_time interval,
    OUT pct_of_total numeric,
    OUT rows bigint,
    OUT rows_per_call numeric,
    OUT shared_blks_hit bigint,
    OUT shared_blks_read bigint,
    OUT hit_ratio numeric,
    OUT temp_blks_written bigint,
    OUT io_ms numeric,
    OUT query text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    accepted constant text[] := ARRAY['mean', 'total', 'calls', 'rows', 'io'];
    ord text := lower(btrim(order_by));
    pgss_schema name;
    pgss_version text;
    preloaded boolean;
    pending boolean;
    libs text;
    cols text[];
    c_total text;
    c_mean text;
    c_max text;
    c_stddev text;
    c_io text;
    io_parts text[] := '{}';
    c text;
    order_clause text;
    q text;
BEGIN
    IF top IS NULL OR top < 1 THEN
        RAISE EXCEPTION 'top must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', coalesce(top::text, 'NULL')),
                  HINT = 'Pass the number of statements to show, such as 10.';
    END IF;
    IF ord IS NULL OR NOT ord = ANY (accepted) THEN
        RAISE EXCEPTION 'unknown order_by %', coalesce(quote_literal(order_by), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Accepted values: ' || array_to_string(accepted, ', ') || '.',
                  HINT = 'mean and total order by execution time, io by time spent reading and writing blocks.';
    END IF;
    IF min_calls IS NULL OR min_calls < 1 THEN
        RAISE EXCEPTION 'min_calls must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT n.nspname, e.extversion INTO pgss_schema, pgss_version
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements';
    preloaded := 'pg_stat_statements' = ANY (@extschema@._preloaded_libraries());

    IF pgss_schema IS NULL OR NOT preloaded THEN
        -- what the configuration line must say: the current list plus ours
        libs := array_to_string(
                    ARRAY['pg_stat_statements'] ||
                    array_remove(@extschema@._preloaded_libraries(), 'pg_stat_statements'), ',');
        SELECT bool_or(f.setting ~ 'pg_stat_statements' AND f.applied IS NOT TRUE) INTO pending
          FROM pg_file_settings f WHERE f.name = 'shared_preload_libraries';
        IF NOT preloaded AND pgss_schema IS NULL THEN
            RAISE EXCEPTION 'pg_stat_statements is not available'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'The library is not in shared_preload_libraries and the extension is not installed in database ' || quote_ident(current_database()) || '.',
                      HINT = format('Set shared_preload_libraries = %L in postgresql.conf (or ALTER SYSTEM SET shared_preload_libraries = %L), restart the server, then run CREATE EXTENSION pg_stat_statements; in database %s (any schema, e.g. SCHEMA public; pg_runbook finds it).',
                                    libs, libs, quote_ident(current_database()));
        ELSIF NOT preloaded THEN
            RAISE EXCEPTION 'pg_stat_statements is installed but its library is not loaded'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Extension pg_stat_statements %s is in schema %s, but shared_preload_libraries is %L.',
                                      pgss_version, quote_ident(pgss_schema), current_setting('shared_preload_libraries')),
                      HINT = CASE WHEN pending
                                  THEN 'The configuration file already loads it: restart the server.'
                                  ELSE format('Set shared_preload_libraries = %L in postgresql.conf (or ALTER SYSTEM SET shared_preload_libraries = %L) and restart the server.', libs, libs)
                             END;
        ELSE
            RAISE EXCEPTION 'pg_stat_statements is loaded but the extension is not installed in database %', quote_ident(current_database())
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('Run CREATE EXTENSION pg_stat_statements; in database %s (any schema, e.g. SCHEMA public; pg_runbook finds it).',
                                    quote_ident(current_database()));
        END IF;
    END IF;

    IF NOT has_schema_privilege(pgss_schema, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for schema % of pg_stat_statements', quote_ident(pgss_schema)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT USAGE ON SCHEMA %I TO %I;', pgss_schema, current_user);
    END IF;

    -- columns of the installed version (1.8 renamed *_time to *_exec_time;
    -- 1.11 split blk_*_time into shared_/local_blk_*_time)
    SELECT array_agg(a.attname::text) INTO cols
      FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid
     WHERE c.relname = 'pg_stat_statements'
       AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = pgss_schema)
       AND a.attnum > 0 AND NOT a.attisdropped;

    c_total := CASE WHEN 'total_exec_time' = ANY (cols) THEN 's.total_exec_time'
                    ELSE 's.total_time' END;
    c_mean := CASE WHEN 'mean_exec_time' = ANY (cols) THEN 's.mean_exec_time'
                   WHEN 'mean_time' = ANY (cols) THEN 's.mean_time'
                   ELSE c_total || ' / nullif(s.calls, 0)' END;
    c_max := CASE WHEN 'max_exec_time' = ANY (cols) THEN 's.max_exec_time'
                  WHEN 'max_time' = ANY (cols) THEN 's.max_time'
                  ELSE 'NULL::float8' END;
    c_stddev := CASE WHEN 'stddev_exec_time' = ANY (cols) THEN 's.stddev_exec_time'
                     WHEN 'stddev_time' = ANY (cols) THEN 's.stddev_time'
                     ELSE 'NULL::float8' END;
    FOREACH c IN ARRAY ARRAY['blk_read_time', 'blk_write_time',
                             'shared_blk_read_time', 'shared_blk_write_time',
                             'local_blk_read_time', 'local_blk_write_time',
                             'temp_blk_read_time', 'temp_blk_write_time'] LOOP
        IF c = ANY (cols) THEN
            io_parts := io_parts || ('s.' || c);
        END IF;
    END LOOP;
    -- zero I/O time means "not tracked" when track_io_timing is off
    c_io := CASE WHEN cardinality(io_parts) = 0 THEN 'NULL::float8'
                 ELSE format('CASE WHEN %2$s = 0 AND NOT current_setting(''track_io_timing'')::boolean THEN NULL ELSE %1$s END',
                             array_to_string(io_parts, ' + '), array_to_string(io_parts, ' + '))
            END;

    order_clause := CASE ord
        WHEN 'mean'  THEN 'x.mean_ms DESC NULLS LAST, x.calls DESC'
        WHEN 'total' THEN 'x.total_ms DESC NULLS LAST, x.calls DESC'
        WHEN 'calls' THEN 'x.calls DESC, x.total_ms DESC NULLS LAST'
        WHEN 'rows'  THEN 'x.rows DESC, x.total_ms DESC NULLS LAST'
        WHEN 'io'    THEN 'coalesce(x.io_ms, 0) DESC, x.shared_blks_read + x.temp_blks_written DESC, x.total_ms DESC NULLS LAST'
    END;

    -- One pass over the entries with their texts, kept to a top-N sort (no
    -- window over all entries, which would sort every text); the grand
    -- total for pct_of_total comes from a pass without texts.
    q := format($q$
        SELECT (row_number() OVER (ORDER BY %1$s))::integer,
               x.queryid, r.rolname, d.datname, x.calls,
               round(x.total_ms::numeric, 3), round(x.mean_ms::numeric, 3),
               round(x.max_ms::numeric, 3), round(x.stddev_ms::numeric, 3),
               make_interval(secs => x.total_ms / 1000.0),
               make_interval(secs => x.mean_ms / 1000.0),
               make_interval(secs => x.max_ms / 1000.0),
               round((100.0 * x.total_ms / nullif((SELECT sum(%8$s) FROM %7$I.pg_stat_statements(false) s), 0))::numeric, 1),
               x.rows,
               round(x.rows::numeric / nullif(x.calls, 0), 1),
               x.shared_blks_hit, x.shared_blks_read,
               round(x.shared_blks_hit::numeric / nullif(x.shared_blks_hit + x.shared_blks_read, 0), 4),
               x.temp_blks_written,
               round(x.io_ms::numeric, 3),
               x.query
          FROM (SELECT x.*
                  FROM (SELECT s.userid, s.dbid, s.queryid, s.calls,
                               %2$s AS total_ms, %3$s AS mean_ms, %4$s AS max_ms, %5$s AS stddev_ms,
                               s.rows, s.shared_blks_hit, s.shared_blks_read, s.temp_blks_written,
                               %6$s AS io_ms, s.query
                          FROM %7$I.pg_stat_statements(true) s) x
                 WHERE x.calls >= $1
                 ORDER BY %1$s
                 LIMIT $2) x
          LEFT JOIN pg_catalog.pg_roles r ON r.oid = x.userid
          LEFT JOIN pg_catalog.pg_database d ON d.oid = x.dbid
         ORDER BY 1
    $q$, order_clause, c_total, c_mean, c_max, c_stddev, c_io, pgss_schema, c_total);

    RETURN QUERY EXECUTE q USING min_calls, top;
END
$fn$;

COMMENT ON FUNCTION @extschema@.slow_queries(integer, text, bigint) IS
'top statements from pg_stat_statements (any version) by mean, total, calls, rows or io; times in ms and as intervals, hit ratio, I/O time when tracked';

-- ---------------------------------------------------------------------
-- replication_status
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.replication_status(
    OUT role text,
    OUT kind text,
    OUT name text,
    OUT state text,
    OUT sync_state text,
    OUT pid integer,
    OUT client text,
    OUT write_lag_bytes numeric,
    OUT flush_lag_bytes numeric,
    OUT replay_lag_bytes numeric,
    OUT write_lag interval,
    OUT flush_lag interval,
    OUT replay_lag interval,
    OUT slot_type text,
    OUT active boolean,
    OUT retained_bytes numeric,
    OUT retained text,
    OUT wal_status text,
    OUT safe_wal_size bigint,
    OUT receive_lsn pg_lsn,
    OUT replay_lsn pg_lsn,
    OUT replay_paused boolean,
    OUT failed_count bigint,
    OUT last_failed_wal text,
    OUT last_failure timestamptz,
    OUT files_waiting bigint,
    OUT detail text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    standby boolean := pg_is_in_recovery();
    my_role text := CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END;
    pos pg_lsn;          -- where WAL ends here: the write position on a primary, last received (or replayed) on a standby
    r record;
    a record;
    amode text := current_setting('archive_mode');
    waiting bigint;
    blcksz integer := current_setting('wal_block_size')::integer;
    partial_tail boolean;
    startup_wait text;
BEGIN
    IF standby THEN
        pos := coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn());
    ELSE
        pos := pg_current_wal_lsn();
    END IF;

    -- primary side (also a cascading standby): one row per walsender
    FOR r IN
        SELECT s.*, sl.slot_name AS via_slot
          FROM pg_stat_replication s
          LEFT JOIN pg_replication_slots sl ON sl.active_pid = s.pid
         ORDER BY s.application_name, s.pid
    LOOP
        role := my_role; kind := 'replica';
        name := r.application_name; state := r.state; sync_state := r.sync_state;
        pid := r.pid;
        client := coalesce(host(r.client_addr) || ':' || r.client_port, 'local socket');
        IF standby THEN
            pos := coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn());
        ELSE
            pos := pg_current_wal_lsn();
        END IF;
        write_lag_bytes := greatest(pg_wal_lsn_diff(pos, r.write_lsn), 0);
        flush_lag_bytes := greatest(pg_wal_lsn_diff(pos, r.flush_lsn), 0);
        replay_lag_bytes := greatest(pg_wal_lsn_diff(pos, r.replay_lsn), 0);
        -- An idle primary may have written WAL up to a page boundary in the
        -- middle of its last record (the WAL writer flushes whole pages
        -- only): the replica has that page but cannot replay a partial
        -- record, so its replay position stays just before the boundary.
        -- Everything complete was replayed: that is no lag.  (Only a tail of
        -- less than one page is recognised here; the standby's own row is
        -- exact, as it sees its startup process waiting for WAL.)
        partial_tail := NOT standby AND replay_lag_bytes > 0
            AND r.flush_lsn = pos
            AND pg_wal_lsn_diff(pos, '0/0') % blcksz = 0
            AND pg_current_wal_insert_lsn() > pos
            AND replay_lag_bytes < blcksz;
        IF partial_tail THEN
            replay_lag_bytes := 0;
        END IF;
        -- the time columns turn NULL once a replica has caught up and the
        -- primary is idle: that is no lag, not an unknown one
        write_lag := CASE WHEN write_lag_bytes = 0 THEN coalesce(r.write_lag, interval '0') ELSE r.write_lag END;
        flush_lag := CASE WHEN flush_lag_bytes = 0 THEN coalesce(r.flush_lag, interval '0') ELSE r.flush_lag END;
        replay_lag := CASE WHEN replay_lag_bytes = 0 THEN coalesce(r.replay_lag, interval '0') ELSE r.replay_lag END;
        slot_type := NULL; active := true; retained_bytes := NULL; retained := NULL;
        wal_status := NULL; safe_wal_size := NULL;
        receive_lsn := r.flush_lsn; replay_lsn := r.replay_lsn; replay_paused := NULL;
        failed_count := NULL; last_failed_wal := NULL; last_failure := NULL; files_waiting := NULL;
        detail := concat_ws('; ',
            CASE WHEN r.via_slot IS NOT NULL THEN 'streams through slot ' || r.via_slot
                 ELSE 'no replication slot: the primary may recycle WAL this replica still needs' END,
            CASE WHEN r.state IS DISTINCT FROM 'streaming' THEN 'not streaming yet (' || coalesce(r.state, '?') || ')' END,
            CASE WHEN r.replay_lsn IS NULL THEN 'positions hidden: needs pg_read_all_stats (pg_monitor)' END,
            CASE WHEN partial_tail THEN 'all complete WAL replayed (the last record is not flushed yet: idle primary)' END);
        RETURN NEXT;
    END LOOP;

    -- replication slots (on either side)
    FOR r IN
        SELECT s.*, d.datname AS dbname
          FROM pg_replication_slots s
          LEFT JOIN pg_database d ON d.oid = s.datoid
         ORDER BY s.slot_name
    LOOP
        role := my_role; kind := 'slot'; name := r.slot_name;
        state := CASE WHEN r.active THEN 'active' ELSE 'inactive' END;
        sync_state := NULL; pid := r.active_pid; client := NULL;
        write_lag_bytes := NULL; flush_lag_bytes := NULL;
        replay_lag_bytes := CASE WHEN r.slot_type = 'logical'
                                 THEN greatest(pg_wal_lsn_diff(pos, r.confirmed_flush_lsn), 0) END;
        write_lag := NULL; flush_lag := NULL; replay_lag := NULL;
        slot_type := r.slot_type; active := r.active;
        retained_bytes := greatest(pg_wal_lsn_diff(pos, r.restart_lsn), 0);
        retained := pg_size_pretty(retained_bytes);
        wal_status := r.wal_status; safe_wal_size := r.safe_wal_size;
        receive_lsn := r.restart_lsn; replay_lsn := NULL; replay_paused := NULL;
        failed_count := NULL; last_failed_wal := NULL; last_failure := NULL; files_waiting := NULL;
        detail := concat_ws('; ',
            CASE WHEN r.wal_status = 'lost' THEN 'WAL it needs is already removed: the consumer must be rebuilt; drop it: SELECT pg_drop_replication_slot(' || quote_literal(r.slot_name) || ')'
                 WHEN NOT r.active AND r.restart_lsn IS NOT NULL THEN 'inactive slot keeps ' || pg_size_pretty(retained_bytes) || ' of WAL in pg_wal and grows; if its consumer is gone: SELECT pg_drop_replication_slot(' || quote_literal(r.slot_name) || ')'
                 WHEN NOT r.active THEN 'inactive, reserves no WAL yet' END,
            CASE WHEN r.wal_status = 'unreserved' THEN 'past max_wal_size: WAL may be removed at the next checkpoint' END,
            CASE WHEN r.xmin IS NOT NULL THEN 'holds back vacuum: xmin age ' || age(r.xmin) END,
            CASE WHEN r.catalog_xmin IS NOT NULL AND NOT r.active THEN 'holds back catalog vacuum: catalog_xmin age ' || age(r.catalog_xmin) END,
            CASE WHEN r.slot_type = 'logical' THEN 'database ' || r.dbname || ', plugin ' || r.plugin END);
        RETURN NEXT;
    END LOOP;

    -- standby side: the WAL receiver and replay
    IF standby THEN
        SELECT w.* INTO a FROM pg_stat_wal_receiver w;
        role := 'standby'; kind := 'receiver';
        name := CASE WHEN a.pid IS NOT NULL THEN coalesce(a.sender_host || ':' || a.sender_port, 'primary') ELSE 'none' END;
        state := coalesce(a.status, 'not running');
        sync_state := NULL; pid := a.pid; client := NULL;
        receive_lsn := pg_last_wal_receive_lsn();
        replay_lsn := pg_last_wal_replay_lsn();
        write_lag_bytes := NULL; flush_lag_bytes := NULL;
        write_lag := NULL; flush_lag := NULL;
        -- the startup process waiting for WAL to arrive has replayed all
        -- it has (what is left is at most the start of a record not fully
        -- received yet, as when an idle primary flushed half of its last one)
        SELECT a2.wait_event INTO startup_wait
          FROM @extschema@.sessions a2 WHERE a2.backend_type = 'startup';
        partial_tail := false;
        IF receive_lsn IS NOT NULL THEN
            replay_lag_bytes := greatest(pg_wal_lsn_diff(receive_lsn, replay_lsn), 0);
            IF replay_lag_bytes > 0 AND startup_wait = 'RecoveryWalStream' THEN
                partial_tail := true;
                replay_lag_bytes := 0;
            END IF;
            -- all received WAL replayed: no lag, however long ago the last
            -- transaction was (an idle primary sends nothing to replay)
            replay_lag := CASE WHEN replay_lag_bytes = 0 THEN interval '0'
                               ELSE now() - pg_last_xact_replay_timestamp() END;
        ELSE
            replay_lag_bytes := NULL;
            replay_lag := now() - pg_last_xact_replay_timestamp();
        END IF;
        slot_type := NULL; active := a.pid IS NOT NULL;
        retained_bytes := NULL; retained := NULL; wal_status := NULL; safe_wal_size := NULL;
        replay_paused := pg_get_wal_replay_pause_state() <> 'not paused';
        failed_count := NULL; last_failed_wal := NULL; last_failure := NULL; files_waiting := NULL;
        detail := concat_ws('; ',
            CASE WHEN a.pid IS NULL THEN 'no WAL receiver: replaying from the archive or disconnected from the primary; replay_lag is the age of the last replayed transaction' END,
            CASE WHEN a.slot_name IS NOT NULL THEN 'through slot ' || a.slot_name END,
            CASE WHEN a.last_msg_receipt_time IS NOT NULL THEN 'last message from primary ' || date_trunc('second', now() - a.last_msg_receipt_time) || ' ago' END,
            CASE WHEN replay_paused THEN 'replay is paused: SELECT pg_wal_replay_resume()' END,
            CASE WHEN partial_tail THEN 'all complete WAL replayed; the rest is a record not fully received yet' END);
        RETURN NEXT;
    END IF;

    -- the archiver
    SELECT s.* INTO a FROM pg_stat_archiver s;
    BEGIN
        SELECT count(*) INTO waiting FROM pg_ls_archive_statusdir() f WHERE f.name LIKE '%.ready';
    EXCEPTION WHEN insufficient_privilege THEN
        waiting := NULL;
    END;
    role := my_role; kind := 'archiver'; name := 'archiver';
    state := CASE
        WHEN amode = 'off' OR (standby AND amode <> 'always') THEN 'disabled'
        WHEN a.last_failed_time IS NOT NULL
             AND (a.last_archived_time IS NULL OR a.last_failed_time > a.last_archived_time) THEN 'failing'
        WHEN waiting > 0 THEN 'behind'
        ELSE 'ok' END;
    sync_state := NULL; pid := NULL; client := NULL;
    write_lag_bytes := NULL; flush_lag_bytes := NULL; replay_lag_bytes := NULL;
    write_lag := NULL; flush_lag := NULL;
    replay_lag := CASE WHEN state <> 'disabled' AND a.last_archived_time IS NOT NULL AND waiting > 0
                       THEN now() - a.last_archived_time END;
    slot_type := NULL; active := state NOT IN ('disabled');
    retained_bytes := NULL; retained := NULL; wal_status := NULL; safe_wal_size := NULL;
    receive_lsn := NULL; replay_lsn := NULL; replay_paused := NULL;
    failed_count := a.failed_count; last_failed_wal := a.last_failed_wal;
    last_failure := a.last_failed_time; files_waiting := waiting;
    detail := concat_ws('; ',
        'archive_mode ' || amode,
        CASE WHEN state = 'disabled' AND amode = 'off' THEN 'no WAL archive: no point-in-time recovery' END,
        CASE WHEN state = 'failing' THEN 'archive_command fails (see the server log); WAL piles up in pg_wal until it succeeds' END,
        CASE WHEN a.last_archived_wal IS NOT NULL THEN 'last archived ' || a.last_archived_wal || ' at ' || date_trunc('second', a.last_archived_time) END,
        CASE WHEN waiting IS NULL THEN 'files waiting unknown: needs pg_monitor' END);
    RETURN NEXT;
END
$fn$;

COMMENT ON FUNCTION @extschema@.replication_status() IS
'replicas (lag in bytes and time), replication slots (retained WAL, wal_status), the standby''s receiver and replay (no false lag when idle), the archiver (failures, files waiting)';

-- ---------------------------------------------------------------------
-- integrity_check
-- ---------------------------------------------------------------------

-- Run one probe bounded in time and without lock waits: takes ACCESS SHARE
-- on the given relations with NOWAIT (so it never queues behind DDL) and
-- arms the statement timer for timeout_ms.  Returns the rows of the query
-- as a jsonb array, or NULL with outcome set to why it was skipped.  Runs
-- in its own subtransaction (the exception block), which also undoes the
-- local lock_timeout on error; on success the previous value is restored.
CREATE FUNCTION @extschema@._bounded_query(
    sql text,
    rels regclass[],
    timeout_ms integer,
    OUT result jsonb,
    OUT outcome text)
RETURNS record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    deadline timestamptz;
    old_lock_timeout text := current_setting('lock_timeout');
    rel regclass;
BEGIN
    result := NULL;
    outcome := 'ok';
    BEGIN
        PERFORM set_config('lock_timeout', '100ms', true);
        FOREACH rel IN ARRAY rels LOOP
            EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE NOWAIT', rel);
        END LOOP;
        deadline := @extschema@._deadline_arm(timeout_ms);
        EXECUTE format('SELECT coalesce(jsonb_agg(q), ''[]'') FROM (%s) q', sql) INTO result;
        PERFORM @extschema@._deadline_disarm();
        PERFORM set_config('lock_timeout', old_lock_timeout, true);
    EXCEPTION
        WHEN query_canceled THEN
            PERFORM @extschema@._deadline_disarm();
            -- a user's cancel or the caller's own statement_timeout stops
            -- everything; only our own deadline means "skip this one"
            IF deadline IS NULL OR clock_timestamp() < deadline THEN
                RAISE;
            END IF;
            outcome := format('skipped: not finished within %s ms', timeout_ms);
        WHEN lock_not_available THEN
            PERFORM @extschema@._deadline_disarm();
            outcome := 'skipped: lock conflict: DDL holds or waits for the table (' || SQLERRM || ')';
        WHEN insufficient_privilege THEN
            PERFORM @extschema@._deadline_disarm();
            outcome := 'skipped: ' || SQLERRM;
        WHEN OTHERS THEN
            -- never leave the timer armed behind an error
            PERFORM @extschema@._deadline_disarm();
            RAISE;
    END;
END
$fn$;

COMMENT ON FUNCTION @extschema@._bounded_query(text, regclass[], integer) IS
'internal: run a probe query with NOWAIT locks and a time bound; its rows as jsonb, or NULL and the reason it was skipped';

-- The FROM/WHERE clause that selects the rows of a foreign key's table
-- whose key matches no row of the referenced table, using the constraint's
-- own equality operators.  MATCH SIMPLE: a row with any NULL key column is
-- not checked; MATCH FULL: only an all-NULL key is exempt.
CREATE FUNCTION @extschema@._fk_orphan_from(fk oid)
RETURNS text
LANGUAGE sql STABLE
AS $fn$
    SELECT format('FROM %s c WHERE %s AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s)',
                  c.conrelid::regclass,
                  CASE WHEN c.confmatchtype = 'f'
                       THEN '(' || string_agg(format('c.%I IS NOT NULL', ca.attname), ' OR ' ORDER BY k.ord) || ')'
                       ELSE string_agg(format('c.%I IS NOT NULL', ca.attname), ' AND ' ORDER BY k.ord) END,
                  c.confrelid::regclass,
                  string_agg(format('c.%I OPERATOR(%I.%s) p.%I', ca.attname, opn.nspname, op.oprname, pa.attname),
                             ' AND ' ORDER BY k.ord))
      FROM pg_constraint c
      CROSS JOIN LATERAL unnest(c.conkey, c.confkey, c.conpfeqop) WITH ORDINALITY k(ck, pk, opr, ord)
      JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.ck
      JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pk
      JOIN pg_operator op ON op.oid = k.opr
      JOIN pg_namespace opn ON opn.oid = op.oprnamespace
     WHERE c.oid = fk AND c.contype = 'f'
     GROUP BY c.oid, c.conrelid, c.confrelid, c.confmatchtype
$fn$;

COMMENT ON FUNCTION @extschema@._fk_orphan_from(oid) IS
'internal: FROM/WHERE clause selecting the rows that break a foreign key';

CREATE FUNCTION @extschema@.integrity_check(
    amcheck_indexes regclass[] DEFAULT NULL,
    orphan_timeout interval DEFAULT '5s',
    include_ok boolean DEFAULT false,
    heapallindexed boolean DEFAULT false,
    OUT check_name text,
    OUT status text,
    OUT object text,
    OUT relation regclass,
    OUT count bigint,
    OUT detail text,
    OUT check_sql text,
    OUT remedy_sql text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    r record;
    amcheck_schema name;
    timeout_ms integer;
    orphan_from text;
    probe record;
    idx regclass;
    idx_list regclass[] := '{}';
    old_lock_timeout text := current_setting('lock_timeout');
BEGIN
    IF orphan_timeout IS NOT NULL AND orphan_timeout < interval '0' THEN
        RAISE EXCEPTION 'orphan_timeout must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass an interval such as ''5s''; NULL or ''0'' skips orphan counting.';
    END IF;
    timeout_ms := CASE WHEN orphan_timeout IS NULL THEN 0
                       ELSE least(extract(epoch FROM orphan_timeout) * 1000, 2147483647)::integer END;

    -- amcheck is checked first: a missing extension is an error, before any work
    IF amcheck_indexes IS NOT NULL THEN
        SELECT n.nspname INTO amcheck_schema
          FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'amcheck';
        IF amcheck_schema IS NULL THEN
            RAISE EXCEPTION 'amcheck is not installed in database %', quote_ident(current_database())
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Index verification (amcheck_indexes) uses bt_index_check() from the amcheck extension (PostgreSQL contrib).',
                      HINT = 'Run CREATE EXTENSION amcheck; as a superuser in this database, or call integrity_check() without amcheck_indexes.';
        END IF;
    END IF;

    -- 1. invalid indexes (a failed or running CREATE INDEX CONCURRENTLY / REINDEX CONCURRENTLY)
    FOR r IN
        SELECT i.indexrelid::regclass AS idx, i.indrelid::regclass AS tbl, i.indisunique,
               i.indisready, pg_get_indexdef(i.indexrelid) AS def,
               (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
                  FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE k.ord <= i.indnkeyatts) AS keycols,
               i.indexprs IS NULL AS simple,
               EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                        WHERE p.index_relid = i.indexrelid) AS building
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid
         WHERE NOT i.indisvalid
           AND c.relnamespace <> 'pg_catalog'::regnamespace
         ORDER BY 1
    LOOP
        check_name := 'invalid_index';
        status := CASE WHEN r.building THEN 'in progress' ELSE 'found' END;
        object := r.idx::text; relation := r.tbl; count := NULL;
        detail := CASE
            WHEN r.building THEN 'being built right now (pg_stat_progress_create_index): not a failure yet'
            ELSE 'left invalid by a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY: not used by queries'
                 || CASE WHEN r.indisready THEN ', but still maintained on every write' ELSE '' END
                 || CASE WHEN r.indisunique THEN '; unique: a duplicate key is the usual cause' ELSE '' END
            END || '; ' || r.def;
        check_sql := CASE WHEN r.indisunique AND r.simple AND r.keycols IS NOT NULL
            THEN format('SELECT %s, count(*) FROM %s GROUP BY %s HAVING count(*) > 1;', r.keycols, r.tbl, r.keycols)
            ELSE format('SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = %L::regclass;', r.idx::text) END;
        remedy_sql := CASE WHEN r.building THEN NULL
            ELSE format('REINDEX INDEX CONCURRENTLY %s;', r.idx)
                 || CASE WHEN r.indisunique THEN ' -- after removing the duplicates' ELSE '' END
                 || format(' -- or: DROP INDEX CONCURRENTLY %s;', r.idx) END;
        RETURN NEXT;
    END LOOP;

    -- 2. constraints added NOT VALID and never validated
    FOR r IN
        SELECT c.oid, c.conname, c.conrelid::regclass AS tbl, c.contype,
               -- pg_get_constraintdef() reads the catalog only; pg_get_expr()
               -- would lock the table and could wait behind DDL
               CASE WHEN c.contype = 'c'
                    THEN regexp_replace(pg_get_constraintdef(c.oid), '^CHECK \((.*)\)( NOT VALID)?$', '\1') END AS expr
          FROM pg_constraint c
          JOIN pg_class t ON t.oid = c.conrelid
         WHERE NOT c.convalidated
           AND c.contype IN ('c', 'f')
           AND t.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
         ORDER BY c.conrelid::regclass::text, c.conname
    LOOP
        check_name := 'not_valid_constraint';
        status := 'found';
        object := quote_ident(r.conname); relation := r.tbl; count := NULL;
        check_sql := CASE WHEN r.contype = 'c'
            THEN format('SELECT count(*) FROM %s WHERE NOT (%s);', r.tbl, r.expr)
            ELSE 'SELECT count(*) ' || @extschema@._fk_orphan_from(r.oid) || ';' END;
        remedy_sql := format('ALTER TABLE %s VALIDATE CONSTRAINT %I;', r.tbl, r.conname);
        IF r.contype = 'f' THEN
            detail := 'foreign key created NOT VALID: rows older than the constraint were never checked (orphaned_rows counts them)';
        ELSE
            detail := 'check constraint created NOT VALID: rows older than the constraint were never checked';
        END IF;
        RETURN NEXT;
    END LOOP;

    -- 3. orphaned rows under each foreign key (valid or not), time-bounded
    IF timeout_ms > 0 THEN
        FOR r IN
            SELECT c.oid, c.conname, c.conrelid::regclass AS child, c.confrelid::regclass AS parent,
                   c.convalidated
              FROM pg_constraint c
              JOIN pg_class t ON t.oid = c.conrelid
             WHERE c.contype = 'f'
               AND c.conparentid = 0
               AND t.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
             ORDER BY c.conrelid::regclass::text, c.conname
        LOOP
            check_name := 'orphaned_rows';
            object := quote_ident(r.conname); relation := r.child;
            orphan_from := @extschema@._fk_orphan_from(r.oid);
            IF NOT (has_table_privilege(r.child, 'SELECT') AND has_table_privilege(r.parent, 'SELECT')) THEN
                status := 'skipped'; count := NULL;
                detail := 'skipped: no SELECT privilege on ' || r.child || ' or ' || r.parent;
            ELSE
                BEGIN
                    probe := @extschema@._bounded_query('SELECT count(*) AS n ' || orphan_from,
                                                         ARRAY[r.child, r.parent], timeout_ms);
                EXCEPTION WHEN undefined_table OR undefined_object THEN
                    SELECT NULL::jsonb AS result, 'skipped: dropped while being checked' AS outcome
                      INTO probe;
                END;
                count := (probe.result->0->>'n')::bigint;
                IF count IS NULL THEN
                    status := 'skipped'; detail := probe.outcome;
                ELSIF count = 0 THEN
                    status := 'ok'; detail := 'no orphaned rows';
                ELSE
                    status := 'found';
                    detail := format('%s row(s) of %s reference no row of %s', count, r.child, r.parent)
                              || CASE WHEN r.convalidated
                                      THEN ' although the key is validated: triggers disabled, session_replication_role = replica, or corruption'
                                      ELSE ' (the key is NOT VALID)' END;
                END IF;
            END IF;
            check_sql := 'SELECT c.* ' || orphan_from || ' LIMIT 100;';
            remedy_sql := CASE WHEN status = 'found'
                THEN 'DELETE ' || orphan_from || ';  -- or insert the missing parent rows / set the key to NULL'
                     || CASE WHEN NOT r.convalidated THEN format('; then ALTER TABLE %s VALIDATE CONSTRAINT %I;', r.child, r.conname) ELSE '' END
                END;
            IF status <> 'ok' OR include_ok THEN
                RETURN NEXT;
            END IF;
        END LOOP;
    END IF;

    -- 4. checksum failures, per database (NULL when checksums are off)
    FOR r IN
        SELECT coalesce(d.datname, '(shared objects)') AS dbname, d.checksum_failures, d.checksum_last_failure
          FROM pg_stat_database d
         WHERE d.checksum_failures > 0 OR (include_ok AND d.checksum_failures IS NOT NULL)
         ORDER BY 1
    LOOP
        check_name := 'checksum_failures';
        status := CASE WHEN r.checksum_failures > 0 THEN 'found' ELSE 'ok' END;
        object := r.dbname; relation := NULL; count := r.checksum_failures;
        detail := CASE WHEN r.checksum_failures > 0
            THEN 'data page checksum failures, last at ' || r.checksum_last_failure || ': storage is corrupting pages; find them in the server log (WARNING: page verification failed)'
            ELSE 'no checksum failures' END;
        check_sql := format('SELECT datname, checksum_failures, checksum_last_failure FROM pg_stat_database WHERE datname IS NOT DISTINCT FROM %L;',
                            CASE WHEN r.dbname = '(shared objects)' THEN NULL ELSE r.dbname END);
        remedy_sql := CASE WHEN r.checksum_failures > 0
            THEN '-- restore the damaged relations from a backup; check the disks; pg_checksums --check (offline) lists every bad block' END;
        RETURN NEXT;
    END LOOP;

    -- 5. amcheck over chosen indexes (a table means all its B-tree indexes)
    IF amcheck_indexes IS NOT NULL THEN
        FOREACH idx IN ARRAY amcheck_indexes LOOP
            IF (SELECT c.relkind IN ('r', 'm', 't', 'p') FROM pg_class c WHERE c.oid = idx) THEN
                idx_list := idx_list || ARRAY(SELECT i.indexrelid::regclass FROM pg_index i
                                               WHERE i.indrelid = idx ORDER BY i.indexrelid::regclass::text);
            ELSE
                idx_list := idx_list || idx;
            END IF;
        END LOOP;
        FOREACH idx IN ARRAY idx_list LOOP
            check_name := 'amcheck'; object := idx::text;
            relation := (SELECT i.indrelid::regclass FROM pg_index i WHERE i.indexrelid = idx);
            count := NULL;
            check_sql := format('SELECT %I.bt_index_check(%L::regclass, %s);', amcheck_schema, idx::text,
                                CASE WHEN heapallindexed THEN 'true' ELSE 'false' END);
            remedy_sql := NULL;
            IF (SELECT c.relkind <> 'i' OR am.amname <> 'btree' FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.oid = idx)
               IS DISTINCT FROM false THEN
                status := 'skipped';
                detail := 'skipped: not a B-tree index (bt_index_check verifies B-tree indexes only)';
            ELSIF (SELECT NOT i.indisvalid FROM pg_index i WHERE i.indexrelid = idx) THEN
                status := 'skipped';
                detail := 'skipped: invalid index (see invalid_index)';
            ELSE
                BEGIN
                    PERFORM set_config('lock_timeout', '100ms', true);
                    EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE NOWAIT', relation);
                    EXECUTE format('SELECT %I.bt_index_check($1, $2)', amcheck_schema) USING idx, heapallindexed;
                    PERFORM set_config('lock_timeout', old_lock_timeout, true);
                    status := 'ok';
                    detail := CASE WHEN heapallindexed THEN 'bt_index_check (heapallindexed) passed'
                                   ELSE 'bt_index_check passed: B-tree structure consistent' END;
                EXCEPTION
                    WHEN index_corrupted OR data_corrupted THEN
                        status := 'corrupt';
                        detail := SQLERRM;
                        remedy_sql := format('REINDEX INDEX CONCURRENTLY %s;', idx);
                    WHEN lock_not_available THEN
                        status := 'skipped';
                        detail := 'skipped: lock conflict: DDL holds or waits for the table (' || SQLERRM || ')';
                    WHEN undefined_table OR undefined_object THEN
                        status := 'skipped';
                        detail := 'skipped: dropped while being checked';
                    WHEN insufficient_privilege THEN
                        status := 'skipped';
                        detail := 'skipped: ' || SQLERRM || ' (GRANT EXECUTE ON FUNCTION ' || quote_ident(amcheck_schema) || '.bt_index_check(regclass, boolean) TO ...)';
                END;
            END IF;
            RETURN NEXT;
        END LOOP;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@.integrity_check(regclass[], interval, boolean, boolean) IS
'invalid indexes, NOT VALID constraints, orphaned rows per foreign key (time-bounded, locked tables skipped), checksum failures, and bt_index_check over amcheck_indexes; each finding with the SQL that confirms or fixes it';

-- ---------------------------------------------------------------------
-- config_check
-- ---------------------------------------------------------------------

-- Checkpoints requested (by WAL volume or by hand) and timed since the last
-- stats reset: pg_stat_bgwriter up to PostgreSQL 16, pg_stat_checkpointer
-- from 17 (dynamic SQL so that neither name is needed at install time).
CREATE FUNCTION @extschema@._checkpoint_counts(OUT requested bigint, OUT timed bigint)
RETURNS record
LANGUAGE plpgsql STABLE
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
CREATE FUNCTION @extschema@.config_check(
    server_memory text DEFAULT NULL,
    OUT setting text,
    OUT current_value text,
    OUT suggested_value text,
    OUT severity text,
    OUT reason text,
    OUT remedy_sql text)
RETURNS SETOF record
LANGUAGE sql VOLATILE
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
           NULL
     WHERE current_setting('archive_mode') <> 'off'
       AND current_setting('archive_command') = ''
       AND current_setting('archive_library') = ''
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
           'the library is loaded but the extension is not created in database ' || quote_ident(current_database()) || ': its view cannot be queried here',
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
           'more than 500 server processes contend on locks and snapshots even when idle: use a connection pooler (PgBouncer)', NULL
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
       coalesce(f.remedy,
                CASE WHEN s.context IN ('postmaster')
                     THEN format('ALTER SYSTEM SET %s = %L;  -- then restart the server', f.setting, f.suggested)
                     ELSE format('ALTER SYSTEM SET %s = %L; SELECT pg_reload_conf();', f.setting, f.suggested) END)
  FROM f
  LEFT JOIN pg_settings s ON s.name = f.setting
 ORDER BY array_position(ARRAY['high', 'medium', 'low'], f.severity), f.setting
$fn$;

COMMENT ON FUNCTION @extschema@.config_check(text) IS
'configuration findings: setting, current and suggested value, severity, why, and the SQL to change it (values as seen by this session)';

-- ---------------------------------------------------------------------
-- migration_status
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.migration_status(
    probe_timeout interval DEFAULT '2s',
    OUT tool text,
    OUT migration_table regclass,
    OUT status text,
    OUT migration text,
    OUT started_at timestamptz,
    OUT finished_at timestamptz,
    OUT detail text,
    OUT remedy text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    t record;
    cols text[];
    q text;
    tool_name text;
    probe record;
    acc jsonb := '[]';
    timeout_ms integer;
    holder record;
    prisma_locked boolean;
BEGIN
    IF probe_timeout IS NULL OR probe_timeout <= interval '0' THEN
        RAISE EXCEPTION 'probe_timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    timeout_ms := greatest(1, least(extract(epoch FROM probe_timeout) * 1000, 2147483647))::integer;

    -- prisma migrate holds advisory lock 72707369 (bigint form) while it runs
    prisma_locked := EXISTS (
        SELECT 1 FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 72707369
           AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()));

    FOR t IN
        SELECT c.oid::regclass AS tbl, c.relname::text AS relname
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p')
           AND c.relname IN ('_prisma_migrations', 'flyway_schema_history', 'schema_migrations',
                             'alembic_version', 'knex_migrations', 'knex_migrations_lock',
                             'django_migrations', 'databasechangelog', 'databasechangeloglock',
                             '_sqlx_migrations', 'goose_db_version')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\_toast%'
         ORDER BY c.relname, n.nspname
    LOOP
        SELECT array_agg(a.attname::text) INTO cols
          FROM pg_attribute a WHERE a.attrelid = t.tbl AND a.attnum > 0 AND NOT a.attisdropped;
        q := NULL;
        CASE t.relname
        WHEN '_prisma_migrations' THEN
            tool_name := 'prisma';
            q := format($q$
                SELECT CASE WHEN logs IS NOT NULL THEN 'failed' ELSE 'partial' END AS status,
                       migration_name::text AS migration, started_at::timestamptz AS started_at,
                       finished_at::timestamptz AS finished_at,
                       CASE WHEN logs IS NOT NULL THEN 'failed: ' || left(logs, 500)
                            WHEN %2$L::boolean THEN 'started, not finished: a prisma migrate holds its lock, so it is probably running now'
                            ELSE 'started and never finished, and no prisma migrate holds its lock: the process died part-way' END AS detail,
                       CASE WHEN logs IS NOT NULL
                            THEN 'fix the database, then: npx prisma migrate resolve --rolled-back ' || migration_name
                                 || '  (or --applied if you completed it by hand)'
                            WHEN %2$L::boolean THEN 'wait for it; if its session is stuck, see the locked row'
                            ELSE 'check what it applied, then: npx prisma migrate resolve --rolled-back ' || migration_name END AS remedy
                  FROM %1$s
                 WHERE finished_at IS NULL AND rolled_back_at IS NULL
                UNION ALL
                (SELECT 'last_applied', migration_name, started_at, finished_at,
                        applied_steps_count || ' step(s)', NULL
                   FROM %1$s WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL
                  ORDER BY finished_at DESC, started_at DESC LIMIT 1)$q$, t.tbl, prisma_locked);
        WHEN 'flyway_schema_history' THEN
            tool_name := 'flyway';
            q := format($q$
                SELECT 'failed' AS status,
                       concat_ws(' ', version, description) AS migration,
                       installed_on::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       format('installed_rank %%s, script %%s, by %%s', installed_rank, script, installed_by) AS detail,
                       'fix or revert what the script did, then: flyway repair' AS remedy
                  FROM %1$s WHERE NOT success
                UNION ALL
                (SELECT 'last_applied', concat_ws(' ', version, description), installed_on::timestamptz, NULL,
                        format('installed_rank %%s, script %%s, %%s ms', installed_rank, script, execution_time), NULL
                   FROM %1$s WHERE success
                  ORDER BY installed_rank DESC LIMIT 1)$q$, t.tbl);
        WHEN 'schema_migrations' THEN
            IF 'dirty' = ANY (cols) THEN
                tool_name := 'golang-migrate';
                q := format($q$
                    SELECT CASE WHEN dirty THEN 'dirty' ELSE 'last_applied' END AS status,
                           version::text AS migration, NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                           CASE WHEN dirty THEN 'migration ' || version || ' failed part-way: the schema is half changed and migrate refuses to run'
                                ELSE 'clean' END AS detail,
                           CASE WHEN dirty THEN 'repair the schema by hand, then: migrate force <last good version> (the one before ' || version || ')' END AS remedy
                      FROM %1$s$q$, t.tbl);
            ELSIF NOT 'version' = ANY (cols) THEN
                acc := acc || jsonb_build_object('tool', 'unknown', 'tbl', t.tbl::text, 'status', 'skipped',
                                                 'detail', 'schema_migrations without a version column: not a known tool''s layout');
                CONTINUE;
            ELSE
                tool_name := 'rails/activerecord';
                q := format($q$
                    SELECT 'last_applied' AS status, version::text AS migration,
                           NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                           (SELECT count(*) FROM %1$s) || ' migration(s) recorded' AS detail, NULL AS remedy
                      FROM %1$s ORDER BY length(version::text) DESC, version::text DESC LIMIT 1$q$, t.tbl);
            END IF;
        WHEN 'alembic_version' THEN
            tool_name := 'alembic';
            q := format($q$
                SELECT 'last_applied' AS status, version_num::text AS migration,
                       NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       CASE WHEN count(*) OVER () > 1 THEN 'one of ' || count(*) OVER () || ' heads (branches not merged)'
                            ELSE 'current revision' END AS detail, NULL AS remedy
                  FROM %1$s$q$, t.tbl);
        WHEN 'knex_migrations' THEN
            tool_name := 'knex';
            q := format($q$
                SELECT 'last_applied' AS status, name::text AS migration,
                       NULL::timestamptz AS started_at, migration_time::timestamptz AS finished_at,
                       'batch ' || batch AS detail, NULL AS remedy
                  FROM %1$s ORDER BY id DESC LIMIT 1$q$, t.tbl);
        WHEN 'knex_migrations_lock' THEN
            tool_name := 'knex';
            q := format($q$
                SELECT 'locked' AS status, NULL::text AS migration,
                       NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'knex_migrations_lock.is_locked = 1: a migration is running, or one died holding the lock' AS detail,
                       'if no knex migration is running: npx knex migrate:unlock' AS remedy
                  FROM %1$s WHERE is_locked <> 0$q$, t.tbl);
        WHEN 'django_migrations' THEN
            tool_name := 'django';
            q := format($q$
                SELECT 'last_applied' AS status, app || '.' || name AS migration,
                       NULL::timestamptz AS started_at, applied::timestamptz AS finished_at,
                       (SELECT count(*) FROM %1$s) || ' migration(s) recorded' AS detail, NULL AS remedy
                  FROM %1$s ORDER BY applied DESC, id DESC LIMIT 1$q$, t.tbl);
        WHEN 'databasechangelog' THEN
            tool_name := 'liquibase';
            q := format($q$
                SELECT 'failed' AS status, id || ' (' || author || ', ' || filename || ')' AS migration,
                       dateexecuted::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'exectype FAILED' AS detail,
                       'fix the changeset, then run liquibase update again' AS remedy
                  FROM %1$s WHERE exectype = 'FAILED'
                UNION ALL
                (SELECT 'last_applied', id || ' (' || author || ', ' || filename || ')', NULL, dateexecuted::timestamptz,
                        'exectype ' || exectype, NULL
                   FROM %1$s WHERE exectype <> 'FAILED' ORDER BY orderexecuted DESC, dateexecuted DESC LIMIT 1)$q$, t.tbl);
        WHEN 'databasechangeloglock' THEN
            tool_name := 'liquibase';
            q := format($q$
                SELECT 'locked' AS status, NULL::text AS migration,
                       lockgranted::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'change log lock held by ' || coalesce(lockedby, '?') || ': an update is running, or one died holding it' AS detail,
                       'if no liquibase runs: liquibase releaseLocks' AS remedy
                  FROM %1$s WHERE locked$q$, t.tbl);
        WHEN '_sqlx_migrations' THEN
            tool_name := 'sqlx';
            q := format($q$
                SELECT 'failed' AS status, version || ' ' || description AS migration,
                       installed_on::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'success = false: the migration did not complete (sqlx calls this dirty)' AS detail,
                       'repair the schema, then delete this row and run sqlx migrate run again' AS remedy
                  FROM %1$s WHERE NOT success
                UNION ALL
                (SELECT 'last_applied', version || ' ' || description, NULL, installed_on::timestamptz,
                        execution_time / 1000000 || ' ms', NULL
                   FROM %1$s WHERE success ORDER BY version DESC LIMIT 1)$q$, t.tbl);
        WHEN 'goose_db_version' THEN
            tool_name := 'goose';
            q := format($q$
                SELECT 'last_applied' AS status, version_id::text AS migration,
                       NULL::timestamptz AS started_at, tstamp::timestamptz AS finished_at,
                       CASE WHEN is_applied THEN 'applied' ELSE 'rolled back' END AS detail, NULL AS remedy
                  FROM %1$s ORDER BY id DESC LIMIT 1$q$, t.tbl);
        END CASE;

        IF NOT has_table_privilege(t.tbl, 'SELECT') THEN
            acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'skipped',
                                             'detail', 'no SELECT privilege on ' || t.tbl);
            CONTINUE;
        END IF;
        BEGIN
            probe := @extschema@._bounded_query(q, ARRAY[t.tbl], timeout_ms);
        EXCEPTION WHEN undefined_column OR undefined_function OR datatype_mismatch
                       OR invalid_text_representation OR undefined_table THEN
            SELECT NULL::jsonb AS result,
                   'skipped: not the layout ' || tool_name || ' uses (' || SQLERRM || ')' AS outcome
              INTO probe;
        END;
        IF probe.result IS NULL THEN
            acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'skipped',
                                             'detail', probe.outcome);
        ELSIF jsonb_array_length(probe.result) = 0 THEN
            IF t.relname NOT IN ('knex_migrations_lock', 'databasechangeloglock') THEN
                acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'empty',
                                                 'detail', 'no migration applied yet');
            END IF;
        ELSE
            acc := acc || (SELECT jsonb_agg(e || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text))
                             FROM jsonb_array_elements(probe.result) e);
        END IF;
    END LOOP;

    -- prisma migrate holds advisory lock 72707369 while it runs
    IF prisma_locked AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = '_prisma_migrations' AND c.relkind IN ('r', 'p')) THEN
        FOR holder IN
            SELECT l.pid, a.application_name, a.xact_start, a.state
              FROM pg_locks l LEFT JOIN @extschema@.sessions a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 72707369
               AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        LOOP
            acc := acc || jsonb_build_object('tool', 'prisma', 'status', 'locked',
                'detail', format('prisma migrate lock (advisory 72707369) held by pid %s (%s, %s)',
                                 holder.pid, coalesce(holder.application_name, '?'), coalesce(holder.state, '?')),
                'remedy', 'a migration is running; if that session is stuck: SELECT pg_terminate_backend(' || holder.pid || ')');
        END LOOP;
    END IF;

    RETURN QUERY
        SELECT x.tool, x.tbl::regclass, x.status, x.migration, x.started_at, x.finished_at, x.detail, x.remedy
          FROM jsonb_to_recordset(acc) AS x(tool text, tbl text, status text, migration text,
                                             started_at timestamptz, finished_at timestamptz,
                                             detail text, remedy text)
         ORDER BY array_position(ARRAY['failed', 'dirty', 'partial', 'locked', 'skipped', 'empty', 'last_applied'], x.status),
                  x.tool, x.tbl, x.started_at NULLS LAST, x.migration;
END
$fn$;

COMMENT ON FUNCTION @extschema@.migration_status(interval) IS
'migration tables of Prisma, Flyway, Rails, golang-migrate, Alembic, Knex, Django, Liquibase, sqlx and goose in any schema: failed, partial, dirty, locked, and the last applied; zero rows when none is found';

-- ---------------------------------------------------------------------
-- privileges: read-only, SECURITY INVOKER, for pg_monitor
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION @extschema@._deadline_arm(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._deadline_disarm() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._server_memory() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._preloaded_libraries() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._bounded_query(text, regclass[], integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._fk_orphan_from(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.slow_queries(integer, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.replication_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.integrity_check(regclass[], interval, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._checkpoint_counts() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.config_check(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.migration_status(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._deadline_arm(integer) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._deadline_disarm() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._server_memory() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._preloaded_libraries() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._bounded_query(text, regclass[], integer) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._fk_orphan_from(oid) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.slow_queries(integer, text, bigint) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.replication_status() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.integrity_check(regclass[], interval, boolean, boolean) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._checkpoint_counts() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.config_check(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.migration_status(interval) TO pg_monitor;
