-- Worker controls: status, pause / resume, preview with no policies.
\pset null '(null)'
-- the regress instance preloads pg_runbook: the worker runs in database postgres,
-- where the extension is not created, so it waits and says why
SELECT running, paused, pid > 0 AS has_pid, database, enforce, policies, last_error
  FROM runbook.worker_status();
SELECT runbook.pause_worker() AS changed;
SELECT runbook.pause_worker() AS changed_again;
SELECT paused FROM runbook.worker_status();
SELECT runbook.resume_worker() AS changed;
SELECT paused FROM runbook.worker_status();
-- no policies: nothing to preview
SELECT count(*) FROM runbook.policy_preview();
-- privileges: status and preview for pg_monitor, controls for pg_signal_backend
SELECT has_function_privilege('pg_monitor', 'runbook.worker_status()', 'EXECUTE') AS monitor_status,
       has_function_privilege('pg_monitor', 'runbook.policy_preview()', 'EXECUTE') AS monitor_preview,
       has_function_privilege('pg_monitor', 'runbook.pause_worker()', 'EXECUTE') AS monitor_pause,
       has_function_privilege('pg_signal_backend', 'runbook.pause_worker()', 'EXECUTE') AS signal_pause;
-- settings
SELECT name, setting, unit, context FROM pg_settings
 WHERE name IN ('pg_runbook.database', 'pg_runbook.naptime', 'pg_runbook.enforce', 'pg_runbook.act_on_standby')
 ORDER BY name;
SET pg_runbook.enforce = 'maybe';
