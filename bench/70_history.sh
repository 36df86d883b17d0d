#!/usr/bin/env bash
# Benchmark (issue 14): the flight recorder's cost.
#  1. sampling cost with 1,000 client sessions, from the sampler's own
#     per-sample timing (runbook.history_status(); target <= 0.2 ms), idle
#     and with a lock queue of 100 waiters;
#  2. CPU time of all pg_runbook background processes (sampler + policy
#     worker) at sample_interval = 1 s, from /proc/<pid>/stat over SECS
#     seconds (target <= 0.2 % of one core);
#  3. memory: shared memory of the rings, per hour of history;
#  4. history() over one hour of samples (3,600 rows) and incident_report()
#     of a one-hour incident (target <= 50 ms each).  The ring is filled
#     with 3,600 samples at a 10 ms interval (36 s instead of an hour: the
#     same rows, events and ring state; the sampled_at values span 36 s).
set -u
. "$(dirname "$0")/../tools/common.sh"
SESSIONS=${SESSIONS:-1000}
SECS=${SECS:-60}
DIR=$BUILD/bench_history
PGB=
HOLD=()
stop_pgb() { [ -n "$PGB" ] && { pkill -P "$PGB" 2>/dev/null; kill "$PGB" 2>/dev/null; }; PGB=; }
trap 'for p in "${HOLD[@]}"; do kill $p 2>/dev/null; done; stop_pgb; server_stop' EXIT
server_start "$DIR" "max_connections = $((SESSIONS + 150))" \
	"pg_runbook.database = 'postgres'" "pg_runbook.history_size = 3600" \
	"pg_runbook.sample_interval = '1s'" || exit 1
rb_psql -q -c 'CREATE EXTENSION pg_runbook' -c 'CREATE TABLE t (id int)'

echo '\sleep 600 s' > "$DIR/sleep.sql"; chmod a+r "$DIR/sleep.sql"
as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -c "$SESSIONS" -j 2 -T 600 \
	-f "$DIR/sleep.sql" postgres >/dev/null 2>&1 &
PGB=$!
for _ in $(seq 240); do
	n=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
	[ "$n" -ge "$SESSIONS" ] && break
	sleep 0.5
done
echo "client sessions: $n"

set_interval() {
	rb_psql -qc "ALTER SYSTEM SET pg_runbook.sample_interval = '$1'" -c 'SELECT pg_reload_conf()' >/dev/null
	for _ in $(seq 50); do
		[ "$(rb_psql -Atc "SELECT sample_interval_ms FROM runbook.history_status()")" = "$2" ] && return 0
		sleep 0.1
	done
}
# mean and max sample cost over a window of samples
sample_cost() {
	local label=$1 c0 t0 ts
	read -r c0 t0 ts < <(rb_psql -AtF' ' -c "SELECT samples_taken, avg_sample_ms * samples_taken, now() FROM runbook.history_status()")
	sleep 10
	rb_psql -At -c "SELECT format('sampling cost, %s: mean %s ms per sample over %s samples (target <= 0.2 ms)',
		'$label', round(((avg_sample_ms * samples_taken - $t0) / nullif(samples_taken - $c0, 0))::numeric, 3),
		samples_taken - $c0) FROM runbook.history_status()"
	# the mean carries every preemption of a shared machine; the median and
	# the best tenth show the work itself (each sample's own timing, sample_ms)
	rb_psql -At -c "SELECT format('  per-sample timing: median %s ms, 10th percentile %s ms, 90th %s ms, max %s ms',
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY sample_ms)::numeric, 3),
		round(percentile_cont(0.1) WITHIN GROUP (ORDER BY sample_ms)::numeric, 3),
		round(percentile_cont(0.9) WITHIN GROUP (ORDER BY sample_ms)::numeric, 3),
		round(max(sample_ms)::numeric, 3)) FROM runbook.history('$ts'::timestamptz + interval '0.2 s')"
}

# 1. sampling cost (100 ms interval: more samples in the window, same work per sample)
set_interval 100ms 100
sample_cost "$n idle sessions"
( echo "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);" | rb_psql -q >/dev/null 2>&1 ) &
HOLD+=($!)
sleep 0.5
# 100 waiters from one pgbench (forking 100 psql is slow on a busy machine)
echo 'SELECT count(*) FROM t;' > "$DIR/wait.sql"; chmod a+r "$DIR/wait.sql"
as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -c 100 -j 2 -t 1 \
	-f "$DIR/wait.sql" postgres >/dev/null 2>&1 &
HOLD+=($!)
for _ in $(seq 300); do
	[ "$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")" -ge 100 ] && break
	sleep 0.2
