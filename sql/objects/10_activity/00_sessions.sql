-- runbook._sessions() and the view runbook.sessions: every backend from one
-- snapshot of backend status + PGPROC, read in C (src/activity_sql.c).

CREATE OR REPLACE FUNCTION @extschema@._sessions(
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
AS 'MODULE_PATHNAME', 'rb_sessions';

COMMENT ON FUNCTION @extschema@._sessions() IS
'every backend, from one snapshot; use the view runbook.sessions';

REVOKE ALL ON FUNCTION @extschema@._sessions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._sessions() TO pg_monitor;

CREATE OR REPLACE VIEW @extschema@.sessions AS
    SELECT * FROM @extschema@._sessions();

COMMENT ON VIEW @extschema@.sessions IS
'every backend: state, ages as intervals, xid/xmin age, direct lock blockers, query';

GRANT SELECT ON @extschema@.sessions TO pg_monitor;
