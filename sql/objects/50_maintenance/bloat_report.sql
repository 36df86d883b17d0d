-- _bloat_report(method, rel, max_bytes): one database's part of
-- runbook.bloat_report() (bloat_report_server.sql runs it in every
-- database): tables and indexes, bytes and percent, with the method, its
-- confidence and the remedy.  The estimate is C (src/bloat.c, _bloat_rows:
-- every figure, the confidence, the reason and the advice, with
-- conditional locks, and the names); the remedy text is built here, in the
-- database of the row, only for the rows whose advice needs one.

CREATE OR REPLACE FUNCTION @extschema@._bloat_rows(
    rel regclass DEFAULT NULL,
    OUT relation regclass,
    OUT kind text,
    OUT table_name regclass,
    OUT size_bytes bigint,
    OUT size_pretty text,
    OUT bloat_bytes bigint,
    OUT bloat_pretty text,
    OUT bloat_pct numeric,
    OUT dead_tuple_pct numeric,
    OUT live_tuples bigint,
    OUT dead_tuples bigint,
    OUT toast_bytes bigint,
    OUT fillfactor integer,
    OUT method text,
    OUT confidence text,
    OUT reason text,
    OUT advice text,
    OUT schemaname name,
    OUT relname name,
    OUT table_relname name)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_bloat_rows';

COMMENT ON FUNCTION @extschema@._bloat_rows(regclass) IS
'internal: the rows of bloat_report(''estimate'') of this database without the remedy text, with the advice it is built from and the names';

