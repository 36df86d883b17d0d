#!/usr/bin/env bash
# Benchmark (issue 11): the cost of SET search_path = pg_catalog, pg_temp on
# the functions behind the views (a function with a SET clause saves and
# restores the setting on each call and is never inlined).
#   pinned: as installed
#   reset:  the same functions after ALTER FUNCTION ... RESET search_path
# Views over 2,000 tables; the two variants alternate in one session, N times
# each; medians and the ratio pinned/reset are printed (<= 1.0: no slower).
set -u
. "$(dirname "$0")/../tools/common.sh"
N=${N:-21}
TABLES=${TABLES:-2000}
DIR=$BUILD/bench_pinned
trap server_stop EXIT
server_start "$DIR" || exit 1
rb_psql -q -c 'CREATE EXTENSION pg_runbook' \
	-c "DO \$\$ BEGIN FOR i IN 1..$TABLES LOOP EXECUTE format('CREATE TABLE t%s (id int) WITH (autovacuum_enabled = false)', i); END LOOP; END \$\$" \
	-c 'ANALYZE'
for view in vacuum_status sizes sessions; do
	{
		echo '\timing on'
		for i in $(seq "$N"); do
			echo "ALTER FUNCTION runbook._reloption(text[], text) SET search_path = pg_catalog, pg_temp; ALTER FUNCTION runbook._sessions() SET search_path = pg_catalog, pg_temp; ALTER FUNCTION runbook._relation_sizes() SET search_path = pg_catalog, pg_temp;"
			echo "\\echo pinned"
			echo "SELECT count(*) FROM runbook.$view;"
			echo "ALTER FUNCTION runbook._reloption(text[], text) RESET search_path; ALTER FUNCTION runbook._sessions() RESET search_path; ALTER FUNCTION runbook._relation_sizes() RESET search_path;"
			echo "\\echo reset"
			echo "SELECT count(*) FROM runbook.$view;"
		done
	} | rb_psql -qAt 2>&1 | awk -v view="$view" '
		/^(pinned|reset)$/ { cur = $0; next }
		/^Time:/ && cur != "" { sub(/^Time: /, ""); sub(/ ms.*/, ""); t[cur, ++n[cur]] = $0; cur = "" }
		function median(k,   i, j, a, m, x) {
			m = n[k]; for (i = 1; i <= m; i++) a[i] = t[k, i]
			for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
			return a[int((m + 1) / 2)]
		}
		END { p = median("pinned"); r = median("reset");
		      printf "%-14s pinned %8.2f ms  reset %8.2f ms  ratio %.2f (median of %d)\n", view, p, r, p / r, n["pinned"] }'
done
