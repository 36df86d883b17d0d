-- A check of triage() (80_triage/triage.sql runs them): integrity: invalid
-- indexes (this database).
-- a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY leaves one:
-- not used by queries, still maintained (and a unique one still refuses
-- duplicates).  Builds in progress are not findings.

CREATE OR REPLACE FUNCTION @extschema@._triage_invalid_indexes(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'invalid_indexes';
    FOR r IN
        SELECT i.indexrelid::regclass AS idx, i.indrelid::regclass AS tbl, i.indisunique, ic.relname,
               @extschema@.relation_size_nowait(i.indexrelid::regclass) AS bytes
          FROM pg_index i
          JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE NOT i.indisvalid
           AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                            WHERE p.relid = i.indrelid OR p.index_relid = i.indexrelid)
         ORDER BY i.indexrelid::regclass::text
         LIMIT 20
    LOOP
        f.severity := 'SEV3';
        f.finding := format('invalid index %s on %s in %s%s: not used by queries, still maintained on every write%s',
                            r.idx, r.tbl, quote_ident(current_database()),
                            CASE WHEN r.relname ~ '_ccnew[0-9]*$' THEN ' (left by a failed REINDEX CONCURRENTLY)'
                                 WHEN r.relname ~ '_ccold[0-9]*$' THEN ' (old copy left by an interrupted REINDEX CONCURRENTLY)'
                                 ELSE ' (a failed CREATE INDEX CONCURRENTLY)' END,
                            CASE WHEN r.indisunique THEN '; being unique, it still refuses duplicates' ELSE '' END);
        f.evidence := jsonb_build_object('index', r.idx::text, 'table', r.tbl::text, 'datname', current_database(),
                                         'unique', r.indisunique, 'size_bytes', r.bytes);
        f.action := 'rebuild it (REINDEX INDEX CONCURRENTLY) or drop it; find why the build failed in the server log (a unique violation, a deadlock, a cancel)';
        f.remedy_sql := CASE WHEN r.relname ~ '_cc(new|old)[0-9]*$'
                             THEN @extschema@._runnable('sql', 'DROP INDEX CONCURRENTLY %R;', r.idx)
                             ELSE @extschema@._runnable('sql', 'REINDEX INDEX CONCURRENTLY %R;  -- or drop it: DROP INDEX CONCURRENTLY', r.idx) END;
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_invalid_indexes(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_invalid_indexes(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_invalid_indexes(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
