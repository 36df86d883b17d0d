#!/usr/bin/env bash
# Benchmark (issue 13 §1): policies that react to harm, with real sessions
# and the default naptime (10 s), so that only the event wake-ups explain a
# reaction faster than that.
#  1. connection leak: a client opens RATE new idle connections per second
#     for SECS seconds into max_connections = 100, with a saturation policy
#     (>= 90 % of the usable slots -> terminate idle sessions of the leaking
#     role, oldest first, down to 80 %).  Target: no attempt refused with
#     SQLSTATE 53300, and no more sessions ended than needed.
#  2. lock queue: an idle-in-transaction root blocker and 5 waiters under a
#     blocking policy (min_blocked_sessions = 5); time from the fifth waiter's
#     arrival to the root's termination.  Target: < 1 s.
#  3. worker cost with 1,000 idle sessions, no incident, the starter policies
#     enabled, under pgbench -S: mean cycle time (target <= 1 ms) and the
#     worker's CPU time from /proc/<pid>/stat over a window (target <= 1 %).
# Each part checks that its scenario formed and exits non-zero otherwise.
set -u
. "$(dirname "$0")/../tools/common.sh"
RATE=${RATE:-200}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-5}
SESSIONS=${SESSIONS:-1000}
WINDOW=${WINDOW:-30}
PARTS=${PARTS:-123}     # which parts to run, e.g. PARTS=1
# LEAK_CONF: more postgresql.conf lines for part 1's server, for a diagnosis
# run (e.g. LEAK_CONF="log_connections = on;log_min_messages = debug2")
LEAK_CONF=${LEAK_CONF:-}
DIR=$BUILD/bench_saturation
PIDS=()
# every background job is `as_user ... &`: end the whole tree of each
# (killing the subshell alone left part 3's pgbench -T 600 running)
cleanup() { for p in "${PIDS[@]}"; do stop_tree "$p"; done; kill_children; server_stop; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

build_and_install >/dev/null || fail "build"
user_dir "$DIR"
gcc -O2 -o "$DIR/leak_client" "$(dirname "$0")/leak_client.c" -I"$(pg_config --includedir)" -lpq || fail "leak_client build"
chmod a+rx "$DIR/leak_client"

# ---------------------------------------------------------------- 1. leak
if [[ $PARTS == *1* ]]; then
IFS=';' read -r -a leak_conf <<<"$LEAK_CONF"
server_start "$DIR/leak" "max_connections = 100" "pg_runbook.database = 'postgres'" "pg_runbook.audit_ring_size = 16384" \
	"log_connections = on" "log_line_prefix = '%m [%p] '" "${leak_conf[@]}" || exit 1
rb_psql -q <<'SQL'
CREATE EXTENSION pg_runbook;
CREATE ROLE leak LOGIN;
INSERT INTO runbook.policies (name, role_name, states, min_state_age, action,
                              min_connections_pct, target_connections_pct)
     VALUES ('saturation', 'leak', '{idle}', '0', 'terminate', 90, 80);
SQL
usable=$(rb_psql -Atc "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int")
# the postmaster's listen backlog (PostgreSQL 15: 2 x MaxBackends, capped by
# net.core.somaxconn) and the kernel's count of connections it could not
# queue (system-wide unless this runs in its own network namespace)
backlog=$(ss -Hlnt "sport = :$PGPORT" 2>/dev/null | awk 'NR == 1 {print $3}')
overflows() { awk '/^TcpExt:/ {if (!h) {for (i = 1; i <= NF; i++) if ($i == "ListenOverflows") c = i; h = 1} else print $c}' /proc/net/netstat 2>/dev/null; }
ov0=$(overflows)
# the postmaster accepts and forks every connection: its CPU time and its
# time runnable but waiting for a CPU (/proc/<pid>/schedstat, ns)
pm=$(head -1 "$SERVER_DIR/data/postmaster.pid")
read -r pm_cpu0 pm_wait0 _ < "/proc/$pm/schedstat" 2>/dev/null || pm_cpu0=
# over TCP: a Unix socket refuses a connect() at once when the postmaster's
# accept queue is full, which is not what an application over a network sees
out=$(as_user "$DIR/leak_client" "host=127.0.0.1 port=$PGPORT dbname=postgres user=leak" "$RATE" "$SECS" 2>"$DIR/leak.err")
ov1=$(overflows)
read -r pm_cpu1 pm_wait1 _ < "/proc/$pm/schedstat" 2>/dev/null || pm_cpu1=
echo "leak client ($RATE new connections/s for $SECS s, max_connections = 100, $usable usable): $out"
attempts=$(sed -n 's/.*attempts=\([0-9]*\).*/\1/p' <<<"$out")
refused=$(sed -n 's/.*refused_53300=\([0-9]*\).*/\1/p' <<<"$out")
ended57=$(sed -n 's/.*(57P01: \([0-9]*\)).*/\1/p' <<<"$out")
[ "${attempts:-0}" -ge $((RATE * SECS * 9 / 10)) ] || fail "the leak did not run ($out)"
# Every failed attempt, matched with the server log (log_connections) by its
# local port: did its connection ever reach the postmaster?  A connection
# reset during set-up whose port the postmaster never logged was lost in the
# kernel's listen queue; one that reached the server and then closed without
# a message would be a backend ended during its start-up (must not happen).
server_log=$SERVER_DIR/server.log
read -r accepted acc_first acc_last < <(awk '/connection received: host=127\.0\.0\.1 / {n++; t = $2; if (n == 1) f = t} END {print n + 0, f, t}' "$server_log")
awk -v slog="$server_log" '
	BEGIN {
		while ((getline l < slog) > 0)
			if (l ~ /connection received: host=127\.0\.0\.1 port=/) {
				split(l, w, " "); p = l; sub(/.*port=/, "", p)
				if (!(p in seen) || w[2] < seen[p]) seen[p] = w[2]
			}
	}
	/^at=/ {
		split($0, f, " "); at = f[1]; sub(/^at=/, "", at)
		port = $0; sub(/.* port=/, "", port); sub(/ .*/, "", port)
		code = $0; sub(/.* sqlstate=/, "", code); sub(/ .*/, "", code)
		phase = $0; sub(/.* phase=/, "", phase); sub(/ .*/, "", phase)
		if (code == "53300") k = "refused with 53300"
		else if (code != "-") k = "failed with SQLSTATE " code
		else if ((port in seen) && seen[port] <= at) k = "closed without a message after reaching the server"
		else k = "closed before reaching the server (never accepted by the postmaster)"
		n[k " in phase " phase]++
		if (!(k in ex)) ex[k] = $0
	}
	END {
		for (k in n) printf "  %d %s\n", n[k], k
		for (k in ex) printf "  e.g. %s\n", ex[k]
	}' "$DIR/leak.err" | tee "$DIR/leak.failures"
lost=$(awk '/^  [0-9]+ closed before reaching/ {s += $1} END {print s + 0}' "$DIR/leak.failures")
silent=$(awk '/^  [0-9]+ closed without a message after/ {s += $1} END {print s + 0}' "$DIR/leak.failures")
awk -v n="$accepted" -v f="$acc_first" -v l="$acc_last" -v b="${backlog:-?}" -v r="$RATE" \
	-v ov="$([ -n "$ov0" ] && [ -n "$ov1" ] && echo $((ov1 - ov0)) || echo '?')" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
	split(f, a, ":"); split(l, z, ":")
	d = (z[1] * 3600 + z[2] * 60 + z[3]) - (a[1] * 3600 + a[2] * 60 + a[3])
	printf "postmaster accepted %d TCP connections in %.1f s = %.0f/s against %d/s offered; listen backlog %s;", n, d, (d > 0 ? n / d : 0), r, b
	printf " kernel ListenOverflows during the leak: %s (system-wide); load average %s\n", ov, load
}'
[ -n "$pm_cpu0" ] && [ -n "$pm_cpu1" ] && awk -v c="$((pm_cpu1 - pm_cpu0))" -v w="$((pm_wait1 - pm_wait0))" 'BEGIN {
	printf "postmaster while the client ran: %.2f s on a CPU, %.2f s runnable but waiting for one\n", c / 1e9, w / 1e9
}'
# what the worker did: actions, and the client count each cycle acted at
read -r ended cycles maxbatch over < <(rb_psql -AtF' ' -c "
	WITH a AS (SELECT acted_at, substring(detail from '(\d+) of \d+ usable')::int AS n
	             FROM runbook.recent_actions() WHERE actor = 'policy:saturation' AND outcome = 'terminated'),
	     c AS (SELECT n, count(*) AS k FROM (SELECT *, sum(gap) OVER (ORDER BY acted_at) AS cyc
	             FROM (SELECT *, coalesce((acted_at - lag(acted_at) OVER (ORDER BY acted_at) > interval '5 ms')::int, 1) AS gap FROM a) x) y
	            GROUP BY cyc, n)
	SELECT (SELECT count(*) FROM a), count(*), max(k),
	       count(*) FILTER (WHERE k > n - floor(0.80 * $usable)) FROM c")
echo "worker ended $ended sessions in $cycles cycles (largest $maxbatch); cycles that ended more than down to 80 %: $over"
echo "  the client saw $ended57 of its established connections ended with 57P01 (each termination hit an established session: must equal $ended)"
echo "refused with 53300: $refused (target 0)"
echo "closed before reaching the server (listen queue overflow, not pg_runbook: see bench/README.md): $lost"
echo "closed without a message after reaching the server: $silent (must be 0)"
[ "$silent" = 0 ] || fail "$silent connections reached the server and closed during set-up without a message"
[ "$ended57" = "$ended" ] || fail "the worker ended $ended sessions, the client saw $ended57 of its established connections ended"
[ "${ended:-0}" -gt 0 ] || fail "the policy never acted"
cp "$SERVER_DIR/server.log" "$DIR/leak_server.log"   # kept for reading after the run
server_stop

fi
# ---------------------------------------------------------------- 2. lock queue
if [[ $PARTS == *2* ]]; then
server_start "$DIR/lock" "pg_runbook.database = 'postgres'" || exit 1
rb_psql -q <<'SQL'
CREATE EXTENSION pg_runbook;
CREATE ROLE app LOGIN;
CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t VALUES (1, 0);
GRANT ALL ON t TO app;
INSERT INTO runbook.policies (name, role_name, states, only_if_blocking, min_blocked_sessions, action)
     VALUES ('lock_queue', 'app', '{idle in transaction}', true, 5, 'terminate');
SQL
times=()
for r in $(seq "$ROUNDS"); do
	# the root: takes the row lock and stays idle in transaction
	mkfifo "$DIR/root.in" 2>/dev/null; [ "$(id -u)" = 0 ] && chown "$RUN_USER" "$DIR/root.in"
	as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/psql" -X -U app -d postgres -q <"$DIR/root.in" >/dev/null 2>&1 &
	PIDS+=($!)
	exec 7>"$DIR/root.in"
	echo "SET application_name = 'root'; BEGIN; UPDATE t SET v = v + 1 WHERE id = 1;" >&7
	for _ in $(seq 100); do
		[ "$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'root' AND state = 'idle in transaction'")" = 1 ] && break
		sleep 0.05
	done
	root=$(rb_psql -Atc "SELECT pid FROM pg_stat_activity WHERE application_name = 'root'")
	[ -n "$root" ] || fail "no root blocker"
	for w in 1 2 3 4; do
		as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/psql" -X -U app -d postgres -qc "UPDATE t SET v = v + 1 WHERE id = 1" >/dev/null 2>&1 &
		PIDS+=($!)
	done
	for _ in $(seq 100); do
		[ "$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")" = 4 ] && break
		sleep 0.05
	done
	[ "$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")" = 4 ] || fail "4 waiters did not form"
	sleep 1   # the queue of 4 stands: nothing may happen
	[ "$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE pid = $root")" = 1 ] || fail "root ended with 4 waiters"
	t5=$(date +%s.%N)
	as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/psql" -X -U app -d postgres -qc "UPDATE t SET v = v + 1 WHERE id = 1" >/dev/null 2>&1 &
	PIDS+=($!)
	acted=
	for _ in $(seq 400); do
		acted=$(rb_psql -Atc "SELECT extract(epoch FROM acted_at) FROM runbook.recent_actions() WHERE pid = $root AND outcome = 'terminated'")
		[ -n "$acted" ] && break
		sleep 0.02
	done
	exec 7>&-
	[ -n "$acted" ] || fail "root not ended in round $r"
	times+=("$(awk -v a="$acted" -v b="$t5" 'BEGIN {printf "%.3f", a - b}')")
	wait 2>/dev/null
	PIDS=()
done
others=$(rb_psql -Atc "SELECT count(*) FROM runbook.recent_actions() WHERE application_name <> 'root'")
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "lock queue: root ended after the fifth waiter arrived (naptime 10 s): ${times[*]} s (median $(median "${times[@]}") s, max $(printf '%s\n' "${times[@]}" | sort -g | tail -1) s; target < 1 s); other sessions ended: $others"
[ "$others" = 0 ] || fail "a session other than the root was ended"
server_stop

fi
# ---------------------------------------------------------------- 3. cost
[[ $PARTS == *3* ]] || exit 0
server_start "$DIR/cost" "max_connections = $((SESSIONS + 30))" "pg_runbook.database = 'postgres'" || exit 1
rb_psql -q <<'SQL'
CREATE EXTENSION pg_runbook;
SELECT count(*) AS starters_enabled FROM runbook.enable_starter_policies() \gset
SQL
echo '\sleep 600 s' > "$DIR/sleep.sql"; chmod a+r "$DIR/sleep.sql"
as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -c "$SESSIONS" -j 2 -T 600 \
	-f "$DIR/sleep.sql" postgres >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 240); do
	n=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
	[ "$n" -ge "$SESSIONS" ] && break
	sleep 0.5
