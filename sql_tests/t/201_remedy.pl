# Remediation against real sessions: idle, idle in transaction, active, a
# superuser session, sessions of exempt roles (0, 1 and 3 exempt roles), a
# walsender, the caller itself.  Checks exactly which sessions were ended
# and the reason for every skip; the re-check before the signal
# (state_changed); the audit surviving a rollback (ring, LOG line, table);
# privileges; cancel_long with escalation; and behaviour without preload.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('remedy');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_runbook'\nmax_connections = 40");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE app LOGIN;
	CREATE ROLE ex1 LOGIN;
	CREATE ROLE ex2 LOGIN;
	CREATE ROLE exgrp NOLOGIN;
	CREATE ROLE ex3 LOGIN IN ROLE exgrp;
	CREATE ROLE oncall LOGIN IN ROLE pg_signal_backend;
	CREATE ROLE nosignal LOGIN;
	CREATE ROLE selfish LOGIN;
	GRANT USAGE ON SCHEMA runbook TO selfish, nosignal;
	GRANT EXECUTE ON FUNCTION runbook.kill_idle(interval, boolean, text[], name, name, text, text, boolean, integer) TO selfish;
});
my $su = $node->safe_psql('postgres', 'SELECT current_user');

my (%pid, %sess);

sub open_session
{
	my ($name, $user, %opt) = @_;
	my $s = $node->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params => [ '-U', $user ],
		($opt{replication} ? (replication => $opt{replication}) : ()));
	$s->query_safe("SET application_name = '$name'");
	my $p = $s->query_safe('SELECT pg_backend_pid()');
	chomp $p;
	$pid{$name} = $p;
	$sess{$name} = $s;
	return $s;
}

sub alive
{
	my ($name) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid{$name}") eq '1';
}

sub wait_gone
{
	my ($name) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid{$name}");
}

# "name:outcome:reason" per row, sorted
sub outcomes
{
	my ($sql, $role, $pre, $post) = @_;
	my $q = "SELECT application_name || ':' || outcome || ':' || coalesce(reason, '') FROM ($sql) r";
	$q = "SET ROLE $role; $q" if $role;
	$q = "$pre; $q" if $pre;
	$q = "$q; $post" if $post;
	return join(' ', sort split /\n/, $node->safe_psql('postgres', $q));
}

sub set_exempt
{
	my ($v) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET pg_runbook.exempt_roles = '$v'; SELECT pg_reload_conf()");
	$node->poll_query_until('postgres', "SELECT current_setting('pg_runbook.exempt_roles') = '$v'")
	  or die "exempt_roles not reloaded";
}

open_session('tap_app1', 'app');
open_session('tap_app2', 'app');
open_session('tap_ex1', 'ex1');
open_session('tap_ex2', 'ex2');
open_session('tap_ex3', 'ex3');
open_session('tap_super', $su);
open_session('tap_wal', $su, replication => 'database');
my $iit = open_session('tap_iit', 'app');
$iit->query_safe('BEGIN');
$iit->query_safe('SELECT txid_current()');
my $act = open_session('tap_act', 'app');
$act->query_until(qr/started/, "\\echo started\nSELECT pg_sleep(600);\n");
$node->poll_query_until('postgres',
	"SELECT state = 'active' FROM pg_stat_activity WHERE pid = $pid{tap_act}");

is($node->safe_psql('postgres', "SELECT backend_type, state FROM pg_stat_activity WHERE pid = $pid{tap_wal}"),
	'walsender|idle', 'the replication connection is an idle walsender');

my $dry = "SELECT * FROM runbook.kill_idle('0', true, application_pattern => 'tap\\_%')";
my $common = 'tap_app1:dry_run: tap_app2:dry_run: %s tap_super:skipped:superuser tap_wal:skipped:not_client_backend';

# ---- exemptions: 0, 1 and 3 exempt roles (one through membership)
set_exempt('');
is(outcomes($dry),
	sprintf($common, 'tap_ex1:dry_run: tap_ex2:dry_run: tap_ex3:dry_run:'),
	'no exempt role: every client session of a plain role would be ended');
