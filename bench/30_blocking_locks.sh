#!/usr/bin/env bash
# Benchmark (issue 3): blocking locks.
# Scenario: 1,000 waiters queued on one table, each holding 50 granted
# AccessShareLocks on other tables, behind one session holding
# AccessExclusiveLock (about 52,000 rows in pg_locks).
#   pg_runbook: SELECT count(*) FROM (SELECT * FROM runbook.blocking_locks()) q
#   baselines:  shared/baselines/blocking_selfjoin.sql      (target >= 250x)
#               shared/baselines/blocking_pids_waiters.sql  (target >= 2.5x)
# All timed server-side in one session (clock_timestamp() around EXECUTE,
# pg_stat_clear_snapshot() before every run of either side, as a fresh
# statement would read); medians and ratios printed.  Then the impact:
# pgbench TPS with blocking_locks() every 100 ms in another session vs
# pgbench alone, alternating rounds, same run.
# The bench fails (exit 1) unless the scenario formed and held: the holder
# locked, every waiter waiting, every run listing every waiter, each
# pgbench round measured, the queue drained at the end.
set -u
. "$(dirname "$0")/../tools/common.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
N=${N:-31}					# runs of blocking_locks() and the pg_blocking_pids query
N_SELFJOIN=${N_SELFJOIN:-3}	# the self-join takes seconds per run
WAITERS=${WAITERS:-1000}
HELD=${HELD:-50}
ROUNDS=${ROUNDS:-6}			# impact: alternating rounds of each kind
SECS=${SECS:-5}				# seconds per round
BASEDIR=${BASELINES:-$ROOT/../../shared/baselines}
[ -d "$BASEDIR" ] || BASEDIR=/work/shared/baselines
DIR=$BUILD/bench_locks
PIDS=()
cleanup() {
	[ -n "${HOLDER_FD:-}" ] && exec 3>&- 2>/dev/null
	kill_children
	server_stop
}
trap cleanup EXIT

server_start "$DIR" "max_connections = $((WAITERS + 60))" \
	"max_locks_per_transaction = 128" "shared_buffers = 256MB" \
	"deadlock_timeout = '1h'" || exit 1
rb_psql -qc 'CREATE EXTENSION pg_runbook' || fail "CREATE EXTENSION"
rb_psql -q <<SQL || fail "tables"
CREATE TABLE bq (id int);
SELECT format('CREATE TABLE held_%s (id int)', i) FROM generate_series(1, $HELD) i \gexec
SQL
[ "$(rb_psql -Atc "SELECT count(*) FROM pg_class WHERE relname LIKE 'held\_%' AND relkind = 'r'")" = "$HELD" ] ||
	fail "$HELD held_* tables not created"
as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -q -i -s 5 postgres >/dev/null 2>&1 || fail "pgbench -i"

# the holder: a psql session fed from a fifo, so it stays in its transaction
mkfifo "$DIR/holder.fifo"; chmod 666 "$DIR/holder.fifo"
rb_psql -q < "$DIR/holder.fifo" > "$DIR/holder.log" 2>&1 &
PIDS+=($!)
exec 3> "$DIR/holder.fifo"; HOLDER_FD=1
echo "SET application_name = 'bench_holder'; BEGIN; LOCK TABLE bq IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&3
held() { rb_psql -Atc "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND relation = 'bq'::regclass AND mode = 'AccessExclusiveLock' AND granted"; }
for _ in $(seq 100); do
	[ "$(held)" = 1 ] && break
	sleep 0.1
done
[ "$(held)" = 1 ] || fail "the holder did not lock bq: $(cat "$DIR/holder.log")"

# the waiters: a few pgbench processes, one transaction per client
tables=$(seq -f "held_%g" -s ", " 1 "$HELD")
cat > "$DIR/waiter.sql" <<SQL
BEGIN;
LOCK TABLE $tables IN ACCESS SHARE MODE;
SELECT count(*) FROM bq;
END;
SQL
chmod a+r "$DIR/waiter.sql"
t0=$(date +%s.%N)
per=$(( (WAITERS + 3) / 4 ))
left=$WAITERS
while [ "$left" -gt 0 ]; do
	c=$(( left < per ? left : per ))
	as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" PGAPPNAME=bench_waiter "$TIBIN/pgbench" -n -c "$c" -j 2 -t 1 \
		-f "$DIR/waiter.sql" postgres >/dev/null 2>&1 &
	PIDS+=($!)
	left=$(( left - c ))
done
n=0
for _ in $(seq 600); do
	n=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'bench_waiter'")
	[ "$n" -ge "$WAITERS" ] && break
	sleep 0.2
done
t1=$(date +%s.%N)
[ "$n" -ge "$WAITERS" ] || fail "only $n of $WAITERS waiters waiting on a lock"
nlocks=$(rb_psql -Atc 'SELECT count(*) FROM pg_locks')
printf 'setup: %s waiters queued in %.1f s; pg_locks rows: %s\n' "$n" "$(echo "$t1 - $t0" | bc)" "$nlocks"
[ "$nlocks" -ge $((WAITERS * (HELD + 1))) ] || fail "$nlocks rows in pg_locks: the waiters do not hold their $HELD locks each"

strip() { sed -e 's/;[[:space:]]*$//' "$1" | tr '\n' ' '; }
SELFJOIN=$(strip "$BASEDIR/blocking_selfjoin.sql")
PIDSQ=$(strip "$BASEDIR/blocking_pids_waiters.sql")
OURS="SELECT * FROM runbook.blocking_locks()"

rb_psql -Atq <<SQL || fail "timed runs"
CREATE TEMP TABLE t(which text, ms float8, n bigint);
DO \$\$
DECLARE
  t0 timestamptz; n bigint;
