-- The view runbook.alerts: the runbooks' alerts with their thresholds and
-- how long each has fired (from the flight recorder).

CREATE OR REPLACE FUNCTION @extschema@._alert_rows(
    OUT alert text,
    OUT firing boolean,
    OUT value numeric,
    OUT threshold numeric,
    OUT unit text,
    OUT summary text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    sess @extschema@.sessions[];
    r    record;
    v    numeric;
    t    numeric;
    t_min numeric;
BEGIN
    sess := ARRAY(SELECT s FROM @extschema@.sessions s);

    alert := 'DatabaseHighConnections'; unit := 'percent';
    t := @extschema@._threshold('connections_sev2_pct');
    SELECT * INTO r FROM @extschema@.connections();
    value := r.pct_used; threshold := t; firing := value >= t;
    summary := format('%s of %s usable connections in use', r.in_use, r.usable);
    RETURN NEXT;

    alert := 'DatabaseLockWaits'; unit := 'seconds';
    t := @extschema@._threshold('lock_wait_seconds');
    SELECT count(*) AS cnt, max(extract(epoch FROM b.wait_age)) AS mx INTO r
      FROM @extschema@.blocking_locks() b;
    value := round(coalesce(r.mx, 0), 1); threshold := t; firing := r.cnt > 0 AND value >= t;
    summary := format('%s session(s) waiting on locks', r.cnt);
    RETURN NEXT;

    alert := 'DatabaseLongTransaction'; unit := 'seconds';
    t := @extschema@._threshold('long_query_seconds');
    SELECT max(extract(epoch FROM s.xact_age)) AS mx, count(*) FILTER (WHERE extract(epoch FROM s.xact_age) >= t) AS cnt INTO r
      FROM unnest(sess) s WHERE s.backend_type = 'client backend' AND s.pid <> pg_backend_pid();
    value := round(coalesce(r.mx, 0), 1); threshold := t; firing := value >= t;
    summary := format('%s transaction(s) open longer than %s s', r.cnt, t);
    RETURN NEXT;

    alert := 'DatabaseIdleInTransaction'; unit := 'seconds';
    t := @extschema@._threshold('idle_xact_seconds');
    SELECT max(extract(epoch FROM s.state_age)) AS mx, count(*) AS cnt INTO r
      FROM unnest(sess) s WHERE s.state LIKE 'idle in transaction%';
    value := round(coalesce(r.mx, 0), 1); threshold := t; firing := value >= t;
    summary := format('%s session(s) idle in transaction', r.cnt);
    RETURN NEXT;

    alert := 'DatabaseSlowQueries'; unit := 'ms';
    t := @extschema@._threshold('slow_query_mean_ms'); threshold := t;
    BEGIN
        SELECT max(q.mean_ms) AS mx, count(*) FILTER (WHERE q.mean_ms >= t) AS cnt INTO r
          FROM @extschema@.slow_queries(50, 'mean', @extschema@._threshold('slow_query_min_calls')::bigint) q;
        value := coalesce(r.mx, 0); firing := value >= t;
        summary := format('%s statement(s) with a mean time of at least %s ms', r.cnt, t);
    EXCEPTION WHEN OTHERS THEN
        value := NULL; firing := false;
        summary := 'unavailable: ' || SQLERRM;
    END;
    RETURN NEXT;

    alert := 'DatabaseHighDeadTuples'; unit := 'percent';
    t := @extschema@._threshold('dead_tuples_pct'); threshold := t;
    t_min := @extschema@._threshold('dead_tuples_min');  -- once, not per table
    SELECT max(100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0)) AS mx,
           count(*) FILTER (WHERE 100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0) >= t) AS cnt INTO r
      FROM pg_stat_user_tables WHERE n_dead_tup >= t_min;
    value := round(coalesce(r.mx, 0), 1); firing := value >= t;
    summary := format('%s table(s) in %s with at least %s%% dead tuples', r.cnt, current_database(), t);
    RETURN NEXT;

    alert := 'DatabaseReplicationLag'; unit := 'bytes';
    t := @extschema@._threshold('replication_lag_bytes'); threshold := t;
    BEGIN
        SELECT max(rs.replay_lag_bytes) AS mx, count(*) AS cnt INTO r
          FROM @extschema@.replication_status() rs WHERE rs.kind = 'replica';
        value := coalesce(r.mx, 0); firing := value >= t;
        summary := format('%s replica(s); the furthest behind by %s', r.cnt, pg_size_pretty(value));
    EXCEPTION WHEN OTHERS THEN
        value := NULL; firing := false; summary := 'unavailable: ' || SQLERRM;
    END;
    RETURN NEXT;

    alert := 'DatabaseXminHorizon'; unit := 'xids';
    t := @extschema@._threshold('xmin_age_xids'); threshold := t;
    SELECT max(greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0))) AS mx INTO r FROM unnest(sess) s;
    v := coalesce(r.mx, 0);
    SELECT greatest(v, coalesce(max(greatest(coalesce(age(p.transaction), 0))), 0)) INTO v FROM pg_prepared_xacts p;
    SELECT greatest(v, coalesce(max(greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0))), 0)) INTO v
      FROM pg_replication_slots sl;
    value := v; firing := value >= t;
    summary := 'oldest xmin held by a session, prepared transaction or slot, in transactions';
    RETURN NEXT;

    alert := 'DatabaseWraparoundRisk'; unit := 'percent';
    t := @extschema@._threshold('wraparound_sev2_pct'); threshold := t;
    SELECT d.datname, round(100.0 * greatest(age(d.datfrozenxid), mxid_age(d.datminmxid)) / 2147483648, 2) AS pct INTO r
      FROM pg_database d ORDER BY 2 DESC LIMIT 1;
    value := r.pct; firing := value >= t;
    summary := format('database %s is the oldest: %s%% of the 2^31 xid/multixact limit', r.datname, r.pct);
    RETURN NEXT;
