-- ---------------------------------------------------------------------
-- Background worker: policies, preview, status, pause / resume.
-- ---------------------------------------------------------------------

CREATE TABLE @extschema@.policies (
    name                text PRIMARY KEY,
    priority            integer NOT NULL DEFAULT 100,
    enabled             boolean NOT NULL DEFAULT true,
    -- what a policy matches (NULL = any)
    role_name           name,
    database_name       name,
    application_pattern text,
    client_network      cidr,
    states              text[] NOT NULL,
    active_from         time,
    active_until        time,
    -- thresholds (NULL = none)
    min_state_age       interval,
    min_xact_age        interval,
    min_query_age       interval,
    -- harm conditions
    only_if_blocking    boolean NOT NULL DEFAULT false,
    min_blocked_sessions integer NOT NULL DEFAULT 1,
    min_blocked_wait    interval NOT NULL DEFAULT '0',
    min_xmin_age        integer,
    -- what to do
    action              text NOT NULL,
    grace               interval NOT NULL DEFAULT '30 s',
    allow_superuser     boolean NOT NULL DEFAULT false,
    dry_run             boolean NOT NULL DEFAULT false,
    comment             text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policies_action_check
        CHECK (action IN ('ignore', 'log', 'cancel', 'terminate', 'cancel_then_terminate')),
    CONSTRAINT policies_states_check
        CHECK (cardinality(states) > 0 AND array_position(states, NULL) IS NULL AND
               states <@ ARRAY['idle', 'idle in transaction',
                               'idle in transaction (aborted)', 'active']::text[]),
    CONSTRAINT policies_intervals_check
        CHECK (coalesce(min_state_age, '0') >= '0' AND coalesce(min_xact_age, '0') >= '0'
               AND coalesce(min_query_age, '0') >= '0' AND min_blocked_wait >= '0'
               AND grace >= '0'),
    CONSTRAINT policies_counts_check
        CHECK (min_blocked_sessions >= 1 AND coalesce(min_xmin_age, 0) >= 0),
    CONSTRAINT policies_window_check
        CHECK ((active_from IS NULL) = (active_until IS NULL))
);

COMMENT ON TABLE @extschema@.policies IS
'pg_runbook worker policies: first match by priority (lower first), then name';

-- Validation at write time, with a clear error and a hint, so that the
-- worker never discovers a bad policy later.  The CHECK constraints above
-- cover ranges; this covers what needs a lookup.
CREATE FUNCTION @extschema@._policies_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
DECLARE
    valid_states constant text[] := ARRAY['idle', 'idle in transaction',
                                          'idle in transaction (aborted)', 'active'];
    bad text;
BEGIN
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
       OR NEW.min_blocked_wait < '0' OR NEW.grace < '0' THEN
        RAISE EXCEPTION 'policy "%" has a negative interval', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Thresholds and the grace period are durations such as ''30 s'' or ''10 min''.';
    END IF;
    IF NEW.min_blocked_sessions < 1 OR NEW.min_xmin_age < 0 THEN
        RAISE EXCEPTION 'policy "%": min_blocked_sessions must be at least 1 and min_xmin_age not negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (NEW.active_from IS NULL) <> (NEW.active_until IS NULL) THEN
        RAISE EXCEPTION 'policy "%" sets only one end of its time window', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set both active_from and active_until (a window may span midnight), or neither.';
    END IF;
    IF NEW.role_name IS NOT NULL AND
       NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = NEW.role_name) THEN
        RAISE EXCEPTION 'role "%" of policy "%" does not exist', NEW.role_name, NEW.name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create the role first, or leave role_name NULL to match any role.';
    END IF;
    IF NEW.database_name IS NOT NULL AND
       NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = NEW.database_name) THEN
        RAISE EXCEPTION 'database "%" of policy "%" does not exist', NEW.database_name, NEW.name
            USING ERRCODE = 'invalid_catalog_name',
                  HINT = 'Leave database_name NULL to match any database.';
    END IF;
    IF NEW.application_pattern IS NOT NULL THEN
        BEGIN
            -- matching the pattern against itself walks all of it
            PERFORM NEW.application_pattern LIKE NEW.application_pattern;
        EXCEPTION WHEN invalid_escape_sequence OR invalid_parameter_value THEN
            RAISE EXCEPTION 'application_pattern % of policy "%" is not a valid LIKE pattern',
                            quote_literal(NEW.application_pattern), NEW.name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use LIKE syntax: % for any string, _ for one character, \ to escape.';
        END;
    END IF;
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
       AND NEW.min_xmin_age IS NULL THEN
        RAISE EXCEPTION 'policy "%" has no threshold: it would act on every matching session at once', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set min_state_age, min_xact_age, min_query_age, min_xmin_age or only_if_blocking (use ''0'' if you really mean immediately).';
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

CREATE TRIGGER policies_validate
    BEFORE INSERT OR UPDATE ON @extschema@.policies
    FOR EACH ROW EXECUTE FUNCTION @extschema@._policies_validate();

-- wake the worker at once when policies change
CREATE FUNCTION @extschema@._policies_changed() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'rb_policies_changed';

CREATE TRIGGER policies_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.policies
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._policies_changed();

-- pg_dump keeps the DBA's policies
SELECT pg_catalog.pg_extension_config_dump('@extschema@.policies', '');

REVOKE ALL ON @extschema@.policies FROM PUBLIC;
GRANT SELECT ON @extschema@.policies TO pg_monitor;

CREATE FUNCTION @extschema@.policy_preview(
    OUT pid integer,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT state text,
    OUT state_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT policy text,
    OUT action text,
    OUT outcome text,
    OUT reason text,
    OUT detail text,
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_policy_preview';

COMMENT ON FUNCTION @extschema@.policy_preview() IS
'what the worker''s next cycle would do to which session, by which policy, and why (a dry run)';

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
    OUT last_error_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_worker_status';

CREATE FUNCTION @extschema@.pause_worker() RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'rb_pause_worker';
CREATE FUNCTION @extschema@.resume_worker() RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'rb_resume_worker';

COMMENT ON FUNCTION @extschema@.pause_worker() IS
'stop the worker acting (it keeps running, and resumes on resume_worker() or a server restart)';

REVOKE ALL ON FUNCTION @extschema@.policy_preview(), @extschema@.worker_status(),
    @extschema@.pause_worker(), @extschema@.resume_worker(),
    @extschema@._policies_changed(), @extschema@._policies_validate() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.policy_preview(), @extschema@.worker_status() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pause_worker(), @extschema@.resume_worker() TO pg_signal_backend;
