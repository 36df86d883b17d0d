-- runbook.kill_idle(): end idle sessions, oldest first, through the remedy
-- path of src/remedy.c.  A dry run unless dry_run => false (1.2: every
-- remedy that picks its sessions by a rule shows them first).

CREATE OR REPLACE FUNCTION @extschema@.kill_idle(
    max_idle interval,
    dry_run boolean DEFAULT true,
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
'terminate sessions idle (or, per states, idle in transaction / aborted) for at least max_idle, oldest first, at most max_actions of them (default pg_runbook.max_actions_per_cycle); a dry run unless dry_run => false (since 1.2); one row per session considered with the outcome or the reason it was skipped';

REVOKE ALL ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean, integer) TO pg_signal_backend;
