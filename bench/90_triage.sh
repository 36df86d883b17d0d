#!/usr/bin/env bash
# Benchmark: triage and reporting against the queries the runbooks copy.
# Setup: 80 idle client sessions, one idle-in-transaction blocker with 5
# waiters behind it, 500 user tables.
#   baseline: the runbooks' checks as plain SQL (connection counts by state
#     from pg_stat_activity, blocked sessions via pg_blocking_pids, long
#     statements, age(datfrozenxid), dead tuples from pg_stat_user_tables)
#   pg_runbook: SELECT * FROM runbook.triage()  (every check, see README)
# Also timed alone: alerts, metrics(), incident_report().
# Each runs alternately in one session N times; medians and the ratio are
# printed from this one run.
set -u
. "$(dirname "$0")/../tools/common.sh"
N=${N:-21}
IDLE=${IDLE:-80}
DIR=$BUILD/bench_triage
# Each held session is `(statements; sleep) | psql`; the sleeps' pids go to
# a file so the exit trap ends exactly them (psql then exits on EOF).
SLEEPS=$BUILD/bench_triage_sleeps
: > "$SLEEPS"
hold() { ( printf "$1"; sleep 600 & echo $! >> "$SLEEPS"; wait ) | rb_psql -q >/dev/null 2>&1 & }
cleanup() { [ -s "$SLEEPS" ] && kill $(cat "$SLEEPS") 2>/dev/null; rm -f "$SLEEPS"; server_stop; }
trap cleanup EXIT
server_start "$DIR" "max_connections = 150" || exit 1
rb_psql -q <<SQL
CREATE EXTENSION pg_runbook;
CREATE TABLE hot (id int PRIMARY KEY, v int);
INSERT INTO hot VALUES (1, 0);
SELECT format('CREATE TABLE t%s (id int); INSERT INTO t%s VALUES (1);', g, g) FROM generate_series(1, 500) g \gexec
SQL
for i in $(seq 1 "$IDLE"); do hold ""; done
hold "BEGIN;\nUPDATE hot SET v = v + 1 WHERE id = 1;\n"
sleep 1
for i in $(seq 1 5); do hold "UPDATE hot SET v = v + 1 WHERE id = 1;\n"; done
for i in $(seq 1 50); do
	[ "$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")" = 5 ] && break
	sleep 0.2
done
echo "sessions: $(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"), lock waiters: $(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")"

BASE="SELECT 1 FROM (SELECT state, count(*) FROM pg_stat_activity GROUP BY state) a
UNION ALL SELECT 1 FROM (SELECT a.pid, a.usename, a.query, b FROM pg_stat_activity a, unnest(pg_blocking_pids(a.pid)) b WHERE a.wait_event_type = 'Lock') b
UNION ALL SELECT 1 FROM (SELECT pid, now() - query_start, query FROM pg_stat_activity WHERE state = 'active' AND now() - query_start > interval '5 min') c
UNION ALL SELECT 1 FROM (SELECT datname, age(datfrozenxid) FROM pg_database) d
UNION ALL SELECT 1 FROM (SELECT relname, n_dead_tup FROM pg_stat_user_tables WHERE n_dead_tup > 10000 ORDER BY n_dead_tup DESC LIMIT 10) e"

rb_psql -Atq <<SQL
CREATE TEMP TABLE t(which text, ms float8);
DO \$\$
DECLARE
  t0 timestamptz; n bigint; s text;
BEGIN
  FOR i IN 1..$N LOOP
    t0 := clock_timestamp();
    EXECUTE \$q\$SELECT count(*) FROM ($BASE) q\$q\$ INTO n;
    INSERT INTO t VALUES ('baseline', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM runbook.triage();
    INSERT INTO t VALUES ('triage', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM runbook.alerts;
    INSERT INTO t VALUES ('alerts', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp();
    s := runbook.metrics();
    INSERT INTO t VALUES ('metrics', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp();
    s := runbook.incident_report();
    INSERT INTO t VALUES ('incident_report', extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END \$\$;
WITH m AS (SELECT which, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med FROM t GROUP BY which)
SELECT format('triage (N=$N): median ms: baseline %s, runbook.triage() %s; ratio triage/baseline = %s',
              round((SELECT med FROM m WHERE which = 'baseline')::numeric, 3),
              round((SELECT med FROM m WHERE which = 'triage')::numeric, 3),
              round(((SELECT med FROM m WHERE which = 'triage') / (SELECT med FROM m WHERE which = 'baseline'))::numeric, 2))
UNION ALL
SELECT format('median ms: alerts %s, metrics() %s, incident_report() %s',
              round((SELECT med FROM m WHERE which = 'alerts')::numeric, 3),
              round((SELECT med FROM m WHERE which = 'metrics')::numeric, 3),
              round((SELECT med FROM m WHERE which = 'incident_report')::numeric, 3));
SQL
