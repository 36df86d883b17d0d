-- runbook.wraparound over the server: the rows of the view (this
-- database's tables) and of wraparound(databases) (the tables of every
-- database of the call, each read there by its own _wraparound_tables;
-- wraparound.sql has the rule, the percentages and the per-database view).

-- The rows of the view runbook.wraparound and of wraparound(databases):
-- the databases (every one, or the named ones), the oldest tables of this
-- database (here_only) or of every database of the call (their own
-- _wraparound_tables, read there by _on_databases_start() / _collect()),
-- and what holds the horizon.  The severity and the action are computed
-- here, by this database's thresholds; a database whose tables could not
-- be read says why in the detail of its row.
CREATE OR REPLACE FUNCTION @extschema@._wraparound_rows(databases name[], here_only boolean,
    OUT kind text, OUT name text, OUT relation regclass, OUT xid_age bigint, OUT mxid_age bigint,
    OUT autovacuum_freeze_max_age bigint, OUT autovacuum_multixact_freeze_max_age bigint,
    OUT pct_of_freeze_max_age numeric, OUT pct_of_hard_limit numeric, OUT remaining_to_hard_limit bigint,
    OUT detail text, OUT action text, OUT severity text,
    OUT datname name, OUT schemaname name, OUT relname name)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    tabs    @extschema@._wraparound_tables[] := '{}';
    notes   jsonb := '{}';
    h       bigint;
    r       record;
