-- runbook.worker_status(), pause_worker(), resume_worker().

CREATE OR REPLACE FUNCTION @extschema@.worker_status(
    OUT running boolean,
    OUT paused boolean,
    OUT pid integer,
    OUT database name,
    OUT enforce text,
    OUT started_at timestamptz,
    OUT cycles bigint,
    OUT actions bigint,
    OUT last_cycle_at timestamptz,
    OUT last_cycle_ms float8,
    OUT avg_cycle_ms float8,
    OUT max_cycle_ms float8,
    OUT next_wakeup timestamptz,
    OUT policies integer,
    OUT last_error text,
    OUT last_error_at timestamptz,
    OUT last_success_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_worker_status';

COMMENT ON FUNCTION @extschema@.worker_status() IS
'the policy worker: running, paused, cycles, cost, the last error and the last successful cycle (an error older than last_success_at is over)';

REVOKE ALL ON FUNCTION @extschema@.worker_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.worker_status() TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.pause_worker() RETURNS boolean
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'rb_pause_worker';

COMMENT ON FUNCTION @extschema@.pause_worker() IS
'stop the worker acting (it keeps running, and resumes on resume_worker() or a server restart)';

REVOKE ALL ON FUNCTION @extschema@.pause_worker() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.pause_worker() TO pg_signal_backend;

CREATE OR REPLACE FUNCTION @extschema@.resume_worker() RETURNS boolean
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'rb_resume_worker';

REVOKE ALL ON FUNCTION @extschema@.resume_worker() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.resume_worker() TO pg_signal_backend;
