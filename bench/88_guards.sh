#!/usr/bin/env bash
# Benchmark (issue 26): the memory and disk guards.
#  1. reaction: the time from the threshold being crossed to the culprit's
#     cancel.  Memory: a server in its own 1 GiB memory cgroup
#     (tools/guard-fixtures.sh, under this process's own cgroup), the
#     starter policy starter_memory_guard as shipped (90 %), an ordinary
#     role's unpaced cardinality(array_agg(repeat('x', 1000000))); ROUNDS
#     rounds.  Disk: a sort into a temporary tablespace on a 512 MB tmpfs
#     (TMPFS_SIZE), starter_disk_guard as shipped (95 %), on a server outside
#     the cgroup (tmpfs pages are charged to the cgroup of their writer).  The crossing is seen by
#     bench/guard_sampler.c (the same figure, every ~1 ms); the cancel is the
#     audit's acted_at (when the worker signalled).  Also the peak the figure
#     reached (how close to the OOM kill / a full filesystem it came).
#  2. the cost of a guard check with 1,000 client sessions: the worker's CPU
#     at idle with both starter guards enabled against without, over SECS
#     seconds (the cheap check runs every 100 ms: SECS * 10 checks), and a
#     cycle at the mark that reads /proc of all 1,000 sessions (a guard whose
#     mark is always reached and whose floor nobody reaches: worker_status()'s
#     cycle times).
#  3. the CPU share of the worker with the guards enabled at idle (target
#     <= 0.2 % of one core), from /proc/<pid>/stat.
# Needs root (the cgroup and the tmpfs); cgroup v1 here.
set -u
. "$(dirname "$0")/../tools/common.sh"
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-60}
SESSIONS=${SESSIONS:-1000}
DIR=$BUILD/bench_guards
FX=$BUILD/bench_guards_fixtures
FXTOOL=$ROOT/tools/guard-fixtures.sh
PGB=
fail() { echo "88_guards: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "88_guards: needs root (a memory cgroup and a tmpfs); skipped"; exit 0; }
cleanup() {
	[ -n "$PGB" ] && stop_tree "$PGB"
	server_stop
	"$FXTOOL" teardown "$FX"
}
trap cleanup EXIT
"$FXTOOL" teardown "$FX"
CG= TMPFS=
while IFS= read -r l; do
	case $l in
	PG_RUNBOOK_TEST_CGROUP=*) CG=${l#*=} ;;
	PG_RUNBOOK_TEST_TMPFS=*) TMPFS=${l#*=} ;;
	*_SKIP=*) echo "88_guards: ${l#*=}" ;;
	esac
done < <(PG_RUNBOOK_TEST_TMPFS_SIZE=${TMPFS_SIZE:-512m} "$FXTOOL" setup "$FX" "$RUN_USER")
[ -n "$CG" ] && [ -n "$TMPFS" ] || fail "no cgroup or tmpfs"
mkdir -p "$DIR.bin"
gcc -O2 -Wall -o "$DIR.bin/guard_sampler" "$ROOT/bench/guard_sampler.c" || fail "guard_sampler build"

oom_kills() { awk '$1 == "oom_kill" { print $2 }' "$CG/memory.oom_control"; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2); else print "-" }'; }
# epoch microseconds of the last audited action of a policy
acted_us() {
	rb_psql -Atc "SELECT (extract(epoch FROM acted_at) * 1000000)::bigint || ' ' || detail
		FROM runbook.recent_actions() WHERE actor = 'policy:$1' ORDER BY acted_at DESC LIMIT 1"
}
# one round: sampler on, the culprit as role app, sampler off; prints
# "<reaction ms> <pct at cross> <peak pct> <error>"
round() {
	local kind=$1 path=$2 mark=$3 policy=$4 sql=$5 before out err cross peak a
	before=$(rb_psql -Atc "SELECT count(*) FROM runbook.recent_actions() WHERE actor = 'policy:$policy'")
	"$DIR.bin/guard_sampler" "$kind" "$path" "$mark" 120 >"$DIR/sampler.out" &
	local sp=$!
	sleep 0.2
	err=$(rb_psql -U app -c "$sql" 2>&1 >/dev/null | head -1)
	sleep 0.2
	kill -TERM $sp; wait $sp
	read -r _ cross _ < <(grep '^cross' "$DIR/sampler.out")
	read -r _ peak _ < <(grep '^peak' "$DIR/sampler.out")
	[ "$(rb_psql -Atc "SELECT count(*) FROM runbook.recent_actions() WHERE actor = 'policy:$policy'")" -gt "$before" ] ||
		{ echo "- - $peak $err"; return; }
	read -r a _ < <(acted_us "$policy")
	[ "$cross" = - ] && { echo "- - $peak $err"; return; }
	awk -v a="$a" -v c="$cross" -v p="$peak" -v e="$err" \
		-v x="$(grep '^cross' "$DIR/sampler.out" | cut -d' ' -f3)" \
		'BEGIN { printf "%.1f %s %s %s\n", (a - c) / 1000, x, p, e }'
}

