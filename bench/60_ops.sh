#!/usr/bin/env bash
# Benchmark (issue 6): the ops runbooks against the SQL people copy.
#  1. slow queries, 2,000 distinct statements in pg_stat_statements:
#     baseline: SELECT ... FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 10
#     pg_runbook: SELECT * FROM runbook.slow_queries(10, 'mean')
#  2. orphaned rows under a foreign key, 1,000,000 child rows, 100,000 parents:
#     baseline: LEFT JOIN ... WHERE parent IS NULL count
#     pg_runbook: runbook.integrity_check() (every check, one FK)
# Each pair runs alternately in one session N times; medians and the ratio
# are printed (ratio <= 1.0 means no slower).
# The bench fails (exit 1) unless the scenario formed and every run returned
# what it should: 2,000 statements in pg_stat_statements, 10 rows from each
# side, the same orphan count from both.
set -u
. "$(dirname "$0")/../tools/common.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
N=${N:-21}
ROWS=${ROWS:-1000000}
DIR=$BUILD/bench_ops
trap 'server_stop' EXIT
server_start "$DIR" "shared_preload_libraries = 'pg_stat_statements,pg_runbook'" \
	"pg_stat_statements.max = 5000" "max_wal_size = 2GB" || exit 1
rb_psql -q <<SQL || fail "setup"
CREATE EXTENSION pg_runbook;
CREATE EXTENSION pg_stat_statements;
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent SELECT generate_series(1, 100000);
CREATE TABLE child (id int, parent_id int);
INSERT INTO child SELECT g, g % 100003 + 1 FROM generate_series(1, $ROWS) g;
ALTER TABLE child ADD CONSTRAINT child_fk FOREIGN KEY (parent_id) REFERENCES parent NOT VALID;
VACUUM ANALYZE parent, child;
SQL
# 2,000 distinct statements
# (IN lists of different lengths are different statements to pg_stat_statements)
rb_psql -Atq -c "SELECT format('SELECT count(*) FROM parent WHERE id IN (%s);', string_agg(x::text, ',')) FROM generate_series(1, 2000) g, generate_series(1, g) x GROUP BY g" > "$DIR/stmts.sql"
chmod a+r "$DIR/stmts.sql"
rb_psql -q -f "$DIR/stmts.sql" >/dev/null || fail "statements"
nstmt=$(rb_psql -Atc 'SELECT count(*) FROM pg_stat_statements')
echo "pg_stat_statements entries: $nstmt"
[ "$nstmt" -ge 2000 ] || fail "only $nstmt entries in pg_stat_statements"

# bench_pair label baseline ours rows_baseline rows_ours: every run of each
# side must return that many rows (checked after the timed loop)
bench_pair() {
	local label=$1 base=$2 ours=$3 want_base=$4 want_ours=$5
	rb_psql -Atq <<SQL || fail "$label"
CREATE TEMP TABLE t(which text, ms float8, n bigint);
DO \$\$
DECLARE
  t0 timestamptz; n bigint;
BEGIN
  FOR i IN 1..$N LOOP
    t0 := clock_timestamp();
    EXECUTE \$q\$SELECT count(*) FROM ($base) q\$q\$ INTO n;
    INSERT INTO t VALUES ('baseline', extract(epoch FROM clock_timestamp() - t0) * 1000, n);
    t0 := clock_timestamp();
    EXECUTE \$q\$SELECT count(*) FROM ($ours) q\$q\$ INTO n;
    INSERT INTO t VALUES ('pg_runbook', extract(epoch FROM clock_timestamp() - t0) * 1000, n);
  END LOOP;
END \$\$;
DO \$\$
DECLARE r record;
BEGIN
  FOR r IN SELECT which, count(*) AS runs, min(n) AS nmin, max(n) AS nmax FROM t GROUP BY which LOOP
    IF r.runs <> $N OR r.nmin <> r.nmax
       OR r.nmin <> (CASE r.which WHEN 'baseline' THEN $want_base ELSE $want_ours END) THEN
      RAISE EXCEPTION '%: % runs, %..% rows (want $N runs of baseline $want_base rows, pg_runbook $want_ours rows)',
        r.which, r.runs, r.nmin, r.nmax;
    END IF;
  END LOOP;
  IF (SELECT count(DISTINCT which) FROM t) <> 2 THEN
    RAISE EXCEPTION 'a side did not run';
  END IF;
END \$\$;
WITH m AS (SELECT which, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med FROM t GROUP BY which)
SELECT format('$label: median ms: baseline %s, pg_runbook %s; ratio pg_runbook/baseline = %s',
              round((SELECT med FROM m WHERE which = 'baseline')::numeric, 3),
              round((SELECT med FROM m WHERE which = 'pg_runbook')::numeric, 3),
              round(((SELECT med FROM m WHERE which = 'pg_runbook') / (SELECT med FROM m WHERE which = 'baseline'))::numeric, 3));
SQL
}

bench_pair "slow_queries (top 10 by mean of $(rb_psql -Atc 'SELECT count(*) FROM pg_stat_statements') statements)" \
	"SELECT query, calls, total_exec_time, mean_exec_time, rows, 100.0 * shared_blks_hit / nullif(shared_blks_hit + shared_blks_read, 0) AS hit FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 10" \
	"SELECT * FROM runbook.slow_queries(10, 'mean')" 10 10

orph_base=$(rb_psql -Atc 'SELECT count(*) FROM child c LEFT JOIN parent p ON p.id = c.parent_id WHERE c.parent_id IS NOT NULL AND p.id IS NULL')
orph_ours=$(rb_psql -Atc "SELECT count FROM runbook.integrity_check() WHERE check_name = 'orphaned_rows'")
echo "orphans: baseline $orph_base, pg_runbook $orph_ours"
[ "$orph_base" -gt 0 ] && [ "$orph_base" = "$orph_ours" ] || fail "orphan counts: baseline '$orph_base', pg_runbook '$orph_ours'"
# integrity_check(): its rows without include_ok (the NOT VALID constraint and
# the orphans found), counted once here
ic_rows=$(rb_psql -Atc "SELECT count(*) FROM runbook.integrity_check()")
[ "$ic_rows" -ge 2 ] || fail "integrity_check() returned $ic_rows rows"
N=$(( N < 7 ? N : 7 )) bench_pair "orphaned rows ($ROWS child rows, whole integrity_check)" \
	"SELECT count(*) FROM child c LEFT JOIN parent p ON p.id = c.parent_id WHERE c.parent_id IS NOT NULL AND p.id IS NULL" \
	"SELECT * FROM runbook.integrity_check()" 1 "$ic_rows"
