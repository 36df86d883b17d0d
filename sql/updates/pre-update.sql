-- First step of every update script (tools/sql-build.sh).  Grants that
-- users gave on the extension's functions survive a function that the
-- update drops and creates again (to change its signature or its result
-- columns): every function's ACL is noted here, by name, and what the
-- re-created function lacks of it is granted again by post-update.sql.
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
