-- ---------------------------------------------------------------------
-- 1.1: the audit and the remedies (issues 11, 12, 13).
-- - runbook.actions and recent_actions() record session_user
--   (session_role) beside current_user (acting_role); pause_worker() and
--   resume_worker() are actions of the audit (action pause / resume).
-- - runbook.audit_status(): the ring, what has not reached the table yet,
--   what was spilled to the log, the audit writer and its last error.
-- - runbook.cancel(pid, reason) and runbook.terminate(pid, reason): one
--   session through the audited remedy path.
-- - kill_idle(), cancel_long(), terminate_blockers() take max_actions
--   (NULL = pg_runbook.max_actions_per_cycle; at most
--   pg_runbook.max_actions_per_call_limit, which only a superuser raises).
-- - runbook.policies and runbook.alert_thresholds record who changed a row
--   and when (updated_by, updated_at).
-- ---------------------------------------------------------------------

-- ---- runbook.actions: session_role, control actions (rows are kept)
ALTER TABLE @extschema@.actions ADD COLUMN session_role name;
COMMENT ON COLUMN @extschema@.actions.session_role IS
'session_user of the call (the login); acting_role is current_user (after SET ROLE or inside a SECURITY DEFINER function)';
ALTER TABLE @extschema@.actions DROP CONSTRAINT actions_action_check;
ALTER TABLE @extschema@.actions ADD CONSTRAINT actions_action_check
    CHECK (action IN ('cancel', 'terminate', 'pause', 'resume'));
ALTER TABLE @extschema@.actions DROP CONSTRAINT actions_outcome_check;
ALTER TABLE @extschema@.actions ADD CONSTRAINT actions_outcome_check
    CHECK (outcome IN ('terminated', 'cancelled', 'skipped', 'paused', 'resumed'));

DROP FUNCTION @extschema@.recent_actions();
CREATE FUNCTION @extschema@.recent_actions(
    OUT seq bigint,
    OUT acted_at timestamptz,
    OUT actor text,
    OUT acting_role name,
    OUT pid integer,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT state text,
    OUT state_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT action text,
    OUT outcome text,
    OUT reason text,
    OUT detail text,
    OUT query text,
    OUT in_table boolean,
    OUT backend_start timestamptz,
    OUT session_role name)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_recent_actions';

COMMENT ON FUNCTION @extschema@.recent_actions() IS
'the shared-memory audit ring, oldest first: every action and skip of real remediation runs, and every pause / resume of the worker, since the server started (pg_runbook.audit_ring_size entries; also on standbys; not undone by rollback)';

CREATE FUNCTION @extschema@.audit_status(
    OUT ring_size integer,
    OUT entries integer,
    OUT pending integer,
    OUT signalling integer,
    OUT spilled bigint,
    OUT copied bigint,
    OUT writer_running boolean,
    OUT writer_starting boolean,
    OUT writer_pid integer,
    OUT writer_failures bigint,
    OUT last_copy_at timestamptz,
    OUT last_error text,
    OUT last_error_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_audit_status';

COMMENT ON FUNCTION @extschema@.audit_status() IS
'the audit ring: size, entries held, entries not yet in runbook.actions (pending), entries being signalled, entries spilled to the log because the ring was full, entries copied, and the audit writer (running, starting, failures, last error)';

REVOKE ALL ON FUNCTION @extschema@.recent_actions(), @extschema@.audit_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.recent_actions(), @extschema@.audit_status() TO pg_monitor;

-- ---- the result row of every remedy: one row per session considered, with
-- what was done to it (outcome) or why it was skipped (reason).  One type
-- for cancel(), terminate(), kill_idle(), cancel_long() and
-- terminate_blockers() (the C functions build it: remedy_sql.c,
-- blockers_sql.c); the columns and their order are those of 1.0's OUT lists.
CREATE TYPE @extschema@.remedy_result AS (
    pid integer,
    usename name,
    datname name,
    application_name text,
    client_addr inet,
    backend_type text,
    state text,
    state_age interval,
    xact_age interval,
    query_age interval,
    action text,
    outcome text,
    reason text,
    detail text,
    query text);

COMMENT ON TYPE @extschema@.remedy_result IS
'a row of a remedy (cancel, terminate, kill_idle, cancel_long, terminate_blockers): the session as it was re-checked, the action, its outcome or the reason it was skipped';

-- ---- per-session remedies
CREATE FUNCTION @extschema@.cancel(
    pid integer,
    reason text DEFAULT NULL)
RETURNS SETOF @extschema@.remedy_result
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_cancel_pid';

COMMENT ON FUNCTION @extschema@.cancel(integer, text) IS
'cancel the running statement of one session (pg_cancel_backend with every safety rule, the re-check and the audit; the reason goes into the audit)';

CREATE FUNCTION @extschema@.terminate(
    pid integer,
    reason text DEFAULT NULL)
RETURNS SETOF @extschema@.remedy_result
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_terminate_pid';

COMMENT ON FUNCTION @extschema@.terminate(integer, text) IS
'end one session (pg_terminate_backend with every safety rule, the re-check and the audit; the reason goes into the audit)';

REVOKE ALL ON FUNCTION @extschema@.cancel(integer, text), @extschema@.terminate(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.cancel(integer, text), @extschema@.terminate(integer, text) TO pg_signal_backend;

-- ---- max_actions: a new last parameter with a default (calls with the
-- 1.0 arguments still work); DROP + CREATE, so the grants again
DROP FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean);
CREATE FUNCTION @extschema@.kill_idle(
    max_idle interval,
    dry_run boolean DEFAULT false,
    states text[] DEFAULT '{idle}',
    role_name name DEFAULT NULL,
    database_name name DEFAULT NULL,
    application_pattern text DEFAULT NULL,
    client_network text DEFAULT NULL,
    allow_superuser boolean DEFAULT false,
    max_actions integer DEFAULT NULL)
RETURNS SETOF @extschema@.remedy_result
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_kill_idle';

COMMENT ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean, integer) IS
'terminate sessions idle (or, per states, idle in transaction / aborted) for at least max_idle, oldest first, at most max_actions of them (default pg_runbook.max_actions_per_cycle); one row per session considered with the outcome or the reason it was skipped';

