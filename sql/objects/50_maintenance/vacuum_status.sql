-- The view runbook.vacuum_status: autovacuum lag per table of this
-- database; runbook.vacuum_status(databases): the same for every database
-- of the server (or the named ones), one call.

CREATE OR REPLACE VIEW @extschema@.vacuum_status AS
WITH s AS (
    SELECT st.relid, st.schemaname, st.relname, c.reltuples, c.reloptions, st.n_live_tup, st.n_dead_tup,
           st.n_mod_since_analyze, st.n_ins_since_vacuum,
           st.last_vacuum, st.last_autovacuum, st.last_analyze, st.last_autoanalyze,
           st.vacuum_count, st.autovacuum_count, st.analyze_count, st.autoanalyze_count,
           coalesce(ro.enabled::boolean, true) AS table_autovacuum,
           coalesce(ro.v_base::float8, current_setting('autovacuum_vacuum_threshold')::float8) AS v_base,
           coalesce(ro.v_scale::float8, current_setting('autovacuum_vacuum_scale_factor')::float8) AS v_scale,
           coalesce(ro.i_base::float8, current_setting('autovacuum_vacuum_insert_threshold')::float8) AS i_base,
           coalesce(ro.i_scale::float8, current_setting('autovacuum_vacuum_insert_scale_factor')::float8) AS i_scale,
           coalesce(ro.a_base::float8, current_setting('autovacuum_analyze_threshold')::float8) AS a_base,
           coalesce(ro.a_scale::float8, current_setting('autovacuum_analyze_scale_factor')::float8) AS a_scale,
           c.relnamespace
      FROM pg_stat_all_tables st
      JOIN pg_class c ON c.oid = st.relid
      -- the table's autovacuum reloptions, read once per row (inline: a
      -- helper function pins search_path, so it is never inlined and the
      -- view called it 27 times a row)
      CROSS JOIN LATERAL (
          SELECT max(kv.v) FILTER (WHERE kv.k = 'autovacuum_enabled') AS enabled,
                 max(kv.v) FILTER (WHERE kv.k = 'autovacuum_vacuum_threshold') AS v_base,
                 max(kv.v) FILTER (WHERE kv.k = 'autovacuum_vacuum_scale_factor') AS v_scale,
                 max(kv.v) FILTER (WHERE kv.k = 'autovacuum_vacuum_insert_threshold') AS i_base,
                 max(kv.v) FILTER (WHERE kv.k = 'autovacuum_vacuum_insert_scale_factor') AS i_scale,
                 max(kv.v) FILTER (WHERE kv.k = 'autovacuum_analyze_threshold') AS a_base,
                 max(kv.v) FILTER (WHERE kv.k = 'autovacuum_analyze_scale_factor') AS a_scale
            FROM (SELECT split_part(o, '=', 1) AS k, substr(o, strpos(o, '=') + 1) AS v
                    FROM unnest(c.reloptions) o) kv) ro
     WHERE c.relkind IN ('r', 'm')
       AND c.relnamespace <> 'pg_toast'::regnamespace
       AND c.relnamespace <> 'information_schema'::regnamespace
), t AS (
    SELECT s.*,
           round(s.v_base + s.v_scale * greatest(s.reltuples, 0)) AS vacuum_threshold,
           CASE WHEN s.i_base >= 0 THEN round(s.i_base + s.i_scale * greatest(s.reltuples, 0)) END AS insert_threshold,
           round(s.a_base + s.a_scale * greatest(s.reltuples, 0)) AS analyze_threshold,
           p.pid AS vacuum_pid, p.phase AS vacuum_phase
      FROM s
      LEFT JOIN pg_stat_progress_vacuum p ON p.relid = s.relid AND p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
), d AS (
    SELECT t.*,
           t.n_dead_tup > t.vacuum_threshold AS vacuum_due,
           t.insert_threshold IS NOT NULL AND t.n_ins_since_vacuum > t.insert_threshold AS insert_vacuum_due,
           t.relnamespace <> 'pg_catalog'::regnamespace AND t.n_mod_since_analyze > t.analyze_threshold AS analyze_due
      FROM t
)
SELECT d.relid::regclass AS relation,
       d.n_live_tup, d.n_dead_tup,
       CASE WHEN d.n_live_tup + d.n_dead_tup > 0
            THEN round(100.0 * d.n_dead_tup / (d.n_live_tup + d.n_dead_tup), 1) END AS dead_pct,
       d.n_mod_since_analyze, d.n_ins_since_vacuum,
       d.last_vacuum, d.last_autovacuum, d.last_analyze, d.last_autoanalyze,
       d.vacuum_count, d.autovacuum_count, d.analyze_count, d.autoanalyze_count,
       current_setting('autovacuum')::boolean AND d.table_autovacuum AS autovacuum_enabled,
       d.vacuum_threshold::bigint, d.insert_threshold::bigint, d.analyze_threshold::bigint,
       d.vacuum_due, d.insert_vacuum_due, d.analyze_due,
       d.vacuum_pid IS NOT NULL AS vacuum_running,
       CASE
         WHEN d.vacuum_pid IS NOT NULL THEN
           format('being vacuumed now (pid %s, phase %s)', d.vacuum_pid, d.vacuum_phase)
         WHEN NOT (d.vacuum_due OR d.insert_vacuum_due OR d.analyze_due) THEN
           'not due: below the thresholds'
         WHEN NOT current_setting('track_counts')::boolean THEN
           'due, but track_counts is off: autovacuum cannot see activity'
         WHEN NOT current_setting('autovacuum')::boolean THEN
           'due, but autovacuum is off (server setting autovacuum = off)'
         WHEN NOT d.table_autovacuum THEN
           'due, but autovacuum is disabled for this table (reloption autovacuum_enabled = false)'
         WHEN d.vacuum_due AND greatest(d.last_vacuum, d.last_autovacuum) > now() - interval '1 hour'
              AND d.n_dead_tup > d.vacuum_threshold THEN
           'vacuumed recently but dead rows remain: the xmin horizon is probably held back (see runbook.wraparound)'
         WHEN (SELECT count(*) FROM pg_stat_progress_vacuum) >= current_setting('autovacuum_max_workers')::int THEN
           format('due, waiting: all %s autovacuum workers are busy', current_setting('autovacuum_max_workers'))
         ELSE format('due: expected within autovacuum_naptime (%s)', current_setting('autovacuum_naptime'))
       END AS status,
       current_database() AS datname,
       d.schemaname,
       d.relname
  FROM d;

