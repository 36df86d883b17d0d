-- pg_runbook 1.0 -> 1.1: upgrade script, assembled from sql/1.1/*.sql in name
-- order.  The fresh 1.1 install script is the 1.0 script followed by these.
\echo Use "ALTER EXTENSION pg_runbook UPDATE TO '1.1'" to load this file. \quit
-- ---------------------------------------------------------------------
-- pg_runbook 1.0 -> 1.1.  1.0 (sql/1.0/) is released and never changes;
-- every change since is a step here, one fragment per concern, applied in
-- name order both by ALTER EXTENSION pg_runbook UPDATE and by a fresh
-- CREATE EXTENSION (which runs the 1.0 script first).  Rules for a step:
-- - it must work on a database whose users have written policies,
--   thresholds and audit rows: never drop a table or a column they fill;
-- - CREATE OR REPLACE keeps grants; a changed OUT list needs DROP + CREATE
--   and the grants again;
-- - every function pins search_path (SET search_path = pg_catalog, pg_temp)
--   and names every object of the extension as @extschema@.name.
-- ---------------------------------------------------------------------

-- Grants that users gave on the extension's functions survive the steps
-- below that re-create a function (DROP + CREATE, to change its signature
-- or its result columns): every function's ACL is noted here, by name, and
-- what the re-created function lacks of it is granted again at the end
-- (98_grants.sql).  On a fresh install this finds only the script's
-- own grants, which the steps give again anyway.
SELECT pg_catalog.set_config('pg_runbook_upgrade.acl', coalesce((
    SELECT pg_catalog.jsonb_object_agg(s.proname, s.acls)::text
      FROM (SELECT p.proname, pg_catalog.jsonb_agg(a.acl::text) AS acls
              FROM pg_catalog.pg_depend d
              JOIN pg_catalog.pg_proc p ON p.oid = d.objid
             CROSS JOIN LATERAL pg_catalog.unnest(p.proacl) AS a(acl)
             WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
               AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
               AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_runbook')
               AND d.deptype = 'e'
             GROUP BY p.proname) s), '{}'), true);
