#!/usr/bin/env bash
# Bloat: accuracy and speed, pg_runbook against check_postgres --action=bloat
# (the "otta" estimate most tools copy), with pgstattuple / pgstatindex as the
# truth, in one run on one throwaway server.
#  1. accuracy: the corpus of sql_tests/t/400_bloat_accuracy.pl (37 tables
#     and their indexes, sql_tests/t/bloat_corpus.sql; the truth defined in
#     bloat_truth_before.sql / _after.sql): each relation's truth, pg_runbook's
#     estimate and confidence, check_postgres's, and the median and worst
#     errors of both
#  2. a database of 10,000 tables and 20,000 indexes, one of them locked by
#     another session (ACCESS EXCLUSIVE, held through the timed runs):
#     check_postgres first, then runbook.bloat_report(), ROUNDS times, each
#     a new client and connection: the wall time of each client command (as
#     a user runs it: check_postgres starts perl and psql, we start psql),
#     and the statement's own time (psql's \timing); the best of each.
#     Targets: the statement <= 250 ms; check_postgres / bloat_report()
#     wall time >= 12.
# The bench fails (exit 1) if the corpus or the tables were not created, if
# check_postgres exits non-zero (OK is 0 with these thresholds) or reports
# nothing, if bloat_report() misses a relation, or if the locked table is
# not reported as skipped (or the run waited for it).
set -u
. "$(dirname "$0")/../tools/common.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
NT=${BENCH_TABLES:-10000}
ROUNDS=${ROUNDS:-5}
PARTS=" ${PARTS:-1 2} "       # PARTS=2: the speed part only
CP=$(command -v check_postgres || command -v check_postgres.pl)
[ -n "$CP" ] || { echo "check_postgres not installed (tools/deps.sh installs check-postgres)"; exit 1; }

server_start "$BUILD/bench_bloat" "max_locks_per_transaction = 512" "autovacuum = off" \
	"shared_buffers = 256MB" "max_wal_size = 2GB" || exit 1
trap 'kill_children; server_stop' EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }
cpg() { as_user env PATH="$TIBIN:$PATH" "$CP" --action=bloat --host="$PGHOST" --port="$PGPORT" --dbuser="$PGUSER" \
	--warning='1 TB' --critical='2 TB' "$@"; }
T=$ROOT/sql_tests/t

if [[ $PARTS == *" 1 "* ]]; then
echo "== 1. accuracy: the corpus of sql_tests/t/400_bloat_accuracy.pl"
t0=$(ms)
rb_psql -q -c "CREATE DATABASE acc" || fail "CREATE DATABASE"
rb_psql -q -d acc -c "CREATE EXTENSION pg_runbook; CREATE EXTENSION pgstattuple" || fail "extensions"
{ cat "$T/bloat_corpus.sql"; echo "SELECT pg_stat_force_next_flush();"; } | rb_psql -q -d acc >/dev/null || fail "corpus"
rb_psql -q -d acc -f "$T/bloat_truth_before.sql" || fail "truth, step 1"
cp_out=$(cpg --dbname=acc --perflimit=100000 2>&1) || fail "check_postgres exit $?: $cp_out"
rb_psql -q -d acc -f "$T/bloat_truth_after.sql" >/dev/null || fail "truth, step 2"
echo "corpus built and measured in $(( ($(ms) - t0) / 1000 )) s"
rb_psql -q -d acc -v cp="$cp_out" <<'SQL' || fail "accuracy table"
\pset footer off
-- check_postgres's wasted bytes: tables as schema.name, indexes by name (its first figure)
CREATE TEMP TABLE cp AS
  SELECT DISTINCT ON (m[1]) m[1] AS name, m[2]::numeric AS wasted
    FROM regexp_matches(:'cp', '(?:^|\s)(?:public\.)?(bc_[a-z_0-9]+)=([0-9]+)B', 'g') WITH ORDINALITY AS x(m, n)
   ORDER BY m[1], n;
DO $$
BEGIN
  IF (SELECT count(*) FROM cp) = 0 THEN
    RAISE EXCEPTION 'check_postgres output has no relation=bytes pairs';
  END IF;
  IF (SELECT count(*) FROM acc_cmp WHERE kind = 'table') < 30 THEN
    RAISE EXCEPTION 'the corpus has % tables, want 30', (SELECT count(*) FROM acc_cmp WHERE kind = 'table');
  END IF;
  IF EXISTS (SELECT 1 FROM acc_cmp WHERE confidence IS NULL) THEN
    RAISE EXCEPTION 'bloat_report() misses %', (SELECT string_agg(name, ', ') FROM acc_cmp WHERE confidence IS NULL);
  END IF;
END $$;
CREATE TEMP TABLE e AS
  SELECT a.*, abs(a.est - a.truth) AS err,
         round(100.0 * coalesce(cp.wasted, 0) / nullif(a.size, 0), 1) AS cp_pct,
         abs(round(100.0 * coalesce(cp.wasted, 0) / nullif(a.size, 0), 1) - a.truth) AS cp_err
    FROM acc_cmp a LEFT JOIN cp USING (name);
SELECT name AS relation, kind, am, pg_size_pretty(size) AS size, truth, est AS pg_runbook, confidence,
       err, cp_pct AS check_postgres, cp_err
  FROM e ORDER BY kind DESC, name;
