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
