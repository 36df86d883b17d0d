-- A check of triage() (80_triage/triage.sql runs them): slow queries
-- (optional: pg_stat_statements).

CREATE OR REPLACE FUNCTION @extschema@._triage_slow_queries(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'slow_queries';
    SELECT count(*) AS cnt, max(q.mean_ms) AS worst,
           jsonb_agg(jsonb_build_object('queryid', q.queryid, 'mean_ms', q.mean_ms, 'calls', q.calls,
                                        'query', left(q.query, 200)) ORDER BY q.mean_ms DESC) AS list
      INTO r
      FROM @extschema@.slow_queries(5, 'mean', @extschema@._threshold('slow_query_min_calls')::bigint) q
     WHERE q.mean_ms >= @extschema@._threshold('slow_query_mean_ms');
    IF r.cnt > 0 THEN
        f.severity := 'SEV3';
        f.finding := format('%s statement(s) average at least %s ms per call (worst %s ms)', r.cnt,
                            @extschema@._threshold('slow_query_mean_ms'), r.worst);
        f.evidence := jsonb_build_object('count', r.cnt, 'statements', r.list);
        f.action := 'EXPLAIN (ANALYZE, BUFFERS) the worst, look for missing indexes';
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.slow_queries(10);', '@extschema@');
        RETURN NEXT f;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_slow_queries(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_slow_queries(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_slow_queries(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
