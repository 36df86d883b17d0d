-- A check of triage() (80_triage/triage.sql runs them): dead tuples (this
-- database).

CREATE OR REPLACE FUNCTION @extschema@._triage_dead_tuples(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    -- once, not per table
    t_min   numeric := @extschema@._threshold('dead_tuples_min');
    t_pct   numeric := @extschema@._threshold('dead_tuples_pct');
BEGIN
    f.check_name := 'dead_tuples';
    SELECT count(*) AS cnt,
           jsonb_agg(jsonb_build_object('relation', x.rel, 'n_dead_tup', x.n_dead_tup, 'dead_pct', x.pct,
                                        'last_autovacuum', x.last_autovacuum) ORDER BY x.n_dead_tup DESC)
               FILTER (WHERE x.rn <= 5) AS top,
           (array_agg(x.relid ORDER BY x.n_dead_tup DESC))[1] AS worst
      INTO r
      FROM (SELECT format('%I.%I', t.schemaname, t.relname) AS rel, t.relid, t.n_dead_tup, t.last_autovacuum,
                   round(100.0 * t.n_dead_tup / nullif(t.n_live_tup + t.n_dead_tup, 0), 1) AS pct,
                   row_number() OVER (ORDER BY t.n_dead_tup DESC) AS rn
              FROM pg_stat_user_tables t
             WHERE t.n_dead_tup >= t_min
               AND 100.0 * t.n_dead_tup / nullif(t.n_live_tup + t.n_dead_tup, 0) >= t_pct) x;
    IF r.cnt > 0 THEN
        f.severity := 'SEV3';
        f.finding := format('%s table(s) in %s with at least %s%% dead tuples', r.cnt, current_database(), t_pct);
        f.evidence := jsonb_build_object('datname', current_database(), 'count', r.cnt, 'tables', r.top);
        f.action := 'check that autovacuum keeps up and nothing holds the xmin horizon; vacuum the worst tables';
        f.remedy_sql := @extschema@._runnable('sql', 'VACUUM (VERBOSE, ANALYZE) %R;', r.worst);
        RETURN NEXT f;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_dead_tuples(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_dead_tuples(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_dead_tuples(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
