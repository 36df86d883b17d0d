-- runbook.policies: defaults, validation at write time, pg_dump membership.
\pset null '(null)'
CREATE ROLE rb_app;
-- the table ships with the starter policies only, all disabled
SELECT name, priority, enabled, states, action, min_state_age, min_query_age,
       only_if_blocking, min_blocked_sessions, min_blocked_wait,
       min_connections_pct, target_connections_pct, exclude_application_pattern
  FROM runbook.policies ORDER BY priority, name;
-- minimal policy: only name, states, action and a threshold are needed
INSERT INTO runbook.policies (name, states, action, min_state_age)
VALUES ('idle_30min', '{idle}', 'terminate', '30 min')
RETURNING name, priority, enabled, role_name, database_name, application_pattern,
          client_network, only_if_blocking, min_blocked_sessions, min_blocked_wait,
          grace, allow_superuser, dry_run;
-- a full policy
INSERT INTO runbook.policies (name, priority, role_name, database_name, application_pattern,
                              client_network, states, min_state_age, action, grace)
VALUES ('reports', 10, 'rb_app', current_database(), 'report%', '10.0.0.0/8',
        '{active}', '10 min', 'cancel_then_terminate', '1 min');
-- an explicit exemption needs no threshold
INSERT INTO runbook.policies (name, priority, application_pattern, states, action)
VALUES ('backups', 1, 'pg\_dump%', '{idle,active,idle in transaction}', 'ignore');
SELECT name, priority, action FROM runbook.policies ORDER BY priority, name;

