#!/usr/bin/env bash
# Assembles the extension scripts of the current version from sql/ (called
# by the Makefile; ARCHITECTURE.md, "The SQL layer"):
#
#   tools/sql-build.sh install FROM_DIR...      > pg_runbook--X.sql
#   tools/sql-build.sh update  FROM TO          > pg_runbook--FROM--TO.sql
#
# install: sql/install/*.sql (schema, types, tables: made once), then every
#   object of sql/objects/ (functions, views, triggers: their current
#   definition) with "CREATE OR REPLACE" turned into "CREATE" (a fresh
#   install must never take over an object it did not make), then
#   sql/seed/*.sql (rows that need the functions).
# update: sql/updates/pre-update.sql, sql/updates/FROM--TO.sql (what the
#   version changes in tables and types, and the objects it drops or whose
#   signature or result changes; a line "-- @include sql/install/X.sql"
#   there stands for that file, for what the version adds whole), every object of sql/objects/ as written
#   (CREATE OR REPLACE), sql/updates/FROM--TO.post.sql when it exists (rows
#   that need the new functions), sql/updates/post-update.sql.
# Every piece is preceded by a comment line naming its source file.
# Objects are read in name order (directories and files are numbered where
# one needs another).
set -euo pipefail
cd "$(dirname "$0")/.."
piece() {
	printf -- '-- ==== %s\n' "$1"
	if [ "${2:-}" = strip ]; then
		sed -E 's/^CREATE OR REPLACE (FUNCTION|VIEW|TRIGGER) /CREATE \1 /' "$1"
	else
		cat "$1"
	fi
	printf '\n'
}
objects() { find sql/objects -name '*.sql' | LC_ALL=C sort; }
# A source file is about one thing (one object or a small family): at most
# 300 lines (ARCHITECTURE.md).  The released scripts are artifacts, not sources.
long=$(find sql/install sql/objects sql/seed sql/updates -name '*.sql' -exec awk 'END { if (NR > 300) print FILENAME ": " NR " lines" }' {} \;)
if [ -n "$long" ]; then
	printf 'sql-build: a source file over 300 lines (split it by concern):\n%s\n' "$long" >&2
	exit 1
fi
case ${1:-} in
install)
	echo '\echo Use "CREATE EXTENSION pg_runbook" to load this file. \quit'
	echo '-- pg_runbook install script, assembled by tools/sql-build.sh from sql/install,'
	echo '-- sql/objects and sql/seed.  Edit those, never this file.'
	for f in $(LC_ALL=C ls sql/install/*.sql); do piece "$f"; done
	for f in $(objects); do piece "$f" strip; done
	for f in $(LC_ALL=C ls sql/seed/*.sql); do piece "$f"; done
	;;
update)
	from=$2 to=$3
	[ -f "sql/updates/$from--$to.sql" ] || { echo "sql-build: no sql/updates/$from--$to.sql" >&2; exit 1; }
	echo "\\echo Use \"ALTER EXTENSION pg_runbook UPDATE TO '$to'\" to load this file. \\quit"
	echo "-- pg_runbook $from -> $to, assembled by tools/sql-build.sh from sql/updates"
	echo '-- and sql/objects.  Edit those, never this file.'
	piece sql/updates/pre-update.sql
	# "-- @include sql/install/NAME.sql" in an update: that install file,
	# so that what a version adds (a new type, a new table) is written once
	printf -- '-- ==== %s\n' "sql/updates/$from--$to.sql"
	while IFS= read -r line || [ -n "$line" ]; do
		if [[ $line =~ ^--\ @include\ (sql/install/[A-Za-z0-9_.-]+\.sql)$ ]]; then
			inc=${BASH_REMATCH[1]}
			[ -f "$inc" ] || { echo "sql-build: $from--$to.sql includes a missing $inc" >&2; exit 1; }
			printf -- '-- ==== %s (included)\n' "$inc"
			cat "$inc"
		else
			printf '%s\n' "$line"
		fi
	done < "sql/updates/$from--$to.sql"
	printf '\n'
	for f in $(objects); do piece "$f"; done
	[ -f "sql/updates/$from--$to.post.sql" ] && piece "sql/updates/$from--$to.post.sql"
	piece sql/updates/post-update.sql
	;;
*)
	echo "usage: $0 install | update FROM TO" >&2; exit 2 ;;
esac