DROP FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean);
CREATE FUNCTION @extschema@.cancel_long(
    max_runtime interval,
    dry_run boolean DEFAULT false,
    terminate_after interval DEFAULT NULL,
    role_name name DEFAULT NULL,
    database_name name DEFAULT NULL,
    application_pattern text DEFAULT NULL,
    client_network text DEFAULT NULL,
    allow_superuser boolean DEFAULT false,
    max_actions integer DEFAULT NULL)
RETURNS SETOF @extschema@.remedy_result
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_cancel_long';

COMMENT ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean, integer) IS
'cancel statements running for at least max_runtime, longest first, at most max_actions of them; with terminate_after, terminate the sessions whose same statement still runs that long after the cancel';

DROP FUNCTION @extschema@.terminate_blockers(interval, boolean, boolean);
CREATE FUNCTION @extschema@.terminate_blockers(
    min_wait interval,
    dry_run boolean DEFAULT true,
    allow_superuser boolean DEFAULT false,
    max_actions integer DEFAULT NULL)
RETURNS SETOF @extschema@.remedy_result
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_terminate_blockers';

COMMENT ON FUNCTION @extschema@.terminate_blockers(interval, boolean, boolean, integer) IS
'terminate the root blockers of lock queues whose sessions have waited at least min_wait, at most max_actions of them (a dry run unless dry_run => false)';

REVOKE ALL ON FUNCTION
    @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean, integer),
    @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean, integer),
    @extschema@.terminate_blockers(interval, boolean, boolean, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean, integer),
    @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean, integer),
    @extschema@.terminate_blockers(interval, boolean, boolean, integer)
    TO pg_signal_backend;

-- ---- who changed a policy or a threshold, and when.  updated_by is
-- session_user (the login, also after SET ROLE).  A row restored by
-- pg_restore is stamped by the restoring session (the configuration
-- tables keep their pg_dump filters: every policy, the user_set
-- thresholds).  Deleting a row leaves a LOG line.
ALTER TABLE @extschema@.policies ADD COLUMN updated_by name;
ALTER TABLE @extschema@.alert_thresholds ADD COLUMN updated_at timestamptz;
ALTER TABLE @extschema@.alert_thresholds ADD COLUMN updated_by name;
COMMENT ON COLUMN @extschema@.policies.updated_by IS
'session_user of the last INSERT or UPDATE of this row (updated_at is its time)';
COMMENT ON COLUMN @extschema@.alert_thresholds.updated_by IS
'session_user of the last change of this row; NULL for a shipped default never changed';
COMMENT ON COLUMN @extschema@.alert_thresholds.updated_at IS
'time of the last change of this row; NULL for a shipped default never changed';

CREATE FUNCTION @extschema@._config_stamp() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE LOG 'pg_runbook: row % deleted from %.% by session_user % (current_user %)',
                  pg_catalog.quote_literal(OLD.name), TG_TABLE_SCHEMA, TG_TABLE_NAME,
                  pg_catalog.quote_ident(session_user), pg_catalog.quote_ident(current_user);
        RETURN OLD;
    END IF;
    NEW.updated_by := session_user;
    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$fn$;

REVOKE ALL ON FUNCTION @extschema@._config_stamp() FROM PUBLIC;

CREATE TRIGGER policies_stamp
    BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.policies
    FOR EACH ROW EXECUTE FUNCTION @extschema@._config_stamp();
CREATE TRIGGER alert_thresholds_stamp
    BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.alert_thresholds
    FOR EACH ROW EXECUTE FUNCTION @extschema@._config_stamp();
