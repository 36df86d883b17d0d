-- Metrics for a fleet: the series the runbooks' alert rules need, with
-- units in their names, per database where the rule is per database, and
-- an up-style gauge per check so that a check that could not run (no
-- pg_stat_statements, no privilege, no log access) yields no sample rather
-- than a 0 that reads as healthy.  metric_samples() is the one source:
-- metrics() renders it in the Prometheus text format, and
-- contrib/prometheus/postgres_exporter.yml reads the same rows family by
-- family, so both paths expose the same names.  The families are built by
-- the functions of 00_metric_samples_*.sql, in this order.
CREATE OR REPLACE FUNCTION @extschema@.metric_samples(
    families text[] DEFAULT NULL,
    OUT metric text,
    OUT metric_type text,
    OUT help text,
    OUT labels jsonb,
    OUT value double precision)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN QUERY SELECT * FROM @extschema@._metric_samples_sessions(families);
    RETURN QUERY SELECT * FROM @extschema@._metric_samples_databases(families);
    RETURN QUERY SELECT * FROM @extschema@._metric_samples_server(families);
    RETURN QUERY SELECT * FROM @extschema@._metric_samples_host(families);
END
$fn$;

COMMENT ON FUNCTION @extschema@.metric_samples(text[]) IS
'the samples behind metrics(), one row each (metric, type, help, labels, value; a NULL value only declares a family that has no sample now); families = the metric names wanted, NULL = all';

REVOKE ALL ON FUNCTION @extschema@.metric_samples(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.metric_samples(text[]) TO pg_monitor;
