-- A check of triage() (80_triage/triage.sql runs them): slow queries
-- (optional: pg_stat_statements).  A statement is a finding when its mean
-- is at least slow_query_mean_ms, or when it takes at least
-- slow_query_share_pct of all statement time with a mean of at least
-- slow_query_share_mean_ms (a 192 ms query called thousands of times), over
-- at least slow_query_min_calls calls, counting the time it did not spend
-- waiting on locks (where the flight recorder tells it); utility and sleep
-- statements are left out (slow_queries()).  One finding per statement, the three costliest.
-- When the statement reads one table by equality on its columns and that
-- table is read by sequential scans of many rows, the remedy is the missing
-- index on those columns (CREATE INDEX CONCURRENTLY: writes go on); when
-- the flight recorder saw it mostly waiting on locks, the lock tree.

CREATE OR REPLACE FUNCTION @extschema@._triage_slow_queries(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    m       text[];
    rel     oid;
    cols    name[];
    t_mean  numeric := @extschema@._threshold('slow_query_mean_ms');
    t_share numeric := @extschema@._threshold('slow_query_share_pct');
    t_smean numeric := @extschema@._threshold('slow_query_share_mean_ms');
BEGIN
    f.check_name := 'slow_queries';
    -- the time a statement spends waiting on locks (where the flight
    -- recorder tells it) is not its own slowness: the thresholds apply to
    -- the rest (a row updated by every client at once is lock_waits' finding)
    FOR r IN
        SELECT q.*
          FROM (SELECT q.*, 1 - coalesce(q.lock_wait_pct, 0) / 100 AS busy
                  FROM @extschema@.slow_queries(20, 'total', @extschema@._threshold('slow_query_min_calls')::bigint) q) q
         WHERE q.mean_ms * q.busy >= t_mean OR (q.pct_of_total * q.busy >= t_share AND q.mean_ms * q.busy >= t_smean)
         ORDER BY q.total_ms * q.busy DESC
         LIMIT 3
    LOOP
        f.severity := 'SEV3';
        f.finding := format('statement %s takes %s%% of all statement time (%s calls, mean %s ms, total %s): %s',
                            r.queryid, coalesce(r.pct_of_total, 0), r.calls, r.mean_ms,
                            date_trunc('second', r.total_time), left(regexp_replace(r.query, '\s+', ' ', 'g'), 200));
        f.evidence := jsonb_strip_nulls(jsonb_build_object('queryid', r.queryid, 'usename', r.usename, 'datname', r.datname,
                          'calls', r.calls, 'mean_ms', r.mean_ms, 'total_ms', r.total_ms, 'pct_of_total', r.pct_of_total,
                          'rows_per_call', r.rows_per_call, 'lock_wait_pct', r.lock_wait_pct,
                          'lock_wait_note', r.lock_wait_note, 'query', left(r.query, 500)));
        rel := NULL; cols := NULL;
        IF coalesce(r.lock_wait_pct, 0) >= 50 THEN
            f.finding := f.finding || format(' (%s%% of its sampled time waits on locks: a victim of lock queues)', r.lock_wait_pct);
            f.action := @extschema@._runnable('text', 'most of its time is spent waiting on locks, not running: find the sessions that block it (the lock_waits finding, lock_tree()); its plan is not the problem');
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.lock_tree();', '@extschema@');
            RETURN NEXT f;
            CONTINUE;
        END IF;
        -- one table read by equality on some of its columns: FROM t [alias] WHERE ... col = $n
        IF r.datname = current_database() AND r.query !~* '\mjoin\M' THEN
            m := regexp_match(r.query, '\mfrom\s+("[^"]+"|[a-z_][a-z0-9_$]*)(?:\s*\.\s*("[^"]+"|[a-z_][a-z0-9_$]*))?\s+(?:as\s+[a-z_][a-z0-9_$]*\s+|[a-z_][a-z0-9_$]*\s+)?where\M(.*)$', 'is');
        ELSE
            m := NULL;
        END IF;
        IF m IS NOT NULL THEN
            SELECT min(c.oid) INTO rel
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'm')
               AND c.relname = CASE WHEN coalesce(m[2], m[1]) ~ '^"' THEN btrim(coalesce(m[2], m[1]), '"') ELSE lower(coalesce(m[2], m[1])) END
               AND (m[2] IS NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
                    OR n.nspname = CASE WHEN m[1] ~ '^"' THEN btrim(m[1], '"') ELSE lower(m[1]) END)
            HAVING count(*) = 1;
            IF rel IS NOT NULL THEN
                -- the columns compared by equality to a parameter, in order, at most two
                SELECT array_agg(x.attname ORDER BY x.pos) INTO cols
                  FROM (SELECT a.attname, min(w.ord) AS pos
                          FROM regexp_matches(m[3], '("[^"]+"|[a-z_][a-z0-9_$]*)\s*(?:=\s*(?:any\s*\(\s*)?\$[0-9]+|in\s*\(\s*\$[0-9]+)', 'gi')
                               WITH ORDINALITY AS w(g, ord)
                          JOIN pg_attribute a ON a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
                                             AND a.attname = CASE WHEN w.g[1] ~ '^"' THEN btrim(w.g[1], '"') ELSE lower(w.g[1]) END
                         GROUP BY a.attname
                         ORDER BY 2
                         LIMIT 2) x;
                -- only for a table read by sequential scans of many rows, and no
                -- valid index that starts with the first column
                IF cols IS NOT NULL AND NOT EXISTS (
                       SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                        WHERE i.indrelid = rel AND i.indisvalid AND a.attname = cols[1])
                   AND EXISTS (SELECT 1 FROM pg_stat_all_tables t
                                WHERE t.relid = rel AND t.seq_scan > 0 AND t.seq_tup_read / t.seq_scan >= 10000) THEN
                    f.action := @extschema@._runnable('text', 'each call reads all of %R by a sequential scan; an index on the column(s) it compares (the remedy) is the usual fix: CREATE INDEX CONCURRENTLY builds it while writes go on (check the plan with EXPLAIN first).  pg_stat_statements keeps the old mean: after the fix, SELECT pg_stat_statements_reset(0, 0, %s) measures it again',
                                                      rel, r.queryid);
                    f.remedy_sql := CASE cardinality(cols)
                        WHEN 1 THEN @extschema@._runnable('sql', 'CREATE INDEX CONCURRENTLY ON %R (%I);', rel, cols[1])
                        ELSE @extschema@._runnable('sql', 'CREATE INDEX CONCURRENTLY ON %R (%I, %I);', rel, cols[1], cols[2]) END;
                    f.evidence := f.evidence || jsonb_build_object('table', rel::regclass::text, 'index_columns', to_jsonb(cols));
                    RETURN NEXT f;
                    CONTINUE;
                END IF;
            END IF;
        END IF;
        f.action := @extschema@._runnable('text', 'EXPLAIN (ANALYZE, BUFFERS) it with real values and look for a missing index or a bad plan; the remedy lists the costliest statements');
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.slow_queries(10);', '@extschema@');
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_slow_queries(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_slow_queries(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_slow_queries(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
