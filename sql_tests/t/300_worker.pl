# The policy worker against real sessions: each action kind, first-match
# priority, ignore exemptions, exempt roles, superusers untouched, harm
# conditions, escalation, reaction time, pause/resume, enforce = off,
# restart after termination and after a server restart, a dropped extension.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.database = 'postgres'
pg_runbook.naptime = '60s'
pg_runbook.exempt_roles = 'rb_exempt'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE rb_app LOGIN;
	CREATE ROLE rb_other LOGIN;
	CREATE ROLE rb_exempt LOGIN;
	CREATE ROLE rb_boss LOGIN SUPERUSER;
	CREATE TABLE t (id int PRIMARY KEY, v int);
	INSERT INTO t SELECT g, 0 FROM generate_series(1, 10) g;
	GRANT ALL ON t TO rb_app, rb_other, rb_exempt;
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub session
{
	my ($user, $app) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', $user ]);
	$s->query_safe("SET application_name = '$app'");
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
	return ($s, $pid);
}

sub alive { return sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $_[0]") eq '1'; }

sub wait_gone
{
	my ($pid, $secs) = @_;
	my $t0 = time;
	while (time - $t0 < $secs)
	{
		return time - $t0 unless alive($pid);
		sleep 0.05;
	}
	return undef;
}

# The worker is running, named, and waits for policies.
ok($node->poll_query_until('postgres', 'SELECT running FROM runbook.worker_status()'),
	'worker is running');
my $wpid = sql('SELECT pid FROM runbook.worker_status()');
is(sql("SELECT backend_type || '/' || application_name FROM pg_stat_activity WHERE pid = $wpid"),
	'pg_runbook worker/pg_runbook worker', 'worker has its backend type and application name');

# --- reaction time: 2 s idle threshold with naptime 60 s
sql(q{INSERT INTO runbook.policies (name, role_name, states, min_state_age, action)
    VALUES ('idle_app', 'rb_app', '{idle}', '2 s', 'terminate')});
my ($a1, $a1pid) = session('rb_app', 'app1');
my ($o1, $o1pid) = session('rb_other', 'other1');
my $t_idle = time;
my $gone = wait_gone($a1pid, 10);
ok(defined $gone, 'idle session of rb_app terminated');
my $reaction = time - $t_idle;
cmp_ok($reaction, '<', 2.5 + 0.5, "ended ${reaction}s after it went idle (2 s threshold, naptime 60 s)");
cmp_ok($reaction, '>=', 1.9, 'not before the threshold');
ok(alive($o1pid), 'session of another role untouched');
is(sql("SELECT outcome || '/' || actor FROM runbook.recent_actions() WHERE pid = $a1pid"),
	'terminated/policy:idle_app', 'the action is audited with its policy');

# --- exempt roles and superusers are never touched by a matching policy
sql(q{UPDATE runbook.policies SET role_name = NULL WHERE name = 'idle_app'});
my ($e1, $e1pid) = session('rb_exempt', 'exempt1');
my ($b1, $b1pid) = session('rb_boss', 'boss1');
sleep 3.5;
ok(!alive($o1pid), 'policy change took effect without reload: rb_other ended');
ok(alive($e1pid), 'session of an exempt role untouched');
ok(alive($b1pid), 'superuser session untouched');
like(sql("SELECT string_agg(DISTINCT reason, ',') FROM runbook.recent_actions() WHERE pid IN ($e1pid, $b1pid)"),
	qr/exempt_role/, 'the exempt session is reported as skipped');
my $walsenders_and_bg = sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type <> 'client backend'});
cmp_ok($walsenders_and_bg, '>=', 5, 'background processes still all there');

# --- ignore exemption and first-match priority
sql(q{INSERT INTO runbook.policies (name, priority, application_pattern, states, action)
    VALUES ('backups', 1, 'pg\_dump%', '{idle}', 'ignore')});
