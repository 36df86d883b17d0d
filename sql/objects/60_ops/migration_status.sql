-- _migration_status(): one database's part of runbook.migration_status()
-- (migration_status_server.sql runs it in every database): failed or
-- stuck migrations of Prisma, Rails, Flyway, Liquibase, Django, Alembic,
-- Knex and goose, held migration locks, the remedy: what to do (remedy, prose), the tool's shell command
-- (remedy_command) and the SQL (remedy_sql), each built by _runnable()
-- of its kind (docs/security.md, Emitted text), to be run in the database
-- of its row (datname); its table reads keep within the database's time
-- budget (_probe_budget_ms()).

-- Single-quoted for a POSIX shell: 'it'\''s'.
CREATE OR REPLACE FUNCTION @extschema@._shell_quote(s text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT $q$'$q$ || replace(s, $q$'$q$, $q$'\''$q$) || $q$'$q$ $fn$;

COMMENT ON FUNCTION @extschema@._shell_quote(text) IS
'internal: a string single-quoted for a POSIX shell';

REVOKE ALL ON FUNCTION @extschema@._shell_quote(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._shell_quote(text) TO pg_monitor;

-- migration_status(): views and foreign tables named like migration tables are
-- reported as refused; values in detail are shown with their control
-- characters visible; shell commands quote the migration name as one word

CREATE OR REPLACE FUNCTION @extschema@._migration_status(
    probe_timeout interval,
    OUT tool text,
    OUT migration_table regclass,
    OUT status text,
    OUT migration text,
    OUT started_at timestamptz,
    OUT finished_at timestamptz,
    OUT detail text,
    OUT remedy text,
    OUT remedy_command text,
    OUT remedy_sql text,
    OUT datname name,
    OUT schemaname name,
    OUT relname name)
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
    budget_ms integer;
BEGIN
    IF probe_timeout IS NULL OR probe_timeout <= interval '0' THEN
        RAISE EXCEPTION 'probe_timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    timeout_ms := greatest(1, least(extract(epoch FROM probe_timeout) * 1000, 2147483647))::integer;

    -- prisma migrate holds advisory lock 72707369 (bigint form) while it
    -- runs; pg_locks is read only where prisma has its table (it copies the
    -- whole lock table, and a database without migration tables reads
    -- nothing but pg_class: a check that runs in every database)
    prisma_locked := EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = '_prisma_migrations' AND c.relkind IN ('r', 'p'))
        AND EXISTS (
        SELECT 1 FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 72707369
           AND l.objsubid = 1 AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()));

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
                       CASE WHEN logs IS NOT NULL THEN %3$I._runnable('text', 'failed: %%s', left(logs, 500))
                            WHEN %2$L::boolean THEN 'started, not finished: a prisma migrate holds its lock, so it is probably running now'
                            ELSE 'started and never finished, and no prisma migrate holds its lock: the process died part-way' END AS detail,
                       CASE WHEN logs IS NOT NULL
                            THEN 'fix the database, then mark the migration rolled back (remedy_command; --applied instead if you completed it by hand)'
                            WHEN %2$L::boolean THEN 'wait for it; if its session is stuck, see the locked row'
                            ELSE 'check what it applied, then mark the migration rolled back (remedy_command)' END AS remedy,
                       CASE WHEN logs IS NOT NULL OR NOT %2$L::boolean
                            THEN %3$I._runnable('shell', 'npx prisma migrate resolve --rolled-back %%Q', migration_name::text) END AS remedy_command
                  FROM %1$s
                 WHERE finished_at IS NULL AND rolled_back_at IS NULL
                UNION ALL
                (SELECT 'last_applied', migration_name, started_at, finished_at,
                        applied_steps_count || ' step(s)', NULL, NULL
                   FROM %1$s WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL
                  ORDER BY finished_at DESC, started_at DESC LIMIT 1)$q$, t.tbl, prisma_locked, '@extschema@');
        WHEN 'flyway_schema_history' THEN
            tool_name := 'flyway';
            q := format($q$
                SELECT 'failed' AS status,
                       concat_ws(' ', version, description) AS migration,
                       installed_on::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       %2$I._runnable('text', 'installed_rank %%s, script %%s, by %%s', installed_rank, script::text, installed_by::text) AS detail,
                       'fix or revert what the script did, then let flyway repair its history (remedy_command)' AS remedy,
                       'flyway repair' AS remedy_command
                  FROM %1$s WHERE NOT success
                UNION ALL
                (SELECT 'last_applied', concat_ws(' ', version, description), installed_on::timestamptz, NULL,
                        %2$I._runnable('text', 'installed_rank %%s, script %%s, %%s ms', installed_rank, script::text, execution_time), NULL, NULL
                   FROM %1$s WHERE success
                  ORDER BY installed_rank DESC LIMIT 1)$q$, t.tbl, '@extschema@');
        WHEN 'schema_migrations' THEN
            IF 'dirty' = ANY (cols) THEN
                tool_name := 'golang-migrate';
                q := format($q$
                    SELECT CASE WHEN dirty THEN 'dirty' ELSE 'last_applied' END AS status,
                           version::text AS migration, NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                           CASE WHEN dirty THEN %2$I._runnable('text', 'migration %%s failed part-way: the schema is half changed and migrate refuses to run', version)
                                ELSE 'clean' END AS detail,
                           CASE WHEN dirty THEN %2$I._runnable('text', 'repair the schema by hand, then run migrate force with the last good version (the one before %%s)', version) END AS remedy,
                           NULL::text AS remedy_command
                      FROM %1$s$q$, t.tbl, '@extschema@');
            ELSIF NOT 'version' = ANY (cols) THEN
                acc := acc || jsonb_build_object('tool', 'unknown', 'tbl', t.tbl::text, 'status', 'skipped',
                                                 'detail', 'schema_migrations without a version column: not a known tool''s layout');
                CONTINUE;
            ELSE
                tool_name := 'rails/activerecord';
                q := format($q$
                    SELECT 'last_applied' AS status, version::text AS migration,
                           NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                           (SELECT count(*) FROM %1$s) || ' migration(s) recorded' AS detail, NULL AS remedy,
                           NULL::text AS remedy_command
                      FROM %1$s ORDER BY length(version::text) DESC, version::text DESC LIMIT 1$q$, t.tbl);
            END IF;
        WHEN 'alembic_version' THEN
            tool_name := 'alembic';
            q := format($q$
                SELECT 'last_applied' AS status, version_num::text AS migration,
                       NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       CASE WHEN count(*) OVER () > 1 THEN 'one of ' || count(*) OVER () || ' heads (branches not merged)'
                            ELSE 'current revision' END AS detail, NULL AS remedy,
                       NULL::text AS remedy_command
                  FROM %1$s$q$, t.tbl);
        WHEN 'knex_migrations' THEN
            tool_name := 'knex';
            q := format($q$
                SELECT 'last_applied' AS status, name::text AS migration,
                       NULL::timestamptz AS started_at, migration_time::timestamptz AS finished_at,
                       'batch ' || batch AS detail, NULL AS remedy, NULL::text AS remedy_command
                  FROM %1$s ORDER BY id DESC LIMIT 1$q$, t.tbl);
        WHEN 'knex_migrations_lock' THEN
            tool_name := 'knex';
            q := format($q$
                SELECT 'locked' AS status, NULL::text AS migration,
                       NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'knex_migrations_lock.is_locked = 1: a migration is running, or one died holding the lock' AS detail,
                       'if no knex migration is running, release the lock (remedy_command)' AS remedy,
                       'npx knex migrate:unlock' AS remedy_command
                  FROM %1$s WHERE is_locked <> 0$q$, t.tbl);
        WHEN 'django_migrations' THEN
            tool_name := 'django';
            q := format($q$
                SELECT 'last_applied' AS status, app || '.' || name AS migration,
                       NULL::timestamptz AS started_at, applied::timestamptz AS finished_at,
                       (SELECT count(*) FROM %1$s) || ' migration(s) recorded' AS detail, NULL AS remedy,
                       NULL::text AS remedy_command
                  FROM %1$s ORDER BY applied DESC, id DESC LIMIT 1$q$, t.tbl);
        WHEN 'databasechangelog' THEN
            tool_name := 'liquibase';
            q := format($q$
                SELECT 'failed' AS status, id || ' (' || author || ', ' || filename || ')' AS migration,
                       dateexecuted::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'exectype FAILED' AS detail,
                       'fix the changeset, then run the update again (remedy_command)' AS remedy,
                       'liquibase update' AS remedy_command
                  FROM %1$s WHERE exectype = 'FAILED'
                UNION ALL
                (SELECT 'last_applied', id || ' (' || author || ', ' || filename || ')', NULL, dateexecuted::timestamptz,
                        %2$I._runnable('text', 'exectype %%s', exectype::text), NULL, NULL
                   FROM %1$s WHERE exectype <> 'FAILED' ORDER BY orderexecuted DESC, dateexecuted DESC LIMIT 1)$q$, t.tbl, '@extschema@');
        WHEN 'databasechangeloglock' THEN
            tool_name := 'liquibase';
            q := format($q$
                SELECT 'locked' AS status, NULL::text AS migration,
                       lockgranted::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       %2$I._runnable('text', 'change log lock held by %%s: an update is running, or one died holding it', coalesce(lockedby, '?')::text) AS detail,
                       'if no liquibase runs, release the lock (remedy_command)' AS remedy,
                       'liquibase releaseLocks' AS remedy_command
                  FROM %1$s WHERE locked$q$, t.tbl, '@extschema@');
        WHEN '_sqlx_migrations' THEN
            tool_name := 'sqlx';
            q := format($q$
                SELECT 'failed' AS status, version || ' ' || description AS migration,
                       installed_on::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'success = false: the migration did not complete (sqlx calls this dirty)' AS detail,
                       'repair the schema, then delete this row and run sqlx migrate run again' AS remedy,
                       NULL::text AS remedy_command
                  FROM %1$s WHERE NOT success
                UNION ALL
                (SELECT 'last_applied', version || ' ' || description, NULL, installed_on::timestamptz,
                        execution_time / 1000000 || ' ms', NULL, NULL
                   FROM %1$s WHERE success ORDER BY version DESC LIMIT 1)$q$, t.tbl);
        WHEN 'goose_db_version' THEN
            tool_name := 'goose';
            q := format($q$
                SELECT 'last_applied' AS status, version_id::text AS migration,
                       NULL::timestamptz AS started_at, tstamp::timestamptz AS finished_at,
                       CASE WHEN is_applied THEN 'applied' ELSE 'rolled back' END AS detail, NULL AS remedy,
                       NULL::text AS remedy_command
                  FROM %1$s ORDER BY id DESC LIMIT 1$q$, t.tbl);
        END CASE;

        IF NOT has_table_privilege(t.tbl, 'SELECT') THEN
            acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'skipped',
                                             'detail', @extschema@._runnable('text', 'no SELECT privilege on %R', t.tbl));
            CONTINUE;
        END IF;
        -- within the database's time budget in a per-database worker
        budget_ms := @extschema@._probe_budget_ms(timeout_ms);
        IF budget_ms < 1 THEN
            acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'skipped',
                                             'detail', 'skipped: the time budget of this database (pg_runbook.per_database_timeout) is spent');
            CONTINUE;
        END IF;
        BEGIN
            probe := @extschema@._bounded_query(q, ARRAY[t.tbl], budget_ms);
        EXCEPTION WHEN undefined_column OR undefined_function OR datatype_mismatch
                       OR invalid_text_representation OR undefined_table THEN
            SELECT NULL::jsonb AS result,
                   @extschema@._runnable('text', 'skipped: not the layout %s uses (%s)', tool_name, SQLERRM) AS outcome
              INTO probe;
        END;
        IF probe.result IS NULL THEN
            acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'skipped',
                                             'detail', @extschema@._runnable('text', '%s', probe.outcome));
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
               AND l.objsubid = 1 AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
        LOOP
            acc := acc || jsonb_build_object('tool', 'prisma', 'status', 'locked',
                'detail', @extschema@._runnable('text', 'prisma migrate lock (advisory 72707369) held by pid %s (%s, %s)',
                                 holder.pid, coalesce(holder.application_name, '?'), coalesce(holder.state, '?')),
                'remedy', 'a migration is running; if that session is stuck, end it (remedy_sql: the audited terminate)',
                'remedy_sql', @extschema@._runnable('sql', 'SELECT * FROM %I.terminate(%s, %L);', '@extschema@', holder.pid,
                                 'prisma migrate lock holder stuck'));
        END LOOP;
    END IF;

    RETURN QUERY
        SELECT x.tool, x.tbl::regclass, x.status, x.migration, x.started_at, x.finished_at, x.detail, x.remedy,
               x.remedy_command, x.remedy_sql, current_database(), n.nspname, c.relname
          FROM jsonb_to_recordset(acc) AS x(tool text, tbl text, status text, migration text,
                                             started_at timestamptz, finished_at timestamptz,
                                             detail text, remedy text, remedy_command text, remedy_sql text)
          LEFT JOIN pg_class c ON c.oid = x.tbl::regclass
          LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
         ORDER BY array_position(ARRAY['failed', 'dirty', 'partial', 'locked', 'skipped', 'empty', 'last_applied'], x.status),
                  x.tool, x.tbl, x.started_at NULLS LAST, x.migration;
END
$fn$;

COMMENT ON FUNCTION @extschema@._migration_status(interval) IS
'internal: migration_status() in this database (the per-database check migration_status() runs in each database)';

REVOKE ALL ON FUNCTION @extschema@._migration_status(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._migration_status(interval) TO pg_monitor;
