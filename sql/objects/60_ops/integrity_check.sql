-- _integrity_check(): one database's part of runbook.integrity_check()
-- (integrity_check_server.sql runs it in every database): invalid indexes,
-- NOT VALID constraints, orphans, amcheck.  Its SQL is to be run in the
-- database of its row (datname); its orphan counts keep within the
-- database's time budget (_probe_budget_ms()).  Checksum failures are
-- server-wide (pg_stat_database): integrity_check() reads them once.  check_sql and
-- remedy_sql are built by _runnable(); a statement that runs code of a
-- table's owner (validating a CHECK, counting the rows a CHECK refuses,
-- deleting orphans from a table with triggers or rules) runs as that owner
-- through as_owner().

CREATE OR REPLACE FUNCTION @extschema@._integrity_check(
    amcheck_indexes regclass[],
    orphan_timeout interval,
    include_ok boolean,
    heapallindexed boolean,
    OUT check_name text,
    OUT status text,
    OUT object text,
    OUT relation regclass,
    OUT count bigint,
    OUT detail text,
    OUT check_sql text,
    OUT remedy_sql text,
    OUT datname name,
    OUT schemaname name,
    OUT relname name)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
    amcheck_schema name;
    timeout_ms integer;
    orphan_from text;
    probe record;
    idx regclass;
    idx_list regclass[] := '{}';
    old_lock_timeout text := current_setting('lock_timeout');
    budget_ms integer;
