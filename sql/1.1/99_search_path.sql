-- ---------------------------------------------------------------------
-- Runs last (99_): every function of the extension pins its search path.
-- Functions created by 1.0 (and any fragment that forgot to) get
-- SET search_path = pg_catalog, pg_temp: catalog names resolve in
-- pg_catalog before anything a user can create, pg_temp only last, and no
-- ALTER DATABASE / ALTER ROLE ... SET search_path of a caller reaches
-- them.  Functions that set a search path already keep theirs.
-- (LANGUAGE sql functions with a SET clause are not inlined; none of
-- pg_runbook's is inlinable in a way that matters: see docs/security.md.)
-- ---------------------------------------------------------------------
DO $do$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=)
               (SELECT e.oid FROM pg_catalog.pg_extension e
                 WHERE e.extname OPERATOR(pg_catalog.=) 'pg_runbook')
           AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) AS c(setting)
                            WHERE c.setting OPERATOR(pg_catalog.~~) 'search\_path=%')
         ORDER BY p.oid
    LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$do$;
