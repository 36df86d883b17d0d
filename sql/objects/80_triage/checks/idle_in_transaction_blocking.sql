-- A check of triage() (80_triage/triage.sql runs them): idle in transaction
-- sessions holding locks others wait on.

CREATE OR REPLACE FUNCTION @extschema@._triage_idle_in_transaction_blocking(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_lock  numeric := @extschema@._threshold('lock_wait_seconds');
BEGIN
    f.check_name := 'idle_in_transaction_blocking';
    FOR r IN
        SELECT b.pid, b.usename, b.datname, b.application_name, b.state, b.xact_age, b.state_age,
               array_agg(w.pid ORDER BY w.pid) AS waiters,
               max(coalesce((waits->>w.pid::text)::numeric, @extschema@._secs(w.query_age))) AS max_wait
          FROM unnest(sess) b
          JOIN unnest(sess) w ON b.pid = ANY (w.blocked_by)
         WHERE b.state LIKE 'idle in transaction%'
         GROUP BY b.pid, b.usename, b.datname, b.application_name, b.state, b.xact_age, b.state_age
         ORDER BY 9 DESC NULLS LAST, b.pid
    LOOP
        f.severity := CASE WHEN r.max_wait >= t_lock THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('pid %s (%s, %s) is %s for %s and blocks %s session(s), the longest waiting %s s',
                            r.pid, r.usename, r.application_name, r.state, date_trunc('second', r.state_age),
                            cardinality(r.waiters), r.max_wait);
        f.evidence := jsonb_build_object('pid', r.pid, 'usename', r.usename, 'datname', r.datname,
                          'application_name', r.application_name, 'state', r.state,
                          'xact_age_s', @extschema@._secs(r.xact_age), 'state_age_s', @extschema@._secs(r.state_age),
                          'blocked_pids', to_jsonb(r.waiters), 'max_wait_s', r.max_wait);
        f.action := 'end the idle transaction (the application forgot COMMIT/ROLLBACK); set idle_in_transaction_session_timeout';
        -- through the remedy path (re-check, safety rules, audit), never a bare pg_terminate_backend
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %1$I.terminate(%2$s, %3$L);  SELECT * FROM %1$I.terminate_blockers(%4$L, dry_run => true);  -- the second lists every stuck root: run it without dry_run to end them all',
                               '@extschema@', r.pid,
                               format('idle in transaction, blocking %s session(s)', cardinality(r.waiters)),
                               (floor(r.max_wait) || ' s'));
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_idle_in_transaction_blocking(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_idle_in_transaction_blocking(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_idle_in_transaction_blocking(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
