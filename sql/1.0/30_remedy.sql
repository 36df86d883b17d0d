-- ---------------------------------------------------------------------
-- Remediation: one audited path that signals backends (remedy.c).
-- ---------------------------------------------------------------------

-- The audit table (on a primary).  The shared-memory ring behind
-- recent_actions() is the authoritative record: it survives rollbacks and
-- works on standbys.
CREATE TABLE @extschema@.actions (
    id               bigserial PRIMARY KEY,
    acted_at         timestamptz NOT NULL,
    actor            text NOT NULL,
    acting_role      name NOT NULL,
    pid              integer NOT NULL,
    usename          name,
    datname          name,
    application_name text,
    client_addr      inet,
    state            text,
    state_age        interval,
    xact_age         interval,
    query_age        interval,
    action           text NOT NULL,
    outcome          text NOT NULL,
    reason           text,
    detail           text,
    query            text
);
CREATE INDEX actions_acted_at_idx ON @extschema@.actions (acted_at);

COMMENT ON TABLE @extschema@.actions IS
'audit of every remedy pg_runbook applied or skipped (real runs only)';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.actions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.actions_id_seq', '');
REVOKE ALL ON @extschema@.actions FROM PUBLIC;
GRANT SELECT ON @extschema@.actions TO pg_monitor, pg_signal_backend;

CREATE FUNCTION @extschema@.recent_actions(
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
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_recent_actions';

COMMENT ON FUNCTION @extschema@.recent_actions() IS
'the shared-memory audit ring: every action and skip since the server started (pg_runbook.audit_ring_size latest)';

CREATE FUNCTION @extschema@.kill_idle(
    max_idle interval,
    dry_run boolean DEFAULT false,
    states text[] DEFAULT '{idle}',
    role_name name DEFAULT NULL,
    database_name name DEFAULT NULL,
    application_pattern text DEFAULT NULL,
    client_network cidr DEFAULT NULL,
    include_superusers boolean DEFAULT false,
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
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_kill_idle';

COMMENT ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, cidr, boolean) IS
'terminate client sessions idle (or in the given states) for at least max_idle; one row per session considered';

CREATE FUNCTION @extschema@.cancel_long(
    max_runtime interval,
    dry_run boolean DEFAULT false,
    terminate_after interval DEFAULT NULL,
    role_name name DEFAULT NULL,
    database_name name DEFAULT NULL,
    application_pattern text DEFAULT NULL,
    client_network cidr DEFAULT NULL,
    include_superusers boolean DEFAULT false,
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
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_cancel_long';

COMMENT ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, cidr, boolean) IS
'cancel statements running for at least max_runtime; with terminate_after, terminate those still running after that grace';

REVOKE ALL ON FUNCTION @extschema@.recent_actions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, cidr, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, cidr, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.recent_actions() TO pg_monitor, pg_signal_backend;
GRANT EXECUTE ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, cidr, boolean) TO pg_signal_backend;
GRANT EXECUTE ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, cidr, boolean) TO pg_signal_backend;
