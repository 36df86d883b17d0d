#!/usr/bin/env bash
# `make test-valgrind`: the regress and isolation suites (not TAP) on the
# assert-enabled, USE_VALGRIND build of tools/cassert-build.sh, with every
# server process under valgrind's memcheck:
#   tools/test-valgrind.sh "<regress names>" "<isolation names>"
# The private installation (build/valgrind/tmp_install of the tree copy)
# gets a wrapper in place of bin/postgres that runs the real binary
# (postgres.real) under valgrind with PostgreSQL's suppression file
# (src/tools/valgrind.supp of the build's source); initdb's bootstrap and
# single-user runs, and version queries, run without valgrind.  One log per
# process: build/cassert/test-valgrind/build/valgrind/vg/valgrind.PID.log.
# Then a summary: the total error count, and every error whose stack goes
# through pg_runbook's code (printed in full).  The run fails if a suite
# fails or an error involves pg_runbook.  Slow (tens of minutes).
set -u
. "$(dirname "$0")/cassert-common.sh"
cassert_enter "$0" "$@"
export PG_RUNBOOK_BUILD=$PG_RUNBOOK_CASSERT_TREE/build/valgrind
. "$(dirname "$0")/common.sh"
reexec_readable "$0" "$@"
command -v valgrind >/dev/null || { echo "valgrind is not installed (tools/cassert-build.sh installs it)"; exit 2; }
SUPP=$(cassert_srcdir)/src/tools/valgrind.supp
[ -r "$SUPP" ] || { echo "no suppression file $SUPP"; exit 2; }
build_and_install || { echo "build failed"; exit 2; }
VG=$BUILD/vg
user_dir "$VG"

# The wrapper.  A hard link of the cached build must not be written
# through: remove bin/postgres, never write into it.
if [ ! -e "$TIBIN/postgres.real" ]; then
	cp -p "$TIBIN/postgres" "$TIBIN/postgres.real.tmp"
	mv "$TIBIN/postgres.real.tmp" "$TIBIN/postgres.real"
fi
rm -f "$TIBIN/postgres"
cat >"$TIBIN/postgres" <<WRAP
#!/bin/sh
# postgres under valgrind memcheck (pg_runbook tools/test-valgrind.sh)
REAL=\$(dirname "\$0")/postgres.real
case " \$* " in
*" --boot "* | *" --single "* | " -V " | " --version " | *" -C "* | *" --describe-config "*)
	exec "\$REAL" "\$@" ;;
esac
exec valgrind --trace-children=yes --track-origins=yes --read-var-info=yes \\
	--leak-check=no --error-exitcode=128 --error-limit=no \\
	--suppressions=$SUPP --gen-suppressions=all --num-callers=40 \\
	--fullpath-after= --log-file=$VG/valgrind.%p.log \\
	"\$REAL" "\$@"
WRAP
chmod 755 "$TIBIN/postgres"
echo "== postgres runs under valgrind; logs in $VG"

# run-tests.sh installs again (no copy: the wrapper is newer than the build)
"$ROOT/tools/run-tests.sh" "${1:-}" "${2:-}" ""
rc=$?

# --- summary ----------------------------------------------------------------
# An error is the block from a "==PID== <kind>" line to the next "==PID== "
# blank line; it involves pg_runbook when a frame is in its sources or .so.
# "Process terminating with default action of signal N" (a crash, e.g. an
# assertion failure's abort) is counted apart from memcheck's errors.
SRCPAT="$ROOT/src/|pg_runbook[.]so"
awk -v pat="$SRCPAT" '
	function flush() { if (blk != "") { term = (blk ~ /Process terminating/); if (term) nt++; else total++;
	                   if (blk ~ pat) { if (term) rt++; else rb++; print blk > "/dev/stderr" } } blk = "" }
	/^==[0-9]+== (Invalid |Mismatched |Conditional jump|Use of uninitialised|Syscall param|Source and destination overlap|Argument .* of function|Jump to the invalid|Process terminating)/ { flush(); blk = FILENAME ":\n" $0; next }
	/^==[0-9]+== $/ { flush(); next }
	/^==[0-9]+== / { if (blk != "") blk = blk "\n" $0; next }
	{ flush() }
	END { flush(); printf "%d %d %d %d\n", total, rb, nt, rt }' "$VG"/valgrind.*.log 2>"$VG/pg_runbook-errors.txt" >"$VG/counts.txt" </dev/null
read -r blocks rberr nterm rbterm <"$VG/counts.txt"
reported=$(cat "$VG"/valgrind.*.log 2>/dev/null | sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
nlogs=$(ls "$VG"/valgrind.*.log 2>/dev/null | wc -l)
if [ -s "$VG/pg_runbook-errors.txt" ]; then
	echo
	echo "== valgrind: errors and crashes in pg_runbook's code (all in $VG/pg_runbook-errors.txt)"
	head -300 "$VG/pg_runbook-errors.txt"
fi
if [ "$blocks" -gt "$rberr" ]; then
	echo
	echo "== other valgrind errors: see"
	grep -l -E "^==[0-9]+== (Invalid |Mismatched |Conditional jump|Use of uninitialised|Syscall param)" "$VG"/valgrind.*.log | head -5
fi
echo
echo "valgrind: $nlogs process logs; memcheck errors: $blocks ($reported in the processes' ERROR SUMMARY lines), $rberr involving pg_runbook"
echo "valgrind: processes killed by a signal: $nterm, $rbterm with pg_runbook on the stack"
[ "$rberr" -gt 0 ] && rc=1
[ "$rbterm" -gt 0 ] && rc=1
exit $rc