done
sample_cost "$n sessions, 100 waiting on one lock"
rb_psql -Atc "SELECT format('  (a sample then: %s lock waiters, root blocker %s)', lock_waiters, root_blocker)
	FROM runbook.history(now() - interval '1 s') ORDER BY sampled_at DESC LIMIT 1"
rb_psql -qc "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "${HOLD[@]}" 2>/dev/null; HOLD=()

# 2. CPU of the background processes at 1 s
set_interval 1s 1000
pids=$(rb_psql -Atc "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type IN ('pg_runbook sampler', 'pg_runbook worker')")
ticks() { local t=0 p; for p in $pids; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
hz=$(getconf CLK_TCK)
a=$(ticks); sleep "$SECS"; b=$(ticks)
echo "background processes (pids $pids): $((b - a)) ticks of 1/$hz s in $SECS s"
awk -v d=$((b - a)) -v hz="$hz" -v s="$SECS" 'BEGIN {printf "CPU of pg_runbook background processes at 1 s: %.3f %% of one core (target <= 0.2 %%)\n", 100 * d / hz / s}'

# 3. memory
rb_psql -At -c "SELECT format('memory: %s bytes per sample; %s per hour at 1 s; rings as configured (history_size %s, events %s): %s of shared memory',
	bytes_per_sample, pg_size_pretty(bytes_per_sample * 3600::bigint), history_size, events_size, pg_size_pretty(memory_bytes))
	FROM runbook.history_status()"

# 4. one hour of history: 3,600 samples, with an incident in it.  The 1,000
# idle sessions end first: these targets are about the hour of history, and
# triage() (inside incident_report) pays for every session it looks at.
stop_pgb
for _ in $(seq 60); do
	[ "$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")" -le 1 ] && break
	sleep 0.5
done
set_interval 10ms 10
( echo "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(10);" | rb_psql -q >/dev/null 2>&1 ) &
HOLD+=($!)
sleep 0.5
for i in $(seq 20); do ( rb_psql -qc "SELECT count(*) FROM t" >/dev/null 2>&1 ) & HOLD+=($!); sleep 0.2; done
wait "${HOLD[@]}" 2>/dev/null; HOLD=()
for _ in $(seq 120); do
	[ "$(rb_psql -Atc "SELECT samples_taken >= 4000 FROM runbook.history_status()")" = t ] && break
	sleep 1
done
set_interval 1s 1000
rb_psql -At -c "SELECT format('ring: %s samples from %s to %s; %s events', samples_kept, oldest_sample, newest_sample, events_kept)
	FROM runbook.history_status()"
# Wall time of a call on a machine shared with other work swings with its
# load; the backend's own CPU time (utime + stime from /proc/self/stat, read
# by the backend itself) over N calls is the work the call does.
cpu_and_wall() {
	local label=$1 sql=$2 n=$3
	rb_psql -q <<SQL 2>&1 | sed -n 's/.*NOTICE:  //p'
CREATE FUNCTION pg_temp.ticks() RETURNS bigint LANGUAGE sql AS \$\$
  SELECT split_part(s, ' ', 12)::bigint + split_part(s, ' ', 13)::bigint
    FROM (SELECT substr(f, strpos(f, ') ') + 2) AS s FROM pg_read_file('/proc/self/stat') AS f) x \$\$;
DO \$\$
DECLARE t0 bigint; t1 bigint; w0 timestamptz; w numeric[] := '{}'; i int; q text := \$q\$$sql\$q\$;
BEGIN
  EXECUTE q;
  t0 := pg_temp.ticks();
  FOR i IN 1..$n LOOP
    w0 := clock_timestamp();
    EXECUTE q;
    w := w || round((extract(epoch FROM clock_timestamp() - w0) * 1000)::numeric, 1);
  END LOOP;
  t1 := pg_temp.ticks();
  RAISE NOTICE '%: CPU % ms per call (% calls); wall median % ms',
    '$label', to_char((t1 - t0) * 1000.0 / $(getconf CLK_TCK) / $n, 'FM9990.0'), $n,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(w) x);
END \$\$;
SQL
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cpu_and_wall "history() over 3,600 samples (one hour at 1 s), target <= 50 ms" \
	"SELECT count(*) FROM runbook.history(now() - interval '1 hour')" 20
cpu_and_wall "incident_report() of the one-hour window, target <= 50 ms" \
	"SELECT length(runbook.incident_report(now() - interval '1 hour'))" 10
cpu_and_wall "  of which triage() alone" "SELECT count(*) FROM runbook.triage()" 10
cpu_and_wall "wait_profile() over the hour" "SELECT count(*) FROM runbook.wait_profile(now() - interval '1 hour')" 20
cpu_and_wall "alerts (durations from the last hour)" "SELECT count(*) FROM runbook.alerts" 10
