-- A check of triage() (80_triage/triage.sql runs them): configuration.

CREATE OR REPLACE FUNCTION @extschema@._triage_config(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'config';
    FOR r IN SELECT * FROM @extschema@.config_check() WHERE config_check.severity = 'high' LOOP
        f.severity := 'SEV3';
        f.finding := format('%s = %s: %s', r.setting, r.current_value, r.reason);
        f.evidence := jsonb_build_object('setting', r.setting, 'current_value', r.current_value,
                                         'suggested_value', r.suggested_value, 'config_severity', r.severity);
        f.action := 'change the setting';
        f.remedy_sql := r.remedy_sql;
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_config(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_config(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_config(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
