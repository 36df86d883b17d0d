-- log_summary(), database_stats, incident_message() and the quoting helpers
-- of triage(): shapes, bad input, privileges.  (Real log destinations,
-- real errors and the staged incident: TAP 530_log_summary.)
\pset null '(null)'
-- log_summary(): columns
SELECT a.name, format_type(a.typ, NULL) FROM pg_proc p, unnest(p.proargnames, p.proallargtypes) a(name, typ)
 WHERE p.oid = 'runbook.log_summary'::regproc;
-- this instance logs to its standard error, a file (pg_regress): readable
-- without the collector; the default log_line_prefix has no %e
SELECT 1 / 0;
SELECT severity, sqlstate, count >= 1 AS counted, example, category, log_format,
       note ~ 'SQLSTATE not in the log: log_line_prefix has no %e' AS note_says_why,
       last_at <= now() AS dated
  FROM runbook.log_summary('1 hour') WHERE category = 'division_by_zero';
-- bad input
SELECT * FROM runbook.log_summary(NULL);
SELECT * FROM runbook.log_summary('-1 hour');
SELECT * FROM runbook.log_summary('1 day -25 hours');
SELECT * FROM runbook.log_summary('1 hour', 0);
SELECT * FROM runbook.log_summary('1 hour', NULL);
-- a byte limit that stops the read before anything was counted: one row
-- with count 0 says so, instead of an empty (misleading) result
SELECT severity, count, note FROM runbook.log_summary('1 hour', 10);
-- huge periods mean "everything within max_bytes"
SELECT count(*) >= 1 AS ok FROM runbook.log_summary('1000000 years', 1048576) WHERE category = 'division_by_zero';
-- database_stats: columns, one row per database plus shared objects
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'runbook.database_stats'::regclass AND attnum > 0 ORDER BY attnum;
SELECT count(*) = (SELECT count(*) + 1 FROM pg_database) AS one_per_database,
       bool_and(cache_hit_pct IS NULL OR cache_hit_pct BETWEEN 0 AND 100) AS pct_ok,
       bool_and(rollback_pct IS NULL OR rollback_pct BETWEEN 0 AND 100) AS rollback_ok
  FROM runbook.database_stats;
SELECT xact_commit > 0 AS commits, temp_size = pg_size_pretty(temp_bytes) AS pretty
  FROM runbook.database_stats WHERE datname = current_database();
-- incident_message(): bad input
SELECT runbook.incident_message('panic');
SELECT runbook.incident_message(NULL);
SELECT runbook.incident_message('update', next_update => '-5 min');
SELECT runbook.incident_message('update', started_at => now() + interval '1 hour');
SELECT runbook.incident_message('status_identified', eta => '-1 min');
-- the status page texts (the time masked)
SELECT regexp_replace(runbook.incident_message('status_investigating'), 'Time: .*', 'Time: <now>');
SELECT regexp_replace(runbook.incident_message('status_identified', eta => '90 min'), '\(by .*\)|Time: .*', '<t>', 'g');
SELECT regexp_replace(runbook.incident_message('status_resolved'), 'Time: .*', 'Time: <now>');
-- the internal texts: their sections, in the seeds' order
SELECT k, array_agg(h ORDER BY o) AS headings
  FROM (VALUES ('declare'), ('update'), ('resolve')) v(k),
       LATERAL regexp_matches(runbook.incident_message(k), '^([A-Z][A-Za-z ]+):', 'gm') WITH ORDINALITY m(h, o)
 GROUP BY k ORDER BY k;
-- quoting helpers
SELECT runbook._shell_quote('it''s $(id)') AS shell_word, runbook._one_line(E'a\nb\rc\x1bd') AS one_line;
-- a migration name as one shell word; one with a control character
-- cannot be one line: the command is withheld (docs/security.md)
SELECT runbook._runnable('shell', 'npx prisma migrate resolve --rolled-back %Q', 'it''s $(id)') AS shell_cmd,
       runbook._runnable('shell', 'npx prisma migrate resolve --rolled-back %Q', E'x\ny') AS ctl_name;
-- triage: the new checks' remedies never print the bare built-ins
SELECT count(*) AS bare FROM runbook.triage() WHERE remedy_sql ~ 'pg_(terminate|cancel)_backend';
-- privileges: pg_monitor reads everything but the log without file rights
CREATE ROLE rd_mon IN ROLE pg_monitor;
CREATE ROLE rd_files IN ROLE pg_monitor, pg_read_server_files;
CREATE ROLE rd_nobody;
SET ROLE rd_mon;
SELECT count(*) > 0 AS stats_ok FROM runbook.database_stats;
SELECT * FROM runbook.log_summary();
SELECT severity, finding, evidence->>'sqlstate' AS sqlstate FROM runbook.triage() WHERE check_name = 'server_log';
SELECT length(runbook.incident_message('declare')) > 0 AS message_ok;
RESET ROLE;
SET ROLE rd_files;
SELECT count(*) >= 1 AS log_ok FROM runbook.log_summary() WHERE category = 'division_by_zero';
RESET ROLE;
SET ROLE rd_nobody;
SELECT * FROM runbook.database_stats;
SELECT * FROM runbook.log_summary();
SELECT runbook.incident_message('declare');
RESET ROLE;
DROP ROLE rd_mon;
DROP ROLE rd_files;
DROP ROLE rd_nobody;
