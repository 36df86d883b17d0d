-- runbook.incident_message(kind, ...): the seeds' communication templates
-- (declare, update, resolve, status page), filled from the live state.

CREATE OR REPLACE FUNCTION @extschema@.incident_message(
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
    -- the worst live finding (a past one of the server log is not the state now)
    SELECT jsonb_agg(to_jsonb(t) ORDER BY t.n), min(t.severity) FILTER (WHERE t.check_name <> 'summary' AND t.live)
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
        lines := lines || format(E'- %s %s: %s\n', r.severity, r.check_name, @extschema@._one_line(r.finding));
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
                                       @extschema@._one_line(coalesce(r.usename::text, '?')),
                                       @extschema@._one_line(coalesce(nullif(r.application_name, ''), 'no application_name')),
                                       r.outcome, @extschema@._one_line(r.actor), @extschema@._one_line(r.acting_role),
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
                                                         coalesce(@extschema@._runnable('text', '%s', e->>'remedy_sql'), 'see triage()')), E'\n' ORDER BY n)
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
