-- ---------------------------------------------------------------------
-- Blocking locks: one snapshot of the waiting backends and the locks they
-- wait on (holders and queues only), analyzed in C (src/locks.c).
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.blocking_locks(
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
AS 'MODULE_PATHNAME', 'rb_blocking_locks';

COMMENT ON FUNCTION @extschema@.blocking_locks() IS
'one row per backend waiting on a heavyweight lock: direct blockers (as pg_blocking_pids), root blocker, depth, requested and conflicting modes, wait-for cycles';

CREATE FUNCTION @extschema@.lock_tree(OUT line text)
RETURNS SETOF text
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_lock_tree';

COMMENT ON FUNCTION @extschema@.lock_tree() IS
'lock waits as an indented tree: each root blocker with what it holds, the sessions waiting on it beneath';

REVOKE ALL ON FUNCTION @extschema@.blocking_locks() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.lock_tree() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.blocking_locks() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.lock_tree() TO pg_monitor;

-- ---------------------------------------------------------------------
-- terminate_blockers(): the remedy for a lock queue, through the remedy
-- path (re-check, safety rules, audit) like kill_idle().
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.terminate_blockers(
    min_wait interval,
    dry_run boolean DEFAULT true,
    allow_superuser boolean DEFAULT false,
    OUT pid integer,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT backend_type text,
    OUT state text,
    OUT state_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT action text,
    OUT outcome text,
    OUT reason text,
    OUT detail text,
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'rb_terminate_blockers';

COMMENT ON FUNCTION @extschema@.terminate_blockers(interval, boolean, boolean) IS
'terminate the root blockers of lock queues whose sessions have waited at least min_wait (a dry run unless dry_run => false)';

REVOKE ALL ON FUNCTION @extschema@.terminate_blockers(interval, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.terminate_blockers(interval, boolean, boolean) TO pg_signal_backend;
