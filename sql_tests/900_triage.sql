-- Triage and reporting: shapes, ordering, evidence keys, thresholds,
-- metrics exposition format, incident report sections, privileges.
\pset null '(null)'
-- triage(): contract columns
SELECT a.name, format_type(a.typ, NULL) FROM pg_proc p, unnest(p.proargnames, p.proallargtypes) a(name, typ)
 WHERE p.oid = 'runbook.triage'::regproc;
-- it runs, orders the live findings first, then by severity then check, and
-- every row is well formed
CREATE TEMP TABLE t AS SELECT row_number() OVER () AS n, * FROM runbook.triage();
SELECT count(*) > 0 AS has_rows,
       bool_and(severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')) AS sev_ok,
       bool_and(check_name IS NOT NULL AND finding IS NOT NULL AND action IS NOT NULL) AS text_ok,
       bool_and(jsonb_typeof(evidence) = 'object') AS evidence_ok
  FROM t;
SELECT bool_and((a.live AND NOT b.live)
                 OR (a.live = b.live AND (a.severity < b.severity OR (a.severity = b.severity AND a.check_name <= b.check_name)))) AS ordered
  FROM t a JOIN t b ON b.n = a.n + 1;
CREATE TABLE tri_lock (id int);
-- a fabricated prepared transaction holding a lock and the xmin horizon
BEGIN;
LOCK tri_lock IN SHARE MODE;
SELECT txid_current() > 0 AS has_xid;
PREPARE TRANSACTION 'tri_gx';
SELECT severity, check_name, evidence->>'gid' AS gid, evidence->>'datname' = current_database() AS db_ok,
       remedy_sql
  FROM runbook.triage() WHERE check_name = 'prepared_transactions';
-- thresholds: user changes are marked, shown by the prepared check's severity
UPDATE runbook.alert_thresholds SET value = 0 WHERE name = 'prepared_xact_seconds';
SELECT name, value, user_set FROM runbook.alert_thresholds WHERE user_set;
SELECT severity FROM runbook.triage() WHERE check_name = 'prepared_transactions';
ROLLBACK PREPARED 'tri_gx';
SELECT count(*) FROM runbook.triage() WHERE check_name = 'prepared_transactions';
-- an INSERT of an existing name (as a restore does) updates it
INSERT INTO runbook.alert_thresholds (name, value, unit, description)
VALUES ('prepared_xact_seconds', 300, 'seconds', 'restored');
SELECT name, value, description, user_set FROM runbook.alert_thresholds WHERE name = 'prepared_xact_seconds';
-- only user-changed rows are dumped
SELECT extcondition FROM pg_extension WHERE extname = 'pg_runbook';
-- negative thresholds are refused
INSERT INTO runbook.alert_thresholds VALUES ('x', -1, 'count', 'bad');
UPDATE runbook.alert_thresholds SET value = -5 WHERE name = 'lock_wait_seconds';
-- evidence of connections: forcing the threshold to 0 makes it report
UPDATE runbook.alert_thresholds SET value = 0 WHERE name = 'connections_sev3_pct';
SELECT severity, check_name,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(evidence) k) AS keys,
       remedy_sql
  FROM runbook.triage() WHERE check_name = 'connections';
UPDATE runbook.alert_thresholds SET value = 70 WHERE name = 'connections_sev3_pct';
-- optional pieces never make triage fail: pg_stat_statements is absent here
SELECT severity, finding LIKE 'check not run:%' AS reported, evidence ? 'hint' AS has_hint
  FROM runbook.triage() WHERE check_name = 'slow_queries';
