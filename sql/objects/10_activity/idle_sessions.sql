-- runbook.idle_sessions(min_idle): idle and idle-in-transaction sessions.

CREATE OR REPLACE FUNCTION @extschema@.idle_sessions(
    min_idle interval DEFAULT '10 min',
    OUT pid integer,
    OUT backend_type text,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT client_port integer,
    OUT state text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT backend_start timestamptz,
    OUT xact_start timestamptz,
    OUT query_start timestamptz,
    OUT state_change timestamptz,
    OUT backend_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT state_age interval,
    OUT backend_xid xid,
    OUT backend_xmin xid,
    OUT xid_age integer,
    OUT xmin_age integer,
    OUT leader_pid integer,
    OUT query_id bigint,
    OUT blocked_by integer[],
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_idle_sessions';

COMMENT ON FUNCTION @extschema@.idle_sessions(interval) IS
'client sessions idle, idle in transaction or idle in aborted transaction for at least min_idle, longest first';

REVOKE ALL ON FUNCTION @extschema@.idle_sessions(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.idle_sessions(interval) TO pg_monitor;
