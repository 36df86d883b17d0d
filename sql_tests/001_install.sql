-- The extension installs into schema runbook, preloaded, with nothing for PUBLIC.
CREATE EXTENSION pg_runbook;
SELECT extversion, extrelocatable, extnamespace::regnamespace
  FROM pg_extension WHERE extname = 'pg_runbook';
SHOW shared_preload_libraries;
-- every object of the extension
SELECT pg_describe_object(classid, objid, 0) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_runbook')
   AND deptype = 'e'
 ORDER BY 1;
-- no function is executable by PUBLIC
SELECT p.oid::regprocedure AS public_executable
  FROM pg_proc p
 WHERE p.pronamespace = 'runbook'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE');
-- GUC prefix reserved: a typo is an error, not a silent placeholder
SET pg_runbook.no_such_setting = 1;
SHOW pg_runbook.max_actions_per_cycle;
