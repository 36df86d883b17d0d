-- runbook._lock_behind(sess, waits, roots): for each root blocker of a
-- lock queue, every session waiting behind it, directly or through others
-- (as lock_tree() draws them), with how long each has waited for its lock.
-- From triage()'s one snapshot of the sessions (blocked_by: the direct
-- blockers, with pg_blocking_pids()' semantics) and its lock waits
-- (waits: pid -> seconds waited for the lock; roots: the root blockers of
-- blocking_locks()); a wait-for cycle has no root and is left out.
-- Waits shorter than deadlock_timeout are the ordinary traffic of a busy
-- server (a row updated twice at once): triage's lock checks leave them
-- out, with min_wait.

CREATE OR REPLACE FUNCTION @extschema@._lock_behind(
    sess @extschema@.sessions[],
    waits jsonb,
    roots integer[],
    OUT root integer,
    OUT pid integer,
    OUT direct boolean,
    OUT wait_s numeric)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH RECURSIVE s AS (
        SELECT x.pid, x.blocked_by,
               coalesce((waits->>x.pid::text)::numeric, @extschema@._secs(x.query_age)) AS wait_s
          FROM unnest(sess) x
         WHERE x.blocked_by IS NOT NULL
    ), behind(root, pid, direct) AS (
        SELECT r, s.pid, true
          FROM unnest(roots) r JOIN s ON r = ANY (s.blocked_by)
        UNION
        SELECT b.root, s.pid, false
          FROM behind b JOIN s ON b.pid = ANY (s.blocked_by)
         WHERE s.pid <> b.root
    )
    SELECT b.root, b.pid, bool_or(b.direct), max(s.wait_s)
      FROM behind b JOIN s ON s.pid = b.pid
     GROUP BY b.root, b.pid
$fn$;

COMMENT ON FUNCTION @extschema@._lock_behind(@extschema@.sessions[], jsonb, integer[]) IS
'internal: per root blocker, every session waiting behind it (directly or through others) and its wait in seconds';

REVOKE ALL ON FUNCTION @extschema@._lock_behind(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._lock_behind(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;

-- The shortest lock wait worth a finding, in seconds: deadlock_timeout
-- (after it the server checks for a deadlock, and log_lock_waits logs the
-- wait).
CREATE OR REPLACE FUNCTION @extschema@._lock_wait_floor()
RETURNS numeric
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT extract(epoch FROM current_setting('deadlock_timeout')::interval)::numeric $fn$;

COMMENT ON FUNCTION @extschema@._lock_wait_floor() IS
'internal: lock waits shorter than this (deadlock_timeout, in seconds) are ordinary traffic, not a finding';

REVOKE ALL ON FUNCTION @extschema@._lock_wait_floor() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._lock_wait_floor() TO pg_monitor;
