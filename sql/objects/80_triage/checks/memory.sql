-- A check of triage() (80_triage/triage.sql runs them): memory in use of
-- the server's limit (runbook.host(): its cgroup, else the machine), the
-- free -h of the runbooks.  At 100 % the kernel's OOM killer ends a
-- backend and the postmaster restarts the whole cluster.

CREATE OR REPLACE FUNCTION @extschema@._triage_memory(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    m       record;
    top     jsonb;
    big     record;
BEGIN
    f.check_name := 'memory';
    SELECT * INTO m FROM @extschema@.host() h WHERE h.kind = 'memory';
    IF m.used_pct IS NULL OR m.used_pct < @extschema@._threshold('memory_sev3_pct') THEN
        RETURN;
    END IF;
    f.severity := CASE WHEN m.used_pct >= @extschema@._threshold('memory_sev1_pct') THEN 'SEV1'
                       WHEN m.used_pct >= @extschema@._threshold('memory_sev2_pct') THEN 'SEV2'
                       ELSE 'SEV3' END;
    -- who holds it: private memory per backend, largest first
    SELECT jsonb_agg(jsonb_build_object('pid', r.pid, 'usename', r.usename, 'application_name', r.application_name,
                                        'state', r.state, 'private_memory', r.private_memory,
                                        'query', left(r.query, 200)) ORDER BY r.private_memory_bytes DESC)
      INTO top
      FROM (SELECT * FROM @extschema@.backend_resources() r
             WHERE r.private_memory_bytes IS NOT NULL ORDER BY r.private_memory_bytes DESC LIMIT 5) r;
    SELECT r.pid, r.private_memory INTO big
      FROM @extschema@.backend_resources() r
     WHERE r.backend_type = 'client backend' AND r.state = 'active' AND r.pid <> pg_backend_pid()
       AND r.private_memory_bytes IS NOT NULL
     ORDER BY r.private_memory_bytes DESC LIMIT 1;
    f.finding := format('memory in use %s%% of the %s limit (%s%s): at 100 %% the kernel ends a backend and the whole cluster restarts',
                        m.used_pct, m.size, m.source, coalesce(' ' || m.path, ''));
    f.evidence := jsonb_build_object('used_pct', m.used_pct, 'limit_bytes', m.size_bytes, 'used_bytes', m.used_bytes,
                                     'cache_bytes', m.cache_bytes, 'source', m.source, 'cgroup', m.path,
                                     'largest', coalesce(top, '[]'));
    f.action := 'cancel the statement holding the most private memory (evidence: largest); enable starter_memory_guard to do it before the kernel does; then lower work_mem / hash_mem_multiplier or max_connections, or raise the limit';
    IF big.pid IS NOT NULL THEN
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.cancel(%s, %L);', '@extschema@', big.pid,
                                              format('memory: the largest private memory (%s)', big.private_memory));
    ELSE
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT pid, usename, state, private_memory, query FROM %I.backend_resources() ORDER BY private_memory_bytes DESC NULLS LAST LIMIT 10;',
                                              '@extschema@');
    END IF;
    RETURN NEXT f;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_memory(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_memory(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_memory(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
