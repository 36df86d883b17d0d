#!/usr/bin/env bash
# Benchmark (issues 4, 12, 17): end 900 leaked idle sessions.
#   baseline:   the runbooks' remedy, verbatim (shared/baselines/kill_idle.sql)
#               with only its threshold '10 minutes' replaced by '0'
#   pg_runbook: SELECT * FROM runbook.kill_idle('0', max_actions => 1000)
#               (the per-call limit an on-call role passes; the server's
#               max_actions_per_cycle stays at its default)
# Sessions: pgbench clients of a non-superuser role that only \sleep (idle
# since their connection); re-opened for each run.  Figures, per run:
#   gone:     the time from the start of the statement until every targeted
#             session is gone -- its pid no longer in pg_stat_activity and
#             its process exited (the connection slot is free): what a DBA
#             waits for;
#   returned: when the statement returned.
# Both measured in the same way, server-side, by the same polling loop,
# with pg_stat_activity's snapshot cleared before every look.
# The scenario is asserted: every session opened, every targeted session
# gone, every one counted by the statement; otherwise the bench fails.
set -u
. "$(dirname "$0")/../tools/common.sh"
SESSIONS=${SESSIONS:-900}
ROUNDS=${ROUNDS:-1}
DIR=$BUILD/bench_kill_idle
PGB=
# pgbench, sleeping, notices its dead connections only after \sleep: stop it
# (it runs under a subshell and runuser: end the whole tree, deepest first)
kill_tree() { local c; for c in $(pgrep -P "$1"); do kill_tree "$c"; done; kill "$1" 2>/dev/null; }
stop_pgbench() { [ -n "$PGB" ] || return 0; kill_tree "$PGB"; wait "$PGB" 2>/dev/null; PGB=; }
trap 'stop_pgbench; server_stop' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

server_start "$DIR" "max_connections = $((SESSIONS + 30))" || exit 1
rb_psql -qc 'CREATE EXTENSION pg_runbook' -c 'CREATE ROLE bench_app LOGIN' || exit 1

echo '\sleep 600 s' > "$DIR/sleep.sql"; chmod a+r "$DIR/sleep.sql"

# opens SESSIONS idle sessions of bench_app; prints how many are idle
open_sessions() {
	as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -U bench_app \
		-c "$SESSIONS" -j 2 -T 600 -f "$DIR/sleep.sql" postgres >/dev/null 2>&1 &
	PGB=$!
	local n=0
	for _ in $(seq 600); do
		n=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE usename = 'bench_app' AND state = 'idle'")
		[ "$n" -ge "$SESSIONS" ] && break
		sleep 0.2
	done
	echo "$n"
}

# $1 = statement; prints "<returned ms> <gone ms> <rows counted> <left>"
timed_kill() {
	rb_psql -Atq <<SQL
CREATE TEMP TABLE r(ret_ms float8, gone_ms float8, n bigint, left_ bigint);
DO \$\$
DECLARE t0 timestamptz; t1 timestamptz; n bigint; left_ bigint; targets int[];
BEGIN
  PERFORM pg_stat_clear_snapshot();
  SELECT array_agg(pid) INTO targets FROM pg_stat_activity WHERE usename = 'bench_app';
  PERFORM pg_stat_clear_snapshot();
  t0 := clock_timestamp();
  EXECUTE \$q\$SELECT count(*) FROM ($1) q\$q\$ INTO n;
  t1 := clock_timestamp();
  LOOP
    PERFORM pg_stat_clear_snapshot();
    SELECT count(*) INTO left_ FROM pg_stat_activity WHERE pid = ANY (targets);
    IF left_ = 0 THEN
      -- out of pg_stat_activity; now wait for the processes to exit
      SELECT count(*) INTO left_ FROM unnest(targets) p
       WHERE pg_stat_file('/proc/' || p || '/stat', true) IS NOT NULL;
    END IF;
    EXIT WHEN left_ = 0 OR clock_timestamp() - t0 > interval '60 s';
    PERFORM pg_sleep(0.002);
  END LOOP;
  INSERT INTO r VALUES (extract(epoch FROM t1 - t0) * 1000,
                        extract(epoch FROM clock_timestamp() - t0) * 1000, n, left_);
END \$\$;
SELECT round(ret_ms::numeric, 1) || ' ' || round(gone_ms::numeric, 1) || ' ' || n || ' ' || left_ FROM r;
SQL
}

BASE_FILE=/work/shared/baselines/kill_idle.sql
[ -r "$ROOT/../../shared/baselines/kill_idle.sql" ] && BASE_FILE=$ROOT/../../shared/baselines/kill_idle.sql
BASE=$(sed -e '/^--/d' -e "s/INTERVAL '10 minutes'/INTERVAL '0'/" -e 's/;[[:space:]]*$//' "$BASE_FILE")
[ -n "$BASE" ] || fail "baseline $BASE_FILE not readable"
OURS="SELECT * FROM runbook.kill_idle('0', max_actions => $((SESSIONS + 100)))"

run_side() {	# $1 = label, $2 = statement; sets R_RET R_GONE R_N
	local opened
	opened=$(open_sessions)
	[ "$opened" -ge "$SESSIONS" ] || fail "$1: only $opened of $SESSIONS sessions opened"
	read -r R_RET R_GONE R_N R_LEFT <<<"$(timed_kill "$2")"
	[ -n "${R_LEFT:-}" ] || fail "$1: the statement failed"
	[ "$R_LEFT" -eq 0 ] || fail "$1: $R_LEFT targeted sessions still there after 60 s"
	[ "$R_N" -ge "$SESSIONS" ] || fail "$1: the statement counted $R_N rows for $SESSIONS sessions"
	stop_pgbench
}

for round in $(seq "$ROUNDS"); do
	run_side baseline "$BASE"
	b_ret=$R_RET b_gone=$R_GONE b_n=$R_N
	t0=$(rb_psql -Atc "SELECT count(*) FROM runbook.recent_actions() WHERE outcome = 'terminated'")
	run_side pg_runbook "$OURS"
	o_ret=$R_RET o_gone=$R_GONE o_n=$R_N
	terminated=$(( $(rb_psql -Atc "SELECT count(*) FROM runbook.recent_actions() WHERE outcome = 'terminated'") - t0 ))
	[ "$terminated" -eq "$SESSIONS" ] || fail "pg_runbook: $terminated terminated in the audit, expected $SESSIONS"

	echo "round $round ($SESSIONS idle sessions):"
	echo "  baseline   (runbook SQL, pg_terminate_backend per row): $b_n rows; all gone after $b_gone ms (statement returned after $b_ret ms)"
	echo "  pg_runbook (kill_idle, max_actions => $((SESSIONS + 100))):     $o_n rows, $terminated terminated and audited; all gone after $o_gone ms (returned after $o_ret ms)"
	awk -v bg="$b_gone" -v og="$o_gone" -v br="$b_ret" -v or="$o_ret" 'BEGIN {
		printf "  ratio baseline/pg_runbook: time until all gone %.2fx; statement return %.2fx\n", bg / og, br / or }'
done
