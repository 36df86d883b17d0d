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

-- The severity of a row: the rule of triage()'s wraparound and xmin checks.
CREATE OR REPLACE FUNCTION @extschema@._wraparound_severity(kind text, xid_age bigint, mxid_age bigint)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    pct numeric := @extschema@._wraparound_pct(xid_age, mxid_age);
BEGIN
    IF kind LIKE 'horizon%' THEN
        RETURN CASE WHEN xid_age >= @extschema@._threshold('xmin_age_sev2_xids') THEN 'SEV2'
                    WHEN xid_age >= @extschema@._threshold('xmin_age_xids') THEN 'SEV3' END;
    END IF;
    RETURN CASE WHEN pct >= @extschema@._threshold('wraparound_sev1_pct') THEN 'SEV1'
                WHEN pct >= @extschema@._threshold('wraparound_sev2_pct') THEN 'SEV2'
                WHEN xid_age > current_setting('autovacuum_freeze_max_age')::bigint * 1.2
                  OR coalesce(mxid_age, 0) > current_setting('autovacuum_multixact_freeze_max_age')::bigint * 1.2
                THEN 'SEV3' END;
END
$fn$;

COMMENT ON FUNCTION @extschema@._wraparound_severity(text, bigint, bigint) IS
'internal: the severity of a runbook.wraparound row (SEV1 to SEV3, NULL when fine), as triage() gives it';

