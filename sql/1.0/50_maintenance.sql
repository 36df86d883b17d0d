-- ---------------------------------------------------------------------
-- Maintenance and capacity: bloat with confidence, vacuum and wraparound,
-- sizes and disk, index advice, sequences.  Nothing here waits on a lock:
-- sizes and the bloat estimate come from C (src/maint.c) with conditional
-- locks; everything else reads catalogs and statistics only.
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.relation_size_nowait(rel regclass, fork text DEFAULT 'main')
RETURNS bigint
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_relation_size_nowait';

COMMENT ON FUNCTION @extschema@.relation_size_nowait(regclass, text) IS
'pg_relation_size() that returns NULL instead of queueing behind DDL; fork ''all'' sums every fork';

CREATE FUNCTION @extschema@._relation_sizes(
    OUT relid oid,
    OUT kind text,
    OUT parent oid,
    OUT main_bytes bigint,
    OUT other_fork_bytes bigint,
    OUT toast_bytes bigint,
    OUT indexes_bytes bigint,
    OUT total_bytes bigint,
    OUT skipped text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_relation_sizes';

CREATE FUNCTION @extschema@._bloat_estimate(
    rel regclass DEFAULT NULL,
    OUT relid oid,
    OUT kind text,
    OUT table_oid oid,
    OUT size_bytes bigint,
    OUT expected_bytes bigint,
    OUT bloat_bytes bigint,
    OUT live_tuples float8,
    OUT dead_tuples float8,
    OUT toast_bytes bigint,
    OUT fillfactor integer,
    OUT confidence text,
    OUT reason text,
    OUT skipped boolean)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_bloat_estimate';

CREATE FUNCTION @extschema@._sequence_last_value(seq regclass,
    OUT last_value bigint, OUT skipped text)
RETURNS record
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_sequence_last_value';

-- ---------------------------------------------------------------------
-- bloat_report
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._bloat_remedy(kind text, relation regclass, table_name regclass,
    bloat_bytes bigint, bloat_pct numeric, dead_tuple_pct numeric, reason text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT CASE
    WHEN reason ~ 'run ANALYZE' THEN format('ANALYZE %s', coalesce(table_name, relation))
    WHEN reason LIKE 'skipped: locked%' THEN 'retry later; see runbook.blocking_locks()'
    WHEN bloat_bytes IS NULL THEN NULL
    WHEN kind = 'table' AND dead_tuple_pct >= 20 THEN format('VACUUM (VERBOSE, ANALYZE) %s', relation)
    WHEN kind = 'table' AND bloat_pct >= 30 AND bloat_bytes >= 8 * 1024 * 1024 THEN
        format('rebuild online: pg_repack --table=%s (or VACUUM FULL %s, which holds AccessExclusiveLock for the whole rewrite)', relation, relation)
    WHEN kind = 'index' AND bloat_pct >= 30 AND bloat_bytes >= 8 * 1024 * 1024 THEN
        format('REINDEX INDEX CONCURRENTLY %s', relation)
    ELSE 'none'
END
$$;

CREATE TYPE @extschema@.bloat_row AS (
    relation regclass,
    kind text,
    table_name regclass,
    size_bytes bigint,
    size_pretty text,
    bloat_bytes bigint,
    bloat_pretty text,
    bloat_pct numeric,
    dead_tuple_pct numeric,
    live_tuples bigint,
    dead_tuples bigint,
    toast_bytes bigint,
    fillfactor integer,
    method text,
    confidence text,
    reason text,
    remedy text);

CREATE FUNCTION @extschema@.bloat_report(
    method text DEFAULT 'estimate',
    rel regclass DEFAULT NULL,
    max_bytes bigint DEFAULT 1073741824)
RETURNS SETOF @extschema@.bloat_row
LANGUAGE plpgsql VOLATILE
SET lock_timeout = '100ms'
SET jit = off
AS $fn$
DECLARE
    o @extschema@.bloat_row;
    m text := lower(coalesce(bloat_report.method, 'estimate'));
    pgst name;
    e record;
    x record;
    scanned integer := 0;
BEGIN
    IF m NOT IN ('estimate', 'approx', 'exact') THEN
        RAISE EXCEPTION 'unknown bloat method "%"', bloat_report.method
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''estimate'' (catalog statistics, no scan), ''approx'' (pgstattuple_approx) or ''exact'' (pgstattuple / pgstatindex, reads every page).';
    END IF;
    IF m <> 'estimate' THEN
        SELECT n.nspname INTO pgst
          FROM pg_extension x2 JOIN pg_namespace n ON n.oid = x2.extnamespace
         WHERE x2.extname = 'pgstattuple';
        IF pgst IS NULL THEN
            RAISE EXCEPTION 'bloat method "%" needs the extension pgstattuple', m
                USING ERRCODE = 'undefined_object',
                      DETAIL = 'pgstattuple ships with PostgreSQL (contrib) but is not installed in this database.',
                      HINT = 'Run CREATE EXTENSION pgstattuple; as a superuser, or use method ''estimate''.';
        END IF;
    END IF;

    IF m = 'estimate' THEN
        -- one set-based query: no per-row PL/pgSQL
        RETURN QUERY
        SELECT b.*, @extschema@._bloat_remedy(b.kind, b.relation, b.table_name, b.bloat_bytes,
                                               b.bloat_pct, b.dead_tuple_pct, b.reason)
          FROM (SELECT be.relid::regclass AS relation, be.kind, be.table_oid::regclass AS table_name,
                       be.size_bytes, pg_size_pretty(be.size_bytes),
                       be.bloat_bytes, pg_size_pretty(be.bloat_bytes),
                       CASE WHEN be.size_bytes > 0 AND be.bloat_bytes IS NOT NULL
                            THEN round(100.0 * be.bloat_bytes / be.size_bytes, 1) END AS bloat_pct,
                       CASE WHEN be.kind = 'table' AND be.live_tuples + be.dead_tuples > 0
                            THEN round((100.0 * be.dead_tuples / (be.live_tuples + be.dead_tuples))::numeric, 1) END AS dead_tuple_pct,
                       be.live_tuples::bigint, be.dead_tuples::bigint, be.toast_bytes, be.fillfactor,
                       'estimate'::text, be.confidence,
                       CASE WHEN be.skipped
                            THEN 'skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for'
                            ELSE be.reason END AS reason
                  FROM @extschema@._bloat_estimate(rel) be) b;
        RETURN;
    END IF;

    FOR e IN SELECT * FROM @extschema@._bloat_estimate(rel) LOOP
        o.relation := e.relid::regclass;
        o.kind := e.kind;
        o.table_name := e.table_oid::regclass;
        o.size_bytes := e.size_bytes;
        o.bloat_bytes := e.bloat_bytes;
        o.live_tuples := e.live_tuples::bigint;
        o.dead_tuples := e.dead_tuples::bigint;
        o.toast_bytes := e.toast_bytes;
        o.fillfactor := e.fillfactor;
        o.method := 'estimate';
        o.confidence := e.confidence;
        o.reason := e.reason;
        o.bloat_pct := CASE WHEN e.size_bytes > 0 AND e.bloat_bytes IS NOT NULL
                          THEN round(100.0 * e.bloat_bytes / e.size_bytes, 1) END;
        o.dead_tuple_pct := CASE WHEN e.kind = 'table' AND e.live_tuples + e.dead_tuples > 0
                               THEN round((100.0 * e.dead_tuples / (e.live_tuples + e.dead_tuples))::numeric, 1) END;

        IF e.skipped THEN
            o.reason := 'skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for';
            o.remedy := 'retry later; see runbook.blocking_locks()';
            o.size_pretty := NULL; o.bloat_pretty := NULL;
            RETURN NEXT o;
            CONTINUE;
        END IF;

        IF m <> 'estimate' AND (m = 'exact' OR e.kind = 'table') THEN
            IF e.size_bytes > max_bytes THEN
                o.reason := concat_ws('; ', o.reason, format('larger than max_bytes (%s): not scanned, estimate shown', pg_size_pretty(max_bytes)));
            ELSE
                BEGIN
                    IF e.kind = 'table' AND m = 'approx' THEN
                        EXECUTE format('SELECT table_len, approx_free_space + dead_tuple_len AS waste, dead_tuple_count, approx_tuple_count AS live FROM %I.pgstattuple_approx($1)', pgst)
                           INTO x USING e.relid;
                    ELSIF e.kind = 'table' THEN
                        EXECUTE format('SELECT table_len, free_space + dead_tuple_len AS waste, dead_tuple_count, tuple_count AS live FROM %I.pgstattuple($1)', pgst)
                           INTO x USING e.relid;
                    ELSIF e.reason IS NULL OR e.reason NOT LIKE 'non-btree%' THEN
                        -- btree: leaf density against the fillfactor, plus empty and deleted pages
                        EXECUTE format('SELECT index_size AS table_len,
                                        CASE WHEN leaf_pages > 0 AND avg_leaf_density <> ''NaN''
                                             THEN greatest(0, (leaf_pages * current_setting(''block_size'')::bigint)
                                                     * (1 - avg_leaf_density / $2))::bigint ELSE 0 END
                                          + (empty_pages + deleted_pages) * current_setting(''block_size'')::bigint AS waste,
                                        NULL::bigint AS dead_tuple_count, NULL::bigint AS live
                                        FROM %I.pgstatindex($1)', pgst)
                           INTO x USING e.relid, coalesce(e.fillfactor, 90)::float8;
                    ELSE
                        EXECUTE format('SELECT pg_relation_size($1) AS table_len,
                                        (free_space + dead_tuple_len) AS waste,
                                        dead_tuple_count, tuple_count AS live
                                        FROM %I.pgstattuple($1)', pgst)
                           INTO x USING e.relid;
                    END IF;
                    scanned := scanned + 1;
                    o.method := m;
                    o.size_bytes := x.table_len;
                    o.bloat_bytes := greatest(x.waste, 0);
                    o.bloat_pct := CASE WHEN x.table_len > 0 THEN round(100.0 * o.bloat_bytes / x.table_len, 1) ELSE 0 END;
                    IF e.kind = 'table' THEN
                        o.live_tuples := x.live;
                        o.dead_tuples := x.dead_tuple_count;
                        o.dead_tuple_pct := CASE WHEN x.live + x.dead_tuple_count > 0
                                               THEN round(100.0 * x.dead_tuple_count / (x.live + x.dead_tuple_count), 1) END;
                    END IF;
                    o.confidence := CASE WHEN m = 'exact' THEN 'high' ELSE 'medium' END;
                    o.reason := CASE WHEN m = 'approx'
                                   THEN 'pgstattuple_approx: trusts the visibility map for all-visible pages'
                              END;
                EXCEPTION WHEN lock_not_available THEN
                    o.reason := 'skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for';
                    o.remedy := 'retry later; see runbook.blocking_locks()';
                    o.confidence := 'low';
                    o.size_pretty := pg_size_pretty(o.size_bytes); o.bloat_pretty := NULL;
                    o.bloat_bytes := NULL; o.bloat_pct := NULL;
                    RETURN NEXT o;
                    CONTINUE;
                WHEN feature_not_supported OR wrong_object_type THEN
                    o.reason := concat_ws('; ', o.reason, 'pgstattuple cannot measure it (' || SQLERRM || '): estimate shown');
                END;
            END IF;
        ELSIF m = 'approx' AND e.kind = 'index' THEN
            o.reason := concat_ws('; ', o.reason, 'pgstattuple_approx covers tables only: index figure is the estimate');
        END IF;

        o.size_pretty := pg_size_pretty(o.size_bytes);
        o.bloat_pretty := pg_size_pretty(o.bloat_bytes);
        o.remedy := @extschema@._bloat_remedy(o.kind, o.relation, o.table_name, o.bloat_bytes, o.bloat_pct, o.dead_tuple_pct, e.reason);
        RETURN NEXT o;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@.bloat_report(text, regclass, bigint) IS
'bloat of tables and btree indexes with method, confidence, the reason a figure is weak and the remedy; method estimate (default, catalog statistics, no scan), approx or exact (pgstattuple, opt-in, relations up to max_bytes, one relation with rel)';

-- ---------------------------------------------------------------------
-- vacuum_status
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._reloption(opts text[], name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT substr(o, length(name) + 2) FROM unnest(opts) o WHERE o LIKE name || '=%' LIMIT 1 $$;

CREATE VIEW @extschema@.vacuum_status AS
WITH s AS (
    SELECT st.relid, c.reltuples, c.reloptions, st.n_live_tup, st.n_dead_tup,
           st.n_mod_since_analyze, st.n_ins_since_vacuum,
           st.last_vacuum, st.last_autovacuum, st.last_analyze, st.last_autoanalyze,
           st.vacuum_count, st.autovacuum_count, st.analyze_count, st.autoanalyze_count,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_enabled')::boolean, true) AS table_autovacuum,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_vacuum_threshold')::float8,
                    current_setting('autovacuum_vacuum_threshold')::float8) AS v_base,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_vacuum_scale_factor')::float8,
                    current_setting('autovacuum_vacuum_scale_factor')::float8) AS v_scale,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_vacuum_insert_threshold')::float8,
                    current_setting('autovacuum_vacuum_insert_threshold')::float8) AS i_base,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_vacuum_insert_scale_factor')::float8,
                    current_setting('autovacuum_vacuum_insert_scale_factor')::float8) AS i_scale,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_analyze_threshold')::float8,
                    current_setting('autovacuum_analyze_threshold')::float8) AS a_base,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_analyze_scale_factor')::float8,
                    current_setting('autovacuum_analyze_scale_factor')::float8) AS a_scale,
           c.relnamespace
      FROM pg_stat_all_tables st
      JOIN pg_class c ON c.oid = st.relid
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
       END AS status
  FROM d;

