-- A check of triage() (80_triage/triage.sql runs them): xmin horizon:
-- sessions.

CREATE OR REPLACE FUNCTION @extschema@._triage_xmin_horizon(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_xmin  numeric := @extschema@._threshold('xmin_age_xids');
    t_xmin2 numeric := @extschema@._threshold('xmin_age_sev2_xids');
BEGIN
    f.check_name := 'xmin_horizon';
    FOR r IN
        SELECT s.pid, s.usename, s.datname, s.state, s.xact_age,
               greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0)) AS age
          FROM unnest(sess) s
         WHERE greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0)) >= t_xmin
         ORDER BY 6 DESC
    LOOP
        f.severity := CASE WHEN r.age >= t_xmin2 THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('pid %s (%s) holds the xmin horizon back by %s transactions: vacuum cannot remove dead rows',
                            r.pid, r.state, r.age);
        f.evidence := jsonb_build_object('source', 'session', 'pid', r.pid, 'usename', r.usename, 'datname', r.datname,
                                         'state', r.state, 'xmin_age', r.age, 'xact_age_s', @extschema@._secs(r.xact_age));
        f.action := 'end the transaction';
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.terminate(%s, %L);',
                               '@extschema@', r.pid, format('holds the xmin horizon back by %s transactions', r.age));
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_xmin_horizon(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_xmin_horizon(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_xmin_horizon(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
