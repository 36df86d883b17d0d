-- A check of triage() (80_triage/triage.sql runs them): data page
-- checksum failures (every database).

CREATE OR REPLACE FUNCTION @extschema@._triage_checksum_failures(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'checksum_failures';
    FOR r IN
        SELECT d.datname, coalesce(d.datname, '(shared objects)') AS dbname, d.checksum_failures,
               d.checksum_last_failure
          FROM pg_stat_database d
         WHERE d.checksum_failures > 0
         ORDER BY d.checksum_last_failure DESC NULLS LAST, 2
    LOOP
        f.severity := CASE WHEN r.checksum_last_failure > now() - interval '1 day' THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('%s: %s data page checksum failure(s), the last at %s: storage returned damaged pages',
                            CASE WHEN r.datname IS NULL THEN 'shared catalogs' ELSE 'database ' || quote_ident(r.datname) END,
                            r.checksum_failures, date_trunc('second', r.checksum_last_failure));
        f.evidence := jsonb_build_object('datname', r.datname, 'checksum_failures', r.checksum_failures,
                                         'checksum_last_failure', r.checksum_last_failure,
                                         'stats_reset', (SELECT s.stats_reset FROM pg_stat_database s
                                                          WHERE s.datname IS NOT DISTINCT FROM r.datname));
        f.action := 'find the damaged relations in the server log (WARNING: page verification failed), check the storage, restore damaged tables from backup and REINDEX damaged indexes';
        f.remedy_sql := @extschema@._runnable('sql',
                            CASE WHEN r.datname = current_database() OR r.datname IS NULL
                                 THEN 'SELECT * FROM %1$I.integrity_check();  SELECT * FROM %1$I.log_summary(%2$L) WHERE category = %3$L;'
                                 ELSE 'SELECT * FROM %1$I.log_summary(%2$L) WHERE category = %3$L;  -- and integrity_check() in the database of this finding (evidence: datname)' END,
                            '@extschema@', (greatest(ceil(extract(epoch FROM now() - r.checksum_last_failure) / 3600), 1) || ' hours'),
                            'checksum_failure');
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_checksum_failures(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_checksum_failures(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_checksum_failures(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
