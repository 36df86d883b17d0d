-- runbook.events(since, until): threshold crossings the sampler recorded.

CREATE OR REPLACE FUNCTION @extschema@.events(
    since timestamptz,
    until timestamptz DEFAULT now(),
    OUT seq bigint,
    OUT at timestamptz,
    OUT kind text,
    OUT pid integer,
    OUT pids integer[],
    OUT value float8,
    OUT threshold float8,
    OUT detail text,
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_events';

COMMENT ON FUNCTION @extschema@.events(timestamptz, timestamptz) IS
'moments a threshold was crossed (connections_high/normal, lock_queue_formed/grew/cleared, lock_wait_long, long_query, idle_in_transaction, long_transaction, deadlock), with the pids and the query involved; oldest first';

REVOKE ALL ON FUNCTION @extschema@.events(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.events(timestamptz, timestamptz) TO pg_monitor;
