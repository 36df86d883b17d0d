# The audit loses nothing and starts nothing needlessly (issue 12 §3), on a
# server whose audit ring has 16 slots:
# - one call that ends 40 sessions leaves 40 rows in runbook.actions (the
#   ring never overwrites an entry that has not reached the table: the call
#   lets the writer copy each chunk first);
# - when the writer cannot copy (the table is locked), the entries that do
#   not fit are spilled to the log and counted, never overwritten;
# - a call cancelled while it waits for room leaves no entry pending and
#   signals nobody it did not audit;
# - recent_actions(), audit_status(), metrics() never start a worker;
# - a writer whose copy fails retries, and copies once the cause is gone;
# - skips count toward the cap: a call writes at most max_actions entries,
#   its actions first (issue 22).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('audit_ring');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.audit_ring_size = 16
pg_runbook.enforce = off
max_connections = 120
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE app LOGIN;
});

my %sess;

# n idle sessions of role app named <prefix>_<i>; returns their pids
sub open_sessions
{
	my ($prefix, $n) = @_;
	my @pids;
	for my $i (1 .. $n)
	{
		my $s = $node->background_psql('postgres', on_error_stop => 0,
			extra_params => [ '-U', 'app' ]);
		$s->query_safe("SET application_name = '${prefix}_$i'");
		my $p = $s->query_safe('SELECT pg_backend_pid()');
		chomp $p;
		$sess{$p} = $s;
		push @pids, $p;
	}
	return @pids;
}

sub alive
{
	my ($prefix) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '${prefix}\\_%'");
}

sub status
{
	my ($cols) = @_;
	return $node->safe_psql('postgres', "SELECT $cols FROM runbook.audit_status()");
}

# ---- 1. more decisions in one call than the ring has slots
open_sessions('big', 40);
my $log_offset = -s $node->logfile;
is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE outcome = 'terminated') || '/' || count(*) "
		  . "FROM runbook.kill_idle('0', dry_run => false, application_pattern => 'big\\_%', max_actions => 100)"),
	'40/40', 'one call terminates 40 sessions (ring of 16 slots)');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'big\\_%'"),
	'the 40 sessions are gone');
ok($node->poll_query_until('postgres', "SELECT pending = 0 AND NOT writer_running FROM runbook.audit_status()"),
	'the writer copied everything and exited');
is($node->safe_psql('postgres',
		"SELECT count(*) || '/' || count(DISTINCT pid) FROM runbook.actions WHERE actor = 'kill_idle' AND outcome = 'terminated' AND application_name LIKE 'big\\_%'"),
	'40/40', 'runbook.actions has a row for every one of the 40 terminations');
is(status('spilled || \'/\' || signalling || \'/\' || copied'), '0/0/40', 'nothing spilled, nothing pending, 40 copied');
my $log = slurp_file($node->logfile, $log_offset);
is(scalar(() = $log =~ /pg_runbook audit: seq=\d+ actor="kill_idle"/g), 40, 'forty LOG lines');

# ---- 2. the writer cannot copy: what does not fit is spilled, never overwritten
my @p2 = open_sessions('spill', 20);
my $locker = $node->background_psql('postgres', on_error_stop => 0);
$locker->query_safe('BEGIN; LOCK TABLE runbook.actions IN ACCESS EXCLUSIVE MODE');
my $seq0 = $node->safe_psql('postgres', 'SELECT max(seq) FROM runbook.recent_actions()');
$log_offset = -s $node->logfile;
is($node->safe_psql('postgres',
		"SET pg_runbook.audit_wait = '1s'; SELECT count(*) FILTER (WHERE outcome = 'terminated') "
		  . "FROM runbook.kill_idle('0', dry_run => false, application_pattern => 'spill\\_%', max_actions => 100)"),
	'20', 'with the table locked, the call still ends all 20 sessions');
is(status('spilled'), '4', 'four entries found no free slot: spilled, counted');
$log = slurp_file($node->logfile, $log_offset);
is(scalar(() = $log =~ /pg_runbook audit: seq=0 spilled=true actor="kill_idle" .* outcome=terminated /g), 4,
	'the four spilled entries are in the log');
is($node->safe_psql('postgres', "SELECT count(*) FROM runbook.recent_actions() WHERE seq > $seq0 AND NOT in_table"),
	'16', 'the ring still holds the 16 uncopied entries (none overwritten)');
$locker->query_safe('ROLLBACK');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 16 FROM runbook.actions WHERE application_name LIKE 'spill\\_%'"),
	'once the lock is gone, the 16 ring entries reach the table');

# ---- 3. an ERROR while waiting for room leaves no entry pending
open_sessions('cancel', 20);
$locker->query_safe('BEGIN; LOCK TABLE runbook.actions IN ACCESS EXCLUSIVE MODE');
my $caller = $node->background_psql('postgres', on_error_stop => 0);
my $cpid = $caller->query_safe('SELECT pg_backend_pid()');
chomp $cpid;
$caller->query_safe("SET pg_runbook.audit_wait = '10min'");
$caller->query_until(qr/calling/, "\\echo calling\nSELECT count(*) FROM runbook.kill_idle('0', dry_run => false, application_pattern => 'cancel\\_%', max_actions => 100);\n");
ok($node->poll_query_until('postgres',
		"SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE pid = $cpid"),
	'the call waits for room in the ring');
ok($node->poll_query_until('postgres', "SELECT count(*) = 4 FROM pg_stat_activity WHERE application_name LIKE 'cancel\\_%'"),
	'its first chunk (16 sessions) is ended; 4 wait for room');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($cpid)");
ok($node->poll_query_until('postgres', "SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $cpid"),
	'the cancelled call ended');
