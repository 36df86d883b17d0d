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
