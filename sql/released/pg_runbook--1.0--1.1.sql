-- pg_runbook 1.0 -> 1.1: upgrade script, assembled from sql/1.1/*.sql in name
-- order.  The fresh 1.1 install script is the 1.0 script followed by these.
\echo Use "ALTER EXTENSION pg_runbook UPDATE TO '1.1'" to load this file. \quit
-- ---------------------------------------------------------------------
-- pg_runbook 1.0 -> 1.1.  1.0 (sql/1.0/) is released and never changes;
-- every change since is a step here, one fragment per concern, applied in
-- name order both by ALTER EXTENSION pg_runbook UPDATE and by a fresh
-- CREATE EXTENSION (which runs the 1.0 script first).  Rules for a step:
-- - it must work on a database whose users have written policies,
--   thresholds and audit rows: never drop a table or a column they fill;
-- - CREATE OR REPLACE keeps grants; a changed OUT list needs DROP + CREATE
--   and the grants again;
-- - every function pins search_path (SET search_path = pg_catalog, pg_temp)
--   and names every object of the extension as @extschema@.name.
-- ---------------------------------------------------------------------

-- Grants that users gave on the extension's functions survive the steps
-- below that re-create a function (DROP + CREATE, to change its signature
-- or its result columns): every function's ACL is noted here, by name, and
-- what the re-created function lacks of it is granted again at the end
-- (98_grants.sql).  On a fresh install this finds only the script's
-- own grants, which the steps give again anyway.
SELECT pg_catalog.set_config('pg_runbook_upgrade.acl', coalesce((
    SELECT pg_catalog.jsonb_object_agg(s.proname, s.acls)::text
      FROM (SELECT p.proname, pg_catalog.jsonb_agg(a.acl::text) AS acls
              FROM pg_catalog.pg_depend d
              JOIN pg_catalog.pg_proc p ON p.oid = d.objid
             CROSS JOIN LATERAL pg_catalog.unnest(p.proacl) AS a(acl)
             WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
               AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
               AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_runbook')
               AND d.deptype = 'e'
             GROUP BY p.proname) s), '{}'), true);
-- ---------------------------------------------------------------------
-- Privilege safety (issue 11; docs/security.md).  pg_runbook is called by
-- superusers and pg_monitor members and its workers run as the bootstrap
-- superuser: nothing it runs with those rights may be code another role
-- chose.
--  * every function pins search_path (99_search_path.sql, last);
--  * user tables are read through one place, _bounded_query(), which
--    applies one rule (_read_refusal): a read that would run code chosen by
--    a role other than a superuser is refused and reported, never done;
--  * text meant to be pasted into a shell is single-quoted (_shell_quote).
-- ---------------------------------------------------------------------

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
CREATE FUNCTION @extschema@._read_refusal(rels regclass[])
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

-- Single-quoted for a POSIX shell: 'it'\''s'.
CREATE FUNCTION @extschema@._shell_quote(s text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT $q$'$q$ || replace(s, $q$'$q$, $q$'\''$q$) || $q$'$q$ $fn$;

COMMENT ON FUNCTION @extschema@._shell_quote(text) IS
'internal: a string single-quoted for a POSIX shell';

REVOKE ALL ON FUNCTION @extschema@._read_refusal(regclass[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._shell_quote(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._read_refusal(regclass[]) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._shell_quote(text) TO pg_monitor;

-- A 1.0 trigger function pinned pg_catalog without pg_temp (which then is
-- searched first for relations): the canonical path.
ALTER FUNCTION @extschema@._policies_validate() SET search_path = pg_catalog, pg_temp;

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

-- migration_status(): views and foreign tables named like migration tables are
-- reported as refused; shell commands quote the migration name
CREATE OR REPLACE FUNCTION @extschema@.migration_status(
    probe_timeout interval DEFAULT '2s',
    OUT tool text,
    OUT migration_table regclass,
    OUT status text,
    OUT migration text,
    OUT started_at timestamptz,
    OUT finished_at timestamptz,
    OUT detail text,
    OUT remedy text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    t record;
    cols text[];
    q text;
    tool_name text;
    probe record;
    acc jsonb := '[]';
    timeout_ms integer;
    holder record;
    prisma_locked boolean;
BEGIN
    IF probe_timeout IS NULL OR probe_timeout <= interval '0' THEN
        RAISE EXCEPTION 'probe_timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    timeout_ms := greatest(1, least(extract(epoch FROM probe_timeout) * 1000, 2147483647))::integer;

    -- prisma migrate holds advisory lock 72707369 (bigint form) while it runs
    prisma_locked := EXISTS (
        SELECT 1 FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 72707369
           AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()));

    FOR t IN
        SELECT c.oid::regclass AS tbl, c.relname::text AS relname
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         -- views, materialized views and foreign tables too: they are
         -- reported as refused (_read_refusal), never read
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND c.relname IN ('_prisma_migrations', 'flyway_schema_history', 'schema_migrations',
                             'alembic_version', 'knex_migrations', 'knex_migrations_lock',
                             'django_migrations', 'databasechangelog', 'databasechangeloglock',
                             '_sqlx_migrations', 'goose_db_version')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\_toast%'
         ORDER BY c.relname, n.nspname
    LOOP
        SELECT array_agg(a.attname::text) INTO cols
          FROM pg_attribute a WHERE a.attrelid = t.tbl AND a.attnum > 0 AND NOT a.attisdropped;
        q := NULL;
        CASE t.relname
        WHEN '_prisma_migrations' THEN
            tool_name := 'prisma';
            q := format($q$
                SELECT CASE WHEN logs IS NOT NULL THEN 'failed' ELSE 'partial' END AS status,
                       migration_name::text AS migration, started_at::timestamptz AS started_at,
                       finished_at::timestamptz AS finished_at,
                       CASE WHEN logs IS NOT NULL THEN 'failed: ' || left(logs, 500)
                            WHEN %2$L::boolean THEN 'started, not finished: a prisma migrate holds its lock, so it is probably running now'
                            ELSE 'started and never finished, and no prisma migrate holds its lock: the process died part-way' END AS detail,
                       CASE WHEN logs IS NOT NULL
                            THEN 'fix the database, then: npx prisma migrate resolve --rolled-back ' || @extschema@._shell_quote(migration_name)
                                 || '  (or --applied if you completed it by hand)'
                            WHEN %2$L::boolean THEN 'wait for it; if its session is stuck, see the locked row'
                            ELSE 'check what it applied, then: npx prisma migrate resolve --rolled-back ' || @extschema@._shell_quote(migration_name) END AS remedy
                  FROM %1$s
                 WHERE finished_at IS NULL AND rolled_back_at IS NULL
                UNION ALL
                (SELECT 'last_applied', migration_name, started_at, finished_at,
                        applied_steps_count || ' step(s)', NULL
                   FROM %1$s WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL
                  ORDER BY finished_at DESC, started_at DESC LIMIT 1)$q$, t.tbl, prisma_locked);
        WHEN 'flyway_schema_history' THEN
            tool_name := 'flyway';
            q := format($q$
                SELECT 'failed' AS status,
                       concat_ws(' ', version, description) AS migration,
                       installed_on::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       format('installed_rank %%s, script %%s, by %%s', installed_rank, script, installed_by) AS detail,
                       'fix or revert what the script did, then: flyway repair' AS remedy
                  FROM %1$s WHERE NOT success
                UNION ALL
                (SELECT 'last_applied', concat_ws(' ', version, description), installed_on::timestamptz, NULL,
                        format('installed_rank %%s, script %%s, %%s ms', installed_rank, script, execution_time), NULL
                   FROM %1$s WHERE success
                  ORDER BY installed_rank DESC LIMIT 1)$q$, t.tbl);
        WHEN 'schema_migrations' THEN
            IF 'dirty' = ANY (cols) THEN
                tool_name := 'golang-migrate';
                q := format($q$
                    SELECT CASE WHEN dirty THEN 'dirty' ELSE 'last_applied' END AS status,
                           version::text AS migration, NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                           CASE WHEN dirty THEN 'migration ' || version || ' failed part-way: the schema is half changed and migrate refuses to run'
                                ELSE 'clean' END AS detail,
                           CASE WHEN dirty THEN 'repair the schema by hand, then: migrate force <last good version> (the one before ' || version || ')' END AS remedy
                      FROM %1$s$q$, t.tbl);
            ELSIF NOT 'version' = ANY (cols) THEN
                acc := acc || jsonb_build_object('tool', 'unknown', 'tbl', t.tbl::text, 'status', 'skipped',
                                                 'detail', 'schema_migrations without a version column: not a known tool''s layout');
                CONTINUE;
            ELSE
                tool_name := 'rails/activerecord';
                q := format($q$
                    SELECT 'last_applied' AS status, version::text AS migration,
                           NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                           (SELECT count(*) FROM %1$s) || ' migration(s) recorded' AS detail, NULL AS remedy
                      FROM %1$s ORDER BY length(version::text) DESC, version::text DESC LIMIT 1$q$, t.tbl);
            END IF;
        WHEN 'alembic_version' THEN
            tool_name := 'alembic';
            q := format($q$
                SELECT 'last_applied' AS status, version_num::text AS migration,
                       NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       CASE WHEN count(*) OVER () > 1 THEN 'one of ' || count(*) OVER () || ' heads (branches not merged)'
                            ELSE 'current revision' END AS detail, NULL AS remedy
                  FROM %1$s$q$, t.tbl);
        WHEN 'knex_migrations' THEN
            tool_name := 'knex';
            q := format($q$
                SELECT 'last_applied' AS status, name::text AS migration,
                       NULL::timestamptz AS started_at, migration_time::timestamptz AS finished_at,
                       'batch ' || batch AS detail, NULL AS remedy
                  FROM %1$s ORDER BY id DESC LIMIT 1$q$, t.tbl);
        WHEN 'knex_migrations_lock' THEN
            tool_name := 'knex';
            q := format($q$
                SELECT 'locked' AS status, NULL::text AS migration,
                       NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'knex_migrations_lock.is_locked = 1: a migration is running, or one died holding the lock' AS detail,
                       'if no knex migration is running: npx knex migrate:unlock' AS remedy
                  FROM %1$s WHERE is_locked <> 0$q$, t.tbl);
        WHEN 'django_migrations' THEN
            tool_name := 'django';
            q := format($q$
                SELECT 'last_applied' AS status, app || '.' || name AS migration,
                       NULL::timestamptz AS started_at, applied::timestamptz AS finished_at,
                       (SELECT count(*) FROM %1$s) || ' migration(s) recorded' AS detail, NULL AS remedy
                  FROM %1$s ORDER BY applied DESC, id DESC LIMIT 1$q$, t.tbl);
        WHEN 'databasechangelog' THEN
            tool_name := 'liquibase';
            q := format($q$
                SELECT 'failed' AS status, id || ' (' || author || ', ' || filename || ')' AS migration,
                       dateexecuted::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'exectype FAILED' AS detail,
                       'fix the changeset, then run liquibase update again' AS remedy
                  FROM %1$s WHERE exectype = 'FAILED'
                UNION ALL
                (SELECT 'last_applied', id || ' (' || author || ', ' || filename || ')', NULL, dateexecuted::timestamptz,
                        'exectype ' || exectype, NULL
                   FROM %1$s WHERE exectype <> 'FAILED' ORDER BY orderexecuted DESC, dateexecuted DESC LIMIT 1)$q$, t.tbl);
        WHEN 'databasechangeloglock' THEN
            tool_name := 'liquibase';
            q := format($q$
                SELECT 'locked' AS status, NULL::text AS migration,
                       lockgranted::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'change log lock held by ' || coalesce(lockedby, '?') || ': an update is running, or one died holding it' AS detail,
                       'if no liquibase runs: liquibase releaseLocks' AS remedy
                  FROM %1$s WHERE locked$q$, t.tbl);
        WHEN '_sqlx_migrations' THEN
            tool_name := 'sqlx';
            q := format($q$
                SELECT 'failed' AS status, version || ' ' || description AS migration,
                       installed_on::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'success = false: the migration did not complete (sqlx calls this dirty)' AS detail,
                       'repair the schema, then delete this row and run sqlx migrate run again' AS remedy
                  FROM %1$s WHERE NOT success
                UNION ALL
                (SELECT 'last_applied', version || ' ' || description, NULL, installed_on::timestamptz,
                        execution_time / 1000000 || ' ms', NULL
                   FROM %1$s WHERE success ORDER BY version DESC LIMIT 1)$q$, t.tbl);
        WHEN 'goose_db_version' THEN
            tool_name := 'goose';
            q := format($q$
                SELECT 'last_applied' AS status, version_id::text AS migration,
                       NULL::timestamptz AS started_at, tstamp::timestamptz AS finished_at,
                       CASE WHEN is_applied THEN 'applied' ELSE 'rolled back' END AS detail, NULL AS remedy
                  FROM %1$s ORDER BY id DESC LIMIT 1$q$, t.tbl);
        END CASE;

        IF NOT has_table_privilege(t.tbl, 'SELECT') THEN
            acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'skipped',
                                             'detail', 'no SELECT privilege on ' || t.tbl);
            CONTINUE;
        END IF;
        BEGIN
            probe := @extschema@._bounded_query(q, ARRAY[t.tbl], timeout_ms);
        EXCEPTION WHEN undefined_column OR undefined_function OR datatype_mismatch
                       OR invalid_text_representation OR undefined_table THEN
            SELECT NULL::jsonb AS result,
                   'skipped: not the layout ' || tool_name || ' uses (' || SQLERRM || ')' AS outcome
              INTO probe;
        END;
        IF probe.result IS NULL THEN
            acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'skipped',
                                             'detail', probe.outcome);
        ELSIF jsonb_array_length(probe.result) = 0 THEN
            IF t.relname NOT IN ('knex_migrations_lock', 'databasechangeloglock') THEN
                acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'empty',
                                                 'detail', 'no migration applied yet');
            END IF;
        ELSE
            acc := acc || (SELECT jsonb_agg(e || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text))
                             FROM jsonb_array_elements(probe.result) e);
        END IF;
    END LOOP;

    -- prisma migrate holds advisory lock 72707369 while it runs
    IF prisma_locked AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = '_prisma_migrations' AND c.relkind IN ('r', 'p')) THEN
        FOR holder IN
            SELECT l.pid, a.application_name, a.xact_start, a.state
              FROM pg_locks l LEFT JOIN @extschema@.sessions a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 72707369
               AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        LOOP
            acc := acc || jsonb_build_object('tool', 'prisma', 'status', 'locked',
                'detail', format('prisma migrate lock (advisory 72707369) held by pid %s (%s, %s)',
                                 holder.pid, coalesce(holder.application_name, '?'), coalesce(holder.state, '?')),
                'remedy', 'a migration is running; if that session is stuck: SELECT pg_terminate_backend(' || holder.pid || ')');
        END LOOP;
    END IF;

    RETURN QUERY
        SELECT x.tool, x.tbl::regclass, x.status, x.migration, x.started_at, x.finished_at, x.detail, x.remedy
          FROM jsonb_to_recordset(acc) AS x(tool text, tbl text, status text, migration text,
                                             started_at timestamptz, finished_at timestamptz,
                                             detail text, remedy text)
         ORDER BY array_position(ARRAY['failed', 'dirty', 'partial', 'locked', 'skipped', 'empty', 'last_applied'], x.status),
                  x.tool, x.tbl, x.started_at NULLS LAST, x.migration;
END
$fn$;

-- _bloat_remedy(): the pg_repack command line quotes the table name for the shell
CREATE OR REPLACE FUNCTION @extschema@._bloat_remedy(kind text, relation regclass, table_name regclass,
    bloat_bytes bigint, bloat_pct numeric, dead_tuple_pct numeric, reason text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE
    WHEN reason ~ 'run ANALYZE' THEN format('ANALYZE %s', coalesce(table_name, relation))
    WHEN reason LIKE 'skipped: locked%' THEN 'retry later; see runbook.blocking_locks()'
    WHEN bloat_bytes IS NULL THEN NULL
    WHEN kind = 'table' AND dead_tuple_pct >= 20 THEN format('VACUUM (VERBOSE, ANALYZE) %s', relation)
    WHEN kind = 'table' AND bloat_pct >= 30 AND bloat_bytes >= 8 * 1024 * 1024 THEN
        format('rebuild online: pg_repack --table=%s (or VACUUM FULL %s, which holds AccessExclusiveLock for the whole rewrite)',
               @extschema@._shell_quote(relation::text), relation)
    WHEN kind = 'index' AND bloat_pct >= 30 AND bloat_bytes >= 8 * 1024 * 1024 THEN
        format('REINDEX INDEX CONCURRENTLY %s', relation)
    ELSE 'none'
END
$$;
-- ---------------------------------------------------------------------
-- 1.1: the audit and the remedies (issues 11, 12, 13).
-- - runbook.actions and recent_actions() record session_user
--   (session_role) beside current_user (acting_role); pause_worker() and
--   resume_worker() are actions of the audit (action pause / resume).
-- - runbook.audit_status(): the ring, what has not reached the table yet,
--   what was spilled to the log, the audit writer and its last error.
-- - runbook.cancel(pid, reason) and runbook.terminate(pid, reason): one
--   session through the audited remedy path.
-- - kill_idle(), cancel_long(), terminate_blockers() take max_actions
--   (NULL = pg_runbook.max_actions_per_cycle; at most
--   pg_runbook.max_actions_per_call_limit, which only a superuser raises).
-- - runbook.policies and runbook.alert_thresholds record who changed a row
--   and when (updated_by, updated_at).
-- ---------------------------------------------------------------------

-- ---- runbook.actions: session_role, control actions (rows are kept)
ALTER TABLE @extschema@.actions ADD COLUMN session_role name;
COMMENT ON COLUMN @extschema@.actions.session_role IS
'session_user of the call (the login); acting_role is current_user (after SET ROLE or inside a SECURITY DEFINER function)';
ALTER TABLE @extschema@.actions DROP CONSTRAINT actions_action_check;
ALTER TABLE @extschema@.actions ADD CONSTRAINT actions_action_check
    CHECK (action IN ('cancel', 'terminate', 'pause', 'resume'));
ALTER TABLE @extschema@.actions DROP CONSTRAINT actions_outcome_check;
ALTER TABLE @extschema@.actions ADD CONSTRAINT actions_outcome_check
    CHECK (outcome IN ('terminated', 'cancelled', 'skipped', 'paused', 'resumed'));

DROP FUNCTION @extschema@.recent_actions();
CREATE FUNCTION @extschema@.recent_actions(
    OUT seq bigint,
    OUT acted_at timestamptz,
    OUT actor text,
    OUT acting_role name,
    OUT pid integer,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT state text,
    OUT state_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT action text,
    OUT outcome text,
    OUT reason text,
    OUT detail text,
    OUT query text,
    OUT in_table boolean,
    OUT backend_start timestamptz,
    OUT session_role name)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_recent_actions';

COMMENT ON FUNCTION @extschema@.recent_actions() IS
'the shared-memory audit ring, oldest first: every action and skip of real remediation runs, and every pause / resume of the worker, since the server started (pg_runbook.audit_ring_size entries; also on standbys; not undone by rollback)';

CREATE FUNCTION @extschema@.audit_status(
    OUT ring_size integer,
    OUT entries integer,
    OUT pending integer,
    OUT signalling integer,
    OUT spilled bigint,
    OUT copied bigint,
    OUT writer_running boolean,
    OUT writer_starting boolean,
    OUT writer_pid integer,
    OUT writer_failures bigint,
    OUT last_copy_at timestamptz,
    OUT last_error text,
    OUT last_error_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_audit_status';

COMMENT ON FUNCTION @extschema@.audit_status() IS
'the audit ring: size, entries held, entries not yet in runbook.actions (pending), entries being signalled, entries spilled to the log because the ring was full, entries copied, and the audit writer (running, starting, failures, last error)';

REVOKE ALL ON FUNCTION @extschema@.recent_actions(), @extschema@.audit_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.recent_actions(), @extschema@.audit_status() TO pg_monitor;

-- ---- the result row of every remedy: one row per session considered, with
-- what was done to it (outcome) or why it was skipped (reason).  One type
-- for cancel(), terminate(), kill_idle(), cancel_long() and
-- terminate_blockers() (the C functions build it: remedy_sql.c,
-- blockers_sql.c); the columns and their order are those of 1.0's OUT lists.
CREATE TYPE @extschema@.remedy_result AS (
    pid integer,
    usename name,
    datname name,
    application_name text,
    client_addr inet,
    backend_type text,
    state text,
    state_age interval,
    xact_age interval,
    query_age interval,
    action text,
    outcome text,
    reason text,
    detail text,
    query text);

COMMENT ON TYPE @extschema@.remedy_result IS
'a row of a remedy (cancel, terminate, kill_idle, cancel_long, terminate_blockers): the session as it was re-checked, the action, its outcome or the reason it was skipped';

-- ---- per-session remedies
CREATE FUNCTION @extschema@.cancel(
    pid integer,
    reason text DEFAULT NULL)
RETURNS SETOF @extschema@.remedy_result
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_cancel_pid';

COMMENT ON FUNCTION @extschema@.cancel(integer, text) IS
'cancel the running statement of one session (pg_cancel_backend with every safety rule, the re-check and the audit; the reason goes into the audit)';

CREATE FUNCTION @extschema@.terminate(
    pid integer,
    reason text DEFAULT NULL)
RETURNS SETOF @extschema@.remedy_result
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_terminate_pid';

COMMENT ON FUNCTION @extschema@.terminate(integer, text) IS
'end one session (pg_terminate_backend with every safety rule, the re-check and the audit; the reason goes into the audit)';

REVOKE ALL ON FUNCTION @extschema@.cancel(integer, text), @extschema@.terminate(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.cancel(integer, text), @extschema@.terminate(integer, text) TO pg_signal_backend;

-- ---- max_actions: a new last parameter with a default (calls with the
-- 1.0 arguments still work); DROP + CREATE, so the grants again
DROP FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean);
CREATE FUNCTION @extschema@.kill_idle(
    max_idle interval,
    dry_run boolean DEFAULT false,
    states text[] DEFAULT '{idle}',
    role_name name DEFAULT NULL,
    database_name name DEFAULT NULL,
    application_pattern text DEFAULT NULL,
    client_network text DEFAULT NULL,
    allow_superuser boolean DEFAULT false,
    max_actions integer DEFAULT NULL)
RETURNS SETOF @extschema@.remedy_result
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_kill_idle';

COMMENT ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean, integer) IS
'terminate sessions idle (or, per states, idle in transaction / aborted) for at least max_idle, oldest first, at most max_actions of them (default pg_runbook.max_actions_per_cycle); one row per session considered with the outcome or the reason it was skipped';

DROP FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean);
CREATE FUNCTION @extschema@.cancel_long(
    max_runtime interval,
    dry_run boolean DEFAULT false,
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
'cancel statements running for at least max_runtime, longest first, at most max_actions of them; with terminate_after, terminate the sessions whose same statement still runs that long after the cancel';

DROP FUNCTION @extschema@.terminate_blockers(interval, boolean, boolean);
CREATE FUNCTION @extschema@.terminate_blockers(
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

REVOKE ALL ON FUNCTION
    @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean, integer),
    @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean, integer),
    @extschema@.terminate_blockers(interval, boolean, boolean, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean, integer),
    @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean, integer),
    @extschema@.terminate_blockers(interval, boolean, boolean, integer)
    TO pg_signal_backend;

-- ---- who changed a policy or a threshold, and when.  updated_by is
-- session_user (the login, also after SET ROLE).  A row restored by
-- pg_restore is stamped by the restoring session (the configuration
-- tables keep their pg_dump filters: every policy, the user_set
-- thresholds).  Deleting a row leaves a LOG line.
ALTER TABLE @extschema@.policies ADD COLUMN updated_by name;
ALTER TABLE @extschema@.alert_thresholds ADD COLUMN updated_at timestamptz;
ALTER TABLE @extschema@.alert_thresholds ADD COLUMN updated_by name;
COMMENT ON COLUMN @extschema@.policies.updated_by IS
'session_user of the last INSERT or UPDATE of this row (updated_at is its time)';
COMMENT ON COLUMN @extschema@.alert_thresholds.updated_by IS
'session_user of the last change of this row; NULL for a shipped default never changed';
COMMENT ON COLUMN @extschema@.alert_thresholds.updated_at IS
'time of the last change of this row; NULL for a shipped default never changed';

CREATE FUNCTION @extschema@._config_stamp() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE LOG 'pg_runbook: row % deleted from %.% by session_user % (current_user %)',
                  pg_catalog.quote_literal(OLD.name), TG_TABLE_SCHEMA, TG_TABLE_NAME,
                  pg_catalog.quote_ident(session_user), pg_catalog.quote_ident(current_user);
        RETURN OLD;
    END IF;
    NEW.updated_by := session_user;
    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$fn$;

REVOKE ALL ON FUNCTION @extschema@._config_stamp() FROM PUBLIC;

CREATE TRIGGER policies_stamp
    BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.policies
    FOR EACH ROW EXECUTE FUNCTION @extschema@._config_stamp();
CREATE TRIGGER alert_thresholds_stamp
    BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.alert_thresholds
    FOR EACH ROW EXECUTE FUNCTION @extschema@._config_stamp();
-- ---------------------------------------------------------------------
-- Worker (1.1): policies that act on harm (connection saturation,
-- connection age, application exclusions), the starter policies, and
-- worker_status().last_success_at.
-- ---------------------------------------------------------------------

ALTER TABLE @extschema@.policies
    ADD COLUMN min_connections_pct numeric,
    ADD COLUMN target_connections_pct numeric,
    ADD COLUMN min_backend_age interval,
    ADD COLUMN exclude_application_pattern text,
    ADD CONSTRAINT policies_connections_check
        CHECK (min_connections_pct > 0 AND min_connections_pct <= 100
               AND target_connections_pct >= 0 AND target_connections_pct <= min_connections_pct),
    ADD CONSTRAINT policies_target_check
        CHECK (target_connections_pct IS NULL OR min_connections_pct IS NOT NULL),
    ADD CONSTRAINT policies_backend_age_check
        CHECK (coalesce(min_backend_age, '0') >= '0');

COMMENT ON COLUMN @extschema@.policies.min_connections_pct IS
'act only while client connections are at or above this percent of the usable slots (max_connections less the reserved ones)';
COMMENT ON COLUMN @extschema@.policies.target_connections_pct IS
'end only as many sessions as bring client connections down to this percent, oldest state first (default: min_connections_pct)';
COMMENT ON COLUMN @extschema@.policies.min_backend_age IS
'connection age (backend_start) threshold';
COMMENT ON COLUMN @extschema@.policies.exclude_application_pattern IS
'sessions whose application_name is LIKE this pattern are not matched';

-- The starter policies: the runbooks' rules, installed disabled.  Their
-- definitions live here, in one place: the install below, the restore of a
-- dump and enable_starter_policies() read them.
CREATE FUNCTION @extschema@._starter_policies() RETURNS SETOF @extschema@.policies
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
    SELECT p.*
      FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.policies, $j$[
      {"name": "starter_lock_queue_root", "priority": 1000, "enabled": false,
       "states": ["idle in transaction", "idle in transaction (aborted)"],
       "min_state_age": "0", "only_if_blocking": true, "min_blocked_sessions": 5,
       "min_blocked_wait": "30 s", "action": "terminate", "grace": "30 s",
       "allow_superuser": false, "dry_run": false,
       "comment": "starter: an idle-in-transaction session that blocks 5 or more others for 30 s or more is terminated"},
      {"name": "starter_idle_in_transaction", "priority": 1010, "enabled": false,
       "states": ["idle in transaction", "idle in transaction (aborted)"],
       "min_state_age": "5 min", "only_if_blocking": false, "min_blocked_sessions": 1,
       "min_blocked_wait": "0", "action": "terminate", "grace": "30 s",
       "allow_superuser": false, "dry_run": false,
       "comment": "starter: idle in transaction for more than 5 min is terminated"},
      {"name": "starter_idle_saturation", "priority": 1020, "enabled": false,
       "states": ["idle"], "min_state_age": "1 hour",
       "min_connections_pct": 90, "target_connections_pct": 80,
       "only_if_blocking": false, "min_blocked_sessions": 1,
       "min_blocked_wait": "0", "action": "terminate", "grace": "30 s",
       "allow_superuser": false, "dry_run": false,
       "comment": "starter: while connections are at 90 % of the usable slots or more, sessions idle for more than 1 hour are terminated, oldest first, down to 80 %"},
      {"name": "starter_long_active", "priority": 1030, "enabled": false,
       "states": ["active"], "min_query_age": "5 min",
       "exclude_application_pattern": "pg\\_dump%",
       "only_if_blocking": false, "min_blocked_sessions": 1,
       "min_blocked_wait": "0", "action": "cancel_then_terminate", "grace": "30 s",
       "allow_superuser": false, "dry_run": false,
       "comment": "starter: a statement of an application role (not a superuser, not pg_dump) active for more than 5 min is cancelled, then terminated 30 s later if still running"}
      ]$j$::jsonb) AS p
$fn$;

-- Is this row a starter policy exactly as installed (not changed by the
-- DBA)?  pg_dump leaves those out: CREATE EXTENSION installs them again.
CREATE FUNCTION @extschema@._policy_is_starter_default(p @extschema@.policies) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
    SELECT EXISTS (
        SELECT 1 FROM @extschema@._starter_policies() s
         WHERE s.name = p.name
           AND (s.priority, s.enabled, s.role_name, s.database_name, s.application_pattern,
                s.client_network, s.states, s.active_from, s.active_until, s.min_state_age,
                s.min_xact_age, s.min_query_age, s.only_if_blocking, s.min_blocked_sessions,
                s.min_blocked_wait, s.min_xmin_age, s.action, s.grace, s.allow_superuser,
                s.dry_run, s.comment, s.min_connections_pct, s.target_connections_pct,
                s.min_backend_age, s.exclude_application_pattern)
               IS NOT DISTINCT FROM
               (p.priority, p.enabled, p.role_name, p.database_name, p.application_pattern,
                p.client_network, p.states, p.active_from, p.active_until, p.min_state_age,
                p.min_xact_age, p.min_query_age, p.only_if_blocking, p.min_blocked_sessions,
                p.min_blocked_wait, p.min_xmin_age, p.action, p.grace, p.allow_superuser,
                p.dry_run, p.comment, p.min_connections_pct, p.target_connections_pct,
                p.min_backend_age, p.exclude_application_pattern))
$fn$;

CREATE OR REPLACE FUNCTION @extschema@._policies_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    valid_states constant text[] := ARRAY['idle', 'idle in transaction',
                                          'idle in transaction (aborted)', 'active'];
    bad text;
    pat text;
    missing record;
BEGIN
    -- restoring a dump: a changed starter policy replaces the one that
    -- CREATE EXTENSION installed as it ships
    IF TG_OP = 'INSERT' AND NEW.name LIKE 'starter\_%' THEN
        DELETE FROM @extschema@.policies p
         WHERE p.name = NEW.name AND @extschema@._policy_is_starter_default(p);
    END IF;
    IF NEW.action IS NULL OR NEW.action NOT IN ('ignore', 'log', 'cancel', 'terminate', 'cancel_then_terminate') THEN
        RAISE EXCEPTION 'unknown action % in policy "%"', coalesce(quote_literal(NEW.action), 'NULL'), NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid actions: ignore, log, cancel, terminate, cancel_then_terminate.';
    END IF;
    IF NEW.states IS NULL OR cardinality(NEW.states) = 0 THEN
        RAISE EXCEPTION 'policy "%" matches no state', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid states: idle, idle in transaction, idle in transaction (aborted), active.';
    END IF;
    SELECT s INTO bad FROM unnest(NEW.states) s WHERE s IS NULL OR s <> ALL (valid_states) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown state % in policy "%"', coalesce(quote_literal(bad), 'NULL'), NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid states: idle, idle in transaction, idle in transaction (aborted), active.';
    END IF;
    IF NEW.min_state_age < '0' OR NEW.min_xact_age < '0' OR NEW.min_query_age < '0'
       OR NEW.min_blocked_wait < '0' OR NEW.grace < '0' OR NEW.min_backend_age < '0' THEN
        RAISE EXCEPTION 'policy "%" has a negative interval', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Thresholds and the grace period are durations such as ''30 s'' or ''10 min''.';
    END IF;
    IF NEW.min_blocked_sessions < 1 OR NEW.min_xmin_age < 0 THEN
        RAISE EXCEPTION 'policy "%": min_blocked_sessions must be at least 1 and min_xmin_age not negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.min_connections_pct IS NOT NULL AND
       (NEW.min_connections_pct <= 0 OR NEW.min_connections_pct > 100) THEN
        RAISE EXCEPTION 'policy "%": min_connections_pct must be above 0 and at most 100', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It is a percent of the usable connection slots, e.g. 90.';
    END IF;
    IF NEW.target_connections_pct IS NOT NULL AND NEW.min_connections_pct IS NULL THEN
        RAISE EXCEPTION 'policy "%" sets target_connections_pct without min_connections_pct', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The target is the low-water mark of a saturation policy: set min_connections_pct (the high-water mark) too.';
    END IF;
    IF NEW.target_connections_pct < 0 OR NEW.target_connections_pct > NEW.min_connections_pct THEN
        RAISE EXCEPTION 'policy "%": target_connections_pct must be between 0 and min_connections_pct', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'E.g. min_connections_pct = 90, target_connections_pct = 80.';
    END IF;
    IF (NEW.active_from IS NULL) <> (NEW.active_until IS NULL) THEN
        RAISE EXCEPTION 'policy "%" sets only one end of its time window', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set both active_from and active_until (a window may span midnight), or neither.';
    END IF;
    -- the role and the database a policy names must exist
    FOR missing IN
        SELECT * FROM (VALUES
            ('role', NEW.role_name, 'undefined_object',
             'Create the role first, or leave role_name NULL to match any role.',
             EXISTS (SELECT 1 FROM pg_roles WHERE rolname = NEW.role_name)),
            ('database', NEW.database_name, 'invalid_catalog_name',
             'Leave database_name NULL to match any database.',
             EXISTS (SELECT 1 FROM pg_database WHERE datname = NEW.database_name))) AS v(kind, name, code, hint, found)
         WHERE v.name IS NOT NULL AND NOT v.found
    LOOP
        RAISE EXCEPTION '% "%" of policy "%" does not exist', missing.kind, missing.name, NEW.name
            USING ERRCODE = missing.code, HINT = missing.hint;
    END LOOP;
    FOREACH pat IN ARRAY ARRAY[NEW.application_pattern, NEW.exclude_application_pattern] LOOP
        CONTINUE WHEN pat IS NULL;
        BEGIN
            -- matching the pattern against itself walks all of it
            PERFORM pat LIKE pat;
        EXCEPTION WHEN invalid_escape_sequence OR invalid_parameter_value THEN
            RAISE EXCEPTION '% % of policy "%" is not a valid LIKE pattern',
                            CASE WHEN pat IS NOT DISTINCT FROM NEW.application_pattern
                                 THEN 'application_pattern' ELSE 'exclude_application_pattern' END,
                            quote_literal(pat), NEW.name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use LIKE syntax: % for any string, _ for one character, \ to escape.';
        END;
    END LOOP;
    IF NEW.only_if_blocking IS FALSE AND
       (NEW.min_blocked_sessions <> 1 OR NEW.min_blocked_wait <> '0') THEN
        RAISE EXCEPTION 'policy "%" sets min_blocked_sessions or min_blocked_wait without only_if_blocking',
                        NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set only_if_blocking = true, or leave the blocking thresholds at their defaults.';
    END IF;
    IF NEW.action IN ('cancel', 'terminate', 'cancel_then_terminate', 'log')
       AND NEW.min_state_age IS NULL AND NEW.min_xact_age IS NULL
       AND NEW.min_query_age IS NULL AND NOT NEW.only_if_blocking
       AND NEW.min_xmin_age IS NULL AND NEW.min_backend_age IS NULL
       AND NEW.min_connections_pct IS NULL THEN
        RAISE EXCEPTION 'policy "%" has no threshold: it would act on every matching session at once', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set min_state_age, min_xact_age, min_query_age, min_backend_age, min_xmin_age, min_connections_pct or only_if_blocking (use ''0'' if you really mean immediately).';
    END IF;
    IF NEW.action = 'cancel_then_terminate' AND 'active' <> ALL (NEW.states)
       AND 'idle in transaction' <> ALL (NEW.states)
       AND 'idle in transaction (aborted)' <> ALL (NEW.states) THEN
        RAISE EXCEPTION 'policy "%": cancel_then_terminate needs a state where there is something to cancel', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use terminate for idle sessions.';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$fn$;

INSERT INTO @extschema@.policies SELECT * FROM @extschema@._starter_policies()
    ON CONFLICT (name) DO NOTHING;

-- pg_dump keeps the DBA's policies, and the starter policies the DBA changed
-- (enabled, tuned); the ones still as shipped come back with CREATE EXTENSION
SELECT pg_catalog.pg_extension_config_dump('@extschema@.policies',
    'WHERE NOT @extschema@._policy_is_starter_default(policies)');

CREATE FUNCTION @extschema@.enable_starter_policies(
    OUT policy text, OUT action text, OUT installed boolean)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    s @extschema@.policies;
BEGIN
    FOR s IN SELECT * FROM @extschema@._starter_policies() ORDER BY priority, name LOOP
        s.enabled := true;
        UPDATE @extschema@.policies p SET enabled = true WHERE p.name = s.name;
        installed := NOT FOUND;
        IF installed THEN
            INSERT INTO @extschema@.policies SELECT s.*;
        END IF;
        SELECT p.name, p.action INTO policy, action FROM @extschema@.policies p WHERE p.name = s.name;
        RETURN NEXT;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@.enable_starter_policies() IS
'enable the runbooks'' starter policies (starter_*), installing any that were deleted; thresholds the DBA changed are kept';

REVOKE ALL ON FUNCTION @extschema@.enable_starter_policies(),
    @extschema@._starter_policies(),
    @extschema@._policy_is_starter_default(@extschema@.policies) FROM PUBLIC;

-- worker_status(): the last successful cycle beside the last error
DROP FUNCTION @extschema@.worker_status();
CREATE FUNCTION @extschema@.worker_status(
    OUT running boolean,
    OUT paused boolean,
    OUT pid integer,
    OUT database name,
    OUT enforce text,
    OUT started_at timestamptz,
    OUT cycles bigint,
    OUT actions bigint,
    OUT last_cycle_at timestamptz,
    OUT last_cycle_ms float8,
    OUT avg_cycle_ms float8,
    OUT max_cycle_ms float8,
    OUT next_wakeup timestamptz,
    OUT policies integer,
    OUT last_error text,
    OUT last_error_at timestamptz,
    OUT last_success_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_worker_status';

COMMENT ON FUNCTION @extschema@.worker_status() IS
'the policy worker: running, paused, cycles, cost, the last error and the last successful cycle (an error older than last_success_at is over)';

REVOKE ALL ON FUNCTION @extschema@.worker_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.worker_status() TO pg_monitor;
-- ---------------------------------------------------------------------
-- Locks and maintenance (1.1): the lock-group rule and non-blocking size
-- reads are in C; only the descriptions change here.
-- ---------------------------------------------------------------------
COMMENT ON FUNCTION @extschema@.blocking_locks() IS
'one row per backend waiting on a heavyweight lock, and one for the leader of a parallel query whose workers wait: direct blockers (as pg_blocking_pids, each once), root blocker, depth, requested and conflicting modes, wait-for cycles';

COMMENT ON FUNCTION @extschema@.relation_size_nowait(regclass, text) IS
'pg_relation_size() that returns NULL instead of queueing behind DDL (the relation is locked conditionally); fork main, fsm, vm, init, or all (every fork summed)';
-- ---------------------------------------------------------------------
-- The flight recorder (issue 14): what the server looked like at 03:02.
-- The "pg_runbook sampler" worker samples the server every
-- pg_runbook.sample_interval into a shared-memory ring
-- (pg_runbook.history_size samples) and records threshold crossings as
-- events; these functions read them.  A restart empties both rings;
-- archive_history() keeps a copy in tables when wanted.  What is built on
-- the history: 52_alerts.sql (durations of the alerts), 54_incident_report.sql.
-- Read-only things go to pg_monitor; archive_history() writes (owner only).
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.history(
    since timestamptz,
    until timestamptz DEFAULT now(),
    OUT sampled_at timestamptz,
    OUT connections integer,
    OUT active integer,
    OUT idle integer,
    OUT idle_in_transaction integer,
    OUT idle_in_transaction_aborted integer,
    OUT other integer,
    OUT connections_pct float8,
    OUT backends integer,
    OUT active_waiting integer,
    OUT lock_waiters integer,
    OUT lock_roots integer,
    OUT root_blocker integer,
    OUT root_blocked integer,
    OUT longest_lock_wait interval,
    OUT oldest_xact_age interval,
    OUT oldest_idle_xact_age interval,
    OUT oldest_query_age interval,
    OUT oldest_xmin_age bigint,
    OUT long_running integer,
    OUT wait_events jsonb,
    OUT worker_actions bigint,
    OUT tps float8,
    OUT commits_per_s float8,
    OUT rollbacks_per_s float8,
    OUT deadlocks_per_s float8,
    OUT temp_bytes_per_s float8,
    OUT cache_hit_pct float8,
    OUT xact_commit bigint,
    OUT xact_rollback bigint,
    OUT deadlocks bigint,
    OUT temp_files bigint,
    OUT temp_bytes bigint,
    OUT blks_read bigint,
    OUT blks_hit bigint,
    OUT worker_actions_total bigint,
    OUT interval_s float8,
    OUT sample_ms float8)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_history';

COMMENT ON FUNCTION @extschema@.history(timestamptz, timestamptz) IS
'the flight recorder: one row per sample taken between since and until (connections by state, lock waiters and root blocker, ages, where active sessions wait, pg_stat_database counters and their rates per second); kept in shared memory, emptied by a restart';
REVOKE ALL ON FUNCTION @extschema@.history(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.history(timestamptz, timestamptz) TO pg_monitor;

CREATE FUNCTION @extschema@.events(
    since timestamptz,
    until timestamptz DEFAULT now(),
    OUT seq bigint,
    OUT at timestamptz,
    OUT kind text,
    OUT pid integer,
    OUT pids integer[],
    OUT value float8,
    OUT threshold float8,
    OUT detail text,
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_events';

COMMENT ON FUNCTION @extschema@.events(timestamptz, timestamptz) IS
'moments a threshold was crossed (connections_high/normal, lock_queue_formed/grew/cleared, lock_wait_long, long_query, idle_in_transaction, long_transaction, deadlock), with the pids and the query involved; oldest first';
REVOKE ALL ON FUNCTION @extschema@.events(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.events(timestamptz, timestamptz) TO pg_monitor;

CREATE FUNCTION @extschema@._wait_samples(
    since timestamptz,
    until timestamptz,
    OUT kind text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT queryid bigint,
    OUT query text,
    OUT samples bigint,
    OUT seconds float8,
    OUT pct float8,
    OUT avg_active float8)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_wait_samples';

COMMENT ON FUNCTION @extschema@._wait_samples(timestamptz, timestamptz) IS
'internal: the rows of wait_profile(), unordered';
REVOKE ALL ON FUNCTION @extschema@._wait_samples(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._wait_samples(timestamptz, timestamptz) TO pg_monitor;

CREATE FUNCTION @extschema@.wait_profile(
    since timestamptz,
    until timestamptz DEFAULT now(),
    OUT kind text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT queryid bigint,
    OUT query text,
    OUT samples bigint,
    OUT seconds numeric,
    OUT pct numeric,
    OUT avg_active numeric)
RETURNS SETOF record
LANGUAGE sql VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.kind, w.wait_event_type, w.wait_event, w.queryid, w.query, w.samples,
           round(w.seconds::numeric, 1), round(w.pct::numeric, 1), round(w.avg_active::numeric, 2)
      FROM @extschema@._wait_samples(since, until) w
     ORDER BY w.kind DESC, w.seconds DESC, w.wait_event_type, w.wait_event, w.query
$$;

COMMENT ON FUNCTION @extschema@.wait_profile(timestamptz, timestamptz) IS
'where the active sessions'' time went between since and until: session-seconds by wait event (kind wait_event; CPU:running = not waiting), then by wait event and statement (kind query), with the share of active time and the average number of active sessions';
REVOKE ALL ON FUNCTION @extschema@.wait_profile(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.wait_profile(timestamptz, timestamptz) TO pg_monitor;

CREATE FUNCTION @extschema@.history_status(
    OUT running boolean,
    OUT pid integer,
    OUT sample_interval_ms integer,
    OUT history_size integer,
    OUT samples_kept integer,
    OUT samples_taken bigint,
    OUT oldest_sample timestamptz,
    OUT newest_sample timestamptz,
    OUT last_sample_ms float8,
    OUT avg_sample_ms float8,
    OUT max_sample_ms float8,
    OUT events_size integer,
    OUT events_kept integer,
    OUT events_recorded bigint,
    OUT memory_bytes bigint,
    OUT bytes_per_sample integer,
    OUT last_error text,
    OUT last_error_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_history_status';

COMMENT ON FUNCTION @extschema@.history_status() IS
'the pg_runbook sampler: running, interval, ring sizes and fill, the time each sample took, shared memory used';
REVOKE ALL ON FUNCTION @extschema@.history_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.history_status() TO pg_monitor;

-- ---------------------------------------------------------------------
-- An optional persisted copy: archive_history() appends what the rings
-- hold since its last call.  Nothing calls it by itself (schedule it, e.g.
-- with pg_cron, if the history must outlive a restart).
-- ---------------------------------------------------------------------
CREATE TABLE @extschema@.history_archive (
    sampled_at                  timestamptz PRIMARY KEY,
    connections                 integer,
    active                      integer,
    idle                        integer,
    idle_in_transaction         integer,
    idle_in_transaction_aborted integer,
    other                       integer,
    connections_pct             float8,
    backends                    integer,
    active_waiting              integer,
    lock_waiters                integer,
    lock_roots                  integer,
    root_blocker                integer,
    root_blocked                integer,
    longest_lock_wait           interval,
    oldest_xact_age             interval,
    oldest_idle_xact_age        interval,
    oldest_query_age            interval,
    oldest_xmin_age             bigint,
    long_running                integer,
    wait_events                 jsonb,
    worker_actions              bigint,
    tps                         float8,
    commits_per_s               float8,
    rollbacks_per_s             float8,
    deadlocks_per_s             float8,
    temp_bytes_per_s            float8,
    cache_hit_pct               float8,
    xact_commit                 bigint,
    xact_rollback               bigint,
    deadlocks                   bigint,
    temp_files                  bigint,
    temp_bytes                  bigint,
    blks_read                   bigint,
    blks_hit                    bigint,
    worker_actions_total        bigint,
    interval_s                  float8,
    sample_ms                   float8
);

COMMENT ON TABLE @extschema@.history_archive IS
'optional persisted copy of runbook.history(), appended by runbook.archive_history(); delete old rows as you see fit';
REVOKE ALL ON TABLE @extschema@.history_archive FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.history_archive TO pg_monitor;

CREATE TABLE @extschema@.events_archive (
    at        timestamptz NOT NULL,
    seq       bigint NOT NULL,
    kind      text NOT NULL,
    pid       integer,
    pids      integer[],
    value     float8,
    threshold float8,
    detail    text,
    query     text
);

CREATE INDEX events_archive_at_idx ON @extschema@.events_archive (at);

COMMENT ON TABLE @extschema@.events_archive IS
'optional persisted copy of runbook.events(), appended by runbook.archive_history()';
REVOKE ALL ON TABLE @extschema@.events_archive FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.events_archive TO pg_monitor;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.history_archive', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.events_archive', '');

CREATE FUNCTION @extschema@.archive_history(OUT samples bigint, OUT events bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    last_sample timestamptz;
    last_event  timestamptz;
BEGIN
    IF pg_catalog.pg_is_in_recovery() THEN
        RAISE EXCEPTION 'runbook.archive_history() cannot write on a standby'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Read runbook.history() on the standby, or archive on the primary.';
    END IF;
    -- one archiver at a time; a concurrent call waits, then sees the rows
    LOCK TABLE @extschema@.history_archive IN SHARE ROW EXCLUSIVE MODE;
    SELECT max(h.sampled_at) INTO last_sample FROM @extschema@.history_archive h;
    SELECT max(e.at) INTO last_event FROM @extschema@.events_archive e;

    INSERT INTO @extschema@.history_archive
    SELECT h.* FROM @extschema@.history(NULL, NULL) h
     WHERE h.sampled_at > coalesce(last_sample, '-infinity');
    GET DIAGNOSTICS samples = ROW_COUNT;

    INSERT INTO @extschema@.events_archive (at, seq, kind, pid, pids, value, threshold, detail, query)
    SELECT e.at, e.seq, e.kind, e.pid, e.pids, e.value, e.threshold, e.detail, e.query
      FROM @extschema@.events(NULL, NULL) e
     WHERE e.at > coalesce(last_event, '-infinity');
    GET DIAGNOSTICS events = ROW_COUNT;
END
$fn$;

COMMENT ON FUNCTION @extschema@.archive_history() IS
'append the samples and events taken since the last call to runbook.history_archive and runbook.events_archive; optional, never called by pg_runbook itself';
REVOKE ALL ON FUNCTION @extschema@.archive_history() FROM PUBLIC;
-- ---------------------------------------------------------------------
-- alert_thresholds: a negative value is refused on UPDATE too (1.0 checked
-- only the INSERT of a restore, so `UPDATE ... SET value = -5` was taken
-- and made every comparison against it true).
-- ---------------------------------------------------------------------
CREATE OR REPLACE FUNCTION @extschema@._alert_thresholds_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NEW.value IS NULL OR NEW.value < 0 THEN
        RAISE EXCEPTION 'threshold % must be a non-negative number', NEW.name
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Thresholds are counts, percents, seconds, bytes or milliseconds: 0 or more.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.value IS DISTINCT FROM OLD.value OR NEW.unit IS DISTINCT FROM OLD.unit
           OR NEW.description IS DISTINCT FROM OLD.description THEN
            NEW.user_set := true;
        END IF;
        RETURN NEW;
    END IF;
    -- INSERT (a restore): the row CREATE EXTENSION made is updated instead
    UPDATE @extschema@.alert_thresholds t
       SET value = NEW.value, unit = NEW.unit, description = NEW.description, user_set = NEW.user_set
     WHERE t.name = NEW.name;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$fn$;

-- ---------------------------------------------------------------------
-- alerts: durations from the history ("connections >= 80 % for 5 min").
-- firing keeps its meaning (the condition holds now); firing_since is
-- when it began to hold without a break, per the samples of the last
-- hour; sustained = it has held for at least for_duration (the rules'
-- `for:`): 5 min, or the value of an alert_thresholds row named
-- alert_for_seconds if one is added.
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._alert_durations(
    OUT alert text,
    OUT firing_since timestamptz,
    OUT firing_for interval,
    OUT for_duration interval)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    iv     interval;
    fr     interval := make_interval(secs => coalesce(@extschema@._threshold('alert_for_seconds'), 300)::float8);
    t_conn numeric := @extschema@._threshold('connections_sev2_pct');
    t_lock numeric := @extschema@._threshold('lock_wait_seconds');
    t_xact numeric := @extschema@._threshold('long_query_seconds');
    t_idle numeric := @extschema@._threshold('idle_xact_seconds');
    t_xmin numeric := @extschema@._threshold('xmin_age_xids');
BEGIN
    BEGIN
        iv := current_setting('pg_runbook.sample_interval')::interval;
    EXCEPTION WHEN OTHERS THEN
        iv := '0';
    END;
    IF NOT @extschema@._is_preloaded() OR iv <= '0' THEN
        RETURN QUERY SELECT a.alert, NULL::timestamptz, NULL::interval, fr
          FROM unnest(ARRAY['DatabaseHighConnections', 'DatabaseLockWaits', 'DatabaseLongTransaction',
                            'DatabaseIdleInTransaction', 'DatabaseXminHorizon']) AS a(alert);
        RETURN;
    END IF;
    -- one pass over the last hour: per alert, the latest sample and the
    -- latest sample where the condition did not hold; it has held since
    -- the sample after that one
    RETURN QUERY
    WITH h AS (
        SELECT hh.sampled_at,
               coalesce(hh.connections_pct >= t_conn, false) AS c1,
               coalesce(extract(epoch FROM hh.longest_lock_wait) >= t_lock, false) AS c2,
               coalesce(extract(epoch FROM hh.oldest_xact_age) >= t_xact, false) AS c3,
               coalesce(extract(epoch FROM hh.oldest_idle_xact_age) >= t_idle, false) AS c4,
               coalesce(hh.oldest_xmin_age >= t_xmin, false) AS c5
          FROM @extschema@.history(now() - interval '1 hour', now()) hh
    ), s AS (
        SELECT max(h.sampled_at) AS last_at,
               max(h.sampled_at) FILTER (WHERE NOT h.c1) AS f1, max(h.sampled_at) FILTER (WHERE NOT h.c2) AS f2,
               max(h.sampled_at) FILTER (WHERE NOT h.c3) AS f3, max(h.sampled_at) FILTER (WHERE NOT h.c4) AS f4,
               max(h.sampled_at) FILTER (WHERE NOT h.c5) AS f5
          FROM h
    ), f AS (
        SELECT v.alert, s.last_at, v.last_false
          FROM s, LATERAL (VALUES ('DatabaseHighConnections', s.f1), ('DatabaseLockWaits', s.f2),
                                  ('DatabaseLongTransaction', s.f3), ('DatabaseIdleInTransaction', s.f4),
                                  ('DatabaseXminHorizon', s.f5)) AS v(alert, last_false)
    )
    SELECT x.alert, x.since, now() - x.since, fr
      FROM (SELECT f.alert,
                   CASE WHEN f.last_at >= now() - 3 * iv - interval '1 s'
                             AND (f.last_false IS NULL OR f.last_false < f.last_at)
                        THEN (SELECT min(h.sampled_at) FROM h WHERE h.sampled_at > coalesce(f.last_false, '-infinity'))
                   END AS since
              FROM f) x;
END
$fn$;

COMMENT ON FUNCTION @extschema@._alert_durations() IS
'internal: how long each alert condition has held without a break, from the history of the last hour';
REVOKE ALL ON FUNCTION @extschema@._alert_durations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._alert_durations() TO pg_monitor;

DROP VIEW @extschema@.alerts;

CREATE VIEW @extschema@.alerts AS
    SELECT a.alert, a.firing, a.value, a.threshold, a.unit, a.summary,
           CASE WHEN a.firing THEN d.firing_since END AS firing_since,
           CASE WHEN a.firing THEN d.firing_for END AS firing_for,
           d.for_duration,
           coalesce(a.firing AND d.firing_for >= d.for_duration, false) AS sustained
      FROM @extschema@._alert_rows() WITH ORDINALITY AS a(alert, firing, value, threshold, unit, summary, ord)
      LEFT JOIN @extschema@._alert_durations() d ON d.alert = a.alert
     ORDER BY a.ord;

COMMENT ON VIEW @extschema@.alerts IS
'the runbooks'' alerts (DatabaseHighConnections, DatabaseSlowQueries, ...): firing, value, threshold (from alert_thresholds), summary; from the flight recorder, how long the condition has held (firing_since, firing_for) and whether it held for the rules'' for: duration (sustained)';
REVOKE ALL ON TABLE @extschema@.alerts FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.alerts TO pg_monitor;
-- ---------------------------------------------------------------------
-- incident_report(title, since): the live state as before, plus the
-- timeline of the incident from the events, the samples and the audit,
-- detection / resolution times, the recovery method and the errors of
-- the server log (runbook.log_summary(), when this version has it).
-- incident_report(since) is the same without a title.
-- ---------------------------------------------------------------------
DROP FUNCTION @extschema@.incident_report(text);

CREATE FUNCTION @extschema@.incident_report(title text DEFAULT NULL, since timestamptz DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    md        text;
    sev       text;
    findings  jsonb;
    c         record;
    r         record;
    k         integer;
    t0        timestamptz := coalesce(since, now() - interval '1 hour');
    have_hist boolean := false;
    tl        jsonb := '[]';
    detected  timestamptz;
    detected_what text;
    resolved  timestamptz;
    mitigated timestamptz;
    ongoing   boolean := false;
    recovery  text := '';
    h         record;
    ls        regprocedure;
    conn_thr  numeric := @extschema@._threshold('connections_sev2_pct');
BEGIN
    IF t0 > now() THEN
        RAISE EXCEPTION 'incident_report: since must not be in the future'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the start of the incident, e.g. now() - interval ''1 hour''.';
    END IF;

    -- triage() once: its ordered rows give both the severity and the table
    SELECT jsonb_agg(to_jsonb(t) ORDER BY t.n), min(t.severity) INTO findings, sev
      FROM (SELECT row_number() OVER () AS n, * FROM @extschema@.triage()) t;
    SELECT * INTO c FROM @extschema@.connections();

    -- the timeline: events and the audit of the window, oldest first
    IF @extschema@._is_preloaded() THEN
        BEGIN
            SELECT coalesce(jsonb_agg(jsonb_build_object('at', e.at, 'phase', e.phase, 'what', e.what) ORDER BY e.at, e.ord), '[]')
              INTO tl
              FROM (
                SELECT ev.at, ev.seq AS ord,
                       CASE WHEN ev.kind IN ('lock_queue_cleared', 'connections_normal') THEN 'recovery'
                            WHEN ev.kind IN ('lock_queue_grew', 'lock_wait_long') THEN 'growth'
                            ELSE 'detection' END AS phase,
                       ev.kind || ': ' || ev.detail
                         || CASE WHEN cardinality(ev.pids) > 0 THEN ' (waiting: ' || array_to_string(ev.pids, ', ') || ')' ELSE '' END
                         || CASE WHEN ev.query IS NOT NULL THEN ' -- ' || left(ev.query, 100) ELSE '' END AS what
                  FROM @extschema@.events(t0, now()) ev
                UNION ALL
                SELECT a.acted_at, a.seq,
                       'action',
                       format('%s %s pid %s (%s): %s%s', a.actor, a.action, a.pid, coalesce(a.usename::text, '?'), a.outcome,
                              CASE WHEN a.reason IS NOT NULL AND a.reason <> '' THEN ' (' || a.reason || ')' ELSE '' END)
                  FROM @extschema@.recent_actions() a
                 WHERE a.acted_at >= t0
              ) e;
            SELECT min((x->>'at')::timestamptz) FILTER (WHERE x->>'phase' = 'detection'),
                   min((x->>'at')::timestamptz) FILTER (WHERE x->>'phase' = 'action'),
                   max((x->>'at')::timestamptz) FILTER (WHERE x->>'phase' = 'recovery')
              INTO detected, mitigated, resolved
              FROM jsonb_array_elements(tl) x;
            SELECT x->>'what' INTO detected_what FROM jsonb_array_elements(tl) x
             WHERE x->>'phase' = 'detection' ORDER BY (x->>'at')::timestamptz LIMIT 1;
            -- the samples of the period, in one pass: peaks, rates, and
            -- whether the latest sample still shows trouble
            SELECT count(*) AS n, min(hh.sampled_at) AS first_at, max(hh.sampled_at) AS last_at,
                   max(hh.connections_pct) AS max_pct,
                   (array_agg(hh.sampled_at ORDER BY hh.connections_pct DESC NULLS LAST, hh.sampled_at))[1] AS pct_at,
                   (array_agg(hh.connections ORDER BY hh.connections_pct DESC NULLS LAST, hh.sampled_at))[1] AS pct_conn,
                   max(hh.lock_waiters) AS max_waiters,
                   (array_agg(hh.sampled_at ORDER BY hh.lock_waiters DESC, hh.sampled_at))[1] AS waiters_at,
                   (array_agg(hh.root_blocker ORDER BY hh.lock_waiters DESC, hh.sampled_at))[1] AS waiters_root,
                   (array_agg(hh.root_blocked ORDER BY hh.lock_waiters DESC, hh.sampled_at))[1] AS waiters_behind,
                   max(hh.longest_lock_wait) AS max_wait,
                   round(avg(hh.tps)::numeric, 1) AS avg_tps,
                   round(max(hh.tps)::numeric, 1) AS max_tps,
                   round(avg(hh.rollbacks_per_s)::numeric, 2) AS avg_rb,
                   max(hh.deadlocks) - min(hh.deadlocks) AS deadlocks,
                   max(hh.temp_bytes) - min(hh.temp_bytes) AS temp_bytes,
                   (array_agg(hh.lock_waiters > 0 OR hh.connections_pct >= conn_thr
                              ORDER BY hh.sampled_at DESC))[1] AS open_now
              INTO h FROM @extschema@.history(t0, now()) hh;
            ongoing := coalesce(h.open_now, false);
            have_hist := true;
        EXCEPTION WHEN OTHERS THEN
            tl := jsonb_build_array(jsonb_build_object('at', now(), 'phase', 'note',
                                                       'what', 'history unavailable: ' || SQLERRM));
        END;
    END IF;

    md := format(E'# Incident: %s\n\n', coalesce(title, 'database incident on ' || coalesce(inet_server_addr()::text, 'local socket')));
    md := md || format(E'- **Opened:** %s\n- **Server:** %s\n- **Database:** %s\n- **Severity:** %s\n- **Status:** %s\n- **Detected:** %s\n- **Resolved:** %s\n- **Incident commander:** ____\n\n',
                       to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                       'PostgreSQL ' || current_setting('server_version') ||
                           CASE WHEN pg_is_in_recovery() THEN ' (standby)' ELSE ' (primary)' END,
                       current_database(), sev,
                       CASE WHEN resolved IS NOT NULL AND NOT ongoing THEN 'resolved' ELSE 'investigating' END,
                       CASE WHEN detected IS NULL THEN 'no threshold crossed since ' || to_char(t0 AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
                            ELSE to_char(detected AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') || ' by pg_runbook sampler (' || @extschema@._md(split_part(detected_what, ':', 1)) || ')' END,
                       CASE WHEN ongoing THEN 'not yet (the latest sample still shows it)'
                            WHEN resolved IS NULL THEN '____'
                            ELSE to_char(resolved AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
                                 || CASE WHEN detected IS NOT NULL AND resolved >= detected
                                         THEN ' (duration ' || date_trunc('second', resolved - detected) || ')' ELSE '' END END);

    md := md || E'## Findings\n\n| Severity | Check | Finding | Next step |\n|---|---|---|---|\n';
    FOR r IN SELECT * FROM jsonb_to_recordset(findings)
                        AS f(severity text, check_name text, finding text, action text, remedy_sql text) LOOP
        md := md || format(E'| %s | %s | %s | %s |\n', r.severity, r.check_name, @extschema@._md(r.finding),
                           CASE WHEN r.remedy_sql IS NULL THEN @extschema@._md(r.action)
                                ELSE '`' || @extschema@._md(r.remedy_sql) || '`' END);
    END LOOP;

    -- timeline from the flight recorder
    md := md || format(E'\n## Timeline since %s (flight recorder and audit)\n\n', to_char(t0 AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'));
    IF NOT @extschema@._is_preloaded() THEN
        md := md || E'Flight recorder unavailable: pg_runbook is not in shared_preload_libraries.\n';
    ELSIF jsonb_array_length(tl) = 0 THEN
        md := md || E'No event and no action recorded in this period.\n';
    ELSE
        md := md || E'| Time (UTC) | Phase | What |\n|---|---|---|\n';
        k := 0;
        FOR r IN SELECT (x->>'at')::timestamptz AS at, x->>'phase' AS phase, x->>'what' AS what
                   FROM jsonb_array_elements(tl) WITH ORDINALITY AS t(x, n) ORDER BY t.n LOOP
            k := k + 1;
            IF k > 200 THEN
                md := md || format(E'| … | | %s more rows: see runbook.events() |\n', jsonb_array_length(tl) - 200);
                EXIT;
            END IF;
            md := md || format(E'| %s | %s | %s |\n', to_char(r.at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'), r.phase, @extschema@._md(r.what));
        END LOOP;
    END IF;

    -- what the samples saw
    IF have_hist THEN
        md := md || E'\n## What the samples show\n\n';
        IF h.n = 0 THEN
            md := md || E'No sample in this period (pg_runbook.sample_interval = 0, or the server restarted).\n';
        ELSE
            md := md || format(E'%s samples from %s to %s UTC.\n\n', h.n,
                               to_char(h.first_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), to_char(h.last_at AT TIME ZONE 'UTC', 'HH24:MI:SS'));
            md := md || format(E'- Peak connections: %s (%s%% of the usable slots) at %s\n', h.pct_conn, h.max_pct,
                               to_char(h.pct_at AT TIME ZONE 'UTC', 'HH24:MI:SS'));
            IF h.max_waiters > 0 THEN
                md := md || format(E'- Peak lock waiters: %s at %s (root blocker pid %s, %s behind it); longest wait %s\n',
                                   h.max_waiters, to_char(h.waiters_at AT TIME ZONE 'UTC', 'HH24:MI:SS'),
                                   coalesce(h.waiters_root::text, '?'), h.waiters_behind, date_trunc('second', h.max_wait));
            ELSE
                md := md || E'- No session waited on a lock in any sample\n';
            END IF;
            md := md || format(E'- Transactions per second: %s on average, %s at most; rollbacks per second: %s; deadlocks: %s; temp bytes written: %s\n',
                               coalesce(h.avg_tps::text, 'n/a'), coalesce(h.max_tps::text, 'n/a'), coalesce(h.avg_rb::text, 'n/a'),
                               coalesce(h.deadlocks::text, 'n/a'), coalesce(pg_size_pretty(h.temp_bytes), 'n/a'));
            k := 0;
            FOR r IN SELECT w.wait_event_type, w.wait_event, w.seconds, w.pct FROM @extschema@.wait_profile(t0, now()) w
                      WHERE w.kind = 'wait_event' ORDER BY w.seconds DESC LIMIT 5 LOOP
                IF k = 0 THEN
                    md := md || E'- Active time by wait event: ';
                ELSE
                    md := md || ', ';
                END IF;
                k := k + 1;
                md := md || format('%s:%s %s s (%s%%)', r.wait_event_type, r.wait_event, r.seconds, r.pct);
            END LOOP;
            IF k > 0 THEN
                md := md || E'\n';
            END IF;
        END IF;
    END IF;

    md := md || format(E'\n## Connections now\n\n%s of %s usable in use (%s%%): %s active, %s idle, %s idle in transaction, %s idle in transaction (aborted); max_connections %s.\n',
                       c.in_use, c.usable, c.pct_used, c.active, c.idle, c.idle_in_transaction,
                       c.idle_in_transaction_aborted, c.max_connections);

    md := md || E'\n## Blocking now\n\n';
    k := 0;
    FOR r IN SELECT b.pid, b.blocked_by, b.root_blocker, b.usename, b.mode, b.locktype, b.relation,
                    b.wait_age, b.query
               FROM @extschema@.blocking_locks() b
              ORDER BY b.wait_age DESC NULLS LAST LIMIT 20 LOOP
        IF k = 0 THEN
            md := md || E'| Waiting pid | Blocked by | Root blocker | User | Wants | Waiting for | Query |\n|---|---|---|---|---|---|---|\n';
        END IF;
        k := k + 1;
        md := md || format(E'| %s | %s | %s | %s | %s | %s | %s |\n', r.pid, array_to_string(r.blocked_by, ', '),
                           coalesce(r.root_blocker::text, ''), r.usename,
                           concat_ws(' ', r.mode, 'on', coalesce(r.relation::text, r.locktype)),
                           date_trunc('second', r.wait_age), @extschema@._md(left(r.query, 120)));
    END LOOP;
    IF k = 0 THEN
        md := md || E'No session waits on another.\n';
    END IF;

    md := md || E'\n## Long-running queries now\n\n';
    k := 0;
    FOR r IN SELECT l.pid, l.usename, l.datname, l.query_age, l.query FROM @extschema@.long_running('1 min') l
              WHERE l.pid <> pg_backend_pid() ORDER BY l.query_age DESC LIMIT 20 LOOP
        IF k = 0 THEN
            md := md || E'| Pid | User | Database | Running for | Query |\n|---|---|---|---|---|\n';
        END IF;
        k := k + 1;
        md := md || format(E'| %s | %s | %s | %s | %s |\n', r.pid, r.usename, r.datname,
                           date_trunc('second', r.query_age), @extschema@._md(left(r.query, 120)));
    END LOOP;
    IF k = 0 THEN
        md := md || E'No statement has run longer than 1 minute.\n';
    END IF;

    -- recovery method: what was done (audit), else how the trouble ended
    md := md || E'\n## Recovery\n\n';
    IF have_hist THEN
        SELECT string_agg(DISTINCT format('%s by %s (%s)', a.action, a.actor, a.outcome), '; ') INTO recovery
          FROM @extschema@.recent_actions() a
         WHERE a.acted_at >= t0 AND a.outcome IN ('terminated', 'cancelled');
        IF recovery IS NOT NULL THEN
            md := md || format(E'- **Method:** %s\n', @extschema@._md(recovery));
        ELSE
            SELECT string_agg(x->>'what', '; ') INTO recovery FROM jsonb_array_elements(tl) x WHERE x->>'phase' = 'recovery';
            md := md || format(E'- **Method:** %s\n', coalesce('no remediation recorded; ' || @extschema@._md(recovery), '____'));
        END IF;
        md := md || format(E'- **First action:** %s\n- **Resolution time:** %s\n',
                           coalesce(to_char(mitigated AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'), 'none recorded'),
                           CASE WHEN ongoing OR resolved IS NULL THEN '____'
                                ELSE to_char(resolved AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') END);
    ELSE
        md := md || E'- **Method:** ____\n- **Resolution time:** ____\n';
    END IF;

    md := md || E'\n## Recent actions\n\n';
    IF NOT @extschema@._is_preloaded() THEN
        md := md || E'Audit ring unavailable: pg_runbook is not in shared_preload_libraries.\n';
    ELSE
        BEGIN
            k := 0;
            FOR r IN SELECT * FROM (SELECT a.acted_at, a.actor, a.pid, a.usename, a.action, a.outcome, a.reason, a.seq
                                      FROM @extschema@.recent_actions() a ORDER BY a.seq DESC LIMIT 20) x
                      ORDER BY x.seq LOOP
                IF k = 0 THEN
                    md := md || E'| At | Actor | Pid | User | Action | Outcome | Reason |\n|---|---|---|---|---|---|---|\n';
                END IF;
                k := k + 1;
                md := md || format(E'| %s | %s | %s | %s | %s | %s | %s |\n', date_trunc('second', r.acted_at), r.actor,
                                   r.pid, r.usename, r.action, r.outcome, @extschema@._md(r.reason));
            END LOOP;
            IF k = 0 THEN
                md := md || E'No remediation action since the server started.\n';
            END IF;
        EXCEPTION WHEN OTHERS THEN
            md := md || 'Audit ring unavailable: ' || @extschema@._md(SQLERRM) || E'\n';
        END;
    END IF;

    -- errors from the server log, when this version reads it
    md := md || E'\n## Errors in the server log\n\n';
    -- log_summary(since, max_bytes) is created by 70_log_summary.sql; the
    -- report reads at most 8 MB of log, as triage does
    ls := pg_catalog.to_regprocedure('@extschema@.log_summary(interval,bigint)');
    IF ls IS NULL THEN
        md := md || E'runbook.log_summary() is not available: read the server log for this period.\n';
    ELSE
        BEGIN
            k := 0;
            FOR r IN EXECUTE format('SELECT l.severity::text AS severity, l.sqlstate::text AS sqlstate, l.count::bigint AS n,'
                                    ' l.first_at::timestamptz AS first_at, l.last_at::timestamptz AS last_at, l.example::text AS example'
                                    ' FROM %s($1, 8388608) l WHERE l.count > 0 ORDER BY l.count DESC LIMIT 20', ls::oid::regproc)
                     USING (now() - t0) LOOP
                IF k = 0 THEN
                    md := md || E'| Severity | SQLSTATE | Count | First | Last | Example |\n|---|---|---|---|---|---|\n';
                END IF;
                k := k + 1;
                md := md || format(E'| %s | %s | %s | %s | %s | %s |\n', r.severity, r.sqlstate, r.n,
                                   to_char(r.first_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), to_char(r.last_at AT TIME ZONE 'UTC', 'HH24:MI:SS'),
                                   @extschema@._md(left(r.example, 120)));
            END LOOP;
            IF k = 0 THEN
                md := md || E'No ERROR, FATAL or PANIC in the server log for this period.\n';
            END IF;
        EXCEPTION WHEN OTHERS THEN
            md := md || 'Server log unavailable: ' || @extschema@._md(SQLERRM) || E'\n';
        END;
    END IF;

    md := md || E'\n## Communication\n\n- Stakeholders notified at: ____\n- Status page / channel: ____\n- Next update due: ____\n';
    md := md || format(E'\n## Post-mortem\n\n### Summary\n\n____\n\n### Impact\n\n- Duration: %s\n- Users / services affected: ____\n- Data loss: ____\n',
                       CASE WHEN detected IS NOT NULL AND resolved IS NOT NULL AND NOT ongoing AND resolved >= detected
                            THEN date_trunc('second', resolved - detected)::text ELSE '____' END);
    md := md || format(E'\n### Timeline (UTC)\n\n| Time | Event |\n|---|---|\n| %s | first alert (detection) |\n| %s | mitigated (first action) |\n| %s | resolved |\n| %s | report generated by runbook.incident_report() |\n',
                       coalesce(to_char(detected AT TIME ZONE 'UTC', 'HH24:MI:SS'), '____'),
                       coalesce(to_char(mitigated AT TIME ZONE 'UTC', 'HH24:MI:SS'), '____'),
                       CASE WHEN ongoing OR resolved IS NULL THEN '____' ELSE to_char(resolved AT TIME ZONE 'UTC', 'HH24:MI:SS') END,
                       to_char(now() AT TIME ZONE 'UTC', 'HH24:MI:SS'));
    md := md || E'\n### Root cause\n\n____\n\n### Actions taken\n\n- [ ] ____\n\n### What went well / what went wrong\n\n- ____\n';
    md := md || E'\n### Follow-ups\n\n| Action | Owner | Due |\n|---|---|---|\n| ____ | ____ | ____ |\n';
    RETURN md;
END
$fn$;

COMMENT ON FUNCTION @extschema@.incident_report(text, timestamptz) IS
'a Markdown incident record: the live state (triage, connections, blocking, long-running queries, recent actions), the timeline since `since` (default: the last hour) from the flight recorder''s events and samples and the audit, detection and resolution times, the recovery method, errors of the server log, and the post-mortem checklist to fill';
REVOKE ALL ON FUNCTION @extschema@.incident_report(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.incident_report(text, timestamptz) TO pg_monitor;

-- One argument only (with a second, title, a call with two string literals
-- would be ambiguous between the two forms), and not named since (or
-- incident_report(since => ...) would be).
CREATE FUNCTION @extschema@.incident_report(incident_start timestamptz)
RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.incident_report(NULL::text, incident_start) $$;

COMMENT ON FUNCTION @extschema@.incident_report(timestamptz) IS
'incident_report(since): the incident record of the period since `since` (a title: incident_report(title, since))';
REVOKE ALL ON FUNCTION @extschema@.incident_report(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.incident_report(timestamptz) TO pg_monitor;
-- ---------------------------------------------------------------------
-- Metrics for a fleet (1.1): the series the runbooks' alert rules need,
-- with units in their names, per database where the rule is per database,
-- and an up-style gauge per check so that a check that could not run (no
-- pg_stat_statements, no privilege, no log access) yields no sample rather
-- than a 0 that reads as healthy.
--
-- metric_samples() is the one source: metrics() renders it in the
-- Prometheus text exposition format (textfile collector, or any HTTP
-- wrapper), and contrib/prometheus/postgres_exporter.yml reads the same
-- rows family by family through prometheus-postgres-exporter, so both
-- paths expose the same names and contrib/prometheus/pg_runbook.rules.yml
-- works with either.
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.metric_samples(
    families text[] DEFAULT NULL,
    OUT metric text,
    OUT metric_type text,
    OUT help text,
    OUT labels jsonb,
    OUT value double precision)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c  record;
    r  record;
    w  record;
    ok boolean;
    t_mean numeric;
    t_calls numeric;
    js jsonb;
BEGIN
    -- connections -----------------------------------------------------
    IF families IS NULL OR families && ARRAY['pg_runbook_connections', 'pg_runbook_max_connections', 'pg_runbook_connections_usable', 'pg_runbook_connections_used_ratio'] THEN
        SELECT * INTO c FROM @extschema@.connections();
        metric := 'pg_runbook_connections'; metric_type := 'gauge';
        help := 'Client connections by state.';
        FOR r IN SELECT * FROM (VALUES ('active', c.active), ('idle', c.idle),
                                       ('idle_in_transaction', c.idle_in_transaction),
                                       ('idle_in_transaction_aborted', c.idle_in_transaction_aborted),
                                       ('other', c.other)) v(state, n) LOOP
            labels := jsonb_build_object('state', r.state); value := r.n;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        END LOOP;
        labels := '{}';
        metric := 'pg_runbook_max_connections'; help := 'Setting max_connections.'; value := c.max_connections;
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        metric := 'pg_runbook_connections_usable'; value := c.usable;
        help := 'Connection slots ordinary roles may use (max_connections less the reserved ones).';
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        metric := 'pg_runbook_connections_used_ratio'; value := round(coalesce(c.pct_used, 0) / 100, 4);
        help := 'Client connections in use of the usable slots (1 = ordinary roles are refused).';
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
    END IF;

    -- a family of one metric, one sample a row: RETURN QUERY of
    -- (metric, metric_type, help, labels, value)
    IF families IS NULL OR families && ARRAY['pg_runbook_database_connections'] THEN
        RETURN QUERY
            SELECT 'pg_runbook_database_connections', 'gauge', 'Client connections per database.',
                   jsonb_build_object('datname', d.datname), count(s.pid)::float8
              FROM pg_database d
              LEFT JOIN @extschema@.sessions s ON s.datname = d.datname AND s.backend_type = 'client backend'
             WHERE d.datallowconn
             GROUP BY d.datname ORDER BY d.datname;
    END IF;

    -- locks and long transactions -------------------------------------
    IF families IS NULL OR families && ARRAY['pg_runbook_lock_waiters', 'pg_runbook_lock_wait_max_seconds'] THEN
        SELECT count(*) AS n, coalesce(max(extract(epoch FROM b.wait_age)), 0) AS longest
          INTO r FROM @extschema@.blocking_locks() b;
        labels := '{}'; metric_type := 'gauge';
        metric := 'pg_runbook_lock_waiters'; help := 'Sessions waiting on a heavyweight lock.'; value := r.n;
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        metric := 'pg_runbook_lock_wait_max_seconds'; help := 'Longest current wait on a heavyweight lock.';
        value := round(r.longest, 3);
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
    END IF;

    IF families IS NULL OR families && ARRAY['pg_runbook_oldest_xact_age_seconds', 'pg_runbook_long_running'] THEN
        SELECT coalesce(max(extract(epoch FROM s.xact_age)), 0) AS oldest,
               count(*) FILTER (WHERE s.state = 'active' AND s.pid <> pg_backend_pid()
                                AND extract(epoch FROM s.query_age) >= @extschema@._threshold('long_query_seconds')) AS long_running
          INTO r FROM @extschema@.sessions s WHERE s.backend_type = 'client backend';
        labels := '{}'; metric_type := 'gauge';
        metric := 'pg_runbook_oldest_xact_age_seconds'; value := round(r.oldest, 3);
        help := 'Age of the oldest open transaction of a client backend.';
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        metric := 'pg_runbook_long_running'; value := r.long_running;
        help := 'Statements running longer than the long_query_seconds threshold.';
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
    END IF;

    -- per database: wraparound, size, pg_stat_database counters ---------
    IF families IS NULL OR families && ARRAY['pg_runbook_xid_age', 'pg_runbook_mxid_age'] THEN
        metric_type := 'gauge';
        FOR r IN SELECT datname, age(datfrozenxid) AS x, mxid_age(datminmxid) AS m FROM pg_database ORDER BY datname LOOP
            labels := jsonb_build_object('datname', r.datname);
            metric := 'pg_runbook_xid_age'; help := 'Transaction ID age of the database (age(datfrozenxid)).'; value := r.x;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            metric := 'pg_runbook_mxid_age'; help := 'Multixact ID age of the database (mxid_age(datminmxid)).'; value := r.m;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        END LOOP;
    END IF;

    IF families IS NULL OR families && ARRAY['pg_runbook_database_size_bytes'] THEN
        RETURN QUERY
            SELECT 'pg_runbook_database_size_bytes', 'gauge', 'Size of each database on disk (its growth is deriv() of this).',
                   jsonb_build_object('datname', d.datname), pg_database_size(d.oid)::float8
              FROM pg_database d
             WHERE d.datallowconn AND has_database_privilege(d.oid, 'CONNECT') ORDER BY d.datname;
    END IF;

    IF families IS NULL OR EXISTS (SELECT 1 FROM unnest(families) f WHERE f LIKE 'pg\_runbook\_database\_%\_total') THEN
        metric_type := 'counter';
        FOR r IN SELECT d.datname, d.xact_commit, d.xact_rollback, d.deadlocks, d.temp_files, d.temp_bytes,
                        d.conflicts, d.checksum_failures, d.sessions_fatal, d.sessions_killed, d.sessions_abandoned
                   FROM pg_stat_database d WHERE d.datname IS NOT NULL ORDER BY d.datname LOOP
            labels := jsonb_build_object('datname', r.datname);
            FOR w IN SELECT * FROM (VALUES
                    ('pg_runbook_database_xact_commit_total', 'Transactions committed.', r.xact_commit::float8),
                    ('pg_runbook_database_xact_rollback_total', 'Transactions rolled back.', r.xact_rollback::float8),
                    ('pg_runbook_database_deadlocks_total', 'Deadlocks detected.', r.deadlocks::float8),
                    ('pg_runbook_database_temp_files_total', 'Temporary files written by queries.', r.temp_files::float8),
                    ('pg_runbook_database_temp_bytes_total', 'Bytes written to temporary files by queries.', r.temp_bytes::float8),
                    ('pg_runbook_database_conflicts_total', 'Queries cancelled by recovery conflicts (standby).', r.conflicts::float8),
                    ('pg_runbook_database_checksum_failures_total', 'Data page checksum failures.', coalesce(r.checksum_failures, 0)::float8),
                    ('pg_runbook_database_sessions_fatal_total', 'Sessions ended by a fatal error.', r.sessions_fatal::float8),
                    ('pg_runbook_database_sessions_killed_total', 'Sessions ended by an operator (terminated).', r.sessions_killed::float8),
                    ('pg_runbook_database_sessions_abandoned_total', 'Sessions whose client went away.', r.sessions_abandoned::float8)
                ) v(m, h, n) LOOP
                metric := w.m; help := w.h; value := w.n;
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            END LOOP;
        END LOOP;
    END IF;

    -- dead tuples per table (of this database; the largest 20) ----------
    IF families IS NULL OR families && ARRAY['pg_runbook_table_dead_tuples'] THEN
        RETURN QUERY
            SELECT 'pg_runbook_table_dead_tuples', 'gauge', 'Dead tuples of the 20 tables of this database with the most (n_dead_tup).',
                   jsonb_build_object('datname', current_database(), 'schemaname', t.schemaname, 'relname', t.relname),
                   t.n_dead_tup::float8
              FROM pg_stat_user_tables t WHERE t.n_dead_tup > 0
             ORDER BY t.n_dead_tup DESC, t.relid LIMIT 20;
    END IF;

    -- slow queries (pg_stat_statements) ---------------------------------
    IF families IS NULL OR families && ARRAY['pg_runbook_check_up', 'pg_runbook_slow_query_mean_seconds', 'pg_runbook_slow_query_calls_total', 'pg_runbook_slow_queries'] THEN
        t_mean := @extschema@._threshold('slow_query_mean_ms');
        t_calls := @extschema@._threshold('slow_query_min_calls');
        ok := true;
        BEGIN
            SELECT coalesce(max(q.mean_ms), 0) AS worst,
                   coalesce(sum(q.calls) FILTER (WHERE q.mean_ms >= t_mean), 0) AS slow_calls,
                   count(*) FILTER (WHERE q.mean_ms >= t_mean) AS slow_statements
              INTO r FROM @extschema@.slow_queries(1000, 'mean', t_calls::bigint) q;
        EXCEPTION WHEN OTHERS THEN
            ok := false;
        END;
        labels := '{}';
        IF ok THEN
            metric := 'pg_runbook_slow_query_mean_seconds'; metric_type := 'gauge';
            help := 'Highest mean execution time among statements called at least slow_query_min_calls times.';
            value := round(r.worst / 1000, 6);
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            metric := 'pg_runbook_slow_queries'; metric_type := 'gauge';
            help := 'Statements whose mean execution time is at or above slow_query_mean_ms.';
            value := r.slow_statements;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            metric := 'pg_runbook_slow_query_calls_total'; metric_type := 'counter';
            help := 'Calls of statements whose mean execution time is at or above slow_query_mean_ms.';
            value := r.slow_calls;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        END IF;
        metric := 'pg_runbook_check_up'; metric_type := 'gauge';
        help := 'Whether a check could run (1) or not (0: its series are absent, not zero).';
        labels := jsonb_build_object('check', 'slow_queries'); value := CASE WHEN ok THEN 1 ELSE 0 END;
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
    END IF;

    -- replication --------------------------------------------------------
    IF families IS NULL OR families && ARRAY['pg_runbook_check_up', 'pg_runbook_replication_lag_bytes', 'pg_runbook_replication_lag_seconds', 'pg_runbook_slot_retained_bytes'] THEN
        ok := true;
        BEGIN
            -- read whole before anything is returned: a failure mid-way
            -- must not leave half the family behind
            SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]') INTO js FROM @extschema@.replication_status() x;
        EXCEPTION WHEN OTHERS THEN
            ok := false;
        END;
        IF ok THEN
            -- the families are declared (a row with a NULL value) even when
            -- there is nothing to sample: no replica is not an error
            metric_type := 'gauge'; labels := NULL; value := NULL;
            FOR r IN SELECT * FROM (VALUES
                    ('pg_runbook_replication_lag_bytes', 'Replay lag in bytes: of each replica (primary side), of this standby (standby side).'),
                    ('pg_runbook_replication_lag_seconds', 'Replay lag in seconds (0 when everything received was replayed, however idle the primary).'),
                    ('pg_runbook_slot_retained_bytes', 'WAL retained by each replication slot in bytes.')) v(m, h) LOOP
                metric := r.m; help := r.h;
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            END LOOP;
            FOR r IN SELECT * FROM jsonb_to_recordset(js)
                       AS x(role text, kind text, name text, replay_lag_bytes numeric, replay_lag interval,
                            active boolean, retained_bytes numeric)
                      ORDER BY kind, name LOOP
                IF r.kind IN ('replica', 'receiver') THEN
                    labels := jsonb_build_object('role', r.role, 'application_name', r.name);
                    metric := 'pg_runbook_replication_lag_bytes'; value := coalesce(r.replay_lag_bytes, 0);
                    help := 'Replay lag in bytes: of each replica (primary side), of this standby (standby side).';
                    IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                    IF r.replay_lag IS NOT NULL THEN
                        metric := 'pg_runbook_replication_lag_seconds'; value := round(extract(epoch FROM r.replay_lag), 3);
                        help := 'Replay lag in seconds (0 when everything received was replayed, however idle the primary).';
                        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                    END IF;
                ELSIF r.kind = 'slot' THEN
                    labels := jsonb_build_object('slot_name', r.name, 'active', r.active::text);
                    metric := 'pg_runbook_slot_retained_bytes'; value := coalesce(r.retained_bytes, 0);
                    help := 'WAL retained by each replication slot in bytes.';
                    IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
                END IF;
            END LOOP;
        END IF;
        metric := 'pg_runbook_check_up'; metric_type := 'gauge';
        help := 'Whether a check could run (1) or not (0: its series are absent, not zero).';
        labels := jsonb_build_object('check', 'replication'); value := CASE WHEN ok THEN 1 ELSE 0 END;
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
    END IF;

    -- server log: errors of the last 5 minutes (runbook.log_summary) -----
    IF families IS NULL OR families && ARRAY['pg_runbook_check_up', 'pg_runbook_log_errors'] THEN
        ok := true;  -- log_summary() is created further down this script (70_log_summary.sql)
        IF ok THEN
            BEGIN
                EXECUTE 'SELECT coalesce(jsonb_agg(jsonb_build_object(''severity'', l.severity::text, ''sqlstate'', l.sqlstate::text, ''n'', l.count::bigint)), ''[]'')
                           FROM @extschema@.log_summary(''5 min'', 8388608) l WHERE l.count > 0' INTO js;
            EXCEPTION WHEN OTHERS THEN
                ok := false;
            END;
        END IF;
        IF ok THEN
            metric := 'pg_runbook_log_errors'; metric_type := 'gauge';
            help := 'ERROR, FATAL and PANIC lines in the server log of the last 5 minutes, by severity and SQLSTATE.';
            labels := NULL; value := NULL;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            FOR r IN SELECT * FROM jsonb_to_recordset(js) AS x(severity text, sqlstate text, n bigint)
                      ORDER BY severity, sqlstate LOOP
                labels := jsonb_build_object('severity', r.severity, 'sqlstate', coalesce(r.sqlstate, ''));
                value := r.n;
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            END LOOP;
        END IF;
        metric := 'pg_runbook_check_up'; metric_type := 'gauge';
        help := 'Whether a check could run (1) or not (0: its series are absent, not zero).';
        labels := jsonb_build_object('check', 'log'); value := CASE WHEN ok THEN 1 ELSE 0 END;
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
    END IF;

    -- the worker and the audit -----------------------------------------
    IF (families IS NULL OR EXISTS (SELECT 1 FROM unnest(families) f WHERE f LIKE 'pg\_runbook\_worker\_%' OR f = 'pg_runbook_actions'))
       AND @extschema@._is_preloaded() THEN
        ok := true;
        BEGIN
            SELECT * INTO w FROM @extschema@.worker_status();
        EXCEPTION WHEN OTHERS THEN
            ok := false;
        END;
        IF ok THEN
            labels := '{}';
            FOR r IN SELECT * FROM (VALUES
                    ('pg_runbook_worker_running', 'gauge', 'Whether the pg_runbook worker runs (1) or not (0).', CASE WHEN w.running THEN 1 ELSE 0 END::float8),
                    ('pg_runbook_worker_paused', 'gauge', 'Whether the pg_runbook worker is paused.', CASE WHEN w.paused THEN 1 ELSE 0 END::float8),
                    ('pg_runbook_worker_cycles_total', 'counter', 'Policy cycles the worker has run.', coalesce(w.cycles, 0)::float8),
                    ('pg_runbook_worker_actions_total', 'counter', 'Actions the worker has taken.', coalesce(w.actions, 0)::float8),
                    ('pg_runbook_worker_last_cycle_seconds', 'gauge', 'Duration of the last worker cycle.', round(coalesce(w.last_cycle_ms, 0)::numeric / 1000, 6)::float8)
                ) v(m, t, h, n) LOOP
                metric := r.m; metric_type := r.t; help := r.h; value := r.n;
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            END LOOP;
            metric := 'pg_runbook_actions'; metric_type := 'gauge';
            help := 'Remediation actions in the audit ring by action and outcome.';
            labels := NULL; value := NULL;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            FOR r IN SELECT a.action, a.outcome, count(*) AS n FROM @extschema@.recent_actions() a
                      GROUP BY 1, 2 ORDER BY 1, 2 LOOP
                labels := jsonb_build_object('action', r.action, 'outcome', r.outcome); value := r.n;
                IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
            END LOOP;
        END IF;
    END IF;

    -- the runbooks' alerts ----------------------------------------------
    IF families IS NULL OR families && ARRAY['pg_runbook_alert_firing'] THEN
        RETURN QUERY
            SELECT 'pg_runbook_alert_firing', 'gauge', 'Whether each runbook alert fires (1) or not (0).',
                   jsonb_build_object('alert', a.alert), CASE WHEN a.firing THEN 1 ELSE 0 END::float8
              FROM @extschema@.alerts a;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@.metric_samples(text[]) IS
'the samples behind metrics(), one row each (metric, type, help, labels, value; a NULL value only declares a family that has no sample now); families = the metric names wanted, NULL = all';

REVOKE ALL ON FUNCTION @extschema@.metric_samples(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.metric_samples(text[]) TO pg_monitor;

-- One label value in the exposition format: backslash, double quote and
-- newline escaped.
CREATE OR REPLACE FUNCTION @extschema@._prom_label(v text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(coalesce(v, ''), '\', '\\'), '"', '\"'), E'\n', '\n') $$;

CREATE OR REPLACE FUNCTION @extschema@.metrics()
RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH s AS (
        SELECT m.*, row_number() OVER () AS n FROM @extschema@.metric_samples() m
    ), fam AS (
        SELECT metric, min(n) AS first FROM s GROUP BY metric
    )
    SELECT coalesce(string_agg(line, E'\n' ORDER BY first, metric, n, part), '') || E'\n'
      FROM (
        SELECT f.first, f.metric, 0::bigint AS n, 0 AS part,
               format('# HELP %s %s', f.metric, (SELECT s.help FROM s WHERE s.metric = f.metric ORDER BY s.n LIMIT 1)) AS line
          FROM fam f
        UNION ALL
        SELECT f.first, f.metric, 0, 1,
               format('# TYPE %s %s', f.metric, (SELECT s.metric_type FROM s WHERE s.metric = f.metric ORDER BY s.n LIMIT 1))
          FROM fam f
        UNION ALL
        SELECT f.first, s.metric, s.n, 2,
               s.metric
               || coalesce((SELECT '{' || string_agg(format('%s="%s"', k, @extschema@._prom_label(v)), ',' ORDER BY k) || '}'
                              FROM jsonb_each_text(s.labels) e(k, v)), '')
               || ' ' || CASE WHEN s.value = trunc(s.value) AND abs(s.value) < 1e15
                              THEN trunc(s.value)::bigint::text
                              ELSE s.value::text END
          FROM s JOIN fam f ON f.metric = s.metric
         WHERE s.value IS NOT NULL
      ) lines;
$fn$;
-- ---------------------------------------------------------------------
-- 1.1 readers (issue 13 §3, §4): what the runbooks read that was missing
-- and the messages they send, one fragment per concern:
--   70_log_summary      log_summary(): the server log's errors by severity,
--                       SQLSTATE and category over a recent period (C:
--                       src/logread.c)
--   72_database_stats   pg_stat_database counters and ratios per database
--   74_triage_checks    the checks of triage(), one function each, returning
--                       rows of runbook.triage_finding: integrity findings
--                       (checksum failures, invalid indexes, NOT VALID
--                       constraints), the server log of the last hour,
--                       per-pid audited remedies (runbook.terminate /
--                       runbook.cancel) and remedy text quoted for its
--                       target (SQL literals, identifiers, shell words,
--                       one-line comments)
--   76_triage           triage(): the checks run in a loop, one failing
--                       check becomes a finding
--   78_messages         incident_message(): the seeds' communication
--                       templates, filled in
-- Every function pins search_path; read-only things go to pg_monitor.
-- ---------------------------------------------------------------------

-- ---------------------------------------------------------------------
-- log_summary
-- ---------------------------------------------------------------------
-- Granted to pg_monitor; the C function itself checks the server's
-- file-read rule (superuser or pg_read_server_files, as pg_read_file() on a
-- file outside the data directory), so a monitoring role reads the log only
-- when it was also given file-read rights.
CREATE FUNCTION @extschema@.log_summary(
    since interval DEFAULT '1 hour',
    max_bytes bigint DEFAULT 67108864,
    OUT severity text,
    OUT sqlstate text,
    OUT count bigint,
    OUT first_at timestamptz,
    OUT last_at timestamptz,
    OUT example text,
    OUT category text,
    OUT log_format text,
    OUT note text)
RETURNS SETOF record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_log_summary';

COMMENT ON FUNCTION @extschema@.log_summary(interval, bigint) IS
'errors of the server log (ERROR, FATAL, PANIC; WARNINGs of corruption) over the last period, by severity, SQLSTATE and category (too_many_connections, deadlock, statement_timeout...), read backwards from the end of the current and previous log files (at most max_bytes); needs superuser or pg_read_server_files';
REVOKE ALL ON FUNCTION @extschema@.log_summary(interval, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.log_summary(interval, bigint) TO pg_monitor;
-- ---------------------------------------------------------------------
-- database_stats
-- ---------------------------------------------------------------------
-- Named columns only (never d.*): 18 added columns to pg_stat_database
-- (parallel_workers_to_launch, parallel_workers_launched) and the view keeps
-- its shape on 15, 17 and 18.
CREATE VIEW @extschema@.database_stats AS
SELECT d.datid,
       d.datname,
       d.numbackends,
       d.xact_commit,
       d.xact_rollback,
       round(100.0 * d.xact_rollback / nullif(d.xact_commit + d.xact_rollback, 0), 2) AS rollback_pct,
       round(d.xact_commit::numeric / nullif(d.xact_rollback, 0), 2) AS commit_rollback_ratio,
       d.blks_read,
       d.blks_hit,
       round(100.0 * d.blks_hit / nullif(d.blks_hit + d.blks_read, 0), 2) AS cache_hit_pct,
       d.tup_returned,
       d.tup_fetched,
       d.tup_inserted,
       d.tup_updated,
       d.tup_deleted,
       d.deadlocks,
       d.temp_files,
       d.temp_bytes,
       pg_catalog.pg_size_pretty(d.temp_bytes) AS temp_size,
       d.conflicts,
       d.checksum_failures,
       d.checksum_last_failure,
       d.sessions,
       d.sessions_abandoned,
       d.sessions_fatal,
       d.sessions_killed,
       round((d.session_time / 1000)::numeric, 3) AS session_time_s,
       round((d.active_time / 1000)::numeric, 3) AS active_time_s,
       round((d.idle_in_transaction_time / 1000)::numeric, 3) AS idle_in_transaction_time_s,
       d.stats_reset,
       date_trunc('second', pg_catalog.now() - d.stats_reset) AS since_reset
  FROM pg_catalog.pg_stat_database d;

COMMENT ON VIEW @extschema@.database_stats IS
'per database, from pg_stat_database since its last reset (stats_reset, since_reset): commit/rollback, cache hit ratio, deadlocks, temp files and bytes, recovery conflicts, checksum failures (NULL when checksums are off), sessions abandoned/fatal/killed; the row with datname NULL counts shared objects';
REVOKE ALL ON TABLE @extschema@.database_stats FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.database_stats TO pg_monitor;
-- ---------------------------------------------------------------------
-- quoting helpers for remedy text
-- ---------------------------------------------------------------------
-- A word for a POSIX shell: single-quoted, a quote inside as '"'"'.
-- (_shell_quote(text), a string as one single-quoted POSIX shell word, is
-- created by 10_security.sql.)

-- Text that goes after "--" in remedy SQL: control characters (a newline
-- would end the comment and turn the rest into SQL) become spaces.
CREATE FUNCTION @extschema@._one_line(s text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.regexp_replace(coalesce(s, ''), '[[:cntrl:]]', ' ', 'g') $$;

COMMENT ON FUNCTION @extschema@._one_line(text) IS
'internal: text made safe inside a one-line SQL comment (control characters replaced by spaces)';
REVOKE ALL ON FUNCTION @extschema@._one_line(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._one_line(text) TO pg_monitor;

-- The remedy of a migration_status() row as triage prints it: a stuck lock
-- holder through the audited runbook.terminate(); a tool's shell command
-- with the migration name as one shell word, as a SQL comment on one line.
CREATE FUNCTION @extschema@._migration_remedy(tool text, status text, migration text, detail text, remedy text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    holder integer;
BEGIN
    IF remedy IS NULL THEN
        RETURN NULL;
    END IF;
    holder := substring(detail FROM 'held by pid ([0-9]+)')::integer;
    IF holder IS NOT NULL AND remedy ~ 'pg_terminate_backend' THEN
        RETURN format('SELECT * FROM %s.terminate(%s, %L);  -- only if that session is stuck: a migration may be running',
                      '@extschema@', holder, format('%s migration lock holder stuck', tool));
    END IF;
    IF migration ~ '[[:cntrl:]]' THEN
        RETURN '-- the migration name holds control characters: see ' || '@extschema@' || '.migration_status() and quote it by hand';
    END IF;
    IF migration IS NOT NULL THEN
        remedy := replace(replace(remedy, '--rolled-back ' || migration, '--rolled-back ' || @extschema@._shell_quote(migration)),
                          '--applied ' || migration, '--applied ' || @extschema@._shell_quote(migration));
    END IF;
    RETURN '-- ' || @extschema@._one_line(remedy);
END
$fn$;

COMMENT ON FUNCTION @extschema@._migration_remedy(text, text, text, text, text) IS
'internal: a migration_status() remedy quoted for its target (shell words, one-line SQL comment, audited terminate)';
REVOKE ALL ON FUNCTION @extschema@._migration_remedy(text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._migration_remedy(text, text, text, text, text) TO pg_monitor;


-- ---------------------------------------------------------------------
-- the checks of triage(): one function a check, in 76_triage.sql's list.
-- Each takes the snapshot triage() shares between its checks (every
-- backend, the seconds each lock waiter has waited, the root blockers) and
-- returns its findings (none when all is well).  An error is not caught
-- here: triage() turns a check that fails into a SEV4 finding.
-- ---------------------------------------------------------------------
CREATE TYPE @extschema@.triage_finding AS (
    severity text,
    check_name text,
    finding text,
    evidence jsonb,
    action text,
    remedy_sql text);

COMMENT ON TYPE @extschema@.triage_finding IS
'a row of triage(): severity (SEV1 to SEV4), the check that found it, the finding, its evidence, what to do and the SQL to run next';

-- ---- sessions, locks and the xmin horizon

-- connections ------------------------------------------------------
CREATE FUNCTION @extschema@._triage_connections(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    c       record;
BEGIN
    f.check_name := 'connections';
    SELECT * INTO c FROM @extschema@.connections();
    IF c.pct_used >= @extschema@._threshold('connections_sev3_pct') THEN
        f.severity := CASE WHEN c.pct_used >= @extschema@._threshold('connections_sev1_pct') THEN 'SEV1'
                           WHEN c.pct_used >= @extschema@._threshold('connections_sev2_pct') THEN 'SEV2'
                           ELSE 'SEV3' END;
        f.finding := format('%s%% of connection slots in use (%s of %s usable; %s idle, %s idle in transaction)',
                            c.pct_used, c.in_use, c.usable, c.idle, c.idle_in_transaction);
        f.evidence := jsonb_build_object('pct_used', c.pct_used, 'in_use', c.in_use, 'usable', c.usable,
                          'max_connections', c.max_connections, 'active', c.active, 'idle', c.idle,
                          'idle_in_transaction', c.idle_in_transaction, 'available', c.available,
                          'top_sources', (SELECT jsonb_agg(to_jsonb(cs)) FROM
                              (SELECT * FROM @extschema@.connection_sources LIMIT 5) cs));
        f.action := 'find the source (connection_sources), end idle sessions, put a pooler in front';
        f.remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.kill_idle(''30 min'', dry_run => true);';
        RETURN NEXT f;
    END IF;
END
$fn$;

-- idle in transaction sessions holding locks others wait on ---------
CREATE FUNCTION @extschema@._triage_idle_in_transaction_blocking(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_lock  numeric := @extschema@._threshold('lock_wait_seconds');
BEGIN
    f.check_name := 'idle_in_transaction_blocking';
    FOR r IN
        SELECT b.pid, b.usename, b.datname, b.application_name, b.state, b.xact_age, b.state_age,
               array_agg(w.pid ORDER BY w.pid) AS waiters,
               max(coalesce((waits->>w.pid::text)::numeric, @extschema@._secs(w.query_age))) AS max_wait
          FROM unnest(sess) b
          JOIN unnest(sess) w ON b.pid = ANY (w.blocked_by)
         WHERE b.state LIKE 'idle in transaction%'
         GROUP BY b.pid, b.usename, b.datname, b.application_name, b.state, b.xact_age, b.state_age
         ORDER BY 9 DESC NULLS LAST, b.pid
    LOOP
        f.severity := CASE WHEN r.max_wait >= t_lock THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('pid %s (%s, %s) is %s for %s and blocks %s session(s), the longest waiting %s s',
                            r.pid, r.usename, r.application_name, r.state, date_trunc('second', r.state_age),
                            cardinality(r.waiters), r.max_wait);
        f.evidence := jsonb_build_object('pid', r.pid, 'usename', r.usename, 'datname', r.datname,
                          'application_name', r.application_name, 'state', r.state,
                          'xact_age_s', @extschema@._secs(r.xact_age), 'state_age_s', @extschema@._secs(r.state_age),
                          'blocked_pids', to_jsonb(r.waiters), 'max_wait_s', r.max_wait);
        f.action := 'end the idle transaction (the application forgot COMMIT/ROLLBACK); set idle_in_transaction_session_timeout';
        -- through the remedy path (re-check, safety rules, audit), never a bare pg_terminate_backend
        f.remedy_sql := format('SELECT * FROM %s.terminate(%s, %L);  -- or every stuck root: SELECT * FROM %s.terminate_blockers(%L);',
                               '@extschema@', r.pid,
                               format('idle in transaction, blocking %s session(s)', cardinality(r.waiters)),
                               '@extschema@', (floor(r.max_wait) || ' s'));
        RETURN NEXT f;
    END LOOP;
END
$fn$;

-- lock waits ---------------------------------------------------------
CREATE FUNCTION @extschema@._triage_lock_waits(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_lock  numeric := @extschema@._threshold('lock_wait_seconds');
BEGIN
    f.check_name := 'lock_waits';
    SELECT count(*) AS waiters,
           max(w.wait_s) AS max_wait,
           jsonb_agg(jsonb_build_object('pid', w.pid, 'blocked_by', to_jsonb(w.blocked_by),
                                        'wait_event', w.wait_event, 'wait_s', w.wait_s,
                                        'query', left(w.query, 200))
                     ORDER BY w.wait_s DESC NULLS LAST, w.pid) AS waits,
           (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(sess) w2, unnest(w2.blocked_by) x
             WHERE w2.wait_event_type = 'Lock') AS blockers
      INTO r
      FROM (SELECT s.*, coalesce((waits->>s.pid::text)::numeric, @extschema@._secs(s.query_age)) AS wait_s
              FROM unnest(sess) s WHERE s.wait_event_type = 'Lock') w;
    IF r.waiters > 0 THEN
        f.severity := CASE WHEN r.waiters >= @extschema@._threshold('lock_waiters_sev1') THEN 'SEV1'
                           WHEN r.max_wait >= t_lock THEN 'SEV2'
                           ELSE 'SEV3' END;
        f.finding := format('%s session(s) waiting on locks, the longest for %s s; blocked by pid(s) %s; root blocker(s) %s',
                            r.waiters, r.max_wait, array_to_string(r.blockers, ', '),
                            coalesce(array_to_string(roots, ', '), 'unknown'));
        f.evidence := jsonb_build_object('waiters', r.waiters, 'max_wait_s', r.max_wait,
                                         'blockers', to_jsonb(coalesce(r.blockers, '{}')),
                                         'root_blockers', to_jsonb(coalesce(roots, '{}')), 'waits', r.waits);
        f.action := 'read the lock tree; cancel or terminate the root blocker if it is stuck';
        f.remedy_sql := format('SELECT * FROM %s.lock_tree();  -- then: SELECT * FROM %s.terminate_blockers(%L, dry_run => true);',
                               '@extschema@', '@extschema@', (floor(r.max_wait) || ' s'))
                        || CASE WHEN cardinality(roots) = 1
                                THEN format('  -- or the root alone: SELECT * FROM %s.terminate(%s, %L);', '@extschema@', roots[1],
                                            format('root blocker of %s waiting session(s)', r.waiters))
                                ELSE '' END;
        RETURN NEXT f;
    END IF;
END
$fn$;

-- long-running statements ------------------------------------------
CREATE FUNCTION @extschema@._triage_long_running(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'long_running';
    SELECT count(*) AS cnt, max(s.query_age) AS max_age,
           (array_agg(s.pid ORDER BY s.query_age DESC))[1] AS longest,
           jsonb_agg(jsonb_build_object('pid', s.pid, 'usename', s.usename, 'datname', s.datname,
                                        'query_age_s', @extschema@._secs(s.query_age),
                                        'query', left(s.query, 200))
                     ORDER BY s.query_age DESC) AS list
      INTO r
      FROM unnest(sess) s
     WHERE s.state = 'active' AND s.backend_type = 'client backend' AND s.pid <> pg_backend_pid()
       AND extract(epoch FROM s.query_age) >= @extschema@._threshold('long_query_seconds');
    IF r.cnt > 0 THEN
        f.severity := CASE WHEN extract(epoch FROM r.max_age) >= @extschema@._threshold('long_query_sev2_seconds')
                           THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('%s statement(s) running longer than %s s, the longest for %s',
                            r.cnt, @extschema@._threshold('long_query_seconds'), date_trunc('second', r.max_age));
        f.evidence := jsonb_build_object('count', r.cnt, 'max_age_s', @extschema@._secs(r.max_age), 'statements', r.list);
        f.action := 'check the plans (EXPLAIN) and whether they can be cancelled';
        f.remedy_sql := format('SELECT * FROM %s.cancel(%s, %L);  -- the longest; all of them: SELECT * FROM %s.cancel_long(%L, dry_run => true);',
                               '@extschema@', r.longest, format('statement running for %s', date_trunc('second', r.max_age)),
                               '@extschema@', (@extschema@._threshold('long_query_seconds') || ' s'));
        RETURN NEXT f;
    END IF;
END
$fn$;

-- idle in transaction (not blocking) --------------------------------
CREATE FUNCTION @extschema@._triage_idle_in_transaction(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'idle_in_transaction';
    SELECT count(*) AS cnt, max(s.state_age) AS max_age, array_agg(s.pid ORDER BY s.state_age DESC) AS pids
      INTO r
      FROM unnest(sess) s
     WHERE s.state LIKE 'idle in transaction%'
       AND NOT EXISTS (SELECT 1 FROM unnest(sess) w WHERE s.pid = ANY (w.blocked_by))
       AND extract(epoch FROM s.state_age) >= @extschema@._threshold('idle_xact_seconds');
    IF r.cnt > 0 THEN
        f.severity := 'SEV3';
        f.finding := format('%s session(s) idle in transaction for more than %s s (longest %s)',
                            r.cnt, @extschema@._threshold('idle_xact_seconds'), date_trunc('second', r.max_age));
        f.evidence := jsonb_build_object('count', r.cnt, 'pids', to_jsonb(r.pids), 'max_age_s', @extschema@._secs(r.max_age));
        f.action := 'they hold snapshots and locks; fix the application, set idle_in_transaction_session_timeout';
        f.remedy_sql := format('SELECT * FROM %s.kill_idle(%L, states => ''{idle in transaction}'', dry_run => true);',
                               '@extschema@', @extschema@._threshold('idle_xact_seconds') || ' s');
        RETURN NEXT f;
    END IF;
END
$fn$;

-- xmin horizon: sessions ---------------------------------------------
CREATE FUNCTION @extschema@._triage_xmin_horizon(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_xmin  numeric := @extschema@._threshold('xmin_age_xids');
    t_xmin2 numeric := @extschema@._threshold('xmin_age_sev2_xids');
BEGIN
    f.check_name := 'xmin_horizon';
    FOR r IN
        SELECT s.pid, s.usename, s.datname, s.state, s.xact_age,
               greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0)) AS age
          FROM unnest(sess) s
         WHERE greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0)) >= t_xmin
         ORDER BY 6 DESC
    LOOP
        f.severity := CASE WHEN r.age >= t_xmin2 THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('pid %s (%s) holds the xmin horizon back by %s transactions: vacuum cannot remove dead rows',
                            r.pid, r.state, r.age);
        f.evidence := jsonb_build_object('source', 'session', 'pid', r.pid, 'usename', r.usename, 'datname', r.datname,
                                         'state', r.state, 'xmin_age', r.age, 'xact_age_s', @extschema@._secs(r.xact_age));
        f.action := 'end the transaction';
        f.remedy_sql := format('SELECT * FROM %s.terminate(%s, %L);',
                               '@extschema@', r.pid, format('holds the xmin horizon back by %s transactions', r.age));
        RETURN NEXT f;
    END LOOP;
END
$fn$;

-- xmin horizon: prepared transactions -----------------------------------
CREATE FUNCTION @extschema@._triage_prepared_transactions(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_xmin2 numeric := @extschema@._threshold('xmin_age_sev2_xids');
BEGIN
    f.check_name := 'prepared_transactions';
    FOR r IN
        SELECT p.gid, p.owner, p.database, p.prepared, now() - p.prepared AS age, age(p.transaction) AS xid_age
          FROM pg_prepared_xacts p
         ORDER BY p.prepared
    LOOP
        f.severity := CASE WHEN extract(epoch FROM r.age) >= @extschema@._threshold('prepared_xact_seconds')
                             OR r.xid_age >= t_xmin2 THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('prepared transaction %L (database %s) open for %s: it holds its locks and the xmin horizon',
                            r.gid, r.database, date_trunc('second', r.age));
        f.evidence := jsonb_build_object('source', 'prepared', 'gid', r.gid, 'owner', r.owner, 'datname', r.database,
                                         'age_s', @extschema@._secs(r.age), 'xid_age', r.xid_age);
        f.action := 'ask the transaction manager to finish it; if it is orphaned, commit or roll it back by hand';
        f.remedy_sql := format('ROLLBACK PREPARED %L;  -- in database %s, or COMMIT PREPARED', r.gid, r.database);
        RETURN NEXT f;
    END LOOP;
END
$fn$;

-- xmin horizon: replication slots --------------------------------------
CREATE FUNCTION @extschema@._triage_replication_slots_xmin(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_xmin  numeric := @extschema@._threshold('xmin_age_xids');
    t_xmin2 numeric := @extschema@._threshold('xmin_age_sev2_xids');
BEGIN
    f.check_name := 'replication_slots_xmin';
    FOR r IN
        SELECT sl.slot_name, sl.slot_type, sl.active,
               greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0)) AS age
          FROM pg_replication_slots sl
         WHERE greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0)) >= t_xmin
         ORDER BY 4 DESC
    LOOP
        f.severity := CASE WHEN r.age >= t_xmin2 OR NOT r.active THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('%s slot %s (%s) holds the xmin horizon back by %s transactions',
                            r.slot_type, r.slot_name, CASE WHEN r.active THEN 'active' ELSE 'inactive' END, r.age);
        f.evidence := jsonb_build_object('source', 'slot', 'slot_name', r.slot_name, 'slot_type', r.slot_type,
                                         'active', r.active, 'xmin_age', r.age);
        f.action := 'make its consumer catch up, or drop the slot if the consumer is gone';
        f.remedy_sql := format('SELECT pg_drop_replication_slot(%L);', r.slot_name);
        RETURN NEXT f;
    END LOOP;
END
$fn$;
-- ---------------------------------------------------------------------
-- triage checks (see 73_triage_checks_sessions.sql): the server as a
-- whole: wraparound, replication, the pg_runbook worker, configuration,
-- schema migrations
-- ---------------------------------------------------------------------

-- wraparound -------------------------------------------------------------
CREATE FUNCTION @extschema@._triage_wraparound(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'wraparound';
    FOR r IN
        SELECT d.datname, age(d.datfrozenxid) AS xid_age, mxid_age(d.datminmxid) AS mxid_age,
               round(100.0 * greatest(age(d.datfrozenxid), mxid_age(d.datminmxid)) / 2147483648, 1) AS pct,
               current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max,
               current_setting('autovacuum_multixact_freeze_max_age')::bigint AS mxid_freeze_max
          FROM pg_database d
         ORDER BY 4 DESC
    LOOP
        IF r.pct >= @extschema@._threshold('wraparound_sev2_pct')
           OR r.xid_age > r.freeze_max * 1.2 OR r.mxid_age > r.mxid_freeze_max * 1.2 THEN
            f.severity := CASE WHEN r.pct >= @extschema@._threshold('wraparound_sev1_pct') THEN 'SEV1'
                               WHEN r.pct >= @extschema@._threshold('wraparound_sev2_pct') THEN 'SEV2'
                               ELSE 'SEV3' END;
            f.finding := format('database %s: xid age %s, multixact age %s (%s%% of the 2^31 hard limit; autovacuum_freeze_max_age %s)',
                                r.datname, r.xid_age, r.mxid_age, r.pct, r.freeze_max);
            f.evidence := jsonb_build_object('datname', r.datname, 'xid_age', r.xid_age, 'mxid_age', r.mxid_age,
                                             'pct_of_limit', r.pct, 'autovacuum_freeze_max_age', r.freeze_max,
                                             'autovacuum_multixact_freeze_max_age', r.mxid_freeze_max);
            f.action := 'find what holds the xmin horizon (see xmin_horizon rows), then VACUUM (FREEZE) the oldest tables of that database';
            f.remedy_sql := format('-- in database %s: SELECT c.oid::regclass, age(c.relfrozenxid) FROM pg_class c WHERE c.relkind IN (''r'', ''m'', ''t'') ORDER BY 2 DESC LIMIT 10; then VACUUM (FREEZE, VERBOSE) <table>;',
                                   @extschema@._one_line(quote_ident(r.datname)));
            RETURN NEXT f;
        END IF;
    END LOOP;
END
$fn$;

-- replication --------------------------------------------------------------
CREATE FUNCTION @extschema@._triage_replication(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'replication';
    FOR r IN SELECT * FROM @extschema@.replication_status() LOOP
        f.severity := NULL;
        IF r.kind = 'replica' AND r.replay_lag_bytes >= @extschema@._threshold('replication_lag_bytes') THEN
            f.severity := CASE WHEN r.replay_lag_bytes >= @extschema@._threshold('replication_lag_sev2_bytes') THEN 'SEV2' ELSE 'SEV3' END;
            f.finding := format('replica %s replays %s behind (%s)', r.name,
                                pg_size_pretty(r.replay_lag_bytes), coalesce(r.replay_lag::text, 'time lag unknown'));
            f.action := 'check the replica''s load, network and hot_standby_feedback conflicts';
            f.remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.replication_status();';
        ELSIF r.kind = 'slot' AND r.wal_status IN ('lost', 'unreserved') THEN
            f.severity := 'SEV2';
            f.finding := format('slot %s: wal_status %s', r.name, r.wal_status);
            f.action := 'the consumer has fallen too far behind: rebuild it, drop the slot';
            f.remedy_sql := format('SELECT pg_drop_replication_slot(%L);', r.name);
        ELSIF r.kind = 'slot' AND NOT r.active AND r.retained_bytes >= @extschema@._threshold('slot_retained_bytes') THEN
            f.severity := 'SEV2';
            f.finding := format('inactive slot %s retains %s of WAL', r.name, pg_size_pretty(r.retained_bytes));
            f.action := 'restart its consumer or drop the slot before pg_wal fills the disk';
            f.remedy_sql := format('SELECT pg_drop_replication_slot(%L);', r.name);
        ELSIF r.kind = 'archiver' AND r.state = 'failing' THEN
            f.severity := 'SEV2';
            f.finding := format('WAL archiving fails (%s failures, last %s at %s); %s file(s) waiting',
                                r.failed_count, r.last_failed_wal, date_trunc('second', r.last_failure), coalesce(r.files_waiting::text, 'unknown'));
            f.action := 'fix archive_command (see the server log): WAL piles up in pg_wal';
            f.remedy_sql := 'SELECT * FROM pg_stat_archiver;';
        ELSIF r.kind = 'receiver' AND r.state = 'not running' THEN
            f.severity := 'SEV2';
            f.finding := 'standby: WAL receiver not running';
            f.action := 'check primary_conninfo and the primary; see the server log';
            f.remedy_sql := 'SELECT * FROM pg_stat_wal_receiver;';
        END IF;
        IF f.severity IS NOT NULL THEN
            f.evidence := jsonb_strip_nulls(jsonb_build_object('kind', r.kind, 'name', r.name, 'state', r.state,
                              'pid', r.pid, 'replay_lag_bytes', r.replay_lag_bytes, 'replay_lag_s', @extschema@._secs(r.replay_lag),
                              'retained_bytes', r.retained_bytes, 'wal_status', r.wal_status,
                              'failed_count', r.failed_count, 'files_waiting', r.files_waiting, 'detail', r.detail));
            RETURN NEXT f;
        END IF;
    END LOOP;
END
$fn$;

-- worker ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._triage_worker(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'worker';
    IF NOT @extschema@._is_preloaded() THEN
        f.severity := 'SEV4';
        f.finding := 'pg_runbook is not in shared_preload_libraries: no background worker, no audit ring';
        f.evidence := jsonb_build_object('shared_preload_libraries', current_setting('shared_preload_libraries'));
        f.action := 'add pg_runbook to shared_preload_libraries and restart to enable policies';
        f.remedy_sql := 'ALTER SYSTEM SET shared_preload_libraries = ''pg_runbook'';  -- keep the libraries already listed; then restart';
        RETURN NEXT f;
    ELSE
        SELECT * INTO r FROM @extschema@.worker_status();
        f.evidence := jsonb_build_object('running', r.running, 'paused', r.paused, 'pid', r.pid, 'cycles', r.cycles,
                          'actions', r.actions, 'last_error', r.last_error, 'last_error_at', r.last_error_at,
                          'last_success_at', r.last_success_at);
        IF NOT r.running THEN
            f.severity := 'SEV2';
            f.finding := 'pg_runbook worker is not running: policies are not enforced';
            f.action := 'see the server log for why it exited (database ' || current_setting('pg_runbook.database', true) || ')';
            f.remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.worker_status();';
            RETURN NEXT f;
        ELSIF r.paused THEN
            f.severity := 'SEV3';
            f.finding := 'pg_runbook worker is paused: policies are not enforced';
            f.action := 'resume it when the maintenance that paused it is over';
            f.remedy_sql := 'SELECT ' || '@extschema@' || '.resume_worker();';
            RETURN NEXT f;
        END IF;
        -- the worker keeps its last error beside its last success: an
        -- error that a later successful cycle superseded is over
        IF r.last_error IS NOT NULL
           AND (r.last_success_at IS NULL OR r.last_error_at >= r.last_success_at) THEN
            f.severity := 'SEV3';
            f.finding := format('pg_runbook worker error at %s: %s', date_trunc('second', r.last_error_at), r.last_error);
            f.action := 'fix the cause (policy, privileges) shown in the error';
            f.remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.worker_status();';
            RETURN NEXT f;
        END IF;
    END IF;
END
$fn$;

-- configuration --------------------------------------------------------------
CREATE FUNCTION @extschema@._triage_config(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'config';
    FOR r IN SELECT * FROM @extschema@.config_check() WHERE config_check.severity = 'high' LOOP
        f.severity := 'SEV3';
        f.finding := format('%s = %s: %s', r.setting, r.current_value, r.reason);
        f.evidence := jsonb_build_object('setting', r.setting, 'current_value', r.current_value,
                                         'suggested_value', r.suggested_value, 'config_severity', r.severity);
        f.action := 'change the setting';
        f.remedy_sql := r.remedy_sql;
        RETURN NEXT f;
    END LOOP;
END
$fn$;

-- migrations -----------------------------------------------------------------
CREATE FUNCTION @extschema@._triage_migrations(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'migrations';
    FOR r IN SELECT * FROM @extschema@.migration_status('200ms')
              WHERE status IN ('failed', 'dirty', 'partial', 'locked') LOOP
        f.severity := CASE WHEN r.status = 'locked' THEN 'SEV3' ELSE 'SEV2' END;
        f.finding := format('%s migration %s in %s: %s', r.tool, coalesce(r.migration, ''), r.migration_table, r.status);
        f.evidence := jsonb_strip_nulls(jsonb_build_object('tool', r.tool, 'migration_table', r.migration_table::text,
                          'status', r.status, 'migration', r.migration, 'started_at', r.started_at, 'detail', r.detail));
        f.action := coalesce(r.detail, 'repair the migration, then rerun the tool');
        f.remedy_sql := @extschema@._migration_remedy(r.tool, r.status, r.migration, r.detail, r.remedy);
        RETURN NEXT f;
    END LOOP;
END
$fn$;
-- ---------------------------------------------------------------------
-- triage checks (see 73_triage_checks_sessions.sql): data integrity
-- (checksum failures, invalid indexes, NOT VALID constraints), the server
-- log of the last hour, dead tuples and slow statements of this database
-- ---------------------------------------------------------------------

-- integrity: data page checksum failures (every database) ------------------
CREATE FUNCTION @extschema@._triage_checksum_failures(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'checksum_failures';
    FOR r IN
        SELECT d.datname, coalesce(d.datname, '(shared objects)') AS dbname, d.checksum_failures,
               d.checksum_last_failure
          FROM pg_stat_database d
         WHERE d.checksum_failures > 0
         ORDER BY d.checksum_last_failure DESC NULLS LAST, 2
    LOOP
        f.severity := CASE WHEN r.checksum_last_failure > now() - interval '1 day' THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('%s: %s data page checksum failure(s), the last at %s: storage returned damaged pages',
                            CASE WHEN r.datname IS NULL THEN 'shared catalogs' ELSE 'database ' || quote_ident(r.datname) END,
                            r.checksum_failures, date_trunc('second', r.checksum_last_failure));
        f.evidence := jsonb_build_object('datname', r.datname, 'checksum_failures', r.checksum_failures,
                                         'checksum_last_failure', r.checksum_last_failure,
                                         'stats_reset', (SELECT s.stats_reset FROM pg_stat_database s
                                                          WHERE s.datname IS NOT DISTINCT FROM r.datname));
        f.action := 'find the damaged relations in the server log (WARNING: page verification failed), check the storage, restore damaged tables from backup and REINDEX damaged indexes';
        f.remedy_sql := CASE WHEN r.datname = current_database() OR r.datname IS NULL
                             THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
                             ELSE format('-- in database %s: SELECT * FROM %s.integrity_check();',
                                         @extschema@._one_line(quote_ident(r.datname)), '@extschema@') END
                        || format('  -- the log: SELECT * FROM %s.log_summary(%L) WHERE category = %L;', '@extschema@',
                                  (greatest(ceil(extract(epoch FROM now() - r.checksum_last_failure) / 3600), 1) || ' hours'),
                                  'checksum_failure');
        RETURN NEXT f;
    END LOOP;
END
$fn$;

-- integrity: invalid indexes (this database) ----------------------------------
-- a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY leaves one:
-- not used by queries, still maintained (and a unique one still refuses
-- duplicates).  Builds in progress are not findings.
CREATE FUNCTION @extschema@._triage_invalid_indexes(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'invalid_indexes';
    FOR r IN
        SELECT i.indexrelid::regclass AS idx, i.indrelid::regclass AS tbl, i.indisunique, ic.relname,
               @extschema@.relation_size_nowait(i.indexrelid::regclass) AS bytes
          FROM pg_index i
          JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE NOT i.indisvalid
           AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                            WHERE p.relid = i.indrelid OR p.index_relid = i.indexrelid)
         ORDER BY i.indexrelid::regclass::text
         LIMIT 20
    LOOP
        f.severity := 'SEV3';
        f.finding := format('invalid index %s on %s in %s%s: not used by queries, still maintained on every write%s',
                            r.idx, r.tbl, quote_ident(current_database()),
                            CASE WHEN r.relname ~ '_ccnew[0-9]*$' THEN ' (left by a failed REINDEX CONCURRENTLY)'
                                 WHEN r.relname ~ '_ccold[0-9]*$' THEN ' (old copy left by an interrupted REINDEX CONCURRENTLY)'
                                 ELSE ' (a failed CREATE INDEX CONCURRENTLY)' END,
                            CASE WHEN r.indisunique THEN '; being unique, it still refuses duplicates' ELSE '' END);
        f.evidence := jsonb_build_object('index', r.idx::text, 'table', r.tbl::text, 'datname', current_database(),
                                         'unique', r.indisunique, 'size_bytes', r.bytes);
        f.action := 'rebuild it (REINDEX INDEX CONCURRENTLY) or drop it; find why the build failed in the server log (a unique violation, a deadlock, a cancel)';
        f.remedy_sql := CASE WHEN r.relname ~ '_cc(new|old)[0-9]*$'
                             THEN format('DROP INDEX CONCURRENTLY %s;', r.idx)
                             ELSE format('REINDEX INDEX CONCURRENTLY %s;  -- or DROP INDEX CONCURRENTLY %s;', r.idx, r.idx) END;
        RETURN NEXT f;
    END LOOP;
END
$fn$;

-- integrity: constraints added NOT VALID and never validated (this database) ---
-- existing rows were never checked: orphans (foreign keys) or violating
-- rows may exist.  A foreign key is SEV3, a check or not-null SEV4.
CREATE FUNCTION @extschema@._triage_not_valid_constraints(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'not_valid_constraints';
    FOR r IN
        SELECT co.conname, co.conrelid::regclass AS tbl, co.contype,
               CASE co.contype WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check' WHEN 'n' THEN 'not-null'
                               ELSE co.contype::text END AS kind,
               co.confrelid::regclass AS ref
          FROM pg_constraint co
         WHERE NOT co.convalidated AND co.conrelid <> 0 AND co.conparentid = 0
         ORDER BY co.contype <> 'f', co.conrelid::regclass::text, co.conname
         LIMIT 20
    LOOP
        f.severity := CASE WHEN r.contype = 'f' THEN 'SEV3' ELSE 'SEV4' END;
        f.finding := format('%s constraint %s on %s in %s is NOT VALID: rows written before it was added were never checked%s',
                            r.kind, quote_ident(r.conname), r.tbl, quote_ident(current_database()),
                            CASE WHEN r.contype = 'f' THEN format(' (rows of %s may reference missing rows of %s)', r.tbl, r.ref) ELSE '' END);
        f.evidence := jsonb_build_object('constraint', r.conname, 'table', r.tbl::text, 'type', r.kind,
                                         'references', r.ref::text, 'datname', current_database());
        f.action := 'validate it (a SHARE UPDATE EXCLUSIVE lock: reads and writes go on); if it fails, fix the rows it names';
        f.remedy_sql := format('ALTER TABLE %s VALIDATE CONSTRAINT %I;', r.tbl, r.conname);
        RETURN NEXT f;
    END LOOP;
END
$fn$;

-- the server log of the last hour (cheap: at most 8 MB read from its end) -----
CREATE FUNCTION @extschema@._triage_server_log(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'server_log';
    FOR r IN
        SELECT l.*
          FROM @extschema@.log_summary('1 hour', 8388608) l
         WHERE l.severity = 'PANIC'
            OR l.category IN ('too_many_connections', 'deadlock', 'statement_timeout', 'lock_timeout',
                              'idle_in_transaction_timeout', 'idle_session_timeout', 'transaction_timeout',
                              'out_of_memory', 'disk_full', 'checksum_failure', 'data_corrupted',
                              'index_corrupted')
         ORDER BY l.last_at DESC NULLS LAST
    LOOP
        f.severity := CASE
              WHEN r.category = 'too_many_connections' AND r.last_at > now() - interval '5 min' THEN 'SEV1'
              WHEN r.severity = 'PANIC'
                OR r.category IN ('too_many_connections', 'out_of_memory', 'disk_full', 'checksum_failure',
                                  'data_corrupted', 'index_corrupted') THEN 'SEV2'
              WHEN r.category = 'deadlock' THEN 'SEV3'
              ELSE 'SEV4' END;
        f.finding := format('server log, last hour: %s %s x%s (%s%s), from %s to %s; latest: %s',
                            r.severity, coalesce(r.category, 'error'), r.count,
                            coalesce('SQLSTATE ' || r.sqlstate, 'SQLSTATE not logged'),
                            CASE WHEN r.category = 'too_many_connections' THEN ': clients were refused' ELSE '' END,
                            coalesce(to_char(r.first_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), '?'),
                            coalesce(to_char(r.last_at AT TIME ZONE 'UTC', 'HH24:MI:SS "UTC"'), '?'),
                            left(r.example, 200));
        f.evidence := jsonb_strip_nulls(jsonb_build_object('severity', r.severity, 'sqlstate', r.sqlstate,
                          'category', r.category, 'count', r.count, 'first_at', r.first_at, 'last_at', r.last_at,
                          'example', r.example, 'log_format', r.log_format, 'note', r.note));
        f.action := CASE r.category
              WHEN 'too_many_connections' THEN 'connection slots ran out: find the source (connection_sources), end idle sessions, put a pooler in front'
              WHEN 'deadlock' THEN 'the DETAIL lines of the log name the statements: make the transactions take their locks in one order'
              WHEN 'out_of_memory' THEN 'lower work_mem / maintenance_work_mem or the number of sessions; check the server''s memory'
              WHEN 'disk_full' THEN 'free disk space now (WAL, logs, temp files): see disk_usage()'
              WHEN 'checksum_failure' THEN 'storage returned damaged pages: see integrity_check() and the server log'
              WHEN 'data_corrupted' THEN 'storage returned damaged pages: see integrity_check() and the server log'
              WHEN 'index_corrupted' THEN 'REINDEX the index the log names; see integrity_check()'
              ELSE CASE WHEN r.severity = 'PANIC' THEN 'the server restarted after a PANIC: read the log around it'
                        ELSE 'timeouts ended these statements or sessions: check which application and why (the log''s context lines)' END
              END;
        f.remedy_sql := CASE r.category
              WHEN 'too_many_connections' THEN format('SELECT * FROM %s.connection_sources;  -- then: SELECT * FROM %s.kill_idle(%L, dry_run => true);',
                                                      '@extschema@', '@extschema@', '30 min')
              WHEN 'disk_full' THEN format('SELECT * FROM %s.disk_usage();', '@extschema@')
              WHEN 'checksum_failure' THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
              WHEN 'data_corrupted' THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
              WHEN 'index_corrupted' THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
              ELSE format('SELECT * FROM %s.log_summary(%L) WHERE %s;', '@extschema@', '1 hour',
                          CASE WHEN r.category IS NULL THEN 'category IS NULL' ELSE format('category = %L', r.category) END)
              END;
        RETURN NEXT f;
    END LOOP;
END
$fn$;

-- dead tuples (this database) ----------------------------------------------------
CREATE FUNCTION @extschema@._triage_dead_tuples(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'dead_tuples';
    SELECT count(*) AS cnt,
           jsonb_agg(jsonb_build_object('relation', x.rel, 'n_dead_tup', x.n_dead_tup, 'dead_pct', x.pct,
                                        'last_autovacuum', x.last_autovacuum) ORDER BY x.n_dead_tup DESC)
               FILTER (WHERE x.rn <= 5) AS top,
           (array_agg(x.rel ORDER BY x.n_dead_tup DESC))[1] AS worst
      INTO r
      FROM (SELECT format('%I.%I', t.schemaname, t.relname) AS rel, t.n_dead_tup, t.last_autovacuum,
                   round(100.0 * t.n_dead_tup / nullif(t.n_live_tup + t.n_dead_tup, 0), 1) AS pct,
                   row_number() OVER (ORDER BY t.n_dead_tup DESC) AS rn
              FROM pg_stat_user_tables t
             WHERE t.n_dead_tup >= @extschema@._threshold('dead_tuples_min')
               AND 100.0 * t.n_dead_tup / nullif(t.n_live_tup + t.n_dead_tup, 0) >= @extschema@._threshold('dead_tuples_pct')) x;
    IF r.cnt > 0 THEN
        f.severity := 'SEV3';
        f.finding := format('%s table(s) in %s with at least %s%% dead tuples', r.cnt, current_database(),
                            @extschema@._threshold('dead_tuples_pct'));
        f.evidence := jsonb_build_object('datname', current_database(), 'count', r.cnt, 'tables', r.top);
        f.action := 'check that autovacuum keeps up and nothing holds the xmin horizon; vacuum the worst tables';
        f.remedy_sql := format('VACUUM (VERBOSE, ANALYZE) %s;', r.worst);
        RETURN NEXT f;
    END IF;
END
$fn$;

-- slow queries (optional: pg_stat_statements) ----------------------------------
CREATE FUNCTION @extschema@._triage_slow_queries(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'slow_queries';
    SELECT count(*) AS cnt, max(q.mean_ms) AS worst,
           jsonb_agg(jsonb_build_object('queryid', q.queryid, 'mean_ms', q.mean_ms, 'calls', q.calls,
                                        'query', left(q.query, 200)) ORDER BY q.mean_ms DESC) AS list
      INTO r
      FROM @extschema@.slow_queries(5, 'mean', @extschema@._threshold('slow_query_min_calls')::bigint) q
     WHERE q.mean_ms >= @extschema@._threshold('slow_query_mean_ms');
    IF r.cnt > 0 THEN
        f.severity := 'SEV3';
        f.finding := format('%s statement(s) average at least %s ms per call (worst %s ms)', r.cnt,
                            @extschema@._threshold('slow_query_mean_ms'), r.worst);
        f.evidence := jsonb_build_object('count', r.cnt, 'statements', r.list);
        f.action := 'EXPLAIN (ANALYZE, BUFFERS) the worst, look for missing indexes';
        f.remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.slow_queries(10);';
        RETURN NEXT f;
    END IF;
END
$fn$;
-- every check: pg_monitor may run it (triage() is SECURITY INVOKER), PUBLIC not
DO $do$
DECLARE
    fn regprocedure;
BEGIN
    FOR fn IN
        SELECT p.oid::regprocedure
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
           AND p.prorettype OPERATOR(pg_catalog.=) '@extschema@.triage_finding'::pg_catalog.regtype
           AND p.proname OPERATOR(pg_catalog.~~) '\_triage\_%'
         ORDER BY p.oid
    LOOP
        EXECUTE pg_catalog.format('COMMENT ON FUNCTION %s IS %L', fn,
                                  'internal: a check of triage(), run by _triage_rows()');
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO pg_monitor', fn);
    END LOOP;
END
$do$;

-- ---------------------------------------------------------------------
-- triage: same signature, more checks (see 70_log_summary.sql's header).
-- The checks run in the order of the list below (it numbers the findings:
-- ord), each in its own subtransaction: a check that fails (no privilege,
-- a view missing on this server, the log not readable, no
-- pg_stat_statements) is one SEV4 finding that says why, and the others
-- still run.
-- ---------------------------------------------------------------------
CREATE OR REPLACE FUNCTION @extschema@._triage_rows(
    OUT severity text,
    OUT check_name text,
    OUT finding text,
    OUT evidence jsonb,
    OUT action text,
    OUT remedy_sql text,
    OUT ord integer)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    checks  CONSTANT text[] := ARRAY[
        'connections', 'idle_in_transaction_blocking', 'lock_waits', 'long_running',
        'idle_in_transaction', 'xmin_horizon', 'prepared_transactions', 'replication_slots_xmin',
        'wraparound', 'replication', 'worker', 'config', 'migrations',
        'checksum_failures', 'invalid_indexes', 'not_valid_constraints', 'server_log',
        'dead_tuples', 'slow_queries'];
    sess    @extschema@.sessions[];
    waits   jsonb;
    roots   integer[];
    chk     text;
    f       @extschema@.triage_finding;
    n       integer := 0;
    errmsg  text;
    errhint text;
    errcode text;
BEGIN
    -- One snapshot of every backend, shared by the checks, and the lock
    -- waits: pid -> seconds waited for the lock (not the statement), and
    -- the root blockers of the wait queues.
    sess := ARRAY(SELECT s FROM @extschema@.sessions s);
    SELECT coalesce(jsonb_object_agg(b.pid, round(extract(epoch FROM b.wait_age), 1)), '{}'),
           array_agg(DISTINCT b.root_blocker ORDER BY b.root_blocker) FILTER (WHERE b.root_blocker IS NOT NULL)
      INTO waits, roots
      FROM @extschema@.blocking_locks() b;

    FOREACH chk IN ARRAY checks LOOP
        BEGIN
            FOR f IN EXECUTE format('SELECT * FROM %I.%I($1, $2, $3)', '@extschema@', '_triage_' || chk)
                     USING sess, waits, roots
            LOOP
                severity := f.severity; check_name := f.check_name; finding := f.finding;
                evidence := f.evidence; action := f.action; remedy_sql := f.remedy_sql;
                n := n + 1; ord := n; RETURN NEXT;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            -- the server log not readable here (collector off with stderr
            -- not in a file, no file-read rights) is said once, as
            -- information, like any other check that could not run
            GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
            severity := 'SEV4'; check_name := chk;
            finding := CASE chk WHEN 'server_log' THEN 'server log not read: ' ELSE 'check not run: ' END || errmsg;
            evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
            action := coalesce(nullif(errhint, ''),
                               CASE chk WHEN 'server_log' THEN 'see log_summary()'
                                        WHEN 'slow_queries' THEN 'install pg_stat_statements'
                                        ELSE 'grant pg_monitor to the caller' END);
            remedy_sql := NULL;
            n := n + 1; ord := n; RETURN NEXT;
        END;
    END LOOP;

    IF n = 0 THEN
        severity := 'SEV4'; check_name := 'summary';
        finding := 'no problem found';
        evidence := jsonb_build_object('checked_at', now());
        action := 'none'; remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_rows() IS
'internal: the findings of triage(), in check order';

-- triage() itself is 1.0's (it orders _triage_rows()); 99_search_path.sql
-- pins its search path
COMMENT ON FUNCTION @extschema@.triage() IS
'what is wrong now, SEV1 (act now) to SEV4 (information), with evidence and the SQL to run next (audited runbook.terminate/cancel, never the bare built-ins); includes data integrity (checksum failures, invalid indexes, NOT VALID constraints, failed migrations) and the server log of the last hour; thresholds in alert_thresholds';
-- ---------------------------------------------------------------------
-- incident_message: the seeds' communication templates (internal
-- declaration, update, resolution; status page investigating, identified,
-- resolved), filled from triage(), connections(), the server log and the
-- audit (recent_actions()).  What the server cannot know stays "____".
-- Status-page texts are for the public: no pid, user, query or finding.
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._utc(ts timestamptz)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') $$;

COMMENT ON FUNCTION @extschema@._utc(timestamptz) IS
'internal: a time as incident messages print it (UTC, to the second)';
REVOKE ALL ON FUNCTION @extschema@._utc(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._utc(timestamptz) TO pg_monitor;

CREATE FUNCTION @extschema@._server_line()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('PostgreSQL %s (%s), database %s, server %s',
                  current_setting('server_version'),
                  CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END,
                  quote_ident(current_database()),
                  coalesce(host(inet_server_addr()) || ':' || inet_server_port(), 'local socket'))
$$;

COMMENT ON FUNCTION @extschema@._server_line() IS
'internal: the server as incident messages name it';
REVOKE ALL ON FUNCTION @extschema@._server_line() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._server_line() TO pg_monitor;

-- Impact / diagnostic lines from triage rows (f) and connections() (conn).
CREATE FUNCTION @extschema@._impact_lines(f jsonb, conn jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    out text;
    e   jsonb;
    logl text := '';
BEGIN
    out := format(E'- Connections: %s of %s usable in use (%s%%): %s active, %s idle, %s idle in transaction\n',
                  conn->>'in_use', conn->>'usable', conn->>'pct_used', conn->>'active', conn->>'idle',
                  conn->>'idle_in_transaction');
    SELECT x INTO e FROM jsonb_array_elements(f) x WHERE x->>'check_name' = 'lock_waits' LIMIT 1;
    IF e IS NULL THEN
        out := out || E'- Sessions waiting on locks: none\n';
    ELSE
        out := out || format(E'- Sessions waiting on locks: %s, the longest for %s s; root blocker pid(s): %s\n',
                             e->'evidence'->>'waiters', e->'evidence'->>'max_wait_s',
                             coalesce(nullif((SELECT string_agg(v, ', ') FROM jsonb_array_elements_text(e->'evidence'->'root_blockers') v), ''), 'unknown'));
    END IF;
    SELECT x INTO e FROM jsonb_array_elements(f) x WHERE x->>'check_name' = 'long_running' LIMIT 1;
    IF e IS NOT NULL THEN
        out := out || format(E'- Long-running statements: %s, the longest for %s s\n',
                             e->'evidence'->>'count', e->'evidence'->>'max_age_s');
    END IF;
    FOR e IN SELECT x FROM jsonb_array_elements(f) x WHERE x->>'check_name' = 'server_log' LOOP
        IF e->'evidence' ? 'count' THEN
            logl := logl || format('%s%s %s x%s (%s, last at %s)', CASE WHEN logl = '' THEN '' ELSE '; ' END,
                                   e->'evidence'->>'severity', coalesce(e->'evidence'->>'category', 'error'),
                                   e->'evidence'->>'count', coalesce('SQLSTATE ' || (e->'evidence'->>'sqlstate'), 'SQLSTATE not logged'),
                                   to_char((e->'evidence'->>'last_at')::timestamptz AT TIME ZONE 'UTC', 'HH24:MI:SS "UTC"'));
        ELSE
            logl := logl || CASE WHEN logl = '' THEN '' ELSE '; ' END || @extschema@._one_line(e->>'finding');
        END IF;
    END LOOP;
    out := out || '- Errors in the server log (last hour): '
               || CASE WHEN logl = '' THEN 'none of too many clients, deadlocks, timeouts, out of memory, disk full, corruption'
                       ELSE logl END || E'\n';
    RETURN out;
END
$fn$;

COMMENT ON FUNCTION @extschema@._impact_lines(jsonb, jsonb) IS
'internal: the impact and diagnostic lines of incident messages';
REVOKE ALL ON FUNCTION @extschema@._impact_lines(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._impact_lines(jsonb, jsonb) TO pg_monitor;

-- Errors of the server log since a time, one line per group (resolve).
CREATE FUNCTION @extschema@._log_lines(since timestamptz)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    out text := '';
    r   record;
BEGIN
    BEGIN
        FOR r IN SELECT * FROM @extschema@.log_summary(greatest(now() - since, interval '0')) l
                  ORDER BY l.count DESC, l.severity LIMIT 8 LOOP
            IF r.count = 0 THEN
                -- nothing counted, and the read did not cover the period
                out := out || '- Server log not fully read: ' || @extschema@._one_line(r.note) || E'\n';
                CONTINUE;
            END IF;
            out := out || format(E'- Server log since %s: %s %s x%s (%s), last at %s: %s\n',
                                 to_char(since AT TIME ZONE 'UTC', 'HH24:MI "UTC"'), r.severity,
                                 coalesce(r.category, 'error'), r.count,
                                 coalesce('SQLSTATE ' || r.sqlstate, 'SQLSTATE not logged'),
                                 coalesce(to_char(r.last_at AT TIME ZONE 'UTC', 'HH24:MI:SS "UTC"'), '?'),
                                 left(r.example, 120));
        END LOOP;
        IF out = '' THEN
            out := format(E'- Server log since %s: no error\n', to_char(since AT TIME ZONE 'UTC', 'HH24:MI "UTC"'));
        END IF;
    EXCEPTION WHEN OTHERS THEN
        out := '- Server log not read: ' || @extschema@._one_line(SQLERRM) || E'\n';
    END;
    RETURN out;
END
$fn$;

COMMENT ON FUNCTION @extschema@._log_lines(timestamptz) IS
'internal: the server log''s errors since a time, as lines of an incident message';
REVOKE ALL ON FUNCTION @extschema@._log_lines(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._log_lines(timestamptz) TO pg_monitor;

-- Data integrity status from the triage rows (resolve).
CREATE FUNCTION @extschema@._integrity_lines(f jsonb)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(
             format(E'- %s: %s\n', v.label,
                    coalesce((SELECT string_agg(format('%s %s', e->>'severity', @extschema@._one_line(e->>'finding')), '; ')
                                FROM jsonb_array_elements(f) e
                               WHERE e->>'check_name' = v.chk
                                 AND (v.chk <> 'server_log' OR e->'evidence'->>'category' IN
                                      ('checksum_failure', 'data_corrupted', 'index_corrupted'))),
                             v.clean)), '' ORDER BY v.n)
      FROM (VALUES (1, 'checksum_failures', 'Checksum failures', 'none in pg_stat_database (NULL counters: checksums off)'),
                   (2, 'invalid_indexes', 'Invalid indexes', 'none in this database'),
                   (3, 'not_valid_constraints', 'NOT VALID constraints', 'none in this database'),
                   (4, 'migrations', 'Migrations', 'no failed, partial, dirty or locked migration found'),
                   (5, 'server_log', 'Server log', 'no corruption error in the last hour')) v(n, chk, label, clean)
$$;

COMMENT ON FUNCTION @extschema@._integrity_lines(jsonb) IS
'internal: the data integrity lines of the resolution message';
REVOKE ALL ON FUNCTION @extschema@._integrity_lines(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._integrity_lines(jsonb) TO pg_monitor;

CREATE FUNCTION @extschema@.incident_message(
    kind text,
    started_at timestamptz DEFAULT NULL,
    next_update interval DEFAULT '30 min',
    eta interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    kinds    CONSTANT text[] := ARRAY['declare', 'update', 'resolve', 'status_investigating',
                                      'status_identified', 'status_resolved'];
    t_now    timestamptz := now();
    t0       timestamptz := started_at;
    sign     text;
    f        jsonb;          -- triage rows, ordered
    worst    text;
    counts   text;
    c        record;
    r        record;
    lines    text := '';
    msg      text;
    acts     text := '';
    reasons  text := '';
    k        integer;
    preload  boolean := @extschema@._is_preloaded();
BEGIN
    IF kind IS NULL OR NOT kind = ANY (kinds) THEN
        RAISE EXCEPTION 'unknown incident message kind: %', coalesce(quote_literal(kind), 'NULL')
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Use one of: ' || array_to_string(kinds, ', ') || '.';
    END IF;
    IF next_update IS NULL OR next_update <= interval '0' THEN
        RAISE EXCEPTION 'next_update must be a positive interval'
              USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass when the next update is due, such as ''30 min''.';
    END IF;
    IF eta < interval '0' THEN
        RAISE EXCEPTION 'eta must not be negative'
              USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the expected time to recovery, such as ''20 min'', or NULL.';
    END IF;
    IF started_at > t_now THEN
        RAISE EXCEPTION 'started_at must not be in the future'
              USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass when the incident started, or NULL to estimate it from the live state.';
    END IF;

    -- the public texts: no internals
    IF kind = 'status_investigating' THEN
        RETURN format(E'[Title: Database Issue]\n\nStatus: Investigating\n\n'
                      'We are currently experiencing an issue with our database that may affect our application. '
                      'Our team is investigating the issue and working to restore service as quickly as possible.\n\n'
                      'We will provide updates as more information becomes available.\n\nTime: %s\n',
                      @extschema@._utc(t_now));
    ELSIF kind = 'status_identified' THEN
        RETURN format(E'[Title: Database Issue]\n\nStatus: Identified\n\n'
                      'We have identified the cause of the current database issue and are implementing a fix. '
                      'We expect to restore service %s.\n\n'
                      'We apologize for the inconvenience and appreciate your patience.\n\nTime: %s\n',
                      CASE WHEN eta IS NULL THEN 'as soon as possible'
                           ELSE 'within ' || CASE WHEN eta < interval '1 hour'
                                                  THEN greatest(ceil(extract(epoch FROM eta) / 60), 1) || ' minutes'
                                                  ELSE round(extract(epoch FROM eta) / 3600, 1) || ' hours' END
                                || ' (by ' || to_char((t_now + eta) AT TIME ZONE 'UTC', 'HH24:MI "UTC"') || ')' END,
                      @extschema@._utc(t_now));
    ELSIF kind = 'status_resolved' THEN
        RETURN format(E'[Title: Database Issue]\n\nStatus: Resolved\n\n'
                      'The database issue affecting our application has been resolved. All systems are now operating normally.\n\n'
                      'We apologize for any inconvenience this may have caused.\n\nTime: %s\n',
                      @extschema@._utc(t_now));
    END IF;

    -- the internal texts: the same facts as triage()
    SELECT jsonb_agg(to_jsonb(t) ORDER BY t.n), min(t.severity) FILTER (WHERE t.check_name <> 'summary')
      INTO f, worst
      FROM (SELECT row_number() OVER () AS n, * FROM @extschema@.triage()) t;
    SELECT string_agg(x.cnt || ' ' || x.severity, ', ' ORDER BY x.severity) INTO counts
      FROM (SELECT e->>'severity' AS severity, count(*) AS cnt FROM jsonb_array_elements(f) e
             WHERE e->>'check_name' <> 'summary' GROUP BY 1) x;
    SELECT * INTO c FROM @extschema@.connections();

    -- when it started: the caller's word, else the earliest sign still visible
    IF t0 IS NULL THEN
        SELECT x.ts, x.what INTO t0, sign FROM (
            SELECT t_now - make_interval(secs => (e->'evidence'->>'max_wait_s')::float8) AS ts,
                   'the longest lock wait began' AS what
              FROM jsonb_array_elements(f) e WHERE e->>'check_name' = 'lock_waits'
            UNION ALL
            SELECT t_now - make_interval(secs => (e->'evidence'->>'state_age_s')::float8),
                   format('pid %s went idle in transaction', e->'evidence'->>'pid')
              FROM jsonb_array_elements(f) e WHERE e->>'check_name' = 'idle_in_transaction_blocking'
            UNION ALL
            SELECT t_now - make_interval(secs => (e->'evidence'->>'max_age_s')::float8),
                   'the longest-running statement started'
              FROM jsonb_array_elements(f) e WHERE e->>'check_name' = 'long_running'
            UNION ALL
            SELECT (e->'evidence'->>'first_at')::timestamptz,
                   format('first %s in the server log', coalesce(e->'evidence'->>'category', 'error'))
              FROM jsonb_array_elements(f) e
             WHERE e->>'check_name' = 'server_log' AND e->>'severity' < 'SEV4' AND e->'evidence' ? 'first_at') x
         WHERE x.ts IS NOT NULL
         ORDER BY x.ts LIMIT 1;
    ELSE
        sign := 'given';
    END IF;

    -- the SEV1-SEV3 findings, worst first
    k := 0;
    FOR r IN SELECT e->>'severity' AS severity, e->>'check_name' AS check_name, e->>'finding' AS finding,
                    e->>'action' AS action, e->>'remedy_sql' AS remedy_sql
               FROM jsonb_array_elements(f) WITH ORDINALITY AS x(e, n)
              WHERE e->>'severity' < 'SEV4' ORDER BY x.n LOOP
        k := k + 1;
        EXIT WHEN k > 6;
        lines := lines || format(E'- %s %s: %s\n', r.severity, r.check_name, r.finding);
    END LOOP;
    IF k = 0 THEN
        lines := E'- triage() finds no SEV1-SEV3 problem right now\n';
    END IF;

    -- the audit since the start (the ring: every action and skip, also on standbys)
    IF NOT preload THEN
        acts := E'- audit ring unavailable: pg_runbook is not in shared_preload_libraries\n';
    ELSE
        BEGIN
            FOR r IN SELECT a.acted_at, a.actor, a.acting_role, a.pid, a.usename, a.application_name,
                            a.action, a.outcome, a.reason
                       FROM @extschema@.recent_actions() a
                      WHERE a.acted_at >= coalesce(t0, t_now - interval '1 hour') AND a.outcome <> 'dry_run'
                      ORDER BY a.seq LIMIT 20 LOOP
                acts := acts || format(E'- %s %s pid %s (%s, %s): %s by %s as %s%s\n',
                                       to_char(r.acted_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), r.action, r.pid,
                                       coalesce(r.usename::text, '?'), coalesce(nullif(r.application_name, ''), 'no application_name'),
                                       r.outcome, r.actor, r.acting_role,
                                       CASE WHEN r.reason IS NOT NULL THEN ' -- ' || @extschema@._one_line(r.reason) ELSE '' END);
                IF r.outcome IN ('terminated', 'cancelled') AND r.reason IS NOT NULL THEN
                    reasons := reasons || format(E'- pid %s was %s: %s\n', r.pid, r.outcome, @extschema@._one_line(r.reason));
                END IF;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            acts := '- audit ring unavailable: ' || @extschema@._one_line(SQLERRM) || E'\n';
        END;
        IF acts = '' THEN
            acts := format(E'- none recorded in the audit since %s\n', @extschema@._utc(coalesce(t0, t_now - interval '1 hour')));
        END IF;
    END IF;

    IF kind = 'declare' THEN
        msg := format(E'@channel INCIDENT DECLARED: Database Issue\n\n'
                      'Severity: %s\nTime Detected: %s\n%sDetected By: pg_runbook triage() on %s\n\n'
                      'Description:\n%s\n'
                      'Impact:\n%s- %% of users affected: ____\n- Functionality affected: ____\n- Business impact: ____\n\n'
                      'Current Status:\n- Investigation in progress\n- Response team assembled: ____\n- Findings: %s (SELECT * FROM %s.triage();)\n\n'
                      'Next Update:\n%s\n\nIncident Channel: #incident-%s-database-issue\n',
                      coalesce(worst, 'SEV4'), @extschema@._utc(t_now),
                      CASE WHEN t0 IS NOT NULL AND sign <> 'given' THEN format(E'First Sign: %s (%s)\n', @extschema@._utc(t0), sign)
                           WHEN t0 IS NOT NULL THEN format(E'Started: %s\n', @extschema@._utc(t0)) ELSE '' END,
                      @extschema@._server_line(),
                      lines,
                      @extschema@._impact_lines(f, to_jsonb(c)),
                      coalesce(counts, 'none'), '@extschema@',
                      @extschema@._utc(t_now + next_update),
                      to_char(t_now AT TIME ZONE 'UTC', 'YYYYMMDD'));
    ELSIF kind = 'update' THEN
        msg := format(E'@channel INCIDENT UPDATE: Database Issue\n\n'
                      'Time: %s\nElapsed Time: %s\n\n'
                      'Current Status:\n- Severity now: %s\n%s\n'
                      'Diagnostic Information:\n%s\n'
                      'Actions Taken:\n%s\n'
                      'Next Steps:\n%s\n'
                      'Estimated Resolution Time:\n%s\n\n'
                      'Next Update:\n%s\n',
                      @extschema@._utc(t_now),
                      CASE WHEN t0 IS NULL THEN '____ (pass started_at)'
                           ELSE format('%s (since %s%s)', date_trunc('second', t_now - t0), @extschema@._utc(t0),
                                       CASE WHEN sign <> 'given' THEN ', when ' || sign ELSE '' END) END,
                      coalesce(worst, 'SEV4'), lines,
                      @extschema@._impact_lines(f, to_jsonb(c)),
                      acts,
                      coalesce((SELECT string_agg(format(E'- %s: %s', @extschema@._one_line(e->>'action'),
                                                         coalesce(e->>'remedy_sql', 'see triage()')), E'\n' ORDER BY n)
                                  FROM jsonb_array_elements(f) WITH ORDINALITY AS x(e, n)
                                 WHERE e->>'severity' < 'SEV4' AND n <= 3) || E'\n', E'- keep watching: SELECT * FROM ' || '@extschema@' || E'.triage();\n'),
                      CASE WHEN eta IS NULL THEN 'Under investigation'
                           ELSE format('%s (in %s)', @extschema@._utc(t_now + eta), eta) END,
                      @extschema@._utc(t_now + next_update));
    ELSE  -- resolve
        msg := format(E'@channel INCIDENT RESOLVED: Database Issue\n\n'
                      'Time Resolved: %s\nTotal Duration: %s\n\n'
                      'Resolution:\n%s%s\n'
                      'Root Cause:\n%s\n'
                      'Impact Summary:\n%s- Duration of impact: %s\n- %% of users affected: ____\n- Business impact: ____\n- Data impact, if any: ____\n\n'
                      'Data Integrity Status:\n%s\n'
                      'Follow-up:\n- Post-incident review scheduled for ____\n- The record: SELECT %s.incident_report();\n\n'
                      'Thank you to everyone who helped resolve this incident.\n',
                      @extschema@._utc(t_now),
                      CASE WHEN t0 IS NULL THEN '____ (pass started_at)'
                           ELSE format('%s (from %s)', date_trunc('second', t_now - t0), @extschema@._utc(t0)) END,
                      acts,
                      CASE WHEN worst IS NULL OR worst = 'SEV4' THEN E'- triage() now finds no SEV1-SEV3 problem\n'
                           ELSE E'- NOTE: triage() still reports:\n' || lines END,
                      CASE WHEN reasons = '' THEN E'____\n' ELSE E'____ (the audit''s reasons for the remedies:)\n' || reasons END,
                      @extschema@._log_lines(coalesce(t0, t_now - interval '1 hour')),
                      CASE WHEN t0 IS NULL THEN '____' ELSE date_trunc('second', t_now - t0)::text END,
                      @extschema@._integrity_lines(f),
                      '@extschema@');
    END IF;
    RETURN msg;
END
$fn$;

COMMENT ON FUNCTION @extschema@.incident_message(text, timestamptz, interval, interval) IS
'an incident message ready to paste, from the seeds'' communication templates: declare, update, resolve (internal, filled from triage(), connections, the server log and the audit) and status_investigating, status_identified, status_resolved (status page, no internals)';
REVOKE ALL ON FUNCTION @extschema@.incident_message(text, timestamptz, interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.incident_message(text, timestamptz, interval, interval) TO pg_monitor;
-- ---------------------------------------------------------------------
-- Runs after every other step: what a re-created function lacks of the
-- grants noted in 00_header.sql (by function name) is granted again, so a
-- user's GRANT EXECUTE ON FUNCTION runbook.kill_idle(...) TO oncall
-- survives ALTER EXTENSION pg_runbook UPDATE.  The owner's own entry and
-- grants still present are left alone.
-- ---------------------------------------------------------------------
DO $do$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT p.oid::pg_catalog.regprocedure AS fn, e.privilege_type, e.grantee, e.is_grantable
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
          JOIN pg_catalog.jsonb_each(coalesce(pg_catalog.current_setting('pg_runbook_upgrade.acl', true), '{}')::pg_catalog.jsonb)
               AS s(name, acls) ON s.name OPERATOR(pg_catalog.=) p.proname::pg_catalog.text
         CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(s.acls) AS a(item)
         CROSS JOIN LATERAL pg_catalog.aclexplode(ARRAY[a.item::pg_catalog.aclitem]) AS e
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=)
               (SELECT x.oid FROM pg_catalog.pg_extension x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_runbook')
           AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND e.grantee OPERATOR(pg_catalog.<>) p.proowner
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(p.proacl) AS c
                            WHERE c.grantee OPERATOR(pg_catalog.=) e.grantee
                              AND c.privilege_type OPERATOR(pg_catalog.=) e.privilege_type)
         ORDER BY 1, 3
    LOOP
        EXECUTE pg_catalog.format('GRANT %s ON FUNCTION %s TO %s%s', r.privilege_type, r.fn,
                                  CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END,
                                  CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$do$;
-- ---------------------------------------------------------------------
-- Runs last (99_): every function of the extension pins its search path.
-- Functions created by 1.0 (and any fragment that forgot to) get
-- SET search_path = pg_catalog, pg_temp: catalog names resolve in
-- pg_catalog before anything a user can create, pg_temp only last, and no
-- ALTER DATABASE / ALTER ROLE ... SET search_path of a caller reaches
-- them.  Functions that set a search path already keep theirs.
-- (LANGUAGE sql functions with a SET clause are not inlined; none of
-- pg_runbook's is inlinable in a way that matters: see docs/security.md.)
-- ---------------------------------------------------------------------
DO $do$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=)
               (SELECT e.oid FROM pg_catalog.pg_extension e
                 WHERE e.extname OPERATOR(pg_catalog.=) 'pg_runbook')
           AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) AS c(setting)
                            WHERE c.setting OPERATOR(pg_catalog.~~) 'search\_path=%')
         ORDER BY p.oid
    LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$do$;
