#!/usr/bin/env bash
# Benchmark: triage and reporting against the queries the runbooks copy, in
# two scenarios, each on its own throwaway server:
#   small: 80 idle client sessions, one idle-in-transaction blocker with 5
#          waiters behind it, 500 user tables (N=21 runs);
#   large: 1,000 client sessions (994 idle pgbench clients, the blocker and
#          its 5 waiters), 10,000 user tables with an index each, analyzed
#          (N=11 runs).  Target: triage() <= 100 ms (median).
#   baseline: the runbooks' checks as plain SQL (connection counts by state
#     from pg_stat_activity, blocked sessions via pg_blocking_pids, long
#     statements, age(datfrozenxid), dead tuples from pg_stat_user_tables)
#   pg_runbook: SELECT * FROM runbook.triage()  (every check, see README)
# Also timed alone: alerts, metrics(), incident_report().
# Each runs alternately in one session N times, each after
# pg_stat_clear_snapshot() (as a fresh statement would read); medians and
# the ratio are printed from this one run.
# The bench fails (exit 1) unless the scenario formed and every run saw it:
# the sessions and the 5 waiters present; the baseline listing the
# waiters; triage() reporting the blocker and the lock waits; metrics()
# counting 5 waiters; incident_report()'s blocking table listing them.
# SCENARIOS="small large" (default) picks them.
set -u
. "$(dirname "$0")/../tools/common.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
# Each held session is `(statements; sleep) | psql`; the sleeps' pids go to
# a file so the exit trap ends exactly them (psql then exits on EOF).
SLEEPS=$BUILD/bench_triage_sleeps
: > "$SLEEPS"
hold() { ( printf "$1"; sleep 600 & echo $! >> "$SLEEPS"; wait ) | rb_psql -q >/dev/null 2>&1 & }
release() { [ -s "$SLEEPS" ] && kill $(cat "$SLEEPS") 2>/dev/null; : > "$SLEEPS"; }
cleanup() { release; kill_children; server_stop; rm -f "$SLEEPS"; }
trap cleanup EXIT

BASE="SELECT 1 FROM (SELECT state, count(*) FROM pg_stat_activity GROUP BY state) a
UNION ALL SELECT 1 FROM (SELECT a.pid, a.usename, a.query, b FROM pg_stat_activity a, unnest(pg_blocking_pids(a.pid)) b WHERE a.wait_event_type = 'Lock') b
UNION ALL SELECT 1 FROM (SELECT pid, now() - query_start, query FROM pg_stat_activity WHERE state = 'active' AND now() - query_start > interval '5 min') c
UNION ALL SELECT 1 FROM (SELECT datname, age(datfrozenxid) FROM pg_database) d
UNION ALL SELECT 1 FROM (SELECT relname, n_dead_tup FROM pg_stat_user_tables WHERE n_dead_tup > 10000 ORDER BY n_dead_tup DESC LIMIT 10) e"

