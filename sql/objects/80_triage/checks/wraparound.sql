-- A check of triage() (80_triage/triage.sql runs them): transaction ID
-- and multixact wraparound, read from the view runbook.wraparound, so that
-- both give the same percentage, severity and SQL.  The SQL of a database
-- runs in that database (the action names it); a database that takes no
-- connections (template0) is never to be connected to.  The xmin horizon
-- is mentioned only when something holds it.

CREATE OR REPLACE FUNCTION @extschema@._triage_wraparound(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    held    boolean;
BEGIN
    f.check_name := 'wraparound';
    FOR r IN
        SELECT w.*, d.datallowconn,
               EXISTS (SELECT 1 FROM @extschema@.wraparound h
                        WHERE h.kind LIKE 'horizon%' AND h.severity IS NOT NULL) AS held
          FROM @extschema@.wraparound w
          JOIN pg_database d ON d.datname = w.name
         WHERE w.kind = 'database' AND w.severity IS NOT NULL
         ORDER BY w.pct_of_hard_limit DESC
    LOOP
        f.severity := r.severity;
        f.finding := format('database %s: xid age %s, multixact age %s (%s%% of the hard limit, %s transactions left; autovacuum_freeze_max_age %s)',
                            quote_ident(r.name), r.xid_age, r.mxid_age, r.pct_of_hard_limit,
                            r.remaining_to_hard_limit, r.autovacuum_freeze_max_age);
        f.evidence := jsonb_build_object('datname', r.name, 'xid_age', r.xid_age, 'mxid_age', r.mxid_age,
                                         'pct_of_limit', r.pct_of_hard_limit, 'datallowconn', r.datallowconn,
                                         'autovacuum_freeze_max_age', r.autovacuum_freeze_max_age,
                                         'autovacuum_multixact_freeze_max_age', r.autovacuum_multixact_freeze_max_age,
                                         'xmin_horizon_held', r.held);
        f.action := CASE
            WHEN NOT r.datallowconn AND r.xid_age < r.autovacuum_freeze_max_age THEN
                @extschema@._runnable('text', 'database %I takes no connections: autovacuum freezes it, but only once its age passes autovacuum_freeze_max_age (%s); lower that setting (the remedy, then a restart) and autovacuum does it',
                                      r.name, r.autovacuum_freeze_max_age)
            WHEN NOT r.datallowconn THEN
                @extschema@._runnable('text', 'database %I takes no connections: autovacuum must be freezing it now; check that autovacuum runs (the remedy lists its workers)', r.name)
            WHEN r.held THEN
                @extschema@._runnable('text', 'first end what holds the xmin horizon (the xmin_horizon, prepared_transactions and replication_slots_xmin findings): VACUUM cannot freeze past it; then run the remedy in database %I', r.name)
            ELSE
                @extschema@._runnable('text', 'run the remedy in database %I (VACUUM scans and freezes the tables older than vacuum_freeze_table_age); in a shell, vacuumdb --all --min-xid-age does every database', r.name)
            END;
        f.remedy_sql := r.action;
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_wraparound(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_wraparound(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_wraparound(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
