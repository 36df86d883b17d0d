-- A check of triage() (80_triage/triage.sql runs them): idle in transaction
-- (not blocking).

CREATE OR REPLACE FUNCTION @extschema@._triage_idle_in_transaction(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'idle_in_transaction';
    SELECT count(*) AS cnt, max(s.state_age) AS max_age, array_agg(s.pid ORDER BY s.state_age DESC) AS pids
      INTO r
      FROM unnest(sess) s
     WHERE s.state LIKE 'idle in transaction%'
       AND NOT EXISTS (SELECT 1 FROM unnest(sess) w WHERE s.pid = ANY (w.blocked_by))
       AND extract(epoch FROM s.state_age) >= @extschema@._threshold('idle_xact_seconds');
    IF r.cnt > 0 THEN
        f.severity := 'SEV3';
        f.finding := format('%s session(s) idle in transaction for more than %s s (longest %s)',
                            r.cnt, @extschema@._threshold('idle_xact_seconds'), date_trunc('second', r.max_age));
        f.evidence := jsonb_build_object('count', r.cnt, 'pids', to_jsonb(r.pids), 'max_age_s', @extschema@._secs(r.max_age));
        f.action := 'they hold snapshots and locks; fix the application, set idle_in_transaction_session_timeout';
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.kill_idle(%L, states => ''{idle in transaction}'', dry_run => true);',
                               '@extschema@', @extschema@._threshold('idle_xact_seconds') || ' s');
        RETURN NEXT f;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_idle_in_transaction(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_idle_in_transaction(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_idle_in_transaction(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
