# Per-session remedies and the per-call limit (issue 13 §2), and who did
# what (issue 11 §4):
# - runbook.terminate(pid, reason) / runbook.cancel(pid, reason): privileges
#   (pg_signal_backend member, a role granted the function but not
#   pg_signal_backend, a role without the grant), a superuser target, the
#   caller's own session, an ended pid, a pid that ends between the call's
#   read and its signal, a background process; the audit row with the
#   reason, current_user and session_user;
# - max_actions: 900 idle sessions ended in one call by an on-call role,
#   the limit only a superuser can raise;
# - pause_worker() / resume_worker() in the audit;
# - policies and alert thresholds record who changed them and when.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Time::HiRes qw(sleep);
use Test::More;

my $nsess = 900;
my $node = PostgreSQL::Test::Cluster->new('remedy_pid');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
max_connections = @{[ $nsess + 40 ]}
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE app LOGIN;
	CREATE ROLE leak LOGIN;
	CREATE ROLE oncall LOGIN IN ROLE pg_signal_backend;
	CREATE ROLE nosignal LOGIN;
	CREATE ROLE selfish LOGIN;
	CREATE ROLE dba LOGIN SUPERUSER;
	GRANT USAGE ON SCHEMA runbook TO selfish, nosignal;
	GRANT EXECUTE ON FUNCTION runbook.terminate(integer, text) TO selfish;
});
my $su = $node->safe_psql('postgres', 'SELECT current_user');

my (%pid, %sess);

