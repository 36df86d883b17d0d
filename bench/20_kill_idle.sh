#!/usr/bin/env bash
# Benchmark (issues 4, 12, 17): end 900 leaked idle sessions.
#   baseline:   the runbooks' remedy, verbatim (shared/baselines/kill_idle.sql)
#               with only its threshold '10 minutes' replaced by '0'
#   pg_runbook: SELECT * FROM runbook.kill_idle('0', dry_run => false, max_actions => 1000)
#               (the per-call limit an on-call role passes; the server's
#               max_actions_per_cycle stays at its default)
# Sessions: pgbench clients of a non-superuser role that only \sleep (idle
# since their connection); re-opened for each run.  Figures, per run:
#   returned: when the statement returned;
#   out of pg_stat_activity: when no targeted pid is left in pg_stat_activity
#             (a backend clears its status entry just before it releases its
#             PGPROC, its connection slot), with how many of the processes
#             were then still there: runnable (R: waiting for a CPU or on
#             one), sleeping, or exited but not yet reaped (zombies);
#   gone:     the time from the start of the statement until every targeted
#             process has exited and been reaped by the postmaster (matched
#             by pid and /proc start time, so a reused pid is not waited
#             for): what a DBA waits for.
# All three from the start of the statement.  Under load, all three are
# dominated by the CPU: the 900 backends the statement signals become
# runnable at once and compete with the statement's own backend.
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
# (it runs under runuser: end the whole tree, deepest first).  On exit, every
# process this script started goes, whatever the point it stopped at.
# (stop_tree, kill_children: tools/common.sh)
stop_pgbench() { [ -n "$PGB" ] || return 0; stop_tree "$PGB"; PGB=; }
trap 'stop_pgbench; kill_children; server_stop' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

server_start "$DIR" "max_connections = $((SESSIONS + 30))" || exit 1
rb_psql -qc 'CREATE EXTENSION pg_runbook' -c 'CREATE ROLE bench_app LOGIN' || exit 1

echo '\sleep 600 s' > "$DIR/sleep.sql"; chmod a+r "$DIR/sleep.sql"

