#!/usr/bin/env bash
# Benchmark: triage and reporting against the queries the runbooks copy.
# Setup: 80 idle client sessions, one idle-in-transaction blocker with 5
# waiters behind it, 500 user tables.
#   baseline: the runbooks' checks as plain SQL (connection counts by state
#     from pg_stat_activity, blocked sessions via pg_blocking_pids, long
#     statements, age(datfrozenxid), dead tuples from pg_stat_user_tables)
#   pg_runbook: SELECT * FROM runbook.triage()  (every check, see README)
# Also timed alone: alerts, metrics(), incident_report().
# Each runs alternately in one session N times, each after
# pg_stat_clear_snapshot() (as a fresh statement would read); medians and
# the ratio are printed from this one run.
# The bench fails (exit 1) unless the scenario formed and every run saw it:
# the idle sessions and the 5 waiters present; the baseline listing the
# waiters; triage() reporting the blocker and the lock waits; metrics()
# counting 5 waiters; incident_report()'s blocking table listing them.
set -u
. "$(dirname "$0")/../tools/common.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
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
rb_psql -q <<SQL || fail "setup"
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
nsess=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
nwait=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
nixact=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'")
echo "sessions: $nsess, lock waiters: $nwait"
[ "$nwait" = 5 ] || fail "$nwait lock waiters, want 5"
[ "$nixact" = 1 ] || fail "$nixact sessions idle in transaction, want the one blocker"
[ "$nsess" -ge $((IDLE + 6)) ] || fail "$nsess client sessions, want at least $((IDLE + 6))"
[ "$(rb_psql -Atc "SELECT count(*) FROM pg_class WHERE relname ~ '^t[0-9]+\$' AND relkind = 'r'")" = 500 ] ||
	fail "the 500 tables were not created"

BASE="SELECT 1 FROM (SELECT state, count(*) FROM pg_stat_activity GROUP BY state) a
UNION ALL SELECT 1 FROM (SELECT a.pid, a.usename, a.query, b FROM pg_stat_activity a, unnest(pg_blocking_pids(a.pid)) b WHERE a.wait_event_type = 'Lock') b
UNION ALL SELECT 1 FROM (SELECT pid, now() - query_start, query FROM pg_stat_activity WHERE state = 'active' AND now() - query_start > interval '5 min') c
UNION ALL SELECT 1 FROM (SELECT datname, age(datfrozenxid) FROM pg_database) d
UNION ALL SELECT 1 FROM (SELECT relname, n_dead_tup FROM pg_stat_user_tables WHERE n_dead_tup > 10000 ORDER BY n_dead_tup DESC LIMIT 10) e"

rb_psql -Atq <<SQL || fail "timed runs"
CREATE TEMP TABLE t(which text, ms float8, ok boolean);
DO \$\$
DECLARE
  t0 timestamptz; n bigint; k bigint; s text;
BEGIN
  FOR i IN 1..$N LOOP
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    EXECUTE \$q\$SELECT count(*) FROM ($BASE) q\$q\$ INTO n;
    INSERT INTO t VALUES ('baseline', extract(epoch FROM clock_timestamp() - t0) * 1000, n >= 5 + 1);
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    SELECT count(*), count(*) FILTER (WHERE check_name IN ('lock_waits', 'idle_in_transaction_blocking'))
      INTO n, k FROM runbook.triage();
    INSERT INTO t VALUES ('triage', extract(epoch FROM clock_timestamp() - t0) * 1000, k = 2);
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM runbook.alerts;
    INSERT INTO t VALUES ('alerts', extract(epoch FROM clock_timestamp() - t0) * 1000, n > 0);
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    s := runbook.metrics();
    INSERT INTO t VALUES ('metrics', extract(epoch FROM clock_timestamp() - t0) * 1000,
                          s ~ '(^|\n)pg_runbook_lock_waiters 5(\n|$)');
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    s := runbook.incident_report();
    INSERT INTO t VALUES ('incident_report', extract(epoch FROM clock_timestamp() - t0) * 1000,
                          s LIKE '%## Blocking%' AND regexp_count(s, '\| UPDATE hot SET') >= 5);
  END LOOP;
END \$\$;
DO \$\$
DECLARE r record;
BEGIN
  FOR r IN SELECT which, count(*) AS runs, count(*) FILTER (WHERE ok) AS good FROM t GROUP BY which LOOP
    IF r.runs <> $N OR r.good <> $N THEN
      RAISE EXCEPTION '%: % runs, % of them saw the scenario (want $N)', r.which, r.runs, r.good;
    END IF;
  END LOOP;
  IF (SELECT count(DISTINCT which) FROM t) <> 5 THEN
    RAISE EXCEPTION 'a call did not run';
  END IF;
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
