-- runbook.long_running(min_age): active statements older than min_age.

CREATE OR REPLACE FUNCTION @extschema@.long_running(
    min_age interval DEFAULT '5 min',
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
AS 'MODULE_PATHNAME', 'rb_long_running';

COMMENT ON FUNCTION @extschema@.long_running(interval) IS
'client sessions running one statement for at least min_age, longest first';

REVOKE ALL ON FUNCTION @extschema@.long_running(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.long_running(interval) TO pg_monitor;