# opens SESSIONS idle sessions of bench_app; sets OPENED to how many are
# idle.  Not to be called in $(...): PGB must be set in this shell, or the
# pgbench would outlive the bench (it did, two of them, until -T 600 ended).
open_sessions() {
	as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" "$TIBIN/pgbench" -n -U bench_app \
		-c "$SESSIONS" -j 2 -T 600 -f "$DIR/sleep.sql" postgres >/dev/null 2>&1 &
	PGB=$!
	OPENED=0
	for _ in $(seq 600); do
		OPENED=$(rb_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE usename = 'bench_app' AND state = 'idle'")
		[ "$OPENED" -ge "$SESSIONS" ] && break
		sleep 0.2
	done
}

# $1 = statement; prints "<returned ms> <out of pg_stat_activity ms> <gone ms>
# <rows counted> <left>", then, of the targets' processes still there when
# none is left in pg_stat_activity, "<zombies> <runnable> <others>"
timed_kill() {
	rb_psql -Atq <<SQL
CREATE TEMP TABLE r(ret_ms float8, psa_ms float8, gone_ms float8, n bigint, left_ bigint, z int, rn int, o int);
-- /proc/<pid>/stat after the command name: field 3 (state) first, field 22
-- (start time) 20th; NULL once the process is gone (a process reaped while
-- its file is read makes the read fail: gone too)
CREATE FUNCTION pg_temp.proc_stat(p int) RETURNS text LANGUAGE plpgsql AS \$f\$
BEGIN
  RETURN nullif(split_part(pg_read_file('/proc/' || p || '/stat', 0, 1000, true), ') ', 2), '');
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END \$f\$;
DO \$\$
DECLARE t0 timestamptz; t1 timestamptz; tp timestamptz; n bigint; left_ bigint;
        z int := 0; rn int := 0; o int := 0;
BEGIN
  PERFORM pg_stat_clear_snapshot();
  -- each target with its process start time: a pid the kernel reuses
  -- meanwhile (pid_max may be 32768 on a busy machine) is not ours
  CREATE TEMP TABLE targets AS
    SELECT pid, split_part(pg_temp.proc_stat(pid), ' ', 20) AS started
      FROM pg_stat_activity WHERE usename = 'bench_app';
  PERFORM pg_stat_clear_snapshot();
  t0 := clock_timestamp();
  EXECUTE \$q\$SELECT count(*) FROM ($1) q\$q\$ INTO n;
  t1 := clock_timestamp();
  LOOP
    IF tp IS NULL THEN
      PERFORM pg_stat_clear_snapshot();
      SELECT count(*) INTO left_ FROM pg_stat_activity WHERE pid IN (SELECT pid FROM targets);
      IF left_ = 0 THEN
        -- out of pg_stat_activity (the status entry goes just before the
        -- PGPROC, the connection slot, is released); what the processes
        -- still there are doing: exiting, or exited and waiting for the
        -- postmaster to reap them (zombies)
        tp := clock_timestamp();
        SELECT count(*) FILTER (WHERE split_part(ps, ' ', 1) = 'Z'),
               count(*) FILTER (WHERE split_part(ps, ' ', 1) = 'R'),
               count(*) FILTER (WHERE split_part(ps, ' ', 1) NOT IN ('Z', 'R')) INTO z, rn, o
          FROM (SELECT pg_temp.proc_stat(pid) AS ps, started FROM targets) s
         WHERE split_part(ps, ' ', 20) = started;
      END IF;
    END IF;
    IF tp IS NOT NULL THEN
      -- now wait for the processes to exit and be reaped by the postmaster
      SELECT count(*) INTO left_ FROM targets
       WHERE split_part(pg_temp.proc_stat(pid), ' ', 20) = started;
    END IF;
    EXIT WHEN left_ = 0 OR clock_timestamp() - t0 > interval '60 s';
    PERFORM pg_sleep(0.002);
  END LOOP;
  INSERT INTO r VALUES (extract(epoch FROM t1 - t0) * 1000, extract(epoch FROM tp - t0) * 1000,
                        extract(epoch FROM clock_timestamp() - t0) * 1000, n, left_, z, rn, o);
END \$\$;
SELECT round(ret_ms::numeric, 1) || ' ' || coalesce(round(psa_ms::numeric, 1), -1) || ' ' || round(gone_ms::numeric, 1)
       || ' ' || n || ' ' || left_ || ' ' || z || ' ' || rn || ' ' || o FROM r;
SQL
}

BASE_FILE=/work/shared/baselines/kill_idle.sql
[ -r "$ROOT/../../shared/baselines/kill_idle.sql" ] && BASE_FILE=$ROOT/../../shared/baselines/kill_idle.sql
BASE=$(sed -e '/^--/d' -e "s/INTERVAL '10 minutes'/INTERVAL '0'/" -e 's/;[[:space:]]*$//' "$BASE_FILE")
[ -n "$BASE" ] || fail "baseline $BASE_FILE not readable"
OURS="SELECT * FROM runbook.kill_idle('0', dry_run => false, max_actions => $((SESSIONS + 100)))"

run_side() {	# $1 = label, $2 = statement; sets R_RET R_PSA R_GONE R_N R_Z R_O
	open_sessions
	[ "$OPENED" -ge "$SESSIONS" ] || fail "$1: only $OPENED of $SESSIONS sessions opened"
	read -r R_RET R_PSA R_GONE R_N R_LEFT R_Z R_R R_O <<<"$(timed_kill "$2")"
	[ -n "${R_LEFT:-}" ] || fail "$1: the statement failed"
	[ "$R_LEFT" -eq 0 ] || fail "$1: $R_LEFT targeted sessions still there after 60 s"
	[ "$R_N" -ge "$SESSIONS" ] || fail "$1: the statement counted $R_N rows for $SESSIONS sessions"
	stop_pgbench
}

for round in $(seq "$ROUNDS"); do
	run_side baseline "$BASE"
	b_ret=$R_RET b_psa=$R_PSA b_gone=$R_GONE b_n=$R_N b_z=$R_Z b_r=$R_R b_o=$R_O
	t0=$(rb_psql -Atc "SELECT count(*) FROM runbook.recent_actions() WHERE outcome = 'terminated'")
	run_side pg_runbook "$OURS"
	o_ret=$R_RET o_psa=$R_PSA o_gone=$R_GONE o_n=$R_N o_z=$R_Z o_r=$R_R o_o=$R_O
	terminated=$(( $(rb_psql -Atc "SELECT count(*) FROM runbook.recent_actions() WHERE outcome = 'terminated'") - t0 ))
	[ "$terminated" -eq "$SESSIONS" ] || fail "pg_runbook: $terminated terminated in the audit, expected $SESSIONS"

	echo "round $round ($SESSIONS idle sessions):"
	echo "  baseline   (runbook SQL, pg_terminate_backend per row): $b_n rows; statement returned after $b_ret ms; all out of pg_stat_activity after $b_psa ms (still there: $b_r runnable, $b_o sleeping, $b_z exited not yet reaped); all exited and reaped after $b_gone ms"
	echo "  pg_runbook (kill_idle, max_actions => $((SESSIONS + 100))):     $o_n rows, $terminated terminated and audited; returned after $o_ret ms; all out of pg_stat_activity after $o_psa ms (still there: $o_r runnable, $o_o sleeping, $o_z exited not yet reaped); all exited and reaped after $o_gone ms"
	awk -v bg="$b_gone" -v og="$o_gone" -v br="$b_ret" -v or="$o_ret" 'BEGIN {
		printf "  ratio baseline/pg_runbook: time until all gone %.2fx; statement return %.2fx\n", bg / og, br / or }'
done
