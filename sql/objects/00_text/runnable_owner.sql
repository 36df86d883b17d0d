-- runbook.as_owner(relation, statement): run a suggested statement as the
-- owner of a table, inside a security-restricted operation, the way VACUUM,
-- ANALYZE and REINDEX switch to the owner themselves (C, src/owner.c).
-- Remedies whose statement runs code a table's owner chose (VALIDATE
-- CONSTRAINT of a CHECK, DELETE on a table with triggers or rules, ALTER
-- COLUMN TYPE) are emitted as SELECT runbook.as_owner(...): pasted by a
-- superuser, the owner's code still runs with the owner's rights only.
-- SET ROLE would not do: the owner's code could RESET ROLE
-- (docs/security.md, "Code of a table's owner").
--
-- The caller must have the privileges of the owner (a superuser, or a member
-- of the owning role): the grant to pg_monitor lets nobody act as a role it
-- could not become.
CREATE OR REPLACE FUNCTION @extschema@.as_owner(relation regclass, statement text)
RETURNS bigint
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_as_owner';

COMMENT ON FUNCTION @extschema@.as_owner(regclass, text) IS
'run statement as the owner of relation in a security-restricted operation (as VACUUM does), so that the owner''s code in it (CHECK functions, triggers, rules) runs with the owner''s rights only; the caller must have the owner''s privileges; returns the rows processed';

REVOKE ALL ON FUNCTION @extschema@.as_owner(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.as_owner(regclass, text) TO pg_monitor;

-- The remedy that runs statement (text built by _runnable('sql')) as the
-- owner of relation: SELECT runbook.as_owner('schema.table', 'statement');
-- NULL when statement is NULL (the relation is gone).
CREATE OR REPLACE FUNCTION @extschema@._as_owner_sql(relation regclass, statement text)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@._runnable('sql', 'SELECT %I.as_owner(%L, %L);', '@extschema@', relation, statement) $$;

COMMENT ON FUNCTION @extschema@._as_owner_sql(regclass, text) IS
'internal: the remedy text that runs a statement as the owner of a table (runbook.as_owner)';

REVOKE ALL ON FUNCTION @extschema@._as_owner_sql(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._as_owner_sql(regclass, text) TO pg_monitor;

-- Whether a DELETE from relation runs code that a role chose: a DELETE
-- trigger or a rule on it or on a table the DELETE reaches (partitions,
-- inheritance children), row-level security, or a foreign key that cascades
-- the DELETE into another table (ON DELETE CASCADE, SET NULL, SET DEFAULT:
-- that table's triggers fire).  Then the suggested DELETE runs as the owner.
CREATE OR REPLACE FUNCTION @extschema@._delete_runs_owner_code(relation regclass)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE rels(oid) AS (
        SELECT relation::oid
        UNION
        SELECT i.inhrelid FROM pg_inherits i JOIN rels r ON i.inhparent = r.oid)
    SELECT EXISTS (SELECT 1 FROM pg_trigger t JOIN rels r ON t.tgrelid = r.oid
                    WHERE NOT t.tgisinternal AND (t.tgtype & 8) <> 0)    -- TRIGGER_TYPE_DELETE
        OR EXISTS (SELECT 1 FROM pg_rewrite w JOIN rels r ON w.ev_class = r.oid
                    WHERE w.rulename <> '_RETURN')
        OR EXISTS (SELECT 1 FROM pg_class c JOIN rels r ON c.oid = r.oid WHERE c.relrowsecurity)
        OR EXISTS (SELECT 1 FROM pg_constraint k JOIN rels r ON k.confrelid = r.oid
                    WHERE k.contype = 'f' AND k.confdeltype IN ('c', 'n', 'd'))
$$;

COMMENT ON FUNCTION @extschema@._delete_runs_owner_code(regclass) IS
'internal: a DELETE from the table fires triggers or rules, meets row-level security or cascades (code a role chose runs)';

REVOKE ALL ON FUNCTION @extschema@._delete_runs_owner_code(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._delete_runs_owner_code(regclass) TO pg_monitor;
