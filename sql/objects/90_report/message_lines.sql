-- Pieces of incident_message(): the server line, impact, log and integrity
-- lines.

CREATE OR REPLACE FUNCTION @extschema@._server_line()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('PostgreSQL %s (%s), database %s, server %s',
                  current_setting('server_version'),
                  CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END,
                  @extschema@._one_line(quote_ident(current_database())),
                  coalesce(host(inet_server_addr()) || ':' || inet_server_port(), 'local socket'))
$$;

COMMENT ON FUNCTION @extschema@._server_line() IS
'internal: the server as incident messages name it';

REVOKE ALL ON FUNCTION @extschema@._server_line() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._server_line() TO pg_monitor;

-- Impact / diagnostic lines from triage rows (f) and connections() (conn).

CREATE OR REPLACE FUNCTION @extschema@._impact_lines(f jsonb, conn jsonb)
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

REVOKE ALL ON FUNCTION @extschema@._impact_lines(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._impact_lines(jsonb, jsonb) TO pg_monitor;

-- Errors of the server log since a time, one line per group (resolve).

CREATE OR REPLACE FUNCTION @extschema@._log_lines(since timestamptz)
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
                                 @extschema@._one_line(left(r.example, 120)));
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

REVOKE ALL ON FUNCTION @extschema@._log_lines(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._log_lines(timestamptz) TO pg_monitor;

-- Data integrity status from the triage rows (resolve); a finding of
-- another database (triage's per-database checks) names it.

CREATE OR REPLACE FUNCTION @extschema@._integrity_lines(f jsonb)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(
             format(E'- %s: %s\n', v.label,
                    coalesce((SELECT string_agg(format('%s %s%s', e->>'severity',
                                                       CASE WHEN e->>'datname' <> current_database()
                                                            THEN format('(database %s) ', e->>'datname') ELSE '' END,
                                                       @extschema@._one_line(e->>'finding')), '; ')
                                FROM jsonb_array_elements(f) e
                               WHERE e->>'check_name' = v.chk
                                 AND (v.chk <> 'server_log' OR e->'evidence'->>'category' IN
                                      ('checksum_failure', 'data_corrupted', 'index_corrupted'))),
                             v.clean)), '' ORDER BY v.n)
      FROM (VALUES (1, 'checksum_failures', 'Checksum failures', 'none in pg_stat_database (NULL counters: checksums off)'),
                   (2, 'invalid_indexes', 'Invalid indexes', 'none in the databases checked'),
                   (3, 'not_valid_constraints', 'NOT VALID constraints', 'none in the databases checked'),
                   (4, 'migrations', 'Migrations', 'no failed, partial, dirty or locked migration found'),
                   (5, 'server_log', 'Server log', 'no corruption error in the last hour')) v(n, chk, label, clean)
$$;

COMMENT ON FUNCTION @extschema@._integrity_lines(jsonb) IS
'internal: the data integrity lines of the resolution message';

REVOKE ALL ON FUNCTION @extschema@._integrity_lines(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._integrity_lines(jsonb) TO pg_monitor;
