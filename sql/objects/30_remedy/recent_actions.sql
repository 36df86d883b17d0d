-- runbook.recent_actions(): the audit ring in shared memory (also on a
-- standby; runbook.actions is its copy on a primary).

CREATE OR REPLACE FUNCTION @extschema@.recent_actions(
    OUT seq bigint,
    OUT acted_at timestamptz,
    OUT actor text,
    OUT acting_role name,
    OUT pid integer,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT state text,
    OUT state_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT action text,
    OUT outcome text,
    OUT reason text,
    OUT detail text,
    OUT query text,
    OUT in_table boolean,
    OUT backend_start timestamptz,
    OUT session_role name)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_recent_actions';

COMMENT ON FUNCTION @extschema@.recent_actions() IS
'the shared-memory audit ring, oldest first: every action and skip of real remediation runs, and every pause / resume of the worker, since the server started (pg_runbook.audit_ring_size entries; also on standbys; not undone by rollback)';

REVOKE ALL ON FUNCTION @extschema@.recent_actions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.recent_actions() TO pg_monitor;
