#!/usr/bin/env bash
# `make test-matrix`: the whole suite (regress, isolation, TAP) on every
# supported PostgreSQL major version, one summary line per version:
#
#   PostgreSQL 17.11: PASS (regress 3/3, isolation 1/1, TAP 30 tests in 1 file) in 41 s
#
# The host's version (15 on Debian 12) runs as `make test` in this tree.
# Every other version runs in a cached Debian root (chroot) made on first use
# by tools/matrix-root.sh: a copy of this working tree (build output left
# out) is put into the root and `make test` runs there, against that root's
# PostgreSQL, with /proc, /dev, /dev/pts and /dev/shm mounted, and the
# cgroup hierarchies (/sys/fs/cgroup, recursively, as a slave: nothing done
# inside propagates out) for the memory guard's test, which makes its
# cgroup under this process's own.  Mounts are always undone, also on
# failure or interrupt.  Needs root.
#
# Settings (environment):
#   PG_RUNBOOK_MATRIX_VERSIONS  versions to test (default "15 17 18")
#   REGRESS, ISOLATION, PROVE_TESTS   when set, the suites to run (as for
#                               `make test REGRESS=...`), e.g.
#     PG_RUNBOOK_MATRIX_VERSIONS=18 make test-matrix REGRESS=002_activity ISOLATION= PROVE_TESTS=
#   PG_RUNBOOK_MATRIX_CACHE     where roots live (default
#                               /var/cache/pg_runbook-matrix: outside the
#                               clone, so every clone reuses them; inside the
#                               clone, use the git-ignored .matrix-cache)
#
# Output: the summary lines; full logs in build/matrix/pgNN.log; a Markdown
# table of the run in build/matrix-summary.md (for the README).  Exit status
# non-zero if any version failed.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
VERSIONS=${PG_RUNBOOK_MATRIX_VERSIONS:-15 17 18}
CACHE=$(realpath -m "${PG_RUNBOOK_MATRIX_CACHE:-/var/cache/pg_runbook-matrix}")
export PG_RUNBOOK_MATRIX_CACHE=$CACHE
OUT=$SRC/build/matrix
SUMMARY_MD=$SRC/build/matrix-summary.md
INNER=/var/tmp/pg_runbook	# the copy of the tree inside a root

