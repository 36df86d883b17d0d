-- runbook.audit_status(): the audit ring and its writer.

CREATE OR REPLACE FUNCTION @extschema@.audit_status(
    OUT ring_size integer,
    OUT entries integer,
    OUT pending integer,
    OUT signalling integer,
    OUT spilled bigint,
    OUT copied bigint,
    OUT writer_running boolean,
    OUT writer_starting boolean,
    OUT writer_pid integer,
    OUT writer_failures bigint,
    OUT last_copy_at timestamptz,
    OUT last_error text,
    OUT last_error_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_audit_status';

COMMENT ON FUNCTION @extschema@.audit_status() IS
'the audit ring: size, entries held, entries not yet in runbook.actions (pending), entries being signalled, entries spilled to the log because the ring was full, entries copied, and the audit writer (running, starting, failures, last error)';

REVOKE ALL ON FUNCTION @extschema@.audit_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.audit_status() TO pg_monitor;
