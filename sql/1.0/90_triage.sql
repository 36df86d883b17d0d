-- ---------------------------------------------------------------------
-- Triage and reporting: triage() ranks what is wrong right now (SEV1 to
-- SEV4) with evidence and the SQL a DBA would run next; alerts is the
-- runbooks' alert list with configurable thresholds; metrics() is a
-- Prometheus text exposition; incident_report() a Markdown incident record.
--
-- All SECURITY INVOKER and read-only: they read the other runbook
-- functions, statistics views and catalogs, take no lock beyond
-- AccessShareLock on catalogs, and every optional piece (worker, audit
-- ring, pg_stat_statements, a check that fails for lack of privilege) is
-- caught and reported as a SEV4 row instead of failing the whole call.
-- ---------------------------------------------------------------------

-- ---------------------------------------------------------------------
-- alert_thresholds
-- ---------------------------------------------------------------------
CREATE TABLE @extschema@.alert_thresholds (
    name        text PRIMARY KEY,
    value       numeric NOT NULL,
    unit        text NOT NULL,
    description text NOT NULL,
    user_set    boolean NOT NULL DEFAULT true
);

COMMENT ON TABLE @extschema@.alert_thresholds IS
'thresholds of triage() and the alerts view; UPDATE value to change one (user_set then becomes true and pg_dump keeps the row)';

INSERT INTO @extschema@.alert_thresholds (name, value, unit, description, user_set) VALUES
 ('connections_sev1_pct',        95,         'percent', 'connections in use of the usable slots: SEV1 at or above', false),
 ('connections_sev2_pct',        80,         'percent', 'connections in use of the usable slots: SEV2 at or above; DatabaseHighConnections', false),
 ('connections_sev3_pct',        70,         'percent', 'connections in use of the usable slots: SEV3 at or above', false),
 ('lock_wait_seconds',           60,         'seconds', 'a session waiting on a lock this long is SEV2 (shorter: SEV3); DatabaseLockWaits', false),
 ('lock_waiters_sev1',           20,         'count',   'this many sessions waiting on locks at once is SEV1', false),
 ('idle_xact_seconds',           600,        'seconds', 'idle in transaction this long without blocking anyone: SEV3', false),
 ('long_query_seconds',          300,        'seconds', 'a statement running this long: SEV3; DatabaseLongTransaction uses it for transactions', false),
 ('long_query_sev2_seconds',     3600,       'seconds', 'a statement running this long: SEV2', false),
 ('xmin_age_xids',               10000000,   'xids',    'a session, prepared transaction or slot holding the xmin horizon back by this many transactions: SEV3', false),
 ('xmin_age_sev2_xids',          100000000,  'xids',    'the same, SEV2', false),
 ('prepared_xact_seconds',       300,        'seconds', 'a prepared transaction older than this: SEV2', false),
 ('wraparound_sev1_pct',         90,         'percent', 'age(datfrozenxid) or mxid_age(datminmxid) as a share of 2^31: SEV1 at or above', false),
 ('wraparound_sev2_pct',         50,         'percent', 'the same, SEV2 at or above; DatabaseWraparoundRisk', false),
 ('replication_lag_bytes',       104857600,  'bytes',   'a replica replaying this far behind: SEV3; DatabaseReplicationLag', false),
 ('replication_lag_sev2_bytes',  1073741824, 'bytes',   'the same, SEV2', false),
 ('slot_retained_bytes',         1073741824, 'bytes',   'an inactive replication slot retaining this much WAL: SEV2', false),
 ('dead_tuples_pct',             20,         'percent', 'n_dead_tup of n_live_tup + n_dead_tup: DatabaseHighDeadTuples and SEV3 at or above', false),
 ('dead_tuples_min',             10000,      'count',   'ignore tables with fewer dead tuples than this', false),
 ('slow_query_mean_ms',          1000,       'ms',      'pg_stat_statements mean time per call: DatabaseSlowQueries and SEV3 at or above', false),
 ('slow_query_min_calls',        10,         'count',   'ignore statements called fewer times than this', false);

