-- A check of triage() (80_triage/triage.sql runs them): lock waits.  Waits
-- shorter than deadlock_timeout are the ordinary traffic of a busy server
-- and no finding.  The remedy goes to the root of the queue: with one
-- root, cancel it when it runs a statement (a runaway query holding its
-- table), terminate it when it sits idle in its transaction; with several,
-- the dry run of terminate_blockers() that lists them all.

CREATE OR REPLACE FUNCTION @extschema@._triage_lock_waits(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    rt_pid  integer;
    rt_state text;
    t_lock  numeric := @extschema@._threshold('lock_wait_seconds');
    floor_s numeric := @extschema@._lock_wait_floor();
    live_roots integer[];
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
              FROM unnest(sess) s WHERE s.wait_event_type = 'Lock') w
     WHERE w.wait_s >= floor_s;
    IF r.waiters = 0 THEN
        RETURN;
    END IF;
    -- the roots of the waits past the floor
    SELECT array_agg(DISTINCT lb.root ORDER BY lb.root) INTO live_roots
      FROM @extschema@._lock_behind(sess, waits, roots) lb WHERE lb.wait_s >= floor_s;
    f.severity := CASE WHEN r.waiters >= @extschema@._threshold('lock_waiters_sev1') THEN 'SEV1'
                       WHEN r.max_wait >= t_lock THEN 'SEV2'
                       ELSE 'SEV3' END;
    f.finding := format('%s session(s) waiting on locks, the longest for %s s; blocked by pid(s) %s; root blocker(s) %s',
                        r.waiters, r.max_wait, array_to_string(r.blockers, ', '),
                        coalesce(array_to_string(live_roots, ', '), 'unknown (a wait-for cycle: the deadlock detector ends it)'));
    f.evidence := jsonb_build_object('waiters', r.waiters, 'max_wait_s', r.max_wait,
                                     'blockers', to_jsonb(coalesce(r.blockers, '{}')),
                                     'root_blockers', to_jsonb(coalesce(live_roots, '{}')), 'waits', r.waits);
    IF cardinality(live_roots) = 1 THEN
        SELECT s.pid, s.state INTO rt_pid, rt_state FROM unnest(sess) s WHERE s.pid = live_roots[1];
    END IF;
    IF rt_pid IS NOT NULL AND rt_state IN ('active', 'fastpath function call') THEN
        f.action := @extschema@._runnable('text', 'the root blocker is running a statement that holds the lock: cancel that statement (the session stays); the waiting sessions are its victims, not culprits');
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.cancel(%s, %L);', '@extschema@', rt_pid,
                            format('root blocker of %s waiting session(s)', r.waiters));
    ELSIF rt_pid IS NOT NULL THEN
        f.action := @extschema@._runnable('text', 'the root blocker holds the lock without running anything: end its session; the waiting sessions are its victims, not culprits');
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.terminate(%s, %L);', '@extschema@', rt_pid,
                            format('root blocker of %s waiting session(s)', r.waiters));
    ELSE
        f.action := @extschema@._runnable('text', 'read the lock tree; the second statement is a dry run listing every root blocker: run it with dry_run => false to end those that are stuck');
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %1$I.lock_tree();  SELECT * FROM %1$I.terminate_blockers(%2$L, dry_run => true);',
                            '@extschema@', (greatest(floor(floor_s), 0) || ' s'));
    END IF;
    RETURN NEXT f;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_lock_waits(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_lock_waits(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_lock_waits(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
