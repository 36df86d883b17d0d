-- runbook.replication_status(): primary and standby side, lag in bytes and
-- time (no false lag on an idle primary), slots, archiver.

CREATE OR REPLACE FUNCTION @extschema@.replication_status(
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
SET search_path = pg_catalog, pg_temp
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
            CASE WHEN r.via_slot IS NOT NULL THEN @extschema@._runnable('text', 'streams through slot %s', r.via_slot)
                 ELSE 'no replication slot: the primary may recycle WAL this replica still needs' END,
            CASE WHEN r.state IS DISTINCT FROM 'streaming' THEN @extschema@._runnable('text', 'not streaming yet (%s)', coalesce(r.state, '?')) END,
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
            CASE WHEN r.wal_status = 'lost' THEN @extschema@._runnable('text', 'WAL it needs is already removed: the consumer must be rebuilt; drop it: SELECT pg_drop_replication_slot(%L)', r.slot_name)
                 WHEN NOT r.active AND r.restart_lsn IS NOT NULL THEN @extschema@._runnable('text', 'inactive slot keeps %s of WAL in pg_wal and grows; if its consumer is gone: SELECT pg_drop_replication_slot(%L)', pg_size_pretty(retained_bytes), r.slot_name)
                 WHEN NOT r.active THEN 'inactive, reserves no WAL yet' END,
            CASE WHEN r.wal_status = 'unreserved' THEN 'past max_wal_size: WAL may be removed at the next checkpoint' END,
            CASE WHEN r.xmin IS NOT NULL THEN 'holds back vacuum: xmin age ' || age(r.xmin) END,
            CASE WHEN r.catalog_xmin IS NOT NULL AND NOT r.active THEN 'holds back catalog vacuum: catalog_xmin age ' || age(r.catalog_xmin) END,
            CASE WHEN r.slot_type = 'logical' THEN @extschema@._runnable('text', 'database %I, plugin %s', coalesce(r.dbname, '?'), r.plugin) END);
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
            CASE WHEN a.slot_name IS NOT NULL THEN @extschema@._runnable('text', 'through slot %s', a.slot_name) END,
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

REVOKE ALL ON FUNCTION @extschema@.replication_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.replication_status() TO pg_monitor;
