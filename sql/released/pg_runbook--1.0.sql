-- pg_runbook 1.0: install script, assembled from sql/1.0/*.sql in name order.
\echo Use "CREATE EXTENSION pg_runbook" to load this file. \quit

-- Nothing here is for PUBLIC: read-only diagnostics go to pg_monitor,
-- remedies to pg_signal_backend (each file grants what it creates).
REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO pg_monitor, pg_signal_backend;
-- ---------------------------------------------------------------------
-- Live activity: one snapshot of backend status + PGPROC, read in C.
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@._sessions(
    OUT pid integer,
    OUT backend_type text,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT client_port integer,
    OUT state text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT backend_start timestamptz,
    OUT xact_start timestamptz,
    OUT query_start timestamptz,
    OUT state_change timestamptz,
    OUT backend_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT state_age interval,
    OUT backend_xid xid,
    OUT backend_xmin xid,
    OUT xid_age integer,
    OUT xmin_age integer,
    OUT leader_pid integer,
    OUT query_id bigint,
    OUT blocked_by integer[],
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_sessions';

COMMENT ON FUNCTION @extschema@._sessions() IS
'every backend, from one snapshot; use the view runbook.sessions';

CREATE VIEW @extschema@.sessions AS
    SELECT * FROM @extschema@._sessions();

COMMENT ON VIEW @extschema@.sessions IS
'every backend: state, ages as intervals, xid/xmin age, direct lock blockers, query';

CREATE FUNCTION @extschema@.long_running(
    min_age interval DEFAULT '5 min',
    OUT pid integer,
    OUT backend_type text,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT client_port integer,
    OUT state text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT backend_start timestamptz,
    OUT xact_start timestamptz,
    OUT query_start timestamptz,
    OUT state_change timestamptz,
    OUT backend_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT state_age interval,
    OUT backend_xid xid,
    OUT backend_xmin xid,
    OUT xid_age integer,
    OUT xmin_age integer,
    OUT leader_pid integer,
    OUT query_id bigint,
    OUT blocked_by integer[],
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_long_running';

COMMENT ON FUNCTION @extschema@.long_running(interval) IS
'client sessions running one statement for at least min_age, longest first';

CREATE FUNCTION @extschema@.idle_sessions(
    min_idle interval DEFAULT '10 min',
    OUT pid integer,
    OUT backend_type text,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT client_port integer,
    OUT state text,
    OUT wait_event_type text,
    OUT wait_event text,
    OUT backend_start timestamptz,
    OUT xact_start timestamptz,
    OUT query_start timestamptz,
    OUT state_change timestamptz,
    OUT backend_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT state_age interval,
    OUT backend_xid xid,
    OUT backend_xmin xid,
    OUT xid_age integer,
    OUT xmin_age integer,
    OUT leader_pid integer,
    OUT query_id bigint,
    OUT blocked_by integer[],
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_idle_sessions';

COMMENT ON FUNCTION @extschema@.idle_sessions(interval) IS
'client sessions idle, idle in transaction or idle in aborted transaction for at least min_idle, longest first';

CREATE FUNCTION @extschema@.connections(
    OUT max_connections integer,
    OUT reserved integer,
    OUT usable integer,
    OUT in_use integer,
    OUT active integer,
    OUT idle integer,
    OUT idle_in_transaction integer,
    OUT idle_in_transaction_aborted integer,
    OUT other integer,
    OUT available integer,
    OUT available_superuser integer,
    OUT pct_used numeric,
    OUT walsenders integer,
    OUT background integer)
RETURNS record
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_connections';

COMMENT ON FUNCTION @extschema@.connections() IS
'connection saturation: client sessions against max_connections less the reserved slots';

CREATE VIEW @extschema@.connection_sources AS
    SELECT datname, usename, application_name, client_addr, state,
           count(*) AS connections,
           round(100.0 * count(*) / current_setting('max_connections')::int, 1) AS pct_of_max,
           max(state_age) AS max_state_age,
           max(backend_age) AS max_backend_age
    FROM @extschema@._sessions()
    WHERE backend_type = 'client backend'
    GROUP BY datname, usename, application_name, client_addr, state
    ORDER BY connections DESC, datname, usename, application_name;

COMMENT ON VIEW @extschema@.connection_sources IS
'who holds the connections: client sessions by database, user, application, client and state';

REVOKE ALL ON FUNCTION @extschema@._sessions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.long_running(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.idle_sessions(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.connections() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._sessions() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.long_running(interval) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.idle_sessions(interval) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.connections() TO pg_monitor;
GRANT SELECT ON @extschema@.sessions, @extschema@.connection_sources TO pg_monitor;
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
-- ---------------------------------------------------------------------
-- Remediation: kill_idle(), cancel_long() and the audit.
-- Selection, re-check, safety rules, signals and audit are all in C
-- (remedy.c, audit.c); these are thin front ends.  SECURITY INVOKER: the
-- permission rules of pg_terminate_backend apply to the caller.
-- ---------------------------------------------------------------------

CREATE TABLE @extschema@.actions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    acted_at         timestamptz NOT NULL,
    actor            text NOT NULL,
    acting_role      name NOT NULL,
    pid              integer NOT NULL,
    usename          name,
    datname          name,
    application_name text,
    client_addr      inet,
    state            text,
    state_age        interval,
    xact_age         interval,
    query_age        interval,
    action           text NOT NULL CHECK (action IN ('cancel', 'terminate')),
    outcome          text NOT NULL CHECK (outcome IN ('terminated', 'cancelled', 'skipped')),
    reason           text,
    detail           text,
    query            text,
    backend_start    timestamptz,
    ring_epoch       timestamptz NOT NULL,
    ring_seq         bigint NOT NULL,
    UNIQUE (ring_epoch, ring_seq)
);

CREATE INDEX actions_acted_at_idx ON @extschema@.actions (acted_at);

COMMENT ON TABLE @extschema@.actions IS
'audit of every action and skip of real remediation runs on this primary; copied from the shared-memory ring (runbook.recent_actions()) by the pg_runbook audit writer in its own transaction';

-- audit rows are data: keep them in pg_dump
SELECT pg_catalog.pg_extension_config_dump('@extschema@.actions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.actions_id_seq', '');

CREATE FUNCTION @extschema@.recent_actions(
    OUT seq bigint,
    OUT acted_at timestamptz,
    OUT actor text,
    OUT acting_role name,
    OUT pid integer,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT state text,
    OUT state_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT action text,
    OUT outcome text,
    OUT reason text,
    OUT detail text,
    OUT query text,
    OUT in_table boolean,
    OUT backend_start timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_recent_actions';

COMMENT ON FUNCTION @extschema@.recent_actions() IS
'the shared-memory audit ring, oldest first: every action and skip of real remediation runs since the server started (pg_runbook.audit_ring_size entries; also on standbys; not undone by rollback)';

CREATE FUNCTION @extschema@.kill_idle(
    max_idle interval,
    dry_run boolean DEFAULT false,
    states text[] DEFAULT '{idle}',
    role_name name DEFAULT NULL,
    database_name name DEFAULT NULL,
    application_pattern text DEFAULT NULL,
    client_network text DEFAULT NULL,
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
AS 'MODULE_PATHNAME', 'rb_kill_idle';

COMMENT ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean) IS
'terminate sessions idle (or, per states, idle in transaction / aborted) for at least max_idle, oldest first; one row per session considered with the outcome or the reason it was skipped';

CREATE FUNCTION @extschema@.cancel_long(
    max_runtime interval,
    dry_run boolean DEFAULT false,
    terminate_after interval DEFAULT NULL,
    role_name name DEFAULT NULL,
    database_name name DEFAULT NULL,
    application_pattern text DEFAULT NULL,
    client_network text DEFAULT NULL,
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
AS 'MODULE_PATHNAME', 'rb_cancel_long';

COMMENT ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean) IS
'cancel statements running for at least max_runtime, longest first; with terminate_after, terminate the sessions whose same statement still runs that long after the cancel';

REVOKE ALL ON TABLE @extschema@.actions FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.recent_actions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean) FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.actions TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.recent_actions() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.kill_idle(interval, boolean, text[], name, name, text, text, boolean) TO pg_signal_backend;
GRANT EXECUTE ON FUNCTION @extschema@.cancel_long(interval, boolean, interval, name, name, text, text, boolean) TO pg_signal_backend;
-- ---------------------------------------------------------------------
-- Background worker: policies, preview, status, pause / resume.
-- ---------------------------------------------------------------------

CREATE TABLE @extschema@.policies (
    name                text PRIMARY KEY,
    priority            integer NOT NULL DEFAULT 100,
    enabled             boolean NOT NULL DEFAULT true,
    -- what a policy matches (NULL = any)
    role_name           name,
    database_name       name,
    application_pattern text,
    client_network      cidr,
    states              text[] NOT NULL,
    active_from         time,
    active_until        time,
    -- thresholds (NULL = none)
    min_state_age       interval,
    min_xact_age        interval,
    min_query_age       interval,
    -- harm conditions
    only_if_blocking    boolean NOT NULL DEFAULT false,
    min_blocked_sessions integer NOT NULL DEFAULT 1,
    min_blocked_wait    interval NOT NULL DEFAULT '0',
    min_xmin_age        integer,
    -- what to do
    action              text NOT NULL,
    grace               interval NOT NULL DEFAULT '30 s',
    allow_superuser     boolean NOT NULL DEFAULT false,
    dry_run             boolean NOT NULL DEFAULT false,
    comment             text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policies_action_check
        CHECK (action IN ('ignore', 'log', 'cancel', 'terminate', 'cancel_then_terminate')),
    CONSTRAINT policies_states_check
        CHECK (cardinality(states) > 0 AND array_position(states, NULL) IS NULL AND
               states <@ ARRAY['idle', 'idle in transaction',
                               'idle in transaction (aborted)', 'active']::text[]),
    CONSTRAINT policies_intervals_check
        CHECK (coalesce(min_state_age, '0') >= '0' AND coalesce(min_xact_age, '0') >= '0'
               AND coalesce(min_query_age, '0') >= '0' AND min_blocked_wait >= '0'
               AND grace >= '0'),
    CONSTRAINT policies_counts_check
        CHECK (min_blocked_sessions >= 1 AND coalesce(min_xmin_age, 0) >= 0),
    CONSTRAINT policies_window_check
        CHECK ((active_from IS NULL) = (active_until IS NULL))
);

COMMENT ON TABLE @extschema@.policies IS
'pg_runbook worker policies: first match by priority (lower first), then name';

-- Validation at write time, with a clear error and a hint, so that the
-- worker never discovers a bad policy later.  The CHECK constraints above
-- cover ranges; this covers what needs a lookup.
CREATE FUNCTION @extschema@._policies_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
DECLARE
    valid_states constant text[] := ARRAY['idle', 'idle in transaction',
                                          'idle in transaction (aborted)', 'active'];
    bad text;
BEGIN
    IF NEW.action IS NULL OR NEW.action NOT IN ('ignore', 'log', 'cancel', 'terminate', 'cancel_then_terminate') THEN
        RAISE EXCEPTION 'unknown action % in policy "%"', coalesce(quote_literal(NEW.action), 'NULL'), NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid actions: ignore, log, cancel, terminate, cancel_then_terminate.';
    END IF;
    IF NEW.states IS NULL OR cardinality(NEW.states) = 0 THEN
        RAISE EXCEPTION 'policy "%" matches no state', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid states: idle, idle in transaction, idle in transaction (aborted), active.';
    END IF;
    SELECT s INTO bad FROM unnest(NEW.states) s WHERE s IS NULL OR s <> ALL (valid_states) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown state % in policy "%"', coalesce(quote_literal(bad), 'NULL'), NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid states: idle, idle in transaction, idle in transaction (aborted), active.';
    END IF;
    IF NEW.min_state_age < '0' OR NEW.min_xact_age < '0' OR NEW.min_query_age < '0'
       OR NEW.min_blocked_wait < '0' OR NEW.grace < '0' THEN
        RAISE EXCEPTION 'policy "%" has a negative interval', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Thresholds and the grace period are durations such as ''30 s'' or ''10 min''.';
    END IF;
    IF NEW.min_blocked_sessions < 1 OR NEW.min_xmin_age < 0 THEN
        RAISE EXCEPTION 'policy "%": min_blocked_sessions must be at least 1 and min_xmin_age not negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (NEW.active_from IS NULL) <> (NEW.active_until IS NULL) THEN
        RAISE EXCEPTION 'policy "%" sets only one end of its time window', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set both active_from and active_until (a window may span midnight), or neither.';
    END IF;
    IF NEW.role_name IS NOT NULL AND
       NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = NEW.role_name) THEN
        RAISE EXCEPTION 'role "%" of policy "%" does not exist', NEW.role_name, NEW.name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create the role first, or leave role_name NULL to match any role.';
    END IF;
    IF NEW.database_name IS NOT NULL AND
       NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = NEW.database_name) THEN
        RAISE EXCEPTION 'database "%" of policy "%" does not exist', NEW.database_name, NEW.name
            USING ERRCODE = 'invalid_catalog_name',
                  HINT = 'Leave database_name NULL to match any database.';
    END IF;
    IF NEW.application_pattern IS NOT NULL THEN
        BEGIN
            -- matching the pattern against itself walks all of it
            PERFORM NEW.application_pattern LIKE NEW.application_pattern;
        EXCEPTION WHEN invalid_escape_sequence OR invalid_parameter_value THEN
            RAISE EXCEPTION 'application_pattern % of policy "%" is not a valid LIKE pattern',
                            quote_literal(NEW.application_pattern), NEW.name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use LIKE syntax: % for any string, _ for one character, \ to escape.';
        END;
    END IF;
    IF NEW.only_if_blocking IS FALSE AND
       (NEW.min_blocked_sessions <> 1 OR NEW.min_blocked_wait <> '0') THEN
        RAISE EXCEPTION 'policy "%" sets min_blocked_sessions or min_blocked_wait without only_if_blocking',
                        NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set only_if_blocking = true, or leave the blocking thresholds at their defaults.';
    END IF;
    IF NEW.action IN ('cancel', 'terminate', 'cancel_then_terminate', 'log')
       AND NEW.min_state_age IS NULL AND NEW.min_xact_age IS NULL
       AND NEW.min_query_age IS NULL AND NOT NEW.only_if_blocking
       AND NEW.min_xmin_age IS NULL THEN
        RAISE EXCEPTION 'policy "%" has no threshold: it would act on every matching session at once', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set min_state_age, min_xact_age, min_query_age, min_xmin_age or only_if_blocking (use ''0'' if you really mean immediately).';
    END IF;
    IF NEW.action = 'cancel_then_terminate' AND 'active' <> ALL (NEW.states)
       AND 'idle in transaction' <> ALL (NEW.states)
       AND 'idle in transaction (aborted)' <> ALL (NEW.states) THEN
        RAISE EXCEPTION 'policy "%": cancel_then_terminate needs a state where there is something to cancel', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use terminate for idle sessions.';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$fn$;

CREATE TRIGGER policies_validate
    BEFORE INSERT OR UPDATE ON @extschema@.policies
    FOR EACH ROW EXECUTE FUNCTION @extschema@._policies_validate();

-- wake the worker at once when policies change
CREATE FUNCTION @extschema@._policies_changed() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'rb_policies_changed';

CREATE TRIGGER policies_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.policies
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._policies_changed();

-- pg_dump keeps the DBA's policies
SELECT pg_catalog.pg_extension_config_dump('@extschema@.policies', '');

REVOKE ALL ON @extschema@.policies FROM PUBLIC;
GRANT SELECT ON @extschema@.policies TO pg_monitor;

CREATE FUNCTION @extschema@.policy_preview(
    OUT pid integer,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT client_addr inet,
    OUT state text,
    OUT state_age interval,
    OUT xact_age interval,
    OUT query_age interval,
    OUT policy text,
    OUT action text,
    OUT outcome text,
    OUT reason text,
    OUT detail text,
    OUT query text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_policy_preview';

COMMENT ON FUNCTION @extschema@.policy_preview() IS
'what the worker''s next cycle would do to which session, by which policy, and why (a dry run)';

CREATE FUNCTION @extschema@.worker_status(
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
    OUT last_error_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_worker_status';

CREATE FUNCTION @extschema@.pause_worker() RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'rb_pause_worker';
CREATE FUNCTION @extschema@.resume_worker() RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'rb_resume_worker';

COMMENT ON FUNCTION @extschema@.pause_worker() IS
'stop the worker acting (it keeps running, and resumes on resume_worker() or a server restart)';

REVOKE ALL ON FUNCTION @extschema@.policy_preview(), @extschema@.worker_status(),
    @extschema@.pause_worker(), @extschema@.resume_worker(),
    @extschema@._policies_changed(), @extschema@._policies_validate() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.policy_preview(), @extschema@.worker_status() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pause_worker(), @extschema@.resume_worker() TO pg_signal_backend;
-- ---------------------------------------------------------------------
-- Maintenance and capacity: bloat with confidence, vacuum and wraparound,
-- sizes and disk, index advice, sequences.  Nothing here waits on a lock:
-- sizes and the bloat estimate come from C (src/maint.c) with conditional
-- locks; everything else reads catalogs and statistics only.
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.relation_size_nowait(rel regclass, fork text DEFAULT 'main')
RETURNS bigint
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_relation_size_nowait';

COMMENT ON FUNCTION @extschema@.relation_size_nowait(regclass, text) IS
'pg_relation_size() that returns NULL instead of queueing behind DDL; fork ''all'' sums every fork';

CREATE FUNCTION @extschema@._relation_sizes(
    OUT relid oid,
    OUT kind text,
    OUT parent oid,
    OUT main_bytes bigint,
    OUT other_fork_bytes bigint,
    OUT toast_bytes bigint,
    OUT indexes_bytes bigint,
    OUT total_bytes bigint,
    OUT skipped text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_relation_sizes';

CREATE FUNCTION @extschema@._bloat_estimate(
    rel regclass DEFAULT NULL,
    OUT relid oid,
    OUT kind text,
    OUT table_oid oid,
    OUT size_bytes bigint,
    OUT expected_bytes bigint,
    OUT bloat_bytes bigint,
    OUT live_tuples float8,
    OUT dead_tuples float8,
    OUT toast_bytes bigint,
    OUT fillfactor integer,
    OUT confidence text,
    OUT reason text,
    OUT skipped boolean)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_bloat_estimate';

CREATE FUNCTION @extschema@._sequence_last_value(seq regclass,
    OUT last_value bigint, OUT skipped text)
RETURNS record
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'rb_sequence_last_value';

-- ---------------------------------------------------------------------
-- bloat_report
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._bloat_remedy(kind text, relation regclass, table_name regclass,
    bloat_bytes bigint, bloat_pct numeric, dead_tuple_pct numeric, reason text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT CASE
    WHEN reason ~ 'run ANALYZE' THEN format('ANALYZE %s', coalesce(table_name, relation))
    WHEN reason LIKE 'skipped: locked%' THEN 'retry later; see runbook.blocking_locks()'
    WHEN bloat_bytes IS NULL THEN NULL
    WHEN kind = 'table' AND dead_tuple_pct >= 20 THEN format('VACUUM (VERBOSE, ANALYZE) %s', relation)
    WHEN kind = 'table' AND bloat_pct >= 30 AND bloat_bytes >= 8 * 1024 * 1024 THEN
        format('rebuild online: pg_repack --table=%s (or VACUUM FULL %s, which holds AccessExclusiveLock for the whole rewrite)', relation, relation)
    WHEN kind = 'index' AND bloat_pct >= 30 AND bloat_bytes >= 8 * 1024 * 1024 THEN
        format('REINDEX INDEX CONCURRENTLY %s', relation)
    ELSE 'none'
END
$$;

CREATE TYPE @extschema@.bloat_row AS (
    relation regclass,
    kind text,
    table_name regclass,
    size_bytes bigint,
    size_pretty text,
    bloat_bytes bigint,
    bloat_pretty text,
    bloat_pct numeric,
    dead_tuple_pct numeric,
    live_tuples bigint,
    dead_tuples bigint,
    toast_bytes bigint,
    fillfactor integer,
    method text,
    confidence text,
    reason text,
    remedy text);

CREATE FUNCTION @extschema@.bloat_report(
    method text DEFAULT 'estimate',
    rel regclass DEFAULT NULL,
    max_bytes bigint DEFAULT 1073741824)
RETURNS SETOF @extschema@.bloat_row
LANGUAGE plpgsql VOLATILE
SET lock_timeout = '100ms'
SET jit = off
AS $fn$
DECLARE
    o @extschema@.bloat_row;
    m text := lower(coalesce(bloat_report.method, 'estimate'));
    pgst name;
    e record;
    x record;
    scanned integer := 0;
BEGIN
    IF m NOT IN ('estimate', 'approx', 'exact') THEN
        RAISE EXCEPTION 'unknown bloat method "%"', bloat_report.method
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''estimate'' (catalog statistics, no scan), ''approx'' (pgstattuple_approx) or ''exact'' (pgstattuple / pgstatindex, reads every page).';
    END IF;
    IF m <> 'estimate' THEN
        SELECT n.nspname INTO pgst
          FROM pg_extension x2 JOIN pg_namespace n ON n.oid = x2.extnamespace
         WHERE x2.extname = 'pgstattuple';
        IF pgst IS NULL THEN
            RAISE EXCEPTION 'bloat method "%" needs the extension pgstattuple', m
                USING ERRCODE = 'undefined_object',
                      DETAIL = 'pgstattuple ships with PostgreSQL (contrib) but is not installed in this database.',
                      HINT = 'Run CREATE EXTENSION pgstattuple; as a superuser, or use method ''estimate''.';
        END IF;
    END IF;

    IF m = 'estimate' THEN
        -- one set-based query: no per-row PL/pgSQL
        RETURN QUERY
        SELECT b.*, @extschema@._bloat_remedy(b.kind, b.relation, b.table_name, b.bloat_bytes,
                                               b.bloat_pct, b.dead_tuple_pct, b.reason)
          FROM (SELECT be.relid::regclass AS relation, be.kind, be.table_oid::regclass AS table_name,
                       be.size_bytes, pg_size_pretty(be.size_bytes),
                       be.bloat_bytes, pg_size_pretty(be.bloat_bytes),
                       CASE WHEN be.size_bytes > 0 AND be.bloat_bytes IS NOT NULL
                            THEN round(100.0 * be.bloat_bytes / be.size_bytes, 1) END AS bloat_pct,
                       CASE WHEN be.kind = 'table' AND be.live_tuples + be.dead_tuples > 0
                            THEN round((100.0 * be.dead_tuples / (be.live_tuples + be.dead_tuples))::numeric, 1) END AS dead_tuple_pct,
                       be.live_tuples::bigint, be.dead_tuples::bigint, be.toast_bytes, be.fillfactor,
                       'estimate'::text, be.confidence,
                       CASE WHEN be.skipped
                            THEN 'skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for'
                            ELSE be.reason END AS reason
                  FROM @extschema@._bloat_estimate(rel) be) b;
        RETURN;
    END IF;

    FOR e IN SELECT * FROM @extschema@._bloat_estimate(rel) LOOP
        o.relation := e.relid::regclass;
        o.kind := e.kind;
        o.table_name := e.table_oid::regclass;
        o.size_bytes := e.size_bytes;
        o.bloat_bytes := e.bloat_bytes;
        o.live_tuples := e.live_tuples::bigint;
        o.dead_tuples := e.dead_tuples::bigint;
        o.toast_bytes := e.toast_bytes;
        o.fillfactor := e.fillfactor;
        o.method := 'estimate';
        o.confidence := e.confidence;
        o.reason := e.reason;
        o.bloat_pct := CASE WHEN e.size_bytes > 0 AND e.bloat_bytes IS NOT NULL
                          THEN round(100.0 * e.bloat_bytes / e.size_bytes, 1) END;
        o.dead_tuple_pct := CASE WHEN e.kind = 'table' AND e.live_tuples + e.dead_tuples > 0
                               THEN round((100.0 * e.dead_tuples / (e.live_tuples + e.dead_tuples))::numeric, 1) END;

        IF e.skipped THEN
            o.reason := 'skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for';
            o.remedy := 'retry later; see runbook.blocking_locks()';
            o.size_pretty := NULL; o.bloat_pretty := NULL;
            RETURN NEXT o;
            CONTINUE;
        END IF;

        IF m <> 'estimate' AND (m = 'exact' OR e.kind = 'table') THEN
            IF e.size_bytes > max_bytes THEN
                o.reason := concat_ws('; ', o.reason, format('larger than max_bytes (%s): not scanned, estimate shown', pg_size_pretty(max_bytes)));
            ELSE
                BEGIN
                    IF e.kind = 'table' AND m = 'approx' THEN
                        EXECUTE format('SELECT table_len, approx_free_space + dead_tuple_len AS waste, dead_tuple_count, approx_tuple_count AS live FROM %I.pgstattuple_approx($1)', pgst)
                           INTO x USING e.relid;
                    ELSIF e.kind = 'table' THEN
                        EXECUTE format('SELECT table_len, free_space + dead_tuple_len AS waste, dead_tuple_count, tuple_count AS live FROM %I.pgstattuple($1)', pgst)
                           INTO x USING e.relid;
                    ELSIF e.reason IS NULL OR e.reason NOT LIKE 'non-btree%' THEN
                        -- btree: leaf density against the fillfactor, plus empty and deleted pages
                        EXECUTE format('SELECT index_size AS table_len,
                                        CASE WHEN leaf_pages > 0 AND avg_leaf_density <> ''NaN''
                                             THEN greatest(0, (leaf_pages * current_setting(''block_size'')::bigint)
                                                     * (1 - avg_leaf_density / $2))::bigint ELSE 0 END
                                          + (empty_pages + deleted_pages) * current_setting(''block_size'')::bigint AS waste,
                                        NULL::bigint AS dead_tuple_count, NULL::bigint AS live
                                        FROM %I.pgstatindex($1)', pgst)
                           INTO x USING e.relid, coalesce(e.fillfactor, 90)::float8;
                    ELSE
                        EXECUTE format('SELECT pg_relation_size($1) AS table_len,
                                        (free_space + dead_tuple_len) AS waste,
                                        dead_tuple_count, tuple_count AS live
                                        FROM %I.pgstattuple($1)', pgst)
                           INTO x USING e.relid;
                    END IF;
                    scanned := scanned + 1;
                    o.method := m;
                    o.size_bytes := x.table_len;
                    o.bloat_bytes := greatest(x.waste, 0);
                    o.bloat_pct := CASE WHEN x.table_len > 0 THEN round(100.0 * o.bloat_bytes / x.table_len, 1) ELSE 0 END;
                    IF e.kind = 'table' THEN
                        o.live_tuples := x.live;
                        o.dead_tuples := x.dead_tuple_count;
                        o.dead_tuple_pct := CASE WHEN x.live + x.dead_tuple_count > 0
                                               THEN round(100.0 * x.dead_tuple_count / (x.live + x.dead_tuple_count), 1) END;
                    END IF;
                    o.confidence := CASE WHEN m = 'exact' THEN 'high' ELSE 'medium' END;
                    o.reason := CASE WHEN m = 'approx'
                                   THEN 'pgstattuple_approx: trusts the visibility map for all-visible pages'
                              END;
                EXCEPTION WHEN lock_not_available THEN
                    o.reason := 'skipped: locked by another session (DDL holds or awaits a conflicting lock); not waited for';
                    o.remedy := 'retry later; see runbook.blocking_locks()';
                    o.confidence := 'low';
                    o.size_pretty := pg_size_pretty(o.size_bytes); o.bloat_pretty := NULL;
                    o.bloat_bytes := NULL; o.bloat_pct := NULL;
                    RETURN NEXT o;
                    CONTINUE;
                WHEN feature_not_supported OR wrong_object_type THEN
                    o.reason := concat_ws('; ', o.reason, 'pgstattuple cannot measure it (' || SQLERRM || '): estimate shown');
                END;
            END IF;
        ELSIF m = 'approx' AND e.kind = 'index' THEN
            o.reason := concat_ws('; ', o.reason, 'pgstattuple_approx covers tables only: index figure is the estimate');
        END IF;

        o.size_pretty := pg_size_pretty(o.size_bytes);
        o.bloat_pretty := pg_size_pretty(o.bloat_bytes);
        o.remedy := @extschema@._bloat_remedy(o.kind, o.relation, o.table_name, o.bloat_bytes, o.bloat_pct, o.dead_tuple_pct, e.reason);
        RETURN NEXT o;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@.bloat_report(text, regclass, bigint) IS
'bloat of tables and btree indexes with method, confidence, the reason a figure is weak and the remedy; method estimate (default, catalog statistics, no scan), approx or exact (pgstattuple, opt-in, relations up to max_bytes, one relation with rel)';

-- ---------------------------------------------------------------------
-- vacuum_status
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._reloption(opts text[], name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT substr(o, length(name) + 2) FROM unnest(opts) o WHERE o LIKE name || '=%' LIMIT 1 $$;

CREATE VIEW @extschema@.vacuum_status AS
WITH s AS (
    SELECT st.relid, c.reltuples, c.reloptions, st.n_live_tup, st.n_dead_tup,
           st.n_mod_since_analyze, st.n_ins_since_vacuum,
           st.last_vacuum, st.last_autovacuum, st.last_analyze, st.last_autoanalyze,
           st.vacuum_count, st.autovacuum_count, st.analyze_count, st.autoanalyze_count,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_enabled')::boolean, true) AS table_autovacuum,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_vacuum_threshold')::float8,
                    current_setting('autovacuum_vacuum_threshold')::float8) AS v_base,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_vacuum_scale_factor')::float8,
                    current_setting('autovacuum_vacuum_scale_factor')::float8) AS v_scale,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_vacuum_insert_threshold')::float8,
                    current_setting('autovacuum_vacuum_insert_threshold')::float8) AS i_base,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_vacuum_insert_scale_factor')::float8,
                    current_setting('autovacuum_vacuum_insert_scale_factor')::float8) AS i_scale,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_analyze_threshold')::float8,
                    current_setting('autovacuum_analyze_threshold')::float8) AS a_base,
           coalesce(@extschema@._reloption(c.reloptions, 'autovacuum_analyze_scale_factor')::float8,
                    current_setting('autovacuum_analyze_scale_factor')::float8) AS a_scale,
           c.relnamespace
      FROM pg_stat_all_tables st
      JOIN pg_class c ON c.oid = st.relid
     WHERE c.relkind IN ('r', 'm')
       AND c.relnamespace <> 'pg_toast'::regnamespace
       AND c.relnamespace <> 'information_schema'::regnamespace
), t AS (
    SELECT s.*,
           round(s.v_base + s.v_scale * greatest(s.reltuples, 0)) AS vacuum_threshold,
           CASE WHEN s.i_base >= 0 THEN round(s.i_base + s.i_scale * greatest(s.reltuples, 0)) END AS insert_threshold,
           round(s.a_base + s.a_scale * greatest(s.reltuples, 0)) AS analyze_threshold,
           p.pid AS vacuum_pid, p.phase AS vacuum_phase
      FROM s
      LEFT JOIN pg_stat_progress_vacuum p ON p.relid = s.relid AND p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
), d AS (
    SELECT t.*,
           t.n_dead_tup > t.vacuum_threshold AS vacuum_due,
           t.insert_threshold IS NOT NULL AND t.n_ins_since_vacuum > t.insert_threshold AS insert_vacuum_due,
           t.relnamespace <> 'pg_catalog'::regnamespace AND t.n_mod_since_analyze > t.analyze_threshold AS analyze_due
      FROM t
)
SELECT d.relid::regclass AS relation,
       d.n_live_tup, d.n_dead_tup,
       CASE WHEN d.n_live_tup + d.n_dead_tup > 0
            THEN round(100.0 * d.n_dead_tup / (d.n_live_tup + d.n_dead_tup), 1) END AS dead_pct,
       d.n_mod_since_analyze, d.n_ins_since_vacuum,
       d.last_vacuum, d.last_autovacuum, d.last_analyze, d.last_autoanalyze,
       d.vacuum_count, d.autovacuum_count, d.analyze_count, d.autoanalyze_count,
       current_setting('autovacuum')::boolean AND d.table_autovacuum AS autovacuum_enabled,
       d.vacuum_threshold::bigint, d.insert_threshold::bigint, d.analyze_threshold::bigint,
       d.vacuum_due, d.insert_vacuum_due, d.analyze_due,
       d.vacuum_pid IS NOT NULL AS vacuum_running,
       CASE
         WHEN d.vacuum_pid IS NOT NULL THEN
           format('being vacuumed now (pid %s, phase %s)', d.vacuum_pid, d.vacuum_phase)
         WHEN NOT (d.vacuum_due OR d.insert_vacuum_due OR d.analyze_due) THEN
           'not due: below the thresholds'
         WHEN NOT current_setting('track_counts')::boolean THEN
           'due, but track_counts is off: autovacuum cannot see activity'
         WHEN NOT current_setting('autovacuum')::boolean THEN
           'due, but autovacuum is off (server setting autovacuum = off)'
         WHEN NOT d.table_autovacuum THEN
           'due, but autovacuum is disabled for this table (reloption autovacuum_enabled = false)'
         WHEN d.vacuum_due AND greatest(d.last_vacuum, d.last_autovacuum) > now() - interval '1 hour'
              AND d.n_dead_tup > d.vacuum_threshold THEN
           'vacuumed recently but dead rows remain: the xmin horizon is probably held back (see runbook.wraparound)'
         WHEN (SELECT count(*) FROM pg_stat_progress_vacuum) >= current_setting('autovacuum_max_workers')::int THEN
           format('due, waiting: all %s autovacuum workers are busy', current_setting('autovacuum_max_workers'))
         ELSE format('due: expected within autovacuum_naptime (%s)', current_setting('autovacuum_naptime'))
       END AS status
  FROM d;

COMMENT ON VIEW @extschema@.vacuum_status IS
'per table: last (auto)vacuum/analyze, dead rows, the autovacuum trigger thresholds including reloptions and the insert threshold, whether autovacuum is due and why it has not run';

-- ---------------------------------------------------------------------
-- wraparound
-- ---------------------------------------------------------------------
CREATE VIEW @extschema@.wraparound AS
WITH lim AS (
    SELECT current_setting('autovacuum_freeze_max_age')::bigint AS fmax,
           current_setting('autovacuum_multixact_freeze_max_age')::bigint AS mfmax,
           2147483647 - 3000000 AS hard      -- the server refuses new xids at this age
), db AS (
    SELECT 'database'::text AS kind, d.datname::text AS name, NULL::regclass AS relation,
           age(d.datfrozenxid)::bigint AS xid_age, mxid_age(d.datminmxid)::bigint AS mxid_age,
           NULL::text AS detail
      FROM pg_database d
), tb AS (
    SELECT * FROM (
        SELECT 'table'::text AS kind, c.oid::regclass::text AS name, c.oid::regclass AS relation,
               age(c.relfrozenxid)::bigint AS xid_age, mxid_age(c.relminmxid)::bigint AS mxid_age,
               CASE WHEN c.relkind = 't' THEN 'TOAST table' END AS detail
          FROM pg_class c
         WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid
         ORDER BY greatest(age(c.relfrozenxid)::float8 / (SELECT fmax FROM lim),
                           mxid_age(c.relminmxid)::float8 / (SELECT mfmax FROM lim)) DESC
         LIMIT 20) x
), hold AS (
    SELECT 'horizon: session'::text AS kind, format('pid %s (%s)', a.pid, coalesce(nullif(a.usename::text, ''), a.backend_type)) AS name,
           NULL::regclass AS relation,
           greatest(age(a.backend_xmin), age(a.backend_xid))::bigint AS xid_age, NULL::bigint AS mxid_age,
           format('%s, xact started %s ago: %s', a.state, date_trunc('second', now() - a.xact_start),
                  left(a.query, 100)) AS detail
      FROM @extschema@.sessions a
     WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL) AND a.pid <> pg_backend_pid()
    UNION ALL
    SELECT 'horizon: prepared transaction', format('%s (gid %s)', p.transaction, p.gid), NULL,
           age(p.transaction)::bigint, NULL,
           format('prepared %s ago by %s in %s', date_trunc('second', now() - p.prepared), p.owner, p.database)
      FROM pg_prepared_xacts p
    UNION ALL
    SELECT 'horizon: replication slot', s.slot_name::text, NULL,
           greatest(age(s.xmin), age(s.catalog_xmin))::bigint, NULL,
           format('%s slot, %s', s.slot_type, CASE WHEN s.active THEN 'active' ELSE 'inactive' END)
      FROM pg_replication_slots s
     WHERE s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL
    UNION ALL
    SELECT 'horizon: standby feedback', format('%s (pid %s)', r.application_name, r.pid), NULL,
           age(r.backend_xmin)::bigint, NULL, 'hot_standby_feedback from a standby'
      FROM pg_stat_replication r
     WHERE r.backend_xmin IS NOT NULL
)
SELECT u.kind, u.name, u.relation, u.xid_age, u.mxid_age,
       lim.fmax AS autovacuum_freeze_max_age,
       lim.mfmax AS autovacuum_multixact_freeze_max_age,
       round(100.0 * greatest(u.xid_age::numeric / lim.fmax, coalesce(u.mxid_age, 0)::numeric / lim.mfmax), 1) AS pct_of_freeze_max_age,
       round(100.0 * greatest(u.xid_age, coalesce(u.mxid_age, 0)) / lim.hard, 1) AS pct_of_hard_limit,
       lim.hard - greatest(u.xid_age, coalesce(u.mxid_age, 0)) AS remaining_to_hard_limit,
       u.detail,
       CASE
         WHEN u.kind LIKE 'horizon%' THEN
           CASE u.kind
             WHEN 'horizon: session' THEN 'end the transaction (runbook.cancel_long / runbook.kill_idle), then VACUUM'
             WHEN 'horizon: prepared transaction' THEN format('COMMIT PREPARED %L or ROLLBACK PREPARED %L', split_part(split_part(u.name, '(gid ', 2), ')', 1), split_part(split_part(u.name, '(gid ', 2), ')', 1))
             WHEN 'horizon: replication slot' THEN format('advance or drop the slot: SELECT pg_drop_replication_slot(%L)', u.name)
             ELSE 'check the standby''s long queries or turn hot_standby_feedback off'
           END
         WHEN greatest(u.xid_age::numeric / lim.fmax, coalesce(u.mxid_age, 0)::numeric / lim.mfmax) >= 1 THEN
           CASE WHEN u.kind = 'database' THEN format('anti-wraparound autovacuum is due: check that it runs (runbook.vacuum_status); VACUUM (FREEZE, VERBOSE) the oldest tables of %s', u.name)
                ELSE format('VACUUM (FREEZE, VERBOSE) %s', u.relation) END
         ELSE 'none'
       END AS action
  FROM (SELECT * FROM db UNION ALL SELECT * FROM tb UNION ALL SELECT * FROM hold) u, lim
 ORDER BY CASE WHEN u.kind = 'database' THEN 0 WHEN u.kind = 'table' THEN 1 ELSE 2 END,
          greatest(u.xid_age, coalesce(u.mxid_age, 0)) DESC;

COMMENT ON VIEW @extschema@.wraparound IS
'xid and multixact (mxid_age) ages of databases and the oldest tables against autovacuum_freeze_max_age and the hard stop, and what holds the xmin horizon back';

-- ---------------------------------------------------------------------
-- sizes
-- ---------------------------------------------------------------------
CREATE VIEW @extschema@.sizes AS
SELECT 'database'::text AS kind, d.datname::text AS name, NULL::regclass AS relation,
       NULL::regclass AS table_name,
       NULL::bigint AS table_bytes, NULL::bigint AS toast_bytes, NULL::bigint AS indexes_bytes,
       sz.total AS total_bytes,
       NULL::text AS table_pretty, NULL::text AS toast_pretty, NULL::text AS indexes_pretty,
       pg_size_pretty(sz.total) AS total_pretty,
       CASE WHEN sz.total IS NULL THEN 'skipped: no CONNECT privilege' END AS status
  FROM pg_database d,
       LATERAL (SELECT CASE WHEN has_database_privilege(d.oid, 'CONNECT')
                              OR pg_has_role('pg_read_all_stats', 'USAGE')
                            THEN pg_database_size(d.oid) END AS total) sz
 WHERE d.datallowconn
UNION ALL
SELECT r.kind, r.relid::regclass::text, r.relid::regclass, r.parent::regclass,
       r.main_bytes + r.other_fork_bytes, r.toast_bytes, r.indexes_bytes, r.total_bytes,
       pg_size_pretty(r.main_bytes + r.other_fork_bytes), pg_size_pretty(r.toast_bytes),
       pg_size_pretty(r.indexes_bytes), pg_size_pretty(r.total_bytes),
       r.skipped
  FROM @extschema@._relation_sizes() r;

COMMENT ON VIEW @extschema@.sizes IS
'database, table (heap + TOAST + indexes) and index sizes in bytes and pretty; a relation locked by DDL is reported as skipped, never waited for';

-- ---------------------------------------------------------------------
-- disk_usage
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.disk_usage()
RETURNS TABLE (category text, name text, bytes bigint, pretty text, files bigint, detail text)
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    r record;
    cur pg_lsn;
BEGIN
    cur := CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END;

    category := 'wal'; name := 'pg_wal';
    SELECT sum(w.size)::bigint, count(*) INTO bytes, files FROM pg_ls_waldir() w;
    pretty := pg_size_pretty(bytes);
    detail := format('max_wal_size %s, min_wal_size %s, wal_keep_size %s, max_slot_wal_keep_size %s',
                     current_setting('max_wal_size'), current_setting('min_wal_size'),
                     current_setting('wal_keep_size'), current_setting('max_slot_wal_keep_size'));
    RETURN NEXT;

    FOR r IN SELECT * FROM pg_replication_slots ORDER BY slot_name LOOP
        category := 'wal retained by slot'; name := r.slot_name;
        bytes := CASE WHEN r.restart_lsn IS NOT NULL AND cur IS NOT NULL
                      THEN greatest(pg_wal_lsn_diff(cur, r.restart_lsn), 0)::bigint END;
        pretty := pg_size_pretty(bytes); files := NULL;
        detail := format('%s slot, %s, wal_status %s%s', r.slot_type,
                         CASE WHEN r.active THEN 'active' ELSE 'INACTIVE' END, r.wal_status,
                         CASE WHEN r.safe_wal_size IS NOT NULL THEN ', safe_wal_size ' || pg_size_pretty(r.safe_wal_size) ELSE '' END);
        RETURN NEXT;
    END LOOP;

    category := 'log'; name := current_setting('log_directory');
    BEGIN
        SELECT coalesce(sum(l.size), 0)::bigint, count(*) INTO bytes, files FROM pg_ls_logdir() l;
        detail := format('logging_collector %s', current_setting('logging_collector'));
    EXCEPTION WHEN undefined_file THEN
        bytes := 0; files := 0;
        detail := format('directory does not exist (logging_collector %s): logs go to stderr/syslog', current_setting('logging_collector'));
    END;
    pretty := pg_size_pretty(bytes);
    RETURN NEXT;

    FOR r IN SELECT t.oid, t.spcname FROM pg_tablespace t WHERE t.spcname <> 'pg_global' ORDER BY 1 LOOP
        category := 'temporary files'; name := r.spcname;
        BEGIN
            SELECT coalesce(sum(f.size), 0)::bigint, count(*) INTO bytes, files FROM pg_ls_tmpdir(r.oid) f;
            detail := 'in use now';
        EXCEPTION WHEN undefined_file THEN
            bytes := 0; files := 0; detail := 'in use now (no temporary directory yet)';
        END;
        pretty := pg_size_pretty(bytes);
        RETURN NEXT;
    END LOOP;

    FOR r IN SELECT d.datname, d.temp_bytes, d.temp_files, d.stats_reset FROM pg_stat_database d
              WHERE d.datname IS NOT NULL AND d.temp_files > 0 ORDER BY d.temp_bytes DESC LOOP
        category := 'temporary files written'; name := r.datname;
        bytes := r.temp_bytes; files := r.temp_files; pretty := pg_size_pretty(bytes);
        detail := format('cumulative since %s; log_temp_files %s, temp_file_limit %s',
                         coalesce(r.stats_reset::text, 'statistics began'),
                         current_setting('log_temp_files'), current_setting('temp_file_limit'));
        RETURN NEXT;
    END LOOP;

    FOR r IN SELECT s.name AS datname, s.total_bytes, s.status FROM @extschema@.sizes s
              WHERE s.kind = 'database' ORDER BY s.total_bytes DESC NULLS LAST LOOP
        category := 'database'; name := r.datname; bytes := r.total_bytes;
        pretty := pg_size_pretty(bytes); files := NULL; detail := r.status;
        RETURN NEXT;
    END LOOP;

    FOR r IN SELECT t.spcname, t.oid FROM pg_tablespace t ORDER BY 1 LOOP
        category := 'tablespace'; name := r.spcname;
        bytes := pg_tablespace_size(r.oid); pretty := pg_size_pretty(bytes); files := NULL;
        detail := coalesce(nullif(pg_tablespace_location(r.oid), ''), 'in the data directory');
        RETURN NEXT;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@.disk_usage() IS
'where the disk goes: pg_wal, WAL retained by each replication slot, the log directory, temporary files (now and cumulative), databases, tablespaces';

-- ---------------------------------------------------------------------
-- index_advice
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.index_advice(
    min_table_bytes bigint DEFAULT 10485760,
    min_seq_scans bigint DEFAULT 50)
RETURNS TABLE (
    verdict text,
    index regclass,
    table_name regclass,
    size_bytes bigint,
    size_pretty text,
    keep regclass,
    reason text,
    ddl text,
    stats_since timestamptz)
LANGUAGE sql VOLATILE
-- self-joins of catalog CTEs: row estimates are poor and a nested loop is
-- quadratic; disabling it inflates costs, which would trigger a JIT
-- compilation that costs seconds
SET enable_nestloop = off
SET jit = off
AS $fn$
WITH reset AS (
    SELECT coalesce(d.stats_reset, pg_postmaster_start_time()) AS since,
           d.stats_reset IS NULL AS never_reset
      FROM pg_stat_database d WHERE d.datname = current_database()
), cons AS (
    -- constraints by index (pg_constraint has no index on conindid)
    SELECT con.conindid,
           bool_or(con.contype IN ('p', 'u', 'x')) AS backs_constraint,
           bool_or(con.contype = 'f') AS fk_target,
           min(con.conname) FILTER (WHERE con.contype IN ('p', 'u', 'x')) AS conname
      FROM pg_constraint con
     WHERE con.conindid <> 0
     GROUP BY con.conindid
), idx AS (
    SELECT i.indexrelid, i.indrelid, c.relam, c.relname,
           i.indisunique, i.indisprimary, i.indisexclusion, i.indisvalid, i.indisreplident,
           i.indnkeyatts, i.indnatts, i.indkey, i.indclass, i.indcollation, i.indoption,
           i.indexprs, i.indpred,
           coalesce(k.backs_constraint, false) AS backs_constraint,
           coalesce(k.fk_target, false) AS fk_target,
           k.conname
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      LEFT JOIN cons k ON k.conindid = i.indexrelid
     WHERE c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                                  'pg_toast'::regnamespace)
       AND c.relpersistence <> 't'
), ranked AS (
    SELECT x.indexrelid, x.indrelid, x.relam, x.indisunique, x.indisreplident,
           x.backs_constraint, x.fk_target, x.conname,
           -- what to keep first: constraint / FK target, primary, unique, then the older
           (x.backs_constraint OR x.fk_target)::int * 8 + x.indisprimary::int * 4 + x.indisunique::int * 2 AS rank,
           -- per key column: attnum (0 = expression), operator class, collation, order;
           -- catalog text only: pg_get_indexdef()/pg_get_expr() lock the table
           (SELECT array_agg(format('%s|%s|%s|%s', k.att, k.opc, k.coll, k.opt) ORDER BY k.ord)
              FROM ROWS FROM (unnest(x.indkey::int2[]), unnest(x.indclass::oid[]),
                              unnest(x.indcollation::oid[]), unnest(x.indoption::int2[]))
                   WITH ORDINALITY AS k(att, opc, coll, opt, ord)
             WHERE k.ord <= x.indnkeyatts) AS sig,
           CASE WHEN x.indnatts > x.indnkeyatts THEN
               (SELECT array_agg(k.att ORDER BY k.ord)
                  FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(att, ord)
                 WHERE k.ord > x.indnkeyatts) END AS incl,
           regexp_replace(x.indexprs::text, ':location -?[0-9]+', '', 'g') AS exprs,
           regexp_replace(x.indpred::text, ':location -?[0-9]+', '', 'g') AS pred
      FROM idx x WHERE x.indisvalid
), grp AS (
    -- identical definitions: one group each; keep the best-ranked, then the oldest
    SELECT r.*,
           first_value(r.indexrelid) OVER w AS keep_idx,
           first_value(r.indisunique) OVER w AS keep_unique,
           row_number() OVER w AS pos
      FROM ranked r
    WINDOW w AS (PARTITION BY r.indrelid, r.relam, r.sig, r.incl, r.exprs, r.pred
                 ORDER BY r.rank DESC, r.indexrelid)
), dup AS (
    SELECT g.indexrelid AS drop_idx, g.keep_idx,
           CASE WHEN g.indisunique = g.keep_unique THEN 'duplicate' ELSE 'redundant' END AS verdict,
           CASE WHEN g.indisunique = g.keep_unique
                THEN format('same columns, operator classes, collations, order%s as %s',
                            CASE WHEN g.pred IS NOT NULL THEN ' and predicate' ELSE '' END, g.keep_idx::regclass)
                ELSE format('same key as unique index %s, which serves the same lookups', g.keep_idx::regclass)
           END AS why,
           g.backs_constraint OR g.fk_target AS a_constraint, g.conname, g.indrelid
      FROM grp g
     WHERE g.pos > 1 AND NOT g.indisreplident
), red AS (
    SELECT a.indexrelid AS drop_idx, b.indexrelid AS keep_idx, 'redundant'::text AS verdict,
           format('its key (%s) is a leading prefix of %s (same operator classes, collations, order and predicate)',
                  (SELECT string_agg(coalesce(quote_ident(att.attname), 'expression'), ', ' ORDER BY k.ord)
                     FROM pg_index pi, unnest(pi.indkey::int2[]) WITH ORDINALITY AS k(att, ord)
                     LEFT JOIN pg_attribute att ON att.attrelid = a.indrelid AND att.attnum = k.att AND k.att > 0
                    WHERE pi.indexrelid = a.indexrelid AND k.ord <= pi.indnkeyatts),
                  b.indexrelid::regclass) AS why,
           false AS a_constraint, NULL::name AS conname, a.indrelid
      FROM ranked a JOIN ranked b
        ON a.indrelid = b.indrelid AND a.sig[1] = b.sig[1] AND a.indexrelid <> b.indexrelid
       AND a.relam = b.relam AND a.relam = (SELECT am.oid FROM pg_am am WHERE am.amname = 'btree')
       AND cardinality(a.sig) < cardinality(b.sig)
       AND a.sig = b.sig[1:cardinality(a.sig)]
       -- the expressions of a are the leading expressions of b
       AND (a.exprs IS NULL
            OR (b.exprs IS NOT NULL AND left(b.exprs, length(a.exprs) - 1) = left(a.exprs, length(a.exprs) - 1)
                AND substr(b.exprs, length(a.exprs), 1) IN (' ', ')')))
       AND a.pred IS NOT DISTINCT FROM b.pred
     WHERE NOT a.indisunique AND NOT a.backs_constraint AND NOT a.indisreplident
       AND a.incl IS NULL
), fk AS (
    SELECT con.oid, con.conname, con.conrelid, con.confrelid, con.conkey,
           ARRAY(SELECT quote_ident(a.attname) FROM unnest(con.conkey) WITH ORDINALITY k(att, o)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.att ORDER BY k.o) AS cols
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
     WHERE con.contype = 'f'
       AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
       AND NOT EXISTS (
           SELECT 1 FROM pg_index i
            WHERE i.indrelid = con.conrelid AND i.indisvalid AND i.indpred IS NULL
              AND i.indnkeyatts >= cardinality(con.conkey)
              AND ARRAY(SELECT k FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(k, o)
                         WHERE o <= cardinality(con.conkey) ORDER BY k)
                  = ARRAY(SELECT k FROM unnest(con.conkey) k ORDER BY k))
)
SELECT 'unused', x.indexrelid::regclass, x.indrelid::regclass,
       sz.b, pg_size_pretty(sz.b),
       NULL::regclass,
       format('no index scans since %s%s; not a primary key, unique or constraint index; scans on standbys are not counted here',
              (SELECT since FROM reset),
              CASE WHEN (SELECT never_reset FROM reset) THEN ' (the last server start: statistics were never reset, so at least since then)' ELSE ' (the last statistics reset)' END),
       format('DROP INDEX CONCURRENTLY %s;', x.indexrelid::regclass),
       (SELECT since FROM reset)
  FROM idx x
  CROSS JOIN LATERAL (SELECT @extschema@.relation_size_nowait(x.indexrelid) AS b) sz
 WHERE pg_stat_get_numscans(x.indexrelid) = 0 AND x.indisvalid
   AND NOT (x.indisunique OR x.indisprimary OR x.indisexclusion OR x.backs_constraint OR x.indisreplident)
UNION ALL
SELECT d.verdict, d.drop_idx::regclass, d.indrelid::regclass,
       sz.b, pg_size_pretty(sz.b),
       d.keep_idx::regclass,
       d.why || format('; keep %s', d.keep_idx::regclass),
       CASE WHEN d.a_constraint AND d.conname IS NOT NULL
            THEN format('ALTER TABLE %s DROP CONSTRAINT %I; -- the index backs this constraint; %s enforces the same', d.indrelid::regclass, d.conname, d.keep_idx::regclass)
            WHEN d.a_constraint
            THEN format('-- %s is referenced by a foreign key: repoint the foreign key before DROP INDEX CONCURRENTLY %s;', d.drop_idx::regclass, d.drop_idx::regclass)
            ELSE format('DROP INDEX CONCURRENTLY %s;', d.drop_idx::regclass) END,
       NULL::timestamptz
  FROM (SELECT * FROM dup UNION ALL SELECT * FROM red) d
  CROSS JOIN LATERAL (SELECT @extschema@.relation_size_nowait(d.drop_idx) AS b) sz
UNION ALL
SELECT 'invalid', x.indexrelid::regclass, x.indrelid::regclass,
       @extschema@.relation_size_nowait(x.indexrelid), pg_size_pretty(@extschema@.relation_size_nowait(x.indexrelid)),
       NULL,
       CASE WHEN x.relname ~ '_cc(new|old)[0-9]*$'
            THEN 'leftover of a failed REINDEX CONCURRENTLY: not used by queries, still maintained on every write'
            ELSE 'invalid (a failed CREATE INDEX CONCURRENTLY?): not used by queries, still maintained on every write' END,
       CASE WHEN x.relname ~ '_cc(new|old)[0-9]*$'
            THEN format('DROP INDEX CONCURRENTLY %s;', x.indexrelid::regclass)
            -- pg_get_indexdef() locks the table: only when that lock is free now
            WHEN @extschema@.relation_size_nowait(x.indrelid) IS NOT NULL
            THEN format('DROP INDEX CONCURRENTLY %s; %s;  -- or REINDEX INDEX CONCURRENTLY %s;',
                        x.indexrelid::regclass,
                        regexp_replace(pg_get_indexdef(x.indexrelid), '^CREATE (UNIQUE )?INDEX ', 'CREATE \1INDEX CONCURRENTLY '),
                        x.indexrelid::regclass)
            ELSE format('REINDEX INDEX CONCURRENTLY %s;', x.indexrelid::regclass) END,
       NULL
  FROM idx x
 WHERE NOT x.indisvalid
   AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                    WHERE p.relid = x.indrelid OR p.index_relid = x.indexrelid)
UNION ALL
SELECT 'fk_without_index', NULL, f.conrelid::regclass,
       NULL, NULL, NULL,
       format('foreign key %I references %s: every DELETE or key UPDATE there scans %s (about %s rows) for (%s)',
              f.conname, f.confrelid::regclass, f.conrelid::regclass,
              (SELECT greatest(c.reltuples, 0)::bigint FROM pg_class c WHERE c.oid = f.conrelid),
              array_to_string(f.cols, ', ')),
       format('CREATE INDEX CONCURRENTLY ON %s (%s);', f.conrelid::regclass, array_to_string(f.cols, ', ')),
       NULL
  FROM fk f
UNION ALL
SELECT 'seq_scan_heavy', NULL, s.relid::regclass,
       c.relpages::bigint * current_setting('block_size')::bigint,
       pg_size_pretty(c.relpages::bigint * current_setting('block_size')::bigint),
       NULL,
       format('%s sequential scans reading %s rows each on average, against %s index scans, on a table of about %s rows',
              s.seq_scan, s.seq_tup_read / greatest(s.seq_scan, 1), coalesce(s.idx_scan, 0), greatest(c.reltuples, 0)::bigint),
       format('-- find the statements: SELECT query, calls, mean_exec_time FROM pg_stat_statements WHERE query ILIKE %L ORDER BY total_exec_time DESC; then CREATE INDEX CONCURRENTLY ON %s (<columns they filter on>);',
              '%' || c.relname || '%', s.relid::regclass),
       (SELECT since FROM reset)
  FROM pg_stat_all_tables s
  JOIN pg_class c ON c.oid = s.relid
 WHERE c.relkind IN ('r', 'm')
   AND s.schemaname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND c.relpages::bigint * current_setting('block_size')::bigint >= min_table_bytes
   AND s.seq_scan >= min_seq_scans
   AND s.seq_scan > coalesce(s.idx_scan, 0)
   AND s.seq_tup_read / greatest(s.seq_scan, 1) >= 10000
ORDER BY 1, 3, 2
$fn$;

COMMENT ON FUNCTION @extschema@.index_advice(bigint, bigint) IS
'unused (never PK/unique/constraint), duplicate and redundant (respecting predicates, expressions, collations, operator classes, uniqueness; says which to keep), invalid (not a build in progress), foreign keys without an index, seq-scan-heavy large tables: each with the reason and the DDL';

-- ---------------------------------------------------------------------
-- sequences_near_overflow
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.sequences_near_overflow(threshold real DEFAULT 0.8)
RETURNS TABLE (
    sequence regclass,
    table_name regclass,
    column_name name,
    column_type regtype,
    sequence_type regtype,
    last_value bigint,
    limit_value bigint,
    limited_by text,
    pct_used numeric,
    remaining bigint,
    cycles boolean,
    status text,
    remedy text)
LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
    IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, not %', threshold
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It is the share of the usable range already consumed, e.g. 0.8 for 80 %.';
    END IF;
    RETURN QUERY
    WITH seqs AS (
        SELECT s.seqrelid, s.seqtypid, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle
          FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
         WHERE c.relpersistence <> 't'
    ), uses AS (
        -- owned (serial, OWNED BY) and identity columns
        SELECT d.objid AS seqrelid, d.refobjid AS tab, d.refobjsubid::int2 AS att
          FROM pg_depend d
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
        UNION
        -- DEFAULT nextval('seq') without ownership
        SELECT d.refobjid, ad.adrelid, ad.adnum
          FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
         WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
    ), seqrows AS (
        SELECT q.seqrelid, u.tab, a.attname, a.atttypid, q.seqtypid, q.seqincrement,
               q.seqmin, q.seqmax, q.seqcycle, lv.last_value AS lastv, lv.skipped,
               CASE a.atttypid WHEN 'int2'::regtype THEN 32767::numeric
                               WHEN 'int4'::regtype THEN 2147483647::numeric
                               WHEN 'int8'::regtype THEN 9223372036854775807::numeric END AS colmax,
               CASE a.atttypid WHEN 'int2'::regtype THEN -32768::numeric
                               WHEN 'int4'::regtype THEN -2147483648::numeric
                               WHEN 'int8'::regtype THEN -9223372036854775808::numeric END AS colmin
          FROM seqs q
          LEFT JOIN uses u ON u.seqrelid = q.seqrelid
          LEFT JOIN pg_attribute a ON a.attrelid = u.tab AND a.attnum = u.att
          CROSS JOIN LATERAL @extschema@._sequence_last_value(q.seqrelid) lv
    ), lim AS (
        SELECT r.*,
               CASE WHEN r.seqincrement > 0
                    THEN least(r.seqmax::numeric, coalesce(r.colmax, r.seqmax::numeric))
                    ELSE greatest(r.seqmin::numeric, coalesce(r.colmin, r.seqmin::numeric)) END AS lim,
               CASE WHEN r.seqincrement > 0
                    THEN CASE WHEN r.colmax <= r.seqmax THEN 'column type' ELSE 'sequence' END
                    ELSE CASE WHEN r.colmin >= r.seqmin THEN 'column type' ELSE 'sequence' END END AS by
          FROM seqrows r
    ), pct AS (
        SELECT l.*,
               CASE WHEN l.lastv IS NULL THEN NULL
                    WHEN l.seqincrement > 0
                    THEN round(100.0 * (l.lastv - l.seqmin::numeric) / nullif(l.lim - l.seqmin::numeric, 0), 2)
                    ELSE round(100.0 * (l.seqmax::numeric - l.lastv) / nullif(l.seqmax::numeric - l.lim, 0), 2) END AS used
          FROM lim l
    )
    SELECT p.seqrelid::regclass, p.tab::regclass, p.attname, p.atttypid::regtype, p.seqtypid::regtype,
           p.lastv, p.lim::bigint, p.by, p.used,
           CASE WHEN p.lastv IS NOT NULL THEN (abs(p.lim - p.lastv) / abs(p.seqincrement))::bigint END,
           p.seqcycle,
           CASE WHEN p.skipped IS NOT NULL THEN p.skipped
                WHEN p.used >= 100 THEN 'exhausted'
                ELSE 'near overflow' END,
           CASE WHEN p.skipped IS NOT NULL THEN 'retry later'
                WHEN p.seqcycle THEN format('sequence cycles: values restart at %s and may collide with existing keys', CASE WHEN p.seqincrement > 0 THEN p.seqmin ELSE p.seqmax END)
                WHEN p.by = 'column type' THEN
                    format('ALTER TABLE %s ALTER COLUMN %I TYPE bigint; -- rewrites the table under AccessExclusiveLock: schedule it, or migrate through a new bigint column%s',
                           p.tab::regclass, p.attname,
                           CASE WHEN p.seqtypid <> 'int8'::regtype THEN format('; then ALTER SEQUENCE %s AS bigint;', p.seqrelid::regclass) ELSE '' END)
                WHEN p.seqincrement > 0 THEN format('ALTER SEQUENCE %s AS bigint MAXVALUE 9223372036854775807;', p.seqrelid::regclass)
                ELSE format('ALTER SEQUENCE %s AS bigint MINVALUE -9223372036854775808;', p.seqrelid::regclass)
           END
      FROM pct p
     WHERE p.skipped IS NOT NULL OR p.used >= threshold * 100
     ORDER BY p.used DESC NULLS FIRST;
END
$fn$;

COMMENT ON FUNCTION @extschema@.sequences_near_overflow(real) IS
'sequences, serial and identity columns whose last value has used at least threshold of the range of the column type (or the sequence) that limits them';

-- ---------------------------------------------------------------------
-- privileges: read-only diagnostics for pg_monitor
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION @extschema@.relation_size_nowait(regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._relation_sizes() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._bloat_estimate(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._sequence_last_value(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.bloat_report(text, regclass, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._reloption(text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._bloat_remedy(text, regclass, regclass, bigint, numeric, numeric, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.disk_usage() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.index_advice(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.sequences_near_overflow(real) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.relation_size_nowait(regclass, text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._relation_sizes() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._bloat_estimate(regclass) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._sequence_last_value(regclass) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.bloat_report(text, regclass, bigint) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._reloption(text[], text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._bloat_remedy(text, regclass, regclass, bigint, numeric, numeric, text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.disk_usage() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.index_advice(bigint, bigint) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.sequences_near_overflow(real) TO pg_monitor;
GRANT SELECT ON @extschema@.vacuum_status, @extschema@.wraparound, @extschema@.sizes TO pg_monitor;
-- ---------------------------------------------------------------------
-- Ops runbooks: slow queries (pg_stat_statements), replication and WAL
-- archiving, data integrity, configuration sanity, ORM migrations.
--
-- All SECURITY INVOKER: they read catalogs and statistics views that
-- pg_monitor may read, and (integrity_check, migration_status) user tables
-- with the caller's own privileges; a table the caller may not read is
-- reported as skipped, never read behind its back.
-- ---------------------------------------------------------------------

-- Time bound for one probe (C, src/ops.c): statement_timeout set inside a
-- function does not reach the statement already running.
CREATE FUNCTION @extschema@._deadline_arm(timeout_ms integer)
RETURNS timestamptz
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'rb_deadline_arm';

CREATE FUNCTION @extschema@._deadline_disarm()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_deadline_disarm';

CREATE FUNCTION @extschema@._server_memory()
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rb_server_memory';

COMMENT ON FUNCTION @extschema@._deadline_arm(integer) IS
'internal: arm the statement timer for one probe (returns the deadline, NULL when the caller''s statement_timeout is sooner)';
COMMENT ON FUNCTION @extschema@._deadline_disarm() IS
'internal: restore the caller''s statement timer after _deadline_arm()';
COMMENT ON FUNCTION @extschema@._server_memory() IS
'internal: bytes of memory available to the server (RAM or cgroup limit), NULL if unknown';

-- Library names in shared_preload_libraries, normalised (no quotes, no
-- directory, no .so suffix).
CREATE FUNCTION @extschema@._preloaded_libraries()
RETURNS text[]
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(array_agg(l ORDER BY n), '{}')
      FROM (SELECT regexp_replace(regexp_replace(btrim(x, ' "'), '^.*/', ''), '\.so$', '') AS l, n
              FROM unnest(string_to_array(current_setting('shared_preload_libraries'), ','))
                   WITH ORDINALITY AS u(x, n)) s
     WHERE l <> ''
