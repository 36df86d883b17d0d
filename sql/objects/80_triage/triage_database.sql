-- runbook._triage_database(thresholds): the per-database checks of
-- triage(), run in one database.  checks/databases.sql runs it in every
-- database of the server in one call (_on_databases('triage_database',
-- ...): here for the current database, in a worker connected to each other
-- one, as the caller).  The checks (checks/*.sql named _triage_db_<name>,
-- one argument: the thresholds of the database triage() runs in, as jsonb)
-- run in the order of the list, each in its own subtransaction, as
-- _triage_rows() runs the others; each finding carries this database's
-- name.  A check here reads only this database and what it is given: never
-- runbook tables (those of this database are not the ones configured).

CREATE OR REPLACE FUNCTION @extschema@._triage_database(thresholds jsonb)
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    checks  CONSTANT text[] := ARRAY['dead_tuples', 'invalid_indexes', 'not_valid_constraints', 'migrations',
                                     'sequences', 'wraparound_tables', 'bloat'];
    chk     text;
    f       @extschema@.triage_finding;
    errmsg  text;
    errhint text;
    errcode text;
BEGIN
    FOREACH chk IN ARRAY checks LOOP
        BEGIN
            FOR f IN EXECUTE format('SELECT * FROM %I.%I($1)', '@extschema@', '_triage_db_' || chk)
                     USING thresholds
            LOOP
                f.datname := current_database();
                RETURN NEXT f;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
            f := NULL;
            f.severity := 'SEV4'; f.check_name := chk; f.datname := current_database();
            f.finding := format('check not run in %s: %s', current_database(), errmsg);
            f.evidence := jsonb_build_object('datname', current_database(), 'sqlstate', errcode, 'hint', nullif(errhint, ''));
            f.action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller');
            RETURN NEXT f;
        END;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_database(jsonb) IS
'internal: the per-database checks of triage() in this database (run in every database by the databases check of triage())';

REVOKE ALL ON FUNCTION @extschema@._triage_database(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_database(jsonb) TO pg_monitor;