COMMENT ON VIEW @extschema@.vacuum_status IS
'per table: last (auto)vacuum/analyze, dead rows, the autovacuum trigger thresholds including reloptions and the insert threshold, whether autovacuum is due and why it has not run';

-- ---------------------------------------------------------------------
-- wraparound
-- ---------------------------------------------------------------------
CREATE VIEW @extschema@.wraparound AS
WITH lim AS (
    SELECT current_setting('autovacuum_freeze_max_age')::bigint AS fmax,
           current_setting('autovacuum_multixact_freeze_max_age')::bigint AS mfmax,
           2147483647 - 3000000 AS hard      -- the server refuses new xids at this age
), db AS (
    SELECT 'database'::text AS kind, d.datname::text AS name, NULL::regclass AS relation,
           age(d.datfrozenxid)::bigint AS xid_age, mxid_age(d.datminmxid)::bigint AS mxid_age,
           NULL::text AS detail
      FROM pg_database d
), tb AS (
    SELECT * FROM (
        SELECT 'table'::text AS kind, c.oid::regclass::text AS name, c.oid::regclass AS relation,
               age(c.relfrozenxid)::bigint AS xid_age, mxid_age(c.relminmxid)::bigint AS mxid_age,
               CASE WHEN c.relkind = 't' THEN 'TOAST table' END AS detail
          FROM pg_class c
         WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid
         ORDER BY greatest(age(c.relfrozenxid)::float8 / (SELECT fmax FROM lim),
                           mxid_age(c.relminmxid)::float8 / (SELECT mfmax FROM lim)) DESC
         LIMIT 20) x
), hold AS (
    SELECT 'horizon: session'::text AS kind, format('pid %s (%s)', a.pid, coalesce(nullif(a.usename::text, ''), a.backend_type)) AS name,
           NULL::regclass AS relation,
           greatest(age(a.backend_xmin), age(a.backend_xid))::bigint AS xid_age, NULL::bigint AS mxid_age,
           format('%s, xact started %s ago: %s', a.state, date_trunc('second', now() - a.xact_start),
                  left(a.query, 100)) AS detail
      FROM @extschema@.sessions a
     WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL) AND a.pid <> pg_backend_pid()
    UNION ALL
    SELECT 'horizon: prepared transaction', format('%s (gid %s)', p.transaction, p.gid), NULL,
           age(p.transaction)::bigint, NULL,
           format('prepared %s ago by %s in %s', date_trunc('second', now() - p.prepared), p.owner, p.database)
      FROM pg_prepared_xacts p
    UNION ALL
    SELECT 'horizon: replication slot', s.slot_name::text, NULL,
           greatest(age(s.xmin), age(s.catalog_xmin))::bigint, NULL,
           format('%s slot, %s', s.slot_type, CASE WHEN s.active THEN 'active' ELSE 'inactive' END)
      FROM pg_replication_slots s
     WHERE s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL
    UNION ALL
    SELECT 'horizon: standby feedback', format('%s (pid %s)', r.application_name, r.pid), NULL,
           age(r.backend_xmin)::bigint, NULL, 'hot_standby_feedback from a standby'
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
             WHEN 'horizon: session' THEN 'end the transaction (runbook.cancel_long / runbook.kill_idle), then VACUUM'
             WHEN 'horizon: prepared transaction' THEN format('COMMIT PREPARED %L or ROLLBACK PREPARED %L', split_part(split_part(u.name, '(gid ', 2), ')', 1), split_part(split_part(u.name, '(gid ', 2), ')', 1))
             WHEN 'horizon: replication slot' THEN format('advance or drop the slot: SELECT pg_drop_replication_slot(%L)', u.name)
             ELSE 'check the standby''s long queries or turn hot_standby_feedback off'
           END
         WHEN greatest(u.xid_age::numeric / lim.fmax, coalesce(u.mxid_age, 0)::numeric / lim.mfmax) >= 1 THEN
           CASE WHEN u.kind = 'database' THEN format('anti-wraparound autovacuum is due: check that it runs (runbook.vacuum_status); VACUUM (FREEZE, VERBOSE) the oldest tables of %s', u.name)
                ELSE format('VACUUM (FREEZE, VERBOSE) %s', u.relation) END
         ELSE 'none'
       END AS action
  FROM (SELECT * FROM db UNION ALL SELECT * FROM tb UNION ALL SELECT * FROM hold) u, lim
 ORDER BY CASE WHEN u.kind = 'database' THEN 0 WHEN u.kind = 'table' THEN 1 ELSE 2 END,
          greatest(u.xid_age, coalesce(u.mxid_age, 0)) DESC;