die() { echo "test-matrix: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (chroot, mount); run it as root"

HOST_PG_CONFIG=${PG_CONFIG:-pg_config}
# The host's version: its pg_config's, or, where none is installed yet, the
# one `make test` installs (tools/deps.sh).
HOST_MAJOR=$("$HOST_PG_CONFIG" --version 2>/dev/null | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
[ -n "$HOST_MAJOR" ] || HOST_MAJOR=${PG_RUNBOOK_PGVERSION:-15}

# ---- roots: mounts and cleanup ----------------------------------------------
ACTIVE_ROOT=

mounts_under() {
	awk -v r="$1/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# Stop what a test left running inside the root (only processes whose root
# directory is this root: ours), then undo the mounts.
release_root() {
	local root=$1 p m n
	for n in 1 2 3 4 5; do
		local left=()
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && left+=("${p#/proc/}")
		done
		[ ${#left[@]} -eq 0 ] && break
		if [ $n -lt 5 ]; then kill -TERM "${left[@]}" 2>/dev/null; else kill -KILL "${left[@]}" 2>/dev/null; fi
		sleep 1
	done
	for m in $(mounts_under "$root"); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	[ -n "$ACTIVE_ROOT" ] && release_root "$ACTIVE_ROOT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mount_root() {
	local root=$1 d
	mount -t proc proc "$root/proc" || return 1
	for d in /dev /dev/pts /dev/shm; do
		mkdir -p "$root$d"
		mount --bind "$d" "$root$d" && mount --make-private "$root$d" || return 1
	done
	# the cgroup hierarchies (sql_tests/t/310_memory_guard.pl), where the host has them
	if [ -d /sys/fs/cgroup ] && mountpoint -q /sys/fs/cgroup; then
		mkdir -p "$root/sys/fs/cgroup"
		mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup" &&
			mount --make-rslave "$root/sys/fs/cgroup" || return 1
	fi
}

# Copy of the working tree (tracked or not), without build output or git.
copy_tree() {
	local dest=$1
	rm -rf --one-file-system "$dest"
	mkdir -p "$dest"
	local ex=()
	# a cache inside the clone holds the roots themselves
	case $CACHE/ in "$SRC"/*) ex+=("--exclude=./${CACHE#"$SRC"/}") ;; esac
	tar -C "$SRC" --exclude=./build --exclude=./.git --exclude='*.o' \
		--exclude='*.so' --exclude='*.bc' --exclude=./results \
		--exclude=./tmp_check --exclude=./log ${ex[@]+"${ex[@]}"} \
		-cf - . | tar -C "$dest" -xf -
}

# a subset of the suites, if asked for
SUITE_ARGS=()
for var in REGRESS ISOLATION PROVE_TESTS; do
	[ -n "${!var+set}" ] && SUITE_ARGS+=("$var=${!var}")
done

# ---- one version ----------------------------------------------------------------
# Runs the suite of version $1, output into $2.  Returns make's status.
run_host() {
	(cd "$SRC" && make test ${SUITE_ARGS[@]+"${SUITE_ARGS[@]}"}) >"$2" 2>&1
}

run_root() {
	local v=$1 log=$2 root rc
	command -v debootstrap >/dev/null || {
		echo "== installing debootstrap on the host"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	} >>"$log" 2>&1
	"$SRC/tools/matrix-root.sh" "$v" "$CACHE/pg$v" >>"$log" 2>&1 || return 1
	root=$(realpath "$CACHE/pg$v")
	# the root stays locked while it is in use
	exec 8>"$root.lock"
	flock -w 1800 8 || { echo "root $root is in use" >>"$log"; return 1; }
	ACTIVE_ROOT=$root
	copy_tree "$root$INNER"
	# the host's dump, for sql_tests/t/011_restore_dump.pl
	local dumpenv=()
	if [ -f "$OUT/restore-dump.custom" ]; then
		mkdir -p "$root$INNER/build/restore"
		cp "$OUT"/restore-dump.* "$root$INNER/build/restore/"
		chmod -R a+rX "$root$INNER/build/restore"
		dumpenv=(PG_RUNBOOK_RESTORE_DUMP="$INNER/build/restore/restore-dump.custom")
	fi
	if mount_root "$root"; then
		chroot "$root" /usr/bin/env -i \
			PATH="/usr/lib/postgresql/$v/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
			HOME=/root LANG="${LANG:-C.UTF-8}" ${LC_ALL:+LC_ALL="$LC_ALL"} \
			PG_RUNBOOK_PGVERSION="$v" ${dumpenv[@]+"${dumpenv[@]}"} \
			PG_CONFIG="/usr/lib/postgresql/$v/bin/pg_config" \
			make -C "$INNER" test ${SUITE_ARGS[@]+"${SUITE_ARGS[@]}"} >>"$log" 2>&1
		rc=$?
	else
		echo "mounting /proc, /dev and /sys/fs/cgroup into $root failed" >>"$log"
		rc=1
	fi
	release_root "$root"
	ACTIVE_ROOT=
	exec 8>&-
	return $rc
}

# "3/3" from pg_regress's last line in a log section (15: "All 3 tests
# passed." / " 1 of 3 tests failed."; 16+: the same behind "# ").
regress_count() {
	local sect=$1 log=$2 line n f
	line=$(grep -E "^$sect: " "$log" | tail -1)
	if [[ $line =~ All\ ([0-9]+)\ tests\ passed ]]; then
		echo "${BASH_REMATCH[1]}/${BASH_REMATCH[1]}"
	elif [[ $line =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
		n=${BASH_REMATCH[2]}; f=${BASH_REMATCH[1]}
		echo "$((n - f))/$n"
	else
		echo "-"
	fi
}

# ---- main ----------------------------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT"
T_ALL=$SECONDS
failed=()
rows=()
for v in $VERSIONS; do
	log=$OUT/pg$v.log
	: >"$log"
	t=$SECONDS
	if [ "$v" = "$HOST_MAJOR" ]; then
		where=host
		run_host "$v" "$log"
		rc=$?
		# a dump of this version for the other versions to restore
		# (sql_tests/t/011_restore_dump.pl)
		"$SRC/tools/dump-for-restore.sh" "$OUT" >>"$log" 2>&1 ||
			echo "== the dump for the restore test failed" >>"$log"
		(exit $rc)
	else
		where="Debian root $CACHE/pg$v"
		run_root "$v" "$log"
	fi
	rc=$?
	secs=$((SECONDS - t))
	ver=$(sed -nE 's/^== build \(PostgreSQL ([0-9.]+).*/\1/p' "$log" | tail -1)
	pkg=$(sed -nE 's/^== build \(PostgreSQL [0-9.]+ \((.*)\)\)$/\1/p' "$log" | tail -1)
	[ -n "$ver" ] || ver=$v
	reg=$(regress_count regress "$log")
	iso=$(regress_count isolation "$log")
	tap_files=$(sed -nE 's/^Files=([0-9]+), Tests=([0-9]+),.*/\1/p' "$log" | tail -1)
	tap_tests=$(sed -nE 's/^Files=([0-9]+), Tests=([0-9]+),.*/\2/p' "$log" | tail -1)
	if [ -n "$tap_files" ]; then
		tap="$tap_tests tests in $tap_files file$([ "$tap_files" = 1 ] || echo s)"
	else
		tap="-"
	fi
	if [ $rc -eq 0 ]; then res=PASS; else res=FAIL; failed+=("$v"); fi
	echo "PostgreSQL $ver: $res (regress $reg, isolation $iso, TAP $tap) in $secs s"
	if [ $rc -ne 0 ]; then
		echo "  ($where; log: $log; its last lines:)"
		tail -n 25 "$log" | sed 's/^/  | /'
	fi
	rows+=("| $v | $ver${pkg:+ ($pkg)} | $res | $reg | $iso | $tap | $secs s |")
done
total=$((SECONDS - T_ALL))

{
	echo "| PostgreSQL | tested with | result | regress | isolation | TAP | time |"
	echo "|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "\`make test-matrix\`, $(date -u '+%Y-%m-%d %H:%M UTC'), commit" \
		"$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' (with local changes)'):" \
		"$total s in all."
} >"$SUMMARY_MD"

echo "matrix: ${#failed[@]} of $(wc -w <<<"$VERSIONS") versions failed${failed[*]:+ (${failed[*]})}, $total s in all; table in ${SUMMARY_MD#$SRC/}"
[ ${#failed[@]} -eq 0 ]