is(status('signalling'), '0', 'no entry is left pending after the ERROR');
is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE outcome = 'terminated') || '/' || count(*) FROM runbook.recent_actions() WHERE application_name LIKE 'cancel\\_%'"),
	'16/16', 'the 16 signals sent are audited, nothing else');
is(alive('cancel'), '4', 'the 4 sessions never audited were never signalled');

# ---- 4. monitoring never starts a background worker
my $wpid = status('writer_pid');
ok($wpid ne '', 'a writer runs (waiting for the lock)');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid)");
ok($node->poll_query_until('postgres', 'SELECT NOT writer_running AND NOT writer_starting FROM runbook.audit_status()'),
	'the writer is gone');
$node->safe_psql('postgres', 'SELECT count(*) FROM runbook.recent_actions()');
$node->safe_psql('postgres', 'SELECT * FROM runbook.audit_status()');
$node->safe_psql('postgres', 'SELECT runbook.metrics()');
$node->safe_psql('postgres', 'SELECT count(*) FROM runbook.worker_status()');
is(status("writer_running || '/' || writer_starting || '/' || pending"), 'false/false/16',
	'recent_actions(), audit_status(), metrics(), worker_status(): no writer asked for, 16 entries still pending');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_runbook audit writer'"),
	'0', 'no audit writer process');
$locker->query_safe('ROLLBACK');

# the next call that records starts the writer, which copies everything
$node->safe_psql('postgres', "SELECT * FROM runbook.kill_idle('0', dry_run => false, application_pattern => 'cancel\\_%')");
ok($node->poll_query_until('postgres', 'SELECT pending = 0 FROM runbook.audit_status()'),
	'the next recording call starts the writer: nothing pending');
is($node->safe_psql('postgres', "SELECT count(*) FROM runbook.actions WHERE application_name LIKE 'cancel\\_%'"),
	'20', 'all 20 of the cancel_ sessions are in the table');

# ---- 5. a writer whose copy fails retries
$node->safe_psql('postgres', q{
	CREATE TABLE public.fail_audit (on_ boolean);
	INSERT INTO public.fail_audit VALUES (true);
	CREATE FUNCTION public.fail_audit_trg() RETURNS trigger LANGUAGE plpgsql AS
	  $$ BEGIN IF (SELECT on_ FROM public.fail_audit) THEN RAISE EXCEPTION 'planted failure'; END IF; RETURN NEW; END $$;
	CREATE TRIGGER fail_audit BEFORE INSERT ON runbook.actions FOR EACH ROW EXECUTE FUNCTION public.fail_audit_trg();
});
open_sessions('retry', 1);
my $f0 = status('writer_failures');
$node->safe_psql('postgres', "SELECT * FROM runbook.kill_idle('0', dry_run => false, application_pattern => 'retry\\_%')");
ok($node->poll_query_until('postgres', "SELECT writer_failures > $f0 AND last_error = 'planted failure' FROM runbook.audit_status()"),
	'the copy failed, and audit_status() says why');
is(status('pending'), '1', 'the entry waits in the ring');
$node->safe_psql('postgres', 'UPDATE public.fail_audit SET on_ = false');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM runbook.actions WHERE application_name = 'retry_1'"),
	'the writer retried and copied the entry once the cause was gone');
is(status('pending'), '0', 'nothing pending');

# ---- 6. skips count toward the cap: a call writes at most max_actions
# audit entries, its actions first.  Six superuser sessions (the oldest, so
# first in line) that a pg_signal_backend member may not end, then one of
# role app it may end; max_actions 2: the action and one skip are audited,
# the other five skips are reported to the caller and counted in one LOG line.
$node->safe_psql('postgres', 'DROP TRIGGER fail_audit ON runbook.actions');
$node->safe_psql('postgres', 'CREATE ROLE oncall LOGIN IN ROLE pg_signal_backend; GRANT USAGE ON SCHEMA runbook TO oncall');
for my $i (1 .. 6)
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe("SET application_name = 'skipsu_$i'");
	my $p = $s->query_safe('SELECT pg_backend_pid()');
	chomp $p;
	$sess{$p} = $s;
}
open_sessions('skipapp', 1);
my $seq6 = $node->safe_psql('postgres', 'SELECT coalesce(max(seq), 0) FROM runbook.recent_actions()');
$log_offset = -s $node->logfile;
is($node->safe_psql('postgres',
		"SELECT string_agg(outcome || ':' || coalesce(reason, '') || ':' || CASE WHEN detail LIKE '%not audited%' THEN 'unaudited' ELSE 'audited' END, ' ' ORDER BY outcome DESC, detail) "
		  . "FROM runbook.kill_idle('0', dry_run => false, application_pattern => 'skip%', max_actions => 2)",
		extra_params => [ '-U', 'oncall' ]),
	'terminated::audited skipped:superuser:audited ' . join(' ', ('skipped:superuser:unaudited') x 5),
	'the call reports all seven: one terminated, six skipped (five of them not audited)');
is($node->safe_psql('postgres',
		"SELECT string_agg(outcome || ':' || coalesce(reason, ''), ' ' ORDER BY seq) FROM runbook.recent_actions() WHERE seq > $seq6"),
	'skipped:superuser terminated:', 'two audit entries: the action and the first skip');
$log = slurp_file($node->logfile, $log_offset);
like($log, qr/actor="kill_idle" skipped 5 sessions without an audit entry each: at most 2 audit entries per call/,
	'one LOG line counts the skips left out');
ok($node->poll_query_until('postgres', "SELECT count(*) = 2 FROM runbook.actions WHERE application_name LIKE 'skip%'"),
	'runbook.actions has the two entries');

for my $s (values %sess)
{
	eval { $s->quit; };
}
$node->stop;
done_testing();
