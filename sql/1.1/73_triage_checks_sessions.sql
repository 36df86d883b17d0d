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
