-- Last step of every update script (tools/sql-build.sh), after every
-- object: what a re-created function lacks of the grants noted by
-- pre-update.sql (by function name) is granted again, so a user's
-- GRANT EXECUTE ON FUNCTION runbook.kill_idle(...) TO oncall survives
-- ALTER EXTENSION pg_runbook UPDATE.  The owner's own entry and grants
-- still present are left alone.
DO $do$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT p.oid::pg_catalog.regprocedure AS fn, e.privilege_type, e.grantee, e.is_grantable
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
          JOIN pg_catalog.jsonb_each(coalesce(pg_catalog.current_setting('pg_runbook_upgrade.acl', true), '{}')::pg_catalog.jsonb)
               AS s(name, acls) ON s.name OPERATOR(pg_catalog.=) p.proname::pg_catalog.text
         CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(s.acls) AS a(item)
         CROSS JOIN LATERAL pg_catalog.aclexplode(ARRAY[a.item::pg_catalog.aclitem]) AS e
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=)
               (SELECT x.oid FROM pg_catalog.pg_extension x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_runbook')
           AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND e.grantee OPERATOR(pg_catalog.<>) p.proowner
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(p.proacl) AS c
                            WHERE c.grantee OPERATOR(pg_catalog.=) e.grantee
                              AND c.privilege_type OPERATOR(pg_catalog.=) e.privilege_type)
         ORDER BY 1, 3
    LOOP
        EXECUTE pg_catalog.format('GRANT %s ON FUNCTION %s TO %s%s', r.privilege_type, r.fn,
                                  CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END,
                                  CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$do$;
