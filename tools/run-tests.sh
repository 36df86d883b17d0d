#!/usr/bin/env bash
# `make test`: build, install privately, then run every suite on private
# temporary servers that preload pg_runbook:
#   regress    sql_tests/*.sql        -> expected/*.out
#   isolation  sql_tests/specs/*.spec -> expected/*.out
#   TAP        sql_tests/t/*.pl
# after `make check-layers` (tools/check-layers.sh) on the objects and
# `make check-released` (the shipped scripts unchanged, byte for byte).
# Every suite runs even if an earlier one failed; the exit status is
# non-zero if any failed.  Servers run as an unprivileged user when root.
set -u
. "$(dirname "$0")/common.sh"
reexec_readable "$0" "$@"
REGRESS=${1:-}; ISOLATION=${2:-}; PROVE_TESTS=${3:-}

# the test build: with the test hooks (pg_runbook.test_delay_before_signal)
MAKE_ARGS+=(RB_TEST_HOOKS=1)
build_and_install || { echo "build failed"; exit 2; }

T=$BUILD/test
user_dir "$T"
mkdir -p "$T/input"
ln -sfn "$ROOT/sql_tests" "$T/input/sql"
ln -sfn "$ROOT/sql_tests/specs" "$T/input/specs"
ln -sfn "$ROOT/expected" "$T/input/expected"
[ "$(id -u)" = 0 ] && chown -R "$RUN_USER" "$T"

# 18's initdb turns data checksums on by default; the regress and isolation
# instances keep the default of 15 and 17 (off), so that one expected output
# fits every version.  (PG_TEST_INITDB_EXTRA_OPTS: pg_regress 17+.)
INITDB_ENV=()
[ "$PGMAJOR" -ge 18 ] && INITDB_ENV=(PG_TEST_INITDB_EXTRA_OPTS=--no-data-checksums)

rc=0
summary=()
LOGS=$T/logs; mkdir -p "$LOGS"
# The C modules form layers without a circle and keep their rules
# (tools/check-layers.sh, ARCHITECTURE.md): a quick check on the objects.
echo "== layers"
make -s -C "$ROOT" "${MAKE_ARGS[@]}" check-layers 2>&1 | tee "$LOGS/layers.log"
r=${PIPESTATUS[0]}; [ $r -ne 0 ] && rc=1
summary+=("layers: exit $r")
# The released scripts are what was shipped, byte for byte (sql/released/).
echo "== released scripts"
make -s -C "$ROOT" "${MAKE_ARGS[@]}" check-released 2>&1 | tee "$LOGS/released.log"
r=${PIPESTATUS[0]}; [ $r -ne 0 ] && rc=1
summary+=("released: exit $r")
if [ -n "$REGRESS" ]; then
	echo "== regress"
	as_user env ${INITDB_ENV[@]+"${INITDB_ENV[@]}"} "$PGXS_DIR/src/test/regress/pg_regress" \
		--temp-instance="$T/regress/tmp_instance" \
		--temp-config="$ROOT/sql_tests/regress.conf" \
		--inputdir="$T/input" --outputdir="$T/regress" \
		--bindir="$TIBIN" --dbname=contrib_regression $REGRESS 2>&1 | tee "$LOGS/regress.log"
	r=${PIPESTATUS[0]}; [ $r -ne 0 ] && rc=1
	summary+=("regress: exit $r")
	[ $r -ne 0 ] && [ -f "$T/regress/regression.diffs" ] && head -150 "$T/regress/regression.diffs"
fi
if [ -n "$ISOLATION" ]; then
	echo "== isolation"
	as_user env ${INITDB_ENV[@]+"${INITDB_ENV[@]}"} "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
		--temp-instance="$T/isolation/tmp_instance" \
		--temp-config="$ROOT/sql_tests/regress.conf" \
		--inputdir="$T/input" --outputdir="$T/isolation" \
		--bindir="$TIBIN" --dbname=isolation_regression $ISOLATION 2>&1 | tee "$LOGS/isolation.log"
	r=${PIPESTATUS[0]}; [ $r -ne 0 ] && rc=1
	summary+=("isolation: exit $r")
	[ $r -ne 0 ] && [ -f "$T/isolation/regression.diffs" ] && head -150 "$T/isolation/regression.diffs"
