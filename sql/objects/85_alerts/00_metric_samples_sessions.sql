-- metric_samples() families: connections by state, per database, lock waits.
CREATE OR REPLACE FUNCTION @extschema@._metric_samples_sessions(
    families text[],
    OUT metric text,
    OUT metric_type text,
    OUT help text,
    OUT labels jsonb,
    OUT value double precision)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c       record;
    r       record;
BEGIN
    -- connections -----------------------------------------------------
    IF families IS NULL OR families && ARRAY['pg_runbook_connections', 'pg_runbook_max_connections', 'pg_runbook_connections_usable', 'pg_runbook_connections_used_ratio'] THEN
        SELECT * INTO c FROM @extschema@.connections();
        metric := 'pg_runbook_connections'; metric_type := 'gauge';
        help := 'Client connections by state.';
        FOR r IN SELECT * FROM (VALUES ('active', c.active), ('idle', c.idle),
                                       ('idle_in_transaction', c.idle_in_transaction),
                                       ('idle_in_transaction_aborted', c.idle_in_transaction_aborted),
                                       ('other', c.other)) v(state, n) LOOP
            labels := jsonb_build_object('state', r.state); value := r.n;
            IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        END LOOP;
        labels := '{}';
        metric := 'pg_runbook_max_connections'; help := 'Setting max_connections.'; value := c.max_connections;
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        metric := 'pg_runbook_connections_usable'; value := c.usable;
        help := 'Connection slots ordinary roles may use (max_connections less the reserved ones).';
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        metric := 'pg_runbook_connections_used_ratio'; value := round(coalesce(c.pct_used, 0) / 100, 4);
        help := 'Client connections in use of the usable slots (1 = ordinary roles are refused).';
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
    END IF;

    -- a family of one metric, one sample a row: RETURN QUERY of
    -- (metric, metric_type, help, labels, value)
    IF families IS NULL OR families && ARRAY['pg_runbook_database_connections'] THEN
        RETURN QUERY
            SELECT 'pg_runbook_database_connections', 'gauge', 'Client connections per database.',
                   jsonb_build_object('datname', d.datname), count(s.pid)::float8
              FROM pg_database d
              LEFT JOIN @extschema@.sessions s ON s.datname = d.datname AND s.backend_type = 'client backend'
             WHERE d.datallowconn
             GROUP BY d.datname ORDER BY d.datname;
    END IF;

    -- locks and long transactions -------------------------------------
    IF families IS NULL OR families && ARRAY['pg_runbook_lock_waiters', 'pg_runbook_lock_wait_max_seconds'] THEN
        SELECT count(*) AS n, coalesce(max(extract(epoch FROM b.wait_age)), 0) AS longest
          INTO r FROM @extschema@.blocking_locks() b;
        labels := '{}'; metric_type := 'gauge';
        metric := 'pg_runbook_lock_waiters'; help := 'Sessions waiting on a heavyweight lock.'; value := r.n;
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        metric := 'pg_runbook_lock_wait_max_seconds'; help := 'Longest current wait on a heavyweight lock.';
        value := round(r.longest, 3);
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
    END IF;

    IF families IS NULL OR families && ARRAY['pg_runbook_oldest_xact_age_seconds', 'pg_runbook_long_running'] THEN
        SELECT coalesce(max(extract(epoch FROM s.xact_age)), 0) AS oldest,
               count(*) FILTER (WHERE s.state = 'active' AND s.pid <> pg_backend_pid()
                                AND extract(epoch FROM s.query_age) >= @extschema@._threshold('long_query_seconds')) AS long_running
          INTO r FROM @extschema@.sessions s WHERE s.backend_type = 'client backend';
        labels := '{}'; metric_type := 'gauge';
        metric := 'pg_runbook_oldest_xact_age_seconds'; value := round(r.oldest, 3);
        help := 'Age of the oldest open transaction of a client backend.';
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
        metric := 'pg_runbook_long_running'; value := r.long_running;
        help := 'Statements running longer than the long_query_seconds threshold.';
        IF families IS NULL OR metric = ANY (families) THEN RETURN NEXT; END IF;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._metric_samples_sessions(text[]) IS
'internal: the connection and lock families, for metric_samples()';

REVOKE ALL ON FUNCTION @extschema@._metric_samples_sessions(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._metric_samples_sessions(text[]) TO pg_monitor;
