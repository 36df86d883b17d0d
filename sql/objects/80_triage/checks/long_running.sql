-- A check of triage() (80_triage/triage.sql runs them): long-running
-- statements.  A statement that only waits on a heavyweight lock is a
-- victim of its root blocker (lock_waits names the root): it is neither
-- counted here nor offered to cancel.

CREATE OR REPLACE FUNCTION @extschema@._triage_long_running(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
BEGIN
    f.check_name := 'long_running';
    SELECT count(*) AS cnt, max(s.query_age) AS max_age,
           (array_agg(s.pid ORDER BY s.query_age DESC))[1] AS longest,
           jsonb_agg(jsonb_build_object('pid', s.pid, 'usename', s.usename, 'datname', s.datname,
                                        'query_age_s', @extschema@._secs(s.query_age),
                                        'query', left(s.query, 200))
                     ORDER BY s.query_age DESC) AS list
      INTO r
      FROM unnest(sess) s
     WHERE s.state = 'active' AND s.backend_type = 'client backend' AND s.pid <> pg_backend_pid()
       AND s.blocked_by IS NULL
       AND extract(epoch FROM s.query_age) >= @extschema@._threshold('long_query_seconds');
    IF r.cnt > 0 THEN
        f.severity := CASE WHEN extract(epoch FROM r.max_age) >= @extschema@._threshold('long_query_sev2_seconds')
                           THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('%s statement(s) running longer than %s s, the longest for %s',
                            r.cnt, @extschema@._threshold('long_query_seconds'), date_trunc('second', r.max_age));
        f.evidence := jsonb_build_object('count', r.cnt, 'max_age_s', @extschema@._secs(r.max_age), 'statements', r.list);
        f.action := @extschema@._runnable('text', 'check the plans (EXPLAIN) and whether they can be cancelled; the first statement cancels the longest, the second is a dry run listing all of them (run it with dry_run => false to cancel them)');
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %1$I.cancel(%2$s, %3$L);  SELECT * FROM %1$I.cancel_long(%4$L, dry_run => true);',
                               '@extschema@', r.longest, format('statement running for %s', date_trunc('second', r.max_age)),
                               (@extschema@._threshold('long_query_seconds') || ' s'));
        RETURN NEXT f;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_long_running(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_long_running(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_long_running(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
