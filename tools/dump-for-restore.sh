#!/usr/bin/env bash
# Makes the dump that sql_tests/t/011_restore_dump.pl restores into the other
# versions of the matrix: a database of this host's PostgreSQL with
# pg_runbook, user policies and a changed alert threshold, dumped with
# pg_dump -Fc.  Writes DIR/restore-dump.custom and DIR/restore-dump.expected
# (the user rows as the test's query prints them).  Used by
# tools/test-matrix.sh after the host's run.
#
#   tools/dump-for-restore.sh DIR
set -uo pipefail
. "$(dirname "$0")/common.sh"
DIR=${1:?usage: $0 DIR}
mkdir -p "$DIR"
build_and_install >/dev/null || { echo "build failed"; exit 1; }
trap server_stop EXIT
server_start "$BUILD/dump-server" "pg_runbook.enforce = off" || exit 1
rb_psql -q -c "CREATE DATABASE userdb" || exit 1
PGDATABASE=userdb rb_psql -q <<'SQL' || exit 1
CREATE EXTENSION pg_runbook;
INSERT INTO runbook.policies (name, priority, states, min_state_age, min_query_age, action, role_name, enabled)
VALUES ('dump_idle_app', 10, '{idle}', '42 min', NULL, 'terminate', 'postgres', false),
       ('dump_long_report', 20, '{active}', NULL, '17 min', 'cancel', NULL, false);
UPDATE runbook.alert_thresholds SET value = 77 WHERE name = 'connections_sev2_pct';
UPDATE runbook.alert_thresholds SET value = 1234 WHERE name = 'lock_wait_seconds';
SQL
PGDATABASE=userdb rb_psql -At -f "$ROOT/sql_tests/t/restore_rows.sql" > "$DIR/restore-dump.expected" || exit 1
as_user "$TIBIN/pg_dump" -Fc -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d userdb > "$DIR/restore-dump.custom" || exit 1
chmod a+r "$DIR"/restore-dump.*
echo "dump of PostgreSQL $($TIBIN/postgres --version | awk '{print $3}') with pg_runbook $(PGDATABASE=userdb rb_psql -Atc "SELECT extversion FROM pg_extension WHERE extname = 'pg_runbook'") in $DIR/restore-dump.custom"
