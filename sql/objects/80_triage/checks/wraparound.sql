-- A check of triage() (80_triage/triage.sql runs them): transaction ID
-- and multixact wraparound.

CREATE OR REPLACE FUNCTION @extschema@._triage_wraparound(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'wraparound';
    FOR r IN
        SELECT d.datname, age(d.datfrozenxid) AS xid_age, mxid_age(d.datminmxid) AS mxid_age,
               round(100.0 * greatest(age(d.datfrozenxid), mxid_age(d.datminmxid)) / 2147483648, 1) AS pct,
               current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max,
               current_setting('autovacuum_multixact_freeze_max_age')::bigint AS mxid_freeze_max
          FROM pg_database d
         ORDER BY 4 DESC
    LOOP
        IF r.pct >= @extschema@._threshold('wraparound_sev2_pct')
           OR r.xid_age > r.freeze_max * 1.2 OR r.mxid_age > r.mxid_freeze_max * 1.2 THEN
            f.severity := CASE WHEN r.pct >= @extschema@._threshold('wraparound_sev1_pct') THEN 'SEV1'
                               WHEN r.pct >= @extschema@._threshold('wraparound_sev2_pct') THEN 'SEV2'
                               ELSE 'SEV3' END;
            f.finding := format('database %s: xid age %s, multixact age %s (%s%% of the 2^31 hard limit; autovacuum_freeze_max_age %s)',
                                r.datname, r.xid_age, r.mxid_age, r.pct, r.freeze_max);
            f.evidence := jsonb_build_object('datname', r.datname, 'xid_age', r.xid_age, 'mxid_age', r.mxid_age,
                                             'pct_of_limit', r.pct, 'autovacuum_freeze_max_age', r.freeze_max,
                                             'autovacuum_multixact_freeze_max_age', r.mxid_freeze_max);
            f.action := 'find what holds the xmin horizon (see xmin_horizon rows), then VACUUM (FREEZE) the oldest tables of that database';
            f.remedy_sql := @extschema@._runnable('sql', '-- in the database of this finding (evidence: datname): SELECT c.oid::regclass, age(c.relfrozenxid) FROM pg_class c WHERE c.relkind IN (''r'', ''m'', ''t'') ORDER BY 2 DESC LIMIT 10; then VACUUM (FREEZE, VERBOSE) <table>;');
            RETURN NEXT f;
        END IF;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_wraparound(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_wraparound(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_wraparound(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
