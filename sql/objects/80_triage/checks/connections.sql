-- A check of triage() (80_triage/triage.sql runs them): connection
-- saturation.  The finding names the source that holds the most slots
-- (database, role, application of the client sessions) and the remedy's
-- arguments come from its sessions: kill_idle() scoped to that source, with
-- the idle age of its youngest idle session as the cut-off, so that the
-- dry run lists exactly the sessions holding the slots (a fixed '30 min'
-- ends nothing when a pool leaks sessions idle for ten).

CREATE OR REPLACE FUNCTION @extschema@._triage_connections(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    c       record;
    src     record;
    pattern text;
    states  text;
BEGIN
    f.check_name := 'connections';
    SELECT * INTO c FROM @extschema@.connections();
    IF c.pct_used < @extschema@._threshold('connections_sev3_pct') THEN
        RETURN;
    END IF;
    -- the source with the most idle sessions (then the most sessions)
    SELECT s.datname, s.usename, s.application_name,
           count(*) AS sessions,
           count(*) FILTER (WHERE s.state = 'idle') AS idle,
           count(*) FILTER (WHERE s.state LIKE 'idle in transaction%') AS idle_xact,
           min(s.state_age) FILTER (WHERE s.state LIKE 'idle%') AS youngest_idle,
           max(s.state_age) FILTER (WHERE s.state LIKE 'idle%') AS oldest_idle,
           coalesce(bool_or(r.rolsuper), false) AS superuser
      INTO src
      FROM unnest(sess) s
      LEFT JOIN pg_roles r ON r.rolname = s.usename
     WHERE s.backend_type = 'client backend' AND s.pid <> pg_backend_pid()
     GROUP BY s.datname, s.usename, s.application_name
     ORDER BY count(*) FILTER (WHERE s.state LIKE 'idle%') DESC, count(*) DESC
     LIMIT 1;
    f.severity := CASE WHEN c.pct_used >= @extschema@._threshold('connections_sev1_pct') THEN 'SEV1'
                       WHEN c.pct_used >= @extschema@._threshold('connections_sev2_pct') THEN 'SEV2'
                       ELSE 'SEV3' END;
    f.finding := format('%s%% of connection slots in use (%s of %s usable; %s idle, %s idle in transaction)%s',
                        c.pct_used, c.in_use, c.usable, c.idle, c.idle_in_transaction,
                        CASE WHEN src.sessions IS NULL THEN ''
                             ELSE format('; application %s (role %s, database %s) holds %s of them, %s idle%s',
                                         coalesce(nullif(src.application_name, ''), '(none)'), src.usename, src.datname,
                                         src.sessions, src.idle + src.idle_xact,
                                         CASE WHEN src.youngest_idle IS NULL THEN ''
                                              ELSE format(' (for %s to %s)', date_trunc('second', src.youngest_idle),
                                                          date_trunc('second', src.oldest_idle)) END) END);
    f.evidence := jsonb_build_object('pct_used', c.pct_used, 'in_use', c.in_use, 'usable', c.usable,
                      'max_connections', c.max_connections, 'active', c.active, 'idle', c.idle,
                      'idle_in_transaction', c.idle_in_transaction, 'available', c.available,
                      'source', CASE WHEN src.sessions IS NOT NULL THEN jsonb_build_object(
                                    'datname', src.datname, 'usename', src.usename,
                                    'application_name', src.application_name, 'sessions', src.sessions,
                                    'idle', src.idle, 'idle_in_transaction', src.idle_xact,
                                    'youngest_idle_s', @extschema@._secs(src.youngest_idle),
                                    'oldest_idle_s', @extschema@._secs(src.oldest_idle)) END,
                      'top_sources', (SELECT jsonb_agg(to_jsonb(cs)) FROM
                          (SELECT * FROM @extschema@.connection_sources LIMIT 5) cs));
    IF coalesce(src.idle + src.idle_xact, 0) = 0 THEN
        f.action := @extschema@._runnable('text', 'the sessions are busy, not idle: find who opens them (connection_sources), put a pooler in front or raise max_connections');
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.connection_sources;', '@extschema@');
    ELSE
        -- a LIKE pattern that matches this application name only
        pattern := replace(replace(replace(coalesce(src.application_name, ''), '\', '\\'), '%', '\%'), '_', '\_');
        states := CASE WHEN src.idle_xact > 0 AND src.idle > 0 THEN '{idle,idle in transaction}'
                       WHEN src.idle_xact > 0 THEN '{idle in transaction}'
                       ELSE '{idle}' END;
        f.action := @extschema@._runnable('text', 'end the idle sessions of that source (a leak or an oversized pool), then fix its pool size or put a pooler in front.  The remedy is a dry run listing them: run it again with dry_run => false to end them');
        IF src.superuser THEN
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.kill_idle(%L, states => %L, role_name => %L, database_name => %L, application_pattern => %L, allow_superuser => true);',
                                '@extschema@', floor(extract(epoch FROM src.youngest_idle)) || ' s', states,
                                src.usename, src.datname, pattern);
        ELSE
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.kill_idle(%L, states => %L, role_name => %L, database_name => %L, application_pattern => %L);',
                                '@extschema@', floor(extract(epoch FROM src.youngest_idle)) || ' s', states,
                                src.usename, src.datname, pattern);
        END IF;
    END IF;
    RETURN NEXT f;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_connections(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_connections(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_connections(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
