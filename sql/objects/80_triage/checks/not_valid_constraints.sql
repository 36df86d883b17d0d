-- A per-database check of triage() (80_triage/triage_database.sql runs it
-- in every database): integrity: constraints added NOT VALID and never
-- validated.  Its remedy is to be run in this database (the finding's
-- datname).
-- existing rows were never checked: orphans (foreign keys) or violating
-- rows may exist.  A foreign key is SEV3, a check or not-null SEV4.

CREATE OR REPLACE FUNCTION @extschema@._triage_db_not_valid_constraints(thresholds jsonb)
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'not_valid_constraints';
    FOR r IN
        SELECT co.conname, co.conrelid::regclass AS tbl, co.contype,
               CASE co.contype WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check' WHEN 'n' THEN 'not-null'
                               ELSE co.contype::text END AS kind,
               co.confrelid::regclass AS ref
          FROM pg_constraint co
         WHERE NOT co.convalidated AND co.conrelid <> 0 AND co.conparentid = 0
         ORDER BY co.contype <> 'f', co.conrelid::regclass::text, co.conname
         LIMIT 20
    LOOP
        f.severity := CASE WHEN r.contype = 'f' THEN 'SEV3' ELSE 'SEV4' END;
        f.finding := format('%s constraint %s on %s in %s is NOT VALID: rows written before it was added were never checked%s',
                            r.kind, quote_ident(r.conname), r.tbl, quote_ident(current_database()),
                            CASE WHEN r.contype = 'f' THEN format(' (rows of %s may reference missing rows of %s)', r.tbl, r.ref) ELSE '' END);
        f.evidence := jsonb_build_object('constraint', r.conname, 'table', r.tbl::text, 'type', r.kind,
                                         'references', r.ref::text, 'datname', current_database());
        f.action := 'validate it (a SHARE UPDATE EXCLUSIVE lock: reads and writes go on); if it fails, fix the rows it names';
        -- validation runs the table owner's code (a CHECK's functions): as the owner
        f.remedy_sql := @extschema@._as_owner_sql(r.tbl, @extschema@._runnable('sql', 'ALTER TABLE %R VALIDATE CONSTRAINT %I', r.tbl, r.conname));
        f.datname := current_database();
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_db_not_valid_constraints(jsonb) IS
'internal: a per-database check of triage(), run in every database by _triage_database()';

REVOKE ALL ON FUNCTION @extschema@._triage_db_not_valid_constraints(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_db_not_valid_constraints(jsonb) TO pg_monitor;