COMMENT ON VIEW @extschema@.wraparound IS
'xid and multixact (mxid_age) ages of databases and the oldest tables against autovacuum_freeze_max_age and the hard stop, and what holds the xmin horizon back';

-- ---------------------------------------------------------------------
-- sizes
-- ---------------------------------------------------------------------
CREATE VIEW @extschema@.sizes AS
SELECT 'database'::text AS kind, d.datname::text AS name, NULL::regclass AS relation,
       NULL::regclass AS table_name,
       NULL::bigint AS table_bytes, NULL::bigint AS toast_bytes, NULL::bigint AS indexes_bytes,
       sz.total AS total_bytes,
       NULL::text AS table_pretty, NULL::text AS toast_pretty, NULL::text AS indexes_pretty,
       pg_size_pretty(sz.total) AS total_pretty,
       CASE WHEN sz.total IS NULL THEN 'skipped: no CONNECT privilege' END AS status
  FROM pg_database d,
       LATERAL (SELECT CASE WHEN has_database_privilege(d.oid, 'CONNECT')
                              OR pg_has_role('pg_read_all_stats', 'USAGE')
                            THEN pg_database_size(d.oid) END AS total) sz
 WHERE d.datallowconn
UNION ALL
SELECT r.kind, r.relid::regclass::text, r.relid::regclass, r.parent::regclass,
       r.main_bytes + r.other_fork_bytes, r.toast_bytes, r.indexes_bytes, r.total_bytes,
       pg_size_pretty(r.main_bytes + r.other_fork_bytes), pg_size_pretty(r.toast_bytes),
       pg_size_pretty(r.indexes_bytes), pg_size_pretty(r.total_bytes),
       r.skipped
  FROM @extschema@._relation_sizes() r;

