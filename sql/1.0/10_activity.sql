-- ---------------------------------------------------------------------
-- Live activity: one snapshot of backend status + PGPROC, read in C.
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@._sessions(
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
AS 'MODULE_PATHNAME', 'rb_sessions';

COMMENT ON FUNCTION @extschema@._sessions() IS
'every backend, from one snapshot; use the view runbook.sessions';

CREATE VIEW @extschema@.sessions AS
    SELECT * FROM @extschema@._sessions();

COMMENT ON VIEW @extschema@.sessions IS
'every backend: state, ages as intervals, xid/xmin age, direct lock blockers, query';

CREATE FUNCTION @extschema@.long_running(
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
AS 'MODULE_PATHNAME', 'rb_long_running';

COMMENT ON FUNCTION @extschema@.long_running(interval) IS
'client sessions running one statement for at least min_age, longest first';

CREATE FUNCTION @extschema@.idle_sessions(
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
AS 'MODULE_PATHNAME', 'rb_idle_sessions';

COMMENT ON FUNCTION @extschema@.idle_sessions(interval) IS
'client sessions idle, idle in transaction or idle in aborted transaction for at least min_idle, longest first';

CREATE FUNCTION @extschema@.connections(
    OUT max_connections integer,
    OUT reserved integer,
    OUT usable integer,
    OUT in_use integer,
    OUT active integer,
    OUT idle integer,
    OUT idle_in_transaction integer,
    OUT idle_in_transaction_aborted integer,
    OUT other integer,
    OUT available integer,
    OUT available_superuser integer,
    OUT pct_used numeric,
    OUT walsenders integer,
    OUT background integer)
RETURNS record
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_connections';

COMMENT ON FUNCTION @extschema@.connections() IS
'connection saturation: client sessions against max_connections less the reserved slots';

CREATE VIEW @extschema@.connection_sources AS
    SELECT datname, usename, application_name, client_addr, state,
           count(*) AS connections,
           round(100.0 * count(*) / current_setting('max_connections')::int, 1) AS pct_of_max,
           max(state_age) AS max_state_age,
           max(backend_age) AS max_backend_age
    FROM @extschema@._sessions()
    WHERE backend_type = 'client backend'
    GROUP BY datname, usename, application_name, client_addr, state
    ORDER BY connections DESC, datname, usename, application_name;

COMMENT ON VIEW @extschema@.connection_sources IS
'who holds the connections: client sessions by database, user, application, client and state';

REVOKE ALL ON FUNCTION @extschema@._sessions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.long_running(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.idle_sessions(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.connections() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._sessions() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.long_running(interval) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.idle_sessions(interval) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.connections() TO pg_monitor;
GRANT SELECT ON @extschema@.sessions, @extschema@.connection_sources TO pg_monitor;
