-- runbook.index_advice(): unused, duplicate, redundant and invalid indexes,
-- foreign keys without an index, sequential-scan-heavy tables; each with
-- the reason (_runnable('text')) and the DDL to run (_runnable('sql'): names
-- only as quoted identifiers, never in a comment), in every database of
-- the server (or the named ones: index_advice_server.sql).  _index_advice()
-- is one database's part, run in each: its DDL is to be run in the
-- database of its row (datname).  Tables of extensions (pg_runbook's own) are left out.
-- A table is no longer sequential-scan-heavy once an index serves its
-- lookups (_index_serves_now()).

-- Does an index serve the lookups of a table now?  16+: its last index
-- scan is newer than its last sequential scan.  15 keeps no such times: an
-- index that backs no constraint has been scanned at least min_scans times
-- (an index made for the lookups that the sequential scans did).
CREATE OR REPLACE FUNCTION @extschema@._index_serves_now(rel oid, min_scans bigint)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    yes boolean;
BEGIN
    IF current_setting('server_version_num')::integer >= 160000 THEN
        EXECUTE 'SELECT coalesce(t.last_idx_scan > coalesce(t.last_seq_scan, ''-infinity''), false)
                   FROM pg_catalog.pg_stat_all_tables t WHERE t.relid = $1'
           INTO yes USING rel;
        RETURN coalesce(yes, false);
    END IF;
    RETURN EXISTS (SELECT 1 FROM pg_index i
                    WHERE i.indrelid = rel AND i.indisvalid
                      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                      AND pg_stat_get_numscans(i.indexrelid) >= min_scans);
END
$fn$;

COMMENT ON FUNCTION @extschema@._index_serves_now(oid, bigint) IS
'internal: an index serves the lookups of this table now (16+: its last index scan is newer than its last sequential scan; 15: an index backing no constraint was scanned min_scans times)';

REVOKE ALL ON FUNCTION @extschema@._index_serves_now(oid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._index_serves_now(oid, bigint) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._index_advice(
    min_table_bytes bigint,
    min_seq_scans bigint)
RETURNS TABLE (
    verdict text,
    index regclass,
    table_name regclass,
    size_bytes bigint,
    size_pretty text,
    keep regclass,
    reason text,
    ddl text,
    stats_since timestamptz,
    datname name,
    schemaname name,
    relname name,
    table_relname name)
LANGUAGE sql VOLATILE
-- self-joins of catalog CTEs: row estimates are poor and a nested loop is
-- quadratic; disabling it inflates costs, which would trigger a JIT
-- compilation that costs seconds
SET enable_nestloop = off
SET jit = off
SET search_path = pg_catalog, pg_temp
AS $fn$
-- the advice, then the names of its relations (the index, or the table of
-- a row without one; an index is in its table's schema)
SELECT a.*, current_database(), n.nspname, c.relname, t.relname
  FROM (
WITH reset AS (
    SELECT coalesce(d.stats_reset, pg_postmaster_start_time()) AS since,
           d.stats_reset IS NULL AS never_reset
      FROM pg_stat_database d WHERE d.datname = current_database()
), cons AS (
    -- constraints by index (pg_constraint has no index on conindid)
    SELECT con.conindid,
           bool_or(con.contype IN ('p', 'u', 'x')) AS backs_constraint,
           bool_or(con.contype = 'f') AS fk_target,
           min(con.conname) FILTER (WHERE con.contype IN ('p', 'u', 'x')) AS conname
      FROM pg_constraint con
     WHERE con.conindid <> 0
     GROUP BY con.conindid
), idx AS (
    SELECT i.indexrelid, i.indrelid, c.relam, c.relname,
           i.indisunique, i.indisprimary, i.indisexclusion, i.indisvalid, i.indisreplident,
           i.indnkeyatts, i.indnatts, i.indkey, i.indclass, i.indcollation, i.indoption,
           i.indexprs, i.indpred,
           coalesce(k.backs_constraint, false) AS backs_constraint,
           coalesce(k.fk_target, false) AS fk_target,
           k.conname
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      LEFT JOIN cons k ON k.conindid = i.indexrelid
     WHERE c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                                  'pg_toast'::regnamespace)
       AND c.relpersistence <> 't'
       -- an extension's own tables (pg_runbook's audit, say) are its business
       AND NOT EXISTS (SELECT 1 FROM pg_depend dp
                        WHERE dp.classid = 'pg_class'::regclass AND dp.objid = i.indrelid AND dp.deptype = 'e')
), ranked AS (
    SELECT x.indexrelid, x.indrelid, x.relam, x.indisunique, x.indisreplident,
           x.backs_constraint, x.fk_target, x.conname,
           -- what to keep first: constraint / FK target, primary, unique, then the older
           (x.backs_constraint OR x.fk_target)::int * 8 + x.indisprimary::int * 4 + x.indisunique::int * 2 AS rank,
           -- per key column: attnum (0 = expression), operator class, collation, order;
           -- catalog text only: pg_get_indexdef()/pg_get_expr() lock the table
           (SELECT array_agg(format('%s|%s|%s|%s', k.att, k.opc, k.coll, k.opt) ORDER BY k.ord)
              FROM ROWS FROM (unnest(x.indkey::int2[]), unnest(x.indclass::oid[]),
                              unnest(x.indcollation::oid[]), unnest(x.indoption::int2[]))
                   WITH ORDINALITY AS k(att, opc, coll, opt, ord)
             WHERE k.ord <= x.indnkeyatts) AS sig,
           CASE WHEN x.indnatts > x.indnkeyatts THEN
               (SELECT array_agg(k.att ORDER BY k.ord)
                  FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(att, ord)
                 WHERE k.ord > x.indnkeyatts) END AS incl,
           regexp_replace(x.indexprs::text, ':location -?[0-9]+', '', 'g') AS exprs,
           regexp_replace(x.indpred::text, ':location -?[0-9]+', '', 'g') AS pred
      FROM idx x WHERE x.indisvalid
), grp AS (
    -- identical definitions: one group each; keep the best-ranked, then the oldest
    SELECT r.*,
           first_value(r.indexrelid) OVER w AS keep_idx,
           first_value(r.indisunique) OVER w AS keep_unique,
           row_number() OVER w AS pos
      FROM ranked r
    WINDOW w AS (PARTITION BY r.indrelid, r.relam, r.sig, r.incl, r.exprs, r.pred
                 ORDER BY r.rank DESC, r.indexrelid)
), dup AS (
    SELECT g.indexrelid AS drop_idx, g.keep_idx,
           CASE WHEN g.indisunique = g.keep_unique THEN 'duplicate' ELSE 'redundant' END AS verdict,
           CASE WHEN g.indisunique = g.keep_unique
                THEN CASE WHEN g.pred IS NOT NULL
                          THEN @extschema@._runnable('text', 'same columns, operator classes, collations, order and predicate as %R', g.keep_idx)
                          ELSE @extschema@._runnable('text', 'same columns, operator classes, collations, order as %R', g.keep_idx) END
                ELSE @extschema@._runnable('text', 'same key as unique index %R, which serves the same lookups', g.keep_idx)
           END AS why,
           g.backs_constraint OR g.fk_target AS a_constraint, g.conname, g.indrelid
      FROM grp g
     WHERE g.pos > 1 AND NOT g.indisreplident
), red AS (
    SELECT a.indexrelid AS drop_idx, b.indexrelid AS keep_idx, 'redundant'::text AS verdict,
           @extschema@._runnable('text', 'its key (%s) is a leading prefix of %R (same operator classes, collations, order and predicate)',
                  (SELECT string_agg(coalesce(quote_ident(att.attname), 'expression'), ', ' ORDER BY k.ord)
                     FROM pg_index pi, unnest(pi.indkey::int2[]) WITH ORDINALITY AS k(att, ord)
                     LEFT JOIN pg_attribute att ON att.attrelid = a.indrelid AND att.attnum = k.att AND k.att > 0
                    WHERE pi.indexrelid = a.indexrelid AND k.ord <= pi.indnkeyatts),
                  b.indexrelid) AS why,
           false AS a_constraint, NULL::name AS conname, a.indrelid
      FROM ranked a JOIN ranked b
        ON a.indrelid = b.indrelid AND a.sig[1] = b.sig[1] AND a.indexrelid <> b.indexrelid
       AND a.relam = b.relam AND a.relam = (SELECT am.oid FROM pg_am am WHERE am.amname = 'btree')
       AND cardinality(a.sig) < cardinality(b.sig)
       AND a.sig = b.sig[1:cardinality(a.sig)]
       -- the expressions of a are the leading expressions of b
       AND (a.exprs IS NULL
            OR (b.exprs IS NOT NULL AND left(b.exprs, length(a.exprs) - 1) = left(a.exprs, length(a.exprs) - 1)
                AND substr(b.exprs, length(a.exprs), 1) IN (' ', ')')))
       AND a.pred IS NOT DISTINCT FROM b.pred
     WHERE NOT a.indisunique AND NOT a.backs_constraint AND NOT a.indisreplident
       AND a.incl IS NULL
), unused AS (
    SELECT x.* FROM idx x
     WHERE pg_stat_get_numscans(x.indexrelid) = 0 AND x.indisvalid
       AND NOT (x.indisunique OR x.indisprimary OR x.indisexclusion OR x.backs_constraint OR x.indisreplident)
), fk AS (
    SELECT con.oid, con.conname, con.conrelid, con.confrelid, con.conkey,
           ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(att, o)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.att ORDER BY k.o) AS cols
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
     WHERE con.contype = 'f'
       AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
       AND NOT EXISTS (SELECT 1 FROM pg_depend dp
                        WHERE dp.classid = 'pg_class'::regclass AND dp.objid = con.conrelid AND dp.deptype = 'e')
       AND NOT EXISTS (
           SELECT 1 FROM pg_index i
            WHERE i.indrelid = con.conrelid AND i.indisvalid AND i.indpred IS NULL
              AND i.indnkeyatts >= cardinality(con.conkey)
              AND ARRAY(SELECT k FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(k, o)
                         WHERE o <= cardinality(con.conkey) ORDER BY k)
                  = ARRAY(SELECT k FROM unnest(con.conkey) k ORDER BY k))
)
SELECT 'unused', x.indexrelid::regclass, x.indrelid::regclass,
       sz.bytes, pg_size_pretty(sz.bytes),
       NULL::regclass,
       format('no index scans since %s%s; not a primary key, unique or constraint index; scans on standbys are not counted here',
              (SELECT since FROM reset),
              CASE WHEN (SELECT never_reset FROM reset) THEN ' (the last server start: statistics were never reset, so at least since then)' ELSE ' (the last statistics reset)' END),
       @extschema@._runnable('sql', 'DROP INDEX CONCURRENTLY %R;', x.indexrelid),
       (SELECT since FROM reset)
  FROM unused x
  -- sizes in one call, not one relation_size_nowait() a row
  LEFT JOIN @extschema@._sizes_nowait(ARRAY(SELECT u.indexrelid FROM unused u)) sz ON sz.relid = x.indexrelid
UNION ALL
SELECT d.verdict, d.drop_idx::regclass, d.indrelid::regclass,
       sz.b, pg_size_pretty(sz.b),
       d.keep_idx::regclass,
       @extschema@._runnable('text', '%s; keep %R', d.why, d.keep_idx),
       CASE WHEN d.a_constraint AND d.conname IS NOT NULL
            THEN @extschema@._runnable('sql', 'ALTER TABLE %R DROP CONSTRAINT %I;  -- the index backs this constraint; the index kept (column keep) enforces the same', d.indrelid, d.conname)
            WHEN d.a_constraint
            THEN @extschema@._runnable('sql', 'DROP INDEX CONCURRENTLY %R;  -- fails while a foreign key references the index: repoint the foreign key first', d.drop_idx)
            ELSE @extschema@._runnable('sql', 'DROP INDEX CONCURRENTLY %R;', d.drop_idx) END,
       NULL::timestamptz
  FROM (SELECT * FROM dup UNION ALL SELECT * FROM red) d
  CROSS JOIN LATERAL (SELECT @extschema@.relation_size_nowait(d.drop_idx) AS b) sz
UNION ALL
SELECT 'invalid', x.indexrelid::regclass, x.indrelid::regclass,
       @extschema@.relation_size_nowait(x.indexrelid), pg_size_pretty(@extschema@.relation_size_nowait(x.indexrelid)),
       NULL,
       CASE WHEN x.relname ~ '_cc(new|old)[0-9]*$'
            THEN 'leftover of a failed REINDEX CONCURRENTLY: not used by queries, still maintained on every write'
            ELSE 'invalid (a failed CREATE INDEX CONCURRENTLY?): not used by queries, still maintained on every write' END,
       CASE WHEN x.relname ~ '_cc(new|old)[0-9]*$'
            THEN @extschema@._runnable('sql', 'DROP INDEX CONCURRENTLY %R;', x.indexrelid)
            -- pg_get_indexdef() locks the table: only when that lock is free now
            WHEN @extschema@.relation_size_nowait(x.indrelid) IS NOT NULL
            THEN @extschema@._runnable('sql', 'DROP INDEX CONCURRENTLY %R; %D;  -- or rebuild it in place: REINDEX INDEX CONCURRENTLY',
                        x.indexrelid,
                        regexp_replace(pg_get_indexdef(x.indexrelid), '^CREATE (UNIQUE )?INDEX ', 'CREATE \1INDEX CONCURRENTLY '))
            ELSE @extschema@._runnable('sql', 'REINDEX INDEX CONCURRENTLY %R;', x.indexrelid) END,
       NULL
  FROM idx x
 WHERE NOT x.indisvalid
   AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                    WHERE p.relid = x.indrelid OR p.index_relid = x.indexrelid)