END
$fn$;

COMMENT ON FUNCTION @extschema@._alert_rows() IS
'internal: the rows of the alerts view';

REVOKE ALL ON FUNCTION @extschema@._alert_rows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._alert_rows() TO pg_monitor;

-- ---------------------------------------------------------------------
-- alerts: durations from the history ("connections >= 80 % for 5 min").
-- firing keeps its meaning (the condition holds now); firing_since is
-- when it began to hold without a break, per the samples of the last
-- hour; sustained = it has held for at least for_duration (the rules'
-- `for:`): 5 min, or the value of an alert_thresholds row named
-- alert_for_seconds if one is added.
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@._alert_durations(
    OUT alert text,
    OUT firing_since timestamptz,
    OUT firing_for interval,
    OUT for_duration interval)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    iv     interval;
    fr     interval := make_interval(secs => coalesce(@extschema@._threshold('alert_for_seconds'), 300)::float8);
    t_conn numeric := @extschema@._threshold('connections_sev2_pct');
    t_lock numeric := @extschema@._threshold('lock_wait_seconds');
    t_xact numeric := @extschema@._threshold('long_query_seconds');
    t_idle numeric := @extschema@._threshold('idle_xact_seconds');
    t_xmin numeric := @extschema@._threshold('xmin_age_xids');
BEGIN
    BEGIN
        iv := current_setting('pg_runbook.sample_interval')::interval;
    EXCEPTION WHEN OTHERS THEN
        iv := '0';
    END;
    IF NOT @extschema@._is_preloaded() OR iv <= '0' THEN
        RETURN QUERY SELECT a.alert, NULL::timestamptz, NULL::interval, fr
          FROM unnest(ARRAY['DatabaseHighConnections', 'DatabaseLockWaits', 'DatabaseLongTransaction',
                            'DatabaseIdleInTransaction', 'DatabaseXminHorizon']) AS a(alert);
        RETURN;
    END IF;
    -- one pass over the last hour: per alert, the latest sample and the
    -- latest sample where the condition did not hold; it has held since
    -- the sample after that one
    RETURN QUERY
    WITH h AS (
        SELECT hh.sampled_at,
               coalesce(hh.connections_pct >= t_conn, false) AS c1,
               coalesce(extract(epoch FROM hh.longest_lock_wait) >= t_lock, false) AS c2,
               coalesce(extract(epoch FROM hh.oldest_xact_age) >= t_xact, false) AS c3,
               coalesce(extract(epoch FROM hh.oldest_idle_xact_age) >= t_idle, false) AS c4,
               coalesce(hh.oldest_xmin_age >= t_xmin, false) AS c5
          FROM @extschema@.history(now() - interval '1 hour', now()) hh
    ), s AS (
        SELECT max(h.sampled_at) AS last_at,
               max(h.sampled_at) FILTER (WHERE NOT h.c1) AS f1, max(h.sampled_at) FILTER (WHERE NOT h.c2) AS f2,
               max(h.sampled_at) FILTER (WHERE NOT h.c3) AS f3, max(h.sampled_at) FILTER (WHERE NOT h.c4) AS f4,
               max(h.sampled_at) FILTER (WHERE NOT h.c5) AS f5
          FROM h
    ), f AS (
        SELECT v.alert, s.last_at, v.last_false
          FROM s, LATERAL (VALUES ('DatabaseHighConnections', s.f1), ('DatabaseLockWaits', s.f2),
                                  ('DatabaseLongTransaction', s.f3), ('DatabaseIdleInTransaction', s.f4),
                                  ('DatabaseXminHorizon', s.f5)) AS v(alert, last_false)
    )
    SELECT x.alert, x.since, now() - x.since, fr
      FROM (SELECT f.alert,
                   CASE WHEN f.last_at >= now() - 3 * iv - interval '1 s'
                             AND (f.last_false IS NULL OR f.last_false < f.last_at)
                        THEN (SELECT min(h.sampled_at) FROM h WHERE h.sampled_at > coalesce(f.last_false, '-infinity'))
                   END AS since
              FROM f) x;
END
$fn$;

COMMENT ON FUNCTION @extschema@._alert_durations() IS
'internal: how long each alert condition has held without a break, from the history of the last hour';

REVOKE ALL ON FUNCTION @extschema@._alert_durations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._alert_durations() TO pg_monitor;

CREATE OR REPLACE VIEW @extschema@.alerts AS
    SELECT a.alert, a.firing, a.value, a.threshold, a.unit, a.summary,
           CASE WHEN a.firing THEN d.firing_since END AS firing_since,
           CASE WHEN a.firing THEN d.firing_for END AS firing_for,
           d.for_duration,
           coalesce(a.firing AND d.firing_for >= d.for_duration, false) AS sustained
      FROM @extschema@._alert_rows() WITH ORDINALITY AS a(alert, firing, value, threshold, unit, summary, ord)
      LEFT JOIN @extschema@._alert_durations() d ON d.alert = a.alert
     ORDER BY a.ord;

COMMENT ON VIEW @extschema@.alerts IS
'the runbooks'' alerts (DatabaseHighConnections, DatabaseSlowQueries, ...): firing, value, threshold (from alert_thresholds), summary; from the flight recorder, how long the condition has held (firing_since, firing_for) and whether it held for the rules'' for: duration (sustained)';

REVOKE ALL ON TABLE @extschema@.alerts FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.alerts TO pg_monitor;
