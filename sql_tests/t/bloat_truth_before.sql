-- Bloat accuracy (sql_tests/t/400_bloat_accuracy.pl, bench/50_bloat.sh),
-- step 1 of 2, after bloat_corpus.sql: every corpus relation, the estimate
-- of bloat_report() and what pgstattuple / pgstatindex measure now.
CREATE TABLE acc_rel AS
  SELECT c.oid::regclass AS rel, c.relname::text AS name,
         CASE WHEN c.relkind = 'i' THEN 'index' ELSE 'table' END AS kind,
         am.amname::text AS am,
         coalesce((SELECT option_value::int FROM pg_options_to_table(c.reloptions) WHERE option_name = 'fillfactor'),
                  CASE am.amname WHEN 'btree' THEN 90 WHEN 'hash' THEN 75 WHEN 'gist' THEN 90 ELSE 100 END) AS ff
    FROM pg_class c JOIN pg_am am ON am.oid = c.relam
    LEFT JOIN pg_index i ON i.indexrelid = c.oid
    JOIN pg_class t ON t.oid = coalesce(i.indrelid, c.oid)
   WHERE c.relkind IN ('r', 'm', 'i') AND t.relname LIKE 'bc\_%';
CREATE TABLE acc_est AS
  SELECT b.relation::text AS name, b.bloat_pct AS est, b.confidence, b.reason, b.remedy
    FROM runbook.bloat_report() b WHERE b.relation::text IN (SELECT name FROM acc_rel);
-- tables, hash and gist indexes: pgstattuple's free + dead bytes; btree:
-- pgstatindex's leaf density against the fillfactor, plus empty and
-- deleted pages (entries of dead rows count as used, as it counts them)
CREATE TABLE acc_before AS
  SELECT r.name, pg_relation_size(r.rel) AS size,
         CASE WHEN r.kind = 'table' OR r.am IN ('hash', 'gist')
              THEN (SELECT free_space + dead_tuple_len FROM pgstattuple(r.rel)) END AS waste,
         CASE WHEN r.am = 'btree'
              THEN (SELECT CASE WHEN leaf_pages > 0 AND avg_leaf_density <> 'NaN'
                                THEN greatest(0, leaf_pages * 8192.0 * (1 - avg_leaf_density::numeric / r.ff)) ELSE 0 END
                           + (empty_pages + deleted_pages) * 8192.0
                      FROM pgstatindex(r.rel)) END AS btree_waste
    FROM acc_rel r;
