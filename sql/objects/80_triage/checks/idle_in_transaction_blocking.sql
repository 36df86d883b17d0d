-- A check of triage() (80_triage/triage.sql runs them): idle in transaction
-- sessions holding locks others wait on.  Everyone behind such a root is
-- counted, directly or through others (as lock_tree() shows them: a
-- migration's ALTER TABLE waiting on it and the reads queued behind the
-- ALTER); waits shorter than deadlock_timeout are ordinary traffic.  The
-- terminate_blockers() line (a dry run) reaches every root of the moment,
-- the youngest queue included.

CREATE OR REPLACE FUNCTION @extschema@._triage_idle_in_transaction_blocking(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_lock  numeric := @extschema@._threshold('lock_wait_seconds');
    floor_s numeric := @extschema@._lock_wait_floor();
    every   numeric;
BEGIN
    f.check_name := 'idle_in_transaction_blocking';
    IF cardinality(roots) IS NULL THEN
        RETURN;
    END IF;
    -- the cut-off that reaches every root: the shortest of the roots' longest waits
    SELECT min(m.max_wait) INTO every
      FROM (SELECT lb.root, max(lb.wait_s) AS max_wait
              FROM @extschema@._lock_behind(sess, waits, roots) lb
             GROUP BY lb.root HAVING max(lb.wait_s) >= floor_s) m;
    FOR r IN
        SELECT b.pid, b.usename, b.datname, b.application_name, b.state, b.xact_age, b.state_age,
               array_agg(lb.pid ORDER BY lb.pid) AS behind,
               array_agg(lb.pid ORDER BY lb.pid) FILTER (WHERE lb.direct) AS direct,
               max(lb.wait_s) AS max_wait
          FROM unnest(sess) b
          JOIN @extschema@._lock_behind(sess, waits, roots) lb ON lb.root = b.pid
         WHERE b.state LIKE 'idle in transaction%'
         GROUP BY b.pid, b.usename, b.datname, b.application_name, b.state, b.xact_age, b.state_age
        HAVING max(lb.wait_s) >= floor_s
         ORDER BY 10 DESC NULLS LAST, b.pid
    LOOP
        f.severity := CASE WHEN r.max_wait >= t_lock THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('pid %s (%s, %s) is %s for %s and blocks %s session(s)%s, the longest waiting %s s',
                            r.pid, r.usename, r.application_name, r.state, date_trunc('second', r.state_age),
                            cardinality(r.behind),
                            CASE WHEN cardinality(r.behind) > coalesce(cardinality(r.direct), 0)
                                 THEN format(' (%s directly, the others queued behind them)', coalesce(cardinality(r.direct), 0))
                                 ELSE '' END,
                            r.max_wait);
        f.evidence := jsonb_build_object('pid', r.pid, 'usename', r.usename, 'datname', r.datname,
                          'application_name', r.application_name, 'state', r.state,
                          'xact_age_s', @extschema@._secs(r.xact_age), 'state_age_s', @extschema@._secs(r.state_age),
                          'blocked_pids', to_jsonb(r.behind), 'direct_pids', to_jsonb(coalesce(r.direct, '{}')),
                          'max_wait_s', r.max_wait);
        f.action := @extschema@._runnable('text', 'end the idle transaction (the application forgot COMMIT/ROLLBACK); set idle_in_transaction_session_timeout.  The second statement is a dry run listing every root blocker of the moment: run it with dry_run => false to end them all');
        -- through the remedy path (re-check, safety rules, audit), never a bare pg_terminate_backend
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %1$I.terminate(%2$s, %3$L);  SELECT * FROM %1$I.terminate_blockers(%4$L, dry_run => true);',
                               '@extschema@', r.pid,
                               format('idle in transaction, blocking %s session(s)', cardinality(r.behind)),
                               (greatest(floor(coalesce(every, r.max_wait)), 0) || ' s'));
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_idle_in_transaction_blocking(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_idle_in_transaction_blocking(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_idle_in_transaction_blocking(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