BEGIN
  FOR i IN 1..$N LOOP
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    EXECUTE \$q\$SELECT count(*) FROM ($PIDSQ) q\$q\$ INTO n;
    INSERT INTO t VALUES ('pids', extract(epoch FROM clock_timestamp() - t0) * 1000, n);
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    EXECUTE \$q\$SELECT count(*) FROM ($OURS) q\$q\$ INTO n;
    INSERT INTO t VALUES ('ours', extract(epoch FROM clock_timestamp() - t0) * 1000, n);
  END LOOP;
  FOR i IN 1..$N_SELFJOIN LOOP
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    EXECUTE \$q\$SELECT count(*) FROM ($SELFJOIN) q\$q\$ INTO n;
    INSERT INTO t VALUES ('selfjoin', extract(epoch FROM clock_timestamp() - t0) * 1000, n);
  END LOOP;
END \$\$;
-- the scenario held through every run: each waiter listed (blocking_locks
-- and pg_blocking_pids: one row per waiter; the self-join: more)
DO \$\$
DECLARE r record;
BEGIN
  FOR r IN SELECT which, count(*) AS runs, min(n) AS nmin, max(n) AS nmax FROM t GROUP BY which LOOP
    IF r.runs <> (CASE r.which WHEN 'selfjoin' THEN $N_SELFJOIN ELSE $N END)
       OR r.nmin < $WAITERS
       OR (r.which <> 'selfjoin' AND r.nmax <> $WAITERS) THEN
      RAISE EXCEPTION '%: % runs, %..% rows (want $WAITERS waiters listed in every run)', r.which, r.runs, r.nmin, r.nmax;
    END IF;
  END LOOP;
  IF (SELECT count(DISTINCT which) FROM t) <> 3 THEN
    RAISE EXCEPTION 'a query did not run';
  END IF;
END \$\$;
WITH m AS (SELECT which, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med,
                  min(n) AS nmin, max(n) AS nmax, count(*) AS runs
             FROM t GROUP BY which)
SELECT format('%-40s rows %s, median %s ms over %s runs', label, nmin || CASE WHEN nmin <> nmax THEN '..' || nmax ELSE '' END,
              round(med::numeric, 3), runs)
  FROM m JOIN (VALUES ('ours', 'runbook.blocking_locks()', 1),
                      ('pids', 'baseline pg_blocking_pids waiters', 2),
                      ('selfjoin', 'seeds'' pg_locks self-join', 3)) v(which, label, o) USING (which)
 ORDER BY o;
WITH m AS (SELECT which, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med FROM t GROUP BY which)
SELECT format('ratio pg_blocking_pids / blocking_locks = %sx (target >= 2.5x); seeds'' self-join / blocking_locks = %sx (target >= 250x); blocking_locks median %s ms (target <= 20 ms)',
              round(((SELECT med FROM m WHERE which = 'pids') / (SELECT med FROM m WHERE which = 'ours'))::numeric, 2),
              round(((SELECT med FROM m WHERE which = 'selfjoin') / (SELECT med FROM m WHERE which = 'ours'))::numeric, 1),
              round((SELECT med FROM m WHERE which = 'ours')::numeric, 3));
SQL

# impact: pgbench (select-only, 2 clients) alone vs with blocking_locks()
# every 100 ms in another session; rounds alternate to cancel drift
cat > "$DIR/poll.sql" <<SQL
SELECT count(*) FROM runbook.blocking_locks();
\sleep 100 ms
SQL
chmod a+r "$DIR/poll.sql"
tps() {
	as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -S -c 2 -j 2 -T "$SECS" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
alone=0; polled=0; pcts=()
for r in $(seq "$ROUNDS"); do
	# odd rounds measure alone first, even rounds polled first
	[ $((r % 2)) -eq 1 ] && a=$(tps)
	as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -c 1 -T "$SECS" -f "$DIR/poll.sql" postgres > "$DIR/poll.log" 2>&1 &
	pp=$!
	b=$(tps)
	wait $pp
	[ $((r % 2)) -eq 0 ] && a=$(tps)
	np=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$DIR/poll.log")
	[ -n "$a" ] && [ -n "$b" ] || fail "round $r: a pgbench run reported no tps"
	[ "${np:-0}" -gt 0 ] || fail "round $r: blocking_locks() was not called: $(tail -3 "$DIR/poll.log")"
	pct=$(echo "($b - $a) * 100 / $a" | bc -l)
	pcts+=("$pct")
	printf 'round %s: pgbench alone %.0f tps, with blocking_locks() every 100 ms %.0f tps (%s calls): %+.2f%%\n' "$r" "$a" "$b" "${np:-?}" "$pct"
	alone=$(echo "$alone + $a" | bc); polled=$(echo "$polled + $b" | bc)
done
median_pct=$(printf '%s\n' "${pcts[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}')
printf 'impact: pgbench %.0f tps alone, %.0f tps with polling: %+.2f%% overall, median of rounds %+.2f%% (target within 2%%)\n' \
	"$(echo "$alone / $ROUNDS" | bc -l)" "$(echo "$polled / $ROUNDS" | bc -l)" \
	"$(echo "($polled - $alone) * 100 / $alone" | bc -l)" "$median_pct"

# release: the holder commits, the queue drains
echo "COMMIT;" >&3
exec 3>&-; HOLDER_FD=
for _ in $(seq 100); do
	n=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bench_waiter'")
	[ "$n" -eq 0 ] && break
	sleep 0.2
done
echo "queue drained: $n waiters left"
[ "$n" -eq 0 ] || fail "$n waiters still there after the holder committed"