-- alerts view
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'runbook.alerts'::regclass AND attnum > 0 ORDER BY attnum;
SELECT alert, firing IS NOT NULL AS has_firing, threshold FROM runbook.alerts ORDER BY alert;
SELECT firing, value, summary LIKE 'unavailable:%' AS unavailable FROM runbook.alerts WHERE alert = 'DatabaseSlowQueries';
UPDATE runbook.alert_thresholds SET value = 0 WHERE name = 'connections_sev2_pct';
SELECT firing FROM runbook.alerts WHERE alert = 'DatabaseHighConnections';
UPDATE runbook.alert_thresholds SET value = 80 WHERE name = 'connections_sev2_pct';
SELECT firing FROM runbook.alerts WHERE alert = 'DatabaseHighConnections';
-- metrics(): every line is a HELP, a TYPE or a sample
SELECT count(*) FILTER (WHERE l !~ '^(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+|# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? -?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)$') AS bad_lines,
       count(*) > 20 AS enough
  FROM regexp_split_to_table(rtrim(runbook.metrics(), E'\n'), E'\n') l;
SELECT runbook.metrics() LIKE E'%\n' AS ends_with_newline;
-- every sample's family has HELP and TYPE lines before it
WITH l AS (SELECT l, n FROM regexp_split_to_table(runbook.metrics(), E'\n') WITH ORDINALITY x(l, n) WHERE l <> ''),
     s AS (SELECT substring(l FROM '^([a-zA-Z_:][a-zA-Z0-9_:]*)') AS m, n FROM l WHERE l !~ '^#')
SELECT count(*) AS undeclared FROM s
 WHERE NOT EXISTS (SELECT 1 FROM l WHERE l.l IN ('# TYPE ' || s.m || ' gauge', '# TYPE ' || s.m || ' counter') AND l.n < s.n)
                   OR NOT EXISTS (SELECT 1 FROM l WHERE l.l LIKE '# HELP ' || s.m || ' %' AND l.n < s.n);
SELECT m FROM (VALUES ('pg_runbook_connections{state="idle"}'), ('pg_runbook_max_connections '),
                      ('pg_runbook_lock_waiters '), ('pg_runbook_oldest_xact_age_seconds '),
                      ('pg_runbook_long_running '), ('pg_runbook_worker_cycles_total '),
                      ('pg_runbook_worker_last_cycle_seconds '), ('pg_runbook_xid_age{datname="postgres"}'),
                      ('pg_runbook_mxid_age{datname="postgres"}'), ('# TYPE pg_runbook_replication_lag_bytes gauge'),
                      ('# TYPE pg_runbook_actions gauge'), ('pg_runbook_alert_firing{alert="DatabaseHighConnections"}')) v(m)
 WHERE position(m IN runbook.metrics()) = 0;
-- incident_report(): one Markdown text with its sections
SELECT s FROM (VALUES ('# Incident: db down'), ('- **Severity:** SEV'), ('## Findings'), ('| Severity | Check |'),
                      ('## Connections'), ('## Blocking'), ('## Long-running queries'), ('## Recent actions'),
                      ('## Post-mortem'), ('### Timeline (UTC)'), ('### Root cause'), ('### Actions taken'),
                      ('### Follow-ups')) v(s)
 WHERE position(s IN runbook.incident_report('db down')) = 0;
SELECT runbook.incident_report() LIKE '# Incident: database incident on %' AS default_title;
-- privileges: pg_monitor may read, PUBLIC may not
CREATE ROLE tri_mon IN ROLE pg_monitor;
CREATE ROLE tri_nobody;
SET ROLE tri_mon;
SELECT count(*) > 0 AS triage_ok FROM runbook.triage();
SELECT count(*) > 0 AS alerts_ok FROM runbook.alerts;
SELECT length(runbook.metrics()) > 0 AS metrics_ok, length(runbook.incident_report()) > 0 AS report_ok;
UPDATE runbook.alert_thresholds SET value = 1 WHERE name = 'dead_tuples_min';
RESET ROLE;
SET ROLE tri_nobody;
SELECT * FROM runbook.triage();
SELECT * FROM runbook.alerts;
SELECT runbook.metrics();
RESET ROLE;
SELECT p.proname, p.prosecdef FROM pg_proc p
 WHERE p.proname IN ('triage', 'metrics', 'incident_report', '_triage_rows', '_alert_rows') AND p.prosecdef;
DROP ROLE tri_mon;
DROP ROLE tri_nobody;
DROP TABLE tri_lock;
