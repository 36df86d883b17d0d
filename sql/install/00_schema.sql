-- The schema runbook (the control file's `schema`): nothing in it is for
-- PUBLIC; read-only diagnostics are granted to pg_monitor, remedies to
-- pg_signal_backend (each object's file grants what it creates).
REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO pg_monitor, pg_signal_backend;