$$;

COMMENT ON FUNCTION @extschema@._preloaded_libraries() IS
'internal: library names in shared_preload_libraries, in order, without quotes, directory or .so';

-- ---------------------------------------------------------------------
-- slow_queries
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.slow_queries(
    top integer DEFAULT 10,
    order_by text DEFAULT 'mean',
    min_calls bigint DEFAULT 1,
    OUT rank integer,
    OUT queryid bigint,
    OUT usename name,
    OUT datname name,
    OUT calls bigint,
    OUT total_ms numeric,
    OUT mean_ms numeric,
    OUT max_ms numeric,
    OUT stddev_ms numeric,
    OUT total_time interval,
    OUT mean_time interval,
    OUT max_time interval,
    OUT pct_of_total numeric,
    OUT rows bigint,
    OUT rows_per_call numeric,
    OUT shared_blks_hit bigint,
    OUT shared_blks_read bigint,
    OUT hit_ratio numeric,
    OUT temp_blks_written bigint,
    OUT io_ms numeric,
    OUT query text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    accepted constant text[] := ARRAY['mean', 'total', 'calls', 'rows', 'io'];
    ord text := lower(btrim(order_by));
    pgss_schema name;
    pgss_version text;
    preloaded boolean;
    pending boolean;
    libs text;
    cols text[];
    c_total text;
    c_mean text;
    c_max text;
    c_stddev text;
    c_io text;
    io_parts text[] := '{}';
    c text;
    order_clause text;
    q text;
BEGIN
    IF top IS NULL OR top < 1 THEN
        RAISE EXCEPTION 'top must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', coalesce(top::text, 'NULL')),
                  HINT = 'Pass the number of statements to show, such as 10.';
    END IF;
    IF ord IS NULL OR NOT ord = ANY (accepted) THEN
        RAISE EXCEPTION 'unknown order_by %', coalesce(quote_literal(order_by), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Accepted values: ' || array_to_string(accepted, ', ') || '.',
                  HINT = 'mean and total order by execution time, io by time spent reading and writing blocks.';
    END IF;
    IF min_calls IS NULL OR min_calls < 1 THEN
        RAISE EXCEPTION 'min_calls must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT n.nspname, e.extversion INTO pgss_schema, pgss_version
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements';
    preloaded := 'pg_stat_statements' = ANY (@extschema@._preloaded_libraries());

    IF pgss_schema IS NULL OR NOT preloaded THEN
        -- what the configuration line must say: the current list plus ours
        libs := array_to_string(
                    ARRAY['pg_stat_statements'] ||
                    array_remove(@extschema@._preloaded_libraries(), 'pg_stat_statements'), ',');
        SELECT bool_or(f.setting ~ 'pg_stat_statements' AND f.applied IS NOT TRUE) INTO pending
          FROM pg_file_settings f WHERE f.name = 'shared_preload_libraries';
        IF NOT preloaded AND pgss_schema IS NULL THEN
            RAISE EXCEPTION 'pg_stat_statements is not available'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'The library is not in shared_preload_libraries and the extension is not installed in database ' || quote_ident(current_database()) || '.',
                      HINT = format('Set shared_preload_libraries = %L in postgresql.conf (or ALTER SYSTEM SET shared_preload_libraries = %L), restart the server, then run CREATE EXTENSION pg_stat_statements; in database %s (any schema, e.g. SCHEMA public; pg_runbook finds it).',
                                    libs, libs, quote_ident(current_database()));
        ELSIF NOT preloaded THEN
            RAISE EXCEPTION 'pg_stat_statements is installed but its library is not loaded'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Extension pg_stat_statements %s is in schema %s, but shared_preload_libraries is %L.',
                                      pgss_version, quote_ident(pgss_schema), current_setting('shared_preload_libraries')),
                      HINT = CASE WHEN pending
                                  THEN 'The configuration file already loads it: restart the server.'
                                  ELSE format('Set shared_preload_libraries = %L in postgresql.conf (or ALTER SYSTEM SET shared_preload_libraries = %L) and restart the server.', libs, libs)
                             END;
        ELSE
            RAISE EXCEPTION 'pg_stat_statements is loaded but the extension is not installed in database %', quote_ident(current_database())
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('Run CREATE EXTENSION pg_stat_statements; in database %s (any schema, e.g. SCHEMA public; pg_runbook finds it).',
                                    quote_ident(current_database()));
        END IF;
    END IF;

    IF NOT has_schema_privilege(pgss_schema, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for schema % of pg_stat_statements', quote_ident(pgss_schema)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT USAGE ON SCHEMA %I TO %I;', pgss_schema, current_user);
    END IF;

    -- columns of the installed version (1.8 renamed *_time to *_exec_time;
    -- 1.11 split blk_*_time into shared_/local_blk_*_time)
    SELECT array_agg(a.attname::text) INTO cols
      FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid
     WHERE c.relname = 'pg_stat_statements'
       AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = pgss_schema)
       AND a.attnum > 0 AND NOT a.attisdropped;

    c_total := CASE WHEN 'total_exec_time' = ANY (cols) THEN 's.total_exec_time'
                    ELSE 's.total_time' END;
    c_mean := CASE WHEN 'mean_exec_time' = ANY (cols) THEN 's.mean_exec_time'
                   WHEN 'mean_time' = ANY (cols) THEN 's.mean_time'
                   ELSE c_total || ' / nullif(s.calls, 0)' END;
    c_max := CASE WHEN 'max_exec_time' = ANY (cols) THEN 's.max_exec_time'
                  WHEN 'max_time' = ANY (cols) THEN 's.max_time'
                  ELSE 'NULL::float8' END;
    c_stddev := CASE WHEN 'stddev_exec_time' = ANY (cols) THEN 's.stddev_exec_time'
                     WHEN 'stddev_time' = ANY (cols) THEN 's.stddev_time'
                     ELSE 'NULL::float8' END;
    FOREACH c IN ARRAY ARRAY['blk_read_time', 'blk_write_time',
                             'shared_blk_read_time', 'shared_blk_write_time',
                             'local_blk_read_time', 'local_blk_write_time',
                             'temp_blk_read_time', 'temp_blk_write_time'] LOOP
        IF c = ANY (cols) THEN
            io_parts := io_parts || ('s.' || c);
        END IF;
    END LOOP;
    -- zero I/O time means "not tracked" when track_io_timing is off
    c_io := CASE WHEN cardinality(io_parts) = 0 THEN 'NULL::float8'
                 ELSE format('CASE WHEN %2$s = 0 AND NOT current_setting(''track_io_timing'')::boolean THEN NULL ELSE %1$s END',
                             array_to_string(io_parts, ' + '), array_to_string(io_parts, ' + '))
            END;

    order_clause := CASE ord
        WHEN 'mean'  THEN 'x.mean_ms DESC NULLS LAST, x.calls DESC'
        WHEN 'total' THEN 'x.total_ms DESC NULLS LAST, x.calls DESC'
        WHEN 'calls' THEN 'x.calls DESC, x.total_ms DESC NULLS LAST'
        WHEN 'rows'  THEN 'x.rows DESC, x.total_ms DESC NULLS LAST'
        WHEN 'io'    THEN 'coalesce(x.io_ms, 0) DESC, x.shared_blks_read + x.temp_blks_written DESC, x.total_ms DESC NULLS LAST'
    END;

    -- One pass over the entries with their texts, kept to a top-N sort (no
    -- window over all entries, which would sort every text); the grand
    -- total for pct_of_total comes from a pass without texts.
    q := format($q$
        SELECT (row_number() OVER (ORDER BY %1$s))::integer,
               x.queryid, r.rolname, d.datname, x.calls,
               round(x.total_ms::numeric, 3), round(x.mean_ms::numeric, 3),
               round(x.max_ms::numeric, 3), round(x.stddev_ms::numeric, 3),
               make_interval(secs => x.total_ms / 1000.0),
               make_interval(secs => x.mean_ms / 1000.0),
               make_interval(secs => x.max_ms / 1000.0),
               round((100.0 * x.total_ms / nullif((SELECT sum(%8$s) FROM %7$I.pg_stat_statements(false) s), 0))::numeric, 1),
               x.rows,
               round(x.rows::numeric / nullif(x.calls, 0), 1),
               x.shared_blks_hit, x.shared_blks_read,
               round(x.shared_blks_hit::numeric / nullif(x.shared_blks_hit + x.shared_blks_read, 0), 4),
               x.temp_blks_written,
               round(x.io_ms::numeric, 3),
               x.query
          FROM (SELECT x.*
                  FROM (SELECT s.userid, s.dbid, s.queryid, s.calls,
                               %2$s AS total_ms, %3$s AS mean_ms, %4$s AS max_ms, %5$s AS stddev_ms,
                               s.rows, s.shared_blks_hit, s.shared_blks_read, s.temp_blks_written,
                               %6$s AS io_ms, s.query
                          FROM %7$I.pg_stat_statements(true) s) x
                 WHERE x.calls >= $1
                 ORDER BY %1$s
                 LIMIT $2) x
          LEFT JOIN pg_catalog.pg_roles r ON r.oid = x.userid
          LEFT JOIN pg_catalog.pg_database d ON d.oid = x.dbid
         ORDER BY 1
    $q$, order_clause, c_total, c_mean, c_max, c_stddev, c_io, pgss_schema, c_total);

    RETURN QUERY EXECUTE q USING min_calls, top;
