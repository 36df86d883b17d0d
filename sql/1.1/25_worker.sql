-- ---------------------------------------------------------------------
-- Worker (1.1): policies that act on harm (connection saturation,
-- connection age, application exclusions), the starter policies, and
-- worker_status().last_success_at.
-- ---------------------------------------------------------------------

ALTER TABLE @extschema@.policies
    ADD COLUMN min_connections_pct numeric,
    ADD COLUMN target_connections_pct numeric,
    ADD COLUMN min_backend_age interval,
    ADD COLUMN exclude_application_pattern text,
    ADD CONSTRAINT policies_connections_check
        CHECK (min_connections_pct > 0 AND min_connections_pct <= 100
               AND target_connections_pct >= 0 AND target_connections_pct <= min_connections_pct),
    ADD CONSTRAINT policies_target_check
        CHECK (target_connections_pct IS NULL OR min_connections_pct IS NOT NULL),
    ADD CONSTRAINT policies_backend_age_check
        CHECK (coalesce(min_backend_age, '0') >= '0');

COMMENT ON COLUMN @extschema@.policies.min_connections_pct IS
'act only while client connections are at or above this percent of the usable slots (max_connections less the reserved ones)';
COMMENT ON COLUMN @extschema@.policies.target_connections_pct IS
'end only as many sessions as bring client connections down to this percent, oldest state first (default: min_connections_pct)';
COMMENT ON COLUMN @extschema@.policies.min_backend_age IS
'connection age (backend_start) threshold';
COMMENT ON COLUMN @extschema@.policies.exclude_application_pattern IS
'sessions whose application_name is LIKE this pattern are not matched';

-- The starter policies: the runbooks' rules, installed disabled.  Their
-- definitions live here, in one place: the install below, the restore of a
-- dump and enable_starter_policies() read them.
CREATE FUNCTION @extschema@._starter_policies() RETURNS SETOF @extschema@.policies
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
       "comment": "starter: a statement of an application role (not a superuser, not pg_dump) active for more than 5 min is cancelled, then terminated 30 s later if still running"}
      ]$j$::jsonb) AS p
$fn$;

-- Is this row a starter policy exactly as installed (not changed by the
-- DBA)?  pg_dump leaves those out: CREATE EXTENSION installs them again.
CREATE FUNCTION @extschema@._policy_is_starter_default(p @extschema@.policies) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
    SELECT EXISTS (
        SELECT 1 FROM @extschema@._starter_policies() s
         WHERE s.name = p.name
           AND (s.priority, s.enabled, s.role_name, s.database_name, s.application_pattern,
                s.client_network, s.states, s.active_from, s.active_until, s.min_state_age,
                s.min_xact_age, s.min_query_age, s.only_if_blocking, s.min_blocked_sessions,
                s.min_blocked_wait, s.min_xmin_age, s.action, s.grace, s.allow_superuser,
                s.dry_run, s.comment, s.min_connections_pct, s.target_connections_pct,
                s.min_backend_age, s.exclude_application_pattern)
               IS NOT DISTINCT FROM
               (p.priority, p.enabled, p.role_name, p.database_name, p.application_pattern,
                p.client_network, p.states, p.active_from, p.active_until, p.min_state_age,
                p.min_xact_age, p.min_query_age, p.only_if_blocking, p.min_blocked_sessions,
                p.min_blocked_wait, p.min_xmin_age, p.action, p.grace, p.allow_superuser,
                p.dry_run, p.comment, p.min_connections_pct, p.target_connections_pct,
                p.min_backend_age, p.exclude_application_pattern))
$fn$;

CREATE OR REPLACE FUNCTION @extschema@._policies_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    valid_states constant text[] := ARRAY['idle', 'idle in transaction',
                                          'idle in transaction (aborted)', 'active'];
    bad text;
    pat text;
    missing record;
