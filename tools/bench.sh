#!/usr/bin/env bash
# `make bench`: run every bench/*.sh (or those named in BENCH=...) against a
# throwaway server; each prints its own figures and ratios.
set -u
. "$(dirname "$0")/common.sh"
reexec_readable "$0" "$@"
build_and_install || exit 2
rc=0
for b in ${BENCH:-$(ls "$ROOT"/bench/*.sh)}; do
	[ -f "$b" ] || b=$ROOT/bench/$b
	echo "== $(basename "$b")"
	bash "$b" || rc=1
done
exit $rc
