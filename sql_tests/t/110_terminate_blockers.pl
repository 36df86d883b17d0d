# terminate_blockers() with real sessions: the DDL-queue incident.  A dry
# run ends nothing and names the root; a real run ends the root and the
# queue drains; superuser roots are skipped with the reason; a prepared
# transaction is reported, not signalled.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PostgreSQL::Test::Cluster->new('blockers');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
max_prepared_transactions = 5
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE rb_app LOGIN;
	CREATE ROLE rb_dba LOGIN IN ROLE pg_signal_backend, pg_monitor;
	CREATE TABLE t (id int);
	INSERT INTO t VALUES (1);
	ALTER TABLE t OWNER TO rb_app;
});

sub sql { return $node->safe_psql('postgres', $_[0], extra_params => [ '-U', $_[1] // 'postgres' ]); }

sub session
{
	my ($user) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', $user ]);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
	return ($s, $pid);
}

sub waiting
{
	return sql(q{SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'});
}

# the DDL queue: an idle-in-transaction reader, an ALTER TABLE, two SELECTs
my ($root, $root_pid) = session('rb_app');
$root->query_safe('BEGIN');
$root->query_safe('SELECT count(*) FROM t');
my ($ddl, $ddl_pid) = session('rb_app');
$ddl->query_until(qr/go/, "\\echo go\nALTER TABLE t ADD COLUMN c int;\n");
my @sel;
for (1 .. 2)
{
	my ($s, $p) = session('rb_app');
	$s->query_until(qr/go/, "\\echo go\nSELECT count(*) FROM t;\n");
	push @sel, $s;
}
ok($node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM pg_stat_activity WHERE wait_event_type = 'Lock'}),
	'three sessions queued');
sleep 1.2;

# dry run (the default): reports the root, ends nothing
my $dry = sql(q{SELECT pid, outcome, coalesce(reason, '-'), action FROM runbook.terminate_blockers('1 s')}, 'rb_dba');
is($dry, "$root_pid|dry_run|-|terminate", 'dry run names the root only');
like(sql(q{SELECT detail FROM runbook.terminate_blockers('1 s')}, 'rb_dba'),
	qr/root blocker of 3 sessions, the oldest waiting/, 'detail counts the sessions behind it');
is(waiting(), '3', 'dry run ended nothing');
is(sql(q{SELECT count(*) FROM runbook.terminate_blockers('1 hour')}, 'rb_dba'), '0',
	'no root has waiters that old');

# real run: the root ends and the queue drains
my $real = sql(q{SELECT pid, outcome FROM runbook.terminate_blockers('1 s', dry_run => false)}, 'rb_dba');
is($real, "$root_pid|terminated", 'real run terminated the root');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'}),
	'the queue drained');
is(sql(q{SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'c'}),
	'1', 'the ALTER TABLE completed');
is(sql(qq{SELECT actor || '/' || outcome || '/' || acting_role FROM runbook.recent_actions() WHERE pid = $root_pid}),
	'terminate_blockers/terminated/rb_dba', 'audited');
$_->quit for ($ddl, @sel);

# a superuser root: skipped, with the reason
my ($sroot, $sroot_pid) = session('postgres');
$sroot->query_safe('BEGIN');
$sroot->query_safe('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
my ($w, $w_pid) = session('rb_app');
$w->query_until(qr/go/, "\\echo go\nSELECT count(*) FROM t;\n");
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'}),
	'a session waits behind a superuser');
sleep 0.6;
is(sql(q{SELECT pid, outcome, reason FROM runbook.terminate_blockers('0.5 s', dry_run => false)}, 'rb_dba'),
	"$sroot_pid|skipped|superuser", 'superuser root skipped: not opted in');
is(sql(q{SELECT outcome, reason FROM runbook.terminate_blockers('0.5 s', dry_run => false, allow_superuser => true)}, 'rb_dba'),
	'skipped|permission_denied', 'superuser root skipped: the caller is not superuser');
is(sql(qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $sroot_pid}), '1', 'superuser root alive');
$sroot->query_safe('ROLLBACK');
$w->quit;
$sroot->quit;

# a prepared transaction at the root: reported, with what to do
sql(q{BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; PREPARE TRANSACTION 'rb_tb'});
my ($p, $p_pid) = session('rb_app');
my ($h, $h_pid) = session('rb_app');
$p->query_until(qr/go/, "\\echo go\nSELECT count(*) FROM t;\n");
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'}),
	'a session waits behind a prepared transaction');
sleep 0.6;
my $prep = sql(q{SELECT coalesce(pid::text, 'null') || '|' || outcome || '|' || reason || '|' || (detail LIKE '%ROLLBACK PREPARED%')
	FROM runbook.terminate_blockers('0.5 s', dry_run => false)}, 'rb_dba');
is($prep, '0|skipped|prepared_transaction|true', 'prepared transaction reported, not signalled');
sql(q{ROLLBACK PREPARED 'rb_tb'});
$p->quit;
$h->quit;

# bad input
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM runbook.terminate_blockers('-1 s')});
like($err, qr/min_wait must not be negative/, 'negative min_wait rejected');
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM runbook.terminate_blockers(NULL)});
like($err, qr/min_wait must not be NULL/, 'NULL min_wait rejected');
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM runbook.terminate_blockers('1 s')}, extra_params => [ '-U', 'rb_app' ]);
like($err, qr/permission denied/, 'not for roles outside pg_signal_backend');

$node->stop;
done_testing();
