#!/usr/bin/env bash
# Root-only fixtures of the memory and disk guard tests and bench
# (sql_tests/t/310_memory_guard.pl, 311_disk_guard.pl, bench/88_guards.sh):
#
#   tools/guard-fixtures.sh setup DIR [USER]   prints NAME=value lines (no
#       quoting: each line is one argument of env(1)):
#       PG_RUNBOOK_TEST_CGROUP=<a memory cgroup directory>   (or a reason in
#       PG_RUNBOOK_TEST_CGROUP_SKIP) and PG_RUNBOOK_TEST_TMPFS=<a tmpfs mount
#       point> (or PG_RUNBOOK_TEST_TMPFS_SKIP)
#   tools/guard-fixtures.sh teardown DIR       undoes what setup made
#
# The cgroup: a cgroup v1 memory cgroup made UNDER this process's own
# (the path of /proc/self/cgroup below the memory controller's mount, never
# at the hierarchy's root), limited to PG_RUNBOOK_TEST_CGROUP_LIMIT bytes
# (default 1 GiB; memory.memsw too when the kernel has it, so swap cannot
# stretch it), with cgroup.procs, tasks and the limits handed to USER
# (default postgres): a process of USER may move itself in (a wrapper
# writes its pid to cgroup.procs, then execs the server) and change the
# limit.  cgroup v2 is not set up here: a child with the memory controller
# needs it in the parent's cgroup.subtree_control, which the kernel refuses
# while the parent holds processes (ours does); the tests then say why
# they skip.  The tmpfs: PG_RUNBOOK_TEST_TMPFS_SIZE (default 128m), owned
# by USER, mode 0700, at DIR/tmpfs.
#
# What was made is written to DIR/fixtures.made; teardown ends the
# processes left in the cgroup (only ours can be there: the cgroup is
# ours), removes it and unmounts the tmpfs.  Idempotent.
set -u
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 setup|teardown DIR [USER]" >&2; exit 2; }
user=${3:-postgres}
made=$dir/fixtures.made

setup() {
	mkdir -p "$dir"
	: >"$made"
	if [ "$(id -u)" != 0 ]; then
		echo "PG_RUNBOOK_TEST_CGROUP_SKIP=not root: no cgroup made"
		echo "PG_RUNBOOK_TEST_TMPFS_SKIP=not root: no tmpfs mounted"
		return 0
	fi
	setup_cgroup
	setup_tmpfs
}

# the cgroup v1 memory hierarchy's mount point and mount root
v1_mount() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break;
	       if ($(i+1) == "cgroup" && ("," $(i+3) ",") ~ /,memory,/) { print $5, $4; exit } }' /proc/self/mountinfo
}

setup_cgroup() {
	local own mp mroot rel cg limit
	own=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3; exit }' /proc/self/cgroup)
	read -r mp mroot < <(v1_mount)
	if [ -z "$own" ] || [ -z "${mp:-}" ]; then
		echo "PG_RUNBOOK_TEST_CGROUP_SKIP=no cgroup v1 memory controller here (cgroup v2 needs a delegated parent; see tools/guard-fixtures.sh)"
		return 0
	fi
	rel=$own
	if [ "$mroot" != / ]; then
		case $own in "$mroot"*) rel=${own#"$mroot"} ;; *) rel= ;; esac
	fi
	[ "$rel" = / ] && rel=
	if [ -z "$rel" ]; then
		echo "PG_RUNBOOK_TEST_CGROUP_SKIP=this process is in the root of the memory hierarchy: no test cgroup is made at the root"
		return 0
	fi
	cg=$mp$rel/pg_runbook_test_$$_$RANDOM
	if ! mkdir "$cg" 2>/dev/null; then
		echo "PG_RUNBOOK_TEST_CGROUP_SKIP=could not create a cgroup under $mp$rel"
		return 0
	fi
	echo "cgroup $cg" >>"$made"
	limit=${PG_RUNBOOK_TEST_CGROUP_LIMIT:-1073741824}
	echo "$limit" >"$cg/memory.limit_in_bytes"
	[ -e "$cg/memory.memsw.limit_in_bytes" ] && echo "$limit" >"$cg/memory.memsw.limit_in_bytes"
	chown "$user" "$cg" "$cg/cgroup.procs" "$cg/tasks" "$cg/memory.limit_in_bytes"
	[ -e "$cg/memory.memsw.limit_in_bytes" ] && chown "$user" "$cg/memory.memsw.limit_in_bytes"
	echo "PG_RUNBOOK_TEST_CGROUP=$cg"
}

setup_tmpfs() {
	local t=$dir/tmpfs
	mkdir -p "$t"
	if ! mount -t tmpfs -o "size=${PG_RUNBOOK_TEST_TMPFS_SIZE:-128m},mode=0700,uid=$(id -u "$user"),gid=$(id -g "$user")" \
		pg_runbook_test "$t" 2>/dev/null; then
		echo "PG_RUNBOOK_TEST_TMPFS_SKIP=mount -t tmpfs failed"
		return 0
	fi
	echo "tmpfs $t" >>"$made"
	echo "PG_RUNBOOK_TEST_TMPFS=$t"
}

teardown() {
	[ -f "$made" ] || return 0
	local kind path pid n
	while read -r kind path; do
		case $kind in
		cgroup)
			[ -d "$path" ] || continue
			for n in 1 2 3 4 5 6 7 8 9 10; do
				[ -s "$path/cgroup.procs" ] || break
				for pid in $(cat "$path/cgroup.procs"); do
					kill -KILL "$pid" 2>/dev/null
				done
				sleep 0.5
			done
			rmdir "$path" 2>/dev/null || echo "guard-fixtures: could not remove $path" >&2
			;;
		tmpfs)
			mountpoint -q "$path" && { umount "$path" 2>/dev/null || umount -l "$path"; }
			rmdir "$path" 2>/dev/null
			;;
		esac
	done <"$made"
	rm -f "$made"
}

case $cmd in
setup) setup ;;
teardown) teardown ;;
*) echo "usage: $0 setup|teardown DIR [USER]" >&2; exit 2 ;;
esac