COMMENT ON VIEW @extschema@.vacuum_status IS
'per table: last (auto)vacuum/analyze, dead rows, the autovacuum trigger thresholds including reloptions and the insert threshold, whether autovacuum is due and why it has not run';

GRANT SELECT ON @extschema@.vacuum_status TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.vacuum_status(databases name[] DEFAULT NULL)
RETURNS SETOF @extschema@.vacuum_status
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH x AS MATERIALIZED (
        SELECT * FROM @extschema@._on_databases('vacuum_status', databases, NULL::@extschema@.vacuum_status)
    )
    SELECT (x.r).* FROM x WHERE NOT x.summary
    UNION ALL
    -- a database that could not be checked: one row that says why
    SELECT u.*
      FROM x, jsonb_populate_record(NULL::@extschema@.vacuum_status,
                                    jsonb_build_object('datname', x.datname, 'status', 'not checked: ' || x.reason)) u
     WHERE x.summary AND NOT x.checked
$$;

COMMENT ON FUNCTION @extschema@.vacuum_status(name[]) IS
'the vacuum_status view of every database of the server (databases NULL) or of the named ones, in one call: relation is NULL for another database''s table (schemaname, relname name it); a database that could not be checked has one row whose status says why (runbook.databases())';

REVOKE ALL ON FUNCTION @extschema@.vacuum_status(name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.vacuum_status(name[]) TO pg_monitor;
