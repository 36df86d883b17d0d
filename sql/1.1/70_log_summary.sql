-- ---------------------------------------------------------------------
-- 1.1 readers (issue 13 §3, §4): what the runbooks read that was missing
-- and the messages they send, one fragment per concern:
--   70_log_summary      log_summary(): the server log's errors by severity,
--                       SQLSTATE and category over a recent period (C:
--                       src/logread.c)
--   72_database_stats   pg_stat_database counters and ratios per database
--   74_triage_checks    the checks of triage(), one function each, returning
--                       rows of runbook.triage_finding: integrity findings
--                       (checksum failures, invalid indexes, NOT VALID
--                       constraints), the server log of the last hour,
--                       per-pid audited remedies (runbook.terminate /
--                       runbook.cancel) and remedy text quoted for its
--                       target (SQL literals, identifiers, shell words,
--                       one-line comments)
--   76_triage           triage(): the checks run in a loop, one failing
--                       check becomes a finding
--   78_messages         incident_message(): the seeds' communication
--                       templates, filled in
-- Every function pins search_path; read-only things go to pg_monitor.
-- ---------------------------------------------------------------------

-- ---------------------------------------------------------------------
-- log_summary
-- ---------------------------------------------------------------------
-- Granted to pg_monitor; the C function itself checks the server's
-- file-read rule (superuser or pg_read_server_files, as pg_read_file() on a
-- file outside the data directory), so a monitoring role reads the log only
-- when it was also given file-read rights.
CREATE FUNCTION @extschema@.log_summary(
    since interval DEFAULT '1 hour',
    max_bytes bigint DEFAULT 67108864,
    OUT severity text,
    OUT sqlstate text,
    OUT count bigint,
    OUT first_at timestamptz,
    OUT last_at timestamptz,
    OUT example text,
    OUT category text,
    OUT log_format text,
    OUT note text)
RETURNS SETOF record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_log_summary';

COMMENT ON FUNCTION @extschema@.log_summary(interval, bigint) IS
'errors of the server log (ERROR, FATAL, PANIC; WARNINGs of corruption) over the last period, by severity, SQLSTATE and category (too_many_connections, deadlock, statement_timeout...), read backwards from the end of the current and previous log files (at most max_bytes); needs superuser or pg_read_server_files';
REVOKE ALL ON FUNCTION @extschema@.log_summary(interval, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.log_summary(interval, bigint) TO pg_monitor;
