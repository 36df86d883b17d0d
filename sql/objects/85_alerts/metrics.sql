-- runbook.metrics(): metric_samples() in the Prometheus text format.
-- One label value in the exposition format: backslash, double quote and
-- newline escaped.

CREATE OR REPLACE FUNCTION @extschema@._prom_label(v text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(coalesce(v, ''), '\', '\\'), '"', '\"'), E'\n', '\n') $$;

REVOKE ALL ON FUNCTION @extschema@._prom_label(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._prom_label(text) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.metrics()
RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH s AS (
        SELECT m.*, row_number() OVER () AS n FROM @extschema@.metric_samples() m
    ), fam AS (
        SELECT metric, min(n) AS first FROM s GROUP BY metric
    )
    SELECT coalesce(string_agg(line, E'\n' ORDER BY first, metric, n, part), '') || E'\n'
      FROM (
        SELECT f.first, f.metric, 0::bigint AS n, 0 AS part,
               format('# HELP %s %s', f.metric, (SELECT s.help FROM s WHERE s.metric = f.metric ORDER BY s.n LIMIT 1)) AS line
          FROM fam f
        UNION ALL
        SELECT f.first, f.metric, 0, 1,
               format('# TYPE %s %s', f.metric, (SELECT s.metric_type FROM s WHERE s.metric = f.metric ORDER BY s.n LIMIT 1))
          FROM fam f
        UNION ALL
        SELECT f.first, s.metric, s.n, 2,
               s.metric
               || coalesce((SELECT '{' || string_agg(format('%s="%s"', k, @extschema@._prom_label(v)), ',' ORDER BY k) || '}'
                              FROM jsonb_each_text(s.labels) e(k, v)), '')
               || ' ' || CASE WHEN s.value = trunc(s.value) AND abs(s.value) < 1e15
                              THEN trunc(s.value)::bigint::text
                              ELSE s.value::text END
          FROM s JOIN fam f ON f.metric = s.metric
         WHERE s.value IS NOT NULL
      ) lines;
$fn$;

COMMENT ON FUNCTION @extschema@.metrics() IS
'key figures in the Prometheus text exposition format (one text value, for a textfile collector or an HTTP exporter)';

REVOKE ALL ON FUNCTION @extschema@.metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.metrics() TO pg_monitor;
