-- runbook.terminate_blockers(min_wait): end the root blockers of lock
-- queues (src/blockers_sql.c).

CREATE OR REPLACE FUNCTION @extschema@.terminate_blockers(
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

REVOKE ALL ON FUNCTION @extschema@.terminate_blockers(interval, boolean, boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.terminate_blockers(interval, boolean, boolean, integer) TO pg_signal_backend;
