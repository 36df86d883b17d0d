-- runbook.backend_resources(): every backend with what /proc says of it
-- (src/resources_sql.c; Linux only): private memory, temporary files, I/O
-- and CPU time, beside the session columns of runbook.sessions.

CREATE OR REPLACE FUNCTION @extschema@.backend_resources(
    OUT pid integer,
    OUT leader_pid integer,
    OUT backend_type text,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT state text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT xact_age interval,
    OUT query_age interval,
    OUT state_age interval,
    OUT private_memory_bytes bigint,
    OUT private_memory text,
    OUT shared_memory_bytes bigint,
    OUT temp_bytes bigint,
    OUT temp text,
    OUT temp_files integer,
    OUT read_bytes bigint,
    OUT read text,
    OUT written_bytes bigint,
    OUT written text,
    OUT cpu_seconds double precision,
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_backend_resources';

COMMENT ON FUNCTION @extschema@.backend_resources() IS
'every backend with its private memory (RssAnon: shared buffers excluded), temporary files (pgsql_tmp<pid>.* in every tablespace), bytes read and written (/proc/<pid>/io), CPU time, and the session columns; resource columns NULL for sessions the caller may not see (pg_stat_activity''s rule); Linux only';

REVOKE ALL ON FUNCTION @extschema@.backend_resources() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.backend_resources() TO pg_monitor;