END
$fn$;

COMMENT ON FUNCTION @extschema@.slow_queries(integer, text, bigint) IS
'top statements from pg_stat_statements (any version) by mean, total, calls, rows or io; times in ms and as intervals, hit ratio, I/O time when tracked';

-- ---------------------------------------------------------------------
-- replication_status
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.replication_status(
    OUT role text,
    OUT kind text,
    OUT name text,
    OUT state text,
    OUT sync_state text,
    OUT pid integer,
    OUT client text,
    OUT write_lag_bytes numeric,
    OUT flush_lag_bytes numeric,
    OUT replay_lag_bytes numeric,
    OUT write_lag interval,
    OUT flush_lag interval,
    OUT replay_lag interval,
    OUT slot_type text,
    OUT active boolean,
    OUT retained_bytes numeric,
    OUT retained text,
    OUT wal_status text,
    OUT safe_wal_size bigint,
    OUT receive_lsn pg_lsn,
    OUT replay_lsn pg_lsn,
    OUT replay_paused boolean,
    OUT failed_count bigint,
    OUT last_failed_wal text,
    OUT last_failure timestamptz,
    OUT files_waiting bigint,
    OUT detail text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    standby boolean := pg_is_in_recovery();
    my_role text := CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END;
    pos pg_lsn;          -- where WAL ends here: the write position on a primary, last received (or replayed) on a standby
    r record;
    a record;
    amode text := current_setting('archive_mode');
    waiting bigint;
    blcksz integer := current_setting('wal_block_size')::integer;
    partial_tail boolean;
    startup_wait text;
BEGIN
    IF standby THEN
        pos := coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn());
    ELSE
        pos := pg_current_wal_lsn();
    END IF;

    -- primary side (also a cascading standby): one row per walsender
    FOR r IN
        SELECT s.*, sl.slot_name AS via_slot
          FROM pg_stat_replication s
          LEFT JOIN pg_replication_slots sl ON sl.active_pid = s.pid
         ORDER BY s.application_name, s.pid
    LOOP
        role := my_role; kind := 'replica';
        name := r.application_name; state := r.state; sync_state := r.sync_state;
        pid := r.pid;
        client := coalesce(host(r.client_addr) || ':' || r.client_port, 'local socket');
        IF standby THEN
            pos := coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn());
        ELSE
            pos := pg_current_wal_lsn();
        END IF;
        write_lag_bytes := greatest(pg_wal_lsn_diff(pos, r.write_lsn), 0);
        flush_lag_bytes := greatest(pg_wal_lsn_diff(pos, r.flush_lsn), 0);
        replay_lag_bytes := greatest(pg_wal_lsn_diff(pos, r.replay_lsn), 0);
        -- An idle primary may have written WAL up to a page boundary in the
        -- middle of its last record (the WAL writer flushes whole pages
        -- only): the replica has that page but cannot replay a partial
        -- record, so its replay position stays just before the boundary.
        -- Everything complete was replayed: that is no lag.  (Only a tail of
        -- less than one page is recognised here; the standby's own row is
        -- exact, as it sees its startup process waiting for WAL.)
        partial_tail := NOT standby AND replay_lag_bytes > 0
            AND r.flush_lsn = pos
            AND pg_wal_lsn_diff(pos, '0/0') % blcksz = 0
            AND pg_current_wal_insert_lsn() > pos
            AND replay_lag_bytes < blcksz;
        IF partial_tail THEN
            replay_lag_bytes := 0;
        END IF;
        -- the time columns turn NULL once a replica has caught up and the
        -- primary is idle: that is no lag, not an unknown one
        write_lag := CASE WHEN write_lag_bytes = 0 THEN coalesce(r.write_lag, interval '0') ELSE r.write_lag END;
        flush_lag := CASE WHEN flush_lag_bytes = 0 THEN coalesce(r.flush_lag, interval '0') ELSE r.flush_lag END;
        replay_lag := CASE WHEN replay_lag_bytes = 0 THEN coalesce(r.replay_lag, interval '0') ELSE r.replay_lag END;
        slot_type := NULL; active := true; retained_bytes := NULL; retained := NULL;
        wal_status := NULL; safe_wal_size := NULL;
        receive_lsn := r.flush_lsn; replay_lsn := r.replay_lsn; replay_paused := NULL;
        failed_count := NULL; last_failed_wal := NULL; last_failure := NULL; files_waiting := NULL;
        detail := concat_ws('; ',
            CASE WHEN r.via_slot IS NOT NULL THEN 'streams through slot ' || r.via_slot
                 ELSE 'no replication slot: the primary may recycle WAL this replica still needs' END,
            CASE WHEN r.state IS DISTINCT FROM 'streaming' THEN 'not streaming yet (' || coalesce(r.state, '?') || ')' END,
            CASE WHEN r.replay_lsn IS NULL THEN 'positions hidden: needs pg_read_all_stats (pg_monitor)' END,
            CASE WHEN partial_tail THEN 'all complete WAL replayed (the last record is not flushed yet: idle primary)' END);
        RETURN NEXT;
    END LOOP;

    -- replication slots (on either side)
    FOR r IN
        SELECT s.*, d.datname AS dbname
          FROM pg_replication_slots s
          LEFT JOIN pg_database d ON d.oid = s.datoid
         ORDER BY s.slot_name
    LOOP
        role := my_role; kind := 'slot'; name := r.slot_name;
        state := CASE WHEN r.active THEN 'active' ELSE 'inactive' END;
        sync_state := NULL; pid := r.active_pid; client := NULL;
        write_lag_bytes := NULL; flush_lag_bytes := NULL;
        replay_lag_bytes := CASE WHEN r.slot_type = 'logical'
                                 THEN greatest(pg_wal_lsn_diff(pos, r.confirmed_flush_lsn), 0) END;
        write_lag := NULL; flush_lag := NULL; replay_lag := NULL;
        slot_type := r.slot_type; active := r.active;
        retained_bytes := greatest(pg_wal_lsn_diff(pos, r.restart_lsn), 0);
        retained := pg_size_pretty(retained_bytes);
        wal_status := r.wal_status; safe_wal_size := r.safe_wal_size;
        receive_lsn := r.restart_lsn; replay_lsn := NULL; replay_paused := NULL;
        failed_count := NULL; last_failed_wal := NULL; last_failure := NULL; files_waiting := NULL;
        detail := concat_ws('; ',
            CASE WHEN r.wal_status = 'lost' THEN 'WAL it needs is already removed: the consumer must be rebuilt; drop it: SELECT pg_drop_replication_slot(' || quote_literal(r.slot_name) || ')'
                 WHEN NOT r.active AND r.restart_lsn IS NOT NULL THEN 'inactive slot keeps ' || pg_size_pretty(retained_bytes) || ' of WAL in pg_wal and grows; if its consumer is gone: SELECT pg_drop_replication_slot(' || quote_literal(r.slot_name) || ')'
                 WHEN NOT r.active THEN 'inactive, reserves no WAL yet' END,
            CASE WHEN r.wal_status = 'unreserved' THEN 'past max_wal_size: WAL may be removed at the next checkpoint' END,
            CASE WHEN r.xmin IS NOT NULL THEN 'holds back vacuum: xmin age ' || age(r.xmin) END,
            CASE WHEN r.catalog_xmin IS NOT NULL AND NOT r.active THEN 'holds back catalog vacuum: catalog_xmin age ' || age(r.catalog_xmin) END,
            CASE WHEN r.slot_type = 'logical' THEN 'database ' || r.dbname || ', plugin ' || r.plugin END);
        RETURN NEXT;
    END LOOP;

    -- standby side: the WAL receiver and replay
    IF standby THEN
        SELECT w.* INTO a FROM pg_stat_wal_receiver w;
        role := 'standby'; kind := 'receiver';
        name := CASE WHEN a.pid IS NOT NULL THEN coalesce(a.sender_host || ':' || a.sender_port, 'primary') ELSE 'none' END;
        state := coalesce(a.status, 'not running');
        sync_state := NULL; pid := a.pid; client := NULL;
        receive_lsn := pg_last_wal_receive_lsn();
        replay_lsn := pg_last_wal_replay_lsn();
        write_lag_bytes := NULL; flush_lag_bytes := NULL;
        write_lag := NULL; flush_lag := NULL;
        -- the startup process waiting for WAL to arrive has replayed all
        -- it has (what is left is at most the start of a record not fully
        -- received yet, as when an idle primary flushed half of its last one)
        SELECT a2.wait_event INTO startup_wait
          FROM @extschema@.sessions a2 WHERE a2.backend_type = 'startup';
        partial_tail := false;
        IF receive_lsn IS NOT NULL THEN
            replay_lag_bytes := greatest(pg_wal_lsn_diff(receive_lsn, replay_lsn), 0);
            IF replay_lag_bytes > 0 AND startup_wait = 'RecoveryWalStream' THEN
                partial_tail := true;
                replay_lag_bytes := 0;
            END IF;
            -- all received WAL replayed: no lag, however long ago the last
            -- transaction was (an idle primary sends nothing to replay)
            replay_lag := CASE WHEN replay_lag_bytes = 0 THEN interval '0'
                               ELSE now() - pg_last_xact_replay_timestamp() END;
        ELSE
            replay_lag_bytes := NULL;
            replay_lag := now() - pg_last_xact_replay_timestamp();
        END IF;
        slot_type := NULL; active := a.pid IS NOT NULL;
        retained_bytes := NULL; retained := NULL; wal_status := NULL; safe_wal_size := NULL;
        replay_paused := pg_get_wal_replay_pause_state() <> 'not paused';
        failed_count := NULL; last_failed_wal := NULL; last_failure := NULL; files_waiting := NULL;
        detail := concat_ws('; ',
            CASE WHEN a.pid IS NULL THEN 'no WAL receiver: replaying from the archive or disconnected from the primary; replay_lag is the age of the last replayed transaction' END,
            CASE WHEN a.slot_name IS NOT NULL THEN 'through slot ' || a.slot_name END,
            CASE WHEN a.last_msg_receipt_time IS NOT NULL THEN 'last message from primary ' || date_trunc('second', now() - a.last_msg_receipt_time) || ' ago' END,
            CASE WHEN replay_paused THEN 'replay is paused: SELECT pg_wal_replay_resume()' END,
            CASE WHEN partial_tail THEN 'all complete WAL replayed; the rest is a record not fully received yet' END);
        RETURN NEXT;
    END IF;

    -- the archiver
    SELECT s.* INTO a FROM pg_stat_archiver s;
    BEGIN
        SELECT count(*) INTO waiting FROM pg_ls_archive_statusdir() f WHERE f.name LIKE '%.ready';
    EXCEPTION WHEN insufficient_privilege THEN
        waiting := NULL;
    END;
    role := my_role; kind := 'archiver'; name := 'archiver';
    state := CASE
        WHEN amode = 'off' OR (standby AND amode <> 'always') THEN 'disabled'
        WHEN a.last_failed_time IS NOT NULL
             AND (a.last_archived_time IS NULL OR a.last_failed_time > a.last_archived_time) THEN 'failing'
        WHEN waiting > 0 THEN 'behind'
        ELSE 'ok' END;
    sync_state := NULL; pid := NULL; client := NULL;
    write_lag_bytes := NULL; flush_lag_bytes := NULL; replay_lag_bytes := NULL;
    write_lag := NULL; flush_lag := NULL;
    replay_lag := CASE WHEN state <> 'disabled' AND a.last_archived_time IS NOT NULL AND waiting > 0
                       THEN now() - a.last_archived_time END;
    slot_type := NULL; active := state NOT IN ('disabled');
    retained_bytes := NULL; retained := NULL; wal_status := NULL; safe_wal_size := NULL;
    receive_lsn := NULL; replay_lsn := NULL; replay_paused := NULL;
    failed_count := a.failed_count; last_failed_wal := a.last_failed_wal;
    last_failure := a.last_failed_time; files_waiting := waiting;
    detail := concat_ws('; ',
        'archive_mode ' || amode,
        CASE WHEN state = 'disabled' AND amode = 'off' THEN 'no WAL archive: no point-in-time recovery' END,
        CASE WHEN state = 'failing' THEN 'archive_command fails (see the server log); WAL piles up in pg_wal until it succeeds' END,
        CASE WHEN a.last_archived_wal IS NOT NULL THEN 'last archived ' || a.last_archived_wal || ' at ' || date_trunc('second', a.last_archived_time) END,
        CASE WHEN waiting IS NULL THEN 'files waiting unknown: needs pg_monitor' END);
    RETURN NEXT;
