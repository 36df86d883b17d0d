-- runbook.policies on write: validation with a clear error and a hint (so
-- that the worker never discovers a bad policy later), and the wake-up of
-- the worker when policies change.

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
    -- memory and disk guards (1.2)
    IF NEW.min_private_memory_bytes < 0 OR NEW.min_temp_file_bytes < 0 THEN
        RAISE EXCEPTION 'policy "%": min_private_memory_bytes and min_temp_file_bytes must not be negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'They are sizes in bytes, e.g. pg_size_bytes(''1 GB'').';
    END IF;
    FOR missing IN
        SELECT * FROM (VALUES
            ('memory', NEW.min_memory_used_pct, NEW.target_memory_used_pct, 'of the memory limit (runbook.host()), e.g. 90'),
            ('disk', NEW.min_disk_used_pct, NEW.target_disk_used_pct, 'of a filesystem''s size, e.g. 95')) AS v(kind, mark, target, what)
    LOOP
        IF missing.mark IS NOT NULL AND (missing.mark <= 0 OR missing.mark > 100) THEN
            RAISE EXCEPTION 'policy "%": min_%_used_pct must be above 0 and at most 100', NEW.name, missing.kind
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'It is a percent ' || missing.what || '.';
        END IF;
        IF missing.target IS NOT NULL AND missing.mark IS NULL THEN
            RAISE EXCEPTION 'policy "%" sets target_%_used_pct without min_%_used_pct', NEW.name, missing.kind, missing.kind
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The target is how far a guard goes once its mark is reached: set min_' || missing.kind || '_used_pct too.';
        END IF;
        IF missing.target < 0 OR missing.target > missing.mark THEN
            RAISE EXCEPTION 'policy "%": target_%_used_pct must be between 0 and min_%_used_pct', NEW.name, missing.kind, missing.kind
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'E.g. min_' || missing.kind || '_used_pct = 90, target_' || missing.kind || '_used_pct = 80.';
        END IF;
    END LOOP;
    IF NEW.min_memory_used_pct IS NOT NULL AND NEW.min_disk_used_pct IS NOT NULL THEN
        RAISE EXCEPTION 'policy "%" guards memory and disk at once', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Write one policy for memory (min_memory_used_pct) and one for disk (min_disk_used_pct): each ends its own largest consumers.';
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
       AND NEW.min_connections_pct IS NULL AND NEW.min_private_memory_bytes IS NULL
       AND NEW.min_temp_file_bytes IS NULL AND NEW.min_memory_used_pct IS NULL
       AND NEW.min_disk_used_pct IS NULL THEN
        RAISE EXCEPTION 'policy "%" has no threshold: it would act on every matching session at once', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set min_state_age, min_xact_age, min_query_age, min_backend_age, min_xmin_age, min_connections_pct, a memory or disk guard (min_memory_used_pct, min_disk_used_pct, min_private_memory_bytes, min_temp_file_bytes) or only_if_blocking (use ''0'' if you really mean immediately).';
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

REVOKE ALL ON FUNCTION @extschema@._policies_validate() FROM PUBLIC;

CREATE OR REPLACE TRIGGER policies_validate
    BEFORE INSERT OR UPDATE ON @extschema@.policies
    FOR EACH ROW EXECUTE FUNCTION @extschema@._policies_validate();

-- wake the worker at once when policies change

CREATE OR REPLACE FUNCTION @extschema@._policies_changed() RETURNS trigger
LANGUAGE C SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'rb_policies_changed';

REVOKE ALL ON FUNCTION @extschema@._policies_changed() FROM PUBLIC;

CREATE OR REPLACE TRIGGER policies_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.policies
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._policies_changed();
