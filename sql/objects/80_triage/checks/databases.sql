-- A check of triage() (80_triage/triage.sql runs it): every database of
-- the server.  _triage_rows() starts the per-database checks
-- (_triage_database(), see 80_triage/triage_database.sql) in every other
-- database but the templates first (_on_databases_start(): a worker
-- connected to each as the caller), before its own checks; here this
-- database's run in this session, then the others' findings are collected.
-- It returns their findings, each with its database in datname (where its
-- remedy_sql is to be run), and one finding per database it could not
-- check, with the reason and the fix: triage() never stays silent about a
-- database it did not look at.

CREATE OR REPLACE FUNCTION @extschema@._triage_databases(started bigint, thresholds jsonb)
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    fix     text;
BEGIN
    -- this database, here (each check in its own subtransaction), while the
    -- workers check the others
    FOR f IN SELECT * FROM @extschema@._triage_database(thresholds) LOOP
        f.datname := current_database();
        RETURN NEXT f;
    END LOOP;
    FOR r IN
        SELECT x.* FROM @extschema@._on_databases_collect(started, NULL::@extschema@.triage_finding) x
    LOOP
        IF NOT r.summary THEN
            f := r.r;
            f.datname := r.datname;
            RETURN NEXT f;
        ELSIF NOT r.checked THEN
            fix := @extschema@._database_fix(r.code, r.datname);
            f := NULL;
            f.check_name := 'databases';
            f.datname := r.datname;
            f.severity := CASE WHEN r.code IN ('timeout', 'error', 'locked') THEN 'SEV3' ELSE 'SEV4' END;
            f.finding := format('database %s not checked: %s', r.datname, r.reason);
            f.evidence := jsonb_build_object('datname', r.datname, 'code', r.code, 'reason', r.reason,
                                             'elapsed_ms', round(r.elapsed_ms::numeric, 1));
            f.action := CASE r.code
                WHEN 'not_installed' THEN 'install pg_runbook in that database (and in template1, for the databases to come)'
                WHEN 'other_version' THEN 'update pg_runbook in that database to the version of this one'
                WHEN 'no_privilege' THEN 'grant the role CONNECT on that database, or run triage() as a role that has it'
                WHEN 'cannot_login' THEN 'run triage() as a role that may log in: the checks connect as the calling role'
                WHEN 'not_allowed' THEN 'nothing to do if it is kept closed on purpose (datallowconn is false)'
                WHEN 'timeout' THEN 'look at that database directly, or give each database more time (pg_runbook.per_database_timeout)'
                WHEN 'connection_limit' THEN 'the role or database is at its connection limit: run triage() again when connections are free'
                WHEN 'no_slot' THEN 'only reserved connection slots are left: run triage() as a superuser, or when connections are free'
                WHEN 'no_worker_slot' THEN 'raise max_worker_processes (restart) or wait for background workers to end'
                WHEN 'no_shared_memory' THEN 'the server is out of dynamic shared memory segments (parallel queries hold them): run triage() again when they are released'
                ELSE 'see the reason; runbook.databases() checks every database again' END;
            f.remedy_sql := fix;
            RETURN NEXT f;
        END IF;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_databases(bigint, jsonb) IS
'internal: a check of triage(), run by _triage_rows(): the per-database checks here, the findings of the other databases from the call _triage_rows() started, and the databases that could not be checked';

REVOKE ALL ON FUNCTION @extschema@._triage_databases(bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_databases(bigint, jsonb) TO pg_monitor;
