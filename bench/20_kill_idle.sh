#!/usr/bin/env bash
# Benchmark (issue 4): end 900 idle sessions.
#   baseline:   the runbooks' remedy (shared/baselines/kill_idle.sql) with the
#               threshold '10 minutes' replaced by '0'
#   pg_runbook: SELECT count(*) FROM runbook.kill_idle('0')
# Sessions: pgbench clients of a non-superuser role that only \sleep (idle
# since their connection); re-opened between the two runs.  For each run:
# how long the statement takes (server-side, clock_timestamp), and how long
# until pg_stat_activity shows none of the sessions.  One run, both sides.
# The cap pg_runbook.max_actions_per_cycle (default 100) is raised to 1000
# in the server configuration so that one call may end all 900.
set -u
. "$(dirname "$0")/../tools/common.sh"
SESSIONS=${SESSIONS:-900}
DIR=$BUILD/bench_kill_idle
PGB=
trap '[ -n "$PGB" ] && kill $PGB 2>/dev/null; server_stop' EXIT
server_start "$DIR" "max_connections = $((SESSIONS + 30))" "pg_runbook.max_actions_per_cycle = 1000" || exit 1
rb_psql -qc 'CREATE EXTENSION pg_runbook' -c 'CREATE ROLE bench_app LOGIN'

echo '\sleep 600 s' > "$DIR/sleep.sql"; chmod a+r "$DIR/sleep.sql"

open_sessions() {
	as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -U bench_app \
		-c "$SESSIONS" -j 2 -T 600 -f "$DIR/sleep.sql" postgres >/dev/null 2>&1 &
	PGB=$!
	local n=0
	for _ in $(seq 240); do
		n=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE usename = 'bench_app' AND state = 'idle'")
		[ "$n" -ge "$SESSIONS" ] && break
		sleep 0.5
	done
	sleep 1
	echo "$n"
}

# $1 = statement; prints "<statement ms> <ms until all gone> <rows>"
timed_kill() {
	rb_psql -Atq <<SQL
CREATE TEMP TABLE r(stmt_ms float8, gone_ms float8, n bigint);
DO \$\$
DECLARE t0 timestamptz; t1 timestamptz; n bigint; left_ bigint;
BEGIN
  t0 := clock_timestamp();
  EXECUTE \$q\$SELECT count(*) FROM ($1) q\$q\$ INTO n;
  t1 := clock_timestamp();
  LOOP
    PERFORM pg_stat_clear_snapshot();
    SELECT count(*) INTO left_ FROM pg_stat_activity WHERE usename = 'bench_app';
    EXIT WHEN left_ = 0 OR clock_timestamp() - t0 > interval '30 s';
    PERFORM pg_sleep(0.002);
  END LOOP;
  INSERT INTO r VALUES (extract(epoch FROM t1 - t0) * 1000,
                        extract(epoch FROM clock_timestamp() - t0) * 1000, n);
END \$\$;
SELECT round(stmt_ms::numeric, 1) || ' ' || round(gone_ms::numeric, 1) || ' ' || n FROM r;
SQL
}

BASE=$(sed -e '/^--/d' -e "s/INTERVAL '10 minutes'/INTERVAL '0'/" -e 's/;[[:space:]]*$//' "$ROOT/../../shared/baselines/kill_idle.sql" 2>/dev/null)
[ -n "$BASE" ] || BASE=$(sed -e '/^--/d' -e "s/INTERVAL '10 minutes'/INTERVAL '0'/" -e 's/;[[:space:]]*$//' /work/shared/baselines/kill_idle.sql)
OURS="SELECT * FROM runbook.kill_idle('0')"

echo "idle sessions (baseline run): $(open_sessions)"
read -r b_stmt b_gone b_n <<<"$(timed_kill "$BASE")"
wait $PGB 2>/dev/null; PGB=
echo "idle sessions (pg_runbook run): $(open_sessions)"
read -r o_stmt o_gone o_n <<<"$(timed_kill "$OURS")"
wait $PGB 2>/dev/null; PGB=
terminated=$(rb_psql -Atc "SELECT count(*) FROM runbook.recent_actions() WHERE outcome = 'terminated'")

echo "baseline   (runbook SQL):          $b_n rows, statement $b_stmt ms, all sessions gone after $b_gone ms"
echo "pg_runbook (kill_idle('0')):       $o_n rows ($terminated terminated), statement $o_stmt ms, all sessions gone after $o_gone ms"
awk -v b="$b_stmt" -v o="$o_stmt" -v g="$o_gone" 'BEGIN {
	printf "ratio baseline/pg_runbook (statement time) = %.1fx (target >= 5x); pg_runbook all gone in %.0f ms (target <= 2000 ms)\n", b / o, g }'