COMMENT ON VIEW @extschema@.sizes IS
'database, table (heap + TOAST + indexes) and index sizes in bytes and pretty; a relation locked by DDL is reported as skipped, never waited for';

-- ---------------------------------------------------------------------
-- disk_usage
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.disk_usage()
RETURNS TABLE (category text, name text, bytes bigint, pretty text, files bigint, detail text)
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    r record;
    cur pg_lsn;
BEGIN
    cur := CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END;

    category := 'wal'; name := 'pg_wal';
    SELECT sum(w.size)::bigint, count(*) INTO bytes, files FROM pg_ls_waldir() w;
    pretty := pg_size_pretty(bytes);
    detail := format('max_wal_size %s, min_wal_size %s, wal_keep_size %s, max_slot_wal_keep_size %s',
                     current_setting('max_wal_size'), current_setting('min_wal_size'),
                     current_setting('wal_keep_size'), current_setting('max_slot_wal_keep_size'));
    RETURN NEXT;

    FOR r IN SELECT * FROM pg_replication_slots ORDER BY slot_name LOOP
        category := 'wal retained by slot'; name := r.slot_name;
        bytes := CASE WHEN r.restart_lsn IS NOT NULL AND cur IS NOT NULL
                      THEN greatest(pg_wal_lsn_diff(cur, r.restart_lsn), 0)::bigint END;
        pretty := pg_size_pretty(bytes); files := NULL;
        detail := format('%s slot, %s, wal_status %s%s', r.slot_type,
                         CASE WHEN r.active THEN 'active' ELSE 'INACTIVE' END, r.wal_status,
                         CASE WHEN r.safe_wal_size IS NOT NULL THEN ', safe_wal_size ' || pg_size_pretty(r.safe_wal_size) ELSE '' END);
        RETURN NEXT;
    END LOOP;

    category := 'log'; name := current_setting('log_directory');
    BEGIN
        SELECT coalesce(sum(l.size), 0)::bigint, count(*) INTO bytes, files FROM pg_ls_logdir() l;
        detail := format('logging_collector %s', current_setting('logging_collector'));
    EXCEPTION WHEN undefined_file THEN
        bytes := 0; files := 0;
        detail := format('directory does not exist (logging_collector %s): logs go to stderr/syslog', current_setting('logging_collector'));
    END;
    pretty := pg_size_pretty(bytes);
    RETURN NEXT;

    FOR r IN SELECT t.oid, t.spcname FROM pg_tablespace t WHERE t.spcname <> 'pg_global' ORDER BY 1 LOOP
        category := 'temporary files'; name := r.spcname;
        BEGIN
            SELECT coalesce(sum(f.size), 0)::bigint, count(*) INTO bytes, files FROM pg_ls_tmpdir(r.oid) f;
            detail := 'in use now';
        EXCEPTION WHEN undefined_file THEN
            bytes := 0; files := 0; detail := 'in use now (no temporary directory yet)';
        END;
        pretty := pg_size_pretty(bytes);
        RETURN NEXT;
    END LOOP;

    FOR r IN SELECT d.datname, d.temp_bytes, d.temp_files, d.stats_reset FROM pg_stat_database d
              WHERE d.datname IS NOT NULL AND d.temp_files > 0 ORDER BY d.temp_bytes DESC LOOP
        category := 'temporary files written'; name := r.datname;
        bytes := r.temp_bytes; files := r.temp_files; pretty := pg_size_pretty(bytes);
        detail := format('cumulative since %s; log_temp_files %s, temp_file_limit %s',
                         coalesce(r.stats_reset::text, 'statistics began'),
                         current_setting('log_temp_files'), current_setting('temp_file_limit'));
        RETURN NEXT;
    END LOOP;

    FOR r IN SELECT s.name AS datname, s.total_bytes, s.status FROM @extschema@.sizes s
              WHERE s.kind = 'database' ORDER BY s.total_bytes DESC NULLS LAST LOOP
        category := 'database'; name := r.datname; bytes := r.total_bytes;
        pretty := pg_size_pretty(bytes); files := NULL; detail := r.status;
        RETURN NEXT;
    END LOOP;

    FOR r IN SELECT t.spcname, t.oid FROM pg_tablespace t ORDER BY 1 LOOP
        category := 'tablespace'; name := r.spcname;
        bytes := pg_tablespace_size(r.oid); pretty := pg_size_pretty(bytes); files := NULL;
        detail := coalesce(nullif(pg_tablespace_location(r.oid), ''), 'in the data directory');
        RETURN NEXT;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@.disk_usage() IS
