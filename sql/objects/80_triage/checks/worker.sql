-- A check of triage() (80_triage/triage.sql runs them): worker.

CREATE OR REPLACE FUNCTION @extschema@._triage_worker(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'worker';
    IF NOT @extschema@._is_preloaded() THEN
        f.severity := 'SEV4';
        f.finding := 'pg_runbook is not in shared_preload_libraries: no background worker, no audit ring';
        f.evidence := jsonb_build_object('shared_preload_libraries', current_setting('shared_preload_libraries'));
        f.action := 'add pg_runbook to shared_preload_libraries and restart to enable policies';
        f.remedy_sql := @extschema@._runnable('sql', 'ALTER SYSTEM SET shared_preload_libraries = %L;  -- then restart the server',
                                              array_to_string(@extschema@._preloaded_libraries() || 'pg_runbook'::text, ','));
        RETURN NEXT f;
    ELSE
        SELECT * INTO r FROM @extschema@.worker_status();
        f.evidence := jsonb_build_object('running', r.running, 'paused', r.paused, 'pid', r.pid, 'cycles', r.cycles,
                          'actions', r.actions, 'last_error', r.last_error, 'last_error_at', r.last_error_at,
                          'last_success_at', r.last_success_at);
        IF NOT r.running THEN
            f.severity := 'SEV2';
            f.finding := 'pg_runbook worker is not running: policies are not enforced';
            f.action := @extschema@._runnable('text', 'see the server log for why it exited (pg_runbook.database = %L)', current_setting('pg_runbook.database', true));
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.worker_status();', '@extschema@');
            RETURN NEXT f;
        ELSIF r.paused THEN
            f.severity := 'SEV3';
            f.finding := 'pg_runbook worker is paused: policies are not enforced';
            f.action := 'resume it when the maintenance that paused it is over';
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT %I.resume_worker();', '@extschema@');
            RETURN NEXT f;
        END IF;
        -- the worker keeps its last error beside its last success: an
        -- error that a later successful cycle superseded is over
        IF r.last_error IS NOT NULL
           AND (r.last_success_at IS NULL OR r.last_error_at >= r.last_success_at) THEN
            f.severity := 'SEV3';
            f.finding := format('pg_runbook worker error at %s: %s', date_trunc('second', r.last_error_at), r.last_error);
            f.action := 'fix the cause (policy, privileges) shown in the error';
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.worker_status();', '@extschema@');
            RETURN NEXT f;
        END IF;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_worker(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_worker(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_worker(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
