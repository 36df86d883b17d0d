-- runbook.disk_usage(): WAL, temporary files, logs, databases, slot
-- retention, with pretty sizes beside bytes.

CREATE OR REPLACE FUNCTION @extschema@.disk_usage()
RETURNS TABLE (category text, name text, bytes bigint, pretty text, files bigint, detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
    cur pg_lsn;
BEGIN
    cur := CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END;

    category := 'wal'; name := 'pg_wal';
    SELECT sum(w.size)::bigint, count(*) INTO bytes, files FROM pg_ls_waldir() w;
    pretty := pg_size_pretty(bytes);
    detail := format('max_wal_size %s, min_wal_size %s, wal_keep_size %s, max_slot_wal_keep_size %s',
                     current_setting('max_wal_size'), current_setting('min_wal_size'),
                     current_setting('wal_keep_size'), current_setting('max_slot_wal_keep_size'));
    RETURN NEXT;

    FOR r IN SELECT * FROM pg_replication_slots ORDER BY slot_name LOOP
        category := 'wal retained by slot'; name := r.slot_name;
        bytes := CASE WHEN r.restart_lsn IS NOT NULL AND cur IS NOT NULL
                      THEN greatest(pg_wal_lsn_diff(cur, r.restart_lsn), 0)::bigint END;
        pretty := pg_size_pretty(bytes); files := NULL;
        detail := format('%s slot, %s, wal_status %s%s', r.slot_type,
                         CASE WHEN r.active THEN 'active' ELSE 'INACTIVE' END, r.wal_status,
                         CASE WHEN r.safe_wal_size IS NOT NULL THEN ', safe_wal_size ' || pg_size_pretty(r.safe_wal_size) ELSE '' END);
        RETURN NEXT;
    END LOOP;

    category := 'log'; name := current_setting('log_directory');
    BEGIN
        SELECT coalesce(sum(l.size), 0)::bigint, count(*) INTO bytes, files FROM pg_ls_logdir() l;
        detail := format('logging_collector %s', current_setting('logging_collector'));
    EXCEPTION WHEN undefined_file THEN
        bytes := 0; files := 0;
        detail := format('directory does not exist (logging_collector %s): logs go to stderr/syslog', current_setting('logging_collector'));
    END;
    pretty := pg_size_pretty(bytes);
    RETURN NEXT;

    FOR r IN SELECT t.oid, t.spcname FROM pg_tablespace t WHERE t.spcname <> 'pg_global' ORDER BY 1 LOOP
        category := 'temporary files'; name := r.spcname;
        BEGIN
            SELECT coalesce(sum(f.size), 0)::bigint, count(*) INTO bytes, files FROM pg_ls_tmpdir(r.oid) f;
            detail := 'in use now';
        EXCEPTION WHEN undefined_file THEN
            bytes := 0; files := 0; detail := 'in use now (no temporary directory yet)';
        END;
        pretty := pg_size_pretty(bytes);
        RETURN NEXT;
    END LOOP;

    FOR r IN SELECT d.datname, d.temp_bytes, d.temp_files, d.stats_reset FROM pg_stat_database d
              WHERE d.datname IS NOT NULL AND d.temp_files > 0 ORDER BY d.temp_bytes DESC LOOP
        category := 'temporary files written'; name := r.datname;
        bytes := r.temp_bytes; files := r.temp_files; pretty := pg_size_pretty(bytes);
        detail := format('cumulative since %s; log_temp_files %s, temp_file_limit %s',
                         coalesce(r.stats_reset::text, 'statistics began'),
                         current_setting('log_temp_files'), current_setting('temp_file_limit'));
        RETURN NEXT;
    END LOOP;

    FOR r IN SELECT s.name AS datname, s.total_bytes, s.status FROM @extschema@.sizes s
              WHERE s.kind = 'database' ORDER BY s.total_bytes DESC NULLS LAST LOOP
        category := 'database'; name := r.datname; bytes := r.total_bytes;
        pretty := pg_size_pretty(bytes); files := NULL; detail := r.status;
        RETURN NEXT;
    END LOOP;

    FOR r IN SELECT t.spcname, t.oid FROM pg_tablespace t ORDER BY 1 LOOP
        category := 'tablespace'; name := r.spcname;
        bytes := pg_tablespace_size(r.oid); pretty := pg_size_pretty(bytes); files := NULL;
        detail := coalesce(nullif(pg_tablespace_location(r.oid), ''), 'in the data directory');
        RETURN NEXT;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@.disk_usage() IS
'where the disk goes: pg_wal, WAL retained by each replication slot, the log directory, temporary files (now and cumulative), databases, tablespaces';

REVOKE ALL ON FUNCTION @extschema@.disk_usage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.disk_usage() TO pg_monitor;

-- Free bytes of the filesystem that holds pg_wal, when runbook.host() is
-- there to tell (NULL otherwise): what an inactive slot's WAL is measured
-- against when max_slot_wal_keep_size does not limit it.
CREATE OR REPLACE FUNCTION @extschema@._wal_free_bytes()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    b bigint;
BEGIN
    IF to_regprocedure('@extschema@.host()') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT h.free_bytes FROM %I.host() h WHERE h.kind = %L AND h.name = %L LIMIT 1',
                   '@extschema@', 'filesystem', 'pg_wal') INTO b;
    RETURN b;
EXCEPTION WHEN undefined_column OR undefined_function OR feature_not_supported OR insufficient_privilege THEN
    RETURN NULL;
END
$fn$;

COMMENT ON FUNCTION @extschema@._wal_free_bytes() IS
'internal: free bytes of the filesystem of pg_wal (from runbook.host() when it exists), else NULL';

REVOKE ALL ON FUNCTION @extschema@._wal_free_bytes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._wal_free_bytes() TO pg_monitor;
