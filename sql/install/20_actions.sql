-- runbook.actions: the audit of real remediation runs on a primary, copied
-- from the shared-memory ring (runbook.recent_actions()) by the pg_runbook
-- audit writer in its own transaction.  Its rows are data: pg_dump keeps them.
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
    action           text NOT NULL,
    outcome          text NOT NULL,
    reason           text,
    detail           text,
    query            text,
    backend_start    timestamptz,
    ring_epoch       timestamptz NOT NULL,
    ring_seq         bigint NOT NULL,
    session_role     name,
    UNIQUE (ring_epoch, ring_seq),
    CONSTRAINT actions_action_check
        CHECK (action IN ('cancel', 'terminate', 'pause', 'resume')),
    CONSTRAINT actions_outcome_check
        CHECK (outcome IN ('terminated', 'cancelled', 'skipped', 'paused', 'resumed'))
);

CREATE INDEX actions_acted_at_idx ON @extschema@.actions (acted_at);

COMMENT ON TABLE @extschema@.actions IS
'audit of every action and skip of real remediation runs on this primary; copied from the shared-memory ring (runbook.recent_actions()) by the pg_runbook audit writer in its own transaction';
COMMENT ON COLUMN @extschema@.actions.session_role IS
'session_user of the call (the login); acting_role is current_user (after SET ROLE or inside a SECURITY DEFINER function)';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.actions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.actions_id_seq', '');

REVOKE ALL ON TABLE @extschema@.actions FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.actions TO pg_monitor;
-- (its sequence too: triage()'s sequences check reads every sequence of a
-- database, and a pg_monitor role would otherwise find this one unreadable
-- in every database with pg_runbook; 1.2)
GRANT SELECT ON SEQUENCE @extschema@.actions_id_seq TO pg_monitor;

-- Who reads which rows (issue 22): pg_stat_activity's visibility rule.  A
-- row about a session is visible to members of pg_read_all_stats
-- (pg_monitor is one) and to roles with the privileges of the session's
-- role; rows without a session role (pause / resume of the worker) to every
-- reader.  The table's owner and superusers (the audit writer) are not
-- subject to row-level security.  The recorded query and client address are
-- already what the acting role was allowed to see (src/remedy.c).
ALTER TABLE @extschema@.actions ENABLE ROW LEVEL SECURITY;
CREATE POLICY actions_visible ON @extschema@.actions FOR SELECT
    USING ((SELECT pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'))
           OR usename IS NULL
           OR usename OPERATOR(pg_catalog.=) ANY (ARRAY(
                  SELECT r.rolname FROM pg_catalog.pg_roles r
                   WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'))));
