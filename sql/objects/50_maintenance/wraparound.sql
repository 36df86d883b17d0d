-- The view runbook.wraparound: xid and multixact ages of databases and
-- tables against the wraparound limit, what really holds the xmin horizon
-- back (_xmin_holders(): never a session whose young snapshot merely shows
-- the horizon), the severity triage() gives each row (the same rule and
-- percentage: triage's wraparound check reads this view) and the SQL to run.
-- A database that takes no connections (template0) is never to be
-- connected to: autovacuum freezes it once its age passes
-- autovacuum_freeze_max_age.  Names and details are prose built by
-- _runnable('text'); the action is SQL built by _runnable('sql') from the
-- catalog's own values (the gid of pg_prepared_xacts, the slot name of
-- pg_replication_slots), never from the text of name.

-- The age as a percentage of the hard stop (2^31 - 1 - 3,000,000: the
-- server refuses new transaction IDs there), one decimal.
CREATE OR REPLACE FUNCTION @extschema@._wraparound_pct(xid_age bigint, mxid_age bigint)
RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT round(100.0 * greatest(xid_age, coalesce(mxid_age, 0)) / (2147483647 - 3000000), 1) $fn$;

COMMENT ON FUNCTION @extschema@._wraparound_pct(bigint, bigint) IS
'internal: an xid or multixact age as a percentage of the hard stop, as runbook.wraparound and triage() give it';