END
$fn$;

COMMENT ON FUNCTION @extschema@.replication_status() IS
'replicas (lag in bytes and time), replication slots (retained WAL, wal_status), the standby''s receiver and replay (no false lag when idle), the archiver (failures, files waiting)';

-- ---------------------------------------------------------------------
-- integrity_check
-- ---------------------------------------------------------------------

-- Run one probe bounded in time and without lock waits: takes ACCESS SHARE
-- on the given relations with NOWAIT (so it never queues behind DDL) and
-- arms the statement timer for timeout_ms.  Returns the rows of the query
-- as a jsonb array, or NULL with outcome set to why it was skipped.  Runs
-- in its own subtransaction (the exception block), which also undoes the
-- local lock_timeout on error; on success the previous value is restored.
CREATE FUNCTION @extschema@._bounded_query(
    sql text,
    rels regclass[],
    timeout_ms integer,
    OUT result jsonb,
    OUT outcome text)
RETURNS record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    deadline timestamptz;
    old_lock_timeout text := current_setting('lock_timeout');
    rel regclass;
BEGIN
    result := NULL;
    outcome := 'ok';
    BEGIN
        PERFORM set_config('lock_timeout', '100ms', true);
        FOREACH rel IN ARRAY rels LOOP
            EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE NOWAIT', rel);
        END LOOP;
        deadline := @extschema@._deadline_arm(timeout_ms);
        EXECUTE format('SELECT coalesce(jsonb_agg(q), ''[]'') FROM (%s) q', sql) INTO result;
        PERFORM @extschema@._deadline_disarm();
        PERFORM set_config('lock_timeout', old_lock_timeout, true);
    EXCEPTION
        WHEN query_canceled THEN
            PERFORM @extschema@._deadline_disarm();
            -- a user's cancel or the caller's own statement_timeout stops
            -- everything; only our own deadline means "skip this one"
            IF deadline IS NULL OR clock_timestamp() < deadline THEN
                RAISE;
            END IF;
            outcome := format('skipped: not finished within %s ms', timeout_ms);
        WHEN lock_not_available THEN
            PERFORM @extschema@._deadline_disarm();
            outcome := 'skipped: lock conflict: DDL holds or waits for the table (' || SQLERRM || ')';
        WHEN insufficient_privilege THEN
            PERFORM @extschema@._deadline_disarm();
            outcome := 'skipped: ' || SQLERRM;
        WHEN OTHERS THEN
            -- never leave the timer armed behind an error
            PERFORM @extschema@._deadline_disarm();
            RAISE;
    END;
END
$fn$;