set_exempt('ex1');
is(outcomes($dry),
	sprintf($common, 'tap_ex1:skipped:exempt_role tap_ex2:dry_run: tap_ex3:dry_run:'),
	'one exempt role: exactly its session is spared');
set_exempt('ex1, ex2, exgrp');
is(outcomes($dry),
	sprintf($common, 'tap_ex1:skipped:exempt_role tap_ex2:skipped:exempt_role tap_ex3:skipped:exempt_role'),
	'three exempt roles (one by membership): all three spared, the others not');

# a misspelt exempt role is reported, not silently ignored
set_exempt('ex1, no_such_role');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM runbook.kill_idle('0', true)");
like($err, qr/WARNING:  pg_runbook.exempt_roles names role "no_such_role", which does not exist/,
	'unknown exempt role gets a warning');
set_exempt('ex1, ex2, exgrp');

# ---- the cap: beyond max_actions_per_cycle, cap_reached (oldest first)
is($node->safe_psql('postgres',
		"SET pg_runbook.max_actions_per_cycle = 1; SELECT string_agg(application_name || ':' || outcome || ':' || coalesce(reason, ''), ' ') "
		  . "FROM runbook.kill_idle('0', true, application_pattern => 'tap\\_app%')"),
	'tap_app1:dry_run: tap_app2:skipped:cap_reached', 'cap: the first target acts, the second is skipped');

# ---- privileges
($ret, $out, $err) = $node->psql('postgres', "SET ROLE nosignal; SELECT * FROM runbook.kill_idle('0', true)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42501: permission denied for function kill_idle/, 'a role without pg_signal_backend gets 42501');
my $sel = open_session('tap_selfish', 'selfish');
is(outcomes("SELECT * FROM runbook.kill_idle('0', true, application_pattern => 'tap\\_%')", 'selfish'),
	'tap_app1:skipped:permission_denied tap_app2:skipped:permission_denied '
	  . 'tap_ex1:skipped:exempt_role tap_ex2:skipped:exempt_role tap_ex3:skipped:exempt_role '
	  . 'tap_selfish:dry_run: tap_super:skipped:superuser tap_wal:skipped:not_client_backend',
	'without pg_signal_backend: only sessions of roles one has the privileges of (like pg_terminate_backend)');
is(outcomes("SELECT * FROM runbook.kill_idle('0', dry_run => false, allow_superuser => true, application_pattern => 'tap\\_super')", 'oncall'),
	'tap_super:skipped:permission_denied', 'pg_signal_backend cannot end a superuser session, even opting in');
is(outcomes("SELECT * FROM runbook.kill_idle('0', dry_run => false, application_pattern => 'tap\\_super')", 'oncall'),
	'tap_super:skipped:superuser', 'superuser sessions are skipped without the opt-in');
ok(alive('tap_super'), 'the superuser session is still there');

# ---- re-check: a session that turns active between selection and signal
# (the test-only delay holds the call between the two; the session starts a
# statement once the call is seen waiting in that delay)
my $flip = open_session('tap_flip', 'app');
my $caller = $node->background_psql('postgres', on_error_stop => 0);
my $cpid = $caller->query_safe('SELECT pg_backend_pid()');
chomp $cpid;
$caller->query_safe("SET pg_runbook.test_delay_before_signal = '10s'");
$caller->query_until(qr/calling/, "\\echo calling\n"
	  . "SELECT 'flip=' || application_name || ':' || outcome || ':' || coalesce(reason, '') "
	  . "FROM runbook.kill_idle('0', dry_run => false, application_pattern => 'tap\\_flip');\n");
ok($node->poll_query_until('postgres',
		"SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE pid = $cpid"),
	'the call chose its target and waits before the re-check');
$flip->query_until(qr/armed/, "\\echo armed\nSELECT pg_sleep(30);\n");
ok($node->poll_query_until('postgres',
		"SELECT state = 'active' FROM pg_stat_activity WHERE pid = $pid{tap_flip}"),
	'the chosen session turned active while the call waited');
like($caller->query_until(qr/flip=[^\n]*\n/, ''), qr/^flip=tap_flip:skipped:state_changed$/m,
	'a session that became active before the signal is skipped as state_changed');
$caller->quit;
ok(alive('tap_flip'), 'and it is still there');
like($node->safe_psql('postgres', "SELECT detail FROM runbook.recent_actions() WHERE pid = $pid{tap_flip}"),
	qr/state is now active/, 'the skip is audited with the new state');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid{tap_flip})");