\pset tuples_only on
SELECT 'RESULT bloat accuracy (' || count(*) || ' relations, ' || count(est) || ' estimated): pg_runbook median error '
       || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY err)::numeric, 1) || ' points, worst '
       || max(err) || ' (worst not low-confidence ' || max(err) FILTER (WHERE confidence <> 'low') || '); check_postgres median '
       || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY cp_err)::numeric, 1) || ', worst ' || max(cp_err)
       || CASE WHEN percentile_cont(0.5) WITHIN GROUP (ORDER BY err) <= 5
                AND max(err) FILTER (WHERE confidence <> 'low') <= 15
                AND percentile_cont(0.5) WITHIN GROUP (ORDER BY err) < percentile_cont(0.5) WITHIN GROUP (ORDER BY cp_err)
                AND max(err) < max(cp_err)
               THEN ' (targets met)' ELSE ' (targets NOT met)' END
  FROM e;
SQL
echo "(truth: pgstattuple free + dead beyond what VACUUM FULL leaves free for tables, hash and gist;"
echo " pgstatindex density against the fillfactor for btree; the rebuilt size for gin. check_postgres:"
echo " its wasted bytes over the relation's size, 0 when not reported. err: absolute, in points)"
fi
[[ $PARTS == *" 2 "* ]] || exit 0

echo "== 2. $NT tables, $((NT * 2)) indexes"
t0=$(ms)
per=1000
for ((b = 0; b < NT; b += per)); do
	rb_psql -q -c "DO \$\$ BEGIN FOR i IN $b..$((b + per - 1)) LOOP
		EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v int, pad text)', i);
		EXECUTE format('CREATE INDEX ON t%s (v)', i);
		EXECUTE format('INSERT INTO t%s SELECT g, g %% 7, ''row '' || g FROM generate_series(1, 20) g', i);
	END LOOP; END \$\$" || exit 1
done
rb_psql -q -c "CREATE EXTENSION pg_runbook" -c "ANALYZE" || exit 1
echo "created and analyzed in $(( ($(ms) - t0) / 1000 )) s"
rb_psql -Atc "SELECT count(*) FILTER (WHERE relkind = 'r') || ' tables, ' || count(*) FILTER (WHERE relkind = 'i') || ' indexes in pg_class' FROM pg_class"
[ "$(rb_psql -Atc "SELECT count(*) FILTER (WHERE relkind = 'r') >= $NT AND count(*) FILTER (WHERE relkind = 'i') >= $((NT * 2)) FROM pg_class WHERE relname ~ '^t[0-9]+'")" = t ] ||
	fail "$NT tables / $((NT * 2)) indexes not all created"

# DDL holds a lock on one table through the timed runs: never waited for
( echo "BEGIN; LOCK TABLE t42 IN ACCESS EXCLUSIVE MODE; SELECT 'locked';"; sleep 600 ) | rb_psql -Atq >/dev/null 2>&1 &
for _ in $(seq 50); do
	[ "$(rb_psql -Atc "SELECT count(*) FROM pg_locks WHERE relation = 't42'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
	sleep 0.2
done
[ "$(rb_psql -Atc "SELECT count(*) FROM pg_locks WHERE relation = 't42'::regclass AND granted")" = 1 ] || fail "t42 not locked"

best_rb=999999999; best_cp=999999999; best_stmt=999999999
for run in $(seq "$ROUNDS"); do
	t0=$(ms); out=$(cpg --dbname=postgres 2>&1); rc=$?; t=$(( $(ms) - t0 ))
	echo "run $run: check_postgres --action=bloat: $t ms: $(echo "$out" | head -c 120)"
	[ $rc -eq 0 ] || fail "check_postgres exit $rc"
	case $out in POSTGRES_BLOAT\ OK*) ;; *) fail "check_postgres did not report OK: $(echo "$out" | head -c 300)" ;; esac
	[ $t -lt $best_cp ] && best_cp=$t
	t0=$(ms)
	res=$(rb_psql -Atq -c '\timing on' -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE relation = 't42'::regclass AND reason LIKE 'skipped: locked%') FROM runbook.bloat_report()") || fail "bloat_report()"
	t=$(( $(ms) - t0 ))
	stmt=$(echo "$res" | sed -n 's/^Time: \([0-9]*\)\..*/\1/p')
	res=$(echo "$res" | grep -v '^Time:')
	n=${res% *}; skipped=${res#* }
	echo "run $run: pg_runbook bloat_report(): $n rows (the locked table: $skipped skipped), statement $stmt ms, with psql's start and connection $t ms"
	[ "$n" -ge $((NT * 3)) ] || fail "bloat_report() listed $n rows for $NT tables and $((NT * 2)) indexes"
	[ "$skipped" = 1 ] || fail "the locked table t42 was not reported as skipped"
	[ $t -lt $best_rb ] && best_rb=$t
	[ "$stmt" -lt $best_stmt ] && best_stmt=$stmt
done
ratio=$(awk "BEGIN{printf \"%.1f\", $best_cp / $best_rb}")
met=$(awk "BEGIN{print ($best_stmt <= 250 && $best_cp / $best_rb >= 12) ? \"met\" : \"NOT met\"}")
echo "RESULT bloat estimate on $NT tables / $((NT * 2)) indexes, best of $ROUNDS: check_postgres ${best_cp} ms; pg_runbook bloat_report() ${best_stmt} ms (statement in a new session), ${best_rb} ms with psql's start and connection; ratio ${ratio}x (both with their client's start) (targets <= 250 ms and >= 12x: $met)"