my ($d1, $d1pid) = session('rb_other', 'pg_dump-nightly');
my ($w1, $w1pid) = session('rb_other', 'web');
ok(defined wait_gone($w1pid, 6), 'web session ended by idle_app');
ok(alive($d1pid), 'pg_dump session exempted by the ignore policy of higher priority');

# --- pause: no actions; resume: actions
sql('SELECT runbook.pause_worker()');
my ($p1, $p1pid) = session('rb_other', 'paused-test');
sleep 3.5;
ok(alive($p1pid), 'paused worker does not act');
is(sql('SELECT paused FROM runbook.worker_status()'), 't', 'status says paused');
sql('SELECT runbook.resume_worker()');
ok(defined wait_gone($p1pid, 3), 'resumed worker acts at once');

# --- enforce = off via ALTER SYSTEM + reload stops all actions
sql(q{ALTER SYSTEM SET pg_runbook.enforce = 'off'});
sql('SELECT pg_reload_conf()');
sleep 0.5;
my ($f1, $f1pid) = session('rb_other', 'enforce-off');
sleep 3.5;
ok(alive($f1pid), 'enforce = off: no action');
sql(q{ALTER SYSTEM SET pg_runbook.enforce = 'log'});
sql('SELECT pg_reload_conf()');
sleep 3;
ok(alive($f1pid), 'enforce = log: a dry run, no action');
sql(q{ALTER SYSTEM RESET pg_runbook.enforce});
sql('SELECT pg_reload_conf()');
ok(defined wait_gone($f1pid, 4), 'enforce back on: acted');

sql(q{DELETE FROM runbook.policies});

# --- cancel: the running statement is cancelled, the session stays
sql(q{INSERT INTO runbook.policies (name, role_name, states, min_query_age, action)
    VALUES ('cancel_long', 'rb_app', '{active}', '1 s', 'cancel')});
my ($c1, $c1pid) = session('rb_app', 'cancel1');
my $t0 = time;
my $out = $c1->query('SELECT pg_sleep(30)');
my $took = time - $t0;
like($c1->{stderr}, qr/canceling statement due to user request/, 'statement cancelled');
cmp_ok($took, '<', 5, "cancelled after ${took}s");
ok(alive($c1pid), 'session survives a cancel');
sql(q{DELETE FROM runbook.policies});

# --- cancel_then_terminate: a statement that ignores nothing: cancelled first;
# an idle-in-transaction session (nothing to cancel) is terminated after grace
sql(q{INSERT INTO runbook.policies (name, role_name, states, min_state_age, action, grace)
    VALUES ('escalate', 'rb_app', '{idle in transaction}', '1 s', 'cancel_then_terminate', '2 s')});
my ($x1, $x1pid) = session('rb_app', 'escalate1');
$x1->query_safe('BEGIN');
$x1->query_safe('SELECT 1');
$t0 = time;
$gone = wait_gone($x1pid, 10);
ok(defined $gone, 'idle-in-transaction session terminated after the grace period');
cmp_ok(time - $t0, '>=', 2.9, 'not before threshold + grace');
is(sql("SELECT string_agg(action || ':' || outcome, ',' ORDER BY acted_at) FROM runbook.recent_actions() WHERE pid = $x1pid"),
	'cancel:cancelled,terminate:terminated', 'cancel first, then terminate');
sql(q{DELETE FROM runbook.policies});

# --- only_if_blocking: of two idle-in-transaction sessions, only the one
# with a queue behind it is ended
sql(q{INSERT INTO runbook.policies (name, role_name, states, min_state_age, only_if_blocking, min_blocked_wait, action)
    VALUES ('blockers', 'rb_app', '{idle in transaction}', '0', true, '1 s', 'terminate')});
