#!/usr/bin/env bash
# `make test-cassert`: the whole suite of `make test` (regress, isolation,
# TAP; the same lists) on an assert-enabled PostgreSQL 15 (--enable-cassert,
# --enable-debug; tools/cassert-build.sh builds it once into a cache).
#   tools/test-cassert.sh "<regress names>" "<isolation names>" "<TAP files>"
# Runs from a copy of the tree (build/cassert/test-cassert, see tools/cassert-common.sh)
# with its own objects and private installation; first checks on a
# throwaway server that debug_assertions is on.  An assertion failure in a
# server log (TRAP) fails the run; tools/run-tests.sh prints the TRAP and
# crash lines with their backtraces before the runners' summary lines.
set -u
. "$(dirname "$0")/cassert-common.sh"
cassert_enter "$0" "$@"
. "$(dirname "$0")/common.sh"
reexec_readable "$0" "$@"
build_and_install || { echo "build failed"; exit 2; }
assert_enabled "$BUILD/assert-check"
exec "$ROOT/tools/run-tests.sh" "$@"