'where the disk goes: pg_wal, WAL retained by each replication slot, the log directory, temporary files (now and cumulative), databases, tablespaces';

-- ---------------------------------------------------------------------
-- index_advice
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.index_advice(
    min_table_bytes bigint DEFAULT 10485760,
    min_seq_scans bigint DEFAULT 50)
RETURNS TABLE (
    verdict text,
    index regclass,
    table_name regclass,
    size_bytes bigint,
    size_pretty text,
    keep regclass,
    reason text,
    ddl text,
    stats_since timestamptz)
LANGUAGE sql VOLATILE
-- self-joins of catalog CTEs: row estimates are poor and a nested loop is
-- quadratic; disabling it inflates costs, which would trigger a JIT
-- compilation that costs seconds
SET enable_nestloop = off
SET jit = off
AS $fn$
WITH reset AS (
    SELECT coalesce(d.stats_reset, pg_postmaster_start_time()) AS since,
           d.stats_reset IS NULL AS never_reset
      FROM pg_stat_database d WHERE d.datname = current_database()
), cons AS (
    -- constraints by index (pg_constraint has no index on conindid)
    SELECT con.conindid,
           bool_or(con.contype IN ('p', 'u', 'x')) AS backs_constraint,
           bool_or(con.contype = 'f') AS fk_target,
           min(con.conname) FILTER (WHERE con.contype IN ('p', 'u', 'x')) AS conname
      FROM pg_constraint con
     WHERE con.conindid <> 0
     GROUP BY con.conindid
), idx AS (
    SELECT i.indexrelid, i.indrelid, c.relam, c.relname,
           i.indisunique, i.indisprimary, i.indisexclusion, i.indisvalid, i.indisreplident,
           i.indnkeyatts, i.indnatts, i.indkey, i.indclass, i.indcollation, i.indoption,
           i.indexprs, i.indpred,
           coalesce(k.backs_constraint, false) AS backs_constraint,
           coalesce(k.fk_target, false) AS fk_target,
           k.conname
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      LEFT JOIN cons k ON k.conindid = i.indexrelid
     WHERE c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                                  'pg_toast'::regnamespace)
       AND c.relpersistence <> 't'
), ranked AS (
    SELECT x.indexrelid, x.indrelid, x.relam, x.indisunique, x.indisreplident,
           x.backs_constraint, x.fk_target, x.conname,
           -- what to keep first: constraint / FK target, primary, unique, then the older
           (x.backs_constraint OR x.fk_target)::int * 8 + x.indisprimary::int * 4 + x.indisunique::int * 2 AS rank,
           -- per key column: attnum (0 = expression), operator class, collation, order;
           -- catalog text only: pg_get_indexdef()/pg_get_expr() lock the table
           (SELECT array_agg(format('%s|%s|%s|%s', k.att, k.opc, k.coll, k.opt) ORDER BY k.ord)
              FROM ROWS FROM (unnest(x.indkey::int2[]), unnest(x.indclass::oid[]),
                              unnest(x.indcollation::oid[]), unnest(x.indoption::int2[]))
                   WITH ORDINALITY AS k(att, opc, coll, opt, ord)
             WHERE k.ord <= x.indnkeyatts) AS sig,
           CASE WHEN x.indnatts > x.indnkeyatts THEN
               (SELECT array_agg(k.att ORDER BY k.ord)
                  FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(att, ord)
                 WHERE k.ord > x.indnkeyatts) END AS incl,
           regexp_replace(x.indexprs::text, ':location -?[0-9]+', '', 'g') AS exprs,
           regexp_replace(x.indpred::text, ':location -?[0-9]+', '', 'g') AS pred
      FROM idx x WHERE x.indisvalid
), grp AS (
    -- identical definitions: one group each; keep the best-ranked, then the oldest
    SELECT r.*,
           first_value(r.indexrelid) OVER w AS keep_idx,
           first_value(r.indisunique) OVER w AS keep_unique,
           row_number() OVER w AS pos
      FROM ranked r
    WINDOW w AS (PARTITION BY r.indrelid, r.relam, r.sig, r.incl, r.exprs, r.pred
                 ORDER BY r.rank DESC, r.indexrelid)
), dup AS (
    SELECT g.indexrelid AS drop_idx, g.keep_idx,
           CASE WHEN g.indisunique = g.keep_unique THEN 'duplicate' ELSE 'redundant' END AS verdict,
           CASE WHEN g.indisunique = g.keep_unique
                THEN format('same columns, operator classes, collations, order%s as %s',
                            CASE WHEN g.pred IS NOT NULL THEN ' and predicate' ELSE '' END, g.keep_idx::regclass)
                ELSE format('same key as unique index %s, which serves the same lookups', g.keep_idx::regclass)
           END AS why,
           g.backs_constraint OR g.fk_target AS a_constraint, g.conname, g.indrelid
      FROM grp g
     WHERE g.pos > 1 AND NOT g.indisreplident
), red AS (
    SELECT a.indexrelid AS drop_idx, b.indexrelid AS keep_idx, 'redundant'::text AS verdict,
           format('its key (%s) is a leading prefix of %s (same operator classes, collations, order and predicate)',
                  (SELECT string_agg(coalesce(quote_ident(att.attname), 'expression'), ', ' ORDER BY k.ord)
                     FROM pg_index pi, unnest(pi.indkey::int2[]) WITH ORDINALITY AS k(att, ord)
                     LEFT JOIN pg_attribute att ON att.attrelid = a.indrelid AND att.attnum = k.att AND k.att > 0
                    WHERE pi.indexrelid = a.indexrelid AND k.ord <= pi.indnkeyatts),
                  b.indexrelid::regclass) AS why,
           false AS a_constraint, NULL::name AS conname, a.indrelid
      FROM ranked a JOIN ranked b
        ON a.indrelid = b.indrelid AND a.sig[1] = b.sig[1] AND a.indexrelid <> b.indexrelid
       AND a.relam = b.relam AND a.relam = (SELECT am.oid FROM pg_am am WHERE am.amname = 'btree')
       AND cardinality(a.sig) < cardinality(b.sig)
       AND a.sig = b.sig[1:cardinality(a.sig)]
       -- the expressions of a are the leading expressions of b
       AND (a.exprs IS NULL
            OR (b.exprs IS NOT NULL AND left(b.exprs, length(a.exprs) - 1) = left(a.exprs, length(a.exprs) - 1)
                AND substr(b.exprs, length(a.exprs), 1) IN (' ', ')')))
       AND a.pred IS NOT DISTINCT FROM b.pred
     WHERE NOT a.indisunique AND NOT a.backs_constraint AND NOT a.indisreplident
       AND a.incl IS NULL
), fk AS (
    SELECT con.oid, con.conname, con.conrelid, con.confrelid, con.conkey,
           ARRAY(SELECT quote_ident(a.attname) FROM unnest(con.conkey) WITH ORDINALITY k(att, o)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.att ORDER BY k.o) AS cols
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
     WHERE con.contype = 'f'
       AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
       AND NOT EXISTS (
           SELECT 1 FROM pg_index i
            WHERE i.indrelid = con.conrelid AND i.indisvalid AND i.indpred IS NULL
              AND i.indnkeyatts >= cardinality(con.conkey)
              AND ARRAY(SELECT k FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(k, o)
                         WHERE o <= cardinality(con.conkey) ORDER BY k)
                  = ARRAY(SELECT k FROM unnest(con.conkey) k ORDER BY k))
)
SELECT 'unused', x.indexrelid::regclass, x.indrelid::regclass,
       sz.b, pg_size_pretty(sz.b),
       NULL::regclass,
       format('no index scans since %s%s; not a primary key, unique or constraint index; scans on standbys are not counted here',
              (SELECT since FROM reset),
              CASE WHEN (SELECT never_reset FROM reset) THEN ' (the last server start: statistics were never reset, so at least since then)' ELSE ' (the last statistics reset)' END),
       format('DROP INDEX CONCURRENTLY %s;', x.indexrelid::regclass),
       (SELECT since FROM reset)
  FROM idx x
  CROSS JOIN LATERAL (SELECT @extschema@.relation_size_nowait(x.indexrelid) AS b) sz
 WHERE pg_stat_get_numscans(x.indexrelid) = 0 AND x.indisvalid
   AND NOT (x.indisunique OR x.indisprimary OR x.indisexclusion OR x.backs_constraint OR x.indisreplident)
