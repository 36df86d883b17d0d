-- A check of triage() (80_triage/triage.sql runs them): xmin horizon:
-- prepared transactions.

CREATE OR REPLACE FUNCTION @extschema@._triage_prepared_transactions(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_xmin2 numeric := @extschema@._threshold('xmin_age_sev2_xids');
BEGIN
    f.check_name := 'prepared_transactions';
    FOR r IN
        SELECT p.gid, p.owner, p.database, p.prepared, now() - p.prepared AS age, age(p.transaction) AS xid_age
          FROM pg_prepared_xacts p
         ORDER BY p.prepared
    LOOP
        f.severity := CASE WHEN extract(epoch FROM r.age) >= @extschema@._threshold('prepared_xact_seconds')
                             OR r.xid_age >= t_xmin2 THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('prepared transaction %L (database %s) open for %s: it holds its locks and the xmin horizon',
                            r.gid, r.database, date_trunc('second', r.age));
        f.evidence := jsonb_build_object('source', 'prepared', 'gid', r.gid, 'owner', r.owner, 'datname', r.database,
                                         'age_s', @extschema@._secs(r.age), 'xid_age', r.xid_age);
        f.action := @extschema@._runnable('text', 'ask the transaction manager to finish it; if it is orphaned, roll it back by hand in database %I (or COMMIT PREPARED if its work must stay)', r.database);
        f.remedy_sql := @extschema@._runnable('sql', 'ROLLBACK PREPARED %L;', r.gid);
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_prepared_transactions(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_prepared_transactions(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_prepared_transactions(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
