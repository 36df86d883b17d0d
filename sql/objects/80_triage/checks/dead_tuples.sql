-- A per-database check of triage() (80_triage/triage_database.sql runs it
-- in every database): dead tuples.  The thresholds come from the database
-- triage() runs in (alert_thresholds there), passed in thresholds; the
-- remedy is to be run in this database (the finding's datname).

CREATE OR REPLACE FUNCTION @extschema@._triage_db_dead_tuples(thresholds jsonb)
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_min   numeric := coalesce((thresholds->>'dead_tuples_min')::numeric, @extschema@._threshold('dead_tuples_min'));
    t_pct   numeric := coalesce((thresholds->>'dead_tuples_pct')::numeric, @extschema@._threshold('dead_tuples_pct'));
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
              -- pg_stat_user_tables' rows and figures, read with its own
              -- functions: this runs in a fresh worker in every database,
              -- where planning the whole view is most of the cost
              FROM (SELECT c.oid AS relid, n.nspname AS schemaname, c.relname,
                           pg_stat_get_live_tuples(c.oid) AS n_live_tup,
                           pg_stat_get_dead_tuples(c.oid) AS n_dead_tup,
                           pg_stat_get_last_autovacuum_time(c.oid) AS last_autovacuum
                      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.relkind IN ('r', 'm', 'p')
                       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                       AND n.nspname !~ '^pg_toast') t
             WHERE t.n_dead_tup >= t_min
               AND 100.0 * t.n_dead_tup / nullif(t.n_live_tup + t.n_dead_tup, 0) >= t_pct) x;
    IF r.cnt > 0 THEN
        f.severity := 'SEV3';
        f.finding := format('%s table(s) in %s with at least %s%% dead tuples', r.cnt, current_database(), t_pct);
        f.evidence := jsonb_build_object('datname', current_database(), 'count', r.cnt, 'tables', r.top);
        f.action := 'check that autovacuum keeps up and nothing holds the xmin horizon; vacuum the worst tables';
        f.remedy_sql := @extschema@._runnable('sql', 'VACUUM (VERBOSE, ANALYZE) %R;', r.worst);
        f.datname := current_database();
        RETURN NEXT f;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_db_dead_tuples(jsonb) IS
'internal: a per-database check of triage(), run in every database by _triage_database()';

REVOKE ALL ON FUNCTION @extschema@._triage_db_dead_tuples(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_db_dead_tuples(jsonb) TO pg_monitor;
