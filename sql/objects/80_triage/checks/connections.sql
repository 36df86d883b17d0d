-- A check of triage() (80_triage/triage.sql runs them): connection
-- saturation.

CREATE OR REPLACE FUNCTION @extschema@._triage_connections(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    c       record;
BEGIN
    f.check_name := 'connections';
    SELECT * INTO c FROM @extschema@.connections();
    IF c.pct_used >= @extschema@._threshold('connections_sev3_pct') THEN
        f.severity := CASE WHEN c.pct_used >= @extschema@._threshold('connections_sev1_pct') THEN 'SEV1'
                           WHEN c.pct_used >= @extschema@._threshold('connections_sev2_pct') THEN 'SEV2'
                           ELSE 'SEV3' END;
        f.finding := format('%s%% of connection slots in use (%s of %s usable; %s idle, %s idle in transaction)',
                            c.pct_used, c.in_use, c.usable, c.idle, c.idle_in_transaction);
        f.evidence := jsonb_build_object('pct_used', c.pct_used, 'in_use', c.in_use, 'usable', c.usable,
                          'max_connections', c.max_connections, 'active', c.active, 'idle', c.idle,
                          'idle_in_transaction', c.idle_in_transaction, 'available', c.available,
                          'top_sources', (SELECT jsonb_agg(to_jsonb(cs)) FROM
                              (SELECT * FROM @extschema@.connection_sources LIMIT 5) cs));
        f.action := 'find the source (connection_sources), end idle sessions, put a pooler in front';
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT * FROM %I.kill_idle(''30 min'', dry_run => true);', '@extschema@');
        RETURN NEXT f;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_connections(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_connections(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_connections(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