COMMENT ON FUNCTION @extschema@._bounded_query(text, regclass[], integer) IS
'internal: run a probe query with NOWAIT locks and a time bound; its rows as jsonb, or NULL and the reason it was skipped';

-- The FROM/WHERE clause that selects the rows of a foreign key's table
-- whose key matches no row of the referenced table, using the constraint's
-- own equality operators.  MATCH SIMPLE: a row with any NULL key column is
-- not checked; MATCH FULL: only an all-NULL key is exempt.
CREATE FUNCTION @extschema@._fk_orphan_from(fk oid)
RETURNS text
LANGUAGE sql STABLE
AS $fn$
    SELECT format('FROM %s c WHERE %s AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s)',
                  c.conrelid::regclass,
                  CASE WHEN c.confmatchtype = 'f'
                       THEN '(' || string_agg(format('c.%I IS NOT NULL', ca.attname), ' OR ' ORDER BY k.ord) || ')'
                       ELSE string_agg(format('c.%I IS NOT NULL', ca.attname), ' AND ' ORDER BY k.ord) END,
                  c.confrelid::regclass,
                  string_agg(format('c.%I OPERATOR(%I.%s) p.%I', ca.attname, opn.nspname, op.oprname, pa.attname),
                             ' AND ' ORDER BY k.ord))
      FROM pg_constraint c
      CROSS JOIN LATERAL unnest(c.conkey, c.confkey, c.conpfeqop) WITH ORDINALITY k(ck, pk, opr, ord)
      JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.ck
      JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pk
      JOIN pg_operator op ON op.oid = k.opr
      JOIN pg_namespace opn ON opn.oid = op.oprnamespace
     WHERE c.oid = fk AND c.contype = 'f'
     GROUP BY c.oid, c.conrelid, c.confrelid, c.confmatchtype
$fn$;

COMMENT ON FUNCTION @extschema@._fk_orphan_from(oid) IS
'internal: FROM/WHERE clause selecting the rows that break a foreign key';

CREATE FUNCTION @extschema@.integrity_check(
    amcheck_indexes regclass[] DEFAULT NULL,
    orphan_timeout interval DEFAULT '5s',
    include_ok boolean DEFAULT false,
    heapallindexed boolean DEFAULT false,
    OUT check_name text,
    OUT status text,
    OUT object text,
    OUT relation regclass,
    OUT count bigint,
    OUT detail text,
    OUT check_sql text,
    OUT remedy_sql text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    r record;
    amcheck_schema name;
    timeout_ms integer;
    orphan_from text;
    probe record;
    idx regclass;
    idx_list regclass[] := '{}';
    old_lock_timeout text := current_setting('lock_timeout');
BEGIN
    IF orphan_timeout IS NOT NULL AND orphan_timeout < interval '0' THEN
        RAISE EXCEPTION 'orphan_timeout must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass an interval such as ''5s''; NULL or ''0'' skips orphan counting.';
    END IF;
    timeout_ms := CASE WHEN orphan_timeout IS NULL THEN 0
                       ELSE least(extract(epoch FROM orphan_timeout) * 1000, 2147483647)::integer END;

    -- amcheck is checked first: a missing extension is an error, before any work
    IF amcheck_indexes IS NOT NULL THEN
        SELECT n.nspname INTO amcheck_schema
          FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'amcheck';
        IF amcheck_schema IS NULL THEN
            RAISE EXCEPTION 'amcheck is not installed in database %', quote_ident(current_database())
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Index verification (amcheck_indexes) uses bt_index_check() from the amcheck extension (PostgreSQL contrib).',
                      HINT = 'Run CREATE EXTENSION amcheck; as a superuser in this database, or call integrity_check() without amcheck_indexes.';
        END IF;
    END IF;

    -- 1. invalid indexes (a failed or running CREATE INDEX CONCURRENTLY / REINDEX CONCURRENTLY)
    FOR r IN
        SELECT i.indexrelid::regclass AS idx, i.indrelid::regclass AS tbl, i.indisunique,
               i.indisready, pg_get_indexdef(i.indexrelid) AS def,
               (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
                  FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE k.ord <= i.indnkeyatts) AS keycols,
               i.indexprs IS NULL AS simple,
               EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                        WHERE p.index_relid = i.indexrelid) AS building
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid
         WHERE NOT i.indisvalid
           AND c.relnamespace <> 'pg_catalog'::regnamespace
         ORDER BY 1
    LOOP
        check_name := 'invalid_index';
        status := CASE WHEN r.building THEN 'in progress' ELSE 'found' END;
        object := r.idx::text; relation := r.tbl; count := NULL;
        detail := CASE
            WHEN r.building THEN 'being built right now (pg_stat_progress_create_index): not a failure yet'
            ELSE 'left invalid by a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY: not used by queries'
                 || CASE WHEN r.indisready THEN ', but still maintained on every write' ELSE '' END
                 || CASE WHEN r.indisunique THEN '; unique: a duplicate key is the usual cause' ELSE '' END
            END || '; ' || r.def;
        check_sql := CASE WHEN r.indisunique AND r.simple AND r.keycols IS NOT NULL
            THEN format('SELECT %s, count(*) FROM %s GROUP BY %s HAVING count(*) > 1;', r.keycols, r.tbl, r.keycols)
            ELSE format('SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = %L::regclass;', r.idx::text) END;
        remedy_sql := CASE WHEN r.building THEN NULL
            ELSE format('REINDEX INDEX CONCURRENTLY %s;', r.idx)
                 || CASE WHEN r.indisunique THEN ' -- after removing the duplicates' ELSE '' END
                 || format(' -- or: DROP INDEX CONCURRENTLY %s;', r.idx) END;
        RETURN NEXT;
    END LOOP;

    -- 2. constraints added NOT VALID and never validated
    FOR r IN
        SELECT c.oid, c.conname, c.conrelid::regclass AS tbl, c.contype,
               -- pg_get_constraintdef() reads the catalog only; pg_get_expr()
               -- would lock the table and could wait behind DDL
               CASE WHEN c.contype = 'c'
                    THEN regexp_replace(pg_get_constraintdef(c.oid), '^CHECK \((.*)\)( NOT VALID)?$', '\1') END AS expr
          FROM pg_constraint c
          JOIN pg_class t ON t.oid = c.conrelid
         WHERE NOT c.convalidated
           AND c.contype IN ('c', 'f')
           AND t.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
         ORDER BY c.conrelid::regclass::text, c.conname
    LOOP
        check_name := 'not_valid_constraint';
        status := 'found';
        object := quote_ident(r.conname); relation := r.tbl; count := NULL;
        check_sql := CASE WHEN r.contype = 'c'
            THEN format('SELECT count(*) FROM %s WHERE NOT (%s);', r.tbl, r.expr)
            ELSE 'SELECT count(*) ' || @extschema@._fk_orphan_from(r.oid) || ';' END;
        remedy_sql := format('ALTER TABLE %s VALIDATE CONSTRAINT %I;', r.tbl, r.conname);
        IF r.contype = 'f' THEN
            detail := 'foreign key created NOT VALID: rows older than the constraint were never checked (orphaned_rows counts them)';
        ELSE
            detail := 'check constraint created NOT VALID: rows older than the constraint were never checked';
        END IF;
        RETURN NEXT;
    END LOOP;

    -- 3. orphaned rows under each foreign key (valid or not), time-bounded
    IF timeout_ms > 0 THEN
        FOR r IN
            SELECT c.oid, c.conname, c.conrelid::regclass AS child, c.confrelid::regclass AS parent,
                   c.convalidated
              FROM pg_constraint c
              JOIN pg_class t ON t.oid = c.conrelid
             WHERE c.contype = 'f'
               AND c.conparentid = 0
               AND t.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
             ORDER BY c.conrelid::regclass::text, c.conname
        LOOP
            check_name := 'orphaned_rows';
            object := quote_ident(r.conname); relation := r.child;
            orphan_from := @extschema@._fk_orphan_from(r.oid);
            IF NOT (has_table_privilege(r.child, 'SELECT') AND has_table_privilege(r.parent, 'SELECT')) THEN
                status := 'skipped'; count := NULL;
                detail := 'skipped: no SELECT privilege on ' || r.child || ' or ' || r.parent;
            ELSE
                BEGIN
                    probe := @extschema@._bounded_query('SELECT count(*) AS n ' || orphan_from,
                                                         ARRAY[r.child, r.parent], timeout_ms);
                EXCEPTION WHEN undefined_table OR undefined_object THEN
                    SELECT NULL::jsonb AS result, 'skipped: dropped while being checked' AS outcome
                      INTO probe;
                END;
                count := (probe.result->0->>'n')::bigint;
                IF count IS NULL THEN
                    status := 'skipped'; detail := probe.outcome;
                ELSIF count = 0 THEN
                    status := 'ok'; detail := 'no orphaned rows';
                ELSE
                    status := 'found';
                    detail := format('%s row(s) of %s reference no row of %s', count, r.child, r.parent)
                              || CASE WHEN r.convalidated
                                      THEN ' although the key is validated: triggers disabled, session_replication_role = replica, or corruption'
                                      ELSE ' (the key is NOT VALID)' END;
                END IF;
            END IF;
            check_sql := 'SELECT c.* ' || orphan_from || ' LIMIT 100;';
            remedy_sql := CASE WHEN status = 'found'
                THEN 'DELETE ' || orphan_from || ';  -- or insert the missing parent rows / set the key to NULL'
                     || CASE WHEN NOT r.convalidated THEN format('; then ALTER TABLE %s VALIDATE CONSTRAINT %I;', r.child, r.conname) ELSE '' END
                END;
            IF status <> 'ok' OR include_ok THEN
                RETURN NEXT;
            END IF;
        END LOOP;
    END IF;

    -- 4. checksum failures, per database (NULL when checksums are off)
    FOR r IN
        SELECT coalesce(d.datname, '(shared objects)') AS dbname, d.checksum_failures, d.checksum_last_failure
          FROM pg_stat_database d
         WHERE d.checksum_failures > 0 OR (include_ok AND d.checksum_failures IS NOT NULL)
         ORDER BY 1
    LOOP
        check_name := 'checksum_failures';
        status := CASE WHEN r.checksum_failures > 0 THEN 'found' ELSE 'ok' END;
        object := r.dbname; relation := NULL; count := r.checksum_failures;
        detail := CASE WHEN r.checksum_failures > 0
            THEN 'data page checksum failures, last at ' || r.checksum_last_failure || ': storage is corrupting pages; find them in the server log (WARNING: page verification failed)'
            ELSE 'no checksum failures' END;
        check_sql := format('SELECT datname, checksum_failures, checksum_last_failure FROM pg_stat_database WHERE datname IS NOT DISTINCT FROM %L;',
                            CASE WHEN r.dbname = '(shared objects)' THEN NULL ELSE r.dbname END);
        remedy_sql := CASE WHEN r.checksum_failures > 0
            THEN '-- restore the damaged relations from a backup; check the disks; pg_checksums --check (offline) lists every bad block' END;
        RETURN NEXT;
    END LOOP;

    -- 5. amcheck over chosen indexes (a table means all its B-tree indexes)
    IF amcheck_indexes IS NOT NULL THEN
        FOREACH idx IN ARRAY amcheck_indexes LOOP
            IF (SELECT c.relkind IN ('r', 'm', 't', 'p') FROM pg_class c WHERE c.oid = idx) THEN
                idx_list := idx_list || ARRAY(SELECT i.indexrelid::regclass FROM pg_index i
                                               WHERE i.indrelid = idx ORDER BY i.indexrelid::regclass::text);
            ELSE
                idx_list := idx_list || idx;
            END IF;
        END LOOP;
        FOREACH idx IN ARRAY idx_list LOOP
            check_name := 'amcheck'; object := idx::text;
            relation := (SELECT i.indrelid::regclass FROM pg_index i WHERE i.indexrelid = idx);
            count := NULL;
            check_sql := format('SELECT %I.bt_index_check(%L::regclass, %s);', amcheck_schema, idx::text,
                                CASE WHEN heapallindexed THEN 'true' ELSE 'false' END);
            remedy_sql := NULL;
            IF (SELECT c.relkind <> 'i' OR am.amname <> 'btree' FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.oid = idx)
               IS DISTINCT FROM false THEN
                status := 'skipped';
                detail := 'skipped: not a B-tree index (bt_index_check verifies B-tree indexes only)';
            ELSIF (SELECT NOT i.indisvalid FROM pg_index i WHERE i.indexrelid = idx) THEN
                status := 'skipped';
                detail := 'skipped: invalid index (see invalid_index)';
            ELSE
                BEGIN
                    PERFORM set_config('lock_timeout', '100ms', true);
                    EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE NOWAIT', relation);
                    EXECUTE format('SELECT %I.bt_index_check($1, $2)', amcheck_schema) USING idx, heapallindexed;
                    PERFORM set_config('lock_timeout', old_lock_timeout, true);
                    status := 'ok';
                    detail := CASE WHEN heapallindexed THEN 'bt_index_check (heapallindexed) passed'
                                   ELSE 'bt_index_check passed: B-tree structure consistent' END;
                EXCEPTION
                    WHEN index_corrupted OR data_corrupted THEN
                        status := 'corrupt';
                        detail := SQLERRM;
                        remedy_sql := format('REINDEX INDEX CONCURRENTLY %s;', idx);
                    WHEN lock_not_available THEN
                        status := 'skipped';
                        detail := 'skipped: lock conflict: DDL holds or waits for the table (' || SQLERRM || ')';
                    WHEN undefined_table OR undefined_object THEN
                        status := 'skipped';
                        detail := 'skipped: dropped while being checked';
                    WHEN insufficient_privilege THEN
                        status := 'skipped';
                        detail := 'skipped: ' || SQLERRM || ' (GRANT EXECUTE ON FUNCTION ' || quote_ident(amcheck_schema) || '.bt_index_check(regclass, boolean) TO ...)';
                END;
            END IF;
            RETURN NEXT;
        END LOOP;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@.integrity_check(regclass[], interval, boolean, boolean) IS
'invalid indexes, NOT VALID constraints, orphaned rows per foreign key (time-bounded, locked tables skipped), checksum failures, and bt_index_check over amcheck_indexes; each finding with the SQL that confirms or fixes it';

-- ---------------------------------------------------------------------
-- config_check
-- ---------------------------------------------------------------------

-- Checkpoints requested (by WAL volume or by hand) and timed since the last
-- stats reset: pg_stat_bgwriter up to PostgreSQL 16, pg_stat_checkpointer
-- from 17 (dynamic SQL so that neither name is needed at install time).
CREATE FUNCTION @extschema@._checkpoint_counts(OUT requested bigint, OUT timed bigint)
RETURNS record
LANGUAGE plpgsql STABLE
AS $fn$
BEGIN
    IF to_regclass('pg_catalog.pg_stat_checkpointer') IS NOT NULL THEN
        EXECUTE 'SELECT num_requested, num_timed FROM pg_catalog.pg_stat_checkpointer'
            INTO requested, timed;
    ELSE
        EXECUTE 'SELECT checkpoints_req, checkpoints_timed FROM pg_catalog.pg_stat_bgwriter'
            INTO requested, timed;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._checkpoint_counts() IS
'internal: checkpoints requested and timed, from whichever view this server version has';
CREATE FUNCTION @extschema@.config_check(
    server_memory text DEFAULT NULL,
    OUT setting text,
    OUT current_value text,
    OUT suggested_value text,
    OUT severity text,
    OUT reason text,
    OUT remedy_sql text)
RETURNS SETOF record
LANGUAGE sql VOLATILE
AS $fn$
WITH v AS (
    -- the memory the server may use: as given ('16GB'), else RAM or the
    -- cgroup limit as the server's own process sees them
    SELECT coalesce(pg_size_bytes(server_memory)::bigint, @extschema@._server_memory()) AS mem,
           pg_size_bytes(current_setting('shared_buffers')) AS shared_buffers,
           pg_size_bytes(current_setting('work_mem')) AS work_mem,
           current_setting('max_connections')::bigint AS max_conn,
           'pg_stat_statements' = ANY (@extschema@._preloaded_libraries()) AS pgss_loaded,
           EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS pgss_created,
           (SELECT requested FROM @extschema@._checkpoint_counts()) AS ckpt_req,
           (SELECT timed FROM @extschema@._checkpoint_counts()) AS ckpt_timed
),
-- a backend's own memory beyond work_mem: catalog caches, plan caches, buffers
per_conn AS (SELECT v.work_mem + 10 * 1024 * 1024 AS bytes FROM v),
f(setting, suggested, severity, reason, remedy) AS (
    SELECT 'fsync', 'on', 'high',
           'a crash of the operating system or power loss can corrupt the whole cluster', NULL
     WHERE NOT current_setting('fsync')::boolean
    UNION ALL
    SELECT 'full_page_writes', 'on', 'high',
           'torn pages after a crash cannot be repaired from WAL: silent corruption', NULL
     WHERE NOT current_setting('full_page_writes')::boolean
    UNION ALL
    SELECT 'autovacuum', 'on', 'high',
           'dead rows are never cleaned and transaction ids never frozen: bloat, then a wraparound shutdown', NULL
     WHERE NOT current_setting('autovacuum')::boolean
    UNION ALL
    SELECT 'archive_command', '<a command that copies %p to the archive>', 'high',
           'archive_mode is on but nothing archives: every WAL segment stays in pg_wal until the disk fills',
           NULL
     WHERE current_setting('archive_mode') <> 'off'
       AND current_setting('archive_command') = ''
       AND current_setting('archive_library') = ''
    UNION ALL
    SELECT 'archive_mode', 'on', 'medium',
           'no WAL archive: no point-in-time recovery, a restore loses everything since the last base backup', NULL
     WHERE current_setting('archive_mode') = 'off'
    UNION ALL
    SELECT 'wal_level', 'replica', 'medium',
           'minimal WAL allows neither archiving nor replicas', NULL
     WHERE current_setting('wal_level') = 'minimal'
    UNION ALL
    SELECT 'data_checksums', 'on', 'medium',
           'storage corruption goes undetected: pages are read back without verification',
           '-- offline: stop the server, run pg_checksums --enable -D <data directory>, start it'
     WHERE NOT current_setting('data_checksums')::boolean
    UNION ALL
    SELECT 'idle_in_transaction_session_timeout', '10min', 'medium',
           'a session idle in a transaction keeps its locks and holds back vacuum (xmin) forever; set it globally or per application role (ALTER ROLE ... SET)', NULL
     WHERE current_setting('idle_in_transaction_session_timeout') IN ('0', '0ms')
    UNION ALL
    SELECT 'shared_preload_libraries',
           array_to_string(ARRAY['pg_stat_statements'] || @extschema@._preloaded_libraries(), ','), 'medium',
           'pg_stat_statements is not loaded: no history of which statements are slow (runbook.slow_queries)', NULL
      FROM v WHERE NOT v.pgss_loaded
    UNION ALL
    SELECT 'pg_stat_statements', 'CREATE EXTENSION pg_stat_statements', 'low',
           'the library is loaded but the extension is not created in database ' || quote_ident(current_database()) || ': its view cannot be queried here',
           'CREATE EXTENSION pg_stat_statements;'
      FROM v WHERE v.pgss_loaded AND NOT v.pgss_created
    UNION ALL
    SELECT 'max_connections',
           greatest(20, least(v.max_conn, (v.mem - v.shared_buffers) / p.bytes))::text,
           'medium',
           format('%s connections at %s each (work_mem + ~10MB) plus shared_buffers %s exceed the %s of memory available: use a connection pooler (PgBouncer) and lower it',
                  v.max_conn, pg_size_pretty(p.bytes), pg_size_pretty(v.shared_buffers), pg_size_pretty(v.mem)),
           NULL
      FROM v, per_conn p
     WHERE v.mem IS NOT NULL AND v.max_conn * p.bytes + v.shared_buffers > v.mem
    UNION ALL
    SELECT 'max_connections', '<= 500', 'medium',
           'more than 500 server processes contend on locks and snapshots even when idle: use a connection pooler (PgBouncer)', NULL
      FROM v, per_conn p
     WHERE v.max_conn > 500 AND NOT (v.mem IS NOT NULL AND v.max_conn * p.bytes + v.shared_buffers > v.mem)
    UNION ALL
    SELECT 'shared_buffers', (v.mem / 4 / 1048576) || 'MB', 'low',
           'the default 128MB on a server with ' || pg_size_pretty(v.mem) || ': about 25% of memory is the usual start', NULL
      FROM v WHERE v.mem >= 2::bigint * 1024 * 1024 * 1024 AND v.shared_buffers <= 128 * 1024 * 1024
    UNION ALL
    SELECT 'max_wal_size', (2 * pg_size_bytes(current_setting('max_wal_size')) / 1048576) || 'MB', 'low',
           format('%s of %s checkpoints were forced by WAL volume, not by checkpoint_timeout: frequent checkpoints multiply full-page writes',
                  v.ckpt_req, v.ckpt_req + v.ckpt_timed), NULL
      FROM v WHERE v.ckpt_req > 10 AND v.ckpt_req > v.ckpt_timed
    UNION ALL
    SELECT 'log_min_duration_statement', '1s', 'low',
           'slow statements are not logged: nothing to look at after an incident', NULL
     WHERE current_setting('log_min_duration_statement') IN ('-1')
    UNION ALL
    SELECT 'track_io_timing', 'on', 'low',
           'no I/O timing in pg_stat_statements and EXPLAIN (BUFFERS): cannot tell slow disks from slow plans (cheap on modern clocks; check with pg_test_timing)', NULL
     WHERE NOT current_setting('track_io_timing')::boolean
    UNION ALL
    SELECT 'log_lock_waits', 'on', 'low',
           'waits longer than deadlock_timeout are not logged: lock queues leave no trace', NULL
     WHERE NOT current_setting('log_lock_waits')::boolean
    UNION ALL
    SELECT 'log_autovacuum_min_duration', '10min', 'low',
           'autovacuum runs are never logged: no evidence when vacuum falls behind', NULL
     WHERE current_setting('log_autovacuum_min_duration') = '-1'
    UNION ALL
    SELECT 'password_encryption', 'scram-sha-256', 'low',
           'md5 password hashes are weak; new passwords should be stored as SCRAM', NULL
     WHERE current_setting('password_encryption') = 'md5'
    UNION ALL
    SELECT s.name, s.setting, 'medium',
           'changed in the configuration file but not in effect until the server restarts',
           '-- restart the server'
      FROM pg_settings s WHERE s.pending_restart
)
SELECT f.setting,
       CASE WHEN f.setting = 'pg_stat_statements' THEN 'not installed'
            WHEN s.name IS NOT NULL THEN current_setting(f.setting) END,
       f.suggested, f.severity, f.reason,
       coalesce(f.remedy,
                CASE WHEN s.context IN ('postmaster')
                     THEN format('ALTER SYSTEM SET %s = %L;  -- then restart the server', f.setting, f.suggested)
                     ELSE format('ALTER SYSTEM SET %s = %L; SELECT pg_reload_conf();', f.setting, f.suggested) END)
  FROM f
  LEFT JOIN pg_settings s ON s.name = f.setting
 ORDER BY array_position(ARRAY['high', 'medium', 'low'], f.severity), f.setting