BEGIN
    datname := current_database();
    IF orphan_timeout IS NOT NULL AND orphan_timeout < interval '0' THEN
        RAISE EXCEPTION 'orphan_timeout must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass an interval such as ''5s''; NULL or ''0'' skips orphan counting.';
    END IF;
    timeout_ms := CASE WHEN orphan_timeout IS NULL THEN 0
                       ELSE least(extract(epoch FROM orphan_timeout) * 1000, 2147483647)::integer END;

    -- amcheck is checked first: a missing extension is an error, before any work
    IF amcheck_indexes IS NOT NULL THEN
        SELECT n.nspname INTO amcheck_schema
          FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'amcheck';
        IF amcheck_schema IS NULL THEN
            RAISE EXCEPTION 'amcheck is not installed in database %', quote_ident(current_database())
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Index verification (amcheck_indexes) uses bt_index_check() from the amcheck extension (PostgreSQL contrib).',
                      HINT = 'Run CREATE EXTENSION amcheck; as a superuser in this database, or call integrity_check() without amcheck_indexes.';
        END IF;
    END IF;

    -- 1. invalid indexes (a failed or running CREATE INDEX CONCURRENTLY / REINDEX CONCURRENTLY)
    FOR r IN
        SELECT i.indexrelid::regclass AS idx, i.indrelid::regclass AS tbl, i.indisunique,
               i.indisready, pg_get_indexdef(i.indexrelid) AS def,
               (SELECT array_agg(a.attname ORDER BY k.ord)
                  FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE k.ord <= i.indnkeyatts) AS keycols,
               i.indexprs IS NULL AS simple,
               EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                        WHERE p.index_relid = i.indexrelid) AS building
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid
         WHERE NOT i.indisvalid
           AND c.relnamespace <> 'pg_catalog'::regnamespace
         ORDER BY 1
    LOOP
        check_name := 'invalid_index';
        status := CASE WHEN r.building THEN 'in progress' ELSE 'found' END;
        object := r.idx::text; relation := r.tbl; count := NULL;
        detail := @extschema@._runnable('text', '%s; %s', CASE
            WHEN r.building THEN 'being built right now (pg_stat_progress_create_index): not a failure yet'
            ELSE 'left invalid by a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY: not used by queries'
                 || CASE WHEN r.indisready THEN ', but still maintained on every write' ELSE '' END
                 || CASE WHEN r.indisunique THEN '; unique: a duplicate key is the usual cause' ELSE '' END
            END, r.def);
        check_sql := CASE WHEN r.indisunique AND r.simple AND r.keycols IS NOT NULL
            THEN @extschema@._runnable('sql', 'SELECT %1$I, count(*) FROM %2$R GROUP BY %1$I HAVING count(*) > 1;', r.keycols, r.tbl)
            ELSE @extschema@._runnable('sql', 'SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = %L::regclass;', r.idx) END;
        remedy_sql := CASE WHEN r.building THEN NULL
            WHEN r.indisunique THEN @extschema@._runnable('sql', 'REINDEX INDEX CONCURRENTLY %R;  -- after removing the duplicates; or drop it: DROP INDEX CONCURRENTLY', r.idx)
            ELSE @extschema@._runnable('sql', 'REINDEX INDEX CONCURRENTLY %R;  -- or drop it: DROP INDEX CONCURRENTLY', r.idx) END;
        SELECT n.nspname, c.relname INTO schemaname, relname
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = relation;
        RETURN NEXT;
    END LOOP;

    -- 2. constraints added NOT VALID and never validated
    FOR r IN
        SELECT c.oid, c.conname, c.conrelid::regclass AS tbl, c.contype,
               -- pg_get_constraintdef() reads the catalog only; pg_get_expr()
               -- would lock the table and could wait behind DDL
               CASE WHEN c.contype = 'c'
                    THEN regexp_replace(pg_get_constraintdef(c.oid), '^CHECK \((.*)\)( NOT VALID)?$', '\1') END AS expr
          FROM pg_constraint c
          JOIN pg_class t ON t.oid = c.conrelid
         WHERE NOT c.convalidated
           AND c.contype IN ('c', 'f')
           AND t.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
         ORDER BY c.conrelid::regclass::text, c.conname
    LOOP
        check_name := 'not_valid_constraint';
        status := 'found';
        object := quote_ident(r.conname); relation := r.tbl; count := NULL;
        -- a CHECK's expression is the owner's code (it may call the owner's
        -- functions): counted and validated as the owner
        check_sql := CASE WHEN r.contype = 'c'
            THEN @extschema@._as_owner_sql(r.tbl, @extschema@._runnable('sql', 'SELECT FROM %R WHERE NOT (%D)', r.tbl, r.expr))
            ELSE @extschema@._runnable('sql', 'SELECT count(*) %D;', @extschema@._fk_orphan_from(r.oid)) END;
        remedy_sql := @extschema@._as_owner_sql(r.tbl, @extschema@._runnable('sql', 'ALTER TABLE %R VALIDATE CONSTRAINT %I', r.tbl, r.conname));
        IF r.contype = 'f' THEN
            detail := 'foreign key created NOT VALID: rows older than the constraint were never checked (orphaned_rows counts them)';
        ELSE
            detail := 'check constraint created NOT VALID: rows older than the constraint were never checked';
        END IF;
        SELECT n.nspname, c.relname INTO schemaname, relname
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = relation;
        RETURN NEXT;
    END LOOP;

    -- 3. orphaned rows under each foreign key (valid or not), time-bounded
    IF timeout_ms > 0 THEN
        FOR r IN
            SELECT c.oid, c.conname, c.conrelid::regclass AS child, c.confrelid::regclass AS parent,
                   c.convalidated
              FROM pg_constraint c
              JOIN pg_class t ON t.oid = c.conrelid
             WHERE c.contype = 'f'
               AND c.conparentid = 0
               AND t.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
             ORDER BY c.conrelid::regclass::text, c.conname
        LOOP
            check_name := 'orphaned_rows';
            object := quote_ident(r.conname); relation := r.child;
            orphan_from := @extschema@._fk_orphan_from(r.oid);
            -- within the database's time budget in a per-database worker
            budget_ms := @extschema@._probe_budget_ms(timeout_ms);
            IF NOT (has_table_privilege(r.child, 'SELECT') AND has_table_privilege(r.parent, 'SELECT')) THEN
                status := 'skipped'; count := NULL;
                detail := @extschema@._runnable('text', 'skipped: no SELECT privilege on %R or %R', r.child, r.parent);
            ELSIF budget_ms < 1 THEN
                status := 'skipped'; count := NULL;
                detail := 'skipped: the time budget of this database (pg_runbook.per_database_timeout) is spent';
            ELSE
                BEGIN
                    probe := @extschema@._bounded_query('SELECT count(*) AS n ' || orphan_from,
                                                         ARRAY[r.child, r.parent], budget_ms);
                EXCEPTION WHEN undefined_table OR undefined_object THEN
                    SELECT NULL::jsonb AS result, 'skipped: dropped while being checked' AS outcome
                      INTO probe;
                END;
                count := (probe.result->0->>'n')::bigint;
                IF count IS NULL THEN
                    status := 'skipped'; detail := @extschema@._runnable('text', '%s', probe.outcome);
                ELSIF count = 0 THEN
                    status := 'ok'; detail := 'no orphaned rows';
                ELSE
                    status := 'found';
                    detail := @extschema@._runnable('text', '%s row(s) of %R reference no row of %R', count, r.child, r.parent)
                              || CASE WHEN r.convalidated
                                      THEN ' although the key is validated: triggers disabled, session_replication_role = replica, or corruption'
                                      ELSE ' (the key is NOT VALID)' END;
                END IF;
            END IF;
            check_sql := @extschema@._runnable('sql', 'SELECT c.* %D LIMIT 100;', orphan_from);
            -- a DELETE fires the table's triggers and rules (the owner's
            -- code): then it runs as the owner
            remedy_sql := CASE WHEN status <> 'found' THEN NULL
                WHEN @extschema@._delete_runs_owner_code(r.child)
                THEN @extschema@._runnable('sql', '%D  -- or insert the missing parent rows, or set the key to NULL',
                         @extschema@._as_owner_sql(r.child, @extschema@._runnable('sql', 'DELETE %D', orphan_from)))
                ELSE @extschema@._runnable('sql', 'DELETE %D;  -- or insert the missing parent rows, or set the key to NULL', orphan_from)
                END;
            IF remedy_sql IS NOT NULL AND NOT r.convalidated THEN
                remedy_sql := @extschema@._runnable('sql', E'%D\n%D', remedy_sql,
                                  @extschema@._as_owner_sql(r.child, @extschema@._runnable('sql', 'ALTER TABLE %R VALIDATE CONSTRAINT %I', r.child, r.conname)));
            END IF;
            IF status <> 'ok' OR include_ok THEN
                SELECT n.nspname, c.relname INTO schemaname, relname
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = relation;
                RETURN NEXT;
            END IF;
        END LOOP;
    END IF;

    -- 5. amcheck over chosen indexes (a table means all its B-tree indexes)
    IF amcheck_indexes IS NOT NULL THEN
        FOREACH idx IN ARRAY amcheck_indexes LOOP
            IF (SELECT c.relkind IN ('r', 'm', 't', 'p') FROM pg_class c WHERE c.oid = idx) THEN
                idx_list := idx_list || ARRAY(SELECT i.indexrelid::regclass FROM pg_index i
                                               WHERE i.indrelid = idx ORDER BY i.indexrelid::regclass::text);
            ELSE
                idx_list := idx_list || idx;
            END IF;
        END LOOP;
        FOREACH idx IN ARRAY idx_list LOOP
            check_name := 'amcheck'; object := idx::text;
            relation := (SELECT i.indrelid::regclass FROM pg_index i WHERE i.indexrelid = idx);
            count := NULL;
            check_sql := CASE WHEN heapallindexed
                THEN @extschema@._runnable('sql', 'SELECT %I.bt_index_check(%L::regclass, true);', amcheck_schema, idx)
                ELSE @extschema@._runnable('sql', 'SELECT %I.bt_index_check(%L::regclass, false);', amcheck_schema, idx) END;
            remedy_sql := NULL;
            IF (SELECT c.relkind <> 'i' OR am.amname <> 'btree' FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.oid = idx)
               IS DISTINCT FROM false THEN
                status := 'skipped';
                detail := 'skipped: not a B-tree index (bt_index_check verifies B-tree indexes only)';
            ELSIF (SELECT NOT i.indisvalid FROM pg_index i WHERE i.indexrelid = idx) THEN
                status := 'skipped';
                detail := 'skipped: invalid index (see invalid_index)';
            ELSE
                BEGIN
                    PERFORM set_config('lock_timeout', '100ms', true);
                    EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE NOWAIT', relation);
                    EXECUTE format('SELECT %I.bt_index_check($1, $2)', amcheck_schema) USING idx, heapallindexed;
                    PERFORM set_config('lock_timeout', old_lock_timeout, true);
                    status := 'ok';
                    detail := CASE WHEN heapallindexed THEN 'bt_index_check (heapallindexed) passed'
                                   ELSE 'bt_index_check passed: B-tree structure consistent' END;
                EXCEPTION
                    WHEN index_corrupted OR data_corrupted THEN
                        status := 'corrupt';
                        detail := @extschema@._runnable('text', '%s', SQLERRM);
                        remedy_sql := @extschema@._runnable('sql', 'REINDEX INDEX CONCURRENTLY %R;', idx);
                    WHEN lock_not_available THEN
                        status := 'skipped';
                        detail := @extschema@._runnable('text', 'skipped: lock conflict: DDL holds or waits for the table (%s)', SQLERRM);
                    WHEN undefined_table OR undefined_object THEN
                        status := 'skipped';
                        detail := 'skipped: dropped while being checked';
                    WHEN insufficient_privilege THEN
                        status := 'skipped';
                        detail := @extschema@._runnable('text', 'skipped: %s (GRANT EXECUTE ON FUNCTION %I.bt_index_check(regclass, boolean) TO ...)', SQLERRM, amcheck_schema);
                END;
            END IF;
            SELECT n.nspname, c.relname INTO schemaname, relname
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = relation;
            RETURN NEXT;
        END LOOP;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._integrity_check(regclass[], interval, boolean, boolean) IS
'internal: integrity_check() in this database but the checksum failures (the per-database check integrity_check() runs in each database)';

REVOKE ALL ON FUNCTION @extschema@._integrity_check(regclass[], interval, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._integrity_check(regclass[], interval, boolean, boolean) TO pg_monitor;

