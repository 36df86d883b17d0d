-- runbook.policies: the rules of the policy worker, one row each (first
-- match by priority).  Validated on write (objects/40_worker/
-- policies_validate.sql), stamped with who changed a row (config_stamp.sql);
-- the starter policies are seeded after the objects (seed/).
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
    updated_by          name,
    -- connection saturation and connection age
    min_connections_pct numeric,
    target_connections_pct numeric,
    min_backend_age     interval,
    exclude_application_pattern text,
    -- memory and disk guards (1.2)
    min_private_memory_bytes bigint,
    min_temp_file_bytes bigint,
    min_memory_used_pct numeric,
    target_memory_used_pct numeric,
    min_disk_used_pct   numeric,
    target_disk_used_pct numeric,
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
        CHECK ((active_from IS NULL) = (active_until IS NULL)),
    CONSTRAINT policies_connections_check
        CHECK (min_connections_pct > 0 AND min_connections_pct <= 100
               AND target_connections_pct >= 0 AND target_connections_pct <= min_connections_pct),
    CONSTRAINT policies_target_check
        CHECK (target_connections_pct IS NULL OR min_connections_pct IS NOT NULL),
    CONSTRAINT policies_backend_age_check
        CHECK (coalesce(min_backend_age, '0') >= '0'),
    CONSTRAINT policies_guard_bytes_check
        CHECK (coalesce(min_private_memory_bytes, 0) >= 0 AND coalesce(min_temp_file_bytes, 0) >= 0),
    CONSTRAINT policies_memory_check
        CHECK (min_memory_used_pct > 0 AND min_memory_used_pct <= 100
               AND target_memory_used_pct >= 0 AND target_memory_used_pct <= min_memory_used_pct
               AND (target_memory_used_pct IS NULL OR min_memory_used_pct IS NOT NULL)),
    CONSTRAINT policies_disk_check
        CHECK (min_disk_used_pct > 0 AND min_disk_used_pct <= 100
               AND target_disk_used_pct >= 0 AND target_disk_used_pct <= min_disk_used_pct
               AND (target_disk_used_pct IS NULL OR min_disk_used_pct IS NOT NULL)
               AND (min_disk_used_pct IS NULL OR min_memory_used_pct IS NULL))
);

COMMENT ON TABLE @extschema@.policies IS
'pg_runbook worker policies: first match by priority (lower first), then name';
COMMENT ON COLUMN @extschema@.policies.updated_by IS
'session_user of the last INSERT or UPDATE of this row (updated_at is its time)';
COMMENT ON COLUMN @extschema@.policies.min_connections_pct IS
'act only while client connections are at or above this percent of the usable slots (max_connections less the reserved ones)';
COMMENT ON COLUMN @extschema@.policies.target_connections_pct IS
'end only as many sessions as bring client connections down to this percent, oldest state first (default: min_connections_pct)';
COMMENT ON COLUMN @extschema@.policies.min_backend_age IS
'connection age (backend_start) threshold';
COMMENT ON COLUMN @extschema@.policies.exclude_application_pattern IS
'sessions whose application_name is LIKE this pattern are not matched';
COMMENT ON COLUMN @extschema@.policies.min_private_memory_bytes IS
'match only sessions holding at least this much private memory (RssAnon of the session and its parallel workers)';
COMMENT ON COLUMN @extschema@.policies.min_temp_file_bytes IS
'match only sessions with at least this many bytes of temporary files (with a disk guard: on the full filesystem)';
COMMENT ON COLUMN @extschema@.policies.min_memory_used_pct IS
'memory guard: act only while memory in use is at or above this percent of the limit (runbook.host()), largest private memory first';
COMMENT ON COLUMN @extschema@.policies.target_memory_used_pct IS
'memory guard: end only as many sessions as bring memory in use down to this percent (default: min_memory_used_pct)';
COMMENT ON COLUMN @extschema@.policies.min_disk_used_pct IS
'disk guard: act on sessions with temporary files on a filesystem at or above this percent used, most temporary bytes there first';
COMMENT ON COLUMN @extschema@.policies.target_disk_used_pct IS
'disk guard: end only as many sessions as bring that filesystem down to this percent (default: min_disk_used_pct)';

-- pg_dump keeps the DBA's policies, and the starter policies the DBA changed
-- (enabled, tuned); the ones still as shipped come back with CREATE EXTENSION
SELECT pg_catalog.pg_extension_config_dump('@extschema@.policies',
    'WHERE NOT @extschema@._policy_is_starter_default(policies)');

REVOKE ALL ON @extschema@.policies FROM PUBLIC;
GRANT SELECT ON @extschema@.policies TO pg_monitor;
