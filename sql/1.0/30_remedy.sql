-- ---------------------------------------------------------------------
-- Remediation: kill_idle(), cancel_long() and the audit.
-- Selection, re-check, safety rules, signals and audit are all in C
-- (remedy.c, audit.c); these are thin front ends.  SECURITY INVOKER: the
-- permission rules of pg_terminate_backend apply to the caller.
-- ---------------------------------------------------------------------

CREATE TABLE @extschema@.actions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    action           text NOT NULL CHECK (action IN ('cancel', 'terminate')),
    outcome          text NOT NULL CHECK (outcome IN ('terminated', 'cancelled', 'skipped')),
    reason           text,
    detail           text,
    query            text,
    backend_start    timestamptz,
    ring_epoch       timestamptz NOT NULL,
    ring_seq         bigint NOT NULL,
    UNIQUE (ring_epoch, ring_seq)
);

CREATE INDEX actions_acted_at_idx ON @extschema@.actions (acted_at);

COMMENT ON TABLE @extschema@.actions IS
'audit of every action and skip of real remediation runs on this primary; copied from the shared-memory ring (runbook.recent_actions()) by the pg_runbook audit writer in its own transaction';

-- audit rows are data: keep them in pg_dump
SELECT pg_catalog.pg_extension_config_dump('@extschema@.actions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.actions_id_seq', '');

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
    OUT query text,
    OUT in_table boolean,
    OUT backend_start timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_recent_actions';

COMMENT ON FUNCTION @extschema@.recent_actions() IS
'the shared-memory audit ring, oldest first: every action and skip of real remediation runs since the server started (pg_runbook.audit_ring_size entries; also on standbys; not undone by rollback)';

CREATE FUNCTION @extschema@.kill_idle(
    max_idle interval,
    dry_run boolean DEFAULT false,
    states text[] DEFAULT '{idle}',
    role_name name DEFAULT NULL,
    database_name name DEFAULT NULL,
    application_pattern text DEFAULT NULL,
    client_network text DEFAULT NULL,
    allow_superuser boolean DEFAULT false,
    OUT pid integer,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT backend_type text,
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
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'rb_kill_idle';

COMMENT ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean) IS
'terminate sessions idle (or, per states, idle in transaction / aborted) for at least max_idle, oldest first; one row per session considered with the outcome or the reason it was skipped';

CREATE FUNCTION @extschema@.cancel_long(
    max_runtime interval,
    dry_run boolean DEFAULT false,
    terminate_after interval DEFAULT NULL,
    role_name name DEFAULT NULL,
    database_name name DEFAULT NULL,
    application_pattern text DEFAULT NULL,
    client_network text DEFAULT NULL,
    allow_superuser boolean DEFAULT false,
    OUT pid integer,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT backend_type text,
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
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'rb_cancel_long';

COMMENT ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean) IS
'cancel statements running for at least max_runtime, longest first; with terminate_after, terminate the sessions whose same statement still runs that long after the cancel';

REVOKE ALL ON TABLE @extschema@.actions FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.recent_actions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean) FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.actions TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.recent_actions() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean) TO pg_signal_backend;
GRANT EXECUTE ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean) TO pg_signal_backend;