# scenario NAME IDLE TABLES N [TARGET_MS]
scenario() {
	local name=$1 idle=$2 tables=$3 N=$4 target=${5:-} nsess nwait nixact
	echo "== scenario $name: $((idle + 6)) client sessions, $tables tables, N=$N"
	server_start "$BUILD/bench_triage_$name" "max_connections = $((idle + 100))" "max_locks_per_transaction = 256" || exit 1
	rb_psql -q <<SQL || fail "setup"
CREATE EXTENSION pg_runbook;
CREATE TABLE hot (id int PRIMARY KEY, v int);
INSERT INTO hot VALUES (1, 0);
SQL
	local per=1000 b ddl
	# small: the tables of 1.0's and 1.1's figures; large: a key and 5 rows each
	if [ "$name" = small ]; then ddl='CREATE TABLE t%s (id int); INSERT INTO t%s VALUES (1)'
	else ddl='CREATE TABLE t%s (id int PRIMARY KEY, v int); INSERT INTO t%s SELECT g, g FROM generate_series(1, 5) g'; fi
	for ((b = 1; b <= tables; b += per)); do
		rb_psql -q -c "DO \$\$ BEGIN FOR i IN $b..$((b + per - 1 < tables ? b + per - 1 : tables)) LOOP
			EXECUTE format('$ddl', i, i);
		END LOOP; END \$\$" || fail "tables"
	done
	rb_psql -qc "ANALYZE" || fail "ANALYZE"
	# idle sessions: pgbench clients that only sleep (psql holds for a few)
	if [ "$idle" -gt 100 ]; then
		echo '\sleep 600 s' > "$SERVER_DIR/sleep.sql"; chmod a+r "$SERVER_DIR/sleep.sql"
		as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -c "$idle" -j 2 -T 600 \
			-f "$SERVER_DIR/sleep.sql" postgres >/dev/null 2>&1 &
	else
		for i in $(seq 1 "$idle"); do hold ""; done
	fi
	hold "BEGIN;\nUPDATE hot SET v = v + 1 WHERE id = 1;\n"
	sleep 1
	for i in $(seq 1 5); do hold "UPDATE hot SET v = v + 1 WHERE id = 1;\n"; done
	for i in $(seq 1 240); do
		# (the waits older than deadlock_timeout: shorter ones are no finding)
		[ "$(rb_psql -Atc "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock' AND now() - state_change > current_setting('deadlock_timeout')::interval) = 5 AND count(*) FILTER (WHERE backend_type = 'client backend') >= $((idle + 6)) FROM pg_stat_activity")" = t ] && break
		sleep 0.5
	done
	nsess=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
	nwait=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
	nixact=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'")
	echo "sessions: $nsess, lock waiters: $nwait"
	[ "$nwait" = 5 ] || fail "$nwait lock waiters, want 5"
	[ "$nixact" = 1 ] || fail "$nixact sessions idle in transaction, want the one blocker"
	[ "$nsess" -ge $((idle + 6)) ] || fail "$nsess client sessions, want at least $((idle + 6))"
	[ "$(rb_psql -Atc "SELECT count(*) FROM pg_class WHERE relname ~ '^t[0-9]+\$' AND relkind = 'r'")" = "$tables" ] ||
		fail "the $tables tables were not created"

	rb_psql -Atq <<SQL || fail "timed runs"
CREATE TEMP TABLE t(which text, ms float8, ok boolean);
-- one call of each first: plans and PL/pgSQL functions compiled, as in any session that ran it before
DO \$\$ BEGIN PERFORM count(*) FROM runbook.triage(); END \$\$;
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
SELECT format('triage $name (N=$N): median ms: baseline %s, runbook.triage() %s; ratio triage/baseline = %s',
              round((SELECT med FROM m WHERE which = 'baseline')::numeric, 3),
              round((SELECT med FROM m WHERE which = 'triage')::numeric, 3),
              round(((SELECT med FROM m WHERE which = 'triage') / (SELECT med FROM m WHERE which = 'baseline'))::numeric, 2))
UNION ALL
SELECT format('median ms: alerts %s, metrics() %s, incident_report() %s',
              round((SELECT med FROM m WHERE which = 'alerts')::numeric, 3),
              round((SELECT med FROM m WHERE which = 'metrics')::numeric, 3),
              round((SELECT med FROM m WHERE which = 'incident_report')::numeric, 3))
UNION ALL
SELECT 'RESULT triage $name: ' || round((SELECT med FROM m WHERE which = 'triage')::numeric, 1) || ' ms'
       || CASE WHEN '$target' = '' THEN ''
               WHEN (SELECT med FROM m WHERE which = 'triage') <= '0$target'::float8 THEN ' (target <= $target ms: met)'
               ELSE ' (target <= $target ms: NOT met)' END;
SQL
	release
	kill_children
	server_stop
}

for s in ${SCENARIOS:-small large}; do
	case $s in
	small) scenario small 80 500 "${N:-21}" ;;
	large) scenario large 994 10000 "${N_LARGE:-11}" 100 ;;
	*) fail "unknown scenario $s" ;;
	esac
done