done
[ "$n" -ge "$SESSIONS" ] || fail "only $n sessions"
as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -i -q -s 5 postgres >/dev/null 2>&1
wpid=$(rb_psql -Atc "SELECT pid FROM runbook.worker_status()")
[ -n "$wpid" ] || fail "worker not running"
as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -S -c 2 -j 2 -T $((WINDOW + 15)) postgres >"$DIR/pgbench.out" 2>&1 &
PIDS+=($!)
sleep 5
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$wpid/stat"; }
read -r c0 t0 < <(rb_psql -AtF' ' -c "SELECT cycles, avg_cycle_ms * cycles FROM runbook.worker_status()")
j0=$(cpu); s0=$(date +%s.%N)
sleep "$WINDOW"
j1=$(cpu); s1=$(date +%s.%N)
read -r c1 t1 pol < <(rb_psql -AtF' ' -c "SELECT cycles, avg_cycle_ms * cycles, policies FROM runbook.worker_status()")
wait "${PIDS[-1]}"
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$DIR/pgbench.out")
[ "$c1" -gt "$c0" ] || fail "no cycle in the window"
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v j0="$j0" -v j1="$j1" -v s0="$s0" -v s1="$s1" \
	-v tck="$tck" -v n="$n" -v pol="$pol" -v tps="$tps" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
	w = s1 - s0; cpu = (j1 - j0) / tck
	printf "worker cost with %d idle sessions, %d enabled policies (starters), no incident, under pgbench -S (%s TPS):\n", n, pol, tps
	printf "  %d cycles in %.1f s, mean %.3f ms per cycle (target <= 1 ms)\n", c1 - c0, w, (t1 - t0) / (c1 - c0)
	printf "  worker CPU time %.2f s in %.1f s = %.3f %% of one core (target <= 1 %%; /proc/<pid>/stat utime+stime, %d ticks/s)\n", cpu, w, 100 * cpu / w, tck
	printf "  = %.2f ms of CPU per second, cycles and the 100 ms lock-queue probe of the enabled blocking starter together (load average %s)\n", 1000 * cpu / w, load
}'