\set VERBOSITY default
\set SHOW_CONTEXT never
-- bad input is rejected at INSERT / UPDATE with a clear error
INSERT INTO runbook.policies (name, states, action, min_state_age) VALUES ('x', '{idle}', 'kill', '1 min');
INSERT INTO runbook.policies (name, states, action, min_state_age) VALUES ('x', '{sleeping}', 'terminate', '1 min');
INSERT INTO runbook.policies (name, states, action, min_state_age) VALUES ('x', '{}', 'terminate', '1 min');
INSERT INTO runbook.policies (name, states, action, min_state_age) VALUES ('x', '{idle}', 'terminate', '-1 min');
INSERT INTO runbook.policies (name, states, action, min_state_age, client_network) VALUES ('x', '{idle}', 'terminate', '1 min', '10.0.0.300/8');
INSERT INTO runbook.policies (name, states, action, min_state_age, application_pattern) VALUES ('x', '{idle}', 'terminate', '1 min', 'abc\');
INSERT INTO runbook.policies (name, states, action, min_state_age, role_name) VALUES ('x', '{idle}', 'terminate', '1 min', 'no_such_role');
INSERT INTO runbook.policies (name, states, action, min_state_age, database_name) VALUES ('x', '{idle}', 'terminate', '1 min', 'no_such_db');
INSERT INTO runbook.policies (name, states, action) VALUES ('x', '{idle}', 'terminate');
INSERT INTO runbook.policies (name, states, action, min_state_age, min_blocked_sessions) VALUES ('x', '{idle}', 'terminate', '1 min', 3);
INSERT INTO runbook.policies (name, states, action, min_state_age) VALUES ('x', '{idle}', 'cancel_then_terminate', '1 min');
INSERT INTO runbook.policies (name, states, action, min_state_age, active_from) VALUES ('x', '{idle}', 'terminate', '1 min', '22:00');
INSERT INTO runbook.policies (name, states, action, min_state_age) VALUES ('idle_30min', '{idle}', 'terminate', '1 min');
UPDATE runbook.policies SET application_pattern = 'oops\' WHERE name = 'reports';
UPDATE runbook.policies SET states = '{idle,bogus}' WHERE name = 'reports';
-- only_if_blocking with its thresholds, and a time window over midnight
INSERT INTO runbook.policies (name, states, action, only_if_blocking, min_blocked_sessions, min_blocked_wait, min_state_age, active_from, active_until)
VALUES ('blockers', '{idle in transaction}', 'terminate', true, 2, '30 s', '0', '22:00', '06:00');
-- the columns added in 1.1: saturation, connection age, exclusion
INSERT INTO runbook.policies (name, states, action, min_connections_pct) VALUES ('x', '{idle}', 'terminate', 0);
INSERT INTO runbook.policies (name, states, action, min_connections_pct) VALUES ('x', '{idle}', 'terminate', 101);
INSERT INTO runbook.policies (name, states, action, min_state_age, target_connections_pct) VALUES ('x', '{idle}', 'terminate', '1 min', 50);
INSERT INTO runbook.policies (name, states, action, min_connections_pct, target_connections_pct) VALUES ('x', '{idle}', 'terminate', 80, 90);
INSERT INTO runbook.policies (name, states, action, min_backend_age) VALUES ('x', '{idle}', 'terminate', '-1 h');
INSERT INTO runbook.policies (name, states, action, min_state_age, exclude_application_pattern) VALUES ('x', '{idle}', 'terminate', '1 min', 'abc\');
INSERT INTO runbook.policies (name, states, action, min_connections_pct, target_connections_pct, min_backend_age, exclude_application_pattern)
VALUES ('saturation', '{idle}', 'terminate', 90, 80, '1 hour', 'pgbouncer%')
RETURNING name, min_connections_pct, target_connections_pct, min_backend_age, exclude_application_pattern;
-- a saturation policy alone is a threshold (it ends at most the excess)
INSERT INTO runbook.policies (name, states, action, min_connections_pct) VALUES ('full', '{idle}', 'terminate', 95)
RETURNING name, min_connections_pct, target_connections_pct;
-- the columns added in 1.2: memory and disk guards
INSERT INTO runbook.policies (name, states, action, min_private_memory_bytes) VALUES ('x', '{active}', 'cancel', -1);
INSERT INTO runbook.policies (name, states, action, min_temp_file_bytes) VALUES ('x', '{active}', 'cancel', -1);
INSERT INTO runbook.policies (name, states, action, min_memory_used_pct) VALUES ('x', '{active}', 'cancel', 0);
INSERT INTO runbook.policies (name, states, action, min_disk_used_pct) VALUES ('x', '{active}', 'cancel', 100.5);
INSERT INTO runbook.policies (name, states, action, min_query_age, target_memory_used_pct) VALUES ('x', '{active}', 'cancel', '1 min', 50);
INSERT INTO runbook.policies (name, states, action, min_disk_used_pct, target_disk_used_pct) VALUES ('x', '{active}', 'cancel', 90, 95);
INSERT INTO runbook.policies (name, states, action, min_memory_used_pct, min_disk_used_pct) VALUES ('x', '{active}', 'cancel', 90, 90);
-- a guard alone is a threshold (a mark, or a per-session floor)
INSERT INTO runbook.policies (name, states, action, min_memory_used_pct, target_memory_used_pct, min_private_memory_bytes)
VALUES ('memguard', '{active}', 'cancel_then_terminate', 90, 80, pg_size_bytes('256 MB'))
RETURNING name, min_memory_used_pct, target_memory_used_pct, min_private_memory_bytes;
INSERT INTO runbook.policies (name, states, action, min_temp_file_bytes) VALUES ('tempcap', '{active}', 'cancel', pg_size_bytes('10 GB'))
RETURNING name, min_temp_file_bytes, min_disk_used_pct;
-- the CHECK constraints hold without the trigger too (ALTER TABLE ... DISABLE TRIGGER)
ALTER TABLE runbook.policies DISABLE TRIGGER policies_validate;
\set VERBOSITY terse
INSERT INTO runbook.policies (name, states, action, min_memory_used_pct, min_disk_used_pct) VALUES ('x', '{active}', 'cancel', 90, 90);
INSERT INTO runbook.policies (name, states, action, min_temp_file_bytes) VALUES ('x', '{active}', 'cancel', -5);
\set VERBOSITY default
ALTER TABLE runbook.policies ENABLE TRIGGER policies_validate;
DELETE FROM runbook.policies WHERE name IN ('memguard', 'tempcap');
-- kept by pg_dump: the DBA's rows and the starter policies the DBA changed;
-- a starter as shipped is left out (CREATE EXTENSION installs it again)
SELECT c.relname, e.extcondition[array_position(e.extconfig, c.oid)] AS dump_filter
  FROM pg_extension e JOIN pg_class c ON c.oid = ANY (e.extconfig)
 WHERE e.extname = 'pg_runbook' AND c.relname = 'policies';
SELECT name FROM runbook.policies WHERE NOT runbook._policy_is_starter_default(policies) ORDER BY name;
UPDATE runbook.policies SET min_state_age = '10 min' WHERE name = 'starter_idle_in_transaction';
SELECT name FROM runbook.policies WHERE NOT runbook._policy_is_starter_default(policies) ORDER BY name;
-- enable_starter_policies(): enables every starter, installs a deleted one, keeps the DBA's thresholds
DELETE FROM runbook.policies WHERE name = 'starter_long_active';
SELECT * FROM runbook.enable_starter_policies();
SELECT name, enabled, min_state_age FROM runbook.policies WHERE name LIKE 'starter\_%' ORDER BY priority;
SELECT count(*) AS dumped_starters FROM runbook.policies
 WHERE name LIKE 'starter\_%' AND NOT runbook._policy_is_starter_default(policies);
-- only the owner (a superuser) enables them
SELECT has_function_privilege('pg_signal_backend', 'runbook.enable_starter_policies()', 'EXECUTE') AS signal_enable,
       has_function_privilege('public', 'runbook.enable_starter_policies()', 'EXECUTE') AS public_enable;
-- readable by pg_monitor, writable by nobody else
SELECT has_table_privilege('pg_monitor', 'runbook.policies', 'SELECT') AS monitor_select,
       has_table_privilege('pg_monitor', 'runbook.policies', 'INSERT') AS monitor_insert,
       has_table_privilege('public', 'runbook.policies', 'SELECT') AS public_select;
DELETE FROM runbook.policies WHERE name NOT LIKE 'starter\_%';
UPDATE runbook.policies SET enabled = false;
DROP ROLE rb_app;
