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

-- The same call in two steps, so that the caller checks its own database
-- while the workers check the others: _on_databases_start() starts the
-- workers of the OTHER databases of the call and returns a handle;
-- _on_databases_collect() runs the call to its end and returns its rows as
-- _on_databases() does, without the current database.  A call not
-- collected is stopped at the end of its transaction.
CREATE OR REPLACE FUNCTION @extschema@._on_databases_start(
    check_name text,
    databases name[],
    rowtype anyelement)
RETURNS bigint
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_on_databases_start';

COMMENT ON FUNCTION @extschema@._on_databases_start(text, name[], anyelement) IS
'internal: start a per-database check in the other databases of the call (workers at once); its handle, for _on_databases_collect()';

REVOKE ALL ON FUNCTION @extschema@._on_databases_start(text, name[], anyelement) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._on_databases_start(text, name[], anyelement) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._on_databases_start(
    check_name text,
    databases name[],
    rowtype anyelement,
    VARIADIC args "any")
RETURNS bigint
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_on_databases_start';

COMMENT ON FUNCTION @extschema@._on_databases_start(text, name[], anyelement, "any") IS
'internal: _on_databases_start() with the check''s arguments (built-in types)';

REVOKE ALL ON FUNCTION @extschema@._on_databases_start(text, name[], anyelement, "any") FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._on_databases_start(text, name[], anyelement, "any") TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._on_databases_collect(
    handle bigint,
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
AS 'MODULE_PATHNAME', 'rb_on_databases_collect';

COMMENT ON FUNCTION @extschema@._on_databases_collect(bigint, anyelement) IS
'internal: the end of a call started by _on_databases_start(): per other database a summary row, then its rows in r';

REVOKE ALL ON FUNCTION @extschema@._on_databases_collect(bigint, anyelement) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._on_databases_collect(bigint, anyelement) TO pg_monitor;

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

-- The end of this database's time budget in a per-database worker (NULL
-- elsewhere): checks with time-bounded probes of their own keep them
-- within it.
CREATE OR REPLACE FUNCTION @extschema@._check_deadline()
RETURNS timestamptz
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_check_deadline';

COMMENT ON FUNCTION @extschema@._check_deadline() IS
'internal: in a per-database worker, when the database''s time budget (pg_runbook.per_database_timeout) ends; NULL in a session';

REVOKE ALL ON FUNCTION @extschema@._check_deadline() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._check_deadline() TO pg_monitor;

-- The time for one probe of a check (integrity_check()'s orphan counts,
-- migration_status()'s table reads): want_ms, or less in a per-database
-- worker, so that the check ends within its database's time budget (a
-- quarter of a second, or a tenth of what is left, is kept for the rest of
-- the check and its rows); 0 when nothing is left.
CREATE OR REPLACE FUNCTION @extschema@._probe_budget_ms(want_ms integer)
RETURNS integer
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN d.t IS NULL THEN want_ms
                ELSE greatest(0, least(want_ms::numeric, l.ms - greatest(250, l.ms / 10)))::integer END
      FROM @extschema@._check_deadline() AS d(t),
           LATERAL (SELECT floor(extract(epoch FROM d.t - clock_timestamp()) * 1000) AS ms) l
$$;

COMMENT ON FUNCTION @extschema@._probe_budget_ms(integer) IS
'internal: the milliseconds one probe of a check may take (want_ms, or less in a per-database worker near the end of its time budget)';

REVOKE ALL ON FUNCTION @extschema@._probe_budget_ms(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._probe_budget_ms(integer) TO pg_monitor;

-- Does a call of a whole-server function cover this database only?  With
-- an argument that names a relation (a regclass names one of this
-- database), it must: databases is then NULL or this database alone.
CREATE OR REPLACE FUNCTION @extschema@._this_database_only(databases name[], relation_arg text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    here boolean := databases IS NOT NULL AND cardinality(databases) > 0
                    AND current_database() = ALL (databases);
BEGIN
    IF relation_arg IS NOT NULL AND NOT here AND databases IS NOT NULL THEN
        RAISE EXCEPTION '% names a relation of this database: the call covers this database only', relation_arg
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Leave databases out, or call the function in the database of the relation; databases => ARRAY[%L] is this one.',
                                current_database());
    END IF;
    RETURN here OR relation_arg IS NOT NULL;
END
$fn$;

COMMENT ON FUNCTION @extschema@._this_database_only(name[], text) IS
'internal: a whole-server function covers this database only (databases names only it, or an argument names a relation of it)';

REVOKE ALL ON FUNCTION @extschema@._this_database_only(name[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._this_database_only(name[], text) TO pg_monitor;

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

-- The row a whole-server function gives a database it could not check:
-- datname, 'not checked: <reason>' in the column reason_col, the statement
-- that fixes it (_database_fix(), to run in that database) in fix_col, and
-- the columns of extra (a verdict or status that says it).
CREATE OR REPLACE FUNCTION @extschema@._not_checked_row(rowtype anyelement, datname name, code text, reason text,
                                                        reason_col text, fix_col text, extra jsonb DEFAULT '{}')
RETURNS anyelement
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_populate_record(rowtype,
               extra || jsonb_build_object('datname', datname, reason_col, 'not checked: ' || reason)
               || CASE WHEN fix_col IS NOT NULL
                       THEN jsonb_build_object(fix_col, @extschema@._database_fix(code, datname))
                       ELSE '{}' END)
$$;

COMMENT ON FUNCTION @extschema@._not_checked_row(anyelement, name, text, text, text, text, jsonb) IS
'internal: the row of a whole-server function for a database it could not check (datname, the reason, the fix)';

REVOKE ALL ON FUNCTION @extschema@._not_checked_row(anyelement, name, text, text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._not_checked_row(anyelement, name, text, text, text, text, jsonb) TO pg_monitor;

-- The other databases' rows of a whole-server call started with
-- _on_databases_start(): their rows, and for a database that could not be
-- checked the one row that says why (_not_checked_row()).
CREATE OR REPLACE FUNCTION @extschema@._on_databases_rows(handle bigint, rowtype anyelement,
                                                          reason_col text, fix_col text, extra jsonb DEFAULT '{}')
RETURNS SETOF anyelement
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN x.summary
                THEN @extschema@._not_checked_row(rowtype, x.datname, x.code, x.reason, reason_col, fix_col, extra)
                ELSE x.r END
      FROM @extschema@._on_databases_collect(handle, rowtype) x
     WHERE NOT x.summary OR NOT x.checked
$$;

COMMENT ON FUNCTION @extschema@._on_databases_rows(bigint, anyelement, text, text, jsonb) IS
'internal: collect a whole-server call: the other databases'' rows, and a row that says why for each database not checked';

REVOKE ALL ON FUNCTION @extschema@._on_databases_rows(bigint, anyelement, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._on_databases_rows(bigint, anyelement, text, text, jsonb) TO pg_monitor;

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