UNION ALL
SELECT d.verdict, d.drop_idx::regclass, d.indrelid::regclass,
       sz.b, pg_size_pretty(sz.b),
       d.keep_idx::regclass,
       d.why || format('; keep %s', d.keep_idx::regclass),
       CASE WHEN d.a_constraint AND d.conname IS NOT NULL
            THEN format('ALTER TABLE %s DROP CONSTRAINT %I; -- the index backs this constraint; %s enforces the same', d.indrelid::regclass, d.conname, d.keep_idx::regclass)
            WHEN d.a_constraint
            THEN format('-- %s is referenced by a foreign key: repoint the foreign key before DROP INDEX CONCURRENTLY %s;', d.drop_idx::regclass, d.drop_idx::regclass)
            ELSE format('DROP INDEX CONCURRENTLY %s;', d.drop_idx::regclass) END,
       NULL::timestamptz
  FROM (SELECT * FROM dup UNION ALL SELECT * FROM red) d
  CROSS JOIN LATERAL (SELECT @extschema@.relation_size_nowait(d.drop_idx) AS b) sz
UNION ALL
SELECT 'invalid', x.indexrelid::regclass, x.indrelid::regclass,
       @extschema@.relation_size_nowait(x.indexrelid), pg_size_pretty(@extschema@.relation_size_nowait(x.indexrelid)),
       NULL,
       CASE WHEN x.relname ~ '_cc(new|old)[0-9]*$'
            THEN 'leftover of a failed REINDEX CONCURRENTLY: not used by queries, still maintained on every write'
            ELSE 'invalid (a failed CREATE INDEX CONCURRENTLY?): not used by queries, still maintained on every write' END,
       CASE WHEN x.relname ~ '_cc(new|old)[0-9]*$'
            THEN format('DROP INDEX CONCURRENTLY %s;', x.indexrelid::regclass)
            -- pg_get_indexdef() locks the table: only when that lock is free now
            WHEN @extschema@.relation_size_nowait(x.indrelid) IS NOT NULL
            THEN format('DROP INDEX CONCURRENTLY %s; %s;  -- or REINDEX INDEX CONCURRENTLY %s;',
                        x.indexrelid::regclass,
                        regexp_replace(pg_get_indexdef(x.indexrelid), '^CREATE (UNIQUE )?INDEX ', 'CREATE \1INDEX CONCURRENTLY '),
                        x.indexrelid::regclass)
            ELSE format('REINDEX INDEX CONCURRENTLY %s;', x.indexrelid::regclass) END,
       NULL
  FROM idx x
 WHERE NOT x.indisvalid
   AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                    WHERE p.relid = x.indrelid OR p.index_relid = x.indexrelid)
