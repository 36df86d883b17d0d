-- runbook.slow_queries(top, order_by, min_calls, include_utility):
-- pg_stat_statements, whichever version is installed.  Ranked by total time
-- by default, with each statement's share of all statement time (the
-- statements that cost the server most, as pghero ranks them: a 192 ms
-- query called a thousand times before a 5 s report run once).  Utility
-- statements (VACUUM, CALL, COPY, DDL, EXPLAIN, transaction control) and
-- statements that sleep (pg_sleep) are left out unless include_utility.
-- pg_stat_statements does not record time spent waiting on locks: where the
-- flight recorder (pg_runbook's sampler, one sample a second for the last
-- hour) saw the statement, lock_wait_pct is the share of its samples that
-- waited on a heavyweight lock, and the ranking by total time counts the
-- time without that share (a victim that waited 3 s on one lock is not the
-- costliest statement); lock_wait_note says when it cannot tell.
-- pg_runbook's own background workers (policy worker, audit writer,
-- sampler, per-database workers) run with pg_stat_statements.track = none
-- (src/security.c): their bookkeeping statements are never recorded, so
-- they never rank among the application's.
-- (1.2: a new argument and two columns, so the update drops the 1.1
-- function first; order_by's default was 'mean'.)

CREATE OR REPLACE FUNCTION @extschema@.slow_queries(
    top integer DEFAULT 10,
    order_by text DEFAULT 'total',
    min_calls bigint DEFAULT 1,
    include_utility boolean DEFAULT false,
    OUT rank integer,
    OUT queryid bigint,
    OUT usename name,
    OUT datname name,
    OUT calls bigint,
    OUT total_ms numeric,
    OUT mean_ms numeric,
    OUT max_ms numeric,
    OUT stddev_ms numeric,
    OUT total_time interval,
    OUT mean_time interval,
    OUT max_time interval,
    OUT pct_of_total numeric,
    OUT rows bigint,
    OUT rows_per_call numeric,
    OUT shared_blks_hit bigint,
    OUT shared_blks_read bigint,
    OUT hit_ratio numeric,
    OUT temp_blks_written bigint,
    OUT io_ms numeric,
    OUT query text,
    OUT lock_wait_pct numeric,
    OUT lock_wait_note text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    accepted constant text[] := ARRAY['mean', 'total', 'calls', 'rows', 'io'];
    ord text := lower(btrim(order_by));
    pgss_schema name;
    pgss_version text;
    preloaded boolean;
    pending boolean;
    libs text;
    cols text[];
    c_total text;
    c_mean text;
    c_max text;
    c_stddev text;
    c_io text;
    io_parts text[] := '{}';
    c text;
    order_clause text;
    q text;
    sampled boolean := false;
BEGIN
    IF top IS NULL OR top < 1 THEN
        RAISE EXCEPTION 'top must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', coalesce(top::text, 'NULL')),
                  HINT = 'Pass the number of statements to show, such as 10.';
    END IF;
    IF ord IS NULL OR NOT ord = ANY (accepted) THEN
        RAISE EXCEPTION 'unknown order_by %', coalesce(quote_literal(order_by), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Accepted values: ' || array_to_string(accepted, ', ') || '.',
                  HINT = 'mean and total order by execution time, io by time spent reading and writing blocks.';
    END IF;
    IF min_calls IS NULL OR min_calls < 1 THEN
        RAISE EXCEPTION 'min_calls must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF include_utility IS NULL THEN
        RAISE EXCEPTION 'include_utility must not be NULL'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass true to list utility and sleep statements too, false (the default) to leave them out.';
    END IF;
    -- the flight recorder's samples exist only with the library preloaded
    sampled := @extschema@._is_preloaded();

    SELECT n.nspname, e.extversion INTO pgss_schema, pgss_version
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements';
    preloaded := 'pg_stat_statements' = ANY (@extschema@._preloaded_libraries());

    IF pgss_schema IS NULL OR NOT preloaded THEN
        -- what the configuration line must say: the current list plus ours
        libs := array_to_string(
                    ARRAY['pg_stat_statements'] ||
                    array_remove(@extschema@._preloaded_libraries(), 'pg_stat_statements'), ',');
        SELECT bool_or(f.setting ~ 'pg_stat_statements' AND f.applied IS NOT TRUE) INTO pending
          FROM pg_file_settings f WHERE f.name = 'shared_preload_libraries';
        IF NOT preloaded AND pgss_schema IS NULL THEN
            RAISE EXCEPTION 'pg_stat_statements is not available'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'The library is not in shared_preload_libraries and the extension is not installed in database ' || quote_ident(current_database()) || '.',
                      HINT = format('Set shared_preload_libraries = %L in postgresql.conf (or ALTER SYSTEM SET shared_preload_libraries = %L), restart the server, then run CREATE EXTENSION pg_stat_statements; in database %s (any schema, e.g. SCHEMA public; pg_runbook finds it).',
                                    libs, libs, quote_ident(current_database()));
        ELSIF NOT preloaded THEN
            RAISE EXCEPTION 'pg_stat_statements is installed but its library is not loaded'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Extension pg_stat_statements %s is in schema %s, but shared_preload_libraries is %L.',
                                      pgss_version, quote_ident(pgss_schema), current_setting('shared_preload_libraries')),
                      HINT = CASE WHEN pending
                                  THEN 'The configuration file already loads it: restart the server.'
                                  ELSE format('Set shared_preload_libraries = %L in postgresql.conf (or ALTER SYSTEM SET shared_preload_libraries = %L) and restart the server.', libs, libs)
                             END;
        ELSE
            RAISE EXCEPTION 'pg_stat_statements is loaded but the extension is not installed in database %', quote_ident(current_database())
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('Run CREATE EXTENSION pg_stat_statements; in database %s (any schema, e.g. SCHEMA public; pg_runbook finds it).',
                                    quote_ident(current_database()));
        END IF;
    END IF;

    IF NOT has_schema_privilege(pgss_schema, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for schema % of pg_stat_statements', quote_ident(pgss_schema)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT USAGE ON SCHEMA %I TO %I;', pgss_schema, current_user);
    END IF;

    -- columns of the installed version (1.8 renamed *_time to *_exec_time;
    -- 1.11 split blk_*_time into shared_/local_blk_*_time)
    SELECT array_agg(a.attname::text) INTO cols
      FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid
     WHERE c.relname = 'pg_stat_statements'
       AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = pgss_schema)
       AND a.attnum > 0 AND NOT a.attisdropped;

    c_total := CASE WHEN 'total_exec_time' = ANY (cols) THEN 's.total_exec_time'
                    ELSE 's.total_time' END;
    c_mean := CASE WHEN 'mean_exec_time' = ANY (cols) THEN 's.mean_exec_time'
                   WHEN 'mean_time' = ANY (cols) THEN 's.mean_time'
                   ELSE c_total || ' / nullif(s.calls, 0)' END;
    c_max := CASE WHEN 'max_exec_time' = ANY (cols) THEN 's.max_exec_time'
                  WHEN 'max_time' = ANY (cols) THEN 's.max_time'
                  ELSE 'NULL::float8' END;
    c_stddev := CASE WHEN 'stddev_exec_time' = ANY (cols) THEN 's.stddev_exec_time'
                     WHEN 'stddev_time' = ANY (cols) THEN 's.stddev_time'
                     ELSE 'NULL::float8' END;
    FOREACH c IN ARRAY ARRAY['blk_read_time', 'blk_write_time',
                             'shared_blk_read_time', 'shared_blk_write_time',
                             'local_blk_read_time', 'local_blk_write_time',
                             'temp_blk_read_time', 'temp_blk_write_time'] LOOP
        IF c = ANY (cols) THEN
            io_parts := io_parts || ('s.' || c);
        END IF;
    END LOOP;
    -- zero I/O time means "not tracked" when track_io_timing is off
    c_io := CASE WHEN cardinality(io_parts) = 0 THEN 'NULL::float8'
                 ELSE format('CASE WHEN %2$s = 0 AND NOT current_setting(''track_io_timing'')::boolean THEN NULL ELSE %1$s END',
                             array_to_string(io_parts, ' + '), array_to_string(io_parts, ' + '))
            END;

    order_clause := CASE ord
        WHEN 'mean'  THEN 'x.mean_ms DESC NULLS LAST, x.calls DESC'
        -- the time spent running: less the share the flight recorder saw waiting on locks
        WHEN 'total' THEN 'x.total_ms * (1 - coalesce(x.lock_s / nullif(x.active_s, 0), 0)) DESC NULLS LAST, x.calls DESC'
        WHEN 'calls' THEN 'x.calls DESC, x.total_ms DESC NULLS LAST'
        WHEN 'rows'  THEN 'x.rows DESC, x.total_ms DESC NULLS LAST'
        WHEN 'io'    THEN 'coalesce(x.io_ms, 0) DESC, x.shared_blks_read + x.temp_blks_written DESC, x.total_ms DESC NULLS LAST'
    END;

    -- One pass over the entries with their texts, kept to a top-N sort (no
    -- window over all entries, which would sort every text); the grand
    -- total for pct_of_total comes from a pass without texts (every
    -- statement: the share of all statement time).  Utility: the first
    -- word, after leading comments, is not one of a plannable statement's.
    q := format($q$
        SELECT (row_number() OVER (ORDER BY %1$s))::integer,
               x.queryid, r.rolname, d.datname, x.calls,
               round(x.total_ms::numeric, 3), round(x.mean_ms::numeric, 3),
               round(x.max_ms::numeric, 3), round(x.stddev_ms::numeric, 3),
               make_interval(secs => x.total_ms / 1000.0),
               make_interval(secs => x.mean_ms / 1000.0),
               make_interval(secs => x.max_ms / 1000.0),
               round((100.0 * x.total_ms / nullif((SELECT sum(%8$s) FROM %7$I.pg_stat_statements(false) s), 0))::numeric, 1),
               x.rows,
               round(x.rows::numeric / nullif(x.calls, 0), 1),
               x.shared_blks_hit, x.shared_blks_read,
               round(x.shared_blks_hit::numeric / nullif(x.shared_blks_hit + x.shared_blks_read, 0), 4),
               x.temp_blks_written,
               round(x.io_ms::numeric, 3),
               x.query,
               CASE WHEN x.active_s > 0 THEN round((100.0 * x.lock_s / x.active_s)::numeric, 1) END,
               CASE WHEN NOT $3 THEN 'cannot tell: pg_stat_statements does not record lock waits, and the flight recorder (pg_runbook preloaded) is not running'
                    WHEN x.active_s IS NULL THEN 'cannot tell: pg_stat_statements does not record lock waits, and the flight recorder (1 sample a second, the last hour) never saw it run'
                    ELSE format('%%s of %%s sampled seconds (flight recorder, the last hour) waiting on a heavyweight lock', round(x.lock_s::numeric, 1), round(x.active_s::numeric, 1))
               END
          FROM (SELECT x.*
                  FROM (SELECT s.userid, s.dbid, s.queryid, s.calls,
                               %2$s AS total_ms, %3$s AS mean_ms, %4$s AS max_ms, %5$s AS stddev_ms,
                               s.rows, s.shared_blks_hit, s.shared_blks_read, s.temp_blks_written,
                               %6$s AS io_ms, s.query, w.active_s, w.lock_s
                          FROM %7$I.pg_stat_statements(true) s
                          -- the flight recorder's samples of each statement (one row per queryid seen)
                          LEFT JOIN (SELECT ws.queryid, sum(ws.seconds) AS active_s,
                                            coalesce(sum(ws.seconds) FILTER (WHERE ws.wait_event_type = 'Lock'), 0) AS lock_s
                                       FROM %9$I._wait_samples(now() - interval '1 hour', now()) ws
                                      WHERE $3 AND ws.kind = 'query' AND ws.queryid IS NOT NULL
                                      GROUP BY ws.queryid) w ON w.queryid = s.queryid) x
                 WHERE x.calls >= $1
                   AND ($4 OR (x.query !~* '\mpg_sleep(_for|_until)?\s*\('
                               AND regexp_replace(x.query, '^(\s+|/\*([^*]|\*+[^*/])*\*+/|--[^\n]*(\n|$))*', '')
                                   ~* '^(\(|select\M|insert\M|update\M|delete\M|merge\M|with\M|values\M|table\M)'))
                 ORDER BY %1$s
                 LIMIT $2) x
          LEFT JOIN pg_catalog.pg_roles r ON r.oid = x.userid
          LEFT JOIN pg_catalog.pg_database d ON d.oid = x.dbid
         ORDER BY 1
    $q$, order_clause, c_total, c_mean, c_max, c_stddev, c_io, pgss_schema, c_total, '@extschema@');

    RETURN QUERY EXECUTE q USING min_calls, top, sampled, include_utility;
END
$fn$;

COMMENT ON FUNCTION @extschema@.slow_queries(integer, text, bigint, boolean) IS
'top statements from pg_stat_statements (any version) by total (default), mean, calls, rows or io, with the share of all statement time; utility and sleep statements only with include_utility; times in ms and as intervals, hit ratio, I/O time when tracked; the share of sampled time waiting on locks where the flight recorder saw the statement (pg_stat_statements cannot tell); pg_runbook''s own workers record no statements there';

REVOKE ALL ON FUNCTION @extschema@.slow_queries(integer, text, bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.slow_queries(integer, text, bigint, boolean) TO pg_monitor;