$fn$;

COMMENT ON FUNCTION @extschema@.config_check(text) IS
'configuration findings: setting, current and suggested value, severity, why, and the SQL to change it (values as seen by this session)';

-- ---------------------------------------------------------------------
-- migration_status
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.migration_status(
    probe_timeout interval DEFAULT '2s',
    OUT tool text,
    OUT migration_table regclass,
    OUT status text,
    OUT migration text,
    OUT started_at timestamptz,
    OUT finished_at timestamptz,
    OUT detail text,
    OUT remedy text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    t record;
    cols text[];
    q text;
    tool_name text;
    probe record;
    acc jsonb := '[]';
    timeout_ms integer;
    holder record;
    prisma_locked boolean;
BEGIN
    IF probe_timeout IS NULL OR probe_timeout <= interval '0' THEN
        RAISE EXCEPTION 'probe_timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    timeout_ms := greatest(1, least(extract(epoch FROM probe_timeout) * 1000, 2147483647))::integer;

    -- prisma migrate holds advisory lock 72707369 (bigint form) while it runs
    prisma_locked := EXISTS (
        SELECT 1 FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 72707369
           AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()));

    FOR t IN
        SELECT c.oid::regclass AS tbl, c.relname::text AS relname
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p')
           AND c.relname IN ('_prisma_migrations', 'flyway_schema_history', 'schema_migrations',
                             'alembic_version', 'knex_migrations', 'knex_migrations_lock',
                             'django_migrations', 'databasechangelog', 'databasechangeloglock',
                             '_sqlx_migrations', 'goose_db_version')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\_toast%'
         ORDER BY c.relname, n.nspname
    LOOP
        SELECT array_agg(a.attname::text) INTO cols
          FROM pg_attribute a WHERE a.attrelid = t.tbl AND a.attnum > 0 AND NOT a.attisdropped;
        q := NULL;
        CASE t.relname
        WHEN '_prisma_migrations' THEN
            tool_name := 'prisma';
            q := format($q$
                SELECT CASE WHEN logs IS NOT NULL THEN 'failed' ELSE 'partial' END AS status,
                       migration_name::text AS migration, started_at::timestamptz AS started_at,
                       finished_at::timestamptz AS finished_at,
                       CASE WHEN logs IS NOT NULL THEN 'failed: ' || left(logs, 500)
                            WHEN %2$L::boolean THEN 'started, not finished: a prisma migrate holds its lock, so it is probably running now'
                            ELSE 'started and never finished, and no prisma migrate holds its lock: the process died part-way' END AS detail,
                       CASE WHEN logs IS NOT NULL
                            THEN 'fix the database, then: npx prisma migrate resolve --rolled-back ' || migration_name
                                 || '  (or --applied if you completed it by hand)'
                            WHEN %2$L::boolean THEN 'wait for it; if its session is stuck, see the locked row'
                            ELSE 'check what it applied, then: npx prisma migrate resolve --rolled-back ' || migration_name END AS remedy
                  FROM %1$s
                 WHERE finished_at IS NULL AND rolled_back_at IS NULL
                UNION ALL
                (SELECT 'last_applied', migration_name, started_at, finished_at,
                        applied_steps_count || ' step(s)', NULL
                   FROM %1$s WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL
                  ORDER BY finished_at DESC, started_at DESC LIMIT 1)$q$, t.tbl, prisma_locked);
        WHEN 'flyway_schema_history' THEN
            tool_name := 'flyway';
            q := format($q$
                SELECT 'failed' AS status,
                       concat_ws(' ', version, description) AS migration,
                       installed_on::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       format('installed_rank %%s, script %%s, by %%s', installed_rank, script, installed_by) AS detail,
                       'fix or revert what the script did, then: flyway repair' AS remedy
                  FROM %1$s WHERE NOT success
                UNION ALL
                (SELECT 'last_applied', concat_ws(' ', version, description), installed_on::timestamptz, NULL,
                        format('installed_rank %%s, script %%s, %%s ms', installed_rank, script, execution_time), NULL
                   FROM %1$s WHERE success
                  ORDER BY installed_rank DESC LIMIT 1)$q$, t.tbl);
        WHEN 'schema_migrations' THEN
            IF 'dirty' = ANY (cols) THEN
                tool_name := 'golang-migrate';
                q := format($q$
                    SELECT CASE WHEN dirty THEN 'dirty' ELSE 'last_applied' END AS status,
                           version::text AS migration, NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                           CASE WHEN dirty THEN 'migration ' || version || ' failed part-way: the schema is half changed and migrate refuses to run'
                                ELSE 'clean' END AS detail,
                           CASE WHEN dirty THEN 'repair the schema by hand, then: migrate force <last good version> (the one before ' || version || ')' END AS remedy
                      FROM %1$s$q$, t.tbl);
            ELSIF NOT 'version' = ANY (cols) THEN
                acc := acc || jsonb_build_object('tool', 'unknown', 'tbl', t.tbl::text, 'status', 'skipped',
                                                 'detail', 'schema_migrations without a version column: not a known tool''s layout');
                CONTINUE;
            ELSE
                tool_name := 'rails/activerecord';
                q := format($q$
                    SELECT 'last_applied' AS status, version::text AS migration,
                           NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                           (SELECT count(*) FROM %1$s) || ' migration(s) recorded' AS detail, NULL AS remedy
                      FROM %1$s ORDER BY length(version::text) DESC, version::text DESC LIMIT 1$q$, t.tbl);
            END IF;
        WHEN 'alembic_version' THEN
            tool_name := 'alembic';
            q := format($q$
                SELECT 'last_applied' AS status, version_num::text AS migration,
                       NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       CASE WHEN count(*) OVER () > 1 THEN 'one of ' || count(*) OVER () || ' heads (branches not merged)'
                            ELSE 'current revision' END AS detail, NULL AS remedy
                  FROM %1$s$q$, t.tbl);
        WHEN 'knex_migrations' THEN
            tool_name := 'knex';
            q := format($q$
                SELECT 'last_applied' AS status, name::text AS migration,
                       NULL::timestamptz AS started_at, migration_time::timestamptz AS finished_at,
                       'batch ' || batch AS detail, NULL AS remedy
                  FROM %1$s ORDER BY id DESC LIMIT 1$q$, t.tbl);
        WHEN 'knex_migrations_lock' THEN
            tool_name := 'knex';
            q := format($q$
                SELECT 'locked' AS status, NULL::text AS migration,
                       NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'knex_migrations_lock.is_locked = 1: a migration is running, or one died holding the lock' AS detail,
                       'if no knex migration is running: npx knex migrate:unlock' AS remedy
                  FROM %1$s WHERE is_locked <> 0$q$, t.tbl);
        WHEN 'django_migrations' THEN
            tool_name := 'django';
            q := format($q$
                SELECT 'last_applied' AS status, app || '.' || name AS migration,
                       NULL::timestamptz AS started_at, applied::timestamptz AS finished_at,
                       (SELECT count(*) FROM %1$s) || ' migration(s) recorded' AS detail, NULL AS remedy
                  FROM %1$s ORDER BY applied DESC, id DESC LIMIT 1$q$, t.tbl);
        WHEN 'databasechangelog' THEN
            tool_name := 'liquibase';
            q := format($q$
                SELECT 'failed' AS status, id || ' (' || author || ', ' || filename || ')' AS migration,
                       dateexecuted::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'exectype FAILED' AS detail,
                       'fix the changeset, then run liquibase update again' AS remedy
                  FROM %1$s WHERE exectype = 'FAILED'
                UNION ALL
                (SELECT 'last_applied', id || ' (' || author || ', ' || filename || ')', NULL, dateexecuted::timestamptz,
                        'exectype ' || exectype, NULL
                   FROM %1$s WHERE exectype <> 'FAILED' ORDER BY orderexecuted DESC, dateexecuted DESC LIMIT 1)$q$, t.tbl);
        WHEN 'databasechangeloglock' THEN
            tool_name := 'liquibase';
            q := format($q$
                SELECT 'locked' AS status, NULL::text AS migration,
                       lockgranted::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'change log lock held by ' || coalesce(lockedby, '?') || ': an update is running, or one died holding it' AS detail,
                       'if no liquibase runs: liquibase releaseLocks' AS remedy
                  FROM %1$s WHERE locked$q$, t.tbl);
        WHEN '_sqlx_migrations' THEN
            tool_name := 'sqlx';
            q := format($q$
                SELECT 'failed' AS status, version || ' ' || description AS migration,
                       installed_on::timestamptz AS started_at, NULL::timestamptz AS finished_at,
                       'success = false: the migration did not complete (sqlx calls this dirty)' AS detail,
                       'repair the schema, then delete this row and run sqlx migrate run again' AS remedy
                  FROM %1$s WHERE NOT success
                UNION ALL
                (SELECT 'last_applied', version || ' ' || description, NULL, installed_on::timestamptz,
                        execution_time / 1000000 || ' ms', NULL
                   FROM %1$s WHERE success ORDER BY version DESC LIMIT 1)$q$, t.tbl);
        WHEN 'goose_db_version' THEN
            tool_name := 'goose';
            q := format($q$
                SELECT 'last_applied' AS status, version_id::text AS migration,
                       NULL::timestamptz AS started_at, tstamp::timestamptz AS finished_at,
                       CASE WHEN is_applied THEN 'applied' ELSE 'rolled back' END AS detail, NULL AS remedy
                  FROM %1$s ORDER BY id DESC LIMIT 1$q$, t.tbl);
        END CASE;

        IF NOT has_table_privilege(t.tbl, 'SELECT') THEN
            acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'skipped',
                                             'detail', 'no SELECT privilege on ' || t.tbl);
            CONTINUE;
        END IF;
        BEGIN
            probe := @extschema@._bounded_query(q, ARRAY[t.tbl], timeout_ms);
        EXCEPTION WHEN undefined_column OR undefined_function OR datatype_mismatch
                       OR invalid_text_representation OR undefined_table THEN
            SELECT NULL::jsonb AS result,
                   'skipped: not the layout ' || tool_name || ' uses (' || SQLERRM || ')' AS outcome
              INTO probe;
        END;
        IF probe.result IS NULL THEN
            acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'skipped',
                                             'detail', probe.outcome);
        ELSIF jsonb_array_length(probe.result) = 0 THEN
            IF t.relname NOT IN ('knex_migrations_lock', 'databasechangeloglock') THEN
                acc := acc || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text, 'status', 'empty',
                                                 'detail', 'no migration applied yet');
            END IF;
        ELSE
            acc := acc || (SELECT jsonb_agg(e || jsonb_build_object('tool', tool_name, 'tbl', t.tbl::text))
                             FROM jsonb_array_elements(probe.result) e);
        END IF;
    END LOOP;

    -- prisma migrate holds advisory lock 72707369 while it runs
    IF prisma_locked AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = '_prisma_migrations' AND c.relkind IN ('r', 'p')) THEN
        FOR holder IN
            SELECT l.pid, a.application_name, a.xact_start, a.state
              FROM pg_locks l LEFT JOIN @extschema@.sessions a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 72707369
               AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        LOOP
            acc := acc || jsonb_build_object('tool', 'prisma', 'status', 'locked',
                'detail', format('prisma migrate lock (advisory 72707369) held by pid %s (%s, %s)',
                                 holder.pid, coalesce(holder.application_name, '?'), coalesce(holder.state, '?')),
                'remedy', 'a migration is running; if that session is stuck: SELECT pg_terminate_backend(' || holder.pid || ')');
        END LOOP;
    END IF;

    RETURN QUERY
        SELECT x.tool, x.tbl::regclass, x.status, x.migration, x.started_at, x.finished_at, x.detail, x.remedy
          FROM jsonb_to_recordset(acc) AS x(tool text, tbl text, status text, migration text,
                                             started_at timestamptz, finished_at timestamptz,
                                             detail text, remedy text)
         ORDER BY array_position(ARRAY['failed', 'dirty', 'partial', 'locked', 'skipped', 'empty', 'last_applied'], x.status),
                  x.tool, x.tbl, x.started_at NULLS LAST, x.migration;
END
$fn$;

COMMENT ON FUNCTION @extschema@.migration_status(interval) IS
'migration tables of Prisma, Flyway, Rails, golang-migrate, Alembic, Knex, Django, Liquibase, sqlx and goose in any schema: failed, partial, dirty, locked, and the last applied; zero rows when none is found';

