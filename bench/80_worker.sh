#!/usr/bin/env bash
# Benchmark (issue 8): the policy worker's cost.
#  1. cycle cost with 1,000 client sessions and 5 enabled policies, from
#     runbook.worker_status() (target: <= 1 ms per cycle);
#  2. pgbench TPS with the worker at naptime 100 ms and 5 policies, against
#     the worker disabled (pg_runbook.enforce = off), alternating rounds in
#     the same run (target: >= 99 %).
set -u
. "$(dirname "$0")/../tools/common.sh"
SESSIONS=${SESSIONS:-1000}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
DIR=$BUILD/bench_worker
PGB=
trap 'kill_children; server_stop' EXIT
server_start "$DIR" "max_connections = $((SESSIONS + 30))" \
	"pg_runbook.database = 'postgres'" "pg_runbook.naptime = '100ms'" || exit 1
rb_psql -q <<'SQL'
CREATE EXTENSION pg_runbook;
CREATE ROLE app LOGIN;
-- five realistic policies that are checked every cycle but act on nobody here
INSERT INTO runbook.policies (name, priority, application_pattern, states, action)
     VALUES ('backups', 1, 'pg\_dump%', '{idle,active,idle in transaction}', 'ignore');
INSERT INTO runbook.policies (name, role_name, states, min_state_age, action)
     VALUES ('idle_app', 'app', '{idle}', '30 min', 'terminate');
INSERT INTO runbook.policies (name, states, min_state_age, only_if_blocking, min_blocked_wait, action)
     VALUES ('iit_blocking', '{idle in transaction}', '1 min', true, '30 s', 'terminate');
INSERT INTO runbook.policies (name, states, min_xact_age, min_xmin_age, action)
     VALUES ('xmin_holders', '{idle in transaction,active}', '1 hour', 1000000, 'terminate');
INSERT INTO runbook.policies (name, states, min_query_age, action, grace)
     VALUES ('reports', '{active}', '10 min', 'cancel_then_terminate', '1 min');
SQL

echo '\sleep 600 s' > "$DIR/sleep.sql"; chmod a+r "$DIR/sleep.sql"
as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -c "$SESSIONS" -j 2 -T 600 \
	-f "$DIR/sleep.sql" postgres >/dev/null 2>&1 &
PGB=$!
for _ in $(seq 120); do
	n=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
	[ "$n" -ge "$SESSIONS" ] && break
	sleep 0.5
done
echo "client sessions: $n"

# 1. cycle cost: reset the averages by measuring a window of cycles
read -r c0 t0 < <(rb_psql -AtF' ' -c "SELECT cycles, avg_cycle_ms * cycles FROM runbook.worker_status()")
sleep 5
rb_psql -At -c "SELECT format('worker: %s policies, %s cycles in 5 s, last cycle %s ms, max %s ms',
	policies, cycles - $c0, round(last_cycle_ms::numeric, 3), round(max_cycle_ms::numeric, 3))
	FROM runbook.worker_status()"
rb_psql -At -c "SELECT format('cycle cost with %s sessions: mean %s ms per cycle (target <= 1 ms)',
	$n, round(((avg_cycle_ms * cycles - $t0) / nullif(cycles - $c0, 0))::numeric, 3))
	FROM runbook.worker_status()"

# 2. pgbench with and without the worker
as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -i -q -s 5 postgres >/dev/null 2>&1
tps() {
	as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -S -c 2 -j 2 -T "$SECS" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
set_enforce() { rb_psql -qc "ALTER SYSTEM SET pg_runbook.enforce = '$1'" -c 'SELECT pg_reload_conf()' >/dev/null; sleep 0.5; }
on=(); off=()
for r in $(seq "$ROUNDS"); do
	set_enforce off; off+=("$(tps)")
	set_enforce on;  on+=("$(tps)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mon=$(median "${on[@]}"); moff=$(median "${off[@]}")
echo "pgbench -S TPS, worker off: ${off[*]} (median $moff)"
echo "pgbench -S TPS, worker on (naptime 100 ms, 5 policies): ${on[*]} (median $mon)"
awk -v a="$mon" -v b="$moff" 'BEGIN {printf "TPS ratio worker on / off = %.3f (target >= 0.99)\n", a / b}'
