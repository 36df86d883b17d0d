-- runbook.bloat_report(method, rel, max_bytes): tables and indexes, bytes
-- and percent, with the method, its confidence and the remedy; the
-- estimate (_bloat_estimate) and sizes come from C (src/maint.c) with
-- conditional locks.

CREATE OR REPLACE FUNCTION @extschema@._bloat_estimate(
    rel regclass DEFAULT NULL,
    OUT relid oid,
    OUT kind text,
    OUT table_oid oid,
    OUT size_bytes bigint,
    OUT expected_bytes bigint,
    OUT bloat_bytes bigint,
    OUT live_tuples float8,
    OUT dead_tuples float8,
    OUT toast_bytes bigint,
    OUT fillfactor integer,
    OUT confidence text,
    OUT reason text,
    OUT skipped boolean)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_bloat_estimate';

REVOKE ALL ON FUNCTION @extschema@._bloat_estimate(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._bloat_estimate(regclass) TO pg_monitor;

-- _bloat_remedy(): the pg_repack command line quotes the table name for the shell

CREATE OR REPLACE FUNCTION @extschema@._bloat_remedy(kind text, relation regclass, table_name regclass,
    bloat_bytes bigint, bloat_pct numeric, dead_tuple_pct numeric, reason text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE
    WHEN reason ~ 'run ANALYZE' THEN format('ANALYZE %s', coalesce(table_name, relation))
    WHEN reason LIKE 'skipped: locked%' THEN 'retry later; see runbook.blocking_locks()'
    WHEN bloat_bytes IS NULL THEN NULL
    WHEN kind = 'table' AND dead_tuple_pct >= 20 THEN format('VACUUM (VERBOSE, ANALYZE) %s', relation)
    WHEN kind = 'table' AND bloat_pct >= 30 AND bloat_bytes >= 8 * 1024 * 1024 THEN
        format('rebuild online: pg_repack --table=%s (or VACUUM FULL %s, which holds AccessExclusiveLock for the whole rewrite)',
               @extschema@._shell_quote(relation::text), relation)
    WHEN kind = 'index' AND bloat_pct >= 30 AND bloat_bytes >= 8 * 1024 * 1024 THEN
        format('REINDEX INDEX CONCURRENTLY %s', relation)
    ELSE 'none'
END
$$;

REVOKE ALL ON FUNCTION @extschema@._bloat_remedy(text, regclass, regclass, bigint, numeric, numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._bloat_remedy(text, regclass, regclass, bigint, numeric, numeric, text) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.bloat_report(
    method text DEFAULT 'estimate',
    rel regclass DEFAULT NULL,
    max_bytes bigint DEFAULT 1073741824)
RETURNS SETOF @extschema@.bloat_row
LANGUAGE plpgsql VOLATILE
SET lock_timeout = '100ms'
SET jit = off
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    o @extschema@.bloat_row;
    m text := lower(coalesce(bloat_report.method, 'estimate'));
    pgst name;
    e record;
    x record;
    scanned integer := 0;
BEGIN
    IF m NOT IN ('estimate', 'approx', 'exact') THEN
        RAISE EXCEPTION 'unknown bloat method "%"', bloat_report.method
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

    IF m = 'estimate' THEN
        -- one set-based query: no per-row PL/pgSQL
        RETURN QUERY
        SELECT b.*, @extschema@._bloat_remedy(b.kind, b.relation, b.table_name, b.bloat_bytes,
                                               b.bloat_pct, b.dead_tuple_pct, b.reason)
          FROM (SELECT be.relid::regclass AS relation, be.kind, be.table_oid::regclass AS table_name,
                       be.size_bytes, pg_size_pretty(be.size_bytes),
                       be.bloat_bytes, pg_size_pretty(be.bloat_bytes),
                       CASE WHEN be.size_bytes > 0 AND be.bloat_bytes IS NOT NULL
                            THEN round(100.0 * be.bloat_bytes / be.size_bytes, 1) END AS bloat_pct,
                       CASE WHEN be.kind = 'table' AND be.live_tuples + be.dead_tuples > 0
                            THEN round((100.0 * be.dead_tuples / (be.live_tuples + be.dead_tuples))::numeric, 1) END AS dead_tuple_pct,
                       be.live_tuples::bigint, be.dead_tuples::bigint, be.toast_bytes, be.fillfactor,
                       'estimate'::text, be.confidence,
                       CASE WHEN be.skipped
                            THEN 'skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for'
                            ELSE be.reason END AS reason
                  FROM @extschema@._bloat_estimate(rel) be) b;
        RETURN;
    END IF;

    FOR e IN SELECT * FROM @extschema@._bloat_estimate(rel) LOOP
        o.relation := e.relid::regclass;
        o.kind := e.kind;
        o.table_name := e.table_oid::regclass;
        o.size_bytes := e.size_bytes;
        o.bloat_bytes := e.bloat_bytes;
        o.live_tuples := e.live_tuples::bigint;
        o.dead_tuples := e.dead_tuples::bigint;
        o.toast_bytes := e.toast_bytes;
        o.fillfactor := e.fillfactor;
        o.method := 'estimate';
        o.confidence := e.confidence;
        o.reason := e.reason;
        o.bloat_pct := CASE WHEN e.size_bytes > 0 AND e.bloat_bytes IS NOT NULL
                          THEN round(100.0 * e.bloat_bytes / e.size_bytes, 1) END;
        o.dead_tuple_pct := CASE WHEN e.kind = 'table' AND e.live_tuples + e.dead_tuples > 0
                               THEN round((100.0 * e.dead_tuples / (e.live_tuples + e.dead_tuples))::numeric, 1) END;

        IF e.skipped THEN
            o.reason := 'skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for';
            o.remedy := 'retry later; see runbook.blocking_locks()';
            o.size_pretty := NULL; o.bloat_pretty := NULL;
            RETURN NEXT o;
            CONTINUE;
        END IF;

        IF m <> 'estimate' AND (m = 'exact' OR e.kind = 'table') THEN
            IF e.size_bytes > max_bytes THEN
                o.reason := concat_ws('; ', o.reason, format('larger than max_bytes (%s): not scanned, estimate shown', pg_size_pretty(max_bytes)));
            ELSE
                BEGIN
                    IF e.kind = 'table' AND m = 'approx' THEN
                        EXECUTE format('SELECT table_len, approx_free_space + dead_tuple_len AS waste, dead_tuple_count, approx_tuple_count AS live FROM %I.pgstattuple_approx($1)', pgst)
                           INTO x USING e.relid;
                    ELSIF e.kind = 'table' THEN
                        EXECUTE format('SELECT table_len, free_space + dead_tuple_len AS waste, dead_tuple_count, tuple_count AS live FROM %I.pgstattuple($1)', pgst)
                           INTO x USING e.relid;
                    ELSIF e.reason IS NULL OR e.reason NOT LIKE 'non-btree%' THEN
                        -- btree: leaf density against the fillfactor, plus empty and deleted pages
                        EXECUTE format('SELECT index_size AS table_len,
                                        CASE WHEN leaf_pages > 0 AND avg_leaf_density <> ''NaN''
                                             THEN greatest(0, (leaf_pages * current_setting(''block_size'')::bigint)
                                                     * (1 - avg_leaf_density / $2))::bigint ELSE 0 END
                                          + (empty_pages + deleted_pages) * current_setting(''block_size'')::bigint AS waste,
                                        NULL::bigint AS dead_tuple_count, NULL::bigint AS live
                                        FROM %I.pgstatindex($1)', pgst)
                           INTO x USING e.relid, coalesce(e.fillfactor, 90)::float8;
                    ELSE
                        EXECUTE format('SELECT pg_relation_size($1) AS table_len,
                                        (free_space + dead_tuple_len) AS waste,
                                        dead_tuple_count, tuple_count AS live
                                        FROM %I.pgstattuple($1)', pgst)
                           INTO x USING e.relid;
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
                EXCEPTION WHEN lock_not_available THEN
                    o.reason := 'skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for';
                    o.remedy := 'retry later; see runbook.blocking_locks()';
                    o.confidence := 'low';
                    o.size_pretty := pg_size_pretty(o.size_bytes); o.bloat_pretty := NULL;
                    o.bloat_bytes := NULL; o.bloat_pct := NULL;
                    RETURN NEXT o;
                    CONTINUE;
                WHEN feature_not_supported OR wrong_object_type THEN
                    o.reason := concat_ws('; ', o.reason, 'pgstattuple cannot measure it (' || SQLERRM || '): estimate shown');
                END;
            END IF;
        ELSIF m = 'approx' AND e.kind = 'index' THEN
            o.reason := concat_ws('; ', o.reason, 'pgstattuple_approx covers tables only: index figure is the estimate');
        END IF;

        o.size_pretty := pg_size_pretty(o.size_bytes);
        o.bloat_pretty := pg_size_pretty(o.bloat_bytes);
        o.remedy := @extschema@._bloat_remedy(o.kind, o.relation, o.table_name, o.bloat_bytes, o.bloat_pct, o.dead_tuple_pct, e.reason);
        RETURN NEXT o;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@.bloat_report(text, regclass, bigint) IS
'bloat of tables and btree indexes with method, confidence, the reason a figure is weak and the remedy; method estimate (default, catalog statistics, no scan), approx or exact (pgstattuple, opt-in, relations up to max_bytes, one relation with rel)';

REVOKE ALL ON FUNCTION @extschema@.bloat_report(text, regclass, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.bloat_report(text, regclass, bigint) TO pg_monitor;
