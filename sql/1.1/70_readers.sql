-- ---------------------------------------------------------------------
-- 1.1 readers (issue 13 §3, §4): what the runbooks read that was missing
-- and the messages they send.
--   log_summary()       the server log's errors by severity, SQLSTATE and
--                       category over a recent period (C: src/logread.c)
--   database_stats      pg_stat_database counters and ratios per database
--   triage()            + integrity findings (checksum failures, invalid
--                       indexes, NOT VALID constraints), the server log of
--                       the last hour, per-pid audited remedies
--                       (runbook.terminate / runbook.cancel) and remedy text
--                       quoted for its target (SQL literals, identifiers,
--                       shell words, one-line comments)
--   incident_message()  the seeds' communication templates, filled in
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

-- ---------------------------------------------------------------------
-- triage: same signature, more checks (see the header)
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
    sess    @extschema@.sessions[];
    waits   jsonb;
    roots   integer[];
    c       record;
    r       record;
    n       integer := 0;
    t_lock  numeric := @extschema@._threshold('lock_wait_seconds');
    t_xmin  numeric := @extschema@._threshold('xmin_age_xids');
    t_xmin2 numeric := @extschema@._threshold('xmin_age_sev2_xids');
    errmsg  text;
    errhint text;
    errcode text;
    chk     text;
