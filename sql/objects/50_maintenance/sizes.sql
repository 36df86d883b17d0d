-- The view runbook.sizes: relations by size, with pretty sizes.

CREATE OR REPLACE VIEW @extschema@.sizes AS
SELECT 'database'::text AS kind, d.datname::text AS name, NULL::regclass AS relation,
       NULL::regclass AS table_name,
       NULL::bigint AS table_bytes, NULL::bigint AS toast_bytes, NULL::bigint AS indexes_bytes,
       sz.total AS total_bytes,
       NULL::text AS table_pretty, NULL::text AS toast_pretty, NULL::text AS indexes_pretty,
       pg_size_pretty(sz.total) AS total_pretty,
       CASE WHEN sz.total IS NULL THEN 'skipped: no CONNECT privilege' END AS status
  FROM pg_database d,
       LATERAL (SELECT CASE WHEN has_database_privilege(d.oid, 'CONNECT')
                              OR pg_has_role('pg_read_all_stats', 'USAGE')
                            THEN pg_database_size(d.oid) END AS total) sz
 WHERE d.datallowconn
UNION ALL
SELECT r.kind, r.relid::regclass::text, r.relid::regclass, r.parent::regclass,
       r.main_bytes + r.other_fork_bytes, r.toast_bytes, r.indexes_bytes, r.total_bytes,
       pg_size_pretty(r.main_bytes + r.other_fork_bytes), pg_size_pretty(r.toast_bytes),
       pg_size_pretty(r.indexes_bytes), pg_size_pretty(r.total_bytes),
       r.skipped
  FROM @extschema@._relation_sizes() r;

COMMENT ON VIEW @extschema@.sizes IS
'database, table (heap + TOAST + indexes) and index sizes in bytes and pretty; a relation locked by DDL is reported as skipped, never waited for';

GRANT SELECT ON @extschema@.sizes TO pg_monitor;
