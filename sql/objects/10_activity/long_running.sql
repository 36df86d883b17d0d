-- runbook.long_running(min_age, include_lock_waits): active statements
-- older than min_age; a statement that only waits on a heavyweight lock is
-- a victim of its root blocker and is left out unless include_lock_waits
-- (1.2: a new argument and the root_blocker column, so the update drops
-- the 1.1 function first).

CREATE OR REPLACE FUNCTION @extschema@.long_running(
    min_age interval DEFAULT '5 min',
    include_lock_waits boolean DEFAULT false,
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
    OUT query text,
    OUT root_blocker integer)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_long_running';

COMMENT ON FUNCTION @extschema@.long_running(interval, boolean) IS
'client sessions running one statement for at least min_age, longest first; sessions waiting on a heavyweight lock (victims, not runaways) only with include_lock_waits, root_blocker naming the session at the head of their wait';

REVOKE ALL ON FUNCTION @extschema@.long_running(interval, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.long_running(interval, boolean) TO pg_monitor;
