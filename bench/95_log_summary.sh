#!/usr/bin/env bash
# Benchmark (issue 13 §3): runbook.log_summary() read rate on each log
# destination, against the SQL a DBA would otherwise run over the current
# file (pg_read_file() of the whole file, split into lines, filtered by a
# regular expression: no period, no SQLSTATE, one file only).
# The log is filled with LINES filler WARNING entries (RAISE WARNING in a
# loop) plus a few real errors, per destination, with log_rotation_size = 0
# (one file); each side runs N times alternately; medians are printed.
set -u
. "$(dirname "$0")/../tools/common.sh"
N=${N:-5}
LINES=${LINES:-300000}
DIR=$BUILD/bench_log_summary
trap 'server_stop' EXIT
server_start "$DIR" "logging_collector = on" "log_directory = 'log'" "log_rotation_size = 0" \
	"log_line_prefix = '%m [%p] %e %q%u@%d '" "lc_messages = 'C'" || exit 1
rb_psql -q -c "CREATE EXTENSION pg_runbook"
for dest in stderr csvlog jsonlog; do
	rb_psql -q -c "ALTER SYSTEM SET log_destination = '$dest'" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
	rb_psql -q -c "SELECT pg_rotate_logfile()" >/dev/null
	sleep 1
	rb_psql -q -c "DO \$\$ BEGIN FOR i IN 1..$LINES LOOP RAISE WARNING 'filler line % of a busy log', i; END LOOP; END \$\$" 2>/dev/null
	for i in 1 2 3; do rb_psql -q -c "SELECT 1/0" 2>/dev/null; done
	sleep 1
	rb_psql -Atq <<SQL
CREATE TEMP TABLE t(which text, ms float8);
DO \$\$
DECLARE t0 timestamptz; n bigint;
BEGIN
  FOR i IN 1..$N LOOP
    t0 := clock_timestamp();
    PERFORM count(*) FROM pg_catalog.regexp_split_to_table(pg_catalog.pg_read_file(pg_catalog.pg_current_logfile('$dest')), E'\\n') l
      WHERE l ~ '(ERROR|FATAL|PANIC)';
    INSERT INTO t VALUES ('baseline', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp();
    PERFORM * FROM runbook.log_summary('1 hour', 1073741824);
    INSERT INTO t VALUES ('log_summary', extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END \$\$;
SELECT format('%-8s file %s MB: baseline (pg_read_file + regexp, current file) %s ms, log_summary(''1 hour'') %s ms, ratio %s; %s MB/s; counted: %s',
       '$dest', round(s.size / 1048576.0, 1), b.m::int, o.m::int, round((o.m / b.m)::numeric, 2),
       round((s.size / 1048576.0 / (o.m / 1000))::numeric, 0),
       (SELECT string_agg(category || ' x' || count, ', ') FROM runbook.log_summary('1 hour') WHERE category IS NOT NULL))
  FROM (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) m FROM t WHERE which = 'baseline') b,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) m FROM t WHERE which = 'log_summary') o,
       pg_stat_file(pg_current_logfile('$dest')) s;
SQL
done