REVOKE ALL ON FUNCTION @extschema@._wraparound_pct(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._wraparound_pct(bigint, bigint) TO pg_monitor;

-- The severity of a row: the rule of triage()'s wraparound and xmin checks,
-- by the thresholds given (those of the database triage() runs in, when a
-- per-database check of another database asks) or this database's.
CREATE OR REPLACE FUNCTION @extschema@._wraparound_severity(kind text, xid_age bigint, mxid_age bigint,
                                                              thresholds jsonb DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    pct numeric := @extschema@._wraparound_pct(xid_age, mxid_age);
BEGIN
    IF kind LIKE 'horizon%' THEN
        RETURN CASE WHEN xid_age >= coalesce((thresholds->>'xmin_age_sev2_xids')::numeric, @extschema@._threshold('xmin_age_sev2_xids')) THEN 'SEV2'
                    WHEN xid_age >= coalesce((thresholds->>'xmin_age_xids')::numeric, @extschema@._threshold('xmin_age_xids')) THEN 'SEV3' END;
    END IF;
    RETURN CASE WHEN pct >= coalesce((thresholds->>'wraparound_sev1_pct')::numeric, @extschema@._threshold('wraparound_sev1_pct')) THEN 'SEV1'
                WHEN pct >= coalesce((thresholds->>'wraparound_sev2_pct')::numeric, @extschema@._threshold('wraparound_sev2_pct')) THEN 'SEV2'
                WHEN xid_age > current_setting('autovacuum_freeze_max_age')::bigint * 1.2
                  OR coalesce(mxid_age, 0) > current_setting('autovacuum_multixact_freeze_max_age')::bigint * 1.2
                THEN 'SEV3' END;
END
$fn$;

COMMENT ON FUNCTION @extschema@._wraparound_severity(text, bigint, bigint, jsonb) IS
'internal: the severity of a runbook.wraparound row (SEV1 to SEV3, NULL when fine), as triage() gives it, by the thresholds given or this database''s';

REVOKE ALL ON FUNCTION @extschema@._wraparound_severity(text, bigint, bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._wraparound_severity(text, bigint, bigint, jsonb) TO pg_monitor;

-- The youngest xid and multixact ages to which _wraparound_severity() gives
-- a severity, by the same thresholds: a check that looks for such rows
-- reads only the relations older than these (the ages are two integer
-- comparisons a row, the rule a PL/pgSQL call).
CREATE OR REPLACE FUNCTION @extschema@._wraparound_floor(thresholds jsonb DEFAULT NULL,
    OUT xid_age bigint, OUT mxid_age bigint)
RETURNS record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT least(p.pct * (2147483647 - 3000000) / 100, current_setting('autovacuum_freeze_max_age')::numeric * 1.2)::bigint,
           least(p.pct * (2147483647 - 3000000) / 100, current_setting('autovacuum_multixact_freeze_max_age')::numeric * 1.2)::bigint
      FROM (SELECT least(coalesce((thresholds->>'wraparound_sev1_pct')::numeric, @extschema@._threshold('wraparound_sev1_pct')),
                         coalesce((thresholds->>'wraparound_sev2_pct')::numeric, @extschema@._threshold('wraparound_sev2_pct'))) AS pct) p
$fn$;

COMMENT ON FUNCTION @extschema@._wraparound_floor(jsonb) IS
'internal: the youngest xid and multixact ages to which _wraparound_severity() gives a severity (by the thresholds given or this database''s)';

REVOKE ALL ON FUNCTION @extschema@._wraparound_floor(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._wraparound_floor(jsonb) TO pg_monitor;

-- The SQL to run for a database row (the view's action, triage's remedy):
-- VACUUM in that database; never a connection to one that takes none
-- (template0): autovacuum freezes it, once its age passes
-- autovacuum_freeze_max_age, which is lowered when it is above the age.
CREATE OR REPLACE FUNCTION @extschema@._wraparound_db_action(allowconn boolean, xid_age bigint, mxid_age bigint,
                                                               severity text, held boolean)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE
        WHEN severity IS NULL
             AND xid_age < current_setting('autovacuum_freeze_max_age')::bigint
             AND coalesce(mxid_age, 0) < current_setting('autovacuum_multixact_freeze_max_age')::bigint THEN
            NULL                        -- nothing to do
        WHEN NOT allowconn AND xid_age < current_setting('autovacuum_freeze_max_age')::bigint
             AND current_setting('autovacuum_freeze_max_age')::bigint > 200000000 THEN
            @extschema@._runnable('sql', 'ALTER SYSTEM SET autovacuum_freeze_max_age = %L;  -- then restart the server: autovacuum freezes a database that takes no connections once its age passes this setting', '200000000')
        WHEN NOT allowconn THEN
            @extschema@._runnable('sql', 'SELECT pid, datname, query_start, query FROM pg_stat_activity WHERE backend_type = %L;  -- autovacuum must be freezing it now (it takes no connections): is it running?', 'autovacuum worker')
        WHEN held THEN
            @extschema@._runnable('sql', 'VACUUM;  -- in the database of this row, once what holds the xmin horizon (the horizon rows) has ended: VACUUM cannot freeze past it')
        ELSE
            @extschema@._runnable('sql', 'VACUUM;  -- in the database of this row: tables older than vacuum_freeze_table_age are scanned and frozen')
    END
$fn$;

COMMENT ON FUNCTION @extschema@._wraparound_db_action(boolean, bigint, bigint, text, boolean) IS
'internal: the SQL to run against the wraparound age of a database (runbook.wraparound''s action, triage''s remedy)';

REVOKE ALL ON FUNCTION @extschema@._wraparound_db_action(boolean, bigint, bigint, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._wraparound_db_action(boolean, bigint, bigint, text, boolean) TO pg_monitor;

-- The 20 oldest tables of this database: the table rows of the view, and
-- the per-database check of wraparound(databases) (run in each database:
-- its statement is built there, %R naming the table as that database
-- knows it).
CREATE OR REPLACE VIEW @extschema@._wraparound_tables AS
SELECT x.name, x.relation, x.xid_age, x.mxid_age, x.detail,
       @extschema@._runnable('sql', 'VACUUM (FREEZE, VERBOSE) %R;', x.relation) AS vacuum_sql,
       current_database() AS datname, x.schemaname, x.relname
  FROM (SELECT c.oid::regclass::text AS name, c.oid::regclass AS relation,
               age(c.relfrozenxid)::bigint AS xid_age, mxid_age(c.relminmxid)::bigint AS mxid_age,
               CASE WHEN c.relkind = 't' THEN 'TOAST table' END AS detail,
               n.nspname AS schemaname, c.relname
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid
         ORDER BY greatest(age(c.relfrozenxid)::float8 / current_setting('autovacuum_freeze_max_age')::float8,
                           mxid_age(c.relminmxid)::float8 / current_setting('autovacuum_multixact_freeze_max_age')::float8) DESC
         LIMIT 20) x;

COMMENT ON VIEW @extschema@._wraparound_tables IS
'internal: the 20 oldest tables of this database against the wraparound limit, with the VACUUM that freezes each (the table rows of runbook.wraparound; the per-database check of wraparound(databases))';

GRANT SELECT ON @extschema@._wraparound_tables TO pg_monitor;
