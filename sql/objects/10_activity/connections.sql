-- runbook.connections() (slots usable, in use, left) and the view
-- runbook.connection_sources (who holds them).

CREATE OR REPLACE FUNCTION @extschema@.connections(
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
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_connections';

COMMENT ON FUNCTION @extschema@.connections() IS
'connection saturation: client sessions against max_connections less the reserved slots';

REVOKE ALL ON FUNCTION @extschema@.connections() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.connections() TO pg_monitor;

CREATE OR REPLACE VIEW @extschema@.connection_sources AS
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

GRANT SELECT ON @extschema@.connection_sources TO pg_monitor;
