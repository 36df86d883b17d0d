-- A check of triage() (80_triage/triage.sql runs them): xmin horizon:
-- sessions and standbys that really hold it (_xmin_holders(): never a
-- statement whose own snapshot is young, never the caller).  Prepared
-- transactions and slots have their own checks.

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
    FOR r IN SELECT * FROM @extschema@._xmin_holders(sess, t_xmin::bigint) LOOP
        f.severity := CASE WHEN r.age >= t_xmin2 THEN 'SEV2' ELSE 'SEV3' END;
        IF r.source = 'standby' THEN
            f.finding := format('standby %s (walsender pid %s) holds the xmin horizon back by %s transactions through hot_standby_feedback: vacuum cannot remove dead rows',
                                coalesce(nullif(r.application_name, ''), '?'), r.pid, r.age);
            f.action := @extschema@._runnable('text', 'on that standby, end its long queries (its pg_stat_activity), or turn hot_standby_feedback off there');
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.replication_status();', '@extschema@');
        ELSE
            f.finding := format('pid %s (%s, %s, %s) holds the xmin horizon back by %s transactions (%s, for %s): vacuum cannot remove dead rows',
                                r.pid, r.state, r.usename, coalesce(nullif(r.application_name, ''), 'no application name'),
                                r.age, r.why, date_trunc('second', r.xact_age));
            IF r.state IN ('active', 'fastpath function call') THEN
                -- a cancel ends its statement, and with it an explicit transaction's snapshot and xid
                f.action := @extschema@._runnable('text', 'cancel its statement (its transaction ends with it), then VACUUM the tables that bloated');
                f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.cancel(%s, %L);', '@extschema@', r.pid,
                                    format('holds the xmin horizon back by %s transactions', r.age));
            ELSE
                f.action := @extschema@._runnable('text', 'end the transaction (nothing runs in it); set idle_in_transaction_session_timeout; then VACUUM the tables that bloated');
                f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.terminate(%s, %L);', '@extschema@', r.pid,
                                    format('holds the xmin horizon back by %s transactions', r.age));
            END IF;
        END IF;
        f.evidence := jsonb_build_object('source', r.source, 'pid', r.pid, 'usename', r.usename, 'datname', r.datname,
                                         'application_name', r.application_name, 'state', r.state, 'xmin_age', r.age,
                                         'own_xid', r.own_xid, 'why', r.why,
                                         'xact_age_s', @extschema@._secs(r.xact_age), 'query_age_s', @extschema@._secs(r.query_age));
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_xmin_horizon(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_xmin_horizon(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_xmin_horizon(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