# ---- 1. reaction --------------------------------------------------------------
SERVER_CGROUP=$CG server_start "$DIR" "shared_buffers = 32MB" "max_connections = 40" \
	"pg_runbook.database = 'postgres'" "log_line_prefix = '%m [%p] '" || fail "server start"
rb_psql -q -c 'CREATE EXTENSION pg_runbook' -c 'CREATE ROLE app LOGIN' \
	-c "UPDATE runbook.policies SET enabled = true WHERE name = 'starter_memory_guard'"
echo "memory: $(rb_psql -Atc "SELECT source || ' ' || path || ', limit ' || size FROM runbook.host() WHERE kind = 'memory'")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
k0=$(oom_kills)
HOG="SELECT cardinality(array_agg(repeat('x', 1000000))) FROM generate_series(1, 100000)"
reactions=()
for r in $(seq "$ROUNDS"); do
	line=$(round mem "$CG" 90 starter_memory_guard "$HOG")
	read -r ms cpct peak err <<<"$line"
	echo "  memory round $r: crossed 90 % (sampler: $cpct %), cancelled $ms ms later; peak $peak % of the limit; the hog got: $err"
	[ "$ms" != - ] && reactions+=("$ms")
	for _ in $(seq 50); do
		[ "$(rb_psql -Atc "SELECT used_pct < 20 FROM runbook.host() WHERE kind = 'memory'")" = t ] && break
		sleep 0.1
	done
done
k1=$(oom_kills)
printf 'memory guard: threshold crossed -> cancel: median %s ms, max %s ms over %s rounds; OOM kills: %s\n' \
	"$(printf '%s\n' "${reactions[@]}" | median)" "$(printf '%s\n' "${reactions[@]}" | sort -n | tail -1)" \
	"${#reactions[@]}" "$((k1 - k0))"

server_stop

# disk: a sort into a tablespace on the tmpfs, on a server outside the cgroup
server_start "$DIR" "max_connections = $((SESSIONS + 50))" "pg_runbook.database = 'postgres'" \
	"log_line_prefix = '%m [%p] '" || fail "server start"
as_user mkdir -p "$TMPFS/ts"
rb_psql -q -c 'CREATE EXTENSION pg_runbook' -c 'CREATE ROLE app LOGIN' \
	-c "CREATE TABLESPACE tmpts LOCATION '$TMPFS/ts'" -c 'GRANT CREATE ON TABLESPACE tmpts TO app' \
	-c "ALTER ROLE app SET temp_tablespaces = 'tmpts'" -c "ALTER ROLE app SET work_mem = '1MB'" \
	-c "UPDATE runbook.policies SET enabled = true WHERE name = 'starter_disk_guard'"
sleep 1
size=$(rb_psql -Atc "SELECT size_bytes FROM runbook.host() WHERE tablespace = 'tmpts'")
rows=$((size / 40))
SORT="SELECT md5(g::text) || md5(g::text) || md5(g::text) FROM generate_series(1, $rows) g ORDER BY 1 OFFSET $rows"
reactions=()
for r in $(seq "$ROUNDS"); do
	line=$(round disk "$TMPFS/ts" 95 starter_disk_guard "$SORT")
	read -r ms cpct peak err <<<"$line"
	echo "  disk round $r: crossed 95 % (sampler: $cpct %), cancelled $ms ms later; peak $peak % of $((size / 1048576)) MB; the sort got: $err"
	[ "$ms" != - ] && reactions+=("$ms")
	sleep 0.5
done
full=$(grep -c "No space left on device" "$DIR/server.log")
printf 'disk guard: threshold crossed -> cancel: median %s ms, max %s ms over %s rounds; "No space left" in the log: %s\n' \
	"$(printf '%s\n' "${reactions[@]}" | median)" "$(printf '%s\n' "${reactions[@]}" | sort -n | tail -1)" \
	"${#reactions[@]}" "$full"

