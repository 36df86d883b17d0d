-- ---------------------------------------------------------------------
-- alert_thresholds: a negative value is refused on UPDATE too (1.0 checked
-- only the INSERT of a restore, so `UPDATE ... SET value = -5` was taken
-- and made every comparison against it true).
-- ---------------------------------------------------------------------
CREATE OR REPLACE FUNCTION @extschema@._alert_thresholds_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NEW.value IS NULL OR NEW.value < 0 THEN
        RAISE EXCEPTION 'threshold % must be a non-negative number', NEW.name
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Thresholds are counts, percents, seconds, bytes or milliseconds: 0 or more.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.value IS DISTINCT FROM OLD.value OR NEW.unit IS DISTINCT FROM OLD.unit
           OR NEW.description IS DISTINCT FROM OLD.description THEN
            NEW.user_set := true;
        END IF;
        RETURN NEW;
    END IF;
    -- INSERT (a restore): the row CREATE EXTENSION made is updated instead
    UPDATE @extschema@.alert_thresholds t
       SET value = NEW.value, unit = NEW.unit, description = NEW.description, user_set = NEW.user_set
     WHERE t.name = NEW.name;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$fn$;

-- ---------------------------------------------------------------------
-- alerts: durations from the history ("connections >= 80 % for 5 min").
-- firing keeps its meaning (the condition holds now); firing_since is
-- when it began to hold without a break, per the samples of the last
-- hour; sustained = it has held for at least for_duration (the rules'
-- `for:`): 5 min, or the value of an alert_thresholds row named
-- alert_for_seconds if one is added.
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._alert_durations(
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

DROP VIEW @extschema@.alerts;

CREATE VIEW @extschema@.alerts AS
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
