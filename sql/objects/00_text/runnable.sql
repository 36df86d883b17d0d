-- runbook._runnable(kind, fmt, VARIADIC args): the one builder of text that
-- pg_runbook hands to a person to run or paste (remedy, remedy_sql, ddl,
-- action, check_sql, migration hints, incident messages).  C, src/emit.c;
-- the rules are in docs/security.md, "Emitted text".  kind: 'sql' (psql
-- text), 'shell' (one command line), 'text' (prose).  Values only through
-- %I (identifier), %L (literal), %R (relation by oid), %Q (shell word),
-- %s (numbers); a result that would not run as written becomes a fixed note.
--
-- Not pinned to a search_path: it resolves no name (the relation of %R is
-- read by oid) and runs no SQL, and it is called once per row of
-- bloat_report() and index_advice(), where a SET clause would save and
-- restore the setting on every call (sql_tests/001_install.sql lists it).
CREATE OR REPLACE FUNCTION @extschema@._runnable(kind text, fmt text, VARIADIC args "any")
RETURNS text
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'rb_runnable';

COMMENT ON FUNCTION @extschema@._runnable(text, text, "any") IS
'internal: build text a person will run or paste from a constant template and quoted values (docs/security.md, Emitted text)';

REVOKE ALL ON FUNCTION @extschema@._runnable(text, text, "any") FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._runnable(text, text, "any") TO pg_monitor, pg_signal_backend;

-- a template without values
CREATE OR REPLACE FUNCTION @extschema@._runnable(kind text, fmt text)
RETURNS text
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'rb_runnable';

COMMENT ON FUNCTION @extschema@._runnable(text, text) IS
'internal: check a constant template for text a person will run or paste (docs/security.md, Emitted text)';

REVOKE ALL ON FUNCTION @extschema@._runnable(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._runnable(text, text) TO pg_monitor, pg_signal_backend;