# ---- 2. and 3. the cost of a check, the worker's CPU at idle ------------------
echo '\sleep 600 s' >"$DIR/sleep.sql"; chmod a+r "$DIR/sleep.sql"
as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -c "$SESSIONS" -j 2 -T 600 \
	-f "$DIR/sleep.sql" postgres >/dev/null 2>&1 &
PGB=$!
for _ in $(seq 240); do
	n=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
	[ "$n" -ge "$SESSIONS" ] && break
	sleep 0.5
done
echo "client sessions: $n; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
wpid=$(rb_psql -Atc 'SELECT pid FROM runbook.worker_status()')
# CPU time of the worker in nanoseconds (/proc/<pid>/schedstat: exact, where
# /proc/<pid>/stat counts 10 ms ticks)
cpu_ns() { awk '{ print $1 }' "/proc/$wpid/schedstat"; }
# the worker's wake-ups: each sleep on its latch is one voluntary switch
wakeups() { awk '$1 == "voluntary_ctxt_switches:" { print $2 }' "/proc/$wpid/status"; }
# "<CPU % of one core> <wake-ups>" over SECS
cpu_share() {
	local a b wa wb
	a=$(cpu_ns); wa=$(wakeups); sleep "$SECS"; b=$(cpu_ns); wb=$(wakeups)
	awk -v d=$((b - a)) -v s="$SECS" -v w=$((wb - wa)) 'BEGIN { printf "%.3f %d", 100 * d / 1e9 / s, w }'
}
rb_psql -q -c "UPDATE runbook.policies SET enabled = false"
sleep 1
read -r off woff < <(cpu_share)
echo "worker CPU at idle, no guard enabled: $off % of one core over $SECS s ($woff wake-ups)"
rb_psql -q -c "UPDATE runbook.policies SET enabled = true WHERE name IN ('starter_memory_guard', 'starter_disk_guard')"
sleep 1
read -r on won < <(cpu_share)
echo "worker CPU at idle, starter_memory_guard and starter_disk_guard enabled: $on % of one core over $SECS s, $won wake-ups (target <= 0.2 %)"
awk -v on="$on" -v off="$off" -v s="$SECS" -v w=$((won - woff)) 'BEGIN {
	printf "cost of one cheap guard check (memory counters + statvfs of each location; %d backends do not change it): %.1f us of CPU, wake-up included (%d checks in %d s)\n",
		'"$SESSIONS"', (on - off) / 100 * s * 1e6 / w, w, s }'

# a guard whose mark is always reached and whose floor nobody reaches: every
# guard cycle reads private memory of the sessions it may match; first all
# of them (states idle and active), then the active ones only (as the
# starter guards)
at_mark() {
	local states=$1 label=$2 c0 t0 c1 t1 a b
	rb_psql -q -c "DELETE FROM runbook.policies WHERE name = 'bench_at_mark'" \
		-c "INSERT INTO runbook.policies (name, states, min_memory_used_pct, min_private_memory_bytes, action)
		    VALUES ('bench_at_mark', '$states', 0.01, 1000000000000, 'cancel')"
	sleep 2
	read -r c0 t0 < <(rb_psql -AtF' ' -c 'SELECT cycles, avg_cycle_ms * cycles FROM runbook.worker_status()')
	a=$(cpu_ns); sleep 20; b=$(cpu_ns)
	read -r c1 t1 < <(rb_psql -AtF' ' -c 'SELECT cycles, avg_cycle_ms * cycles FROM runbook.worker_status()')
	awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v d=$((b - a)) -v l="$label" 'BEGIN {
		printf "a guard cycle at the mark, %s: %.2f ms per cycle (%d cycles in 20 s: one a second, the restraint); worker CPU %.2f %% of one core meanwhile\n",
			l, (t1 - t0) / (c1 - c0), c1 - c0, 100 * d / 1e9 / 20 }'
}
rb_psql -q -c "UPDATE runbook.policies SET enabled = false"
at_mark '{idle,active}' "private memory of all $n sessions read (/proc/<pid>/statm)"
at_mark '{active}' "$n sessions of which the active ones are read (as the starter guards)"
rb_psql -q -c "DELETE FROM runbook.policies WHERE name = 'bench_at_mark'"
rb_psql -q <<'SQL' 2>&1 | sed -n 's/.*NOTICE:  //p'
DO $$
DECLARE t0 timestamptz := clock_timestamp(); n bigint;
BEGIN
  SELECT count(*) INTO n FROM runbook.backend_resources();
  RAISE NOTICE 'for comparison: backend_resources() over % backends (status, io, stat of each): % ms', n,
    round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1);
END $$;
SQL
