-- A check of triage() (80_triage/triage.sql runs them): migrations.

CREATE OR REPLACE FUNCTION @extschema@._triage_migrations(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'migrations';
    FOR r IN SELECT * FROM @extschema@.migration_status('200ms')
              WHERE status IN ('failed', 'dirty', 'partial', 'locked') LOOP
        f.severity := CASE WHEN r.status = 'locked' THEN 'SEV3' ELSE 'SEV2' END;
        f.finding := format('%s migration %s in %s: %s', r.tool, coalesce(r.migration, ''), r.migration_table, r.status);
        f.evidence := jsonb_strip_nulls(jsonb_build_object('tool', r.tool, 'migration_table', r.migration_table::text,
                          'status', r.status, 'migration', r.migration, 'started_at', r.started_at, 'detail', r.detail));
        -- one line: a tool's log (Prisma keeps the whole error, many lines) stays in the evidence
        f.action := CASE WHEN r.status = 'locked'
            THEN @extschema@._runnable('text', 'a migration lock is taken (%s): if no migration runs any more, release it as the remedy says',
                                       coalesce(nullif(left(split_part(r.detail, E'\n', 1), 200), ''), 'see migration_status()'))
            ELSE @extschema@._runnable('text', 'repair what the migration left half done (%s), then mark it with the tool as the remedy says and run the tool again',
                                       coalesce(nullif(left(split_part(r.detail, E'\n', 1), 200), ''), 'see migration_status()')) END;
        f.remedy_sql := @extschema@._migration_remedy(r.tool, r.status, r.migration, r.detail, r.remedy);
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_migrations(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_migrations(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_migrations(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