BEGIN
    IF here_only OR @extschema@._this_database_only(databases) THEN
        tabs := ARRAY(SELECT t FROM @extschema@._wraparound_tables t);
    ELSE
        h := @extschema@._on_databases_start('wraparound_tables', databases, NULL::@extschema@._wraparound_tables);
        IF databases IS NULL OR current_database() = ANY (databases) THEN
            BEGIN
                tabs := ARRAY(SELECT t FROM @extschema@._wraparound_tables t);
            EXCEPTION WHEN OTHERS THEN
                notes := notes || jsonb_build_object(current_database(), format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE));
            END;
        END IF;
        FOR r IN SELECT * FROM @extschema@._on_databases_collect(h, NULL::@extschema@._wraparound_tables) LOOP
            IF NOT r.summary THEN
                tabs := tabs || r.r;
            ELSIF NOT r.checked THEN
                notes := notes || jsonb_build_object(r.datname, r.reason);
            END IF;
        END LOOP;
    END IF;

    RETURN QUERY
    WITH lim AS (
        SELECT current_setting('autovacuum_freeze_max_age')::bigint AS fmax,
               current_setting('autovacuum_multixact_freeze_max_age')::bigint AS mfmax,
               2147483647 - 3000000 AS hard      -- the server refuses new xids at this age
    ), sess AS (
        SELECT ARRAY(SELECT s FROM @extschema@.sessions s) AS a
    ), db AS (
        SELECT 'database'::text AS kind, d.datname::text AS name, NULL::regclass AS relation,
               age(d.datfrozenxid)::bigint AS xid_age, mxid_age(d.datminmxid)::bigint AS mxid_age,
               concat_ws('; ', CASE WHEN NOT d.datallowconn THEN 'takes no connections: autovacuum freezes it' END,
                         'tables not checked: ' || (notes->>d.datname::text)) AS detail,
               NULL::text AS gid, NULL::name AS slot_name, d.datallowconn AS allowconn, NULL::text AS vacuum_sql,
               d.datname AS datname, NULL::name AS schemaname, NULL::name AS relname
          FROM pg_database d
         WHERE here_only OR databases IS NULL OR d.datname = ANY (databases)
    ), tb AS (
        SELECT 'table'::text, t.name, t.relation, t.xid_age, t.mxid_age, t.detail,
               NULL::text, NULL::name, NULL::boolean, t.vacuum_sql, t.datname, t.schemaname, t.relname
          FROM unnest(tabs) t
    ), hold AS (
        SELECT CASE h.source WHEN 'standby' THEN 'horizon: standby feedback' ELSE 'horizon: session' END AS kind,
               CASE WHEN nullif(h.usename::text, '') IS NOT NULL THEN @extschema@._runnable('text', 'pid %s (%I)', h.pid, h.usename)
                    ELSE @extschema@._runnable('text', 'pid %s (%s)', h.pid, h.source) END AS name,
               NULL::regclass AS relation, h.age AS xid_age, NULL::bigint AS mxid_age,
               @extschema@._runnable('text', '%s (%s, transaction open %s): %s', h.why, h.state,
                                     date_trunc('second', h.xact_age), left(h.query, 100)) AS detail,
               NULL::text AS gid, NULL::name AS slot_name, NULL::boolean AS allowconn, NULL::text AS vacuum_sql,
               h.datname, NULL::name, NULL::name
          FROM sess, @extschema@._xmin_holders(sess.a, 1) h
        UNION ALL
        SELECT 'horizon: prepared transaction', @extschema@._runnable('text', '%s (gid %L)', p.transaction, p.gid), NULL,
               age(p.transaction)::bigint, NULL,
               @extschema@._runnable('text', 'prepared %s ago by %I in database %I', date_trunc('second', now() - p.prepared), p.owner, p.database),
               p.gid, NULL, NULL, NULL, p.database, NULL, NULL
          FROM pg_prepared_xacts p
        UNION ALL
        -- a slot holds the horizon when nobody moves it (inactive), or when no
        -- running transaction explains its xmin
        SELECT 'horizon: replication slot', s.slot_name::text, NULL,
               greatest(age(s.xmin), age(s.catalog_xmin))::bigint, NULL,
               format('%s slot, %s', s.slot_type, CASE WHEN s.active THEN 'active' ELSE 'inactive' END),
               NULL, s.slot_name, NULL, NULL, s.database, NULL, NULL
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
           lim.fmax, lim.mfmax,
           round(100.0 * greatest(u.xid_age::numeric / lim.fmax, coalesce(u.mxid_age, 0)::numeric / lim.mfmax), 1),
           @extschema@._wraparound_pct(u.xid_age, u.mxid_age),
           lim.hard - greatest(u.xid_age, coalesce(u.mxid_age, 0)),
           nullif(u.detail, ''),
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
             ELSE u.vacuum_sql              -- built in the table's database
           END,
           u.severity, u.datname, u.schemaname, u.relname
      FROM u, lim, held
     ORDER BY CASE WHEN u.kind = 'database' THEN 0 WHEN u.kind = 'table' THEN 1 ELSE 2 END,
              greatest(u.xid_age, coalesce(u.mxid_age, 0)) DESC;
END
$fn$;

COMMENT ON FUNCTION @extschema@._wraparound_rows(name[], boolean) IS
'internal: the rows of runbook.wraparound (here_only: this database''s tables) and of wraparound(databases)';

REVOKE ALL ON FUNCTION @extschema@._wraparound_rows(name[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._wraparound_rows(name[], boolean) TO pg_monitor;

-- (name, detail and action keep the collation "C" they had in 1.0 and
-- 1.1, when they came from pg_database.datname: a view column cannot change
-- its collation on update)
CREATE OR REPLACE VIEW @extschema@.wraparound AS
SELECT w.kind, w.name COLLATE "C" AS name, w.relation, w.xid_age, w.mxid_age,
       w.autovacuum_freeze_max_age, w.autovacuum_multixact_freeze_max_age,
       w.pct_of_freeze_max_age, w.pct_of_hard_limit, w.remaining_to_hard_limit,
       w.detail COLLATE "C" AS detail, w.action COLLATE "C" AS action, w.severity,
       w.datname, w.schemaname, w.relname
  FROM @extschema@._wraparound_rows(NULL, true) w;

COMMENT ON VIEW @extschema@.wraparound IS
'xid and multixact (mxid_age) ages of databases and the oldest tables of this database against autovacuum_freeze_max_age and the hard stop, what really holds the xmin horizon back, the severity triage() gives each row and the SQL to run (never a connection to a database that takes none); datname is the database of the row (of the session, prepared transaction or slot for a horizon)';

GRANT SELECT ON @extschema@.wraparound TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.wraparound(databases name[] DEFAULT NULL)
RETURNS SETOF @extschema@.wraparound
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM @extschema@._wraparound_rows(databases, false) $$;

COMMENT ON FUNCTION @extschema@.wraparound(name[]) IS
'the wraparound view over every database of the server (databases NULL) or the named ones, in one call: the databases, the 20 oldest tables of each (relation NULL for another database''s: schemaname, relname name them; their action is to be run there), what holds the horizon; a database whose tables could not be read says why in its detail';

REVOKE ALL ON FUNCTION @extschema@.wraparound(name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.wraparound(name[]) TO pg_monitor;
