-- ---------------------------------------------------------------------
-- Locks and maintenance (1.1): the lock-group rule and non-blocking size
-- reads are in C; only the descriptions change here.
-- ---------------------------------------------------------------------
COMMENT ON FUNCTION @extschema@.blocking_locks() IS
'one row per backend waiting on a heavyweight lock, and one for the leader of a parallel query whose workers wait: direct blockers (as pg_blocking_pids, each once), root blocker, depth, requested and conflicting modes, wait-for cycles';

COMMENT ON FUNCTION @extschema@.relation_size_nowait(regclass, text) IS
'pg_relation_size() that returns NULL instead of queueing behind DDL (the relation is locked conditionally); fork main, fsm, vm, init, or all (every fork summed)';
