#!/usr/bin/env bash
# `make demo`: build, install privately, start a throwaway server with
# pg_runbook preloaded, create some real trouble, and show what pg_runbook
# says about it.  The server and its sessions are removed at the end.
set -u
. "$(dirname "$0")/common.sh"
reexec_readable "$0" "$@"
build_and_install >/dev/null || { echo "build failed"; exit 2; }
DIR=$BUILD/demo
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	server_stop
}
trap cleanup EXIT
server_start "$DIR" "max_connections = 50" "pg_runbook.database = 'postgres'" \
	"pg_runbook.naptime = '2s'" || exit 1
echo "== throwaway server on port $PGPORT (socket $PGHOST), pg_runbook preloaded"
rb_psql -qc 'CREATE EXTENSION pg_runbook' -c 'CREATE TABLE orders(id int PRIMARY KEY, note text)' \
	-c 'INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 1000) g' \
	-c 'CREATE ROLE app LOGIN' -c 'GRANT ALL ON orders TO app'

# Some real activity, each kind from its own application.
bg_session() {	# bg_session APP SQL: a session of role app that runs SQL, then stays open
	( (echo "SET application_name = '$1';"; echo "$2"; exec sleep 600) |
		rb_psql -q -U app ) >/dev/null 2>&1 &
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
show "Who blocks whom: one row per waiting session, with its root blocker" \
	"SELECT pid, application_name, locktype, mode, blocked_by, root_blocker, depth, wait_age FROM runbook.blocking_locks();"
show "The same as a tree" \
	"SELECT * FROM runbook.lock_tree();"
show "Triage: findings ranked SEV1-SEV4, each with the SQL to run next" \
	"SELECT severity, check_name, finding, remedy_sql FROM runbook.triage();"
show "Remedy, dry run first: what kill_idle would do to sessions idle for 2 s (and why it skips some)" \
	"SELECT pid, application_name, state, state_age, action, outcome, reason FROM runbook.kill_idle('2 s', dry_run => true);"
show "Terminate the root blocker of the lock queue (dry run by default)" \
	"SELECT pid, application_name, state, action, outcome, detail FROM runbook.terminate_blockers('1 s');"
show "A worker policy: end idle-in-transaction sessions that block others; preview what it would do" \
	"INSERT INTO runbook.policies (name, states, min_state_age, only_if_blocking, action, dry_run)
	 VALUES ('iit_blockers', '{idle in transaction}', '1 s', true, 'terminate', true);
	 SELECT pid, application_name, state, policy, action, outcome, detail FROM runbook.policy_preview();"
show "Now for real: terminate the root blocker; the queue drains" \
	"SELECT pid, application_name, action, outcome FROM runbook.terminate_blockers('1 s', dry_run => false);"
sleep 1
show "Nobody waits any more" \
	"SELECT count(*) AS waiting FROM runbook.blocking_locks();"
show "Every real action is audited (shared-memory ring; also runbook.actions and the log)" \
	"SELECT acted_at::time(0), actor, acting_role, pid, application_name, state, action, outcome FROM runbook.recent_actions();"
show "The worker" \
	"SELECT running, paused, enforce, cycles, actions, policies, round(avg_cycle_ms::numeric, 3) AS avg_cycle_ms FROM runbook.worker_status();"
show "Bad input gets a clear error with a hint" \
	"SELECT * FROM runbook.idle_sessions('-5 min');"
echo
echo "== done: server stopped and removed"
