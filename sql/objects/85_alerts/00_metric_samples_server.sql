-- metric_samples() families: replication, server log errors, the worker
-- and the audit, the runbooks' alerts.
CREATE OR REPLACE FUNCTION @extschema@._metric_samples_server(
    families text[],
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
    r       record;
    w       record;
    ok      boolean;
    js      jsonb;
BEGIN
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
        ok := true;
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

COMMENT ON FUNCTION @extschema@._metric_samples_server(text[]) IS
'internal: the replication, log, worker, audit and alert families, for metric_samples()';

REVOKE ALL ON FUNCTION @extschema@._metric_samples_server(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._metric_samples_server(text[]) TO pg_monitor;