-- ---------------------------------------------------------------------
-- privileges: read-only, SECURITY INVOKER, for pg_monitor
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION @extschema@._deadline_arm(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._deadline_disarm() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._server_memory() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._preloaded_libraries() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._bounded_query(text, regclass[], integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._fk_orphan_from(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.slow_queries(integer, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.replication_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.integrity_check(regclass[], interval, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._checkpoint_counts() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.config_check(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.migration_status(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._deadline_arm(integer) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._deadline_disarm() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._server_memory() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._preloaded_libraries() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._bounded_query(text, regclass[], integer) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._fk_orphan_from(oid) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.slow_queries(integer, text, bigint) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.replication_status() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.integrity_check(regclass[], interval, boolean, boolean) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._checkpoint_counts() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.config_check(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.migration_status(interval) TO pg_monitor;
-- ---------------------------------------------------------------------
-- Triage and reporting: triage() ranks what is wrong right now (SEV1 to
-- SEV4) with evidence and the SQL a DBA would run next; alerts is the
-- runbooks' alert list with configurable thresholds; metrics() is a
-- Prometheus text exposition; incident_report() a Markdown incident record.
--
-- All SECURITY INVOKER and read-only: they read the other runbook
-- functions, statistics views and catalogs, take no lock beyond
-- AccessShareLock on catalogs, and every optional piece (worker, audit
-- ring, pg_stat_statements, a check that fails for lack of privilege) is
-- caught and reported as a SEV4 row instead of failing the whole call.
-- ---------------------------------------------------------------------

-- ---------------------------------------------------------------------
-- alert_thresholds
-- ---------------------------------------------------------------------
CREATE TABLE @extschema@.alert_thresholds (
    name        text PRIMARY KEY,
    value       numeric NOT NULL,
    unit        text NOT NULL,
    description text NOT NULL,
    user_set    boolean NOT NULL DEFAULT true
);

COMMENT ON TABLE @extschema@.alert_thresholds IS
'thresholds of triage() and the alerts view; UPDATE value to change one (user_set then becomes true and pg_dump keeps the row)';

INSERT INTO @extschema@.alert_thresholds (name, value, unit, description, user_set) VALUES
 ('connections_sev1_pct',        95,         'percent', 'connections in use of the usable slots: SEV1 at or above', false),
 ('connections_sev2_pct',        80,         'percent', 'connections in use of the usable slots: SEV2 at or above; DatabaseHighConnections', false),
 ('connections_sev3_pct',        70,         'percent', 'connections in use of the usable slots: SEV3 at or above', false),
 ('lock_wait_seconds',           60,         'seconds', 'a session waiting on a lock this long is SEV2 (shorter: SEV3); DatabaseLockWaits', false),
 ('lock_waiters_sev1',           20,         'count',   'this many sessions waiting on locks at once is SEV1', false),
 ('idle_xact_seconds',           600,        'seconds', 'idle in transaction this long without blocking anyone: SEV3', false),
 ('long_query_seconds',          300,        'seconds', 'a statement running this long: SEV3; DatabaseLongTransaction uses it for transactions', false),
 ('long_query_sev2_seconds',     3600,       'seconds', 'a statement running this long: SEV2', false),
 ('xmin_age_xids',               10000000,   'xids',    'a session, prepared transaction or slot holding the xmin horizon back by this many transactions: SEV3', false),
 ('xmin_age_sev2_xids',          100000000,  'xids',    'the same, SEV2', false),
 ('prepared_xact_seconds',       300,        'seconds', 'a prepared transaction older than this: SEV2', false),
 ('wraparound_sev1_pct',         90,         'percent', 'age(datfrozenxid) or mxid_age(datminmxid) as a share of 2^31: SEV1 at or above', false),
 ('wraparound_sev2_pct',         50,         'percent', 'the same, SEV2 at or above; DatabaseWraparoundRisk', false),
 ('replication_lag_bytes',       104857600,  'bytes',   'a replica replaying this far behind: SEV3; DatabaseReplicationLag', false),
 ('replication_lag_sev2_bytes',  1073741824, 'bytes',   'the same, SEV2', false),
 ('slot_retained_bytes',         1073741824, 'bytes',   'an inactive replication slot retaining this much WAL: SEV2', false),
 ('dead_tuples_pct',             20,         'percent', 'n_dead_tup of n_live_tup + n_dead_tup: DatabaseHighDeadTuples and SEV3 at or above', false),
 ('dead_tuples_min',             10000,      'count',   'ignore tables with fewer dead tuples than this', false),
 ('slow_query_mean_ms',          1000,       'ms',      'pg_stat_statements mean time per call: DatabaseSlowQueries and SEV3 at or above', false),
 ('slow_query_min_calls',        10,         'count',   'ignore statements called fewer times than this', false);

-- A user change marks the row user_set; pg_dump keeps only those rows, and
-- on restore the INSERT of a row CREATE EXTENSION already made becomes an
-- UPDATE of it (no duplicate key error).
CREATE FUNCTION @extschema@._alert_thresholds_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.value IS DISTINCT FROM OLD.value OR NEW.unit IS DISTINCT FROM OLD.unit
           OR NEW.description IS DISTINCT FROM OLD.description THEN
            NEW.user_set := true;
        END IF;
        RETURN NEW;
    END IF;
    -- INSERT
    IF NEW.value IS NULL OR NEW.value < 0 THEN
        RAISE EXCEPTION 'threshold % must be a non-negative number', NEW.name
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE @extschema@.alert_thresholds t
       SET value = NEW.value, unit = NEW.unit, description = NEW.description, user_set = NEW.user_set
     WHERE t.name = NEW.name;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER alert_thresholds_write
BEFORE INSERT OR UPDATE ON @extschema@.alert_thresholds
FOR EACH ROW EXECUTE FUNCTION @extschema@._alert_thresholds_write();

SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert_thresholds', 'WHERE user_set');

-- Threshold by name (a missing row falls back to the shipped default).
CREATE FUNCTION @extschema@._threshold(threshold_name text)
RETURNS numeric
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        (SELECT value FROM @extschema@.alert_thresholds WHERE name = threshold_name),
        CASE threshold_name
            WHEN 'connections_sev1_pct' THEN 95 WHEN 'connections_sev2_pct' THEN 80
            WHEN 'connections_sev3_pct' THEN 70 WHEN 'lock_wait_seconds' THEN 60
            WHEN 'lock_waiters_sev1' THEN 20 WHEN 'idle_xact_seconds' THEN 600
            WHEN 'long_query_seconds' THEN 300 WHEN 'long_query_sev2_seconds' THEN 3600
            WHEN 'xmin_age_xids' THEN 10000000 WHEN 'xmin_age_sev2_xids' THEN 100000000
            WHEN 'prepared_xact_seconds' THEN 300 WHEN 'wraparound_sev1_pct' THEN 90
            WHEN 'wraparound_sev2_pct' THEN 50 WHEN 'replication_lag_bytes' THEN 104857600
            WHEN 'replication_lag_sev2_bytes' THEN 1073741824 WHEN 'slot_retained_bytes' THEN 1073741824
            WHEN 'dead_tuples_pct' THEN 20 WHEN 'dead_tuples_min' THEN 10000
            WHEN 'slow_query_mean_ms' THEN 1000 WHEN 'slow_query_min_calls' THEN 10
        END)
$$;

COMMENT ON FUNCTION @extschema@._threshold(text) IS
'internal: the value of one alert threshold (the shipped default if its row is gone)';

-- Whether pg_runbook's shared memory exists (loaded by shared_preload_libraries).
CREATE FUNCTION @extschema@._is_preloaded()
RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT 'pg_runbook' = ANY (@extschema@._preloaded_libraries()) $$;

COMMENT ON FUNCTION @extschema@._is_preloaded() IS
'internal: pg_runbook is in shared_preload_libraries (worker and audit ring exist)';

-- Seconds of an interval, NULL-safe, rounded for evidence.
CREATE FUNCTION @extschema@._secs(i interval)
RETURNS numeric
LANGUAGE sql IMMUTABLE
AS $$ SELECT round(extract(epoch FROM i), 1) $$;

-- ---------------------------------------------------------------------
-- triage
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._triage_rows(
    OUT severity text,
    OUT check_name text,
    OUT finding text,
    OUT evidence jsonb,
    OUT action text,
    OUT remedy_sql text,
    OUT ord integer)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    sess    @extschema@.sessions[];
    waits   jsonb;
    roots   integer[];
    c       record;
    r       record;
    n       integer := 0;
    t_lock  numeric := @extschema@._threshold('lock_wait_seconds');
    t_xmin  numeric := @extschema@._threshold('xmin_age_xids');
    t_xmin2 numeric := @extschema@._threshold('xmin_age_sev2_xids');
    errmsg  text;
    errhint text;
    errcode text;
    chk     text;
BEGIN
    -- One snapshot of every backend, shared by the checks below, and the
    -- lock waits: pid -> seconds waited for the lock (not the statement),
    -- and the root blockers of the wait queues.
    sess := ARRAY(SELECT s FROM @extschema@.sessions s);
    SELECT coalesce(jsonb_object_agg(b.pid, round(extract(epoch FROM b.wait_age), 1)), '{}'),
           array_agg(DISTINCT b.root_blocker ORDER BY b.root_blocker) FILTER (WHERE b.root_blocker IS NOT NULL)
      INTO waits, roots
      FROM @extschema@.blocking_locks() b;

    -- connections ------------------------------------------------------
    chk := 'connections';
    BEGIN
        SELECT * INTO c FROM @extschema@.connections();
        IF c.pct_used >= @extschema@._threshold('connections_sev3_pct') THEN
            severity := CASE WHEN c.pct_used >= @extschema@._threshold('connections_sev1_pct') THEN 'SEV1'
                             WHEN c.pct_used >= @extschema@._threshold('connections_sev2_pct') THEN 'SEV2'
                             ELSE 'SEV3' END;
            check_name := chk;
            finding := format('%s%% of connection slots in use (%s of %s usable; %s idle, %s idle in transaction)',
                              c.pct_used, c.in_use, c.usable, c.idle, c.idle_in_transaction);
            evidence := jsonb_build_object('pct_used', c.pct_used, 'in_use', c.in_use, 'usable', c.usable,
                            'max_connections', c.max_connections, 'active', c.active, 'idle', c.idle,
                            'idle_in_transaction', c.idle_in_transaction, 'available', c.available,
                            'top_sources', (SELECT jsonb_agg(to_jsonb(cs)) FROM
                                (SELECT * FROM @extschema@.connection_sources LIMIT 5) cs));
            action := 'find the source (connection_sources), end idle sessions, put a pooler in front';
            remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.kill_idle(''30 min'', dry_run => true);';
            n := n + 1; ord := n; RETURN NEXT;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- idle in transaction sessions holding locks others wait on ---------
    chk := 'idle_in_transaction_blocking';
    FOR r IN
        SELECT b.pid, b.usename, b.datname, b.application_name, b.state, b.xact_age, b.state_age,
               array_agg(w.pid ORDER BY w.pid) AS waiters,
               max(coalesce((waits->>w.pid::text)::numeric, @extschema@._secs(w.query_age))) AS max_wait
          FROM unnest(sess) b
          JOIN unnest(sess) w ON b.pid = ANY (w.blocked_by)
         WHERE b.state LIKE 'idle in transaction%'
         GROUP BY b.pid, b.usename, b.datname, b.application_name, b.state, b.xact_age, b.state_age
         ORDER BY 9 DESC NULLS LAST, b.pid
    LOOP
        severity := CASE WHEN r.max_wait >= t_lock THEN 'SEV2' ELSE 'SEV3' END;
        check_name := chk;
        finding := format('pid %s (%s, %s) is %s for %s and blocks %s session(s), the longest waiting %s s',
                          r.pid, r.usename, r.application_name, r.state, date_trunc('second', r.state_age),
                          cardinality(r.waiters), r.max_wait);
        evidence := jsonb_build_object('pid', r.pid, 'usename', r.usename, 'datname', r.datname,
                        'application_name', r.application_name, 'state', r.state,
                        'xact_age_s', @extschema@._secs(r.xact_age), 'state_age_s', @extschema@._secs(r.state_age),
                        'blocked_pids', to_jsonb(r.waiters), 'max_wait_s', r.max_wait);
        action := 'end the idle transaction (the application forgot COMMIT/ROLLBACK); set idle_in_transaction_session_timeout';
        -- through the remedy path (re-check, safety rules, audit), not a bare pg_terminate_backend
        remedy_sql := format('SELECT * FROM %s.terminate_blockers(%L);  -- dry run: pid %s is the root; then dry_run => false',
                             '@extschema@', (floor(r.max_wait) || ' s'), r.pid);
        n := n + 1; ord := n; RETURN NEXT;
    END LOOP;

    -- lock waits ---------------------------------------------------------
    chk := 'lock_waits';
    SELECT count(*) AS waiters,
           max(w.wait_s) AS max_wait,
           jsonb_agg(jsonb_build_object('pid', w.pid, 'blocked_by', to_jsonb(w.blocked_by),
                                        'wait_event', w.wait_event, 'wait_s', w.wait_s,
                                        'query', left(w.query, 200))
                     ORDER BY w.wait_s DESC NULLS LAST, w.pid) AS waits,
           (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(sess) w2, unnest(w2.blocked_by) x
             WHERE w2.wait_event_type = 'Lock') AS blockers
      INTO r
      FROM (SELECT s.*, coalesce((waits->>s.pid::text)::numeric, @extschema@._secs(s.query_age)) AS wait_s
              FROM unnest(sess) s WHERE s.wait_event_type = 'Lock') w;
    IF r.waiters > 0 THEN
        severity := CASE WHEN r.waiters >= @extschema@._threshold('lock_waiters_sev1') THEN 'SEV1'
                         WHEN r.max_wait >= t_lock THEN 'SEV2'
                         ELSE 'SEV3' END;
        check_name := chk;
        finding := format('%s session(s) waiting on locks, the longest for %s s; blocked by pid(s) %s; root blocker(s) %s',
                          r.waiters, r.max_wait, array_to_string(r.blockers, ', '),
                          coalesce(array_to_string(roots, ', '), 'unknown'));
        evidence := jsonb_build_object('waiters', r.waiters, 'max_wait_s', r.max_wait,
                                       'blockers', to_jsonb(coalesce(r.blockers, '{}')),
                                       'root_blockers', to_jsonb(coalesce(roots, '{}')), 'waits', r.waits);
        action := 'read the lock tree; cancel or terminate the root blocker if it is stuck';
        remedy_sql := format('SELECT * FROM %s.lock_tree();  -- then: SELECT * FROM %s.terminate_blockers(%L, dry_run => true);',
                             '@extschema@', '@extschema@', (floor(r.max_wait) || ' s'));
        n := n + 1; ord := n; RETURN NEXT;
    END IF;

    -- long-running statements ------------------------------------------
    chk := 'long_running';
    SELECT count(*) AS cnt, max(s.query_age) AS max_age,
           jsonb_agg(jsonb_build_object('pid', s.pid, 'usename', s.usename, 'datname', s.datname,
                                        'query_age_s', @extschema@._secs(s.query_age),
                                        'query', left(s.query, 200))
                     ORDER BY s.query_age DESC) AS list
      INTO r
      FROM unnest(sess) s
     WHERE s.state = 'active' AND s.backend_type = 'client backend' AND s.pid <> pg_backend_pid()
       AND extract(epoch FROM s.query_age) >= @extschema@._threshold('long_query_seconds');
    IF r.cnt > 0 THEN
        severity := CASE WHEN extract(epoch FROM r.max_age) >= @extschema@._threshold('long_query_sev2_seconds')
                         THEN 'SEV2' ELSE 'SEV3' END;
        check_name := chk;
        finding := format('%s statement(s) running longer than %s s, the longest for %s',
                          r.cnt, @extschema@._threshold('long_query_seconds'), date_trunc('second', r.max_age));
        evidence := jsonb_build_object('count', r.cnt, 'max_age_s', @extschema@._secs(r.max_age), 'statements', r.list);
        action := 'check the plans (EXPLAIN) and whether they can be cancelled';
        remedy_sql := format('SELECT * FROM %s.cancel_long(%L, dry_run => true);', '@extschema@',
                             (@extschema@._threshold('long_query_seconds') || ' s'));
        n := n + 1; ord := n; RETURN NEXT;
    END IF;

    -- idle in transaction (not blocking) --------------------------------
    chk := 'idle_in_transaction';
    SELECT count(*) AS cnt, max(s.state_age) AS max_age, array_agg(s.pid ORDER BY s.state_age DESC) AS pids
      INTO r
      FROM unnest(sess) s
     WHERE s.state LIKE 'idle in transaction%'
       AND NOT EXISTS (SELECT 1 FROM unnest(sess) w WHERE s.pid = ANY (w.blocked_by))
       AND extract(epoch FROM s.state_age) >= @extschema@._threshold('idle_xact_seconds');
    IF r.cnt > 0 THEN
        severity := 'SEV3'; check_name := chk;
        finding := format('%s session(s) idle in transaction for more than %s s (longest %s)',
                          r.cnt, @extschema@._threshold('idle_xact_seconds'), date_trunc('second', r.max_age));
        evidence := jsonb_build_object('count', r.cnt, 'pids', to_jsonb(r.pids), 'max_age_s', @extschema@._secs(r.max_age));
        action := 'they hold snapshots and locks; fix the application, set idle_in_transaction_session_timeout';
        remedy_sql := format('SELECT * FROM %s.kill_idle(%L, states => ''{idle in transaction}'', dry_run => true);',
                             '@extschema@', @extschema@._threshold('idle_xact_seconds') || ' s');
        n := n + 1; ord := n; RETURN NEXT;
    END IF;

    -- xmin horizon: sessions ---------------------------------------------
    chk := 'xmin_horizon';
    FOR r IN
        SELECT s.pid, s.usename, s.datname, s.state, s.xact_age,
               greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0)) AS age
          FROM unnest(sess) s
         WHERE greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0)) >= t_xmin
         ORDER BY 6 DESC
    LOOP
        severity := CASE WHEN r.age >= t_xmin2 THEN 'SEV2' ELSE 'SEV3' END;
        check_name := chk;
        finding := format('pid %s (%s) holds the xmin horizon back by %s transactions: vacuum cannot remove dead rows',
                          r.pid, r.state, r.age);
        evidence := jsonb_build_object('source', 'session', 'pid', r.pid, 'usename', r.usename, 'datname', r.datname,
                                       'state', r.state, 'xmin_age', r.age, 'xact_age_s', @extschema@._secs(r.xact_age));
        action := 'end the transaction';
        remedy_sql := format('SELECT * FROM %s.kill_idle(%L, states => ''{idle in transaction,idle in transaction (aborted)}'', dry_run => true);  -- ends pid %s among others; or SELECT pg_terminate_backend(%s) (not audited)',
                             '@extschema@', date_trunc('second', coalesce(r.xact_age, '0'))::text, r.pid, r.pid);
        n := n + 1; ord := n; RETURN NEXT;
    END LOOP;

    -- xmin horizon: prepared transactions -----------------------------------
    chk := 'prepared_transactions';
    BEGIN
        FOR r IN
            SELECT p.gid, p.owner, p.database, p.prepared, now() - p.prepared AS age, age(p.transaction) AS xid_age
              FROM pg_prepared_xacts p
             ORDER BY p.prepared
        LOOP
            severity := CASE WHEN extract(epoch FROM r.age) >= @extschema@._threshold('prepared_xact_seconds')
                               OR r.xid_age >= t_xmin2 THEN 'SEV2' ELSE 'SEV3' END;
            check_name := chk;
            finding := format('prepared transaction %L (database %s) open for %s: it holds its locks and the xmin horizon',
                              r.gid, r.database, date_trunc('second', r.age));
            evidence := jsonb_build_object('source', 'prepared', 'gid', r.gid, 'owner', r.owner, 'datname', r.database,
                                           'age_s', @extschema@._secs(r.age), 'xid_age', r.xid_age);
            action := 'ask the transaction manager to finish it; if it is orphaned, commit or roll it back by hand';
            remedy_sql := format('ROLLBACK PREPARED %L;  -- in database %s, or COMMIT PREPARED', r.gid, r.database);
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- xmin horizon: replication slots --------------------------------------
    chk := 'replication_slots_xmin';
    BEGIN
        FOR r IN
            SELECT sl.slot_name, sl.slot_type, sl.active,
                   greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0)) AS age
              FROM pg_replication_slots sl
             WHERE greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0)) >= t_xmin
             ORDER BY 4 DESC
        LOOP
            severity := CASE WHEN r.age >= t_xmin2 OR NOT r.active THEN 'SEV2' ELSE 'SEV3' END;
            check_name := chk;
            finding := format('%s slot %s (%s) holds the xmin horizon back by %s transactions',
                              r.slot_type, r.slot_name, CASE WHEN r.active THEN 'active' ELSE 'inactive' END, r.age);
            evidence := jsonb_build_object('source', 'slot', 'slot_name', r.slot_name, 'slot_type', r.slot_type,
                                           'active', r.active, 'xmin_age', r.age);
            action := 'make its consumer catch up, or drop the slot if the consumer is gone';
            remedy_sql := format('SELECT pg_drop_replication_slot(%L);', r.slot_name);
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- wraparound -------------------------------------------------------------
    chk := 'wraparound';
    FOR r IN
        SELECT d.datname, age(d.datfrozenxid) AS xid_age, mxid_age(d.datminmxid) AS mxid_age,
               round(100.0 * greatest(age(d.datfrozenxid), mxid_age(d.datminmxid)) / 2147483648, 1) AS pct,
               current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max,
               current_setting('autovacuum_multixact_freeze_max_age')::bigint AS mxid_freeze_max
          FROM pg_database d
         ORDER BY 4 DESC
    LOOP
        IF r.pct >= @extschema@._threshold('wraparound_sev2_pct')
           OR r.xid_age > r.freeze_max * 1.2 OR r.mxid_age > r.mxid_freeze_max * 1.2 THEN
            severity := CASE WHEN r.pct >= @extschema@._threshold('wraparound_sev1_pct') THEN 'SEV1'
                             WHEN r.pct >= @extschema@._threshold('wraparound_sev2_pct') THEN 'SEV2'
                             ELSE 'SEV3' END;
            check_name := chk;
            finding := format('database %s: xid age %s, multixact age %s (%s%% of the 2^31 hard limit; autovacuum_freeze_max_age %s)',
                              r.datname, r.xid_age, r.mxid_age, r.pct, r.freeze_max);
            evidence := jsonb_build_object('datname', r.datname, 'xid_age', r.xid_age, 'mxid_age', r.mxid_age,
                                           'pct_of_limit', r.pct, 'autovacuum_freeze_max_age', r.freeze_max,
                                           'autovacuum_multixact_freeze_max_age', r.mxid_freeze_max);
            action := 'find what holds the xmin horizon (see xmin_horizon rows), then VACUUM (FREEZE) the oldest tables of that database';
            remedy_sql := format('-- in database %s: SELECT c.oid::regclass, age(c.relfrozenxid) FROM pg_class c WHERE c.relkind IN (''r'', ''m'', ''t'') ORDER BY 2 DESC LIMIT 10; then VACUUM (FREEZE, VERBOSE) <table>;',
                                 quote_ident(r.datname));
            n := n + 1; ord := n; RETURN NEXT;
        END IF;
    END LOOP;

    -- replication --------------------------------------------------------------
    chk := 'replication';
    BEGIN
        FOR r IN SELECT * FROM @extschema@.replication_status() LOOP
            severity := NULL;
            IF r.kind = 'replica' AND r.replay_lag_bytes >= @extschema@._threshold('replication_lag_bytes') THEN
                severity := CASE WHEN r.replay_lag_bytes >= @extschema@._threshold('replication_lag_sev2_bytes') THEN 'SEV2' ELSE 'SEV3' END;
                finding := format('replica %s replays %s behind (%s)', r.name,
                                  pg_size_pretty(r.replay_lag_bytes), coalesce(r.replay_lag::text, 'time lag unknown'));
                action := 'check the replica''s load, network and hot_standby_feedback conflicts';
                remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.replication_status();';
            ELSIF r.kind = 'slot' AND r.wal_status IN ('lost', 'unreserved') THEN
                severity := 'SEV2';
                finding := format('slot %s: wal_status %s', r.name, r.wal_status);
                action := 'the consumer has fallen too far behind: rebuild it, drop the slot';
                remedy_sql := format('SELECT pg_drop_replication_slot(%L);', r.name);
            ELSIF r.kind = 'slot' AND NOT r.active AND r.retained_bytes >= @extschema@._threshold('slot_retained_bytes') THEN
                severity := 'SEV2';
                finding := format('inactive slot %s retains %s of WAL', r.name, pg_size_pretty(r.retained_bytes));
                action := 'restart its consumer or drop the slot before pg_wal fills the disk';
                remedy_sql := format('SELECT pg_drop_replication_slot(%L);', r.name);
            ELSIF r.kind = 'archiver' AND r.state = 'failing' THEN
                severity := 'SEV2';
                finding := format('WAL archiving fails (%s failures, last %s at %s); %s file(s) waiting',
                                  r.failed_count, r.last_failed_wal, date_trunc('second', r.last_failure), coalesce(r.files_waiting::text, 'unknown'));
                action := 'fix archive_command (see the server log): WAL piles up in pg_wal';
                remedy_sql := 'SELECT * FROM pg_stat_archiver;';
            ELSIF r.kind = 'receiver' AND r.state = 'not running' THEN
                severity := 'SEV2';
                finding := 'standby: WAL receiver not running';
                action := 'check primary_conninfo and the primary; see the server log';
                remedy_sql := 'SELECT * FROM pg_stat_wal_receiver;';
            END IF;
            IF severity IS NOT NULL THEN
                check_name := chk;
                evidence := jsonb_strip_nulls(jsonb_build_object('kind', r.kind, 'name', r.name, 'state', r.state,
                                'pid', r.pid, 'replay_lag_bytes', r.replay_lag_bytes, 'replay_lag_s', @extschema@._secs(r.replay_lag),
                                'retained_bytes', r.retained_bytes, 'wal_status', r.wal_status,
                                'failed_count', r.failed_count, 'files_waiting', r.files_waiting, 'detail', r.detail));
                n := n + 1; ord := n; RETURN NEXT;
            END IF;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- worker ---------------------------------------------------------------------
    chk := 'worker';
    IF NOT @extschema@._is_preloaded() THEN
        severity := 'SEV4'; check_name := chk;
        finding := 'pg_runbook is not in shared_preload_libraries: no background worker, no audit ring';
        evidence := jsonb_build_object('shared_preload_libraries', current_setting('shared_preload_libraries'));
        action := 'add pg_runbook to shared_preload_libraries and restart to enable policies';
        remedy_sql := 'ALTER SYSTEM SET shared_preload_libraries = ''pg_runbook'';  -- keep the libraries already listed; then restart';
        n := n + 1; ord := n; RETURN NEXT;
    ELSE
        BEGIN
            SELECT * INTO r FROM @extschema@.worker_status();
            evidence := jsonb_build_object('running', r.running, 'paused', r.paused, 'pid', r.pid, 'cycles', r.cycles,
                            'actions', r.actions, 'last_error', r.last_error, 'last_error_at', r.last_error_at);
            IF NOT r.running THEN
                severity := 'SEV2'; check_name := chk;
                finding := 'pg_runbook worker is not running: policies are not enforced';
                action := 'see the server log for why it exited (database ' || current_setting('pg_runbook.database', true) || ')';
                remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.worker_status();';
                n := n + 1; ord := n; RETURN NEXT;
            ELSIF r.paused THEN
                severity := 'SEV3'; check_name := chk;
                finding := 'pg_runbook worker is paused: policies are not enforced';
                action := 'resume it when the maintenance that paused it is over';
                remedy_sql := 'SELECT ' || '@extschema@' || '.resume_worker();';
                n := n + 1; ord := n; RETURN NEXT;
            END IF;
            IF r.last_error IS NOT NULL THEN
                -- the worker keeps its last error after later cycles succeed:
                -- only a recent one is a finding that needs work
                severity := CASE WHEN r.last_error_at > now() - interval '1 hour' THEN 'SEV3' ELSE 'SEV4' END;
                check_name := chk;
                finding := format('pg_runbook worker error at %s: %s', date_trunc('second', r.last_error_at), r.last_error);
                action := 'fix the cause (policy, privileges) shown in the error';
                remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.worker_status();';
                n := n + 1; ord := n; RETURN NEXT;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
            severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
            evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
            action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
            n := n + 1; ord := n; RETURN NEXT;
        END;
    END IF;

    -- configuration --------------------------------------------------------------
    chk := 'config';
    BEGIN
        FOR r IN SELECT * FROM @extschema@.config_check() WHERE config_check.severity = 'high' LOOP
            severity := 'SEV3'; check_name := chk;
            finding := format('%s = %s: %s', r.setting, r.current_value, r.reason);
            evidence := jsonb_build_object('setting', r.setting, 'current_value', r.current_value,
                                           'suggested_value', r.suggested_value, 'config_severity', r.severity);
            action := 'change the setting';
            remedy_sql := r.remedy_sql;
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- migrations -----------------------------------------------------------------
    chk := 'migrations';
    BEGIN
        FOR r IN SELECT * FROM @extschema@.migration_status('200ms')
                  WHERE status IN ('failed', 'dirty', 'partial', 'locked') LOOP
            severity := CASE WHEN r.status = 'locked' THEN 'SEV3' ELSE 'SEV2' END;
            check_name := chk;
            finding := format('%s migration %s in %s: %s', r.tool, coalesce(r.migration, ''), r.migration_table, r.status);
            evidence := jsonb_strip_nulls(jsonb_build_object('tool', r.tool, 'migration_table', r.migration_table::text,
                            'status', r.status, 'migration', r.migration, 'started_at', r.started_at, 'detail', r.detail));
            action := coalesce(r.detail, 'repair the migration, then rerun the tool');
            remedy_sql := r.remedy;
            n := n + 1; ord := n; RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'grant pg_monitor to the caller'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    -- dead tuples (this database) ----------------------------------------------------
    chk := 'dead_tuples';
    SELECT count(*) AS cnt,
           jsonb_agg(jsonb_build_object('relation', x.rel, 'n_dead_tup', x.n_dead_tup, 'dead_pct', x.pct,
                                        'last_autovacuum', x.last_autovacuum) ORDER BY x.n_dead_tup DESC)
               FILTER (WHERE x.rn <= 5) AS top,
           (array_agg(x.rel ORDER BY x.n_dead_tup DESC))[1] AS worst
      INTO r
      FROM (SELECT format('%I.%I', t.schemaname, t.relname) AS rel, t.n_dead_tup, t.last_autovacuum,
                   round(100.0 * t.n_dead_tup / nullif(t.n_live_tup + t.n_dead_tup, 0), 1) AS pct,
                   row_number() OVER (ORDER BY t.n_dead_tup DESC) AS rn
              FROM pg_stat_user_tables t
             WHERE t.n_dead_tup >= @extschema@._threshold('dead_tuples_min')
               AND 100.0 * t.n_dead_tup / nullif(t.n_live_tup + t.n_dead_tup, 0) >= @extschema@._threshold('dead_tuples_pct')) x;
    IF r.cnt > 0 THEN
        severity := 'SEV3'; check_name := chk;
        finding := format('%s table(s) in %s with at least %s%% dead tuples', r.cnt, current_database(),
                          @extschema@._threshold('dead_tuples_pct'));
        evidence := jsonb_build_object('datname', current_database(), 'count', r.cnt, 'tables', r.top);
        action := 'check that autovacuum keeps up and nothing holds the xmin horizon; vacuum the worst tables';
        remedy_sql := format('VACUUM (VERBOSE, ANALYZE) %s;', r.worst);
        n := n + 1; ord := n; RETURN NEXT;
    END IF;

    -- slow queries (optional: pg_stat_statements) ----------------------------------
    chk := 'slow_queries';
    BEGIN
        SELECT count(*) AS cnt, max(q.mean_ms) AS worst,
               jsonb_agg(jsonb_build_object('queryid', q.queryid, 'mean_ms', q.mean_ms, 'calls', q.calls,
                                            'query', left(q.query, 200)) ORDER BY q.mean_ms DESC) AS list
          INTO r
          FROM @extschema@.slow_queries(5, 'mean', @extschema@._threshold('slow_query_min_calls')::bigint) q
         WHERE q.mean_ms >= @extschema@._threshold('slow_query_mean_ms');
        IF r.cnt > 0 THEN
            severity := 'SEV3'; check_name := chk;
            finding := format('%s statement(s) average at least %s ms per call (worst %s ms)', r.cnt,
                              @extschema@._threshold('slow_query_mean_ms'), r.worst);
            evidence := jsonb_build_object('count', r.cnt, 'statements', r.list);
            action := 'EXPLAIN (ANALYZE, BUFFERS) the worst, look for missing indexes';
            remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.slow_queries(10);';
            n := n + 1; ord := n; RETURN NEXT;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS errmsg = MESSAGE_TEXT, errhint = PG_EXCEPTION_HINT, errcode = RETURNED_SQLSTATE;
        severity := 'SEV4'; check_name := chk; finding := 'check not run: ' || errmsg;
        evidence := jsonb_build_object('sqlstate', errcode, 'hint', nullif(errhint, ''));
        action := coalesce(nullif(errhint, ''), 'install pg_stat_statements'); remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END;

    IF n = 0 THEN
        severity := 'SEV4'; check_name := 'summary';
        finding := 'no problem found';
        evidence := jsonb_build_object('checked_at', now());
        action := 'none'; remedy_sql := NULL;
        n := n + 1; ord := n; RETURN NEXT;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_rows() IS