REVOKE ALL ON FUNCTION @extschema@._bloat_rows(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._bloat_rows(regclass) TO pg_monitor;

-- _bloat_advice(): what to do about a measured row (approx / exact), by
-- the estimate's thresholds

CREATE OR REPLACE FUNCTION @extschema@._bloat_advice(kind text, size_bytes bigint, bloat_bytes bigint,
    dead_tuple_pct numeric, confidence text)
RETURNS text
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_bloat_advice';

COMMENT ON FUNCTION @extschema@._bloat_advice(text, bigint, bigint, numeric, text) IS
'internal: the advice of bloat_report() for a measured row (none, vacuum, rebuild, reindex, measure)';

REVOKE ALL ON FUNCTION @extschema@._bloat_advice(text, bigint, bigint, numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._bloat_advice(text, bigint, bigint, numeric, text) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._bloat_report(
    method text,
    rel regclass,
    max_bytes bigint)
RETURNS SETOF @extschema@.bloat_row
LANGUAGE plpgsql VOLATILE
SET lock_timeout = '100ms'
SET jit = off
-- the rows of a database of 10,000 tables (about 8 MB) stay in memory: the
-- default 4 MB would write them to a temporary file twice
SET work_mem = '64MB'
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    o @extschema@.bloat_row;
    m text := lower(coalesce(_bloat_report.method, 'estimate'));
    pgst name;
    e record;
    x record;
    adv text;
    am name;
    measured @extschema@.bloat_row[] := '{}';
    scanned integer := 0;
BEGIN
    IF m NOT IN ('estimate', 'approx', 'exact') THEN
        RAISE EXCEPTION 'unknown bloat method "%"', _bloat_report.method
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''estimate'' (catalog statistics, no scan), ''approx'' (pgstattuple_approx) or ''exact'' (pgstattuple / pgstatindex, reads every page).';
    END IF;
    IF m <> 'estimate' THEN
        SELECT n.nspname INTO pgst
          FROM pg_extension x2 JOIN pg_namespace n ON n.oid = x2.extnamespace
         WHERE x2.extname = 'pgstattuple';
        IF pgst IS NULL THEN
            RAISE EXCEPTION 'bloat method "%" needs the extension pgstattuple', m
                USING ERRCODE = 'undefined_object',
                      DETAIL = 'pgstattuple ships with PostgreSQL (contrib) but is not installed in this database.',
                      HINT = 'Run CREATE EXTENSION pgstattuple; as a superuser, or use method ''estimate''.';
        END IF;
    END IF;

    -- approx / exact: measure, row by row (pgstattuple reads every page)
    IF m <> 'estimate' THEN
        FOR e IN SELECT * FROM @extschema@._bloat_rows(rel) LOOP
            o.relation := e.relation;
            o.kind := e.kind;
            o.table_name := e.table_name;
            o.size_bytes := e.size_bytes;
            o.size_pretty := e.size_pretty;
            o.bloat_bytes := e.bloat_bytes;
            o.bloat_pretty := e.bloat_pretty;
            o.bloat_pct := e.bloat_pct;
            o.dead_tuple_pct := e.dead_tuple_pct;
            o.live_tuples := e.live_tuples;
            o.dead_tuples := e.dead_tuples;
            o.toast_bytes := e.toast_bytes;
            o.fillfactor := e.fillfactor;
            o.method := 'estimate';
            o.confidence := e.confidence;
            o.reason := e.reason;
            o.remedy := NULL;
            o.datname := current_database();
            o.schemaname := e.schemaname;
            o.relname := e.relname;
            o.table_relname := e.table_relname;
            adv := e.advice;

            IF e.advice = 'retry' THEN
                o.remedy := adv;
                measured := measured || o;
                CONTINUE;
            END IF;

            IF m = 'exact' OR e.kind = 'table' THEN
                SELECT a.amname INTO am FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = e.relation;
                IF e.size_bytes > max_bytes THEN
                    o.reason := concat_ws('; ', o.reason, format('larger than max_bytes (%s): not scanned, estimate shown', pg_size_pretty(max_bytes)));
                ELSE
                    BEGIN
                        -- waste: free and dead space beyond what the fillfactor
                        -- reserves (which a rewrite reserves again)
                        IF e.kind = 'table' AND m = 'approx' THEN
                            EXECUTE format('SELECT table_len, approx_free_space + dead_tuple_len AS waste, dead_tuple_count, approx_tuple_count AS live FROM %I.pgstattuple_approx($1)', pgst)
                               INTO x USING e.relation;
                        ELSIF am = 'btree' THEN
                            -- leaf density against the fillfactor, plus empty and deleted pages
                            EXECUTE format('SELECT index_size AS table_len,
                                            CASE WHEN leaf_pages > 0 AND avg_leaf_density <> ''NaN''
                                                 THEN greatest(0, (leaf_pages * current_setting(''block_size'')::bigint)
                                                         * (1 - avg_leaf_density / $2))::bigint ELSE 0 END
                                              + (empty_pages + deleted_pages) * current_setting(''block_size'')::bigint AS waste,
                                            NULL::bigint AS dead_tuple_count, NULL::bigint AS live
                                            FROM %I.pgstatindex($1)', pgst)
                               INTO x USING e.relation, coalesce(e.fillfactor, 90)::float8;
                        ELSE
                            -- tables, hash and gist indexes (others raise feature_not_supported)
                            EXECUTE format('SELECT table_len, free_space + dead_tuple_len AS waste,
                                            dead_tuple_count, tuple_count AS live FROM %I.pgstattuple($1)', pgst)
                               INTO x USING e.relation;
                        END IF;
                        IF am <> 'btree' THEN
                            x.waste := x.waste - x.table_len * (100 - coalesce(e.fillfactor,
                                           CASE am WHEN 'hash' THEN 75 WHEN 'gist' THEN 90 ELSE 100 END)) / 100;
                        END IF;
                        scanned := scanned + 1;
                        o.method := m;
                        o.size_bytes := x.table_len;
                        o.bloat_bytes := greatest(x.waste, 0);
                        o.bloat_pct := CASE WHEN x.table_len > 0 THEN round(100.0 * o.bloat_bytes / x.table_len, 1) ELSE 0 END;
                        IF e.kind = 'table' THEN
                            o.live_tuples := x.live;
                            o.dead_tuples := x.dead_tuple_count;
                            o.dead_tuple_pct := CASE WHEN x.live + x.dead_tuple_count > 0
                                                   THEN round(100.0 * x.dead_tuple_count / (x.live + x.dead_tuple_count), 1) END;
                        END IF;
                        o.confidence := CASE WHEN m = 'exact' THEN 'high' ELSE 'medium' END;
                        o.reason := CASE WHEN m = 'approx'
                                       THEN 'pgstattuple_approx: trusts the visibility map for all-visible pages'
                                  END;
                        adv := @extschema@._bloat_advice(o.kind, o.size_bytes, o.bloat_bytes, o.dead_tuple_pct, o.confidence);
                    EXCEPTION WHEN lock_not_available THEN
                        o.reason := 'skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for';
                        o.remedy := 'retry';
                        o.confidence := 'low';
                        o.bloat_pretty := NULL;
                        o.bloat_bytes := NULL; o.bloat_pct := NULL;
                        measured := measured || o;
                        CONTINUE;
                    -- an invalid index (a failed CREATE INDEX CONCURRENTLY): pgstatindex refuses it
                    WHEN feature_not_supported OR wrong_object_type OR object_not_in_prerequisite_state THEN
                        o.reason := concat_ws('; ', o.reason, 'pgstattuple cannot measure it (' || SQLERRM || '): estimate shown');
                        IF adv = 'measure' THEN
                            adv := 'none';
                        END IF;
                    END;
                END IF;
            ELSIF m = 'approx' AND e.kind = 'index' THEN
                o.reason := concat_ws('; ', o.reason, 'pgstattuple_approx covers tables only: index figure is the estimate');
            END IF;

            o.size_pretty := pg_size_pretty(o.size_bytes);
            o.bloat_pretty := pg_size_pretty(o.bloat_bytes);
            o.remedy := adv;
            measured := measured || o;
        END LOOP;
    END IF;

    -- One set-based query for every method: the estimate's rows straight
    -- from C, the measured ones from above (their remedy field holds the
    -- advice).  The remedy text is built by _runnable() only where there is
    -- one to show: the rows of 'none' cost no call.
    RETURN QUERY
    SELECT b.relation, b.kind, b.table_name, b.size_bytes, b.size_pretty,
           b.bloat_bytes, b.bloat_pretty, b.bloat_pct, b.dead_tuple_pct,
           b.live_tuples, b.dead_tuples, b.toast_bytes, b.fillfactor,
           b.method, b.confidence,
           CASE WHEN b.advice = 'rebuild' THEN concat_ws('; ', b.reason,
                    'pg_repack rebuilds it online; VACUUM FULL returns the space too but holds an ACCESS EXCLUSIVE lock for the whole rewrite')
                ELSE b.reason END,
           CASE b.advice
               WHEN 'none' THEN 'none'
               WHEN 'retry' THEN @extschema@._runnable('text', 'retry later; see runbook.blocking_locks()')
               WHEN 'analyze' THEN @extschema@._runnable('sql', 'ANALYZE %R;', coalesce(b.table_name, b.relation))
               WHEN 'measure' THEN @extschema@._runnable('sql', 'SELECT * FROM %I.bloat_report(''exact'', %L);',
                                                         '@extschema@', coalesce(b.table_name, b.relation)::text)
               WHEN 'vacuum' THEN @extschema@._runnable('sql', 'VACUUM (VERBOSE, ANALYZE) %R;',
                                                        coalesce(b.table_name, b.relation))
               WHEN 'rebuild' THEN @extschema@._runnable('shell', 'pg_repack --dbname=%Q --table=%Q',
                                                         current_database()::text, b.relation::text)
               WHEN 'reindex' THEN @extschema@._runnable('sql', 'REINDEX INDEX CONCURRENTLY %R;', b.relation)
           END,
           current_database(), b.schemaname, b.relname, b.table_relname
      FROM (SELECT r.relation, r.kind, r.table_name, r.size_bytes, r.size_pretty, r.bloat_bytes,
                   r.bloat_pretty, r.bloat_pct, r.dead_tuple_pct, r.live_tuples, r.dead_tuples,
                   r.toast_bytes, r.fillfactor, r.method, r.confidence, r.reason, r.advice,
                   r.schemaname, r.relname, r.table_relname
              FROM @extschema@._bloat_rows(rel) r
             WHERE m = 'estimate'
            UNION ALL
            SELECT u.relation, u.kind, u.table_name, u.size_bytes, u.size_pretty, u.bloat_bytes,
                   u.bloat_pretty, u.bloat_pct, u.dead_tuple_pct, u.live_tuples, u.dead_tuples,
                   u.toast_bytes, u.fillfactor, u.method, u.confidence, u.reason, u.remedy,
                   u.schemaname, u.relname, u.table_relname
              FROM unnest(measured) u
             WHERE m <> 'estimate') b;
END
$fn$;

COMMENT ON FUNCTION @extschema@._bloat_report(text, regclass, bigint) IS
'internal: bloat_report() in this database (the per-database check bloat_report() runs in each database)';

REVOKE ALL ON FUNCTION @extschema@._bloat_report(text, regclass, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._bloat_report(text, regclass, bigint) TO pg_monitor;