BEGIN
    -- restoring a dump: a changed starter policy replaces the one that
    -- CREATE EXTENSION installed as it ships
    IF TG_OP = 'INSERT' AND NEW.name LIKE 'starter\_%' THEN
        DELETE FROM @extschema@.policies p
         WHERE p.name = NEW.name AND @extschema@._policy_is_starter_default(p);
    END IF;
    IF NEW.action IS NULL OR NEW.action NOT IN ('ignore', 'log', 'cancel', 'terminate', 'cancel_then_terminate') THEN
        RAISE EXCEPTION 'unknown action % in policy "%"', coalesce(quote_literal(NEW.action), 'NULL'), NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid actions: ignore, log, cancel, terminate, cancel_then_terminate.';
    END IF;
    IF NEW.states IS NULL OR cardinality(NEW.states) = 0 THEN
        RAISE EXCEPTION 'policy "%" matches no state', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid states: idle, idle in transaction, idle in transaction (aborted), active.';
    END IF;
    SELECT s INTO bad FROM unnest(NEW.states) s WHERE s IS NULL OR s <> ALL (valid_states) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown state % in policy "%"', coalesce(quote_literal(bad), 'NULL'), NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid states: idle, idle in transaction, idle in transaction (aborted), active.';
    END IF;
    IF NEW.min_state_age < '0' OR NEW.min_xact_age < '0' OR NEW.min_query_age < '0'
       OR NEW.min_blocked_wait < '0' OR NEW.grace < '0' OR NEW.min_backend_age < '0' THEN
        RAISE EXCEPTION 'policy "%" has a negative interval', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Thresholds and the grace period are durations such as ''30 s'' or ''10 min''.';
    END IF;
    IF NEW.min_blocked_sessions < 1 OR NEW.min_xmin_age < 0 THEN
        RAISE EXCEPTION 'policy "%": min_blocked_sessions must be at least 1 and min_xmin_age not negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.min_connections_pct IS NOT NULL AND
       (NEW.min_connections_pct <= 0 OR NEW.min_connections_pct > 100) THEN
        RAISE EXCEPTION 'policy "%": min_connections_pct must be above 0 and at most 100', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It is a percent of the usable connection slots, e.g. 90.';
    END IF;
    IF NEW.target_connections_pct IS NOT NULL AND NEW.min_connections_pct IS NULL THEN
        RAISE EXCEPTION 'policy "%" sets target_connections_pct without min_connections_pct', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The target is the low-water mark of a saturation policy: set min_connections_pct (the high-water mark) too.';
    END IF;
    IF NEW.target_connections_pct < 0 OR NEW.target_connections_pct > NEW.min_connections_pct THEN
        RAISE EXCEPTION 'policy "%": target_connections_pct must be between 0 and min_connections_pct', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'E.g. min_connections_pct = 90, target_connections_pct = 80.';
    END IF;
    IF (NEW.active_from IS NULL) <> (NEW.active_until IS NULL) THEN
        RAISE EXCEPTION 'policy "%" sets only one end of its time window', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set both active_from and active_until (a window may span midnight), or neither.';
    END IF;
    -- the role and the database a policy names must exist
    FOR missing IN
        SELECT * FROM (VALUES
            ('role', NEW.role_name, 'undefined_object',
             'Create the role first, or leave role_name NULL to match any role.',
             EXISTS (SELECT 1 FROM pg_roles WHERE rolname = NEW.role_name)),
            ('database', NEW.database_name, 'invalid_catalog_name',
             'Leave database_name NULL to match any database.',
             EXISTS (SELECT 1 FROM pg_database WHERE datname = NEW.database_name))) AS v(kind, name, code, hint, found)
         WHERE v.name IS NOT NULL AND NOT v.found
    LOOP
        RAISE EXCEPTION '% "%" of policy "%" does not exist', missing.kind, missing.name, NEW.name
            USING ERRCODE = missing.code, HINT = missing.hint;
    END LOOP;
    FOREACH pat IN ARRAY ARRAY[NEW.application_pattern, NEW.exclude_application_pattern] LOOP
        CONTINUE WHEN pat IS NULL;
        BEGIN
            -- matching the pattern against itself walks all of it
            PERFORM pat LIKE pat;
        EXCEPTION WHEN invalid_escape_sequence OR invalid_parameter_value THEN
            RAISE EXCEPTION '% % of policy "%" is not a valid LIKE pattern',
                            CASE WHEN pat IS NOT DISTINCT FROM NEW.application_pattern
                                 THEN 'application_pattern' ELSE 'exclude_application_pattern' END,
                            quote_literal(pat), NEW.name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use LIKE syntax: % for any string, _ for one character, \ to escape.';
        END;
    END LOOP;
    IF NEW.only_if_blocking IS FALSE AND
       (NEW.min_blocked_sessions <> 1 OR NEW.min_blocked_wait <> '0') THEN
        RAISE EXCEPTION 'policy "%" sets min_blocked_sessions or min_blocked_wait without only_if_blocking',
                        NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set only_if_blocking = true, or leave the blocking thresholds at their defaults.';
    END IF;
    IF NEW.action IN ('cancel', 'terminate', 'cancel_then_terminate', 'log')
       AND NEW.min_state_age IS NULL AND NEW.min_xact_age IS NULL
       AND NEW.min_query_age IS NULL AND NOT NEW.only_if_blocking
       AND NEW.min_xmin_age IS NULL AND NEW.min_backend_age IS NULL
       AND NEW.min_connections_pct IS NULL THEN
        RAISE EXCEPTION 'policy "%" has no threshold: it would act on every matching session at once', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set min_state_age, min_xact_age, min_query_age, min_backend_age, min_xmin_age, min_connections_pct or only_if_blocking (use ''0'' if you really mean immediately).';
    END IF;
    IF NEW.action = 'cancel_then_terminate' AND 'active' <> ALL (NEW.states)
       AND 'idle in transaction' <> ALL (NEW.states)
       AND 'idle in transaction (aborted)' <> ALL (NEW.states) THEN
        RAISE EXCEPTION 'policy "%": cancel_then_terminate needs a state where there is something to cancel', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use terminate for idle sessions.';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$fn$;