'internal: the findings of triage(), in check order';

CREATE FUNCTION @extschema@.triage(
    OUT severity text,
    OUT check_name text,
    OUT finding text,
    OUT evidence jsonb,
    OUT action text,
    OUT remedy_sql text)
RETURNS SETOF record
LANGUAGE sql VOLATILE
AS $$
    SELECT t.severity, t.check_name, t.finding, t.evidence, t.action, t.remedy_sql
      FROM @extschema@._triage_rows() t
     ORDER BY t.severity, t.check_name, t.ord
$$;

COMMENT ON FUNCTION @extschema@.triage() IS
'what is wrong now, SEV1 (act now) to SEV4 (information), with evidence and the SQL to run next; thresholds in alert_thresholds';

-- ---------------------------------------------------------------------
-- alerts
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._alert_rows(
    OUT alert text,
    OUT firing boolean,
    OUT value numeric,
    OUT threshold numeric,
    OUT unit text,
    OUT summary text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    sess @extschema@.sessions[];
    r    record;
    v    numeric;
    t    numeric;
BEGIN
    sess := ARRAY(SELECT s FROM @extschema@.sessions s);

    alert := 'DatabaseHighConnections'; unit := 'percent';
    t := @extschema@._threshold('connections_sev2_pct');
    SELECT * INTO r FROM @extschema@.connections();
    value := r.pct_used; threshold := t; firing := value >= t;
    summary := format('%s of %s usable connections in use', r.in_use, r.usable);
    RETURN NEXT;

    alert := 'DatabaseLockWaits'; unit := 'seconds';
    t := @extschema@._threshold('lock_wait_seconds');
    SELECT count(*) AS cnt, max(extract(epoch FROM b.wait_age)) AS mx INTO r
      FROM @extschema@.blocking_locks() b;
    value := round(coalesce(r.mx, 0), 1); threshold := t; firing := r.cnt > 0 AND value >= t;
    summary := format('%s session(s) waiting on locks', r.cnt);
    RETURN NEXT;

    alert := 'DatabaseLongTransaction'; unit := 'seconds';
    t := @extschema@._threshold('long_query_seconds');
    SELECT max(extract(epoch FROM s.xact_age)) AS mx, count(*) FILTER (WHERE extract(epoch FROM s.xact_age) >= t) AS cnt INTO r
      FROM unnest(sess) s WHERE s.backend_type = 'client backend' AND s.pid <> pg_backend_pid();
    value := round(coalesce(r.mx, 0), 1); threshold := t; firing := value >= t;
    summary := format('%s transaction(s) open longer than %s s', r.cnt, t);
    RETURN NEXT;

    alert := 'DatabaseIdleInTransaction'; unit := 'seconds';
    t := @extschema@._threshold('idle_xact_seconds');
    SELECT max(extract(epoch FROM s.state_age)) AS mx, count(*) AS cnt INTO r
      FROM unnest(sess) s WHERE s.state LIKE 'idle in transaction%';
    value := round(coalesce(r.mx, 0), 1); threshold := t; firing := value >= t;
    summary := format('%s session(s) idle in transaction', r.cnt);
    RETURN NEXT;

    alert := 'DatabaseSlowQueries'; unit := 'ms';
    t := @extschema@._threshold('slow_query_mean_ms'); threshold := t;
    BEGIN
        SELECT max(q.mean_ms) AS mx, count(*) FILTER (WHERE q.mean_ms >= t) AS cnt INTO r
          FROM @extschema@.slow_queries(50, 'mean', @extschema@._threshold('slow_query_min_calls')::bigint) q;
        value := coalesce(r.mx, 0); firing := value >= t;
        summary := format('%s statement(s) with a mean time of at least %s ms', r.cnt, t);
    EXCEPTION WHEN OTHERS THEN
        value := NULL; firing := false;
        summary := 'unavailable: ' || SQLERRM;
    END;
    RETURN NEXT;

    alert := 'DatabaseHighDeadTuples'; unit := 'percent';
    t := @extschema@._threshold('dead_tuples_pct'); threshold := t;
    SELECT max(100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0)) AS mx,
           count(*) FILTER (WHERE 100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0) >= t) AS cnt INTO r
      FROM pg_stat_user_tables WHERE n_dead_tup >= @extschema@._threshold('dead_tuples_min');
    value := round(coalesce(r.mx, 0), 1); firing := value >= t;
    summary := format('%s table(s) in %s with at least %s%% dead tuples', r.cnt, current_database(), t);
    RETURN NEXT;

    alert := 'DatabaseReplicationLag'; unit := 'bytes';
    t := @extschema@._threshold('replication_lag_bytes'); threshold := t;
    BEGIN
        SELECT max(rs.replay_lag_bytes) AS mx, count(*) AS cnt INTO r
          FROM @extschema@.replication_status() rs WHERE rs.kind = 'replica';
        value := coalesce(r.mx, 0); firing := value >= t;
        summary := format('%s replica(s); the furthest behind by %s', r.cnt, pg_size_pretty(value));
    EXCEPTION WHEN OTHERS THEN
        value := NULL; firing := false; summary := 'unavailable: ' || SQLERRM;
    END;
    RETURN NEXT;

    alert := 'DatabaseXminHorizon'; unit := 'xids';
    t := @extschema@._threshold('xmin_age_xids'); threshold := t;
    SELECT max(greatest(coalesce(s.xmin_age, 0), coalesce(s.xid_age, 0))) AS mx INTO r FROM unnest(sess) s;
    v := coalesce(r.mx, 0);
    SELECT greatest(v, coalesce(max(greatest(coalesce(age(p.transaction), 0))), 0)) INTO v FROM pg_prepared_xacts p;
    SELECT greatest(v, coalesce(max(greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0))), 0)) INTO v
      FROM pg_replication_slots sl;
    value := v; firing := value >= t;
    summary := 'oldest xmin held by a session, prepared transaction or slot, in transactions';
    RETURN NEXT;

    alert := 'DatabaseWraparoundRisk'; unit := 'percent';
    t := @extschema@._threshold('wraparound_sev2_pct'); threshold := t;
    SELECT d.datname, round(100.0 * greatest(age(d.datfrozenxid), mxid_age(d.datminmxid)) / 2147483648, 2) AS pct INTO r
      FROM pg_database d ORDER BY 2 DESC LIMIT 1;
    value := r.pct; firing := value >= t;
    summary := format('database %s is the oldest: %s%% of the 2^31 xid/multixact limit', r.datname, r.pct);
    RETURN NEXT;
END
$fn$;

COMMENT ON FUNCTION @extschema@._alert_rows() IS
'internal: the rows of the alerts view';

CREATE VIEW @extschema@.alerts AS
    SELECT * FROM @extschema@._alert_rows();

COMMENT ON VIEW @extschema@.alerts IS
'the runbooks'' alerts (DatabaseHighConnections, DatabaseSlowQueries, ...): firing, value, threshold (from alert_thresholds), summary';

-- ---------------------------------------------------------------------
-- metrics
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._prom_label(v text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT replace(replace(replace(coalesce(v, ''), '\', '\\'), '"', '\"'), E'\n', '\n') $$;

CREATE FUNCTION @extschema@.metrics()
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    out  text := '';
    sess @extschema@.sessions[];
    c    record;
    r    record;
    w    record;
BEGIN
    sess := ARRAY(SELECT s FROM @extschema@.sessions s);
    SELECT * INTO c FROM @extschema@.connections();

    out := out || E'# HELP pg_runbook_connections Client connections by state.\n# TYPE pg_runbook_connections gauge\n';
    out := out || format(E'pg_runbook_connections{state="active"} %s\npg_runbook_connections{state="idle"} %s\npg_runbook_connections{state="idle_in_transaction"} %s\npg_runbook_connections{state="idle_in_transaction_aborted"} %s\npg_runbook_connections{state="other"} %s\n',
                         c.active, c.idle, c.idle_in_transaction, c.idle_in_transaction_aborted, c.other);
    out := out || format(E'# HELP pg_runbook_max_connections Setting max_connections.\n# TYPE pg_runbook_max_connections gauge\npg_runbook_max_connections %s\n', c.max_connections);
    out := out || format(E'# HELP pg_runbook_connections_used_ratio Connections in use of the usable slots.\n# TYPE pg_runbook_connections_used_ratio gauge\npg_runbook_connections_used_ratio %s\n',
                         round(coalesce(c.pct_used, 0) / 100, 4));

    SELECT count(*) AS waiters,
           coalesce(max(extract(epoch FROM s.xact_age)) FILTER (WHERE s.backend_type = 'client backend'), 0) AS oldest,
           count(*) FILTER (WHERE s.state = 'active' AND s.backend_type = 'client backend' AND s.pid <> pg_backend_pid()
                            AND extract(epoch FROM s.query_age) >= @extschema@._threshold('long_query_seconds')) AS long_running
      INTO r FROM unnest(sess) s;
    out := out || format(E'# HELP pg_runbook_lock_waiters Sessions waiting on a heavyweight lock.\n# TYPE pg_runbook_lock_waiters gauge\npg_runbook_lock_waiters %s\n',
                         (SELECT count(*) FROM unnest(sess) s WHERE s.wait_event_type = 'Lock'));
    out := out || format(E'# HELP pg_runbook_oldest_xact_age_seconds Age of the oldest open transaction of a client backend.\n# TYPE pg_runbook_oldest_xact_age_seconds gauge\npg_runbook_oldest_xact_age_seconds %s\n',
                         round(r.oldest, 3));
    out := out || format(E'# HELP pg_runbook_long_running Statements running longer than the long_query_seconds threshold.\n# TYPE pg_runbook_long_running gauge\npg_runbook_long_running %s\n',
                         r.long_running);

    out := out || E'# HELP pg_runbook_xid_age Transaction ID age of the database (age(datfrozenxid)).\n# TYPE pg_runbook_xid_age gauge\n';
    FOR r IN SELECT datname, age(datfrozenxid) AS a FROM pg_database ORDER BY datname LOOP
        out := out || format(E'pg_runbook_xid_age{datname="%s"} %s\n', @extschema@._prom_label(r.datname), r.a);
    END LOOP;
    out := out || E'# HELP pg_runbook_mxid_age Multixact ID age of the database (mxid_age(datminmxid)).\n# TYPE pg_runbook_mxid_age gauge\n';
    FOR r IN SELECT datname, mxid_age(datminmxid) AS a FROM pg_database ORDER BY datname LOOP
        out := out || format(E'pg_runbook_mxid_age{datname="%s"} %s\n', @extschema@._prom_label(r.datname), r.a);
    END LOOP;

    BEGIN
        out := out || E'# HELP pg_runbook_replication_lag_bytes Replay lag of each replica in bytes.\n# TYPE pg_runbook_replication_lag_bytes gauge\n';
        FOR r IN SELECT name, coalesce(replay_lag_bytes, 0) AS b FROM @extschema@.replication_status()
                  WHERE kind = 'replica' ORDER BY name LOOP
            out := out || format(E'pg_runbook_replication_lag_bytes{application_name="%s"} %s\n', @extschema@._prom_label(r.name), r.b);
        END LOOP;
        out := out || E'# HELP pg_runbook_slot_retained_bytes WAL retained by each replication slot in bytes.\n# TYPE pg_runbook_slot_retained_bytes gauge\n';
        FOR r IN SELECT name, coalesce(retained_bytes, 0) AS b, active FROM @extschema@.replication_status()
                  WHERE kind = 'slot' ORDER BY name LOOP
            out := out || format(E'pg_runbook_slot_retained_bytes{slot_name="%s",active="%s"} %s\n',
                                 @extschema@._prom_label(r.name), r.active, r.b);
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- the families above stay declared with no samples
    END;

    IF @extschema@._is_preloaded() THEN
        BEGIN
            SELECT * INTO w FROM @extschema@.worker_status();
            out := out || format(E'# HELP pg_runbook_worker_running Whether the pg_runbook worker runs (1) or not (0).\n# TYPE pg_runbook_worker_running gauge\npg_runbook_worker_running %s\n',
                                 CASE WHEN w.running THEN 1 ELSE 0 END);
            out := out || format(E'# HELP pg_runbook_worker_paused Whether the pg_runbook worker is paused.\n# TYPE pg_runbook_worker_paused gauge\npg_runbook_worker_paused %s\n',
                                 CASE WHEN w.paused THEN 1 ELSE 0 END);
            out := out || format(E'# HELP pg_runbook_worker_cycles_total Policy cycles the worker has run.\n# TYPE pg_runbook_worker_cycles_total counter\npg_runbook_worker_cycles_total %s\n',
                                 coalesce(w.cycles, 0));
            out := out || format(E'# HELP pg_runbook_worker_actions_total Actions the worker has taken.\n# TYPE pg_runbook_worker_actions_total counter\npg_runbook_worker_actions_total %s\n',
                                 coalesce(w.actions, 0));
            out := out || format(E'# HELP pg_runbook_worker_last_cycle_seconds Duration of the last worker cycle.\n# TYPE pg_runbook_worker_last_cycle_seconds gauge\npg_runbook_worker_last_cycle_seconds %s\n',
                                 round(coalesce(w.last_cycle_ms, 0)::numeric / 1000, 6));
            out := out || E'# HELP pg_runbook_actions Remediation actions in the audit ring by action and outcome.\n# TYPE pg_runbook_actions gauge\n';
            FOR r IN SELECT a.action, a.outcome, count(*) AS n FROM @extschema@.recent_actions() a
                      GROUP BY 1, 2 ORDER BY 1, 2 LOOP
                out := out || format(E'pg_runbook_actions{action="%s",outcome="%s"} %s\n',
                                     @extschema@._prom_label(r.action), @extschema@._prom_label(r.outcome), r.n);
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END IF;

    out := out || E'# HELP pg_runbook_alert_firing Whether each runbook alert fires (1) or not (0).\n# TYPE pg_runbook_alert_firing gauge\n';
    FOR r IN SELECT a.alert, a.firing FROM @extschema@.alerts a LOOP
        out := out || format(E'pg_runbook_alert_firing{alert="%s"} %s\n', r.alert, CASE WHEN r.firing THEN 1 ELSE 0 END);
    END LOOP;
    RETURN out;
END
$fn$;

COMMENT ON FUNCTION @extschema@.metrics() IS
'key figures in the Prometheus text exposition format (one text value, for a textfile collector or an HTTP exporter)';

-- ---------------------------------------------------------------------
-- incident_report
-- ---------------------------------------------------------------------
CREATE FUNCTION @extschema@._md(v text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT replace(replace(regexp_replace(coalesce(v, ''), '\s+', ' ', 'g'), '|', '\|'), '`', '''') $$;

CREATE FUNCTION @extschema@.incident_report(title text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    md       text;
    sev      text;
    findings jsonb;
    c        record;
    r    record;
    k    integer;
BEGIN
    -- triage() once: its ordered rows give both the severity and the table
    SELECT jsonb_agg(to_jsonb(t) ORDER BY t.n), min(t.severity) INTO findings, sev
      FROM (SELECT row_number() OVER () AS n, * FROM @extschema@.triage()) t;
    SELECT * INTO c FROM @extschema@.connections();

    md := format(E'# Incident: %s\n\n', coalesce(title, 'database incident on ' || coalesce(inet_server_addr()::text, 'local socket')));
    md := md || format(E'- **Opened:** %s\n- **Server:** %s\n- **Database:** %s\n- **Severity:** %s\n- **Status:** investigating\n- **Incident commander:** ____\n\n',
                       to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                       'PostgreSQL ' || current_setting('server_version') ||
                           CASE WHEN pg_is_in_recovery() THEN ' (standby)' ELSE ' (primary)' END,
                       current_database(), sev);

    md := md || E'## Findings\n\n| Severity | Check | Finding | Next step |\n|---|---|---|---|\n';
    FOR r IN SELECT * FROM jsonb_to_recordset(findings)
                        AS f(severity text, check_name text, finding text, action text, remedy_sql text) LOOP
        md := md || format(E'| %s | %s | %s | %s |\n', r.severity, r.check_name, @extschema@._md(r.finding),
                           CASE WHEN r.remedy_sql IS NULL THEN @extschema@._md(r.action)
                                ELSE '`' || @extschema@._md(r.remedy_sql) || '`' END);
    END LOOP;

    md := md || format(E'\n## Connections\n\n%s of %s usable in use (%s%%): %s active, %s idle, %s idle in transaction, %s idle in transaction (aborted); max_connections %s.\n',
                       c.in_use, c.usable, c.pct_used, c.active, c.idle, c.idle_in_transaction,
                       c.idle_in_transaction_aborted, c.max_connections);

    md := md || E'\n## Blocking\n\n';
    k := 0;
    FOR r IN SELECT b.pid, b.blocked_by, b.root_blocker, b.usename, b.mode, b.locktype, b.relation,
                    b.wait_age, b.query
               FROM @extschema@.blocking_locks() b
              ORDER BY b.wait_age DESC NULLS LAST LIMIT 20 LOOP
        IF k = 0 THEN
            md := md || E'| Waiting pid | Blocked by | Root blocker | User | Wants | Waiting for | Query |\n|---|---|---|---|---|---|---|\n';
        END IF;
        k := k + 1;
        md := md || format(E'| %s | %s | %s | %s | %s | %s | %s |\n', r.pid, array_to_string(r.blocked_by, ', '),
                           coalesce(r.root_blocker::text, ''), r.usename,
                           concat_ws(' ', r.mode, 'on', coalesce(r.relation::text, r.locktype)),
                           date_trunc('second', r.wait_age), @extschema@._md(left(r.query, 120)));
    END LOOP;
    IF k = 0 THEN
        md := md || E'No session waits on another.\n';
    END IF;

    md := md || E'\n## Long-running queries\n\n';
    k := 0;
    FOR r IN SELECT l.pid, l.usename, l.datname, l.query_age, l.query FROM @extschema@.long_running('1 min') l
              WHERE l.pid <> pg_backend_pid() ORDER BY l.query_age DESC LIMIT 20 LOOP
        IF k = 0 THEN
            md := md || E'| Pid | User | Database | Running for | Query |\n|---|---|---|---|---|\n';
        END IF;
        k := k + 1;
        md := md || format(E'| %s | %s | %s | %s | %s |\n', r.pid, r.usename, r.datname,
                           date_trunc('second', r.query_age), @extschema@._md(left(r.query, 120)));
    END LOOP;
    IF k = 0 THEN
        md := md || E'No statement has run longer than 1 minute.\n';
    END IF;

    md := md || E'\n## Recent actions\n\n';
    IF NOT @extschema@._is_preloaded() THEN
        md := md || E'Audit ring unavailable: pg_runbook is not in shared_preload_libraries.\n';
    ELSE
        BEGIN
            k := 0;
            FOR r IN SELECT * FROM (SELECT a.acted_at, a.actor, a.pid, a.usename, a.action, a.outcome, a.reason, a.seq
                                      FROM @extschema@.recent_actions() a ORDER BY a.seq DESC LIMIT 20) x
                      ORDER BY x.seq LOOP
                IF k = 0 THEN
                    md := md || E'| At | Actor | Pid | User | Action | Outcome | Reason |\n|---|---|---|---|---|---|---|\n';
                END IF;
                k := k + 1;
                md := md || format(E'| %s | %s | %s | %s | %s | %s | %s |\n', date_trunc('second', r.acted_at), r.actor,
                                   r.pid, r.usename, r.action, r.outcome, @extschema@._md(r.reason));
            END LOOP;
            IF k = 0 THEN
                md := md || E'No remediation action since the server started.\n';
            END IF;
        EXCEPTION WHEN OTHERS THEN
            md := md || 'Audit ring unavailable: ' || @extschema@._md(SQLERRM) || E'\n';
        END;
    END IF;

    md := md || E'\n## Communication\n\n- Stakeholders notified at: ____\n- Status page / channel: ____\n- Next update due: ____\n';
    md := md || E'\n## Post-mortem\n\n### Summary\n\n____\n\n### Impact\n\n- Duration: ____\n- Users / services affected: ____\n- Data loss: ____\n';
    md := md || E'\n### Timeline (UTC)\n\n| Time | Event |\n|---|---|\n| '
             || to_char(now() AT TIME ZONE 'UTC', 'HH24:MI') || E' | report generated by runbook.incident_report() |\n| ____ | first alert |\n| ____ | mitigated |\n| ____ | resolved |\n';
    md := md || E'\n### Root cause\n\n____\n\n### Actions taken\n\n- [ ] ____\n\n### What went well / what went wrong\n\n- ____\n';
    md := md || E'\n### Follow-ups\n\n| Action | Owner | Due |\n|---|---|---|\n| ____ | ____ | ____ |\n';
    RETURN md;
END
$fn$;

COMMENT ON FUNCTION @extschema@.incident_report(text) IS
'a Markdown incident record from the live state (triage, connections, blocking, long-running queries, recent actions) with the post-mortem checklist to fill';

-- ---------------------------------------------------------------------
-- privileges: read-only, pg_monitor
-- ---------------------------------------------------------------------
REVOKE ALL ON TABLE @extschema@.alert_thresholds FROM PUBLIC;
REVOKE ALL ON @extschema@.alerts FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._alert_thresholds_write() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._threshold(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._is_preloaded() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._secs(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._triage_rows() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.triage() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._alert_rows() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._prom_label(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.metrics() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._md(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.incident_report(text) FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.alert_thresholds TO pg_monitor;
GRANT SELECT ON @extschema@.alerts TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._threshold(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._is_preloaded() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._secs(interval) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._triage_rows() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.triage() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._alert_rows() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._prom_label(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.metrics() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._md(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.incident_report(text) TO pg_monitor;
