-- runbook.log_summary(since, max_bytes): the server log's errors by
-- severity, SQLSTATE and category over a recent period (C: src/logread.c).
-- Granted to pg_monitor; the C function itself checks the server's
-- file-read rule (superuser or pg_read_server_files, as pg_read_file() on a
-- file outside the data directory), so a monitoring role reads the log only
-- when it was also given file-read rights.

CREATE OR REPLACE FUNCTION @extschema@.log_summary(
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
