-- runbook.cancel_long(): cancel (then terminate) statements running too
-- long, through the remedy path of src/remedy.c.  A dry run unless
-- dry_run => false (1.2); never a session that only waits on a lock.

CREATE OR REPLACE FUNCTION @extschema@.cancel_long(
    max_runtime interval,
    dry_run boolean DEFAULT true,
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
'cancel statements running for at least max_runtime, longest first, at most max_actions of them; with terminate_after, terminate the sessions whose same statement still runs that long after the cancel; a dry run unless dry_run => false (since 1.2); a session waiting on a heavyweight lock is skipped, naming its root blocker';

REVOKE ALL ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean, integer) TO pg_signal_backend;
