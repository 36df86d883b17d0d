-- The view runbook.wraparound: xid and multixact ages of databases and
-- tables against the wraparound limit.  Names and details are prose built
-- by _runnable('text'); the action is SQL built by _runnable('sql') from the
-- catalog's own values (the gid of pg_prepared_xacts, the slot name of
-- pg_replication_slots), never from the text of name.

CREATE OR REPLACE VIEW @extschema@.wraparound AS
WITH lim AS (
    SELECT current_setting('autovacuum_freeze_max_age')::bigint AS fmax,
           current_setting('autovacuum_multixact_freeze_max_age')::bigint AS mfmax,
           2147483647 - 3000000 AS hard      -- the server refuses new xids at this age
), db AS (
    SELECT 'database'::text AS kind, d.datname::text AS name, NULL::regclass AS relation,
           age(d.datfrozenxid)::bigint AS xid_age, mxid_age(d.datminmxid)::bigint AS mxid_age,
           NULL::text AS detail, NULL::text AS gid, NULL::name AS slot_name
      FROM pg_database d
), tb AS (
    SELECT * FROM (
        SELECT 'table'::text AS kind, c.oid::regclass::text AS name, c.oid::regclass AS relation,
               age(c.relfrozenxid)::bigint AS xid_age, mxid_age(c.relminmxid)::bigint AS mxid_age,
               CASE WHEN c.relkind = 't' THEN 'TOAST table' END AS detail,
               NULL::text AS gid, NULL::name AS slot_name
          FROM pg_class c
         WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid
         ORDER BY greatest(age(c.relfrozenxid)::float8 / (SELECT fmax FROM lim),
                           mxid_age(c.relminmxid)::float8 / (SELECT mfmax FROM lim)) DESC
         LIMIT 20) x
), hold AS (
    SELECT 'horizon: session'::text AS kind,
           CASE WHEN nullif(a.usename::text, '') IS NOT NULL THEN @extschema@._runnable('text', 'pid %s (%I)', a.pid, a.usename)
                ELSE @extschema@._runnable('text', 'pid %s (%s)', a.pid, a.backend_type) END AS name,
           NULL::regclass AS relation,
           greatest(age(a.backend_xmin), age(a.backend_xid))::bigint AS xid_age, NULL::bigint AS mxid_age,
           @extschema@._runnable('text', '%s, xact started %s ago: %s', a.state, date_trunc('second', now() - a.xact_start),
                  left(a.query, 100)) AS detail,
           NULL::text AS gid, NULL::name AS slot_name
      FROM @extschema@.sessions a
     WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL) AND a.pid <> pg_backend_pid()
    UNION ALL
    SELECT 'horizon: prepared transaction', @extschema@._runnable('text', '%s (gid %L)', p.transaction, p.gid), NULL,
           age(p.transaction)::bigint, NULL,
           @extschema@._runnable('text', 'prepared %s ago by %I in database %I', date_trunc('second', now() - p.prepared), p.owner, p.database),
           p.gid, NULL
      FROM pg_prepared_xacts p
    UNION ALL
    SELECT 'horizon: replication slot', s.slot_name::text, NULL,
           greatest(age(s.xmin), age(s.catalog_xmin))::bigint, NULL,
           format('%s slot, %s', s.slot_type, CASE WHEN s.active THEN 'active' ELSE 'inactive' END),
           NULL, s.slot_name
      FROM pg_replication_slots s
     WHERE s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL
    UNION ALL
    SELECT 'horizon: standby feedback', @extschema@._runnable('text', '%L (pid %s)', r.application_name, r.pid), NULL,
           age(r.backend_xmin)::bigint, NULL, 'hot_standby_feedback from a standby',
           NULL, NULL
      FROM pg_stat_replication r
     WHERE r.backend_xmin IS NOT NULL
)
SELECT u.kind, u.name, u.relation, u.xid_age, u.mxid_age,
       lim.fmax AS autovacuum_freeze_max_age,
       lim.mfmax AS autovacuum_multixact_freeze_max_age,
       round(100.0 * greatest(u.xid_age::numeric / lim.fmax, coalesce(u.mxid_age, 0)::numeric / lim.mfmax), 1) AS pct_of_freeze_max_age,
       round(100.0 * greatest(u.xid_age, coalesce(u.mxid_age, 0)) / lim.hard, 1) AS pct_of_hard_limit,
       lim.hard - greatest(u.xid_age, coalesce(u.mxid_age, 0)) AS remaining_to_hard_limit,
       u.detail,
       CASE
         WHEN u.kind LIKE 'horizon%' THEN
           CASE u.kind
             WHEN 'horizon: session' THEN @extschema@._runnable('sql', '-- end the transaction (runbook.cancel_long, runbook.kill_idle, or runbook.terminate of this pid), then VACUUM')
             WHEN 'horizon: prepared transaction' THEN @extschema@._runnable('sql', 'ROLLBACK PREPARED %L;  -- or COMMIT PREPARED; in the database of the transaction (see detail)', u.gid)
             WHEN 'horizon: replication slot' THEN @extschema@._runnable('sql', 'SELECT pg_drop_replication_slot(%L);  -- or advance it: pg_replication_slot_advance()', u.slot_name)
             ELSE @extschema@._runnable('sql', '-- check the long queries of the standby, or turn hot_standby_feedback off')
           END
         WHEN greatest(u.xid_age::numeric / lim.fmax, coalesce(u.mxid_age, 0)::numeric / lim.mfmax) >= 1 THEN
           CASE WHEN u.kind = 'database' THEN @extschema@._runnable('sql', '-- anti-wraparound autovacuum is due: check that it runs (runbook.vacuum_status); VACUUM (FREEZE, VERBOSE) the oldest tables of this database')
                ELSE @extschema@._runnable('sql', 'VACUUM (FREEZE, VERBOSE) %R;', u.relation) END
         -- nothing to do: no text (a bare word would join the next statement pasted)
         ELSE NULL
       END AS action
  FROM (SELECT * FROM db UNION ALL SELECT * FROM tb UNION ALL SELECT * FROM hold) u, lim
 ORDER BY CASE WHEN u.kind = 'database' THEN 0 WHEN u.kind = 'table' THEN 1 ELSE 2 END,
          greatest(u.xid_age, coalesce(u.mxid_age, 0)) DESC;

COMMENT ON VIEW @extschema@.wraparound IS
'xid and multixact (mxid_age) ages of databases and the oldest tables against autovacuum_freeze_max_age and the hard stop, and what holds the xmin horizon back';

GRANT SELECT ON @extschema@.wraparound TO pg_monitor;
