-- Sections of incident_report() that stand on their own: the last actions
-- of the audit ring, and the errors of the server log since the start of
-- the incident.  Each returns Markdown, beginning with its heading.

CREATE OR REPLACE FUNCTION @extschema@._report_recent_actions()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    md text := E'\n## Recent actions\n\n';
    r  record;
    k  integer := 0;
BEGIN
    IF NOT @extschema@._is_preloaded() THEN
        RETURN md || E'Audit ring unavailable: pg_runbook is not in shared_preload_libraries.\n';
    END IF;
    BEGIN
        FOR r IN SELECT * FROM (SELECT a.acted_at, a.actor, a.pid, a.usename, a.action, a.outcome, a.reason, a.seq
                                  FROM @extschema@.recent_actions() a ORDER BY a.seq DESC LIMIT 20) x
                  ORDER BY x.seq LOOP
            IF k = 0 THEN
                md := md || E'| At | Actor | Pid | User | Action | Outcome | Reason |\n|---|---|---|---|---|---|---|\n';
            END IF;
            k := k + 1;
            md := md || format(E'| %s | %s | %s | %s | %s | %s | %s |\n', date_trunc('second', r.acted_at), @extschema@._md(r.actor),
                               r.pid, @extschema@._md(r.usename), r.action, r.outcome, @extschema@._md(r.reason));
        END LOOP;
        IF k = 0 THEN
            md := md || E'No remediation action since the server started.\n';
        END IF;
    EXCEPTION WHEN OTHERS THEN
        md := md || 'Audit ring unavailable: ' || @extschema@._md(SQLERRM) || E'\n';
    END;
    RETURN md;
END
$fn$;

COMMENT ON FUNCTION @extschema@._report_recent_actions() IS
'internal: the "Recent actions" section of incident_report()';

REVOKE ALL ON FUNCTION @extschema@._report_recent_actions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._report_recent_actions() TO pg_monitor;

-- at most 8 MB of log are read, as triage() does
CREATE OR REPLACE FUNCTION @extschema@._report_log_errors(since timestamptz)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    md text := E'\n## Errors in the server log\n\n';
    r  record;
    k  integer := 0;
BEGIN
    FOR r IN SELECT l.severity, l.sqlstate, l.count AS n, l.first_at, l.last_at, l.example
               FROM @extschema@.log_summary(now() - since, 8388608) l
              WHERE l.count > 0 ORDER BY l.count DESC LIMIT 20 LOOP
        IF k = 0 THEN
            md := md || E'| Severity | SQLSTATE | Count | First | Last | Example |\n|---|---|---|---|---|---|\n';
        END IF;
        k := k + 1;
        md := md || format(E'| %s | %s | %s | %s | %s | %s |\n', r.severity, @extschema@._md(r.sqlstate), r.n,
                           to_char(r.first_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), to_char(r.last_at AT TIME ZONE 'UTC', 'HH24:MI:SS'),
                           @extschema@._md(left(r.example, 120)));
    END LOOP;
    IF k = 0 THEN
        md := md || E'No ERROR, FATAL or PANIC in the server log for this period.\n';
    END IF;
    RETURN md;
EXCEPTION WHEN OTHERS THEN
    RETURN md || 'Server log unavailable: ' || @extschema@._md(SQLERRM) || E'\n';
END
$fn$;

COMMENT ON FUNCTION @extschema@._report_log_errors(timestamptz) IS
'internal: the "Errors in the server log" section of incident_report()';

REVOKE ALL ON FUNCTION @extschema@._report_log_errors(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._report_log_errors(timestamptz) TO pg_monitor;
