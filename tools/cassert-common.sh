# Shared by tools/test-cassert.sh, tools/test-valgrind.sh and tools/fuzz.sh
# (sourced, not run): they run on the assert-enabled PostgreSQL of
# tools/cassert-build.sh, from a copy of the tree.
#
# Why a copy: PGXS builds the objects in the source tree (src/*.o); those of
# `make test` are compiled against the host's server headers and flags and
# must not be linked into a module loaded by the cassert server (and the
# reverse).  Each script has its own copy, build/cassert/<script>
# (test-cassert, test-valgrind, fuzz), so that they can run at the same time;
# a lock lets only one run of a script use its copy.  A copy keeps its own
# objects between runs (incremental builds); its sources are refreshed from
# the tree at every run, and it is dropped when the cassert build changes.

# cassert_enter "$0" "$@": in the tree, build or find the cassert PostgreSQL,
# refresh the copy and re-run the calling script from the copy with
# PG_CONFIG pointing at the cassert build.  In the copy it returns.
cassert_enter() {
	[ -n "${PG_RUNBOOK_CASSERT_TREE:-}" ] && return 0
	local here script pgc copy stamp
	here=$(cd "$(dirname "$1")/.." && pwd)
	script=$(basename "$1"); shift
	pgc=$("$here/tools/cassert-build.sh") || { echo "cassert build failed"; exit 2; }
	copy=$here/build/cassert/${script%.sh}
	mkdir -p "$here/build/cassert"
	# held until the script ends (exec keeps the descriptor)
	exec 8>"$copy.lock"
	flock -n 8 || { echo "== waiting for another run of $script ($copy.lock)"; flock 8; }
	stamp="$pgc $(cat "$(dirname "$(dirname "$pgc")")/../.complete" 2>/dev/null)"
	if [ "$(cat "$copy.pg-stamp" 2>/dev/null)" != "$stamp" ]; then
		rm -rf "$copy"
	fi
	mkdir -p "$copy"
	echo "$stamp" >"$copy.pg-stamp"
	# sources: drop the old ones (not the objects, not build/), copy the
	# current ones with their times so that make rebuilds what changed
	find "$copy" -mindepth 1 -path "$copy/build" -prune -o -type f \
		! -name '*.o' ! -name '*.so' ! -name '*.bc' -print0 | xargs -0 rm -f
	(cd "$here" && tar --exclude=./build --exclude=./.git --exclude='*.o' \
		--exclude='*.so' --exclude='*.bc' -cf - .) | (cd "$copy" && tar -xf -)
	echo "== assert-enabled build: $("$pgc" --version) ($pgc); tree copied to $copy"
	exec env PG_CONFIG="$pgc" PG_RUNBOOK_CASSERT_TREE="$copy" "$copy/tools/$script" "$@"
}

# The source tree of the cassert build (valgrind.supp lives there).
cassert_srcdir() { echo "$(dirname "$(dirname "$($PG_CONFIG --bindir)")")/src"; }

# assert_enabled DIR: a throwaway server of the private installation must
# say debug_assertions = on, or the run stops here.
assert_enabled() {
	local out
	# (from /: psql run as the server user warns on stderr when the
	# caller's directory is one it cannot enter, say a clone under /root)
	out=$( (
		cd / || exit 1
		server_start "$1" >/dev/null || exit 1
		rb_psql -At -c "SELECT current_setting('debug_assertions') || ' ' || version()"
		server_stop
	) 2>&1 )
	case $out in
	"on "*) echo "== assert-enabled server: debug_assertions = on; ${out#on }" ;;
	*)
		echo "FATAL: the test server of $PG_CONFIG is not assert-enabled"
		echo "FATAL: SHOW debug_assertions gave: $out"
		exit 2 ;;
	esac
}
