-- The view runbook.sizes: the databases and the relations of this
-- database by size, with pretty sizes; runbook.sizes(databases): the
-- relations of every database of the server (or the named ones), one call.
-- Two parts, each written once: _sizes_databases (from here, for the
-- server) and _sizes_relations (the per-database check, run in each
-- database by sizes(databases)).

CREATE OR REPLACE VIEW @extschema@._sizes_databases AS
SELECT 'database'::text AS kind, d.datname::text AS name, NULL::regclass AS relation,
       NULL::regclass AS table_name,
       NULL::bigint AS table_bytes, NULL::bigint AS toast_bytes, NULL::bigint AS indexes_bytes,
       sz.total AS total_bytes,
       NULL::text AS table_pretty, NULL::text AS toast_pretty, NULL::text AS indexes_pretty,
       pg_size_pretty(sz.total) AS total_pretty,
       CASE WHEN sz.total IS NULL THEN 'skipped: no CONNECT privilege' END AS status,
       d.datname AS datname, NULL::name AS schemaname, NULL::name AS relname
  FROM pg_database d,
       LATERAL (SELECT CASE WHEN has_database_privilege(d.oid, 'CONNECT')
                              OR pg_has_role('pg_read_all_stats', 'USAGE')
                            THEN pg_database_size(d.oid) END AS total) sz
 WHERE d.datallowconn;

COMMENT ON VIEW @extschema@._sizes_databases IS
'internal: the database rows of the sizes view';

GRANT SELECT ON @extschema@._sizes_databases TO pg_monitor;

CREATE OR REPLACE VIEW @extschema@._sizes_relations AS
SELECT r.kind, r.relid::regclass::text AS name, r.relid::regclass AS relation, r.parent::regclass AS table_name,
       r.main_bytes + r.other_fork_bytes AS table_bytes, r.toast_bytes, r.indexes_bytes, r.total_bytes,
       pg_size_pretty(r.main_bytes + r.other_fork_bytes) AS table_pretty, pg_size_pretty(r.toast_bytes) AS toast_pretty,
       pg_size_pretty(r.indexes_bytes) AS indexes_pretty, pg_size_pretty(r.total_bytes) AS total_pretty,
       r.skipped AS status,
       current_database() AS datname, n.nspname AS schemaname, c.relname
  FROM @extschema@._relation_sizes() r
  LEFT JOIN pg_class c ON c.oid = r.relid
  LEFT JOIN pg_namespace n ON n.oid = c.relnamespace;

COMMENT ON VIEW @extschema@._sizes_relations IS
'internal: the table and index rows of the sizes view (this database); the per-database check of sizes(databases)';

GRANT SELECT ON @extschema@._sizes_relations TO pg_monitor;

CREATE OR REPLACE VIEW @extschema@.sizes AS
SELECT * FROM @extschema@._sizes_databases
UNION ALL
SELECT * FROM @extschema@._sizes_relations;

COMMENT ON VIEW @extschema@.sizes IS
'database, table (heap + TOAST + indexes) and index sizes in bytes and pretty; a relation locked by DDL is reported as skipped, never waited for';

GRANT SELECT ON @extschema@.sizes TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.sizes(databases name[] DEFAULT NULL)
RETURNS SETOF @extschema@.sizes
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH x AS MATERIALIZED (
        SELECT * FROM @extschema@._on_databases('sizes', databases, NULL::@extschema@.sizes)
    )
    -- the databases (from here), each with why its relations are missing
    -- when it could not be checked
    SELECT (CASE WHEN x.checked IS NOT FALSE THEN s
                 ELSE jsonb_populate_record(s, jsonb_build_object('status',
                          coalesce(s.status || '; ', '') || 'relations not checked: ' || x.reason)) END).*
      FROM @extschema@._sizes_databases s
      LEFT JOIN x ON x.summary AND x.datname = s.datname
     WHERE databases IS NULL OR s.datname = ANY (databases)
    UNION ALL
    -- the tables and indexes of every database checked
    SELECT (x.r).* FROM x WHERE NOT x.summary
$$;

COMMENT ON FUNCTION @extschema@.sizes(name[]) IS
'the sizes view over every database of the server (databases NULL) or the named ones, in one call: the databases, then the tables and indexes of each (relation and table_name NULL for another database''s; schemaname, relname name them); a database whose relations could not be listed says why in status (runbook.databases())';

REVOKE ALL ON FUNCTION @extschema@.sizes(name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sizes(name[]) TO pg_monitor;