UNION ALL
SELECT 'fk_without_index', NULL, f.conrelid::regclass,
       NULL, NULL, NULL,
       @extschema@._runnable('text', 'foreign key %I references %R: every DELETE or key UPDATE there scans %R (about %s rows) for (%I)',
              f.conname, f.confrelid, f.conrelid,
              (SELECT greatest(c.reltuples, 0)::bigint FROM pg_class c WHERE c.oid = f.conrelid),
              f.cols),
       @extschema@._runnable('sql', 'CREATE INDEX CONCURRENTLY ON %R (%I);', f.conrelid, f.cols),
       NULL
  FROM fk f
UNION ALL
SELECT 'seq_scan_heavy', NULL, s.relid::regclass,
       c.relpages::bigint * current_setting('block_size')::bigint,
       pg_size_pretty(c.relpages::bigint * current_setting('block_size')::bigint),
       NULL,
       format('%s sequential scans reading %s rows each on average, against %s index scans, on a table of about %s rows',
              s.seq_scan, s.seq_tup_read / greatest(s.seq_scan, 1), coalesce(s.idx_scan, 0), greatest(c.reltuples, 0)::bigint),
       @extschema@._runnable('sql', 'SELECT query, calls, mean_exec_time FROM pg_stat_statements WHERE query ILIKE %L ORDER BY total_exec_time DESC LIMIT 20;  -- the statements; then CREATE INDEX CONCURRENTLY ON the table (the columns they filter on)',
              '%' || c.relname || '%'),
       (SELECT since FROM reset)
  FROM pg_stat_all_tables s
  JOIN pg_class c ON c.oid = s.relid
 WHERE c.relkind IN ('r', 'm')
   AND s.schemaname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND c.relpages::bigint * current_setting('block_size')::bigint >= min_table_bytes
   AND s.seq_scan >= min_seq_scans
   AND s.seq_scan > coalesce(s.idx_scan, 0)
   AND s.seq_tup_read / greatest(s.seq_scan, 1) >= 10000
   AND NOT EXISTS (SELECT 1 FROM pg_depend dp
                    WHERE dp.classid = 'pg_class'::regclass AND dp.objid = s.relid AND dp.deptype = 'e')
   -- the counters add up since the statistics reset: once an index serves
   -- the lookups, the old sequential scans are not the present
   AND NOT @extschema@._index_serves_now(s.relid, min_seq_scans)
ORDER BY 1, 3, 2
       ) a(verdict, index, table_name, size_bytes, size_pretty, keep, reason, ddl, stats_since)
  LEFT JOIN pg_class c ON c.oid = coalesce(a.index, a.table_name)
  LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class t ON t.oid = a.table_name
 ORDER BY 1, 3, 2
$fn$;

COMMENT ON FUNCTION @extschema@._index_advice(bigint, bigint) IS
'internal: index_advice() in this database (the per-database check index_advice() runs in each database)';

REVOKE ALL ON FUNCTION @extschema@._index_advice(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._index_advice(bigint, bigint) TO pg_monitor;
