-- Every database from one call (ARCHITECTURE.md, "Every database from one
-- call"; src/databases.c, src/dbworker.c).  _on_databases() runs one check
-- of a fixed list -- a function or view of pg_runbook -- in each database:
-- here for the current one, elsewhere in a background worker connected to
-- that database as the calling role, which needs pg_runbook installed
-- there at this version.  databases() says, per database, whether a
-- whole-server call covers it now, and why not.

CREATE OR REPLACE FUNCTION @extschema@._on_databases(
    check_name text,
    databases name[],
    rowtype anyelement,
    OUT datname name,
    OUT summary boolean,
    OUT checked boolean,
    OUT code text,
    OUT reason text,
    OUT elapsed_ms double precision,
    OUT r anyelement)
RETURNS SETOF record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_on_databases';

COMMENT ON FUNCTION @extschema@._on_databases(text, name[], anyelement) IS
'internal: one per-database check (a fixed list) in every database (databases NULL) or the named ones; per database a summary row (checked, or code and reason), then its rows in r (reg* columns NULL for another database)';

REVOKE ALL ON FUNCTION @extschema@._on_databases(text, name[], anyelement) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._on_databases(text, name[], anyelement) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._on_databases(
    check_name text,
    databases name[],
    rowtype anyelement,
    VARIADIC args "any",
    OUT datname name,
    OUT summary boolean,
    OUT checked boolean,
    OUT code text,
    OUT reason text,
    OUT elapsed_ms double precision,
    OUT r anyelement)
RETURNS SETOF record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_on_databases';

COMMENT ON FUNCTION @extschema@._on_databases(text, name[], anyelement, "any") IS
'internal: _on_databases() with the check''s arguments (built-in types)';

REVOKE ALL ON FUNCTION @extschema@._on_databases(text, name[], anyelement, "any") FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._on_databases(text, name[], anyelement, "any") TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._databases_probe(
    databases name[],
    OUT datname name,
    OUT datid oid,
    OUT is_current boolean,
    OUT checked boolean,
    OUT code text,
    OUT reason text,
    OUT extversion text,
    OUT elapsed_ms double precision)
RETURNS SETOF record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_databases_probe';

COMMENT ON FUNCTION @extschema@._databases_probe(name[]) IS
'internal: per database, whether a whole-server call can check it now (a worker connects and finds pg_runbook at this version), and why not';

REVOKE ALL ON FUNCTION @extschema@._databases_probe(name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._databases_probe(name[]) TO pg_monitor;

-- What to do about a database a whole-server call cannot check (NULL when
-- there is nothing to do: a template, a database that allows no
-- connections, say).  The statement runs in the database named by datname
-- (GRANT CONNECT anywhere).
CREATE OR REPLACE FUNCTION @extschema@._database_fix(code text, datname name)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE code
             WHEN 'not_installed' THEN @extschema@._runnable('sql', 'CREATE EXTENSION pg_runbook;')
             WHEN 'other_version' THEN @extschema@._runnable('sql', 'ALTER EXTENSION pg_runbook UPDATE;')
             WHEN 'no_privilege' THEN @extschema@._runnable('sql', 'GRANT CONNECT ON DATABASE %I TO %I;', datname, current_user)
             WHEN 'timeout' THEN @extschema@._runnable('sql', 'SET pg_runbook.per_database_timeout = ''30s'';')
           END
$$;

COMMENT ON FUNCTION @extschema@._database_fix(text, name) IS
'internal: the statement that lets a whole-server call check a database it could not (by the code of _on_databases())';

REVOKE ALL ON FUNCTION @extschema@._database_fix(text, name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._database_fix(text, name) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.databases(
    OUT datname name,
    OUT is_current boolean,
    OUT checked boolean,
    OUT code text,
    OUT reason text,
    OUT fix text,
    OUT extversion text,
    OUT elapsed_ms double precision)
RETURNS SETOF record
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.datname, p.is_current, p.checked, p.code, p.reason,
           @extschema@._database_fix(p.code, p.datname), p.extversion, round(p.elapsed_ms::numeric, 1)::float8
      FROM @extschema@._databases_probe(NULL) p
     ORDER BY p.datname
$$;

COMMENT ON FUNCTION @extschema@.databases() IS
'every database of the server: whether a whole-server call (triage(), sizes(), vacuum_status(), metrics()) checks it now -- a worker connects there as you and finds pg_runbook at this version -- and, when not, why (code, reason) and the statement that fixes it (run in that database)';

REVOKE ALL ON FUNCTION @extschema@.databases() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.databases() TO pg_monitor;