BEGIN
    -- One snapshot of every backend, shared by the checks below, and the
    -- lock waits: pid -> seconds waited for the lock (not the statement),
    -- and the root blockers of the wait queues.
    sess := ARRAY(SELECT s FROM @extschema@.sessions s);
    SELECT coalesce(jsonb_object_agg(b.pid, round(extract(epoch FROM b.wait_age), 1)), '{}'),
           array_agg(DISTINCT b.root_blocker ORDER BY b.root_blocker) FILTER (WHERE b.root_blocker IS NOT NULL)
      INTO waits, roots
      FROM @extschema@.blocking_locks() b;

    -- connections ------------------------------------------------------
    chk := 'connections';
    BEGIN
        SELECT * INTO c FROM @extschema@.connections();
        IF c.pct_used >= @extschema@._threshold('connections_sev3_pct') THEN
            severity := CASE WHEN c.pct_used >= @extschema@._threshold('connections_sev1_pct') THEN 'SEV1'
                             WHEN c.pct_used >= @extschema@._threshold('connections_sev2_pct') THEN 'SEV2'
                             ELSE 'SEV3' END;
            check_name := chk;
            finding := format('%s%% of connection slots in use (%s of %s usable; %s idle, %s idle in transaction)',
                              c.pct_used, c.in_use, c.usable, c.idle, c.idle_in_transaction);
            evidence := jsonb_build_object('pct_used', c.pct_used, 'in_use', c.in_use, 'usable', c.usable,
                            'max_connections', c.max_connections, 'active', c.active, 'idle', c.idle,
                            'idle_in_transaction', c.idle_in_transaction, 'available', c.available,
                            'top_sources', (SELECT jsonb_agg(to_jsonb(cs)) FROM
                                (SELECT * FROM @extschema@.connection_sources LIMIT 5) cs));
            action := 'find the source (connection_sources), end idle sessions, put a pooler in front';
            remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.kill_idle(''30 min'', dry_run => true);';
            n := n + 1; ord := n; RETURN NEXT;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- idle in transaction sessions holding locks others wait on ---------
    chk := 'idle_in_transaction_blocking';
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
        severity := CASE WHEN r.max_wait >= t_lock THEN 'SEV2' ELSE 'SEV3' END;
        check_name := chk;
        finding := format('pid %s (%s, %s) is %s for %s and blocks %s session(s), the longest waiting %s s',
                          r.pid, r.usename, r.application_name, r.state, date_trunc('second', r.state_age),
                          cardinality(r.waiters), r.max_wait);
        evidence := jsonb_build_object('pid', r.pid, 'usename', r.usename, 'datname', r.datname,
                        'application_name', r.application_name, 'state', r.state,
                        'xact_age_s', @extschema@._secs(r.xact_age), 'state_age_s', @extschema@._secs(r.state_age),
                        'blocked_pids', to_jsonb(r.waiters), 'max_wait_s', r.max_wait);
        action := 'end the idle transaction (the application forgot COMMIT/ROLLBACK); set idle_in_transaction_session_timeout';
        -- through the remedy path (re-check, safety rules, audit), never a bare pg_terminate_backend
        remedy_sql := format('SELECT * FROM %s.terminate(%s, %L);  -- or every stuck root: SELECT * FROM %s.terminate_blockers(%L);',
                             '@extschema@', r.pid,
                             format('idle in transaction, blocking %s session(s)', cardinality(r.waiters)),
                             '@extschema@', (floor(r.max_wait) || ' s'));
        n := n + 1; ord := n; RETURN NEXT;
    END LOOP;

    -- lock waits ---------------------------------------------------------
    chk := 'lock_waits';
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
        severity := CASE WHEN r.waiters >= @extschema@._threshold('lock_waiters_sev1') THEN 'SEV1'
                         WHEN r.max_wait >= t_lock THEN 'SEV2'
                         ELSE 'SEV3' END;
        check_name := chk;
        finding := format('%s session(s) waiting on locks, the longest for %s s; blocked by pid(s) %s; root blocker(s) %s',
                          r.waiters, r.max_wait, array_to_string(r.blockers, ', '),
                          coalesce(array_to_string(roots, ', '), 'unknown'));
        evidence := jsonb_build_object('waiters', r.waiters, 'max_wait_s', r.max_wait,
                                       'blockers', to_jsonb(coalesce(r.blockers, '{}')),
                                       'root_blockers', to_jsonb(coalesce(roots, '{}')), 'waits', r.waits);
        action := 'read the lock tree; cancel or terminate the root blocker if it is stuck';
        remedy_sql := format('SELECT * FROM %s.lock_tree();  -- then: SELECT * FROM %s.terminate_blockers(%L, dry_run => true);',
                             '@extschema@', '@extschema@', (floor(r.max_wait) || ' s'))
                      || CASE WHEN cardinality(roots) = 1
                              THEN format('  -- or the root alone: SELECT * FROM %s.terminate(%s, %L);', '@extschema@', roots[1],
                                          format('root blocker of %s waiting session(s)', r.waiters))
                              ELSE '' END;
        n := n + 1; ord := n; RETURN NEXT;
    END IF;

    -- long-running statements ------------------------------------------
    chk := 'long_running';
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
        severity := CASE WHEN extract(epoch FROM r.max_age) >= @extschema@._threshold('long_query_sev2_seconds')
                         THEN 'SEV2' ELSE 'SEV3' END;
        check_name := chk;
        finding := format('%s statement(s) running longer than %s s, the longest for %s',
                          r.cnt, @extschema@._threshold('long_query_seconds'), date_trunc('second', r.max_age));
        evidence := jsonb_build_object('count', r.cnt, 'max_age_s', @extschema@._secs(r.max_age), 'statements', r.list);
        action := 'check the plans (EXPLAIN) and whether they can be cancelled';
        remedy_sql := format('SELECT * FROM %s.cancel(%s, %L);  -- the longest; all of them: SELECT * FROM %s.cancel_long(%L, dry_run => true);',
                             '@extschema@', r.longest, format('statement running for %s', date_trunc('second', r.max_age)),
                             '@extschema@', (@extschema@._threshold('long_query_seconds') || ' s'));
        n := n + 1; ord := n; RETURN NEXT;
    END IF;

    -- idle in transaction (not blocking) --------------------------------
    chk := 'idle_in_transaction';
    SELECT count(*) AS cnt, max(s.state_age) AS max_age, array_agg(s.pid ORDER BY s.state_age DESC) AS pids
      INTO r
      FROM unnest(sess) s
     WHERE s.state LIKE 'idle in transaction%'
       AND NOT EXISTS (SELECT 1 FROM unnest(sess) w WHERE s.pid = ANY (w.blocked_by))
       AND extract(epoch FROM s.state_age) >= @extschema@._threshold('idle_xact_seconds');
    IF r.cnt > 0 THEN
        severity := 'SEV3'; check_name := chk;
        finding := format('%s session(s) idle in transaction for more than %s s (longest %s)',
                          r.cnt, @extschema@._threshold('idle_xact_seconds'), date_trunc('second', r.max_age));
        evidence := jsonb_build_object('count', r.cnt, 'pids', to_jsonb(r.pids), 'max_age_s', @extschema@._secs(r.max_age));
        action := 'they hold snapshots and locks; fix the application, set idle_in_transaction_session_timeout';
        remedy_sql := format('SELECT * FROM %s.kill_idle(%L, states => ''{idle in transaction}'', dry_run => true);',
                             '@extschema@', @extschema@._threshold('idle_xact_seconds') || ' s');
        n := n + 1; ord := n; RETURN NEXT;
    END IF;

    -- xmin horizon: sessions ---------------------------------------------
    chk := 'xmin_horizon';
    FOR r IN
        SELECT s.pid, s.usename, s.datname, s.state, s.xact_age,
               greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0)) AS age
          FROM unnest(sess) s
         WHERE greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0)) >= t_xmin
         ORDER BY 6 DESC
    LOOP
        severity := CASE WHEN r.age >= t_xmin2 THEN 'SEV2' ELSE 'SEV3' END;
        check_name := chk;
        finding := format('pid %s (%s) holds the xmin horizon back by %s transactions: vacuum cannot remove dead rows',
                          r.pid, r.state, r.age);
        evidence := jsonb_build_object('source', 'session', 'pid', r.pid, 'usename', r.usename, 'datname', r.datname,
                                       'state', r.state, 'xmin_age', r.age, 'xact_age_s', @extschema@._secs(r.xact_age));
        action := 'end the transaction';
        remedy_sql := format('SELECT * FROM %s.terminate(%s, %L);',
                             '@extschema@', r.pid, format('holds the xmin horizon back by %s transactions', r.age));
        n := n + 1; ord := n; RETURN NEXT;
    END LOOP;

    -- xmin horizon: prepared transactions -----------------------------------
    chk := 'prepared_transactions';
    BEGIN
        FOR r IN
            SELECT p.gid, p.owner, p.database, p.prepared, now() - p.prepared AS age, age(p.transaction) AS xid_age
              FROM pg_prepared_xacts p
             ORDER BY p.prepared
        LOOP
            severity := CASE WHEN extract(epoch FROM r.age) >= @extschema@._threshold('prepared_xact_seconds')
                               OR r.xid_age >= t_xmin2 THEN 'SEV2' ELSE 'SEV3' END;
            check_name := chk;
            finding := format('prepared transaction %L (database %s) open for %s: it holds its locks and the xmin horizon',
                              r.gid, r.database, date_trunc('second', r.age));
            evidence := jsonb_build_object('source', 'prepared', 'gid', r.gid, 'owner', r.owner, 'datname', r.database,
                                           'age_s', @extschema@._secs(r.age), 'xid_age', r.xid_age);
            action := 'ask the transaction manager to finish it; if it is orphaned, commit or roll it back by hand';
            remedy_sql := format('ROLLBACK PREPARED %L;  -- in database %s, or COMMIT PREPARED', r.gid, r.database);
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- xmin horizon: replication slots --------------------------------------
    chk := 'replication_slots_xmin';
    BEGIN
        FOR r IN
            SELECT sl.slot_name, sl.slot_type, sl.active,
                   greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0)) AS age
              FROM pg_replication_slots sl
             WHERE greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0)) >= t_xmin
             ORDER BY 4 DESC
        LOOP
            severity := CASE WHEN r.age >= t_xmin2 OR NOT r.active THEN 'SEV2' ELSE 'SEV3' END;
            check_name := chk;
            finding := format('%s slot %s (%s) holds the xmin horizon back by %s transactions',
                              r.slot_type, r.slot_name, CASE WHEN r.active THEN 'active' ELSE 'inactive' END, r.age);
            evidence := jsonb_build_object('source', 'slot', 'slot_name', r.slot_name, 'slot_type', r.slot_type,
                                           'active', r.active, 'xmin_age', r.age);
            action := 'make its consumer catch up, or drop the slot if the consumer is gone';
            remedy_sql := format('SELECT pg_drop_replication_slot(%L);', r.slot_name);
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- wraparound -------------------------------------------------------------
    chk := 'wraparound';
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
            severity := CASE WHEN r.pct >= @extschema@._threshold('wraparound_sev1_pct') THEN 'SEV1'
                             WHEN r.pct >= @extschema@._threshold('wraparound_sev2_pct') THEN 'SEV2'
                             ELSE 'SEV3' END;
            check_name := chk;
            finding := format('database %s: xid age %s, multixact age %s (%s%% of the 2^31 hard limit; autovacuum_freeze_max_age %s)',
                              r.datname, r.xid_age, r.mxid_age, r.pct, r.freeze_max);
            evidence := jsonb_build_object('datname', r.datname, 'xid_age', r.xid_age, 'mxid_age', r.mxid_age,
                                           'pct_of_limit', r.pct, 'autovacuum_freeze_max_age', r.freeze_max,
                                           'autovacuum_multixact_freeze_max_age', r.mxid_freeze_max);
            action := 'find what holds the xmin horizon (see xmin_horizon rows), then VACUUM (FREEZE) the oldest tables of that database';
            remedy_sql := format('-- in database %s: SELECT c.oid::regclass, age(c.relfrozenxid) FROM pg_class c WHERE c.relkind IN (''r'', ''m'', ''t'') ORDER BY 2 DESC LIMIT 10; then VACUUM (FREEZE, VERBOSE) <table>;',
                                 @extschema@._one_line(quote_ident(r.datname)));
            n := n + 1; ord := n; RETURN NEXT;
        END IF;
    END LOOP;

    -- replication --------------------------------------------------------------
    chk := 'replication';
    BEGIN
        FOR r IN SELECT * FROM @extschema@.replication_status() LOOP
            severity := NULL;
            IF r.kind = 'replica' AND r.replay_lag_bytes >= @extschema@._threshold('replication_lag_bytes') THEN
                severity := CASE WHEN r.replay_lag_bytes >= @extschema@._threshold('replication_lag_sev2_bytes') THEN 'SEV2' ELSE 'SEV3' END;
                finding := format('replica %s replays %s behind (%s)', r.name,
                                  pg_size_pretty(r.replay_lag_bytes), coalesce(r.replay_lag::text, 'time lag unknown'));
                action := 'check the replica''s load, network and hot_standby_feedback conflicts';
                remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.replication_status();';
            ELSIF r.kind = 'slot' AND r.wal_status IN ('lost', 'unreserved') THEN
                severity := 'SEV2';
                finding := format('slot %s: wal_status %s', r.name, r.wal_status);
                action := 'the consumer has fallen too far behind: rebuild it, drop the slot';
                remedy_sql := format('SELECT pg_drop_replication_slot(%L);', r.name);
            ELSIF r.kind = 'slot' AND NOT r.active AND r.retained_bytes >= @extschema@._threshold('slot_retained_bytes') THEN
                severity := 'SEV2';
                finding := format('inactive slot %s retains %s of WAL', r.name, pg_size_pretty(r.retained_bytes));
                action := 'restart its consumer or drop the slot before pg_wal fills the disk';
                remedy_sql := format('SELECT pg_drop_replication_slot(%L);', r.name);
            ELSIF r.kind = 'archiver' AND r.state = 'failing' THEN
                severity := 'SEV2';
                finding := format('WAL archiving fails (%s failures, last %s at %s); %s file(s) waiting',
                                  r.failed_count, r.last_failed_wal, date_trunc('second', r.last_failure), coalesce(r.files_waiting::text, 'unknown'));
                action := 'fix archive_command (see the server log): WAL piles up in pg_wal';
                remedy_sql := 'SELECT * FROM pg_stat_archiver;';
            ELSIF r.kind = 'receiver' AND r.state = 'not running' THEN
                severity := 'SEV2';
                finding := 'standby: WAL receiver not running';
                action := 'check primary_conninfo and the primary; see the server log';
                remedy_sql := 'SELECT * FROM pg_stat_wal_receiver;';
            END IF;
            IF severity IS NOT NULL THEN
                check_name := chk;
                evidence := jsonb_strip_nulls(jsonb_build_object('kind', r.kind, 'name', r.name, 'state', r.state,
                                'pid', r.pid, 'replay_lag_bytes', r.replay_lag_bytes, 'replay_lag_s', @extschema@._secs(r.replay_lag),
                                'retained_bytes', r.retained_bytes, 'wal_status', r.wal_status,
                                'failed_count', r.failed_count, 'files_waiting', r.files_waiting, 'detail', r.detail));
                n := n + 1; ord := n; RETURN NEXT;
            END IF;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- worker ---------------------------------------------------------------------
    chk := 'worker';
    IF NOT @extschema@._is_preloaded() THEN
        severity := 'SEV4'; check_name := chk;
        finding := 'pg_runbook is not in shared_preload_libraries: no background worker, no audit ring';
        evidence := jsonb_build_object('shared_preload_libraries', current_setting('shared_preload_libraries'));
        action := 'add pg_runbook to shared_preload_libraries and restart to enable policies';
        remedy_sql := 'ALTER SYSTEM SET shared_preload_libraries = ''pg_runbook'';  -- keep the libraries already listed; then restart';
        n := n + 1; ord := n; RETURN NEXT;
    ELSE
        BEGIN
            SELECT * INTO r FROM @extschema@.worker_status();
            evidence := jsonb_build_object('running', r.running, 'paused', r.paused, 'pid', r.pid, 'cycles', r.cycles,
                            'actions', r.actions, 'last_error', r.last_error, 'last_error_at', r.last_error_at,
                            'last_success_at', r.last_success_at);
            IF NOT r.running THEN
                severity := 'SEV2'; check_name := chk;
                finding := 'pg_runbook worker is not running: policies are not enforced';
                action := 'see the server log for why it exited (database ' || current_setting('pg_runbook.database', true) || ')';
                remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.worker_status();';
                n := n + 1; ord := n; RETURN NEXT;
            ELSIF r.paused THEN
                severity := 'SEV3'; check_name := chk;
                finding := 'pg_runbook worker is paused: policies are not enforced';
                action := 'resume it when the maintenance that paused it is over';
                remedy_sql := 'SELECT ' || '@extschema@' || '.resume_worker();';
                n := n + 1; ord := n; RETURN NEXT;
            END IF;
            -- the worker keeps its last error beside its last success: an
            -- error that a later successful cycle superseded is over
            IF r.last_error IS NOT NULL
               AND (r.last_success_at IS NULL OR r.last_error_at >= r.last_success_at) THEN
                severity := 'SEV3';
                check_name := chk;
                finding := format('pg_runbook worker error at %s: %s', date_trunc('second', r.last_error_at), r.last_error);
                action := 'fix the cause (policy, privileges) shown in the error';
                remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.worker_status();';
                n := n + 1; ord := n; RETURN NEXT;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
            severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
            evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
            action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
            n := n + 1; ord := n; RETURN NEXT;
        END;
    END IF;

    -- configuration --------------------------------------------------------------
    chk := 'config';
    BEGIN
        FOR r IN SELECT * FROM @extschema@.config_check() WHERE config_check.severity = 'high' LOOP
            severity := 'SEV3'; check_name := chk;
            finding := format('%s = %s: %s', r.setting, r.current_value, r.reason);
            evidence := jsonb_build_object('setting', r.setting, 'current_value', r.current_value,
                                           'suggested_value', r.suggested_value, 'config_severity', r.severity);
            action := 'change the setting';
            remedy_sql := r.remedy_sql;
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- migrations -----------------------------------------------------------------
    chk := 'migrations';
    BEGIN
        FOR r IN SELECT * FROM @extschema@.migration_status('200ms')
                  WHERE status IN ('failed', 'dirty', 'partial', 'locked') LOOP
            severity := CASE WHEN r.status = 'locked' THEN 'SEV3' ELSE 'SEV2' END;
            check_name := chk;
            finding := format('%s migration %s in %s: %s', r.tool, coalesce(r.migration, ''), r.migration_table, r.status);
            evidence := jsonb_strip_nulls(jsonb_build_object('tool', r.tool, 'migration_table', r.migration_table::text,
                            'status', r.status, 'migration', r.migration, 'started_at', r.started_at, 'detail', r.detail));
            action := coalesce(r.detail, 'repair the migration, then rerun the tool');
            remedy_sql := @extschema@._migration_remedy(r.tool, r.status, r.migration, r.detail, r.remedy);
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- integrity: data page checksum failures (every database) ------------------
    chk := 'checksum_failures';
    BEGIN
        FOR r IN
            SELECT d.datname, coalesce(d.datname, '(shared objects)') AS dbname, d.checksum_failures,
                   d.checksum_last_failure
              FROM pg_stat_database d
             WHERE d.checksum_failures > 0
             ORDER BY d.checksum_last_failure DESC NULLS LAST, 2
        LOOP
            severity := CASE WHEN r.checksum_last_failure > now() - interval '1 day' THEN 'SEV2' ELSE 'SEV3' END;
            check_name := chk;
            finding := format('%s: %s data page checksum failure(s), the last at %s: storage returned damaged pages',
                              CASE WHEN r.datname IS NULL THEN 'shared catalogs' ELSE 'database ' || quote_ident(r.datname) END,
                              r.checksum_failures, date_trunc('second', r.checksum_last_failure));
            evidence := jsonb_build_object('datname', r.datname, 'checksum_failures', r.checksum_failures,
                                           'checksum_last_failure', r.checksum_last_failure,
                                           'stats_reset', (SELECT s.stats_reset FROM pg_stat_database s
                                                            WHERE s.datname IS NOT DISTINCT FROM r.datname));
            action := 'find the damaged relations in the server log (WARNING: page verification failed), check the storage, restore damaged tables from backup and REINDEX damaged indexes';
            remedy_sql := CASE WHEN r.datname = current_database() OR r.datname IS NULL
                               THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
                               ELSE format('-- in database %s: SELECT * FROM %s.integrity_check();',
                                           @extschema@._one_line(quote_ident(r.datname)), '@extschema@') END
                          || format('  -- the log: SELECT * FROM %s.log_summary(%L) WHERE category = %L;', '@extschema@',
                                    (greatest(ceil(extract(epoch FROM now() - r.checksum_last_failure) / 3600), 1) || ' hours'),
                                    'checksum_failure');
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- integrity: invalid indexes (this database) ----------------------------------
    -- a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY leaves one:
    -- not used by queries, still maintained (and a unique one still refuses
    -- duplicates).  Builds in progress are not findings.
    chk := 'invalid_indexes';
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
        severity := 'SEV3'; check_name := chk;
        finding := format('invalid index %s on %s in %s%s: not used by queries, still maintained on every write%s',
                          r.idx, r.tbl, quote_ident(current_database()),
                          CASE WHEN r.relname ~ '_ccnew[0-9]*$' THEN ' (left by a failed REINDEX CONCURRENTLY)'
                               WHEN r.relname ~ '_ccold[0-9]*$' THEN ' (old copy left by an interrupted REINDEX CONCURRENTLY)'
                               ELSE ' (a failed CREATE INDEX CONCURRENTLY)' END,
                          CASE WHEN r.indisunique THEN '; being unique, it still refuses duplicates' ELSE '' END);
        evidence := jsonb_build_object('index', r.idx::text, 'table', r.tbl::text, 'datname', current_database(),
                                       'unique', r.indisunique, 'size_bytes', r.bytes);
        action := 'rebuild it (REINDEX INDEX CONCURRENTLY) or drop it; find why the build failed in the server log (a unique violation, a deadlock, a cancel)';
        remedy_sql := CASE WHEN r.relname ~ '_cc(new|old)[0-9]*$'
                           THEN format('DROP INDEX CONCURRENTLY %s;', r.idx)
                           ELSE format('REINDEX INDEX CONCURRENTLY %s;  -- or DROP INDEX CONCURRENTLY %s;', r.idx, r.idx) END;
        n := n + 1; ord := n; RETURN NEXT;
    END LOOP;

    -- integrity: constraints added NOT VALID and never validated (this database) ---
    -- existing rows were never checked: orphans (foreign keys) or violating
    -- rows may exist.  A foreign key is SEV3, a check or not-null SEV4.
    chk := 'not_valid_constraints';
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
        severity := CASE WHEN r.contype = 'f' THEN 'SEV3' ELSE 'SEV4' END;
        check_name := chk;
        finding := format('%s constraint %s on %s in %s is NOT VALID: rows written before it was added were never checked%s',
                          r.kind, quote_ident(r.conname), r.tbl, quote_ident(current_database()),
                          CASE WHEN r.contype = 'f' THEN format(' (rows of %s may reference missing rows of %s)', r.tbl, r.ref) ELSE '' END);
        evidence := jsonb_build_object('constraint', r.conname, 'table', r.tbl::text, 'type', r.kind,
                                       'references', r.ref::text, 'datname', current_database());
        action := 'validate it (a SHARE UPDATE EXCLUSIVE lock: reads and writes go on); if it fails, fix the rows it names';
        remedy_sql := format('ALTER TABLE %s VALIDATE CONSTRAINT %I;', r.tbl, r.conname);
        n := n + 1; ord := n; RETURN NEXT;
    END LOOP;

    -- the server log of the last hour (cheap: at most 8 MB read from its end) -----
    chk := 'server_log';
    BEGIN
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
            severity := CASE
                WHEN r.category = 'too_many_connections' AND r.last_at > now() - interval '5 min' THEN 'SEV1'
                WHEN r.severity = 'PANIC'
                  OR r.category IN ('too_many_connections', 'out_of_memory', 'disk_full', 'checksum_failure',
                                    'data_corrupted', 'index_corrupted') THEN 'SEV2'
                WHEN r.category = 'deadlock' THEN 'SEV3'
                ELSE 'SEV4' END;
            check_name := chk;
            finding := format('server log, last hour: %s %s x%s (%s%s), from %s to %s; latest: %s',
                              r.severity, coalesce(r.category, 'error'), r.count,
                              coalesce('SQLSTATE ' || r.sqlstate, 'SQLSTATE not logged'),
                              CASE WHEN r.category = 'too_many_connections' THEN ': clients were refused' ELSE '' END,
                              coalesce(to_char(r.first_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), '?'),
                              coalesce(to_char(r.last_at AT TIME ZONE 'UTC', 'HH24:MI:SS "UTC"'), '?'),
                              left(r.example, 200));
            evidence := jsonb_strip_nulls(jsonb_build_object('severity', r.severity, 'sqlstate', r.sqlstate,
                            'category', r.category, 'count', r.count, 'first_at', r.first_at, 'last_at', r.last_at,
                            'example', r.example, 'log_format', r.log_format, 'note', r.note));
            action := CASE r.category
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
            remedy_sql := CASE r.category
                WHEN 'too_many_connections' THEN format('SELECT * FROM %s.connection_sources;  -- then: SELECT * FROM %s.kill_idle(%L, dry_run => true);',
                                                        '@extschema@', '@extschema@', '30 min')
                WHEN 'disk_full' THEN format('SELECT * FROM %s.disk_usage();', '@extschema@')
                WHEN 'checksum_failure' THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
                WHEN 'data_corrupted' THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
                WHEN 'index_corrupted' THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
                ELSE format('SELECT * FROM %s.log_summary(%L) WHERE %s;', '@extschema@', '1 hour',
                            CASE WHEN r.category IS NULL THEN 'category IS NULL' ELSE format('category = %L', r.category) END)
                END;
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        -- not readable here (collector off with stderr not in a file, no
        -- file-read rights): say so once, as information
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'server log not read: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'see log_summary()'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- dead tuples (this database) ----------------------------------------------------
    chk := 'dead_tuples';
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
        severity := 'SEV3'; check_name := chk;
        finding := format('%s table(s) in %s with at least %s%% dead tuples', r.cnt, current_database(),
                          @extschema@._threshold('dead_tuples_pct'));
        evidence := jsonb_build_object('datname', current_database(), 'count', r.cnt, 'tables', r.top);
        action := 'check that autovacuum keeps up and nothing holds the xmin horizon; vacuum the worst tables';
        remedy_sql := format('VACUUM (VERBOSE, ANALYZE) %s;', r.worst);
        n := n + 1; ord := n; RETURN NEXT;
    END IF;

    -- slow queries (optional: pg_stat_statements) ----------------------------------
    chk := 'slow_queries';
    BEGIN
        SELECT count(*) AS cnt, max(q.mean_ms) AS worst,
               jsonb_agg(jsonb_build_object('queryid', q.queryid, 'mean_ms', q.mean_ms, 'calls', q.calls,
                                            'query', left(q.query, 200)) ORDER BY q.mean_ms DESC) AS list
          INTO r
          FROM @extschema@.slow_queries(5, 'mean', @extschema@._threshold('slow_query_min_calls')::bigint) q
         WHERE q.mean_ms >= @extschema@._threshold('slow_query_mean_ms');
        IF r.cnt > 0 THEN
            severity := 'SEV3'; check_name := chk;
            finding := format('%s statement(s) average at least %s ms per call (worst %s ms)', r.cnt,
                              @extschema@._threshold('slow_query_mean_ms'), r.worst);
            evidence := jsonb_build_object('count', r.cnt, 'statements', r.list);
            action := 'EXPLAIN (ANALYZE, BUFFERS) the worst, look for missing indexes';
            remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.slow_queries(10);';
            n := n + 1; ord := n; RETURN NEXT;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'install pg_stat_statements'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

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

