-- runbook.triage(): every check at once, findings ranked SEV1-SEV4.  The
-- checks (checks/*.sql, one function each, returning
-- runbook.triage_finding) run in the order of the list in _triage_rows()
-- (it numbers the findings: ord), each in its own subtransaction: a check
-- that fails (no privilege, a view missing on this server, the log not
-- readable, no pg_stat_statements) is one SEV4 finding that says why, and
-- the others still run.  The per-database checks (triage_database.sql) of
-- every other database are started first, in workers
-- (_on_databases_start()), so that they run while this session runs its
-- own checks; the check "databases" (checks/databases.sql), last, runs
-- them here for this database, collects the others' findings and reports
-- the databases it could not check.  A finding's
-- datname is the database it is about (from its evidence when the check
-- does not set it), NULL for the server as a whole.  A finding about the
-- past (the server log: its evidence has past_at) has live = false and
-- ranks after every live one.

CREATE OR REPLACE FUNCTION @extschema@._triage_rows(
    OUT severity text,
    OUT check_name text,
    OUT finding text,
    OUT evidence jsonb,
    OUT action text,
    OUT remedy_sql text,
    OUT datname name,
    OUT ord integer,
    OUT live boolean)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    checks  CONSTANT text[] := ARRAY[
        'connections', 'memory', 'disk', 'idle_in_transaction_blocking', 'lock_waits', 'long_running',
        'idle_in_transaction', 'xmin_horizon', 'prepared_transactions', 'replication_slots_xmin',
        'wraparound', 'replication', 'worker', 'config',
        'checksum_failures', 'server_log', 'slow_queries',
        -- last: the per-database checks, started in the other databases below
        'databases'];
    sess    @extschema@.sessions[];
    waits   jsonb;
    roots   integer[];
    chk     text;
    f       @extschema@.triage_finding;
    n       integer := 0;
    errmsg  text;
    errhint text;
    errcode text;
    th      jsonb;
    started bigint;
    start_error text;
BEGIN
    -- The per-database checks of every other database, started now: their
    -- workers run while this session runs the checks below.  The
    -- thresholds are this database's (a check never reads pg_runbook's
    -- tables in another database).
    SELECT coalesce(jsonb_object_agg(t.name, t.value), '{}') INTO th FROM @extschema@.alert_thresholds t;
    BEGIN
        started := @extschema@._on_databases_start('triage_database', NULL, NULL::@extschema@.triage_finding, th);
    EXCEPTION WHEN OTHERS THEN
        start_error := SQLERRM;
    END;

    -- One snapshot of every backend, shared by the checks, and the lock
    -- waits: pid -> seconds waited for the lock (not the statement), and
    -- the root blockers of the wait queues.
    sess := ARRAY(SELECT s FROM @extschema@.sessions s);
    SELECT coalesce(jsonb_object_agg(b.pid, round(extract(epoch FROM b.wait_age), 1)), '{}'),
           array_agg(DISTINCT b.root_blocker ORDER BY b.root_blocker) FILTER (WHERE b.root_blocker IS NOT NULL)
      INTO waits, roots
      FROM @extschema@.blocking_locks() b;

    FOREACH chk IN ARRAY checks LOOP
        BEGIN
            IF chk = 'databases' AND started IS NULL THEN
                RAISE EXCEPTION '%', start_error;
            END IF;
            FOR f IN EXECUTE CASE WHEN chk = 'databases'
                                  THEN format('SELECT * FROM %I._triage_databases($4, $5)', '@extschema@')
                                  ELSE format('SELECT * FROM %I.%I($1, $2, $3)', '@extschema@', '_triage_' || chk) END
                     USING sess, waits, roots, started, th
            LOOP
                severity := f.severity; check_name := f.check_name; finding := f.finding;
                evidence := f.evidence; action := f.action; remedy_sql := f.remedy_sql;
                datname := coalesce(f.datname, (f.evidence->>'datname')::name);
                live := f.evidence->'past_at' IS NULL;
                n := n + 1; ord := n; RETURN NEXT;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            -- the server log not readable here (collector off with stderr
            -- not in a file, no file-read rights) is said once, as
            -- information, like any other check that could not run
            GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
            severity := 'SEV4'; check_name := chk;
            finding := CASE chk WHEN 'server_log' THEN 'server log not read: ' ELSE 'check not run: ' END
                       || @extschema@._one_line(errmsg);
            evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
            action := CASE WHEN nullif(errhint, '') IS NOT NULL THEN @extschema@._one_line(errhint)
                           WHEN chk = 'server_log' THEN 'see log_summary()'
                           WHEN chk = 'slow_queries' THEN 'install pg_stat_statements'
                           ELSE 'grant pg_monitor to the caller' END;
            remedy_sql := NULL; datname := NULL; live := true;
            n := n + 1; ord := n; RETURN NEXT;
        END;
    END LOOP;

    IF n = 0 THEN
        severity := 'SEV4'; check_name := 'summary';
        finding := 'no problem found';
        evidence := jsonb_build_object('checked_at', now());
        action := 'none'; remedy_sql := NULL; datname := NULL; live := true;
        n := n + 1; ord := n; RETURN NEXT;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_rows() IS
'internal: the findings of triage(), in check order';

REVOKE ALL ON FUNCTION @extschema@._triage_rows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_rows() TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.triage(
    OUT severity text,
    OUT check_name text,
    OUT finding text,
    OUT evidence jsonb,
    OUT action text,
    OUT remedy_sql text,
    OUT datname name,
    OUT live boolean)
RETURNS SETOF record
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.severity, t.check_name, t.finding, t.evidence, t.action, t.remedy_sql, t.datname, t.live
      FROM @extschema@._triage_rows() t
     ORDER BY t.live DESC, t.severity, t.check_name, t.ord
$$;

COMMENT ON FUNCTION @extschema@.triage() IS
'what is wrong now, SEV1 (act now) to SEV4 (information), with evidence, the SQL to run next (audited runbook.terminate/cancel, never the bare built-ins) and the database it is about; includes data integrity (checksum failures, invalid indexes, NOT VALID constraints, failed migrations), the server log of the last hour, which is the past (live = false, ranked after the live findings), and the per-database checks in every database of the server (a database it could not check is a finding); thresholds in alert_thresholds';

REVOKE ALL ON FUNCTION @extschema@.triage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.triage() TO pg_monitor;
