-- A per-database check of triage() (80_triage/triage_database.sql runs it
-- in every database): the migrations of this database
-- (_migration_status(), this database's part of migration_status()).
-- Its SQL is to be run in this database (the finding's datname).

CREATE OR REPLACE FUNCTION @extschema@._triage_db_migrations(thresholds jsonb)
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'migrations';
    FOR r IN SELECT * FROM @extschema@._migration_status('200ms')
              WHERE status IN ('failed', 'dirty', 'partial', 'locked') LOOP
        f.severity := CASE WHEN r.status = 'locked' THEN 'SEV3' ELSE 'SEV2' END;
        f.finding := format('%s migration %s in %s of %s: %s', r.tool, coalesce(r.migration, ''), r.migration_table,
                            quote_ident(current_database()), r.status);
        f.evidence := jsonb_strip_nulls(jsonb_build_object('tool', r.tool, 'migration_table', r.migration_table::text,
                          'datname', current_database(),
                          'status', r.status, 'migration', r.migration, 'started_at', r.started_at, 'detail', r.detail));
        -- what to do, with the tool's shell command (built by _runnable('shell')) to read
        -- as a command; remedy_sql holds only SQL; one line (a tool's log, as
        -- Prisma keeps the whole error on many lines, stays in the evidence)
        f.action := CASE WHEN r.remedy_command IS NOT NULL
                         THEN @extschema@._runnable('text', '%s; in a shell: %s', coalesce(r.remedy, 'repair the migration'), r.remedy_command)
                         ELSE @extschema@._runnable('text', '%s', coalesce(r.remedy, nullif(split_part(r.detail, E'\n', 1), ''),
                                                                     'repair the migration, then rerun the tool')) END;
        f.remedy_sql := coalesce(r.remedy_sql,
                                 @extschema@._runnable('sql', 'SELECT tool, migration_table, status, migration, detail, remedy, remedy_command FROM %I.migration_status() WHERE status <> ''last_applied'';',
                                                       '@extschema@'));
        f.datname := current_database();
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_db_migrations(jsonb) IS
'internal: a per-database check of triage(), run in every database by _triage_database()';

REVOKE ALL ON FUNCTION @extschema@._triage_db_migrations(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_db_migrations(jsonb) TO pg_monitor;
