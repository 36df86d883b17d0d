-- A per-database check of triage() (80_triage/triage_database.sql runs it
-- in every database): dead tuples.  The thresholds come from the database
-- triage() runs in (alert_thresholds there), passed in thresholds; the
-- remedy is to be run in this database (the finding's datname).  The cause
-- is named when the catalog shows one: autovacuum off for the table
-- (autovacuum_enabled = off: the remedy turns it back on before the VACUUM)
-- or for the server; otherwise autovacuum is behind or something holds the
-- xmin horizon (the xmin_horizon, prepared_transactions and
-- replication_slots_xmin findings).

CREATE OR REPLACE FUNCTION @extschema@._triage_db_dead_tuples(thresholds jsonb)
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    av_off  boolean := NOT current_setting('autovacuum')::boolean;
    t_min   numeric := coalesce((thresholds->>'dead_tuples_min')::numeric, @extschema@._threshold('dead_tuples_min'));
    t_pct   numeric := coalesce((thresholds->>'dead_tuples_pct')::numeric, @extschema@._threshold('dead_tuples_pct'));
BEGIN
    f.check_name := 'dead_tuples';
    SELECT count(*) AS cnt,
           jsonb_agg(jsonb_build_object('relation', x.rel, 'n_dead_tup', x.n_dead_tup, 'dead_pct', x.pct,
                                        'last_autovacuum', x.last_autovacuum, 'autovacuum_enabled', NOT x.table_off)
                     ORDER BY x.n_dead_tup DESC)
               FILTER (WHERE x.rn <= 5) AS top,
           (array_agg(x.relid ORDER BY x.n_dead_tup DESC))[1] AS worst,
           (array_agg(x.rel ORDER BY x.n_dead_tup DESC))[1] AS worst_name,
           (array_agg(x.table_off ORDER BY x.n_dead_tup DESC))[1] AS worst_off,
           (array_agg(x.last_vacuum ORDER BY x.n_dead_tup DESC))[1] AS worst_last
      INTO r
      FROM (SELECT t.relid, format('%I.%I', t.schemaname, t.relname) AS rel, t.n_dead_tup, t.last_autovacuum,
                   coalesce(t.last_autovacuum, t.last_vacuum) AS last_vacuum,
                   round(100.0 * t.n_dead_tup / nullif(t.n_live_tup + t.n_dead_tup, 0), 1) AS pct,
                   coalesce(@extschema@._reloption(t.reloptions, 'autovacuum_enabled') IN ('false', 'off', 'no', '0'), false) AS table_off,
                   row_number() OVER (ORDER BY t.n_dead_tup DESC) AS rn
              -- pg_stat_user_tables' rows and figures, read with its own
              -- functions: this runs in a fresh worker in every database,
              -- where planning the whole view is most of the cost
              FROM (SELECT c.oid AS relid, n.nspname AS schemaname, c.relname, c.reloptions,
                           pg_stat_get_live_tuples(c.oid) AS n_live_tup,
                           pg_stat_get_dead_tuples(c.oid) AS n_dead_tup,
                           pg_stat_get_last_autovacuum_time(c.oid) AS last_autovacuum,
                           pg_stat_get_last_vacuum_time(c.oid) AS last_vacuum
                      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.relkind IN ('r', 'm', 'p')
                       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                       AND n.nspname !~ '^pg_toast') t
             WHERE t.n_dead_tup >= t_min
               AND 100.0 * t.n_dead_tup / nullif(t.n_live_tup + t.n_dead_tup, 0) >= t_pct) x;
    IF r.cnt > 0 THEN
        f.severity := 'SEV3';
        f.finding := format('%s table(s) in %s with at least %s%% dead tuples, the most in %s%s',
                            r.cnt, current_database(), t_pct, r.worst_name,
                            CASE WHEN r.worst_off THEN ', whose autovacuum_enabled = off: autovacuum never visits it'
                                 WHEN av_off THEN '; autovacuum = off for the whole server'
                                 ELSE format(' (last vacuumed %s)', coalesce(date_trunc('second', r.worst_last)::text, 'never')) END);
        f.evidence := jsonb_build_object('datname', current_database(), 'count', r.cnt, 'tables', r.top,
                                         'cause', CASE WHEN r.worst_off THEN 'autovacuum_enabled = off on the table'
                                                       WHEN av_off THEN 'autovacuum = off' END);
        IF r.worst_off THEN
            f.action := @extschema@._runnable('text', 'autovacuum_enabled = off on the table is the cause: turn it back on (RESET) and vacuum it now; the space the dead rows took stays in the table (see the bloat finding after the vacuum)');
            f.remedy_sql := @extschema@._runnable('sql', 'ALTER TABLE %1$R RESET (autovacuum_enabled);  VACUUM (VERBOSE, ANALYZE) %1$R;', r.worst);
        ELSE
            f.action := @extschema@._runnable('text', 'check that autovacuum keeps up and nothing holds the xmin horizon (the xmin_horizon, prepared_transactions and replication_slots_xmin findings); vacuum the worst table now');
            f.remedy_sql := @extschema@._runnable('sql', 'VACUUM (VERBOSE, ANALYZE) %R;', r.worst);
        END IF;
        f.datname := current_database();
        RETURN NEXT f;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_db_dead_tuples(jsonb) IS
'internal: a per-database check of triage(), run in every database by _triage_database()';

REVOKE ALL ON FUNCTION @extschema@._triage_db_dead_tuples(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_db_dead_tuples(jsonb) TO pg_monitor;