# ---- the real run, inside a transaction that rolls back
my $log_offset = -s $node->logfile;
my $seq0 = $node->safe_psql('postgres', 'SELECT coalesce(max(seq), 0) FROM runbook.recent_actions()');
my $expected_run = 'tap_app1:terminated: tap_app2:terminated: '
  . 'tap_ex1:skipped:exempt_role tap_ex2:skipped:exempt_role tap_ex3:skipped:exempt_role '
  . 'tap_flip:terminated: tap_iit:terminated: tap_selfish:terminated: '
  . 'tap_super:skipped:superuser tap_wal:skipped:not_client_backend';
is(outcomes("SELECT * FROM runbook.kill_idle('0', dry_run => false, states => '{idle,idle in transaction}', application_pattern => 'tap\\_%')",
		undef, 'BEGIN', 'ROLLBACK'),
	$expected_run,
	'kill_idle: exactly the idle and idle-in-transaction sessions of non-exempt plain roles are ended');
ok(wait_gone($_), "$_ is gone") for qw(tap_app1 tap_app2 tap_iit tap_selfish tap_flip);
ok(alive($_), "$_ is still there") for qw(tap_ex1 tap_ex2 tap_ex3 tap_super tap_wal tap_act);

# the audit survived the rollback: ring, LOG lines, and (written by the
# audit writer in its own transaction) the table
my $audit_sql = "SELECT string_agg(application_name || ':' || outcome || ':' || coalesce(reason, ''), ' ' ORDER BY application_name) "
  . "FROM %s WHERE actor = 'kill_idle' AND %s > $seq0";
is($node->safe_psql('postgres', sprintf($audit_sql, 'runbook.recent_actions()', 'seq')),
	$expected_run, 'recent_actions() keeps every action and skip after the rollback');
is($node->safe_psql('postgres',
		"SELECT state || '|' || acting_role || '|' || (state_age > '0') || '|' || (xact_age IS NOT NULL) FROM runbook.recent_actions() "
		  . "WHERE pid = $pid{tap_iit}"),
	"idle in transaction|$su|true|true", 'the audit has the state, acting role and ages');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 10 FROM runbook.actions WHERE actor = 'kill_idle' AND ring_seq > $seq0"),
	'the audit writer copied the rows into runbook.actions');
is($node->safe_psql('postgres', sprintf($audit_sql, 'runbook.actions', 'ring_seq')),
	$expected_run, 'runbook.actions has the same rows, although the caller rolled back');
ok($node->poll_query_until('postgres', "SELECT bool_and(in_table) FROM runbook.recent_actions()"),
	'every ring entry is marked as copied');
my $log = slurp_file($node->logfile, $log_offset);
like($log, qr/LOG:  pg_runbook audit: seq=\d+ actor="kill_idle" acting_role="$su" session_role="$su" action=terminate outcome=terminated reason= pid=$pid{tap_iit} usename="app" datname="postgres" application_name="tap_iit" client_addr=local state=idle in transaction state_age=[\d.]+s xact_age=[\d.]+s/,
	'one structured LOG line per action');
like($log, qr/actor="kill_idle" .* outcome=skipped reason=exempt_role pid=$pid{tap_ex3} .*detail="member of exempt role exgrp"/,
	'skips are logged with the reason');
is(scalar(() = $log =~ /pg_runbook audit: .*actor="kill_idle"/g), 10, 'ten LOG lines for ten decisions');

