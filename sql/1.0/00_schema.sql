-- pg_runbook 1.0: install script, assembled from sql/1.0/*.sql in name order.
\echo Use "CREATE EXTENSION pg_runbook" to load this file. \quit

-- Nothing here is for PUBLIC: read-only diagnostics go to pg_monitor,
-- remedies to pg_signal_backend (each file grants what it creates).
REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO pg_monitor, pg_signal_backend;