-- A user change marks the row user_set; pg_dump keeps only those rows, and
-- on restore the INSERT of a row CREATE EXTENSION already made becomes an
-- UPDATE of it (no duplicate key error).
CREATE FUNCTION @extschema@._alert_thresholds_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.value IS DISTINCT FROM OLD.value OR NEW.unit IS DISTINCT FROM OLD.unit
           OR NEW.description IS DISTINCT FROM OLD.description THEN
            NEW.user_set := true;
        END IF;
        RETURN NEW;
    END IF;
    -- INSERT
    IF NEW.value IS NULL OR NEW.value < 0 THEN
        RAISE EXCEPTION 'threshold % must be a non-negative number', NEW.name
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE @extschema@.alert_thresholds t
       SET value = NEW.value, unit = NEW.unit, description = NEW.description, user_set = NEW.user_set
     WHERE t.name = NEW.name;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER alert_thresholds_write
BEFORE INSERT OR UPDATE ON @extschema@.alert_thresholds
FOR EACH ROW EXECUTE FUNCTION @extschema@._alert_thresholds_write();

SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert_thresholds', 'WHERE user_set');

-- Threshold by name (a missing row falls back to the shipped default).
CREATE FUNCTION @extschema@._threshold(threshold_name text)
RETURNS numeric
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        (SELECT value FROM @extschema@.alert_thresholds WHERE name = threshold_name),
        CASE threshold_name
            WHEN 'connections_sev1_pct' THEN 95 WHEN 'connections_sev2_pct' THEN 80
            WHEN 'connections_sev3_pct' THEN 70 WHEN 'lock_wait_seconds' THEN 60
            WHEN 'lock_waiters_sev1' THEN 20 WHEN 'idle_xact_seconds' THEN 600
            WHEN 'long_query_seconds' THEN 300 WHEN 'long_query_sev2_seconds' THEN 3600
            WHEN 'xmin_age_xids' THEN 10000000 WHEN 'xmin_age_sev2_xids' THEN 100000000
            WHEN 'prepared_xact_seconds' THEN 300 WHEN 'wraparound_sev1_pct' THEN 90
            WHEN 'wraparound_sev2_pct' THEN 50 WHEN 'replication_lag_bytes' THEN 104857600
            WHEN 'replication_lag_sev2_bytes' THEN 1073741824 WHEN 'slot_retained_bytes' THEN 1073741824
            WHEN 'dead_tuples_pct' THEN 20 WHEN 'dead_tuples_min' THEN 10000
            WHEN 'slow_query_mean_ms' THEN 1000 WHEN 'slow_query_min_calls' THEN 10
        END)
$$;

COMMENT ON FUNCTION @extschema@._threshold(text) IS
'internal: the value of one alert threshold (the shipped default if its row is gone)';

-- Whether pg_runbook's shared memory exists (loaded by shared_preload_libraries).
CREATE FUNCTION @extschema@._is_preloaded()
RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT 'pg_runbook' = ANY (@extschema@._preloaded_libraries()) $$;

COMMENT ON FUNCTION @extschema@._is_preloaded() IS
'internal: pg_runbook is in shared_preload_libraries (worker and audit ring exist)';

-- Seconds of an interval, NULL-safe, rounded for evidence.
CREATE FUNCTION @extschema@._secs(i interval)
RETURNS numeric
LANGUAGE sql IMMUTABLE
AS $$ SELECT round(extract(epoch FROM i), 1) $$;

