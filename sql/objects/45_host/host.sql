-- runbook.host(): what the operating system says about the server
-- (src/resources_sql.c, read by src/hostshot.c; Linux only): the memory it
-- may use and uses, each filesystem it writes to, load and CPUs; the df -h
-- and free -h of the runbooks, from inside the database.

CREATE OR REPLACE FUNCTION @extschema@.host(
    OUT kind text,
    OUT name text,
    OUT tablespace name,
    OUT temp boolean,
    OUT path text,
    OUT mount_point text,
    OUT source text,
    OUT size_bytes bigint,
    OUT used_bytes bigint,
    OUT free_bytes bigint,
    OUT used_pct numeric,
    OUT size text,
    OUT used text,
    OUT free text,
    OUT inodes bigint,
    OUT inodes_free bigint,
    OUT inodes_used_pct numeric,
    OUT cache_bytes bigint,
    OUT temp_file_bytes bigint,
    OUT load1 double precision,
    OUT load5 double precision,
    OUT load15 double precision,
    OUT cpus integer)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_host';

COMMENT ON FUNCTION @extschema@.host() IS
'the server''s memory (its cgroup''s limit and use, else /proc/meminfo; page cache not counted as used), each filesystem holding the data directory, pg_wal or a tablespace (size, used, free, inodes, temporary files; temp = holds this session''s temporary files), load and CPUs; Linux only';

REVOKE ALL ON FUNCTION @extschema@.host() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.host() TO pg_monitor;
