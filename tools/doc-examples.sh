#!/usr/bin/env bash
# Tested documentation examples (docs/examples.md describes the format).
#   tools/doc-examples.sh [--update] [PAGE...]
# Builds and installs pg_runbook privately (as tools/run-tests.sh does), then
# for each page starts a fresh private server (pg_runbook and
# pg_stat_statements preloaded, the worker on database "docs"), creates
# database docs with the extensions pg_runbook and dblink, runs the page's
# blocks in one psql session and compares each example's output with the
# page: prints "ok PAGE N examples" or a unified diff per differing example,
# and exits non-zero if any page differs.  --update writes the real outputs
# into the pages instead (`make docs`).
# PAGE: a path relative to the current directory, so another worktree's
# pages can be checked with this tree's build:
#   cd /work/wt/other && /path/to/pg_runbook/tools/doc-examples.sh docs/ops.md
# Without PAGE: every docs/*.md with examples of the git worktree of the
# current directory (this tree's when the current directory is elsewhere),
# then the list of public objects that no page documents yet.
set -u
UPDATE=
if [ "${1:-}" = --update ]; then UPDATE=--update; shift; fi

# Pages as absolute paths, resolved before anything changes directory (and
# before a re-run from a readable copy: the pages stay where they are).
if [ -z "${DOC_EXAMPLES_PAGES+x}" ]; then
	pages=()
	if [ $# -gt 0 ]; then
		for p in "$@"; do
			[ -f "$p" ] || { echo "no such page: $p" >&2; exit 2; }
			pages+=("$(cd "$(dirname "$p")" && pwd)/$(basename "$p")")
		done
		export DOC_EXAMPLES_ALL=
	else
		top=$(git rev-parse --show-toplevel 2>/dev/null)
		[ -n "$top" ] && [ -d "$top/docs" ] || top=$(cd "$(dirname "$0")/.." && pwd)
		for p in "$top"/docs/*.md; do
			grep -qE '^ {0,3}```+ *sql|<!-- *doc-setup' "$p" && pages+=("$p")
		done
		export DOC_EXAMPLES_ALL=$top/docs
	fi
	DOC_EXAMPLES_PAGES=$(printf '%s\n' "${pages[@]}")
	export DOC_EXAMPLES_PAGES DOC_EXAMPLES_CWD=$PWD
fi

. "$(dirname "$0")/common.sh"
reexec_readable "$0" ${UPDATE:+"$UPDATE"}
mapfile -t pages <<<"$DOC_EXAMPLES_PAGES"

# the test build (as make test): one set of objects for both, but a private
# installation of its own, so that a run of make test (or of this script
# from another worktree) never finds its library replaced under it
MAKE_ARGS+=(RB_TEST_HOOKS=1)
BUILD=$BUILD/doc-examples
TI=$BUILD/tmp_install
TIBIN=$TI$PGBIN
mkdir -p "$BUILD"
# Runs of this script from several worktrees share this tree's build: the
# build (which replaces the installed library) takes the lock exclusively,
# the servers run under a shared lock.
exec 9>"$BUILD/.doc-examples.lock"
flock 9
build_and_install >/dev/null || { echo "build failed"; exit 2; }
flock -s 9

DIR=$BUILD/docs-run/$$
trap 'server_stop; rm -rf "$DIR"' EXIT
rc=0
[ ${#pages[@]} -gt 0 ] && [ -n "${pages[0]}" ] || { echo "no pages with examples"; exit 0; }
last=${pages[${#pages[@]}-1]}
for page in "${pages[@]}"; do
	mapfile -t conf < <(grep -v '^#' "$ROOT/tools/doc-examples.conf" | grep .)
	server_start "$DIR" "${conf[@]}" || { echo "server start failed"; exit 2; }
	rb_psql -q -c "CREATE DATABASE docs" \
		-c "\\c docs" -c "CREATE EXTENSION pg_runbook" -c "CREATE EXTENSION dblink" >/dev/null || { rc=2; break; }
	PGDATABASE=docs "$ROOT/tools/doc-examples.pl" $UPDATE --psql "$TIBIN/psql" "$page" || rc=1
	if [ "$page" = "$last" ] && [ -n "$DOC_EXAMPLES_ALL" ]; then
		echo
		PGDATABASE=docs "$ROOT/tools/doc-examples.pl" --objects --psql "$TIBIN/psql" "$DOC_EXAMPLES_ALL"/*.md
	fi
	server_stop
done
exit $rc
