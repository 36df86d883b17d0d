-- metric_samples() families: the host (runbook.host(): memory, the
-- filesystems of the data directory, pg_wal and the tablespaces, temporary
-- files, load, CPUs).  Off Linux (host() not supported) the families are
-- absent and pg_runbook_check_up{check="host"} is 0.
CREATE OR REPLACE FUNCTION @extschema@._metric_samples_host(
    families text[],
    OUT metric text,
    OUT metric_type text,
    OUT help text,
    OUT labels jsonb,
    OUT value double precision)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    mine    constant text[] := ARRAY['pg_runbook_check_up', 'pg_runbook_memory_limit_bytes',
                                     'pg_runbook_memory_used_bytes', 'pg_runbook_memory_used_ratio',
                                     'pg_runbook_filesystem_size_bytes', 'pg_runbook_filesystem_free_bytes',
                                     'pg_runbook_filesystem_used_ratio', 'pg_runbook_filesystem_inodes_free',
                                     'pg_runbook_filesystem_inodes_used_ratio', 'pg_runbook_temp_file_bytes',
                                     'pg_runbook_load_average', 'pg_runbook_host_cpus'];
    r       record;
    l       record;
    ok      boolean := true;
    js      jsonb;
BEGIN
    IF NOT (families IS NULL OR families && mine) THEN
        RETURN;
    END IF;
    BEGIN
        -- read whole before anything is returned
        SELECT jsonb_agg(to_jsonb(h)) INTO js FROM @extschema@.host() h;
    EXCEPTION WHEN OTHERS THEN
        ok := false;
    END;
    IF ok THEN
        metric_type := 'gauge';
        FOR r IN SELECT * FROM jsonb_to_recordset(js)
                   AS x(kind text, name text, tablespace text, mount_point text, source text,
                        size_bytes bigint, used_bytes bigint, free_bytes bigint, used_pct numeric,
                        inodes bigint, inodes_free bigint, inodes_used_pct numeric,
                        temp_file_bytes bigint, load1 float8, load5 float8, load15 float8, cpus int)
        LOOP
            IF r.kind = 'memory' AND r.size_bytes IS NOT NULL THEN
                labels := jsonb_build_object('source', r.source);
                metric := 'pg_runbook_memory_limit_bytes'; value := r.size_bytes;
                help := 'Memory the server may use: its cgroup''s limit, else the machine''s memory.';
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                metric := 'pg_runbook_memory_used_bytes'; value := r.used_bytes;
                help := 'Memory in use of that limit, file-backed page cache not counted.';
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                metric := 'pg_runbook_memory_used_ratio'; value := round(r.used_pct / 100, 4);
                help := 'Memory in use of the limit (1 = the kernel''s OOM killer ends a backend and the cluster restarts).';
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            ELSIF r.kind = 'filesystem' AND r.size_bytes IS NOT NULL THEN
                labels := jsonb_build_object('location', r.name, 'tablespace', coalesce(r.tablespace, ''),
                                             'mount_point', coalesce(r.mount_point, ''));
                metric := 'pg_runbook_filesystem_size_bytes'; value := r.size_bytes;
                help := 'Size of the filesystem holding the data directory, pg_wal or a tablespace.';
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                metric := 'pg_runbook_filesystem_free_bytes'; value := r.free_bytes;
                help := 'Bytes free on that filesystem for the server (not root''s reserve).';
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                metric := 'pg_runbook_filesystem_used_ratio'; value := round(r.used_pct / 100, 4);
                help := 'Use of that filesystem, as df counts it (1 = full).';
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                IF r.inodes IS NOT NULL THEN
                    metric := 'pg_runbook_filesystem_inodes_free'; value := r.inodes_free;
                    help := 'Inodes free on that filesystem.';
                    IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                    metric := 'pg_runbook_filesystem_inodes_used_ratio'; value := round(r.inodes_used_pct / 100, 4);
                    help := 'Inodes in use on that filesystem (1 = no file can be created).';
                    IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                END IF;
                IF r.temp_file_bytes IS NOT NULL THEN
                    labels := jsonb_build_object('location', r.name, 'tablespace', coalesce(r.tablespace, ''));
                    metric := 'pg_runbook_temp_file_bytes'; value := r.temp_file_bytes;
                    help := 'Temporary files (pgsql_tmp) in the data directory or a tablespace now.';
                    IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                END IF;
            ELSIF r.kind = 'cpu' THEN
                labels := '{}';
                metric := 'pg_runbook_host_cpus'; value := r.cpus;
                help := 'CPUs the server may run on.';
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                metric := 'pg_runbook_load_average';
                help := 'The machine''s load average over 1, 5 and 15 minutes.';
                FOR l IN SELECT * FROM (VALUES ('1m', r.load1), ('5m', r.load5), ('15m', r.load15)) AS v(period, avg)
                           WHERE v.avg IS NOT NULL LOOP
                    labels := jsonb_build_object('period', l.period); value := l.avg;
                    IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                END LOOP;
            END IF;
        END LOOP;
    END IF;
    metric := 'pg_runbook_check_up'; metric_type := 'gauge';
    help := 'Whether a check could run (1) or not (0: its series are absent, not zero).';
    labels := jsonb_build_object('check', 'host'); value := CASE WHEN ok THEN 1 ELSE 0 END;
    IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._metric_samples_host(text[]) IS
'internal: the memory, filesystem, temporary file, load and CPU families (runbook.host()), for metric_samples()';

REVOKE ALL ON FUNCTION @extschema@._metric_samples_host(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._metric_samples_host(text[]) TO pg_monitor;