INSERT INTO @extschema@.policies SELECT * FROM @extschema@._starter_policies()
    ON CONFLICT (name) DO NOTHING;

-- pg_dump keeps the DBA's policies, and the starter policies the DBA changed
-- (enabled, tuned); the ones still as shipped come back with CREATE EXTENSION
SELECT pg_catalog.pg_extension_config_dump('@extschema@.policies',
    'WHERE NOT @extschema@._policy_is_starter_default(policies)');

CREATE FUNCTION @extschema@.enable_starter_policies(
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

REVOKE ALL ON FUNCTION @extschema@.enable_starter_policies(),
    @extschema@._starter_policies(),
    @extschema@._policy_is_starter_default(@extschema@.policies) FROM PUBLIC;

-- worker_status(): the last successful cycle beside the last error
DROP FUNCTION @extschema@.worker_status();
CREATE FUNCTION @extschema@.worker_status(
    OUT running boolean,
    OUT paused boolean,
    OUT pid integer,
    OUT database name,
    OUT enforce text,
    OUT started_at timestamptz,
    OUT cycles bigint,
    OUT actions bigint,
    OUT last_cycle_at timestamptz,
    OUT last_cycle_ms float8,
    OUT avg_cycle_ms float8,
    OUT max_cycle_ms float8,
    OUT next_wakeup timestamptz,
    OUT policies integer,
    OUT last_error text,
    OUT last_error_at timestamptz,
    OUT last_success_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_worker_status';

COMMENT ON FUNCTION @extschema@.worker_status() IS
'the policy worker: running, paused, cycles, cost, the last error and the last successful cycle (an error older than last_success_at is over)';

REVOKE ALL ON FUNCTION @extschema@.worker_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.worker_status() TO pg_monitor;
