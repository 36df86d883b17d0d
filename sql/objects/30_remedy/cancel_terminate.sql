-- runbook.cancel(pid, reason) and runbook.terminate(pid, reason): one
-- session through the audited remedy path.
-- ---- per-session remedies

CREATE OR REPLACE FUNCTION @extschema@.cancel(
    pid integer,
    reason text DEFAULT NULL)
RETURNS SETOF @extschema@.remedy_result
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_cancel_pid';

COMMENT ON FUNCTION @extschema@.cancel(integer, text) IS
'cancel the running statement of one session (pg_cancel_backend with every safety rule, the re-check and the audit; the reason goes into the audit)';

REVOKE ALL ON FUNCTION @extschema@.cancel(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.cancel(integer, text) TO pg_signal_backend;

CREATE OR REPLACE FUNCTION @extschema@.terminate(
    pid integer,
    reason text DEFAULT NULL)
RETURNS SETOF @extschema@.remedy_result
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_terminate_pid';

COMMENT ON FUNCTION @extschema@.terminate(integer, text) IS
'end one session (pg_terminate_backend with every safety rule, the re-check and the audit; the reason goes into the audit)';

REVOKE ALL ON FUNCTION @extschema@.terminate(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.terminate(integer, text) TO pg_signal_backend;
