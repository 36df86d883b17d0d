-- Bloat accuracy, step 2 of 2 (after check_postgres has read the corpus):
-- rewrite every corpus table (VACUUM FULL rebuilds its indexes too), then
-- the truth per relation in percent of its size (view acc_cmp):
--  - table, hash and gist index: free + dead bytes less the free bytes
--    pgstattuple finds after the rewrite (what the fillfactor and a page's
--    last partial row keep free: a rewrite cannot return it);
--  - btree index: pgstatindex's figure of step 1;
--  - gin index (pgstattuple cannot read it): the bytes a rebuild returns.
SELECT format('VACUUM FULL %s', oid::regclass) FROM pg_class
 WHERE relname LIKE 'bc\_%' AND relkind IN ('r', 'm') ORDER BY oid \gexec
CREATE TABLE acc_after AS
  SELECT r.name, pg_relation_size(r.rel) AS size,
         CASE WHEN r.kind = 'table' OR r.am IN ('hash', 'gist')
              THEN (SELECT free_space FROM pgstattuple(r.rel)) END AS free
    FROM acc_rel r;
CREATE VIEW acc_cmp AS
  SELECT r.name, r.kind, r.am, b.size,
         round(100.0 * CASE WHEN r.am = 'btree' THEN b.btree_waste
                            WHEN r.am = 'gin' THEN greatest(b.size - a.size, 0)
                            ELSE greatest(b.waste - a.free, 0) END / nullif(b.size, 0), 1) AS truth,
         e.est, e.confidence, e.reason, e.remedy
    FROM acc_rel r JOIN acc_before b USING (name) JOIN acc_after a USING (name)
    LEFT JOIN acc_est e USING (name);