REVOKE ALL ON FUNCTION @extschema@._wraparound_severity(text, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._wraparound_severity(text, bigint, bigint) TO pg_monitor;

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

CREATE OR REPLACE VIEW @extschema@.wraparound AS
WITH lim AS (
    SELECT current_setting('autovacuum_freeze_max_age')::bigint AS fmax,
           current_setting('autovacuum_multixact_freeze_max_age')::bigint AS mfmax,
           2147483647 - 3000000 AS hard      -- the server refuses new xids at this age
), sess AS (
    SELECT ARRAY(SELECT s FROM @extschema@.sessions s) AS a
), db AS (
    SELECT 'database'::text AS kind, d.datname::text AS name, NULL::regclass AS relation,
           age(d.datfrozenxid)::bigint AS xid_age, mxid_age(d.datminmxid)::bigint AS mxid_age,
           CASE WHEN NOT d.datallowconn THEN 'takes no connections: autovacuum freezes it' END AS detail,
           NULL::text AS gid, NULL::name AS slot_name, d.datallowconn AS allowconn
      FROM pg_database d
), tb AS (
    SELECT * FROM (
        SELECT 'table'::text AS kind, c.oid::regclass::text AS name, c.oid::regclass AS relation,
               age(c.relfrozenxid)::bigint AS xid_age, mxid_age(c.relminmxid)::bigint AS mxid_age,
               CASE WHEN c.relkind = 't' THEN 'TOAST table' END AS detail,
               NULL::text AS gid, NULL::name AS slot_name, NULL::boolean AS allowconn
          FROM pg_class c
         WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid
         ORDER BY greatest(age(c.relfrozenxid)::float8 / (SELECT fmax FROM lim),
                           mxid_age(c.relminmxid)::float8 / (SELECT mfmax FROM lim)) DESC
         LIMIT 20) x
), hold AS (
    SELECT CASE h.source WHEN 'standby' THEN 'horizon: standby feedback' ELSE 'horizon: session' END AS kind,
           CASE WHEN nullif(h.usename::text, '') IS NOT NULL THEN @extschema@._runnable('text', 'pid %s (%I)', h.pid, h.usename)
                ELSE @extschema@._runnable('text', 'pid %s (%s)', h.pid, h.source) END AS name,
           NULL::regclass AS relation, h.age AS xid_age, NULL::bigint AS mxid_age,
           @extschema@._runnable('text', '%s (%s, transaction open %s): %s', h.why, h.state,
                                 date_trunc('second', h.xact_age), left(h.query, 100)) AS detail,
           NULL::text AS gid, NULL::name AS slot_name, NULL::boolean AS allowconn
      FROM sess, @extschema@._xmin_holders(sess.a, 1) h
    UNION ALL
    SELECT 'horizon: prepared transaction', @extschema@._runnable('text', '%s (gid %L)', p.transaction, p.gid), NULL,
           age(p.transaction)::bigint, NULL,
           @extschema@._runnable('text', 'prepared %s ago by %I in database %I', date_trunc('second', now() - p.prepared), p.owner, p.database),
           p.gid, NULL, NULL
      FROM pg_prepared_xacts p
    UNION ALL
    -- a slot holds the horizon when nobody moves it (inactive), or when no
    -- running transaction explains its xmin
    SELECT 'horizon: replication slot', s.slot_name::text, NULL,
           greatest(age(s.xmin), age(s.catalog_xmin))::bigint, NULL,
           format('%s slot, %s', s.slot_type, CASE WHEN s.active THEN 'active' ELSE 'inactive' END),
           NULL, s.slot_name, NULL
      FROM pg_replication_slots s, sess
     WHERE (s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL)
       AND (NOT s.active
            OR NOT EXISTS (SELECT 1 FROM unnest(sess.a) o
                            WHERE o.xid_age >= greatest(age(s.xmin), age(s.catalog_xmin)))
               AND NOT EXISTS (SELECT 1 FROM pg_prepared_xacts p
                                WHERE age(p.transaction) >= greatest(age(s.xmin), age(s.catalog_xmin))))
), u AS (
    SELECT x.*, @extschema@._wraparound_severity(x.kind, x.xid_age, x.mxid_age) AS severity
      FROM (SELECT * FROM db UNION ALL SELECT * FROM tb UNION ALL SELECT * FROM hold) x
), held AS (
    SELECT EXISTS (SELECT 1 FROM u WHERE u.kind LIKE 'horizon%' AND u.severity IS NOT NULL) AS any
)
SELECT u.kind, u.name, u.relation, u.xid_age, u.mxid_age,
       lim.fmax AS autovacuum_freeze_max_age,
       lim.mfmax AS autovacuum_multixact_freeze_max_age,
       round(100.0 * greatest(u.xid_age::numeric / lim.fmax, coalesce(u.mxid_age, 0)::numeric / lim.mfmax), 1) AS pct_of_freeze_max_age,
       @extschema@._wraparound_pct(u.xid_age, u.mxid_age) AS pct_of_hard_limit,
       lim.hard - greatest(u.xid_age, coalesce(u.mxid_age, 0)) AS remaining_to_hard_limit,
       u.detail,
       CASE
         WHEN u.kind = 'horizon: session' THEN
           @extschema@._runnable('sql', '-- end the transaction (runbook.terminate of this pid, or triage''s xmin_horizon remedy), then VACUUM')
         WHEN u.kind = 'horizon: prepared transaction' THEN
           @extschema@._runnable('sql', 'ROLLBACK PREPARED %L;  -- or COMMIT PREPARED; in the database of the transaction (see detail)', u.gid)
         WHEN u.kind = 'horizon: replication slot' THEN
           @extschema@._runnable('sql', 'SELECT pg_drop_replication_slot(%L);  -- or make its consumer catch up', u.slot_name)
         WHEN u.kind LIKE 'horizon%' THEN
           @extschema@._runnable('sql', '-- check the long queries of the standby, or turn hot_standby_feedback off')
         WHEN u.kind = 'database' THEN
           @extschema@._wraparound_db_action(u.allowconn, u.xid_age, u.mxid_age, u.severity, held.any)
         WHEN u.severity IS NULL AND greatest(u.xid_age::numeric / lim.fmax, coalesce(u.mxid_age, 0)::numeric / lim.mfmax) < 1 THEN
           NULL                         -- nothing to do
         ELSE @extschema@._runnable('sql', 'VACUUM (FREEZE, VERBOSE) %R;', u.relation)
       END AS action,
       u.severity
  FROM u, lim, held
 ORDER BY CASE WHEN u.kind = 'database' THEN 0 WHEN u.kind = 'table' THEN 1 ELSE 2 END,
          greatest(u.xid_age, coalesce(u.mxid_age, 0)) DESC;

COMMENT ON VIEW @extschema@.wraparound IS
'xid and multixact (mxid_age) ages of databases and the oldest tables against autovacuum_freeze_max_age and the hard stop, what really holds the xmin horizon back, the severity triage() gives each row and the SQL to run (never a connection to a database that takes none)';

GRANT SELECT ON @extschema@.wraparound TO pg_monitor;
