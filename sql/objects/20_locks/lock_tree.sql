-- runbook.lock_tree(): the wait-for graph as an indented tree for psql.

CREATE OR REPLACE FUNCTION @extschema@.lock_tree(OUT line text)
RETURNS SETOF text
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_lock_tree';

COMMENT ON FUNCTION @extschema@.lock_tree() IS
'lock waits as an indented tree: each root blocker with what it holds, the sessions waiting on it beneath';

REVOKE ALL ON FUNCTION @extschema@.lock_tree() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.lock_tree() TO pg_monitor;