UNION ALL
SELECT 'fk_without_index', NULL, f.conrelid::regclass,
       NULL, NULL, NULL,
       format('foreign key %I references %s: every DELETE or key UPDATE there scans %s (about %s rows) for (%s)',
              f.conname, f.confrelid::regclass, f.conrelid::regclass,
              (SELECT greatest(c.reltuples, 0)::bigint FROM pg_class c WHERE c.oid = f.conrelid),
              array_to_string(f.cols, ', ')),
       format('CREATE INDEX CONCURRENTLY ON %s (%s);', f.conrelid::regclass, array_to_string(f.cols, ', ')),
       NULL
  FROM fk f
UNION ALL
SELECT 'seq_scan_heavy', NULL, s.relid::regclass,
       c.relpages::bigint * current_setting('block_size')::bigint,
       pg_size_pretty(c.relpages::bigint * current_setting('block_size')::bigint),
       NULL,
       format('%s sequential scans reading %s rows each on average, against %s index scans, on a table of about %s rows',
              s.seq_scan, s.seq_tup_read / greatest(s.seq_scan, 1), coalesce(s.idx_scan, 0), greatest(c.reltuples, 0)::bigint),
       format('-- find the statements: SELECT query, calls, mean_exec_time FROM pg_stat_statements WHERE query ILIKE %L ORDER BY total_exec_time DESC; then CREATE INDEX CONCURRENTLY ON %s (<columns they filter on>);',
              '%' || c.relname || '%', s.relid::regclass),
       (SELECT since FROM reset)
  FROM pg_stat_all_tables s
  JOIN pg_class c ON c.oid = s.relid
 WHERE c.relkind IN ('r', 'm')
   AND s.schemaname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND c.relpages::bigint * current_setting('block_size')::bigint >= min_table_bytes
   AND s.seq_scan >= min_seq_scans
   AND s.seq_scan > coalesce(s.idx_scan, 0)
   AND s.seq_tup_read / greatest(s.seq_scan, 1) >= 10000
ORDER BY 1, 3, 2
$fn$;

COMMENT ON FUNCTION @extschema@.index_advice(bigint, bigint) IS
'unused (never PK/unique/constraint), duplicate and redundant (respecting predicates, expressions, collations, operator classes, uniqueness; says which to keep), invalid (not a build in progress), foreign keys without an index, seq-scan-heavy large tables: each with the reason and the DDL';

-- ---------------------------------------------------------------------
-- sequences_near_overflow
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.sequences_near_overflow(threshold real DEFAULT 0.8)
RETURNS TABLE (
    sequence regclass,
    table_name regclass,
    column_name name,
    column_type regtype,
    sequence_type regtype,
    last_value bigint,
    limit_value bigint,
    limited_by text,
    pct_used numeric,
    remaining bigint,
    cycles boolean,
    status text,
    remedy text)
LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
    IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, not %', threshold
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It is the share of the usable range already consumed, e.g. 0.8 for 80 %.';
    END IF;
    RETURN QUERY
    WITH seqs AS (
        SELECT s.seqrelid, s.seqtypid, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle
          FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
         WHERE c.relpersistence <> 't'
    ), uses AS (
        -- owned (serial, OWNED BY) and identity columns
        SELECT d.objid AS seqrelid, d.refobjid AS tab, d.refobjsubid::int2 AS att
          FROM pg_depend d
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
        UNION
        -- DEFAULT nextval('seq') without ownership
        SELECT d.refobjid, ad.adrelid, ad.adnum
          FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
         WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
    ), seqrows AS (
        SELECT q.seqrelid, u.tab, a.attname, a.atttypid, q.seqtypid, q.seqincrement,
               q.seqmin, q.seqmax, q.seqcycle, lv.last_value AS lastv, lv.skipped,
               CASE a.atttypid WHEN 'int2'::regtype THEN 32767::numeric
                               WHEN 'int4'::regtype THEN 2147483647::numeric
                               WHEN 'int8'::regtype THEN 9223372036854775807::numeric END AS colmax,
               CASE a.atttypid WHEN 'int2'::regtype THEN -32768::numeric
                               WHEN 'int4'::regtype THEN -2147483648::numeric
                               WHEN 'int8'::regtype THEN -9223372036854775808::numeric END AS colmin
          FROM seqs q
          LEFT JOIN uses u ON u.seqrelid = q.seqrelid
          LEFT JOIN pg_attribute a ON a.attrelid = u.tab AND a.attnum = u.att
          CROSS JOIN LATERAL @extschema@._sequence_last_value(q.seqrelid) lv
    ), lim AS (
        SELECT r.*,
               CASE WHEN r.seqincrement > 0
                    THEN least(r.seqmax::numeric, coalesce(r.colmax, r.seqmax::numeric))
                    ELSE greatest(r.seqmin::numeric, coalesce(r.colmin, r.seqmin::numeric)) END AS lim,
               CASE WHEN r.seqincrement > 0
                    THEN CASE WHEN r.colmax <= r.seqmax THEN 'column type' ELSE 'sequence' END
                    ELSE CASE WHEN r.colmin >= r.seqmin THEN 'column type' ELSE 'sequence' END END AS by
          FROM seqrows r
    ), pct AS (
        SELECT l.*,
               CASE WHEN l.lastv IS NULL THEN NULL
                    WHEN l.seqincrement > 0
                    THEN round(100.0 * (l.lastv - l.seqmin::numeric) / nullif(l.lim - l.seqmin::numeric, 0), 2)
                    ELSE round(100.0 * (l.seqmax::numeric - l.lastv) / nullif(l.seqmax::numeric - l.lim, 0), 2) END AS used
          FROM lim l
    )
    SELECT p.seqrelid::regclass, p.tab::regclass, p.attname, p.atttypid::regtype, p.seqtypid::regtype,
           p.lastv, p.lim::bigint, p.by, p.used,
           CASE WHEN p.lastv IS NOT NULL THEN (abs(p.lim - p.lastv) / abs(p.seqincrement))::bigint END,
           p.seqcycle,
           CASE WHEN p.skipped IS NOT NULL THEN p.skipped
                WHEN p.used >= 100 THEN 'exhausted'
                ELSE 'near overflow' END,
           CASE WHEN p.skipped IS NOT NULL THEN 'retry later'
                WHEN p.seqcycle THEN format('sequence cycles: values restart at %s and may collide with existing keys', CASE WHEN p.seqincrement > 0 THEN p.seqmin ELSE p.seqmax END)
                WHEN p.by = 'column type' THEN
                    format('ALTER TABLE %s ALTER COLUMN %I TYPE bigint; -- rewrites the table under AccessExclusiveLock: schedule it, or migrate through a new bigint column%s',
                           p.tab::regclass, p.attname,
                           CASE WHEN p.seqtypid <> 'int8'::regtype THEN format('; then ALTER SEQUENCE %s AS bigint;', p.seqrelid::regclass) ELSE '' END)
                WHEN p.seqincrement > 0 THEN format('ALTER SEQUENCE %s AS bigint MAXVALUE 9223372036854775807;', p.seqrelid::regclass)
                ELSE format('ALTER SEQUENCE %s AS bigint MINVALUE -9223372036854775808;', p.seqrelid::regclass)
           END
      FROM pct p
     WHERE p.skipped IS NOT NULL OR p.used >= threshold * 100
     ORDER BY p.used DESC NULLS FIRST;
END
$fn$;

COMMENT ON FUNCTION @extschema@.sequences_near_overflow(real) IS
'sequences, serial and identity columns whose last value has used at least threshold of the range of the column type (or the sequence) that limits them';

-- ---------------------------------------------------------------------
-- privileges: read-only diagnostics for pg_monitor
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION @extschema@.relation_size_nowait(regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._relation_sizes() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._bloat_estimate(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._sequence_last_value(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.bloat_report(text, regclass, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._reloption(text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._bloat_remedy(text, regclass, regclass, bigint, numeric, numeric, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.disk_usage() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.index_advice(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.sequences_near_overflow(real) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.relation_size_nowait(regclass, text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._relation_sizes() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._bloat_estimate(regclass) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._sequence_last_value(regclass) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.bloat_report(text, regclass, bigint) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._reloption(text[], text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._bloat_remedy(text, regclass, regclass, bigint, numeric, numeric, text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.disk_usage() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.index_advice(bigint, bigint) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.sequences_near_overflow(real) TO pg_monitor;
GRANT SELECT ON @extschema@.vacuum_status, @extschema@.wraparound, @extschema@.sizes TO pg_monitor;
