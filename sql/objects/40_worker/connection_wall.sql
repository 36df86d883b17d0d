-- runbook.connection_wall(): the connection hook's waits at the saturation
-- wall (src/wall.c): how many ordinary connections wait for a slot now, the
-- most that may, and how many waited or did not (no room, or a storm) since the server
-- started.

CREATE OR REPLACE FUNCTION @extschema@.connection_wall(
    OUT waiting integer,
    OUT wait_limit integer,
    OUT keep_free integer,
    OUT peak_waiting integer,
    OUT waited bigint,
    OUT not_waited bigint,
    OUT max_wait_ms integer)
RETURNS record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_connection_wall';

COMMENT ON FUNCTION @extschema@.connection_wall() IS
'the saturation wall: ordinary connections waiting for a slot now (at most wait_limit, so that keep_free slots stay free for superusers and reserved-slot roles, who never wait), the most that waited at once, and how many waited or did not (no room, or another arrived within 100 ms: only a lone connection waits) since the server started';

REVOKE ALL ON FUNCTION @extschema@.connection_wall() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.connection_wall() TO pg_monitor;
