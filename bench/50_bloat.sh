#!/usr/bin/env bash
# Bloat: accuracy and speed, pg_runbook against check_postgres --action=bloat
# (the "otta" estimate most tools copy) and pgstattuple (ground truth), in
# one run on one throwaway server.
#  1. accuracy fixtures: each tool's bloat percent side by side
#  2. a database of 10,000 tables and 20,000 indexes: wall time of
#     runbook.bloat_report() (estimate) and of check_postgres, and the ratio
# The bench fails (exit 1) if a fixture or the tables were not created, if
# check_postgres exits non-zero (OK is 0 with these thresholds) or reports
# nothing, or if bloat_report() misses a fixture.
set -u
. "$(dirname "$0")/../tools/common.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
NT=${BENCH_TABLES:-10000}
CP=$(command -v check_postgres || command -v check_postgres.pl)
[ -n "$CP" ] || { echo "check_postgres not installed (tools/deps.sh installs check-postgres)"; exit 1; }

server_start "$BUILD/bench_bloat" "max_locks_per_transaction = 512" "autovacuum = off" \
	"shared_buffers = 256MB" || exit 1
trap server_stop EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }
cpg() { as_user env PATH="$TIBIN:$PATH" "$CP" --action=bloat --host="$PGHOST" --port="$PGPORT" --dbuser="$PGUSER" \
	--warning='1 TB' --critical='2 TB' "$@"; }

echo "== 1. accuracy fixtures"
rb_psql -q -c "CREATE DATABASE acc" || fail "CREATE DATABASE"
rb_psql -q -d acc <<'SQL' || fail "fixtures"
CREATE EXTENSION pg_runbook; CREATE EXTENSION pgstattuple;
CREATE TABLE acc_deleted (id int PRIMARY KEY, pad text, n numeric);
INSERT INTO acc_deleted SELECT g, repeat('x', 40 + g % 60), g FROM generate_series(1, 200000) g;
CREATE TABLE acc_fresh (LIKE acc_deleted INCLUDING ALL);
INSERT INTO acc_fresh SELECT * FROM acc_deleted;
DELETE FROM acc_deleted WHERE id % 2 = 0;
CREATE TABLE acc_toast (id int, doc text);
ALTER TABLE acc_toast ALTER doc SET STORAGE EXTERNAL;
INSERT INTO acc_toast SELECT g, repeat(md5(g::text), 200) FROM generate_series(1, 3000) g;
CREATE TABLE acc_ff50 (id int PRIMARY KEY, pad text) WITH (fillfactor = 50);
INSERT INTO acc_ff50 SELECT g, repeat('y', 50) FROM generate_series(1, 100000) g;
CREATE TABLE acc_idx (id int, v int);
INSERT INTO acc_idx SELECT g, (g * 7919) % 100003 FROM generate_series(1, 150000) g;
CREATE INDEX acc_idx_v ON acc_idx (v);
DELETE FROM acc_idx WHERE id % 3 <> 0;
VACUUM ANALYZE;
SQL
cp_out=$(cpg --dbname=acc --perflimit=100 2>&1) || fail "check_postgres exit $?: $cp_out"
rb_psql -d acc -v cp="$cp_out" <<'SQL' || fail "accuracy table"
CREATE TEMP TABLE cp AS
  SELECT m[1] AS rel, m[2]::numeric AS wasted
    FROM regexp_matches(:'cp', '([a-z_0-9]+)=([0-9]+)B', 'g') m;
CREATE TEMP TABLE truth AS
  SELECT 'acc_deleted' AS rel, free_percent + dead_tuple_percent AS pct FROM pgstattuple('acc_deleted')
  UNION ALL SELECT 'acc_fresh', free_percent + dead_tuple_percent FROM pgstattuple('acc_fresh')
  UNION ALL SELECT 'acc_toast', free_percent + dead_tuple_percent FROM pgstattuple('acc_toast')
  UNION ALL SELECT 'acc_ff50', free_percent + dead_tuple_percent FROM pgstattuple('acc_ff50')
  UNION ALL SELECT 'acc_deleted_pkey', 100 - avg_leaf_density FROM pgstatindex('acc_deleted_pkey')
  UNION ALL SELECT 'acc_fresh_pkey', 100 - avg_leaf_density FROM pgstatindex('acc_fresh_pkey')
  UNION ALL SELECT 'acc_idx_v', 100 - avg_leaf_density FROM pgstatindex('acc_idx_v');
-- the scenario formed: check_postgres reported wasted bytes, and
-- bloat_report() lists every fixture
DO $$
BEGIN
  IF (SELECT count(*) FROM cp) = 0 THEN
    RAISE EXCEPTION 'check_postgres output has no relation=bytes pairs';
  END IF;
  IF (SELECT count(*) FROM runbook.bloat_report() b JOIN truth t ON t.rel = b.relation::text) <> 7 THEN
    RAISE EXCEPTION 'bloat_report() lists % of the 7 fixtures',
      (SELECT count(*) FROM runbook.bloat_report() b JOIN truth t ON t.rel = b.relation::text);
  END IF;
END $$;
SELECT b.relation AS relation, b.size_pretty AS size,
       round(t.pct::numeric, 1) AS pgstattuple_pct,
       b.bloat_pct AS pg_runbook_pct, b.confidence,
       round(100.0 * cp.wasted / nullif(b.size_bytes, 0), 1) AS check_postgres_pct
  FROM runbook.bloat_report() b
  JOIN truth t ON t.rel = b.relation::text
  LEFT JOIN cp ON cp.rel = b.relation::text
 ORDER BY b.kind DESC, b.relation::text;
SQL
echo "(pgstattuple: free + dead percent for tables, 100 - avg_leaf_density for indexes;"
echo " check_postgres: its 'wasted' bytes over the relation size; blank = not reported)"

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

best_rb=999999999; best_cp=999999999
for run in 1 2; do
	t0=$(ms); n=$(rb_psql -Atc "SELECT count(*) FROM runbook.bloat_report()") || fail "bloat_report()"; t=$(( $(ms) - t0 ))
	echo "run $run: pg_runbook bloat_report(): $n rows in $t ms"
	[ "$n" -ge $((NT * 3)) ] || fail "bloat_report() listed $n rows for $NT tables and $((NT * 2)) indexes"
	[ $t -lt $best_rb ] && best_rb=$t
	t0=$(ms); out=$(cpg --dbname=postgres 2>&1); rc=$?; t=$(( $(ms) - t0 ))
	echo "run $run: check_postgres --action=bloat: $t ms: $(echo "$out" | head -c 160)"
	[ $rc -eq 0 ] || fail "check_postgres exit $rc"
	case $out in POSTGRES_BLOAT\ OK*) ;; *) fail "check_postgres did not report OK: $(echo "$out" | head -c 300)" ;; esac
	[ $t -lt $best_cp ] && best_cp=$t
done
echo "RESULT bloat estimate on $NT tables / $((NT * 2)) indexes: pg_runbook ${best_rb} ms, check_postgres ${best_cp} ms, ratio $(awk "BEGIN{printf \"%.1f\", $best_cp / $best_rb}")x"
[ "$best_rb" -le 2000 ] || echo "WARNING: pg_runbook above 2 s"