my ($h1, $h1pid) = session('rb_app', 'holder');
my ($h2, $h2pid) = session('rb_app', 'bystander');
$h1->query_safe('BEGIN');
$h1->query_safe('UPDATE t SET v = 1 WHERE id = 1');
$h2->query_safe('BEGIN');
$h2->query_safe('UPDATE t SET v = 1 WHERE id = 2');
my ($q1, $q1pid) = session('rb_other', 'queued');
$q1->query_until(qr/start/, "\\echo start\nUPDATE t SET v = 2 WHERE id = 1;\n");
ok(defined wait_gone($h1pid, 6), 'the blocking session is ended');
sleep 1.5;
ok(alive($h2pid), 'the idle-in-transaction session that blocks nobody is left alone');
$h2->query_safe('ROLLBACK');
sql(q{DELETE FROM runbook.policies});

# --- only_if_holding_xmin: min_xmin_age
sql(q{INSERT INTO runbook.policies (name, role_name, states, min_state_age, min_xmin_age, action)
    VALUES ('xmin', 'rb_app', '{idle in transaction}', '0', 5, 'terminate')});
my ($m1, $m1pid) = session('rb_app', 'old-xmin');
my ($m2, $m2pid) = session('rb_app', 'young');
$m1->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$m1->query_safe('SELECT count(*) FROM t');
$m2->query_safe('BEGIN');
sleep 1;
ok(alive($m1pid), 'xmin not old enough yet');
sql('SELECT txid_current()') for 1 .. 10;
ok(defined wait_gone($m1pid, 4), 'session holding the xmin horizon back by 10 xids ended');
ok(alive($m2pid), 'session with no snapshot left alone');
$m2->query_safe('ROLLBACK');
sql(q{DELETE FROM runbook.policies});

# --- log: a LOG line once, no signal
sql(q{INSERT INTO runbook.policies (name, role_name, states, min_state_age, action)
    VALUES ('just_log', 'rb_app', '{idle}', '1 s', 'log')});
my ($l1, $l1pid) = session('rb_app', 'logged');
sleep 2.5;
ok(alive($l1pid), 'log policy does not signal');
my $log = slurp_file($node->logfile);
my @lines = ($log =~ /policy:just_log.*pid[=: ]+$l1pid/g);
is(scalar(@lines), 1, 'exactly one LOG line for the logged session');
sql(q{DELETE FROM runbook.policies});

# --- the worker comes back after being terminated, and after a restart
$wpid = sql('SELECT pid FROM runbook.worker_status()');
sql("SELECT pg_terminate_backend($wpid)");
ok($node->poll_query_until('postgres',
		"SELECT running AND pid <> $wpid FROM runbook.worker_status()"),
	'worker restarted after termination');
$_->quit for ($o1, $e1, $b1, $d1, $c1, $h2, $m2, $l1, $q1);
$node->restart;
ok($node->poll_query_until('postgres', 'SELECT running FROM runbook.worker_status()'),
	'worker running after a server restart');

# --- extension dropped while running: logs once with a hint, waits, no crash loop
$wpid = sql('SELECT pid FROM runbook.worker_status()');
my $log_offset = -s $node->logfile;
sql('DROP EXTENSION pg_runbook');
for (1 .. 3)
{
	sql('SELECT pg_reload_conf()');	# SIGHUP wakes the worker for a cycle
	sleep 0.5;
}
$log = substr(slurp_file($node->logfile), $log_offset);
my @missing = ($log =~ /extension pg_runbook is not installed in database "postgres"; waiting/g);
is(scalar(@missing), 1, 'the missing extension is logged once');
like($log, qr/HINT:  Run CREATE EXTENSION pg_runbook in database "postgres"/, 'with a hint');
is(sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid"), '1', 'worker still the same process');
sql('CREATE EXTENSION pg_runbook');
sql('SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres',
		"SELECT running AND pid = $wpid AND last_error IS NULL FROM runbook.worker_status()"),
	'same worker carries on once the extension is back');

$node->stop;
done_testing();