sub open_session
{
	my ($name, $user) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', $user ]);
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

# "outcome:reason" of a per-pid call, as a role (or the superuser)
sub call
{
	my ($sql, $role) = @_;
	my $q = "SELECT outcome || ':' || coalesce(reason, '') FROM $sql";
	$q = "SET ROLE $role; $q" if $role;
	return $node->safe_psql('postgres', $q);
}

open_session('p_app1', 'app');
open_session('p_app2', 'app');
open_session('p_self1', 'selfish');
open_session('p_super', $su);
my $act = open_session('p_act', 'app');
$act->query_until(qr/started/, "\\echo started\nSELECT pg_sleep(600);\n");
$node->poll_query_until('postgres',
	"SELECT state = 'active' FROM pg_stat_activity WHERE pid = $pid{p_act}");

# ---- privileges
my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE nosignal; SELECT * FROM runbook.terminate($pid{p_app1})",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42501: permission denied for function terminate/, 'a role without the grant gets 42501');
is(call("runbook.terminate($pid{p_app1})", 'selfish'), 'skipped:permission_denied',
	'granted the function but not pg_signal_backend: another role\'s session is refused (like pg_terminate_backend)');
ok(alive('p_app1'), 'and it is still there');
is(call("runbook.terminate($pid{p_self1}, 'my own leak')", 'selfish'), 'terminated:',
	'a session of one\'s own role may be ended');
ok(wait_gone('p_self1'), 'it is gone');
is(call("runbook.terminate($pid{p_app1}, 'leaked by the batch job')", 'oncall'), 'terminated:',
	'a pg_signal_backend member ends the session by pid');
ok(wait_gone('p_app1'), 'p_app1 is gone');

# ---- the audit: reason, current_user and session_user, in ring and table
is($node->safe_psql('postgres',
		"SELECT actor || '|' || action || '|' || outcome || '|' || acting_role || '|' || session_role || '|' || usename || '|' || detail "
		  . "FROM runbook.recent_actions() WHERE pid = $pid{p_app1} AND outcome = 'terminated'"),
	"terminate|terminate|terminated|oncall|$su|app|reason: leaked by the batch job",
	'the audit entry has the reason, the acting role (current_user) and the session role (session_user)');
ok($node->poll_query_until('postgres',
		"SELECT acting_role = 'oncall' AND session_role = '$su' AND detail = 'reason: leaked by the batch job' "
		  . "FROM runbook.actions WHERE pid = $pid{p_app1} AND outcome = 'terminated'"),
	'runbook.actions has the same row');
my $log = slurp_file($node->logfile);
like($log, qr/pg_runbook audit: seq=\d+ actor="terminate" acting_role="oncall" session_role="$su" action=terminate outcome=terminated reason= pid=$pid{p_app1} .*detail="reason: leaked by the batch job"/,
	'the LOG line has both roles and the reason');

# ---- superuser target: naming the pid is the opt-in, for a superuser only
is(call("runbook.terminate($pid{p_super})", 'oncall'), 'skipped:permission_denied',
	'pg_signal_backend cannot end a superuser session');
ok(alive('p_super'), 'the superuser session is still there');
is(call("runbook.terminate($pid{p_super}, 'stuck migration')"), 'terminated:',
	'a superuser ends a superuser session it names');
ok(wait_gone('p_super'), 'it is gone');

# ---- own session, ended pid, no such pid, a background process
is(call('runbook.terminate(pg_backend_pid())', 'oncall'), 'skipped:own_backend', 'never the caller itself');
my $gone = open_session('p_gone', 'app');
$gone->quit;
ok(wait_gone('p_gone'), 'a session ended');
is(call("runbook.terminate($pid{p_gone})", 'oncall'), 'skipped:gone', 'an ended pid is skipped as gone');
is(call('runbook.cancel(2147483647)', 'oncall'), 'skipped:gone', 'a pid that never existed is skipped as gone');
my $ckpt = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'");
is(call("runbook.terminate($ckpt)"), 'skipped:not_client_backend', 'the checkpointer is never signalled, even by a superuser');
($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM runbook.terminate(NULL)',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  22004: pid must not be NULL/, 'a NULL pid is an error with its SQLSTATE');

# a pid read by the call that ends before the signal (the check that also
# catches a pid reused by a new session: same pid, other backend start)
my $race = open_session('p_race', 'app');
my $caller = $node->background_psql('postgres', on_error_stop => 0);
my $cpid = $caller->query_safe('SELECT pg_backend_pid()');
chomp $cpid;
$caller->query_safe("SET pg_runbook.test_delay_before_signal = '10s'");
$caller->query_until(qr/calling/, "\\echo calling\n"
	  . "SELECT 'race=' || outcome || ':' || coalesce(reason, '') FROM runbook.terminate($pid{p_race});\n");
ok($node->poll_query_until('postgres', "SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE pid = $cpid"),
	'the call read its target and waits before the re-check');
$race->quit;
ok(wait_gone('p_race'), 'the target ended meanwhile');
like($caller->query_until(qr/race=[^\n]*\n/, ''), qr/^race=skipped:gone$/m,
	'the re-check finds it gone: nothing is signalled');
$caller->quit;

# ---- cancel(pid)
is(call("runbook.cancel($pid{p_act}, 'runaway report')", 'oncall'), 'cancelled:', 'cancel() cancels the running statement');
ok($node->poll_query_until('postgres', "SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $pid{p_act}"),
	'the session survives the cancel and is idle');
is(call("runbook.cancel($pid{p_app2})", 'oncall'), 'skipped:not_active', 'an idle session has nothing to cancel');
is($node->safe_psql('postgres',
		"SELECT string_agg(actor || ':' || outcome || ':' || coalesce(reason, '') || ':' || coalesce(detail, ''), ' ' ORDER BY seq) "
		  . "FROM runbook.recent_actions() WHERE pid IN ($pid{p_act}, $pid{p_app2})"),
	'cancel:cancelled::reason: runaway report cancel:skipped:not_active:state is idle: no statement to cancel',
	'both cancels are audited');

# ---- pause / resume are audited actions
my $wpid = $node->safe_psql('postgres', 'SELECT pid FROM runbook.worker_status()');
$node->safe_psql('postgres', 'SET ROLE oncall; SELECT runbook.pause_worker(); SELECT runbook.pause_worker(); SELECT runbook.resume_worker()');
is($node->safe_psql('postgres',
		"SELECT string_agg(actor || ':' || action || ':' || outcome || ':' || coalesce(reason, '') || ':' || pid || ':' || acting_role, ' ' ORDER BY seq) "
		  . "FROM runbook.recent_actions() WHERE action IN ('pause', 'resume')"),
	"pause_worker:pause:paused::$wpid:oncall pause_worker:pause:skipped:already_paused:$wpid:oncall resume_worker:resume:resumed::$wpid:oncall",
	'pause_worker() and resume_worker() are in the audit, with who called them');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 3 FROM runbook.actions WHERE action IN ('pause', 'resume') AND session_role = '$su'"),
	'and in runbook.actions');

# ---- who changed a policy or a threshold, and when
is($node->safe_psql('postgres', "SELECT count(*) FROM runbook.alert_thresholds WHERE updated_by IS NOT NULL OR updated_at IS NOT NULL"),
	'0', 'shipped thresholds: nobody changed them');
$node->safe_psql('postgres', q{
	INSERT INTO runbook.policies (name, states, min_state_age, action) VALUES ('p1', '{idle}', '1 h', 'log');
	UPDATE runbook.alert_thresholds SET value = 85 WHERE name = 'connections_sev2_pct';
}, extra_params => [ '-U', 'dba' ]);
is($node->safe_psql('postgres',
		"SELECT updated_by || ':' || (updated_at > now() - interval '1 hour') FROM runbook.policies WHERE name = 'p1'"),
	'dba:true', 'a new policy records who wrote it and when');
is($node->safe_psql('postgres',
		"SELECT updated_by || ':' || (updated_at > now() - interval '1 hour') || ':' || user_set FROM runbook.alert_thresholds WHERE name = 'connections_sev2_pct'"),
	'dba:true:true', 'a changed threshold records who changed it and when');
$node->safe_psql('postgres', "SET ROLE dba; UPDATE runbook.policies SET min_state_age = '2 h' WHERE name = 'p1'");
is($node->safe_psql('postgres', "SELECT updated_by FROM runbook.policies WHERE name = 'p1'"),
	$su, 'SET ROLE does not hide who made the change (session_user)');
my $off = -s $node->logfile;
$node->safe_psql('postgres', "DELETE FROM runbook.policies WHERE name = 'p1'", extra_params => [ '-U', 'dba' ]);
like(slurp_file($node->logfile, $off), qr/LOG:  pg_runbook: row 'p1' deleted from runbook.policies by session_user dba/,
	'deleting a policy leaves a LOG line with who did it');

# ---- max_actions: 900 leaked idle sessions, ended by an on-call role in one call
my $dir = PostgreSQL::Test::Utils::tempdir;
open(my $fh, '>', "$dir/sleep.sql") or die;
print $fh "\\sleep 600 s\n";
close $fh;
my ($pout, $perr) = ('', '');
my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-U', 'leak', '-c', $nsess, '-j', '4', '-T', '600',
	  '-h', $node->host, '-p', $node->port, '-f', "$dir/sleep.sql", 'postgres' ],
	'>', \$pout, '2>', \$perr);
