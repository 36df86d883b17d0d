-- A check of triage() (80_triage/triage.sql runs them): lock waits.

CREATE OR REPLACE FUNCTION @extschema@._triage_lock_waits(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_lock  numeric := @extschema@._threshold('lock_wait_seconds');
BEGIN
    f.check_name := 'lock_waits';
    SELECT count(*) AS waiters,
           max(w.wait_s) AS max_wait,
           jsonb_agg(jsonb_build_object('pid', w.pid, 'blocked_by', to_jsonb(w.blocked_by),
                                        'wait_event', w.wait_event, 'wait_s', w.wait_s,
                                        'query', left(w.query, 200))
                     ORDER BY w.wait_s DESC NULLS LAST, w.pid) AS waits,
           (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(sess) w2, unnest(w2.blocked_by) x
             WHERE w2.wait_event_type = 'Lock') AS blockers
      INTO r
      FROM (SELECT s.*, coalesce((waits->>s.pid::text)::numeric, @extschema@._secs(s.query_age)) AS wait_s
              FROM unnest(sess) s WHERE s.wait_event_type = 'Lock') w;
    IF r.waiters > 0 THEN
        f.severity := CASE WHEN r.waiters >= @extschema@._threshold('lock_waiters_sev1') THEN 'SEV1'
                           WHEN r.max_wait >= t_lock THEN 'SEV2'
                           ELSE 'SEV3' END;
        f.finding := format('%s session(s) waiting on locks, the longest for %s s; blocked by pid(s) %s; root blocker(s) %s',
                            r.waiters, r.max_wait, array_to_string(r.blockers, ', '),
                            coalesce(array_to_string(roots, ', '), 'unknown'));
        f.evidence := jsonb_build_object('waiters', r.waiters, 'max_wait_s', r.max_wait,
                                         'blockers', to_jsonb(coalesce(r.blockers, '{}')),
                                         'root_blockers', to_jsonb(coalesce(roots, '{}')), 'waits', r.waits);
        f.action := 'read the lock tree; cancel or terminate the root blocker if it is stuck';
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %1$I.lock_tree();  SELECT * FROM %1$I.terminate_blockers(%2$L, dry_run => true);  -- then, if the roots are stuck, without dry_run, or one root: terminate(pid, reason) (evidence: root_blockers)',
                               '@extschema@', (floor(r.max_wait) || ' s'));
        RETURN NEXT f;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_lock_waits(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_lock_waits(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_lock_waits(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
