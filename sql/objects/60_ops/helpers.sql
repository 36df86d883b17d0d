-- Helpers of the ops runbooks (slow queries, replication, integrity,
-- configuration, migrations).  Those are all SECURITY INVOKER: they read
-- catalogs and statistics views that pg_monitor may read, and
-- (integrity_check, migration_status) user tables with the caller's own
-- privileges; a table the caller may not read is reported as skipped, never
-- read behind its back.

-- Time bound for one probe (C, src/ops.c): statement_timeout set inside a
-- function does not reach the statement already running.

CREATE OR REPLACE FUNCTION @extschema@._deadline_arm(timeout_ms integer)
RETURNS timestamptz
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_deadline_arm';

COMMENT ON FUNCTION @extschema@._deadline_arm(integer) IS
'internal: arm the statement timer for one probe (returns the deadline, NULL when the caller''s statement_timeout is sooner)';

REVOKE ALL ON FUNCTION @extschema@._deadline_arm(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._deadline_arm(integer) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._deadline_disarm()
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_deadline_disarm';

COMMENT ON FUNCTION @extschema@._deadline_disarm() IS
'internal: restore the caller''s statement timer after _deadline_arm()';

REVOKE ALL ON FUNCTION @extschema@._deadline_disarm() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._deadline_disarm() TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._server_memory()
RETURNS bigint
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_server_memory';

COMMENT ON FUNCTION @extschema@._server_memory() IS
'internal: bytes of memory available to the server (RAM or cgroup limit), NULL if unknown';

REVOKE ALL ON FUNCTION @extschema@._server_memory() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._server_memory() TO pg_monitor;

-- Library names in shared_preload_libraries, normalised (no quotes, no
-- directory, no .so suffix).

CREATE OR REPLACE FUNCTION @extschema@._preloaded_libraries()
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(l ORDER BY n), '{}')
      FROM (SELECT regexp_replace(regexp_replace(btrim(x, ' "'), '^.*/', ''), '\.so$', '') AS l, n
              FROM unnest(string_to_array(current_setting('shared_preload_libraries'), ','))
                   WITH ORDINALITY AS u(x, n)) s
     WHERE l <> ''
$$;

COMMENT ON FUNCTION @extschema@._preloaded_libraries() IS
'internal: library names in shared_preload_libraries, in order, without quotes, directory or .so';

REVOKE ALL ON FUNCTION @extschema@._preloaded_libraries() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._preloaded_libraries() TO pg_monitor;