fi
if [ -n "$PROVE_TESTS" ]; then
	echo "== TAP"
	mkdir -p "$T/tap"; [ "$(id -u)" = 0 ] && chown "$RUN_USER" "$T/tap"
	# The root-only fixtures of the memory and disk guard tests (a memory
	# cgroup under ours, a small tmpfs; tools/guard-fixtures.sh), made for
	# a run that has those tests and undone after it, also on failure or
	# interrupt.
	FIXTURES=$BUILD/fixtures
	tools_fx=$ROOT/tools/guard-fixtures.sh
	FX_ENV=()
	"$tools_fx" teardown "$FIXTURES"
	case " $PROVE_TESTS " in
	*_guard*)
		trap '"$tools_fx" teardown "$FIXTURES"' EXIT
		trap 'exit 130' INT; trap 'exit 143' TERM
		while IFS= read -r l; do
			[ -n "$l" ] && FX_ENV+=("$l")
		done < <("$tools_fx" setup "$FIXTURES" "$RUN_USER")
		;;
	esac
	# TESTDIR places tmp_check up to 16; TESTDATADIR/TESTLOGDIR from 17.
	(cd "$ROOT" && as_user env ${FX_ENV[@]+"${FX_ENV[@]}"} TESTDIR="$T/tap" PATH="$TIBIN:$PATH" \
		TESTDATADIR="$T/tap/tmp_check" TESTLOGDIR="$T/tap/tmp_check/log" \
		PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
		PG_RUNBOOK_ROOT="$ROOT" PGMAJOR="$PGMAJOR" \
		prove -I "$PGXS_DIR/src/test/perl" -I "$ROOT/sql_tests/t" \
		${PROVE_FLAGS:-} $PROVE_TESTS) 2>&1 | tee "$LOGS/tap.log"
	r=${PIPESTATUS[0]}; [ $r -ne 0 ] && rc=1
	"$tools_fx" teardown "$FIXTURES"
	summary+=("TAP: exit $r")
	if [ $r -ne 0 ]; then
		for f in "$T"/tap/tmp_check/log/regress_log_*; do
			[ -f "$f" ] && { echo "--- tail of $f"; tail -40 "$f"; }
		done
	fi
fi
# Assertion failures and crashes in the servers' logs.  An assert-enabled
# server (make test-cassert) writes "TRAP: FailedAssertion(...)" and a
# backtrace; the postmaster logs every process that died of a signal, with
# the query it was running.  A TRAP fails the run; a signal is reported
# only (a test may kill a process on purpose).
SERVER_LOGS=$(find "$T/regress/log" "$T/isolation/log" "$T/tap/tmp_check/log" \
	-maxdepth 1 -type f -name '*.log' ! -name 'regress_log_*' 2>/dev/null | sort)
traps=0; signals=0
for f in $SERVER_LOGS; do
	n=$(grep -c "TRAP: " "$f"); s=$(grep -c "terminated by signal" "$f")
	[ "$n" -eq 0 ] && [ "$s" -eq 0 ] && continue
	traps=$((traps + n)); signals=$((signals + s))
	echo "== server crashes in ${f#$T/}: $n TRAP, $s terminated by signal"
	awk 'inq && !/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / && !/^TRAP: / { if (inq++ < 20) print; next }
	     { inq = 0 }
	     /TRAP: /                { print; bt = 25; next }
	     bt > 0 && /\[0x[0-9a-f]+\]$/ { print "    " $0; bt--; next }
	     { bt = 0 }
	     /terminated by signal/  { print; dt = 1; next }
	     dt && /Failed process was running/ { print; dt = 0; inq = 1 }' "$f" | head -300
done
[ "$traps" -gt 0 ] && rc=1

# The runners' own summary lines, last, in one place.
echo
echo "== summary (PostgreSQL $PGMAJOR): ${summary[*]}"
echo "server logs: $traps assertion failure(s) (TRAP), $signals process(es) terminated by signal"
[ -f "$LOGS/regress.log" ] && grep -E "tests (passed|failed)|test(s)? failed" "$LOGS/regress.log" | sed 's/^ *//; s/^/regress: /'
[ -f "$LOGS/isolation.log" ] && grep -E "tests (passed|failed)|test(s)? failed" "$LOGS/isolation.log" | sed 's/^ *//; s/^/isolation: /'
[ -f "$LOGS/tap.log" ] && grep -E "^(All tests successful|Files=|Result:|Failed )" "$LOGS/tap.log"
exit $rc
