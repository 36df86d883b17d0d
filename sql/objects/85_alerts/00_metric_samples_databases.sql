-- metric_samples() families: per database (wraparound, size, counters),
-- dead tuples per table (in every database), slow statements.

-- The 20 tables of this database with the most dead tuples: the
-- per-database check behind pg_runbook_table_dead_tuples, run in every
-- database by _on_databases('dead_tuples_top', ...).
CREATE OR REPLACE VIEW @extschema@._dead_tuples_top AS
SELECT current_database() AS datname, t.schemaname, t.relname, t.n_dead_tup
  FROM pg_stat_user_tables t
 WHERE t.n_dead_tup > 0
 ORDER BY t.n_dead_tup DESC, t.relid
 LIMIT 20;

COMMENT ON VIEW @extschema@._dead_tuples_top IS
'internal: the 20 tables of this database with the most dead tuples (the per-database check of the pg_runbook_table_dead_tuples metric)';

GRANT SELECT ON @extschema@._dead_tuples_top TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._metric_samples_databases(
    families text[],
    OUT metric text,
    OUT metric_type text,
    OUT help text,
    OUT labels jsonb,
    OUT value double precision)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r       record;
    w       record;
    ok      boolean;
    t_mean  numeric;
    t_calls numeric;
BEGIN
    -- per database: wraparound, size, pg_stat_database counters ---------
    IF families IS NULL OR families && ARRAY['pg_runbook_xid_age', 'pg_runbook_mxid_age'] THEN
        metric_type := 'gauge';
        FOR r IN SELECT datname, age(datfrozenxid) AS x, mxid_age(datminmxid) AS m FROM pg_database ORDER BY datname LOOP
            labels := jsonb_build_object('datname', r.datname);
            metric := 'pg_runbook_xid_age'; help := 'Transaction ID age of the database (age(datfrozenxid)).'; value := r.x;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            metric := 'pg_runbook_mxid_age'; help := 'Multixact ID age of the database (mxid_age(datminmxid)).'; value := r.m;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        END LOOP;
    END IF;

    IF families IS NULL OR families && ARRAY['pg_runbook_database_size_bytes'] THEN
        RETURN QUERY
            SELECT 'pg_runbook_database_size_bytes', 'gauge', 'Size of each database on disk (its growth is deriv() of this).',
                   jsonb_build_object('datname', d.datname), pg_database_size(d.oid)::float8
              FROM pg_database d
             WHERE d.datallowconn AND has_database_privilege(d.oid, 'CONNECT') ORDER BY d.datname;
    END IF;

    IF families IS NULL OR EXISTS (SELECT 1 FROM unnest(families) f WHERE f LIKE 'pg\_runbook\_database\_%\_total') THEN
        metric_type := 'counter';
        FOR r IN SELECT d.datname, d.xact_commit, d.xact_rollback, d.deadlocks, d.temp_files, d.temp_bytes,
                        d.conflicts, d.checksum_failures, d.sessions_fatal, d.sessions_killed, d.sessions_abandoned
                   FROM pg_stat_database d WHERE d.datname IS NOT NULL ORDER BY d.datname LOOP
            labels := jsonb_build_object('datname', r.datname);
            FOR w IN SELECT * FROM (VALUES
                    ('pg_runbook_database_xact_commit_total', 'Transactions committed.', r.xact_commit::float8),
                    ('pg_runbook_database_xact_rollback_total', 'Transactions rolled back.', r.xact_rollback::float8),
                    ('pg_runbook_database_deadlocks_total', 'Deadlocks detected.', r.deadlocks::float8),
                    ('pg_runbook_database_temp_files_total', 'Temporary files written by queries.', r.temp_files::float8),
                    ('pg_runbook_database_temp_bytes_total', 'Bytes written to temporary files by queries.', r.temp_bytes::float8),
                    ('pg_runbook_database_conflicts_total', 'Queries cancelled by recovery conflicts (standby).', r.conflicts::float8),
                    ('pg_runbook_database_checksum_failures_total', 'Data page checksum failures.', coalesce(r.checksum_failures, 0)::float8),
                    ('pg_runbook_database_sessions_fatal_total', 'Sessions ended by a fatal error.', r.sessions_fatal::float8),
                    ('pg_runbook_database_sessions_killed_total', 'Sessions ended by an operator (terminated).', r.sessions_killed::float8),
                    ('pg_runbook_database_sessions_abandoned_total', 'Sessions whose client went away.', r.sessions_abandoned::float8)
                ) v(m, h, n) LOOP
                metric := w.m; help := w.h; value := w.n;
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            END LOOP;
        END LOOP;
    END IF;

    -- dead tuples per table: the 20 largest of each database -----------
    IF families IS NULL OR families && ARRAY['pg_runbook_table_dead_tuples', 'pg_runbook_check_up'] THEN
        FOR w IN SELECT x.datname, x.summary, x.checked, (x.r).schemaname, (x.r).relname, (x.r).n_dead_tup
                   FROM @extschema@._on_databases('dead_tuples_top', NULL, NULL::@extschema@._dead_tuples_top) x
                  ORDER BY x.datname, x.summary DESC, (x.r).n_dead_tup DESC LOOP
            IF w.summary THEN
                -- which databases the family covers: 0 is "not checked"
                metric := 'pg_runbook_check_up'; metric_type := 'gauge';
                help := 'Whether a check could run (1) or not (0: its series are absent, not zero).';
                labels := jsonb_build_object('check', 'table_dead_tuples', 'datname', w.datname);
                value := CASE WHEN w.checked THEN 1 ELSE 0 END;
            ELSE
                metric := 'pg_runbook_table_dead_tuples'; metric_type := 'gauge';
                help := 'Dead tuples of the 20 tables with the most, in each database (n_dead_tup).';
                labels := jsonb_build_object('datname', w.datname, 'schemaname', w.schemaname, 'relname', w.relname);
                value := w.n_dead_tup;
            END IF;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        END LOOP;
    END IF;

    -- slow queries (pg_stat_statements) ---------------------------------
    IF families IS NULL OR families && ARRAY['pg_runbook_check_up', 'pg_runbook_slow_query_mean_seconds', 'pg_runbook_slow_query_calls_total', 'pg_runbook_slow_queries'] THEN
        t_mean := @extschema@._threshold('slow_query_mean_ms');
        t_calls := @extschema@._threshold('slow_query_min_calls');
        ok := true;
        BEGIN
            SELECT coalesce(max(q.mean_ms), 0) AS worst,
                   coalesce(sum(q.calls) FILTER (WHERE q.mean_ms >= t_mean), 0) AS slow_calls,
                   count(*) FILTER (WHERE q.mean_ms >= t_mean) AS slow_statements
              INTO r FROM @extschema@.slow_queries(1000, 'mean', t_calls::bigint) q;
        EXCEPTION WHEN OTHERS THEN
            ok := false;
        END;
        labels := '{}';
        IF ok THEN
            metric := 'pg_runbook_slow_query_mean_seconds'; metric_type := 'gauge';
            help := 'Highest mean execution time among statements called at least slow_query_min_calls times.';
            value := round(r.worst / 1000, 6);
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            metric := 'pg_runbook_slow_queries'; metric_type := 'gauge';
            help := 'Statements whose mean execution time is at or above slow_query_mean_ms.';
            value := r.slow_statements;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            metric := 'pg_runbook_slow_query_calls_total'; metric_type := 'counter';
            help := 'Calls of statements whose mean execution time is at or above slow_query_mean_ms.';
            value := r.slow_calls;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        END IF;
        metric := 'pg_runbook_check_up'; metric_type := 'gauge';
        help := 'Whether a check could run (1) or not (0: its series are absent, not zero).';
        labels := jsonb_build_object('check', 'slow_queries'); value := CASE WHEN ok THEN 1 ELSE 0 END;
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._metric_samples_databases(text[]) IS
'internal: the per-database, table and statement families, for metric_samples()';

REVOKE ALL ON FUNCTION @extschema@._metric_samples_databases(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._metric_samples_databases(text[]) TO pg_monitor;
