-- A check of triage() (80_triage/triage.sql runs them): the filesystems
-- holding the data directory, pg_wal and the tablespaces (runbook.host()),
-- the df -h of the runbooks.  A full filesystem stops writes: of WAL (the
-- server shuts down), of tables, of temporary files (queries fail).  One
-- finding per filesystem, with what is on it; space and inodes both count.

CREATE OR REPLACE FUNCTION @extschema@._triage_disk(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    top     jsonb;
    big_pid integer;
    big_temp text;
    pct     numeric;
BEGIN
    f.check_name := 'disk';
    FOR r IN
        SELECT coalesce(h.mount_point, h.path) AS fs,
               array_agg(CASE WHEN h.name = 'tablespace' THEN 'tablespace ' || h.tablespace ELSE h.name END
                         ORDER BY h.name, h.tablespace) AS holds,
               bool_or(h.name = 'pg_wal') AS wal,
               max(h.used_pct) AS used_pct, max(h.inodes_used_pct) AS inodes_used_pct,
               max(h.size) AS size, max(h.free) AS free, max(h.size_bytes) AS size_bytes,
               max(h.free_bytes) AS free_bytes, max(h.inodes_free) AS inodes_free,
               sum(h.temp_file_bytes) AS temp_bytes
          FROM @extschema@.host() h
         WHERE h.kind = 'filesystem' AND h.used_pct IS NOT NULL
         GROUP BY 1 ORDER BY 1
    LOOP
        pct := greatest(r.used_pct, coalesce(r.inodes_used_pct, 0));
        CONTINUE WHEN pct < @extschema@._threshold('disk_sev3_pct');
        f.severity := CASE WHEN pct >= @extschema@._threshold('disk_sev1_pct') THEN 'SEV1'
                           WHEN pct >= @extschema@._threshold('disk_sev2_pct') THEN 'SEV2'
                           ELSE 'SEV3' END;
        f.finding := format('filesystem %s %s%% used (%s free of %s%s), holding %s',
                            r.fs, r.used_pct, r.free, r.size,
                            CASE WHEN r.inodes_used_pct >= @extschema@._threshold('disk_sev3_pct')
                                 THEN format('; inodes %s%% used', r.inodes_used_pct) ELSE '' END,
                            array_to_string(r.holds, ', '));
        top := NULL;
        big_pid := NULL;
        IF r.temp_bytes > 0 THEN
            SELECT jsonb_agg(jsonb_build_object('pid', b.pid, 'usename', b.usename, 'state', b.state,
                                                'temp', b.temp, 'query', left(b.query, 200)) ORDER BY b.temp_bytes DESC)
              INTO top
              FROM (SELECT * FROM @extschema@.backend_resources() b
                     WHERE b.temp_bytes > 0 ORDER BY b.temp_bytes DESC LIMIT 5) b;
            SELECT b.pid, b.temp INTO big_pid, big_temp
              FROM @extschema@.backend_resources() b
             WHERE b.backend_type = 'client backend' AND b.state = 'active' AND b.temp_bytes > 0
               AND b.pid <> pg_backend_pid()
             ORDER BY b.temp_bytes DESC LIMIT 1;
        END IF;
        f.evidence := jsonb_build_object('filesystem', r.fs, 'holds', to_jsonb(r.holds), 'used_pct', r.used_pct,
                                         'inodes_used_pct', r.inodes_used_pct, 'size_bytes', r.size_bytes,
                                         'free_bytes', r.free_bytes, 'inodes_free', r.inodes_free,
                                         'temp_file_bytes', r.temp_bytes, 'largest_temp_writers', top);
        IF big_pid IS NOT NULL THEN
            f.action := 'cancel the largest writer of temporary files (evidence); enable starter_disk_guard to do it before the filesystem is full; then free or grow the filesystem';
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.cancel(%s, %L);', '@extschema@', big_pid,
                                                  format('disk: the largest temporary files (%s)', big_temp));
        ELSIF r.wal THEN
            f.action := 'find what keeps WAL (an inactive replication slot, a failing archive_command: disk_usage()), free or grow the filesystem; a full pg_wal stops the server';
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.disk_usage();', '@extschema@');
        ELSE
            f.action := 'find what grows (sizes, disk_usage()), free or grow the filesystem';
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.disk_usage();', '@extschema@');
        END IF;
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_disk(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_disk(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_disk(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
