-- A per-database check of triage() (80_triage/triage_database.sql runs it
-- in every database): bloat, what bloat_report() knows of the user tables of 8 MB or more
-- (and of their indexes): after VACUUM the dead rows are gone
-- but the space they took stays in the table and its indexes (VACUUM makes
-- it reusable, it does not give it back).  A relation is a finding when
-- bloat_report() would rebuild it (at least 30 % and 8 MB wasted); a table
-- that still has many dead rows is the dead_tuples finding (vacuum first).
-- The cause is named when the catalog shows it (autovacuum off for the
-- table or the server).  An estimate of low confidence (no statistics, a
-- tiny or TOAST-heavy relation) is never acted on: it is SEV4 and its
-- remedy measures the relation (pgstattuple) instead of rebuilding it.  The remedy rebuilds: VACUUM FULL for a table up
-- to 256 MB (its ACCESS EXCLUSIVE lock lasts seconds), pg_repack (online)
-- for a bigger one, REINDEX INDEX CONCURRENTLY for an index alone.  The
-- remedy is to be run in this database (the finding's datname); the
-- thresholds come from the database triage() runs in.

CREATE OR REPLACE FUNCTION @extschema@._triage_db_bloat(thresholds jsonb)
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    n       integer := 0;
    av_off  boolean := NOT current_setting('autovacuum')::boolean;
    t_dead  numeric := coalesce((thresholds->>'dead_tuples_pct')::numeric, @extschema@._threshold('dead_tuples_pct'));
BEGIN
    f.check_name := 'bloat';
    FOR r IN
        -- only tables that are (or have an index that is) at least 8 MB by
        -- the catalog's page counts: bloat_report() of each, at most 50,
        -- never of the whole database (10,000 tables cost it 0.2 s)
        WITH big_rel AS MATERIALIZED (
            -- one pass over pg_class: relations of 8 MB or more by the
            -- catalog's page counts, an index standing for its table
            SELECT coalesce(i.indrelid, c.oid) AS tbl, c.relpages
              FROM pg_class c
              LEFT JOIN pg_index i ON i.indexrelid = c.oid
             WHERE c.relpages >= 8388608 / current_setting('block_size')::integer
               AND c.relkind IN ('r', 'm', 'i')
        ), cand AS MATERIALIZED (
            SELECT t.oid
              FROM (SELECT br.tbl, max(br.relpages) AS pages FROM big_rel br GROUP BY br.tbl) x
              JOIN pg_class t ON t.oid = x.tbl
             WHERE t.relkind IN ('r', 'm')
               -- not the system catalogs: rewriting them locks every session
               -- out, which is no remedy to follow blind
               AND t.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                                          'pg_toast'::regnamespace)
             ORDER BY x.pages DESC
             LIMIT 50
        ), b AS (
            SELECT br.* FROM cand CROSS JOIN LATERAL @extschema@._bloat_report('estimate', cand.oid::regclass, 1073741824) br
        ), big AS (
            SELECT b.*, coalesce(b.table_name, b.relation) AS tbl
              FROM b
             WHERE b.bloat_pct >= 30 AND b.bloat_bytes >= 8 * 1024 * 1024
               AND b.relation IS NOT NULL
        )
        -- a bloated table (its indexes are rebuilt with it), or an index of
        -- a table that is not bloated itself
        SELECT g.relation, g.kind, g.tbl, g.size_bytes, g.bloat_bytes, g.bloat_pct, g.confidence, g.reason,
               (SELECT jsonb_agg(jsonb_build_object('index', i.relation::text, 'bloat_bytes', i.bloat_bytes,
                                                    'bloat_pct', i.bloat_pct, 'confidence', i.confidence))
                  FROM big i WHERE i.kind = 'index' AND i.tbl = g.relation AND g.kind = 'table') AS indexes,
               (SELECT coalesce(sum(i.bloat_bytes), 0) FROM big i WHERE i.kind = 'index' AND i.tbl = g.relation AND g.kind = 'table') AS index_bloat,
               coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_enabled') IN ('false', 'off', 'no', '0'), false) AS table_off
          FROM big g
          JOIN pg_class c ON c.oid = g.tbl
         WHERE (g.kind = 'table' AND coalesce(g.dead_tuple_pct, 0) < t_dead)
            OR (g.kind = 'index' AND NOT EXISTS (SELECT 1 FROM big t WHERE t.kind = 'table' AND t.relation = g.tbl))
         ORDER BY g.bloat_bytes DESC
         LIMIT 5
    LOOP
        f.severity := CASE WHEN r.confidence = 'low' THEN 'SEV4' ELSE 'SEV3' END;
        f.finding := format('%s %s: %s of its %s (%s%%) is empty space%s (bloat_report estimate, %s confidence)%s%s',
                            r.kind, r.relation, pg_size_pretty(r.bloat_bytes), pg_size_pretty(r.size_bytes), r.bloat_pct,
                            CASE WHEN r.index_bloat > 0 THEN format(', and %s more in its indexes', pg_size_pretty(r.index_bloat)) ELSE '' END,
                            r.confidence,
                            CASE WHEN r.table_off THEN format('; cause: autovacuum_enabled = off on %s', r.tbl)
                                 WHEN av_off THEN '; cause: autovacuum = off for the whole server' ELSE '' END,
                            CASE WHEN r.confidence = 'low' THEN '; a low-confidence estimate, to be measured' ELSE '' END);
        f.evidence := jsonb_strip_nulls(jsonb_build_object('relation', r.relation::text, 'kind', r.kind, 'table', r.tbl::text,
                          'datname', current_database(), 'size_bytes', r.size_bytes, 'bloat_bytes', r.bloat_bytes,
                          'bloat_pct', r.bloat_pct, 'confidence', r.confidence, 'reason', r.reason,
                          'indexes', r.indexes,
                          'cause', CASE WHEN r.table_off THEN 'autovacuum_enabled = off on the table'
                                        WHEN av_off THEN 'autovacuum = off' END));
        IF r.confidence = 'low' THEN
            f.action := @extschema@._runnable('text', 'the estimate is weak here (%s): measure the relation before acting (the remedy reads it whole, with pgstattuple)',
                                              coalesce(r.reason, 'low confidence'));
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.bloat_report(%L, %L::regclass);', '@extschema@', 'exact', r.relation::text);
        ELSIF r.kind = 'index' THEN
            f.action := @extschema@._runnable('text', 'rebuild the index online (REINDEX CONCURRENTLY: reads and writes go on)');
            f.remedy_sql := @extschema@._runnable('sql', 'REINDEX INDEX CONCURRENTLY %R;', r.relation);
        ELSIF r.size_bytes <= 256 * 1024 * 1024 THEN
            f.action := @extschema@._runnable('text', 'the space is reused by new rows but not given back: rewrite the table and its indexes (VACUUM FULL holds an ACCESS EXCLUSIVE lock while it copies %s: seconds at this size; pg_repack does it online)',
                                              pg_size_pretty(r.size_bytes - r.bloat_bytes));
            f.remedy_sql := CASE WHEN r.table_off
                                 THEN @extschema@._runnable('sql', 'ALTER TABLE %1$R RESET (autovacuum_enabled);  VACUUM (FULL, ANALYZE) %1$R;', r.relation)
                                 ELSE @extschema@._runnable('sql', 'VACUUM (FULL, ANALYZE) %R;', r.relation) END;
        ELSE
            f.action := @extschema@._runnable('text', 'rewrite it online with pg_repack (VACUUM FULL would lock it for the whole copy of %s): pg_repack --dbname=%s --table=%s',
                                              pg_size_pretty(r.size_bytes - r.bloat_bytes), current_database(), r.relation::text);
            f.remedy_sql := NULL;
        END IF;
        f.datname := current_database();
        RETURN NEXT f;
        n := n + 1;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_db_bloat(jsonb) IS
'internal: a per-database check of triage(), run in every database by _triage_database()';

REVOKE ALL ON FUNCTION @extschema@._triage_db_bloat(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_db_bloat(jsonb) TO pg_monitor;