CREATE OR REPLACE FUNCTION @extschema@.triage(
    OUT severity text,
    OUT check_name text,
    OUT finding text,
    OUT evidence jsonb,
    OUT action text,
    OUT remedy_sql text)
RETURNS SETOF record
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.severity, t.check_name, t.finding, t.evidence, t.action, t.remedy_sql
      FROM @extschema@._triage_rows() t
     ORDER BY t.severity, t.check_name, t.ord
$$;

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

-- ---------------------------------------------------------------------
-- privileges: read-only, pg_monitor (log_summary checks file-read rights
-- itself, see above); nothing to PUBLIC
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION @extschema@.log_summary(interval, bigint) FROM PUBLIC;
REVOKE ALL ON @extschema@.database_stats FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._shell_quote(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._one_line(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._migration_remedy(text, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._utc(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._server_line() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._impact_lines(jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._log_lines(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._integrity_lines(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.incident_message(text, timestamptz, interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.log_summary(interval, bigint) TO pg_monitor;
GRANT SELECT ON @extschema@.database_stats TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._shell_quote(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._one_line(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._migration_remedy(text, text, text, text, text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._utc(timestamptz) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._server_line() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._impact_lines(jsonb, jsonb) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._log_lines(timestamptz) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._integrity_lines(jsonb) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.incident_message(text, timestamptz, interval, interval) TO pg_monitor;