# ---- superuser session: only a superuser that opts in
is(outcomes("SELECT * FROM runbook.kill_idle('0', dry_run => false, allow_superuser => true, application_pattern => 'tap\\_super')"),
	'tap_super:terminated:', 'a superuser that opts in ends a superuser session');
ok(wait_gone('tap_super'), 'the superuser session is gone');

# ---- cancel_long: cancel, the caller itself, escalation
is($node->safe_psql('postgres', "SELECT outcome || ':' || reason FROM runbook.cancel_long('0', true) WHERE pid = pg_backend_pid()"),
	'skipped:own_backend', 'the caller is considered and skipped as own_backend');
is(outcomes("SELECT * FROM runbook.cancel_long('1s', dry_run => false, application_pattern => 'tap\\_act')"),
	'tap_act:cancelled:', 'cancel_long cancels the long statement');
ok($node->poll_query_until('postgres', "SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $pid{tap_act}"),
	'the session survives the cancel and is idle');

my $stub = open_session('tap_stub', 'app');
$stub->query_until(qr/stubborn/, "\\echo stubborn\n"
	  . "DO \$\$ BEGIN LOOP BEGIN PERFORM pg_sleep(600); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END \$\$;\n");
$node->poll_query_until('postgres',
	"SELECT now() - query_start > '1s' FROM pg_stat_activity WHERE pid = $pid{tap_stub} AND state = 'active'");
is($node->safe_psql('postgres',
		"SELECT action || ':' || outcome || ':' || detail FROM runbook.cancel_long('1s', dry_run => false, terminate_after => '1s', application_pattern => 'tap\\_stub')"),
	'terminate:terminated:statement still running 00:00:01 after cancel',
	'a statement that ignores the cancel is terminated after the grace period');
ok(wait_gone('tap_stub'), 'the stubborn session is gone');
is($node->safe_psql('postgres',
		"SELECT string_agg(action || ':' || outcome, ' ' ORDER BY seq) FROM runbook.recent_actions() WHERE pid = $pid{tap_stub}"),
	'cancel:cancelled terminate:terminated', 'both steps are audited');

# ---- no background process is ever touched
is($node->safe_psql('postgres',
		"SELECT count(*) FROM runbook.cancel_long('0', true) WHERE backend_type <> 'client backend' "
		  . "AND (outcome <> 'skipped' OR reason NOT IN ('not_client_backend', 'worker'))"),
	'0', 'background processes are skipped');
ok(alive('tap_wal'), 'the walsender is untouched');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_runbook worker' AND state = 'idle'"),
	'the pg_runbook worker is running and idle');
is($node->safe_psql('postgres',
		"SELECT outcome || ':' || reason FROM runbook.kill_idle('0', dry_run => false, application_pattern => '%') WHERE backend_type = 'pg_runbook worker'"),
	'skipped:worker', 'kill_idle never ends the pg_runbook worker (a real run)');

for my $s (values %sess)
{
	eval { $s->quit; };
}
$node->stop;

# ---- without preload: dry runs work, real runs and the ring say how to enable them
my $plain = PostgreSQL::Test::Cluster->new('remedy_no_preload');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION pg_runbook; CREATE ROLE app LOGIN');
my $idle = $plain->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'app' ]);
my $idle_pid = $idle->query_safe('SELECT pg_backend_pid()');
chomp $idle_pid;
is($plain->safe_psql('postgres', "SELECT outcome FROM runbook.kill_idle('0', true) WHERE pid = $idle_pid"),
	'dry_run', 'dry run works without preload (and finds the idle session)');
($ret, $out, $err) = $plain->psql('postgres', "SELECT * FROM runbook.kill_idle('0', dry_run => false)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: runbook.kill_idle\(\) needs pg_runbook in shared_preload_libraries/,
	'a real run needs preload');
($ret, $out, $err) = $plain->psql('postgres', "SELECT * FROM runbook.recent_actions()");
like($err, qr/HINT:  Add pg_runbook to shared_preload_libraries/, 'recent_actions() needs preload, with a hint');
$idle->quit;
$plain->stop;

done_testing();
