-- A check of triage() (80_triage/triage.sql runs them): transaction ID
-- and multixact wraparound.  The percentage, severity and SQL are those of
-- the view runbook.wraparound (the same functions: _wraparound_pct,
-- _wraparound_severity, _wraparound_db_action), read here from pg_database
-- alone.  The SQL of a database runs in that database (the action names
-- it); a database that takes no connections (template0) is never to be
-- connected to.  The xmin horizon is mentioned only when something holds
-- it (the xmin_horizon, prepared_transactions and replication_slots_xmin
-- checks' rule).

CREATE OR REPLACE FUNCTION @extschema@._triage_wraparound(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    held    boolean;
    t_xmin  bigint := @extschema@._threshold('xmin_age_xids')::bigint;
BEGIN
    f.check_name := 'wraparound';
    FOR r IN
        SELECT x.*, @extschema@._wraparound_pct(x.xid_age, x.mxid_age) AS pct,
               @extschema@._wraparound_severity('database', x.xid_age, x.mxid_age) AS severity,
               2147483647 - 3000000 - greatest(x.xid_age, coalesce(x.mxid_age, 0)) AS remaining,
               current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max,
               current_setting('autovacuum_multixact_freeze_max_age')::bigint AS mxid_freeze_max
          FROM (SELECT d.datname, d.datallowconn, age(d.datfrozenxid)::bigint AS xid_age,
                       mxid_age(d.datminmxid)::bigint AS mxid_age
                  FROM pg_database d) x
         ORDER BY 3 DESC
    LOOP
        CONTINUE WHEN r.severity IS NULL;
        IF held IS NULL THEN
            held := EXISTS (SELECT 1 FROM @extschema@._xmin_holders(sess, t_xmin))
                 OR EXISTS (SELECT 1 FROM pg_prepared_xacts p WHERE age(p.transaction) >= t_xmin)
                 OR EXISTS (SELECT 1 FROM pg_replication_slots s
                             CROSS JOIN LATERAL (SELECT greatest(coalesce(age(s.xmin), 0), coalesce(age(s.catalog_xmin), 0)) AS a) g
                             WHERE g.a >= t_xmin
                               AND (NOT s.active
                                    OR NOT EXISTS (SELECT 1 FROM unnest(sess) o WHERE o.xid_age >= g.a)
                                       AND NOT EXISTS (SELECT 1 FROM pg_prepared_xacts p WHERE age(p.transaction) >= g.a)));
        END IF;
        f.severity := r.severity;
        f.finding := format('database %s: xid age %s, multixact age %s (%s%% of the hard limit, %s transactions left; autovacuum_freeze_max_age %s)',
                            quote_ident(r.datname), r.xid_age, r.mxid_age, r.pct, r.remaining, r.freeze_max);
        f.evidence := jsonb_build_object('datname', r.datname, 'xid_age', r.xid_age, 'mxid_age', r.mxid_age,
                                         'pct_of_limit', r.pct, 'datallowconn', r.datallowconn,
                                         'autovacuum_freeze_max_age', r.freeze_max,
                                         'autovacuum_multixact_freeze_max_age', r.mxid_freeze_max,
                                         'xmin_horizon_held', held);
        f.action := CASE
            WHEN NOT r.datallowconn AND r.xid_age < r.freeze_max THEN
                @extschema@._runnable('text', 'database %I takes no connections: autovacuum freezes it, but only once its age passes autovacuum_freeze_max_age (%s); lower that setting (the remedy, then a restart) and autovacuum does it',
                                      r.datname, r.freeze_max)
            WHEN NOT r.datallowconn THEN
                @extschema@._runnable('text', 'database %I takes no connections: autovacuum must be freezing it now; check that autovacuum runs (the remedy lists its workers)', r.datname)
            WHEN held THEN
                @extschema@._runnable('text', 'first end what holds the xmin horizon (the xmin_horizon, prepared_transactions and replication_slots_xmin findings): VACUUM cannot freeze past it; then run the remedy in database %I', r.datname)
            ELSE
                @extschema@._runnable('text', 'run the remedy in database %I (VACUUM scans and freezes the tables older than vacuum_freeze_table_age); in a shell, vacuumdb --all --min-xid-age does every database', r.datname)
            END;
        f.remedy_sql := @extschema@._wraparound_db_action(r.datallowconn, r.xid_age, r.mxid_age, r.severity, held);
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_wraparound(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_wraparound(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_wraparound(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
