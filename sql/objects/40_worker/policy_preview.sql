-- runbook.policy_preview(): what every policy would do now (nothing is done).

CREATE OR REPLACE FUNCTION @extschema@.policy_preview(
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
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_policy_preview';

COMMENT ON FUNCTION @extschema@.policy_preview() IS
'what the worker''s next cycle would do to which session, by which policy, and why (a dry run)';

REVOKE ALL ON FUNCTION @extschema@.policy_preview() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.policy_preview() TO pg_monitor;
