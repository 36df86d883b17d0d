-- runbook.blocking_locks(): one row per waiting backend, from one snapshot
-- of the waiting backends and the locks they wait on (holders and queues
-- only), analyzed in C (src/locks.c).

CREATE OR REPLACE FUNCTION @extschema@.blocking_locks(
    OUT pid integer,
    OUT usename name,
    OUT application_name text,
    OUT state text,
    OUT wait_age interval,
    OUT xact_age interval,
    OUT locktype text,
    OUT relation regclass,
    OUT object text,
    OUT mode text,
    OUT held_mode text,
    OUT queued_mode text,
    OUT blocked_by integer[],
    OUT root_blocker integer,
    OUT depth integer,
    OUT blocks integer,
    OUT in_cycle boolean,
    OUT cycle text,
    OUT query text,
    OUT root_usename name,
    OUT root_application_name text,
    OUT root_state text,
    OUT root_xact_age interval,
    OUT root_held_mode text,
    OUT root_blocks integer,
    OUT root_query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_blocking_locks';

COMMENT ON FUNCTION @extschema@.blocking_locks() IS
'one row per backend waiting on a heavyweight lock, and one for the leader of a parallel query whose workers wait: direct blockers (as pg_blocking_pids, each once), root blocker, depth, requested and conflicting modes, wait-for cycles';

REVOKE ALL ON FUNCTION @extschema@.blocking_locks() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.blocking_locks() TO pg_monitor;
