-- runbook.wait_profile(since, until): time spent per wait event, from the
-- sampler's wait samples (_wait_samples).

CREATE OR REPLACE FUNCTION @extschema@._wait_samples(
    since timestamptz,
    until timestamptz,
    OUT kind text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT queryid bigint,
    OUT query text,
    OUT samples bigint,
    OUT seconds float8,
    OUT pct float8,
    OUT avg_active float8)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_wait_samples';

COMMENT ON FUNCTION @extschema@._wait_samples(timestamptz, timestamptz) IS
'internal: the rows of wait_profile(), unordered';

REVOKE ALL ON FUNCTION @extschema@._wait_samples(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._wait_samples(timestamptz, timestamptz) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.wait_profile(
    since timestamptz,
    until timestamptz DEFAULT now(),
    OUT kind text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT queryid bigint,
    OUT query text,
    OUT samples bigint,
    OUT seconds numeric,
    OUT pct numeric,
    OUT avg_active numeric)
RETURNS SETOF record
LANGUAGE sql VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.kind, w.wait_event_type, w.wait_event, w.queryid, w.query, w.samples,
           round(w.seconds::numeric, 1), round(w.pct::numeric, 1), round(w.avg_active::numeric, 2)
      FROM @extschema@._wait_samples(since, until) w
     ORDER BY w.kind DESC, w.seconds DESC, w.wait_event_type, w.wait_event, w.query
$$;

COMMENT ON FUNCTION @extschema@.wait_profile(timestamptz, timestamptz) IS
'where the active sessions'' time went between since and until: session-seconds by wait event (kind wait_event; CPU:running = not waiting), then by wait event and statement (kind query), with the share of active time and the average number of active sessions';

REVOKE ALL ON FUNCTION @extschema@.wait_profile(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.wait_profile(timestamptz, timestamptz) TO pg_monitor;
