#!/usr/bin/env bash
# `make fuzz`: sqlsmith (Debian's package) against a throwaway server of the
# assert-enabled build (tools/cassert-build.sh), pg_runbook preloaded and
# created, for a bounded number of random queries.
#   PG_RUNBOOK_FUZZ_QUERIES   queries to generate (default 5000)
#   PG_RUNBOOK_FUZZ_SEED      sqlsmith's seed (default: random; printed)
#   PG_RUNBOOK_FUZZ_CATALOG=1 let sqlsmith also query catalog relations
#                             (default: only user relations, i.e. runbook's
#                             tables and views and a few fixtures; functions
#                             of every schema are used either way)
#   PG_RUNBOOK_FUZZ_TIMEOUT   seconds before sqlsmith is stopped (default 3600)
# The server runs as the unprivileged user, sqlsmith connects as its
# superuser (so runbook's remedies may really signal: only backends of this
# throwaway server, and sqlsmith reconnects after a lost connection, waiting
# 1 s, so a signalled or crashed session does not end the run).
# sqlsmith sets statement_timeout = 1s in its session.
# After the run every crash in the server log (TRAP, "terminated by
# signal") is printed with the query that was running and the backtrace;
# any crash fails the run, and each says whether it touches pg_runbook
# (the query names runbook, or the backtrace goes through pg_runbook.so).
set -u
. "$(dirname "$0")/cassert-common.sh"
cassert_enter "$0" "$@"
. "$(dirname "$0")/common.sh"
reexec_readable "$0" "$@"
NQ=${PG_RUNBOOK_FUZZ_QUERIES:-5000}
SEED=${PG_RUNBOOK_FUZZ_SEED:-$(shuf -i 1-2000000000 -n 1)}
TMO=${PG_RUNBOOK_FUZZ_TIMEOUT:-3600}
if ! command -v sqlsmith >/dev/null; then
	echo "== installing sqlsmith"
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq sqlsmith >/dev/null ||
		{ echo "cannot install sqlsmith"; exit 2; }
fi
build_and_install || { echo "build failed"; exit 2; }
assert_enabled "$BUILD/assert-check"

OUT=$BUILD/fuzz-out
rm -rf "$OUT"; mkdir -p "$OUT"
server_start "$BUILD/fuzz" \
	"shared_preload_libraries = 'pg_runbook, pg_stat_statements'" \
	"track_activity_query_size = 32768" \
	"restart_after_crash = on" \
	"log_line_prefix = '%m [%p] '" || { echo "server did not start"; exit 2; }
trap 'cp "$SERVER_DIR/server.log" "$OUT/server.log" 2>/dev/null; server_stop' EXIT
# objects for the queries: the extensions the runbooks read, and a few
# relations of the kinds runbook's functions look at
rb_psql -q >/dev/null <<'SQL' || { echo "set-up failed"; exit 2; }
CREATE EXTENSION pg_runbook;
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION pgstattuple;
CREATE EXTENSION amcheck;
CREATE TABLE public.fuzz_t (id int PRIMARY KEY, v text, t timestamptz DEFAULT now());
INSERT INTO public.fuzz_t SELECT g, repeat('x', g % 3000) FROM generate_series(1, 2000) g;
CREATE INDEX ON public.fuzz_t (t);
CREATE TABLE public.fuzz_p (id int, k date) PARTITION BY RANGE (k);
CREATE TABLE public.fuzz_p1 PARTITION OF public.fuzz_p FOR VALUES FROM ('2020-01-01') TO ('2030-01-01');
CREATE MATERIALIZED VIEW public.fuzz_mv AS SELECT id, length(v) AS l FROM public.fuzz_t;
CREATE UNLOGGED TABLE public.fuzz_u AS SELECT g AS id FROM generate_series(1, 100) g;
DELETE FROM public.fuzz_t WHERE id % 4 = 0;
ANALYZE;
SQL
OPTS=(--target="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER"
      --max-queries="$NQ" --seed="$SEED" --verbose)
[ "${PG_RUNBOOK_FUZZ_CATALOG:-0}" = 1 ] || OPTS+=(--exclude-catalog)
echo "== sqlsmith ${OPTS[*]:1} (timeout ${TMO}s); queries in $OUT/queries.log"
T0=$(date +%s)
as_user timeout "$TMO" sqlsmith "${OPTS[@]}" --dump-all-queries >"$OUT/queries.log" 2>"$OUT/sqlsmith.log"
src=$?
T1=$(date +%s)
alive=yes
as_user "$TIBIN/pg_isready" -q -h "$PGHOST" -p "$PGPORT" -t 30 || alive=no
cp "$SERVER_DIR/server.log" "$OUT/server.log"
echo "== sqlsmith exit $src after $((T1 - T0)) s; its report (tail of $OUT/sqlsmith.log):"
tail -25 "$OUT/sqlsmith.log" | grep -v '^[.etSC]*$'

# --- crashes -----------------------------------------------------------------
LOGF=$OUT/server.log
crashes=$(grep -c "terminated by signal" "$LOGF")
traps=$(grep -c "TRAP: " "$LOGF")
rb=0
if [ "$crashes" -gt 0 ] || [ "$traps" -gt 0 ]; then
	echo
	echo "== server crashes ($LOGF)"
	# one block per crash: TRAP + backtrace (if any), the signal line, the query
	awk 'function out() { if (blk != "") { n++; rb = (blk ~ /runbook\./) ? "touches pg_runbook" : "does not touch pg_runbook";
	                                       printf "--- crash %d (%s)\n%s\n", n, rb, blk; if (rb ~ /^touches/) r++ } blk = ""; inq = 0 }
	     # a continuation line of a multi-line query (no log line prefix)
	     inq && !/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / && !/^TRAP: / { if (inq++ < 80) blk = blk "\n" $0; next }
	     inq                               { out() }
	     /TRAP: /                          { pend = pend $0 "\n"; bt = 15; next }
	     bt > 0 && /\[0x[0-9a-f]+\]$/      { pend = pend "    " $0 "\n"; bt--; next }
	     /\[0x[0-9a-f]+\]$/                 { next }
	     { bt = 0 }
	     /terminated by signal/            { blk = pend $0; pend = ""; want = 1; next }
	     want && /Failed process was running/ { blk = blk "\n" $0; want = 0; inq = 1 }
	     END { out(); print r + 0 > "/dev/stderr" }' "$LOGF" 2>"$OUT/rb-crashes.txt" | head -400
	rb=$(cat "$OUT/rb-crashes.txt")
fi
echo
echo "fuzz: seed $SEED, $NQ queries, sqlsmith exit $src, server alive at the end: $alive"
echo "fuzz: $crashes crash(es) (server processes terminated by a signal), $traps assertion failure(s), $rb touching pg_runbook"
[ "$crashes" -eq 0 ] && [ "$traps" -eq 0 ] && [ "$alive" = yes ] && [ "$src" -eq 0 ] && exit 0
exit 1
