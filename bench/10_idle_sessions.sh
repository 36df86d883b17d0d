#!/usr/bin/env bash
# Benchmark (issue 2): list 1,000 idle sessions.
#   baseline: the runbooks' pg_stat_activity listing (shared/baselines/list_idle.sql)
#             with the filter widened to idle and idle in transaction
#   pg_runbook: SELECT * FROM runbook.idle_sessions('0')
# Both run server-side in the same session, alternating, N times each, each
# run after pg_stat_clear_snapshot() (as a fresh statement would read it);
# the medians and their ratio are printed (ratio <= 1.0 means no slower).
# The bench fails (exit 1) if the sessions did not all become idle or if a
# run did not list every one of them.
set -u
. "$(dirname "$0")/../tools/common.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
N=${N:-41}
SESSIONS=${SESSIONS:-1000}
DIR=$BUILD/bench_idle
trap 'kill_children; server_stop' EXIT
server_start "$DIR" "max_connections = $((SESSIONS + 20))" || exit 1
rb_psql -qc 'CREATE EXTENSION pg_runbook' || fail "CREATE EXTENSION"

# 1,000 idle client sessions: pgbench clients that only sleep
echo '\sleep 600 s' > "$DIR/sleep.sql"; chmod a+r "$DIR/sleep.sql"
as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -c "$SESSIONS" -j 2 -T 600 -f "$DIR/sleep.sql" postgres >/dev/null 2>&1 &
PGB=$!
for _ in $(seq 120); do
	n=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle' AND backend_type = 'client backend'")
	[ "$n" -ge "$SESSIONS" ] && break
	sleep 0.5
done
echo "idle sessions: $n"
[ "${n:-0}" -ge "$SESSIONS" ] || fail "only ${n:-0} of $SESSIONS sessions idle"
kill -0 "$PGB" 2>/dev/null || fail "pgbench exited"

BASE="SELECT pid, now() - backend_start AS connection_age, state, query FROM pg_stat_activity WHERE state IN ('idle', 'idle in transaction') ORDER BY backend_start"
OURS="SELECT * FROM runbook.idle_sessions('0')"

rb_psql -Atq <<SQL || fail "timed runs"
CREATE TEMP TABLE t(which text, ms float8, n bigint);
DO \$\$
DECLARE
  t0 timestamptz; n bigint;
BEGIN
  FOR i IN 1..$N LOOP
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    EXECUTE \$q\$SELECT count(*) FROM ($BASE) q\$q\$ INTO n;
    INSERT INTO t VALUES ('baseline', extract(epoch FROM clock_timestamp() - t0) * 1000, n);
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    EXECUTE \$q\$SELECT count(*) FROM ($OURS) q\$q\$ INTO n;
    INSERT INTO t VALUES ('pg_runbook', extract(epoch FROM clock_timestamp() - t0) * 1000, n);
  END LOOP;
END \$\$;
-- the scenario held through every run: N runs a side, each listing every
-- idle session
DO \$\$
DECLARE r record;
BEGIN
  FOR r IN SELECT which, count(*) AS runs, min(n) AS nmin FROM t GROUP BY which LOOP
    IF r.runs <> $N OR r.nmin < $SESSIONS THEN
      RAISE EXCEPTION '%: % runs, as few as % rows (want $N runs, >= $SESSIONS rows)', r.which, r.runs, r.nmin;
    END IF;
  END LOOP;
  IF (SELECT count(DISTINCT which) FROM t) <> 2 THEN
    RAISE EXCEPTION 'a side did not run';
  END IF;
END \$\$;
SELECT format('rows per run: baseline %s, pg_runbook %s',
              (SELECT min(n) || '..' || max(n) FROM t WHERE which = 'baseline'),
              (SELECT min(n) || '..' || max(n) FROM t WHERE which = 'pg_runbook'));
WITH m AS (SELECT which, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med FROM t GROUP BY which)
SELECT format('median ms: baseline %s, pg_runbook %s; ratio pg_runbook/baseline = %s (target <= 1.0)',
              round((SELECT med FROM m WHERE which = 'baseline')::numeric, 3),
              round((SELECT med FROM m WHERE which = 'pg_runbook')::numeric, 3),
              round(((SELECT med FROM m WHERE which = 'pg_runbook') / (SELECT med FROM m WHERE which = 'baseline'))::numeric, 3));
SQL
