-- ---------------------------------------------------------------------
-- incident_report
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@.incident_report(title text DEFAULT NULL, since timestamptz DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    md        text;
    sev       text;
    findings  jsonb;
    c         record;
    r         record;
    k         integer;
    t0        timestamptz := coalesce(since, now() - interval '1 hour');
    have_hist boolean := false;
    tl        jsonb := '[]';
    detected  timestamptz;
    detected_what text;
    resolved  timestamptz;
    mitigated timestamptz;
    ongoing   boolean := false;
    recovery  text := '';
    h         record;
    conn_thr  numeric := @extschema@._threshold('connections_sev2_pct');
BEGIN
    IF t0 > now() THEN
        RAISE EXCEPTION 'incident_report: since must not be in the future'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the start of the incident, e.g. now() - interval ''1 hour''.';
    END IF;

    -- triage() once: its ordered rows give both the severity and the table
    -- (the severity: the worst live finding; the server log's are the past)
    SELECT jsonb_agg(to_jsonb(t) ORDER BY t.n), coalesce(min(t.severity) FILTER (WHERE t.live), 'SEV4') INTO findings, sev
      FROM (SELECT row_number() OVER () AS n, * FROM @extschema@.triage()) t;
    SELECT * INTO c FROM @extschema@.connections();

    -- the timeline: events and the audit of the window, oldest first
    IF @extschema@._is_preloaded() THEN
        BEGIN
            SELECT coalesce(jsonb_agg(jsonb_build_object('at', e.at, 'phase', e.phase, 'what', e.what) ORDER BY e.at, e.ord), '[]')
              INTO tl
              FROM (
                SELECT ev.at, ev.seq AS ord,
                       CASE WHEN ev.kind IN ('lock_queue_cleared', 'connections_normal') THEN 'recovery'
                            WHEN ev.kind IN ('lock_queue_grew', 'lock_wait_long') THEN 'growth'
                            ELSE 'detection' END AS phase,
                       ev.kind || ': ' || ev.detail
                         || CASE WHEN cardinality(ev.pids) > 0 THEN ' (waiting: ' || array_to_string(ev.pids, ', ') || ')' ELSE '' END
                         || CASE WHEN ev.query IS NOT NULL THEN ' -- ' || left(ev.query, 100) ELSE '' END AS what
                  FROM @extschema@.events(t0, now()) ev
                UNION ALL
                SELECT a.acted_at, a.seq,
                       'action',
                       format('%s %s pid %s (%s): %s%s', a.actor, a.action, a.pid, coalesce(a.usename::text, '?'), a.outcome,
                              CASE WHEN a.reason IS NOT NULL AND a.reason <> '' THEN ' (' || a.reason || ')' ELSE '' END)
                  FROM @extschema@.recent_actions() a
                 WHERE a.acted_at >= t0
              ) e;
            SELECT min((x->>'at')::timestamptz) FILTER (WHERE x->>'phase' = 'detection'),
                   min((x->>'at')::timestamptz) FILTER (WHERE x->>'phase' = 'action'),
                   max((x->>'at')::timestamptz) FILTER (WHERE x->>'phase' = 'recovery')
              INTO detected, mitigated, resolved
              FROM jsonb_array_elements(tl) x;
            SELECT x->>'what' INTO detected_what FROM jsonb_array_elements(tl) x
             WHERE x->>'phase' = 'detection' ORDER BY (x->>'at')::timestamptz LIMIT 1;
            -- the samples of the period, in one pass: peaks, rates, and
            -- whether the latest sample still shows trouble
            SELECT count(*) AS n, min(hh.sampled_at) AS first_at, max(hh.sampled_at) AS last_at,
                   max(hh.connections_pct) AS max_pct,
                   (array_agg(hh.sampled_at ORDER BY hh.connections_pct DESC NULLS LAST, hh.sampled_at))[1] AS pct_at,
                   (array_agg(hh.connections ORDER BY hh.connections_pct DESC NULLS LAST, hh.sampled_at))[1] AS pct_conn,
                   max(hh.lock_waiters) AS max_waiters,
                   (array_agg(hh.sampled_at ORDER BY hh.lock_waiters DESC, hh.sampled_at))[1] AS waiters_at,
                   (array_agg(hh.root_blocker ORDER BY hh.lock_waiters DESC, hh.sampled_at))[1] AS waiters_root,
                   (array_agg(hh.root_blocked ORDER BY hh.lock_waiters DESC, hh.sampled_at))[1] AS waiters_behind,
                   max(hh.longest_lock_wait) AS max_wait,
                   round(avg(hh.tps)::numeric, 1) AS avg_tps,
                   round(max(hh.tps)::numeric, 1) AS max_tps,
                   round(avg(hh.rollbacks_per_s)::numeric, 2) AS avg_rb,
                   max(hh.deadlocks) - min(hh.deadlocks) AS deadlocks,
                   max(hh.temp_bytes) - min(hh.temp_bytes) AS temp_bytes,
                   (array_agg(hh.lock_waiters > 0 OR hh.connections_pct >= conn_thr
                              ORDER BY hh.sampled_at DESC))[1] AS open_now
              INTO h FROM @extschema@.history(t0, now()) hh;
            ongoing := coalesce(h.open_now, false);
            have_hist := true;
        EXCEPTION WHEN OTHERS THEN
            tl := jsonb_build_array(jsonb_build_object('at', now(), 'phase', 'note',
                                                       'what', 'history unavailable: ' || SQLERRM));
        END;
    END IF;

    md := format(E'# Incident: %s\n\n', coalesce(title, 'database incident on ' || coalesce(inet_server_addr()::text, 'local socket')));
    md := md || format(E'- **Opened:** %s\n- **Server:** %s\n- **Database:** %s\n- **Severity:** %s\n- **Status:** %s\n- **Detected:** %s\n- **Resolved:** %s\n- **Incident commander:** ____\n\n',
                       to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                       'PostgreSQL ' || current_setting('server_version') ||
                           CASE WHEN pg_is_in_recovery() THEN ' (standby)' ELSE ' (primary)' END,
                       @extschema@._md(current_database()), sev,
                       CASE WHEN resolved IS NOT NULL AND NOT ongoing THEN 'resolved' ELSE 'investigating' END,
                       CASE WHEN detected IS NULL THEN 'no threshold crossed since ' || to_char(t0 AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
                            ELSE to_char(detected AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') || ' by pg_runbook sampler (' || @extschema@._md(split_part(detected_what, ':', 1)) || ')' END,
                       CASE WHEN ongoing THEN 'not yet (the latest sample still shows it)'
                            WHEN resolved IS NULL THEN '____'
                            ELSE to_char(resolved AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
                                 || CASE WHEN detected IS NOT NULL AND resolved >= detected
                                         THEN ' (duration ' || date_trunc('second', resolved - detected) || ')' ELSE '' END END);

    md := md || E'## Findings\n\n| Severity | Check | Finding | Next step |\n|---|---|---|---|\n';
    FOR r IN SELECT * FROM jsonb_to_recordset(findings)
                        AS f(severity text, check_name text, finding text, action text, remedy_sql text) LOOP
        md := md || format(E'| %s | %s | %s | %s |\n', r.severity, r.check_name, @extschema@._md(r.finding),
                           CASE WHEN r.remedy_sql IS NULL THEN @extschema@._md(r.action)
                                ELSE '`' || @extschema@._md_code(r.remedy_sql) || '`' END);
    END LOOP;

    -- timeline from the flight recorder
    md := md || format(E'\n## Timeline since %s (flight recorder and audit)\n\n', to_char(t0 AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'));
    IF NOT @extschema@._is_preloaded() THEN
        md := md || E'Flight recorder unavailable: pg_runbook is not in shared_preload_libraries.\n';
    ELSIF jsonb_array_length(tl) = 0 THEN
        md := md || E'No event and no action recorded in this period.\n';
    ELSE
        md := md || E'| Time (UTC) | Phase | What |\n|---|---|---|\n';
        k := 0;
        FOR r IN SELECT (x->>'at')::timestamptz AS at, x->>'phase' AS phase, x->>'what' AS what
                   FROM jsonb_array_elements(tl) WITH ORDINALITY AS t(x, n) ORDER BY t.n LOOP
            k := k + 1;
            IF k > 200 THEN
                md := md || format(E'| … | | %s more rows: see runbook.events() |\n', jsonb_array_length(tl) - 200);
                EXIT;
            END IF;
            md := md || format(E'| %s | %s | %s |\n', to_char(r.at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'), r.phase, @extschema@._md(r.what));
        END LOOP;
    END IF;

    -- what the samples saw
    IF have_hist THEN
        md := md || E'\n## What the samples show\n\n';
        IF h.n = 0 THEN
            md := md || E'No sample in this period (pg_runbook.sample_interval = 0, or the server restarted).\n';
        ELSE
            md := md || format(E'%s samples from %s to %s UTC.\n\n', h.n,
                               to_char(h.first_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), to_char(h.last_at AT TIME ZONE 'UTC', 'HH24:MI:SS'));
            md := md || format(E'- Peak connections: %s (%s%% of the usable slots) at %s\n', h.pct_conn, h.max_pct,
                               to_char(h.pct_at AT TIME ZONE 'UTC', 'HH24:MI:SS'));
            IF h.max_waiters > 0 THEN
                md := md || format(E'- Peak lock waiters: %s at %s (root blocker pid %s, %s behind it); longest wait %s\n',
                                   h.max_waiters, to_char(h.waiters_at AT TIME ZONE 'UTC', 'HH24:MI:SS'),
                                   coalesce(h.waiters_root::text, '?'), h.waiters_behind, date_trunc('second', h.max_wait));
            ELSE
                md := md || E'- No session waited on a lock in any sample\n';
            END IF;
            md := md || format(E'- Transactions per second: %s on average, %s at most; rollbacks per second: %s; deadlocks: %s; temp bytes written: %s\n',
                               coalesce(h.avg_tps::text, 'n/a'), coalesce(h.max_tps::text, 'n/a'), coalesce(h.avg_rb::text, 'n/a'),
                               coalesce(h.deadlocks::text, 'n/a'), coalesce(pg_size_pretty(h.temp_bytes), 'n/a'));
            k := 0;
            FOR r IN SELECT w.wait_event_type, w.wait_event, w.seconds, w.pct FROM @extschema@.wait_profile(t0, now()) w
                      WHERE w.kind = 'wait_event' ORDER BY w.seconds DESC LIMIT 5 LOOP
                IF k = 0 THEN
                    md := md || E'- Active time by wait event: ';
                ELSE
                    md := md || ', ';
                END IF;
                k := k + 1;
                md := md || format('%s:%s %s s (%s%%)', r.wait_event_type, r.wait_event, r.seconds, r.pct);
            END LOOP;
            IF k > 0 THEN
                md := md || E'\n';
            END IF;
        END IF;
    END IF;

    md := md || format(E'\n## Connections now\n\n%s of %s usable in use (%s%%): %s active, %s idle, %s idle in transaction, %s idle in transaction (aborted); max_connections %s.\n',
                       c.in_use, c.usable, c.pct_used, c.active, c.idle, c.idle_in_transaction,
                       c.idle_in_transaction_aborted, c.max_connections);

    md := md || E'\n## Blocking now\n\n';
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
                           coalesce(r.root_blocker::text, ''), @extschema@._md(r.usename),
                           @extschema@._md(concat_ws(' ', r.mode, 'on', coalesce(r.relation::text, r.locktype))),
                           date_trunc('second', r.wait_age), @extschema@._md(left(r.query, 120)));
    END LOOP;
    IF k = 0 THEN
        md := md || E'No session waits on another.\n';
    END IF;

    md := md || E'\n## Long-running queries now\n\n';
    k := 0;
    FOR r IN SELECT l.pid, l.usename, l.datname, l.query_age, l.query FROM @extschema@.long_running('1 min') l
              WHERE l.pid <> pg_backend_pid() ORDER BY l.query_age DESC LIMIT 20 LOOP
        IF k = 0 THEN
            md := md || E'| Pid | User | Database | Running for | Query |\n|---|---|---|---|---|\n';
        END IF;
        k := k + 1;
        md := md || format(E'| %s | %s | %s | %s | %s |\n', r.pid, @extschema@._md(r.usename), @extschema@._md(r.datname),
                           date_trunc('second', r.query_age), @extschema@._md(left(r.query, 120)));
    END LOOP;
    IF k = 0 THEN
        md := md || E'No statement has run longer than 1 minute.\n';
    END IF;

    -- recovery method: what was done (audit), else how the trouble ended
    md := md || E'\n## Recovery\n\n';
    IF have_hist THEN
        SELECT string_agg(DISTINCT format('%s by %s (%s)', a.action, a.actor, a.outcome), '; ') INTO recovery
          FROM @extschema@.recent_actions() a
         WHERE a.acted_at >= t0 AND a.outcome IN ('terminated', 'cancelled');
        IF recovery IS NOT NULL THEN
            md := md || format(E'- **Method:** %s\n', @extschema@._md(recovery));
        ELSE
            SELECT string_agg(x->>'what', '; ') INTO recovery FROM jsonb_array_elements(tl) x WHERE x->>'phase' = 'recovery';
            md := md || format(E'- **Method:** %s\n', coalesce('no remediation recorded; ' || @extschema@._md(recovery), '____'));
        END IF;
        md := md || format(E'- **First action:** %s\n- **Resolution time:** %s\n',
                           coalesce(to_char(mitigated AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'), 'none recorded'),
                           CASE WHEN ongoing OR resolved IS NULL THEN '____'
                                ELSE to_char(resolved AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') END);
    ELSE
        md := md || E'- **Method:** ____\n- **Resolution time:** ____\n';
    END IF;

    md := md || @extschema@._report_recent_actions() || @extschema@._report_log_errors(t0);

    md := md || E'\n## Communication\n\n- Stakeholders notified at: ____\n- Status page / channel: ____\n- Next update due: ____\n';
    md := md || format(E'\n## Post-mortem\n\n### Summary\n\n____\n\n### Impact\n\n- Duration: %s\n- Users / services affected: ____\n- Data loss: ____\n',
                       CASE WHEN detected IS NOT NULL AND resolved IS NOT NULL AND NOT ongoing AND resolved >= detected
                            THEN date_trunc('second', resolved - detected)::text ELSE '____' END);
    md := md || format(E'\n### Timeline (UTC)\n\n| Time | Event |\n|---|---|\n| %s | first alert (detection) |\n| %s | mitigated (first action) |\n| %s | resolved |\n| %s | report generated by runbook.incident_report() |\n',
                       coalesce(to_char(detected AT TIME ZONE 'UTC', 'HH24:MI:SS'), '____'),
                       coalesce(to_char(mitigated AT TIME ZONE 'UTC', 'HH24:MI:SS'), '____'),
                       CASE WHEN ongoing OR resolved IS NULL THEN '____' ELSE to_char(resolved AT TIME ZONE 'UTC', 'HH24:MI:SS') END,
                       to_char(now() AT TIME ZONE 'UTC', 'HH24:MI:SS'));
    md := md || E'\n### Root cause\n\n____\n\n### Actions taken\n\n- [ ] ____\n\n### What went well / what went wrong\n\n- ____\n';
    md := md || E'\n### Follow-ups\n\n| Action | Owner | Due |\n|---|---|---|\n| ____ | ____ | ____ |\n';
    RETURN md;
END
$fn$;

COMMENT ON FUNCTION @extschema@.incident_report(text, timestamptz) IS
'a Markdown incident record: the live state (triage, connections, blocking, long-running queries, recent actions), the timeline since `since` (default: the last hour) from the flight recorder''s events and samples and the audit, detection and resolution times, the recovery method, errors of the server log, and the post-mortem checklist to fill';

REVOKE ALL ON FUNCTION @extschema@.incident_report(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.incident_report(text, timestamptz) TO pg_monitor;

-- One argument only (with a second, title, a call with two string literals
-- would be ambiguous between the two forms), and not named since (or
-- incident_report(since => ...) would be).

CREATE OR REPLACE FUNCTION @extschema@.incident_report(incident_start timestamptz)
RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.incident_report(NULL::text, incident_start) $$;

COMMENT ON FUNCTION @extschema@.incident_report(timestamptz) IS
'incident_report(since): the incident record of the period since `since` (a title: incident_report(title, since))';

REVOKE ALL ON FUNCTION @extschema@.incident_report(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.incident_report(timestamptz) TO pg_monitor;
