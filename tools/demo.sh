#!/usr/bin/env bash
# `make demo`: build, install privately, start a throwaway server with
# pg_runbook preloaded, create some real trouble, and show what pg_runbook
# says about it.  The server and its sessions are removed at the end.
set -u
. "$(dirname "$0")/common.sh"
build_and_install >/dev/null || { echo "build failed"; exit 2; }
DIR=$BUILD/demo
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	server_stop
}
trap cleanup EXIT
server_start "$DIR" "max_connections = 50" || exit 1
echo "== throwaway server on port $PGPORT (socket $PGHOST), pg_runbook preloaded"
rb_psql -qc 'CREATE EXTENSION pg_runbook' -c 'CREATE TABLE orders(id int PRIMARY KEY, note text)' \
	-c 'INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 1000) g'

# Some real activity, each kind from its own application.
bg_session() {	# bg_session APP SQL: a session that runs SQL then stays open
	( (echo "SET application_name = '$1';"; echo "$2"; exec sleep 600) |
		rb_psql -q ) >/dev/null 2>&1 &
	PIDS+=($!)
}
for i in 1 2 3; do bg_session "web-$i" "SELECT count(*) FROM orders;"; done
bg_session "report-job" "BEGIN; UPDATE orders SET note = 'locked' WHERE id = 1;"
bg_session "batch-import" "SELECT pg_sleep(600);"
sleep 3
bg_session "api" "UPDATE orders SET note = 'waiting' WHERE id = 1;"
sleep 1

show() {	# show TITLE SQL
	echo
	echo "== $1"
	echo "   $2"
	rb_psql -P pager=off -P null='' -c "$2"
}
show "Connection saturation: client sessions against max_connections minus reserved slots" \
	"SELECT * FROM runbook.connections();"
show "Who holds the connections" \
	"SELECT datname, usename, application_name, state, connections, max_state_age FROM runbook.connection_sources;"
show "Idle and idle-in-transaction sessions (report-job holds a row lock and an xid)" \
	"SELECT pid, application_name, state, state_age, xact_age, xid_age, query FROM runbook.idle_sessions('1s');"
show "Statements running longer than 1 second (api waits on a lock: blocked_by names the pid)" \
	"SELECT pid, application_name, query_age, wait_event_type, wait_event, blocked_by, query FROM runbook.long_running('1s');"
show "Every backend, server processes included" \
	"SELECT pid, backend_type, application_name, state, backend_age, state_age FROM runbook.sessions ORDER BY backend_type, pid;"
show "Bad input gets a clear error with a hint" \
	"SELECT * FROM runbook.idle_sessions('-5 min');"
echo
echo "== done: server stopped and removed"