-- ---------------------------------------------------------------------
-- triage
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._triage_rows(
    OUT severity text,
    OUT check_name text,
    OUT finding text,
    OUT evidence jsonb,
    OUT action text,
    OUT remedy_sql text,
    OUT ord integer)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
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
        -- through the remedy path (re-check, safety rules, audit), not a bare pg_terminate_backend
        remedy_sql := format('SELECT * FROM %s.terminate_blockers(%L);  -- dry run: pid %s is the root; then dry_run => false',
                             '@extschema@', (floor(r.max_wait) || ' s'), r.pid);
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
                             '@extschema@', '@extschema@', (floor(r.max_wait) || ' s'));
        n := n + 1; ord := n; RETURN NEXT;
    END IF;

    -- long-running statements ------------------------------------------
    chk := 'long_running';
    SELECT count(*) AS cnt, max(s.query_age) AS max_age,
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
        remedy_sql := format('SELECT * FROM %s.cancel_long(%L, dry_run => true);', '@extschema@',
                             (@extschema@._threshold('long_query_seconds') || ' s'));
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
        remedy_sql := format('SELECT * FROM %s.kill_idle(%L, states => ''{idle in transaction,idle in transaction (aborted)}'', dry_run => true);  -- ends pid %s among others; or SELECT pg_terminate_backend(%s) (not audited)',
                             '@extschema@', date_trunc('second', coalesce(r.xact_age, '0'))::text, r.pid, r.pid);
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
                                 quote_ident(r.datname));
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
                            'actions', r.actions, 'last_error', r.last_error, 'last_error_at', r.last_error_at);
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
            IF r.last_error IS NOT NULL THEN
                -- the worker keeps its last error after later cycles succeed:
                -- only a recent one is a finding that needs work
                severity := CASE WHEN r.last_error_at > now() - interval '1 hour' THEN 'SEV3' ELSE 'SEV4' END;
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
            remedy_sql := r.remedy;
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
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

CREATE FUNCTION @extschema@.triage(
    OUT severity text,
    OUT check_name text,
    OUT finding text,
    OUT evidence jsonb,
    OUT action text,
    OUT remedy_sql text)
RETURNS SETOF record
LANGUAGE sql VOLATILE
AS $$
    SELECT t.severity, t.check_name, t.finding, t.evidence, t.action, t.remedy_sql
      FROM @extschema@._triage_rows() t
     ORDER BY t.severity, t.check_name, t.ord
$$;

COMMENT ON FUNCTION @extschema@.triage() IS
'what is wrong now, SEV1 (act now) to SEV4 (information), with evidence and the SQL to run next; thresholds in alert_thresholds';

