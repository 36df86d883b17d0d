-- Remediation functions: shapes, defaults, bad input with SQLSTATE and hint,
-- privileges, the caller itself.  Real sessions: sql_tests/t/201_remedy.pl.
\pset null '(null)'
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || coalesce(' | hint: ' || nullif(hint, ''), '');
END $$;
-- signatures and result columns (contract columns included)
SELECT p.oid::regprocedure AS function, pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result
  FROM pg_proc p
 WHERE p.pronamespace = 'runbook'::regnamespace
   AND p.proname IN ('kill_idle', 'cancel_long', 'recent_actions', 'cancel', 'terminate', 'terminate_blockers')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT * FROM runbook.kill_idle('1 day', true) LIMIT 0;
SELECT * FROM runbook.cancel_long('1 day', true) LIMIT 0;
SELECT * FROM runbook.recent_actions() LIMIT 0;
-- the row type of every remedy (kill_idle, cancel_long, terminate_blockers, cancel, terminate)
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'runbook.remedy_result'::regclass AND attnum > 0 ORDER BY attnum;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'runbook.actions'::regclass AND attnum > 0 ORDER BY attnum;
-- settings
SELECT name, setting, context FROM pg_settings
 WHERE name IN ('pg_runbook.audit_ring_size', 'pg_runbook.test_delay_before_signal',
                'pg_runbook.max_actions_per_cycle') ORDER BY 1;
-- bad input: errcode and hint
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle(NULL)$$);
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('-5 min')$$);
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('5 min', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('5 min', true, states => '{idle,active}')$$);
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('5 min', true, states => '{}')$$);
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('5 min', true, states => NULL)$$);
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('5 min', true, client_network => '10.0.0.0/33')$$);
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('5 min', true, client_network => 'office')$$);
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('5 min', true, role_name => 'no_such_role')$$);
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('5 min', true, database_name => 'no_such_db')$$);
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('5 min', true, allow_superuser => NULL)$$);
SELECT pg_temp.err($$SELECT * FROM runbook.cancel_long(NULL)$$);
SELECT pg_temp.err($$SELECT * FROM runbook.cancel_long('-1 s')$$);
SELECT pg_temp.err($$SELECT * FROM runbook.cancel_long('1 s', true, terminate_after => '-1 s')$$);
-- good filter values are accepted (nothing matches here: which sessions each
-- filter selects among real ones is t/203_remedy_filters.pl)
SELECT count(*) FROM runbook.kill_idle('1 day', true, states => '{idle,idle in transaction,idle in transaction (aborted)}',
       role_name => 'pg_monitor', database_name => current_database(), application_pattern => 'x%',
       client_network => '10.0.0.0/8');
SELECT count(*) FROM runbook.kill_idle('0', true, client_network => '::1/128', application_pattern => 'nobody%');
-- the caller itself: considered by cancel_long('0'), never signalled
SELECT action, outcome, reason, detail FROM runbook.cancel_long('0', true, application_pattern => 'pg_regress%')
 WHERE pid = pg_backend_pid();
SELECT action, outcome, reason, detail FROM runbook.cancel_long('0', dry_run => false, application_pattern => 'pg_regress%')
 WHERE pid = pg_backend_pid();
-- ... and that skip of a real run is audited in the ring
SELECT actor, action, outcome, reason, pid = pg_backend_pid() AS me, acting_role = current_user AS role_ok,
       datname = current_database() AS db_ok, state, query LIKE 'SELECT action, outcome%' AS query_ok
  FROM runbook.recent_actions() ORDER BY seq DESC LIMIT 1;
-- nothing to do: no rows, no error
SELECT count(*) FROM runbook.kill_idle('100 years');
-- privileges: EXECUTE only through pg_signal_backend (or an explicit grant)
CREATE ROLE rb_nosignal LOGIN;
CREATE ROLE rb_oncall LOGIN IN ROLE pg_signal_backend;
GRANT USAGE ON SCHEMA runbook TO rb_nosignal;
SET ROLE rb_nosignal;
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('1 day', true)$$);
SELECT pg_temp.err($$SELECT * FROM runbook.cancel_long('1 day', true)$$);
SELECT pg_temp.err($$SELECT * FROM runbook.recent_actions()$$);
SELECT pg_temp.err($$SELECT * FROM runbook.actions$$);
RESET ROLE;
SET ROLE rb_oncall;
SELECT pg_temp.err($$SELECT * FROM runbook.kill_idle('1 day', true)$$);
SELECT pg_temp.err($$SELECT * FROM runbook.cancel_long('1 day', true)$$);
RESET ROLE;
DROP OWNED BY rb_nosignal;
DROP ROLE rb_nosignal, rb_oncall;
