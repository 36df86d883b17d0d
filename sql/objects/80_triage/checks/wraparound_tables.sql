-- A per-database check of triage() (80_triage/triage_database.sql runs it
-- in every database): the tables that hold this database's transaction ID
-- or multixact age back, by the severity rule of the wraparound check
-- (_wraparound_severity()) with the thresholds of the database triage()
-- runs in.  Only the tables past the youngest age that rule can flag
-- (_wraparound_floor()) are looked at: in a healthy database, none.
-- The wraparound check names the database; this one names its oldest
-- tables and freezes the oldest first.  The remedy is to be run in this
-- database (the finding's datname).

CREATE OR REPLACE FUNCTION @extschema@._triage_db_wraparound_tables(thresholds jsonb)
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    fl      record;
BEGIN
    f.check_name := 'wraparound_tables';
    fl := @extschema@._wraparound_floor(thresholds);
    SELECT count(*) AS cnt, min(x.sev) AS sev,
           jsonb_agg(jsonb_build_object('table', x.name, 'xid_age', x.xid_age, 'mxid_age', x.mxid_age,
                                        'pct_of_hard_limit', x.pct, 'severity', x.sev)
                     ORDER BY greatest(x.xid_age, coalesce(x.mxid_age, 0)) DESC) FILTER (WHERE x.rn <= 5) AS top,
           (array_agg(x.name ORDER BY greatest(x.xid_age, coalesce(x.mxid_age, 0)) DESC))[1] AS oldest,
           (array_agg(x.vacuum_sql ORDER BY greatest(x.xid_age, coalesce(x.mxid_age, 0)) DESC))[1] AS oldest_sql,
           max(x.xid_age) AS xid_age, max(x.mxid_age) AS mxid_age, max(x.pct) AS pct
      INTO r
      FROM (SELECT t.*, @extschema@._wraparound_pct(t.xid_age, t.mxid_age) AS pct,
                   @extschema@._runnable('sql', 'VACUUM (FREEZE, VERBOSE) %R;', t.relation) AS vacuum_sql,
                   row_number() OVER (ORDER BY greatest(t.xid_age, coalesce(t.mxid_age, 0)) DESC) AS rn
              FROM (SELECT w.*, @extschema@._wraparound_severity('table', w.xid_age, w.mxid_age, thresholds) AS sev
                      -- (OFFSET 0: the rule only for the rows past the floor)
                      FROM (SELECT c.oid::regclass AS relation, c.oid::regclass::text AS name,
                                   age(c.relfrozenxid)::bigint AS xid_age, mxid_age(c.relminmxid)::bigint AS mxid_age
                              FROM pg_class c
                             WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid
                               AND (age(c.relfrozenxid) >= fl.xid_age OR mxid_age(c.relminmxid) >= fl.mxid_age)
                            OFFSET 0) w) t
             WHERE t.sev IS NOT NULL) x;
    IF r.cnt > 0 THEN
        f.severity := r.sev;
        f.finding := format('%s table(s) of %s hold its transaction age back, the oldest %s (xid age %s, multixact age %s, %s%% of the hard limit)',
                            r.cnt, quote_ident(current_database()), r.oldest, r.xid_age, r.mxid_age, r.pct);
        f.evidence := jsonb_build_object('datname', current_database(), 'count', r.cnt, 'tables', r.top);
        f.action := @extschema@._runnable('text', 'freeze these tables in database %I, the oldest first (VACUUM FREEZE reads each whole; it cannot freeze past what holds the xmin horizon: end that first)',
                                          current_database());
        f.remedy_sql := r.oldest_sql;
        f.datname := current_database();
        RETURN NEXT f;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_db_wraparound_tables(jsonb) IS
'internal: a per-database check of triage(), run in every database by _triage_database()';

REVOKE ALL ON FUNCTION @extschema@._triage_db_wraparound_tables(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_db_wraparound_tables(jsonb) TO pg_monitor;