-- ---------------------------------------------------------------------
-- alerts
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._alert_rows(
    OUT alert text,
    OUT firing boolean,
    OUT value numeric,
    OUT threshold numeric,
    OUT unit text,
    OUT summary text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    sess @extschema@.sessions[];
    r    record;
    v    numeric;
    t    numeric;
BEGIN
    sess := ARRAY(SELECT s FROM @extschema@.sessions s);

    alert := 'DatabaseHighConnections'; unit := 'percent';
    t := @extschema@._threshold('connections_sev2_pct');
    SELECT * INTO r FROM @extschema@.connections();
    value := r.pct_used; threshold := t; firing := value >= t;
    summary := format('%s of %s usable connections in use', r.in_use, r.usable);
    RETURN NEXT;

    alert := 'DatabaseLockWaits'; unit := 'seconds';
    t := @extschema@._threshold('lock_wait_seconds');
    SELECT count(*) AS cnt, max(extract(epoch FROM b.wait_age)) AS mx INTO r
      FROM @extschema@.blocking_locks() b;
    value := round(coalesce(r.mx, 0), 1); threshold := t; firing := r.cnt > 0 AND value >= t;
    summary := format('%s session(s) waiting on locks', r.cnt);
    RETURN NEXT;

    alert := 'DatabaseLongTransaction'; unit := 'seconds';
    t := @extschema@._threshold('long_query_seconds');
    SELECT max(extract(epoch FROM s.xact_age)) AS mx, count(*) FILTER (WHERE extract(epoch FROM s.xact_age) >= t) AS cnt INTO r
      FROM unnest(sess) s WHERE s.backend_type = 'client backend' AND s.pid <> pg_backend_pid();
    value := round(coalesce(r.mx, 0), 1); threshold := t; firing := value >= t;
    summary := format('%s transaction(s) open longer than %s s', r.cnt, t);
    RETURN NEXT;

    alert := 'DatabaseIdleInTransaction'; unit := 'seconds';
    t := @extschema@._threshold('idle_xact_seconds');
    SELECT max(extract(epoch FROM s.state_age)) AS mx, count(*) AS cnt INTO r
      FROM unnest(sess) s WHERE s.state LIKE 'idle in transaction%';
    value := round(coalesce(r.mx, 0), 1); threshold := t; firing := value >= t;
    summary := format('%s session(s) idle in transaction', r.cnt);
    RETURN NEXT;

    alert := 'DatabaseSlowQueries'; unit := 'ms';
    t := @extschema@._threshold('slow_query_mean_ms'); threshold := t;
    BEGIN
        SELECT max(q.mean_ms) AS mx, count(*) FILTER (WHERE q.mean_ms >= t) AS cnt INTO r
          FROM @extschema@.slow_queries(50, 'mean', @extschema@._threshold('slow_query_min_calls')::bigint) q;
        value := coalesce(r.mx, 0); firing := value >= t;
        summary := format('%s statement(s) with a mean time of at least %s ms', r.cnt, t);
    EXCEPTION WHEN OTHERS THEN
        value := NULL; firing := false;
        summary := 'unavailable: ' || SQLERRM;
    END;
    RETURN NEXT;

    alert := 'DatabaseHighDeadTuples'; unit := 'percent';
    t := @extschema@._threshold('dead_tuples_pct'); threshold := t;
    SELECT max(100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0)) AS mx,
           count(*) FILTER (WHERE 100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0) >= t) AS cnt INTO r
      FROM pg_stat_user_tables WHERE n_dead_tup >= @extschema@._threshold('dead_tuples_min');
    value := round(coalesce(r.mx, 0), 1); firing := value >= t;
    summary := format('%s table(s) in %s with at least %s%% dead tuples', r.cnt, current_database(), t);
    RETURN NEXT;

    alert := 'DatabaseReplicationLag'; unit := 'bytes';
    t := @extschema@._threshold('replication_lag_bytes'); threshold := t;
    BEGIN
        SELECT max(rs.replay_lag_bytes) AS mx, count(*) AS cnt INTO r
          FROM @extschema@.replication_status() rs WHERE rs.kind = 'replica';
        value := coalesce(r.mx, 0); firing := value >= t;
        summary := format('%s replica(s); the furthest behind by %s', r.cnt, pg_size_pretty(value));
    EXCEPTION WHEN OTHERS THEN
        value := NULL; firing := false; summary := 'unavailable: ' || SQLERRM;
    END;
    RETURN NEXT;

    alert := 'DatabaseXminHorizon'; unit := 'xids';
    t := @extschema@._threshold('xmin_age_xids'); threshold := t;
    SELECT max(greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0))) AS mx INTO r FROM unnest(sess) s;
    v := coalesce(r.mx, 0);
    SELECT greatest(v, coalesce(max(greatest(coalesce(age(p.transaction), 0))), 0)) INTO v FROM pg_prepared_xacts p;
    SELECT greatest(v, coalesce(max(greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0))), 0)) INTO v
      FROM pg_replication_slots sl;
    value := v; firing := value >= t;
    summary := 'oldest xmin held by a session, prepared transaction or slot, in transactions';
    RETURN NEXT;

    alert := 'DatabaseWraparoundRisk'; unit := 'percent';
    t := @extschema@._threshold('wraparound_sev2_pct'); threshold := t;
    SELECT d.datname, round(100.0 * greatest(age(d.datfrozenxid), mxid_age(d.datminmxid)) / 2147483648, 2) AS pct INTO r
      FROM pg_database d ORDER BY 2 DESC LIMIT 1;
    value := r.pct; firing := value >= t;
    summary := format('database %s is the oldest: %s%% of the 2^31 xid/multixact limit', r.datname, r.pct);
    RETURN NEXT;
END
$fn$;

COMMENT ON FUNCTION @extschema@._alert_rows() IS
'internal: the rows of the alerts view';

CREATE VIEW @extschema@.alerts AS
    SELECT * FROM @extschema@._alert_rows();

