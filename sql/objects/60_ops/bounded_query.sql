-- Reading user tables without running another role's code (docs/security.md).
-- pg_runbook is called by superusers and pg_monitor members and its workers
-- run as the bootstrap superuser: nothing it runs with those rights may be
-- code another role chose.  User tables are read through one place,
-- _bounded_query(), which applies one rule (_read_refusal): a read that
-- would run code chosen by a role other than a superuser is refused and
-- reported, never done.

-- The one rule.  NULL when reading the relations (and, for partitioned
-- and inheritance parents, their descendants) with the caller's rights runs
-- no code that a non-superuser chose; otherwise why not, naming the object.
-- Refused: anything but a plain or partitioned table (a view runs its
-- query, a foreign table its wrapper); row-level security that applies to
-- the caller (its policies are expressions of the table's owner); a column
-- whose type is owned by a non-superuser (its casts, operators, I/O and
-- domain checks are that role's functions); a virtual generated column.
-- Casts and operators between types owned by superusers can only be made
-- by superusers, and the names in pg_runbook's SQL resolve in pg_catalog.

CREATE OR REPLACE FUNCTION @extschema@._read_refusal(rels regclass[])
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH RECURSIVE tree(relid, top) AS (
    SELECT r.rel::oid, true FROM unnest(rels) AS r(rel)
    UNION
    SELECT i.inhrelid, false FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
), why AS (
    SELECT 1 AS ord, format('%s is %s, not a table: pg_runbook reads tables only',
                            c.oid::regclass,
                            CASE c.relkind WHEN 'v' THEN 'a view (reading it runs its query, with functions its owner chose)'
                                           WHEN 'm' THEN 'a materialized view'
                                           WHEN 'f' THEN 'a foreign table (reading it runs its foreign-data wrapper)'
                                           ELSE format('of kind %L', c.relkind) END) AS reason
      FROM tree t JOIN pg_class c ON c.oid = t.relid
     WHERE c.relkind NOT IN ('r', 'p')
    UNION ALL
    SELECT 2, format('row-level security of %s applies to role %I: its policies are expressions chosen by the table''s owner',
                     c.oid::regclass, current_user)
      FROM tree t JOIN pg_class c ON c.oid = t.relid
     WHERE t.top AND c.relrowsecurity AND row_security_active(c.oid)
    UNION ALL
    SELECT 3, format('column %I of %s has the user-defined type %s, owned by %I (its casts, operators, checks and I/O functions are code that role chose)',
                     a.attname, c.oid::regclass, format_type(a.atttypid, a.atttypmod), ro.rolname)
      FROM tree t
      JOIN pg_class c ON c.oid = t.relid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_type ty ON ty.oid = a.atttypid
      JOIN pg_roles ro ON ro.oid = ty.typowner
     WHERE NOT ro.rolsuper
    UNION ALL
    SELECT 4, format('column %I of %s is a virtual generated column: reading it runs its expression',
                     a.attname, c.oid::regclass)
      FROM tree t
      JOIN pg_class c ON c.oid = t.relid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE a.attgenerated = 'v'
)
SELECT string_agg(reason, '; ' ORDER BY ord, reason) FROM why
$fn$;

COMMENT ON FUNCTION @extschema@._read_refusal(regclass[]) IS
'internal: why reading these relations could run code chosen by a role other than a superuser (NULL: safe to read); the one rule for reading user objects';

REVOKE ALL ON FUNCTION @extschema@._read_refusal(regclass[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._read_refusal(regclass[]) TO pg_monitor;

-- _bounded_query(): the one place user tables are read; applies _read_refusal()

CREATE OR REPLACE FUNCTION @extschema@._bounded_query(
    sql text,
    rels regclass[],
    timeout_ms integer,
    OUT result jsonb,
    OUT outcome text)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    deadline timestamptz;
    old_lock_timeout text := current_setting('lock_timeout');
    rel regclass;
    refused text;
BEGIN
    result := NULL;
    outcome := 'ok';
    BEGIN
        PERFORM set_config('lock_timeout', '100ms', true);
        FOREACH rel IN ARRAY rels LOOP
            EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE NOWAIT', rel);
        END LOOP;
        -- the rule of privilege safety, checked under the locks (which
        -- keep the columns, RLS and policies from changing until we read)
        refused := @extschema@._read_refusal(rels);
        IF refused IS NOT NULL THEN
            outcome := 'skipped: refused: ' || refused;
            PERFORM set_config('lock_timeout', old_lock_timeout, true);
            RETURN;
        END IF;
        deadline := @extschema@._deadline_arm(timeout_ms);
        EXECUTE format('SELECT coalesce(jsonb_agg(q), ''[]'') FROM (%s) q', sql) INTO result;
        PERFORM @extschema@._deadline_disarm();
        PERFORM set_config('lock_timeout', old_lock_timeout, true);
    EXCEPTION
        WHEN query_canceled THEN
            PERFORM @extschema@._deadline_disarm();
            -- a user's cancel or the caller's own statement_timeout stops
            -- everything; only our own deadline means "skip this one"
            IF deadline IS NULL OR clock_timestamp() < deadline THEN
                RAISE;
            END IF;
            outcome := format('skipped: not finished within %s ms', timeout_ms);
        WHEN lock_not_available THEN
            PERFORM @extschema@._deadline_disarm();
            outcome := 'skipped: lock conflict: DDL holds or waits for the table (' || SQLERRM || ')';
        WHEN insufficient_privilege THEN
            PERFORM @extschema@._deadline_disarm();
            outcome := 'skipped: ' || SQLERRM;
        WHEN OTHERS THEN
            -- never leave the timer armed behind an error
            PERFORM @extschema@._deadline_disarm();
            RAISE;
    END;
END
$fn$;

COMMENT ON FUNCTION @extschema@._bounded_query(text, regclass[], integer) IS
'internal: run a probe query with NOWAIT locks and a time bound; its rows as jsonb, or NULL and the reason it was skipped';

REVOKE ALL ON FUNCTION @extschema@._bounded_query(text, regclass[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._bounded_query(text, regclass[], integer) TO pg_monitor;

-- The FROM/WHERE clause that selects the rows of a foreign key's table
-- whose key matches no row of the referenced table, using the constraint's
-- own equality operators.  MATCH SIMPLE: a row with any NULL key column is
-- not checked; MATCH FULL: only an all-NULL key is exempt.

CREATE OR REPLACE FUNCTION @extschema@._fk_orphan_from(fk oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT format('FROM %s c WHERE %s AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s)',
                  c.conrelid::regclass,
                  CASE WHEN c.confmatchtype = 'f'
                       THEN '(' || string_agg(format('c.%I IS NOT NULL', ca.attname), ' OR ' ORDER BY k.ord) || ')'
                       ELSE string_agg(format('c.%I IS NOT NULL', ca.attname), ' AND ' ORDER BY k.ord) END,
                  c.confrelid::regclass,
                  string_agg(format('c.%I OPERATOR(%I.%s) p.%I', ca.attname, opn.nspname, op.oprname, pa.attname),
                             ' AND ' ORDER BY k.ord))
      FROM pg_constraint c
      CROSS JOIN LATERAL unnest(c.conkey, c.confkey, c.conpfeqop) WITH ORDINALITY k(ck, pk, opr, ord)
      JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.ck
      JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pk
      JOIN pg_operator op ON op.oid = k.opr
      JOIN pg_namespace opn ON opn.oid = op.oprnamespace
     WHERE c.oid = fk AND c.contype = 'f'
     GROUP BY c.oid, c.conrelid, c.confrelid, c.confmatchtype
$fn$;

COMMENT ON FUNCTION @extschema@._fk_orphan_from(oid) IS
'internal: FROM/WHERE clause selecting the rows that break a foreign key';

REVOKE ALL ON FUNCTION @extschema@._fk_orphan_from(oid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._fk_orphan_from(oid) TO pg_monitor;
