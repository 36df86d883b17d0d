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
