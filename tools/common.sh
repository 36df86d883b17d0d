# Shared set-up for the test, demo and bench scripts (sourced, not run).
# Owns: where things live, the private installation, running as the
# unprivileged OS user when started as root.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$($PG_CONFIG --bindir)
PGSHARE=$($PG_CONFIG --sharedir)
PGPKGLIB=$($PG_CONFIG --pkglibdir)
PGXS_DIR=$(dirname "$($PG_CONFIG --pgxs)")/../..
PGXS_DIR=$(cd "$PGXS_DIR" && pwd)
PGMAJOR=$($PG_CONFIG --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
# PG_RUNBOOK_BUILD: another build directory (tools/test-valgrind.sh keeps its
# private installation, whose postgres is a valgrind wrapper, apart).
BUILD=${PG_RUNBOOK_BUILD:-$ROOT/build}
TI=$BUILD/tmp_install
TIBIN=$TI$PGBIN
MAKE_ARGS=(with_llvm=no PG_CONFIG="$PG_CONFIG")

# The OS user that runs servers: initdb refuses root.
if [ "$(id -u)" = 0 ]; then
	RUN_USER=${PG_RUNBOOK_TEST_USER:-postgres}
	as_user() { runuser -u "$RUN_USER" -- "$@"; }
else
	RUN_USER=$(id -un)
	as_user() { "$@"; }
fi

# The server user must be able to read the tree (test inputs, the private
# installation).  A clone under a private directory (say /root/...) is not
# readable by it: then the calling script re-runs itself from a readable
# copy of the tree under /var/tmp.  Usage: reexec_readable "$0" "$@"
reexec_readable() {
	local script=$1; shift
	[ "$(id -u)" = 0 ] || return 0
	runuser -u "$RUN_USER" -- test -r "$ROOT/Makefile" -a -x "$ROOT/sql_tests" 2>/dev/null && return 0
	local copy=/var/tmp/pg_runbook-tree-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)
	echo "== $ROOT is not readable by $RUN_USER: running from a copy in $copy"
	mkdir -p "$copy"
	(cd "$ROOT" && tar --exclude=./build --exclude='*.o' --exclude='*.so' -cf - .) | (cd "$copy" && tar -xf -)
	chmod -R a+rX "$copy"
	# run from the copy: the server user's programs (psql) would otherwise
	# warn that they cannot change into the unreadable working directory
	cd "$copy" || return 1
	exec "$copy/tools/$(basename "$script")" "$@"
}

# A directory the server user may write into.
user_dir() {
	rm -rf "$1"
	mkdir -p "$1"
	[ "$(id -u)" = 0 ] && chown -R "$RUN_USER" "$1"
	return 0
}

# Build, then install into a private copy of the PostgreSQL installation
# (like PostgreSQL's own `make check`): tests never depend on, or change,
# what is installed system-wide.  Binaries find their lib and share
# directories relative to their own location, so the copy is self-contained.
build_and_install() {
	echo "== build ($($PG_CONFIG --version))"
	make -s -C "$ROOT" "${MAKE_ARGS[@]}" all || return 1
	if [ ! -x "$TIBIN/postgres" ] || [ "$PGBIN/postgres" -nt "$TIBIN/postgres" ]; then
		rm -rf "$TI"
		local d
		for d in "$(dirname "$PGBIN")" "$PGSHARE" "$PGPKGLIB"; do
			mkdir -p "$TI$(dirname "$d")"
			[ -e "$TI$d" ] && continue
			cp -al "$d" "$TI$d" 2>/dev/null || cp -a "$d" "$TI$d"
		done
	fi
	# never use a system-wide copy of ourselves that a hard link brought in
	rm -f "$TI$PGPKGLIB"/pg_runbook.so "$TI$PGSHARE"/extension/pg_runbook*
	make -s -C "$ROOT" "${MAKE_ARGS[@]}" install DESTDIR="$TI" >/dev/null || return 1
	chmod -R a+rX "$TI"
	echo "== installed into $TI"
}

# A free TCP port on loopback.
free_port() {
	local p
	for p in $(shuf -i 20000-40000 -n 50); do
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
			echo "$p"; return 0
		fi
	done
	return 1
}

# ---- throwaway servers for demo and benchmarks ----
# server_start DIR [conf lines...]: initdb + start a private server (socket
# directory DIR/sock, free port, pg_runbook preloaded) from the private
# installation; exports PGHOST, PGPORT, PGDATABASE=postgres, PGUSER.  With
# SERVER_CGROUP set (a cgroup directory whose cgroup.procs the server user
# may write, tools/guard-fixtures.sh), the server starts inside that cgroup.
server_start() {
	local dir=$1; shift
	user_dir "$dir"
	mkdir -p "$dir/sock"; [ "$(id -u)" = 0 ] && chown "$RUN_USER" "$dir/sock"
	SERVER_DIR=$dir
	PGPORT=$(free_port); export PGPORT
	export PGHOST=$dir/sock PGDATABASE=postgres PGUSER=$RUN_USER
	as_user "$TIBIN/initdb" -D "$dir/data" -U "$RUN_USER" --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
	{
		echo "port = $PGPORT"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$dir/sock'"
		echo "shared_preload_libraries = 'pg_runbook'"
		echo "fsync = off"
		local l; for l in "$@"; do echo "$l"; done
	} >> "$dir/data/postgresql.conf"
	if [ -n "${SERVER_CGROUP:-}" ]; then
		# pg_ctl moves itself into the cgroup first: the server inherits it
		as_user sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$SERVER_CGROUP" \
			"$TIBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null || { tail -20 "$dir/server.log"; return 1; }
	else
		as_user "$TIBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null || { tail -20 "$dir/server.log"; return 1; }
	fi
}

server_stop() {
	[ -n "${SERVER_DIR:-}" ] || return 0
	as_user "$TIBIN/pg_ctl" -D "$SERVER_DIR/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$SERVER_DIR"
	SERVER_DIR=
}

# psql against the throwaway server, as the server user, quiet and strict
rb_psql() { as_user env PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE="$PGDATABASE" PGUSER="$PGUSER" "$TIBIN/psql" -X -v ON_ERROR_STOP=1 "$@"; }

# Ending what a script started in the background.  `as_user cmd &` forks a
# subshell that runs runuser that runs cmd: killing $! alone leaves cmd (and
# runuser) running.  Only the leaves get SIGTERM: a signalled runuser lingers
# 2 s after its child, one whose child exits leaves at once, and so does the
# subshell.  stop_tree PID waits (up to 5 s, then kills the rest);
# kill_children ends every child of the calling shell (for an EXIT trap).
kill_tree() { local c; for c in $(pgrep -P "$1"); do kill_tree "$c"; done; kill "$1" 2>/dev/null; }
descendants() { local c; for c in $(pgrep -P "$1"); do descendants "$c"; echo "$c"; done; }
stop_tree() {
	local d
	for d in $(descendants "$1"); do [ -n "$(pgrep -P "$d")" ] || kill "$d" 2>/dev/null; done
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill_tree "$1"
	wait "$1" 2>/dev/null
}
kill_children() { local c; for c in $(pgrep -P $$); do stop_tree "$c"; done; }
