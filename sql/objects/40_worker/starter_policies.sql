-- The starter policies: the runbooks' rules, installed disabled (seed/).
-- Their definitions live here, in one place: the install, the restore of a
-- dump and enable_starter_policies() read them.

CREATE OR REPLACE FUNCTION @extschema@._starter_policies() RETURNS SETOF @extschema@.policies
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
    SELECT p.*
      FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.policies, $j$[
      {"name": "starter_lock_queue_root", "priority": 1000, "enabled": false,
       "states": ["idle in transaction", "idle in transaction (aborted)"],
       "min_state_age": "0", "only_if_blocking": true, "min_blocked_sessions": 5,
       "min_blocked_wait": "30 s", "action": "terminate", "grace": "30 s",
       "allow_superuser": false, "dry_run": false,
       "comment": "starter: an idle-in-transaction session that blocks 5 or more others for 30 s or more is terminated"},
      {"name": "starter_idle_in_transaction", "priority": 1010, "enabled": false,
       "states": ["idle in transaction", "idle in transaction (aborted)"],
       "min_state_age": "5 min", "only_if_blocking": false, "min_blocked_sessions": 1,
       "min_blocked_wait": "0", "action": "terminate", "grace": "30 s",
       "allow_superuser": false, "dry_run": false,
       "comment": "starter: idle in transaction for more than 5 min is terminated"},
      {"name": "starter_idle_saturation", "priority": 1020, "enabled": false,
       "states": ["idle"], "min_state_age": "1 hour",
       "min_connections_pct": 90, "target_connections_pct": 80,
       "only_if_blocking": false, "min_blocked_sessions": 1,
       "min_blocked_wait": "0", "action": "terminate", "grace": "30 s",
       "allow_superuser": false, "dry_run": false,
       "comment": "starter: while connections are at 90 % of the usable slots or more, sessions idle for more than 1 hour are terminated, oldest first, down to 80 %"},
      {"name": "starter_long_active", "priority": 1030, "enabled": false,
       "states": ["active"], "min_query_age": "5 min",
       "exclude_application_pattern": "pg\\_dump%",
       "only_if_blocking": false, "min_blocked_sessions": 1,
       "min_blocked_wait": "0", "action": "cancel_then_terminate", "grace": "30 s",
       "allow_superuser": false, "dry_run": false,
       "comment": "starter: a statement of an application role (not a superuser, not pg_dump) active for more than 5 min is cancelled, then terminated 30 s later if still running"},
      {"name": "starter_memory_guard", "priority": 900, "enabled": false,
       "states": ["active"], "min_memory_used_pct": 90, "min_private_memory_bytes": 67108864,
       "only_if_blocking": false, "min_blocked_sessions": 1,
       "min_blocked_wait": "0", "action": "cancel_then_terminate", "grace": "5 s",
       "allow_superuser": false, "dry_run": false,
       "comment": "starter: while memory in use is at 90 % of the limit or more, the statement holding the most private memory (64 MB or more) is cancelled, largest first, only until memory in use is below 90 %; terminated 5 s later if it still holds it"},
      {"name": "starter_disk_guard", "priority": 910, "enabled": false,
       "states": ["active"], "min_disk_used_pct": 95, "min_temp_file_bytes": 16777216,
       "only_if_blocking": false, "min_blocked_sessions": 1,
       "min_blocked_wait": "0", "action": "cancel_then_terminate", "grace": "5 s",
       "allow_superuser": false, "dry_run": false,
       "comment": "starter: while a filesystem holding temporary files is 95 % used or more, the statement with the most temporary files there (16 MB or more) is cancelled, largest first, only until it is below 95 %; terminated 5 s later if still writing"}
      ]$j$::jsonb) AS p
$fn$;

REVOKE ALL ON FUNCTION @extschema@._starter_policies() FROM PUBLIC;

-- Is this row a starter policy exactly as installed (not changed by the
-- DBA)?  pg_dump leaves those out: CREATE EXTENSION installs them again.

CREATE OR REPLACE FUNCTION @extschema@._policy_is_starter_default(p @extschema@.policies) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
    SELECT EXISTS (
        SELECT 1 FROM @extschema@._starter_policies() s
         WHERE s.name = p.name
           AND (s.priority, s.enabled, s.role_name, s.database_name, s.application_pattern,
                s.client_network, s.states, s.active_from, s.active_until, s.min_state_age,
                s.min_xact_age, s.min_query_age, s.only_if_blocking, s.min_blocked_sessions,
                s.min_blocked_wait, s.min_xmin_age, s.action, s.grace, s.allow_superuser,
                s.dry_run, s.comment, s.min_connections_pct, s.target_connections_pct,
                s.min_backend_age, s.exclude_application_pattern, s.min_private_memory_bytes,
                s.min_temp_file_bytes, s.min_memory_used_pct, s.target_memory_used_pct,
                s.min_disk_used_pct, s.target_disk_used_pct)
               IS NOT DISTINCT FROM
               (p.priority, p.enabled, p.role_name, p.database_name, p.application_pattern,
                p.client_network, p.states, p.active_from, p.active_until, p.min_state_age,
                p.min_xact_age, p.min_query_age, p.only_if_blocking, p.min_blocked_sessions,
                p.min_blocked_wait, p.min_xmin_age, p.action, p.grace, p.allow_superuser,
                p.dry_run, p.comment, p.min_connections_pct, p.target_connections_pct,
                p.min_backend_age, p.exclude_application_pattern, p.min_private_memory_bytes,
                p.min_temp_file_bytes, p.min_memory_used_pct, p.target_memory_used_pct,
                p.min_disk_used_pct, p.target_disk_used_pct))
$fn$;

REVOKE ALL ON FUNCTION @extschema@._policy_is_starter_default(@extschema@.policies) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.enable_starter_policies(
    OUT policy text, OUT action text, OUT installed boolean)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    s @extschema@.policies;
BEGIN
    FOR s IN SELECT * FROM @extschema@._starter_policies() ORDER BY priority, name LOOP
        s.enabled := true;
        UPDATE @extschema@.policies p SET enabled = true WHERE p.name = s.name;
        installed := NOT FOUND;
        IF installed THEN
            INSERT INTO @extschema@.policies SELECT s.*;
        END IF;
        SELECT p.name, p.action INTO policy, action FROM @extschema@.policies p WHERE p.name = s.name;
        RETURN NEXT;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@.enable_starter_policies() IS
'enable the runbooks'' starter policies (starter_*), installing any that were deleted; thresholds the DBA changed are kept';

REVOKE ALL ON FUNCTION @extschema@.enable_starter_policies() FROM PUBLIC;
