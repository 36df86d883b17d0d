-- A check of triage() (80_triage/triage.sql runs them): the server log of the
-- last hour (cheap: at most 8 MB read from its end).  What the log shows is
-- the past: every finding carries past_at (the last occurrence) in its
-- evidence, which makes it a past finding that triage() ranks after the
-- live ones, and a severity the live state contradicts is not kept
-- (clients refused earlier, while connections are fine now, is SEV4).

CREATE OR REPLACE FUNCTION @extschema@._triage_server_log(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    conn_pct numeric := (SELECT c.pct_used FROM @extschema@.connections() c);
    conn_ok boolean;
BEGIN
    f.check_name := 'server_log';
    conn_ok := coalesce(conn_pct < @extschema@._threshold('connections_sev3_pct'), true);
    FOR r IN
        SELECT l.*
          FROM @extschema@.log_summary('1 hour', 8388608) l
         WHERE l.severity = 'PANIC'
            OR l.category IN ('too_many_connections', 'deadlock', 'statement_timeout', 'lock_timeout',
                              'idle_in_transaction_timeout', 'idle_session_timeout', 'transaction_timeout',
                              'out_of_memory', 'disk_full', 'checksum_failure', 'data_corrupted',
                              'index_corrupted')
         ORDER BY l.last_at DESC NULLS LAST
    LOOP
        f.severity := CASE
              -- refused clients: over once the slots are free again
              WHEN r.category = 'too_many_connections' AND conn_ok THEN 'SEV4'
              WHEN r.category = 'too_many_connections' AND r.last_at > now() - interval '5 min' THEN 'SEV1'
              WHEN r.severity = 'PANIC'
                OR r.category IN ('too_many_connections', 'out_of_memory', 'disk_full', 'checksum_failure',
                                  'data_corrupted', 'index_corrupted') THEN 'SEV2'
              WHEN r.category = 'deadlock' THEN 'SEV3'
              ELSE 'SEV4' END;
        f.finding := format('past, last at %s: server log, last hour: %s %s x%s (%s%s), from %s to %s%s; latest: %s',
                            coalesce(to_char(r.last_at AT TIME ZONE 'UTC', 'HH24:MI:SS "UTC"'), '?'),
                            r.severity, coalesce(r.category, 'error'), r.count,
                            coalesce('SQLSTATE ' || r.sqlstate, 'SQLSTATE not logged'),
                            CASE WHEN r.category = 'too_many_connections' THEN ': clients were refused' ELSE '' END,
                            coalesce(to_char(r.first_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), '?'),
                            coalesce(to_char(r.last_at AT TIME ZONE 'UTC', 'HH24:MI:SS "UTC"'), '?'),
                            CASE WHEN r.category = 'too_many_connections' AND conn_ok
                                 THEN format(' (over: %s%% of the slots in use now)', conn_pct) ELSE '' END,
                            left(r.example, 200));
        f.evidence := jsonb_strip_nulls(jsonb_build_object('severity', r.severity, 'sqlstate', r.sqlstate,
                          'category', r.category, 'count', r.count, 'first_at', r.first_at, 'last_at', r.last_at,
                          'example', r.example, 'log_format', r.log_format, 'note', r.note,
                          'past_at', coalesce(r.last_at, now())));
        f.action := CASE r.category
              WHEN 'too_many_connections' THEN CASE WHEN conn_ok
                   THEN 'connection slots ran out then and are free now: find which source filled them (connection_sources, the flight recorder''s events), size its pool or put a pooler in front'
                   ELSE 'connection slots ran out and are still short: the connections finding names the source and its remedy' END
              WHEN 'deadlock' THEN 'the DETAIL lines of the log name the statements: make the transactions take their locks in one order'
              WHEN 'out_of_memory' THEN 'lower work_mem / maintenance_work_mem or the number of sessions; check the server''s memory'
              WHEN 'disk_full' THEN 'free disk space now (WAL, logs, temp files): see disk_usage()'
              WHEN 'checksum_failure' THEN 'storage returned damaged pages: see integrity_check() and the server log'
              WHEN 'data_corrupted' THEN 'storage returned damaged pages: see integrity_check() and the server log'
              WHEN 'index_corrupted' THEN 'REINDEX the index the log names; see integrity_check()'
              ELSE CASE WHEN r.severity = 'PANIC' THEN 'the server restarted after a PANIC: read the log around it'
                        ELSE 'timeouts ended these statements or sessions: check which application and why (the log''s context lines)' END
              END;
        f.remedy_sql := CASE r.category
              WHEN 'too_many_connections' THEN @extschema@._runnable('sql', 'SELECT * FROM %I.connection_sources;', '@extschema@')
              WHEN 'disk_full' THEN format('SELECT * FROM %s.disk_usage();', '@extschema@')
              WHEN 'checksum_failure' THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
              WHEN 'data_corrupted' THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
              WHEN 'index_corrupted' THEN format('SELECT * FROM %s.integrity_check();', '@extschema@')
              ELSE format('SELECT * FROM %s.log_summary(%L) WHERE %s;', '@extschema@', '1 hour',
                          CASE WHEN r.category IS NULL THEN 'category IS NULL' ELSE format('category = %L', r.category) END)
              END;
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_server_log(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_server_log(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_server_log(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