COMMENT ON VIEW @extschema@.alerts IS
'the runbooks'' alerts (DatabaseHighConnections, DatabaseSlowQueries, ...): firing, value, threshold (from alert_thresholds), summary';

-- ---------------------------------------------------------------------
-- metrics
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._prom_label(v text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT replace(replace(replace(coalesce(v, ''), '\', '\\'), '"', '\"'), E'\n', '\n') $$;

CREATE FUNCTION @extschema@.metrics()
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    out  text := '';
    sess @extschema@.sessions[];
    c    record;
    r    record;
    w    record;
BEGIN
    sess := ARRAY(SELECT s FROM @extschema@.sessions s);
    SELECT * INTO c FROM @extschema@.connections();

    out := out || E'# HELP pg_runbook_connections Client connections by state.\n# TYPE pg_runbook_connections gauge\n';
    out := out || format(E'pg_runbook_connections{state="active"} %s\npg_runbook_connections{state="idle"} %s\npg_runbook_connections{state="idle_in_transaction"} %s\npg_runbook_connections{state="idle_in_transaction_aborted"} %s\npg_runbook_connections{state="other"} %s\n',
                         c.active, c.idle, c.idle_in_transaction, c.idle_in_transaction_aborted, c.other);
    out := out || format(E'# HELP pg_runbook_max_connections Setting max_connections.\n# TYPE pg_runbook_max_connections gauge\npg_runbook_max_connections %s\n', c.max_connections);
    out := out || format(E'# HELP pg_runbook_connections_used_ratio Connections in use of the usable slots.\n# TYPE pg_runbook_connections_used_ratio gauge\npg_runbook_connections_used_ratio %s\n',
                         round(coalesce(c.pct_used, 0) / 100, 4));

    SELECT count(*) AS waiters,
           coalesce(max(extract(epoch FROM s.xact_age)) FILTER (WHERE s.backend_type = 'client backend'), 0) AS oldest,
           count(*) FILTER (WHERE s.state = 'active' AND s.backend_type = 'client backend' AND s.pid <> pg_backend_pid()
                            AND extract(epoch FROM s.query_age) >= @extschema@._threshold('long_query_seconds')) AS long_running
      INTO r FROM unnest(sess) s;
    out := out || format(E'# HELP pg_runbook_lock_waiters Sessions waiting on a heavyweight lock.\n# TYPE pg_runbook_lock_waiters gauge\npg_runbook_lock_waiters %s\n',
                         (SELECT count(*) FROM unnest(sess) s WHERE s.wait_event_type = 'Lock'));
    out := out || format(E'# HELP pg_runbook_oldest_xact_age_seconds Age of the oldest open transaction of a client backend.\n# TYPE pg_runbook_oldest_xact_age_seconds gauge\npg_runbook_oldest_xact_age_seconds %s\n',
                         round(r.oldest, 3));
    out := out || format(E'# HELP pg_runbook_long_running Statements running longer than the long_query_seconds threshold.\n# TYPE pg_runbook_long_running gauge\npg_runbook_long_running %s\n',
                         r.long_running);

    out := out || E'# HELP pg_runbook_xid_age Transaction ID age of the database (age(datfrozenxid)).\n# TYPE pg_runbook_xid_age gauge\n';
    FOR r IN SELECT datname, age(datfrozenxid) AS a FROM pg_database ORDER BY datname LOOP
        out := out || format(E'pg_runbook_xid_age{datname="%s"} %s\n', @extschema@._prom_label(r.datname), r.a);
    END LOOP;
    out := out || E'# HELP pg_runbook_mxid_age Multixact ID age of the database (mxid_age(datminmxid)).\n# TYPE pg_runbook_mxid_age gauge\n';
    FOR r IN SELECT datname, mxid_age(datminmxid) AS a FROM pg_database ORDER BY datname LOOP
        out := out || format(E'pg_runbook_mxid_age{datname="%s"} %s\n', @extschema@._prom_label(r.datname), r.a);
    END LOOP;

    BEGIN
        out := out || E'# HELP pg_runbook_replication_lag_bytes Replay lag of each replica in bytes.\n# TYPE pg_runbook_replication_lag_bytes gauge\n';
        FOR r IN SELECT name, coalesce(replay_lag_bytes, 0) AS b FROM @extschema@.replication_status()
                  WHERE kind = 'replica' ORDER BY name LOOP
            out := out || format(E'pg_runbook_replication_lag_bytes{application_name="%s"} %s\n', @extschema@._prom_label(r.name), r.b);
        END LOOP;
        out := out || E'# HELP pg_runbook_slot_retained_bytes WAL retained by each replication slot in bytes.\n# TYPE pg_runbook_slot_retained_bytes gauge\n';
        FOR r IN SELECT name, coalesce(retained_bytes, 0) AS b, active FROM @extschema@.replication_status()
                  WHERE kind = 'slot' ORDER BY name LOOP
            out := out || format(E'pg_runbook_slot_retained_bytes{slot_name="%s",active="%s"} %s\n',
                                 @extschema@._prom_label(r.name), r.active, r.b);
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- the families above stay declared with no samples
    END;

    IF @extschema@._is_preloaded() THEN
        BEGIN
            SELECT * INTO w FROM @extschema@.worker_status();
            out := out || format(E'# HELP pg_runbook_worker_running Whether the pg_runbook worker runs (1) or not (0).\n# TYPE pg_runbook_worker_running gauge\npg_runbook_worker_running %s\n',
                                 CASE WHEN w.running THEN 1 ELSE 0 END);
            out := out || format(E'# HELP pg_runbook_worker_paused Whether the pg_runbook worker is paused.\n# TYPE pg_runbook_worker_paused gauge\npg_runbook_worker_paused %s\n',
                                 CASE WHEN w.paused THEN 1 ELSE 0 END);
            out := out || format(E'# HELP pg_runbook_worker_cycles_total Policy cycles the worker has run.\n# TYPE pg_runbook_worker_cycles_total counter\npg_runbook_worker_cycles_total %s\n',
                                 coalesce(w.cycles, 0));
            out := out || format(E'# HELP pg_runbook_worker_actions_total Actions the worker has taken.\n# TYPE pg_runbook_worker_actions_total counter\npg_runbook_worker_actions_total %s\n',
                                 coalesce(w.actions, 0));
            out := out || format(E'# HELP pg_runbook_worker_last_cycle_seconds Duration of the last worker cycle.\n# TYPE pg_runbook_worker_last_cycle_seconds gauge\npg_runbook_worker_last_cycle_seconds %s\n',
                                 round(coalesce(w.last_cycle_ms, 0)::numeric / 1000, 6));
            out := out || E'# HELP pg_runbook_actions Remediation actions in the audit ring by action and outcome.\n# TYPE pg_runbook_actions gauge\n';
            FOR r IN SELECT a.action, a.outcome, count(*) AS n FROM @extschema@.recent_actions() a
                      GROUP BY 1, 2 ORDER BY 1, 2 LOOP
                out := out || format(E'pg_runbook_actions{action="%s",outcome="%s"} %s\n',
                                     @extschema@._prom_label(r.action), @extschema@._prom_label(r.outcome), r.n);
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END IF;

    out := out || E'# HELP pg_runbook_alert_firing Whether each runbook alert fires (1) or not (0).\n# TYPE pg_runbook_alert_firing gauge\n';
    FOR r IN SELECT a.alert, a.firing FROM @extschema@.alerts a LOOP
        out := out || format(E'pg_runbook_alert_firing{alert="%s"} %s\n', r.alert, CASE WHEN r.firing THEN 1 ELSE 0 END);
    END LOOP;
    RETURN out;
END
$fn$;

COMMENT ON FUNCTION @extschema@.metrics() IS
'key figures in the Prometheus text exposition format (one text value, for a textfile collector or an HTTP exporter)';

-- ---------------------------------------------------------------------
-- incident_report
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._md(v text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT replace(replace(regexp_replace(coalesce(v, ''), '\s+', ' ', 'g'), '|', '\|'), '`', '''') $$;

CREATE FUNCTION @extschema@.incident_report(title text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    md       text;
    sev      text;
    findings jsonb;
    c        record;
    r    record;
    k    integer;
BEGIN
    -- triage() once: its ordered rows give both the severity and the table
    SELECT jsonb_agg(to_jsonb(t) ORDER BY t.n), min(t.severity) INTO findings, sev
      FROM (SELECT row_number() OVER () AS n, * FROM @extschema@.triage()) t;
    SELECT * INTO c FROM @extschema@.connections();

    md := format(E'# Incident: %s\n\n', coalesce(title, 'database incident on ' || coalesce(inet_server_addr()::text, 'local socket')));
    md := md || format(E'- **Opened:** %s\n- **Server:** %s\n- **Database:** %s\n- **Severity:** %s\n- **Status:** investigating\n- **Incident commander:** ____\n\n',
                       to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                       'PostgreSQL ' || current_setting('server_version') ||
                           CASE WHEN pg_is_in_recovery() THEN ' (standby)' ELSE ' (primary)' END,
                       current_database(), sev);

    md := md || E'## Findings\n\n| Severity | Check | Finding | Next step |\n|---|---|---|---|\n';
    FOR r IN SELECT * FROM jsonb_to_recordset(findings)
                        AS f(severity text, check_name text, finding text, action text, remedy_sql text) LOOP
        md := md || format(E'| %s | %s | %s | %s |\n', r.severity, r.check_name, @extschema@._md(r.finding),
                           CASE WHEN r.remedy_sql IS NULL THEN @extschema@._md(r.action)
                                ELSE '`' || @extschema@._md(r.remedy_sql) || '`' END);
    END LOOP;

    md := md || format(E'\n## Connections\n\n%s of %s usable in use (%s%%): %s active, %s idle, %s idle in transaction, %s idle in transaction (aborted); max_connections %s.\n',
                       c.in_use, c.usable, c.pct_used, c.active, c.idle, c.idle_in_transaction,
                       c.idle_in_transaction_aborted, c.max_connections);

    md := md || E'\n## Blocking\n\n';
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

    md := md || E'\n## Long-running queries\n\n';
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

    md := md || E'\n## Communication\n\n- Stakeholders notified at: ____\n- Status page / channel: ____\n- Next update due: ____\n';
    md := md || E'\n## Post-mortem\n\n### Summary\n\n____\n\n### Impact\n\n- Duration: ____\n- Users / services affected: ____\n- Data loss: ____\n';
    md := md || E'\n### Timeline (UTC)\n\n| Time | Event |\n|---|---|\n| '
             || to_char(now() AT TIME ZONE 'UTC', 'HH24:MI') || E' | report generated by runbook.incident_report() |\n| ____ | first alert |\n| ____ | mitigated |\n| ____ | resolved |\n';
    md := md || E'\n### Root cause\n\n____\n\n### Actions taken\n\n- [ ] ____\n\n### What went well / what went wrong\n\n- ____\n';
    md := md || E'\n### Follow-ups\n\n| Action | Owner | Due |\n|---|---|---|\n| ____ | ____ | ____ |\n';
    RETURN md;
END
$fn$;

COMMENT ON FUNCTION @extschema@.incident_report(text) IS
'a Markdown incident record from the live state (triage, connections, blocking, long-running queries, recent actions) with the post-mortem checklist to fill';

-- ---------------------------------------------------------------------
-- privileges: read-only, pg_monitor
-- ---------------------------------------------------------------------
REVOKE ALL ON TABLE @extschema@.alert_thresholds FROM PUBLIC;
REVOKE ALL ON @extschema@.alerts FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._alert_thresholds_write() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._threshold(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._is_preloaded() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._secs(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._triage_rows() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.triage() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._alert_rows() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._prom_label(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.metrics() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._md(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.incident_report(text) FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.alert_thresholds TO pg_monitor;
GRANT SELECT ON @extschema@.alerts TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._threshold(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._is_preloaded() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._secs(interval) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._triage_rows() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.triage() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._alert_rows() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._prom_label(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.metrics() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._md(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.incident_report(text) TO pg_monitor;
