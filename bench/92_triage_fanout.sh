#!/usr/bin/env bash
# Benchmark: triage() over every database of the server (issue 24).
# Setup: database app1 with pg_runbook and 1,000 tables (each with a
# primary key), 5 of them with 20,000 dead tuples (autovacuum off); the
# database postgres is dropped, so that app1 is the only database to check
# (the pg_runbook worker runs in app1).
#   one database: SELECT * FROM runbook.triage() in app1 (all local: no
#     worker is started)
#   ten databases: app2 .. app10 made as app1 was (pg_runbook, 1,000
#     tables, 5 with dead tuples), then the same call in app1: nine
#     databases are checked by
#     per-database workers, pg_runbook.per_database_workers (default 2) at
#     once
# Each runs N times in one session (pg_stat_clear_snapshot() before each);
# medians and the ratio are printed.  Target (issue 24): ten databases
# within 5x of one.
# The bench fails (exit 1) unless every run of the first saw the dead
# tuples of app1 and nothing else to check, and every run of the second saw
# the dead tuples of all ten databases and no database left unchecked.
set -u
. "$(dirname "$0")/../tools/common.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
N=${N:-11}
TABLES=${TABLES:-1000}
DBS=${DBS:-10}
WORKERS=${WORKERS:-}	# pg_runbook.per_database_workers (default: the setting's)
DIR=$BUILD/bench_fanout
trap server_stop EXIT
server_start "$DIR" "autovacuum = off" "max_worker_processes = 16" "pg_runbook.database = 'app1'" \
	${WORKERS:+"pg_runbook.per_database_workers = $WORKERS"} || exit 1

dead_tuples_sql() {
	cat <<'SQL'
SELECT format('INSERT INTO t%s SELECT g FROM generate_series(1, 20000) g; DELETE FROM t%s;', g, g)
  FROM generate_series(1, 5) g \gexec
SELECT pg_stat_force_next_flush();
SQL
}

make_db() {
	local db=$1
	rb_psql -q -c "CREATE DATABASE $db" || fail "create $db"
	PGDATABASE=$db rb_psql -q <<SQL || fail "setup of $db"
CREATE EXTENSION pg_runbook;
SELECT format('CREATE TABLE t%s (id int PRIMARY KEY)', g) FROM generate_series(1, $TABLES) g \gexec
$(dead_tuples_sql)
SQL
}
make_db app1
PGDATABASE=app1 rb_psql -q -c "DROP DATABASE postgres" || fail "drop postgres"
export PGDATABASE=app1
[ "$(rb_psql -Atc "SELECT count(*) FROM pg_class WHERE relname ~ '^t[0-9]+\$' AND relkind = 'r'")" = "$TABLES" ] ||
	fail "the $TABLES tables were not created"

# N timed runs of triage() in app1; want: the dead_tuples findings seen,
# the databases it must see; prints the median in ms
timed() {
	local want_dead=$1
	rb_psql -Atq <<SQL || fail "timed runs ($want_dead databases)"
CREATE TEMP TABLE r(ms float8, dead int, unchecked int);
DO \$\$
DECLARE t0 timestamptz; d int; u int;
BEGIN
  FOR i IN 1..$N LOOP
    PERFORM pg_stat_clear_snapshot();
    t0 := clock_timestamp();
    SELECT count(*) FILTER (WHERE check_name = 'dead_tuples'), count(*) FILTER (WHERE check_name = 'databases')
      INTO d, u FROM runbook.triage();
    INSERT INTO r VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000, d, u);
  END LOOP;
END \$\$;
DO \$\$
BEGIN
  IF (SELECT count(*) FROM r WHERE dead = $want_dead AND unchecked = 0) <> $N THEN
    RAISE EXCEPTION 'runs that saw the dead tuples of % database(s) and none unchecked: % of $N (dead: %, unchecked: %)',
      $want_dead, (SELECT count(*) FROM r WHERE dead = $want_dead AND unchecked = 0),
      (SELECT array_agg(dead) FROM r), (SELECT array_agg(unchecked) FROM r);
  END IF;
END \$\$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) FROM r;
SQL
}

load() { cut -d' ' -f1 /proc/loadavg; }
echo "one database: app1, $TABLES tables; load $(load)"
one=$(timed 1) || exit 1
echo "  triage() median of $N: $one ms"

for i in $(seq 2 "$DBS"); do make_db "app$i"; done
checked=$(rb_psql -Atc "SELECT count(*) FROM runbook.databases() WHERE checked")
[ "$checked" = "$DBS" ] || fail "databases() checks $checked databases, want $DBS"
echo "$DBS databases of $TABLES tables each (app1..app$DBS); pg_runbook.per_database_workers = $(rb_psql -Atc 'SHOW pg_runbook.per_database_workers'); load $(load)"
ten=$(timed "$DBS") || exit 1
echo "  triage() median of $N: $ten ms"
probe=$(rb_psql -Atq <<'SQL'
CREATE TEMP TABLE p(ms float8);
DO $$ DECLARE t0 timestamptz; BEGIN
  FOR i IN 1..5 LOOP t0 := clock_timestamp(); PERFORM count(*) FROM runbook.databases();
    INSERT INTO p VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000); END LOOP; END $$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) FROM p;
SQL
)
echo "  databases() (a worker per database, connect and stop) median of 5: $probe ms"
echo "triage fan-out (N=$N): one database $one ms, $DBS databases $ten ms; ratio = $(awk -v a="$ten" -v b="$one" 'BEGIN { printf "%.2f", a / b }') (target <= 5)"
