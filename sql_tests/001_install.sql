-- The extension installs into schema runbook, preloaded, with nothing for PUBLIC.
CREATE EXTENSION pg_runbook;
SELECT extversion, extrelocatable, extnamespace::regnamespace
  FROM pg_extension WHERE extname = 'pg_runbook';
SHOW shared_preload_libraries;
-- every object of the extension (17 and later also record the row types of
-- its views, and array types, as members: those are left out, so that one
-- expected output fits every version)
SELECT pg_describe_object(classid, objid, 0) AS object
  FROM pg_depend d
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_runbook')
   AND deptype = 'e'
   AND NOT EXISTS (SELECT 1 FROM pg_type t
                    WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
                      AND (t.typcategory = 'A' OR
                           (SELECT relkind FROM pg_class
                             WHERE oid = t.typrelid) <> 'c'))
 ORDER BY 1;
-- no function is executable by PUBLIC
SELECT p.oid::regprocedure AS public_executable
  FROM pg_proc p
 WHERE p.pronamespace = 'runbook'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE');
-- every function pins its search path in its own definition (sql/objects/):
-- none lacks SET search_path = pg_catalog, pg_temp, but for these LANGUAGE C
-- functions called once per row, which resolve no name and run no SQL
-- (a SET clause saves and restores the setting on every call):
--   _runnable   builds emitted text (src/emit.c)
SELECT p.oid::regprocedure AS search_path_not_pinned
  FROM pg_proc p
 WHERE p.pronamespace = 'runbook'::regnamespace
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
   AND NOT (p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
            AND p.proname IN ('_runnable'));
-- GUC prefix reserved: a typo is an error, not a silent placeholder
SET pg_runbook.no_such_setting = 1;
SHOW pg_runbook.max_actions_per_cycle;
