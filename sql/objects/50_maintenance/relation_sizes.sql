-- Sizes without waiting on a lock: relation_size_nowait(), _relation_sizes()
-- (C, src/maint.c, conditional locks) and _reloption().  Nothing in
-- maintenance waits on a lock: sizes and the bloat estimate come from C;
-- everything else reads catalogs and statistics only.

CREATE OR REPLACE FUNCTION @extschema@.relation_size_nowait(rel regclass, fork text DEFAULT 'main')
RETURNS bigint
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_relation_size_nowait';

COMMENT ON FUNCTION @extschema@.relation_size_nowait(regclass, text) IS
'pg_relation_size() that returns NULL instead of queueing behind DDL (the relation is locked conditionally); fork main, fsm, vm, init, or all (every fork summed)';

REVOKE ALL ON FUNCTION @extschema@.relation_size_nowait(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.relation_size_nowait(regclass, text) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._sizes_nowait(rels oid[], OUT relid oid, OUT bytes bigint)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_sizes_nowait';

COMMENT ON FUNCTION @extschema@._sizes_nowait(oid[]) IS
'internal: relation_size_nowait() of every relation of the array in one call (bytes NULL when locked, no row when gone)';

REVOKE ALL ON FUNCTION @extschema@._sizes_nowait(oid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._sizes_nowait(oid[]) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._relation_sizes(
    OUT relid oid,
    OUT kind text,
    OUT parent oid,
    OUT main_bytes bigint,
    OUT other_fork_bytes bigint,
    OUT toast_bytes bigint,
    OUT indexes_bytes bigint,
    OUT total_bytes bigint,
    OUT skipped text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_relation_sizes';

REVOKE ALL ON FUNCTION @extschema@._relation_sizes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._relation_sizes() TO pg_monitor;

-- ---------------------------------------------------------------------
-- vacuum_status
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@._reloption(opts text[], name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT substr(o, length(name) + 2) FROM unnest(opts) o WHERE o LIKE name || '=%' LIMIT 1 $$;

REVOKE ALL ON FUNCTION @extschema@._reloption(text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._reloption(text[], text) TO pg_monitor;