# opening 900 connections can take minutes on a loaded machine: wait for
# the condition longer than poll_query_until's default
my $opened = 0;
for (1 .. 1200)
{
	$opened = $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE usename = 'leak' AND state = 'idle'");
	last if $opened == $nsess;
	sleep 0.5;
}
is($opened, $nsess, "$nsess leaked idle sessions");
is($node->safe_psql('postgres',
		"SET ROLE oncall; SELECT string_agg(n || ' ' || outcome || ':' || coalesce(reason, ''), ', ' ORDER BY outcome) FROM "
		  . "(SELECT outcome, reason, count(*) AS n FROM runbook.kill_idle('0', true, role_name => 'leak') GROUP BY 1, 2) s"),
	'100 dry_run:, 800 skipped:cap_reached', 'by default a call acts on pg_runbook.max_actions_per_cycle (100) sessions');
($ret, $out, $err) = $node->psql('postgres',
	"SET ROLE oncall; SELECT count(*) FROM runbook.kill_idle('0', dry_run => false, role_name => 'leak', max_actions => 20000)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  22023: max_actions 20000 is above pg_runbook.max_actions_per_call_limit \(10000\).*HINT:  A superuser can raise/s,
	'max_actions above the limit is refused, with a hint');
($ret, $out, $err) = $node->psql('postgres',
	"SET ROLE oncall; SET pg_runbook.max_actions_per_call_limit = 20000");
like($err, qr/permission denied to set parameter "pg_runbook.max_actions_per_call_limit"/, 'only a superuser can raise the limit');
($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM runbook.kill_idle('0', true, max_actions => 0)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  22023: max_actions must be at least 1/, 'max_actions 0 is refused');
is($node->safe_psql('postgres',
		"SET ROLE oncall; SELECT count(*) FILTER (WHERE outcome = 'terminated') || '/' || count(*) "
		  . "FROM runbook.kill_idle('0', dry_run => false, role_name => 'leak', max_actions => 1000)"),
	"$nsess/$nsess", "an on-call role ends all $nsess sessions in one call with max_actions => 1000");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE usename = 'leak'"),
	'they are gone');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = $nsess FROM runbook.actions WHERE actor = 'kill_idle' AND outcome = 'terminated' AND acting_role = 'oncall' AND usename = 'leak'"),
	"runbook.actions has the $nsess terminations");
$pgbench->kill_kill;

for my $s (values %sess)
{
	eval { $s->quit; };
}
$node->stop;
done_testing();
