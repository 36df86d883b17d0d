-- A check of triage() (80_triage/triage.sql runs them): the server log of the
-- last hour (cheap: at most 8 MB read from its end).

CREATE OR REPLACE FUNCTION @extschema@._triage_server_log(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'server_log';
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
              WHEN r.category = 'too_many_connections' AND r.last_at > now() - interval '5 min' THEN 'SEV1'
              WHEN r.severity = 'PANIC'
                OR r.category IN ('too_many_connections', 'out_of_memory', 'disk_full', 'checksum_failure',
                                  'data_corrupted', 'index_corrupted') THEN 'SEV2'
              WHEN r.category = 'deadlock' THEN 'SEV3'
              ELSE 'SEV4' END;
        f.finding := format('server log, last hour: %s %s x%s (%s%s), from %s to %s; latest: %s',
                            r.severity, coalesce(r.category, 'error'), r.count,
                            coalesce('SQLSTATE ' || r.sqlstate, 'SQLSTATE not logged'),
                            CASE WHEN r.category = 'too_many_connections' THEN ': clients were refused' ELSE '' END,
                            coalesce(to_char(r.first_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), '?'),
                            coalesce(to_char(r.last_at AT TIME ZONE 'UTC', 'HH24:MI:SS "UTC"'), '?'),
                            left(r.example, 200));
        f.evidence := jsonb_strip_nulls(jsonb_build_object('severity', r.severity, 'sqlstate', r.sqlstate,
                          'category', r.category, 'count', r.count, 'first_at', r.first_at, 'last_at', r.last_at,
                          'example', r.example, 'log_format', r.log_format, 'note', r.note));
        f.action := CASE r.category
              WHEN 'too_many_connections' THEN 'connection slots ran out: find the source (connection_sources), end idle sessions, put a pooler in front'
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
              WHEN 'too_many_connections' THEN @extschema@._runnable('sql', 'SELECT * FROM %1$I.connection_sources;  SELECT * FROM %1$I.kill_idle(%2$L, dry_run => true);',
                                                      '@extschema@', '30 min')
              WHEN 'disk_full' THEN @extschema@._runnable('sql', 'SELECT * FROM %I.disk_usage();', '@extschema@')
              WHEN 'checksum_failure' THEN @extschema@._runnable('sql', 'SELECT * FROM %I.integrity_check();', '@extschema@')
              WHEN 'data_corrupted' THEN @extschema@._runnable('sql', 'SELECT * FROM %I.integrity_check();', '@extschema@')
              WHEN 'index_corrupted' THEN @extschema@._runnable('sql', 'SELECT * FROM %I.integrity_check();', '@extschema@')
              ELSE CASE WHEN r.category IS NULL
                        THEN @extschema@._runnable('sql', 'SELECT * FROM %I.log_summary(%L) WHERE category IS NULL;', '@extschema@', '1 hour')
                        ELSE @extschema@._runnable('sql', 'SELECT * FROM %I.log_summary(%L) WHERE category = %L;', '@extschema@', '1 hour', r.category) END
              END;
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_server_log(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_server_log(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_server_log(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
