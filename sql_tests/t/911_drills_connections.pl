# Incident drills, connections (issue 23):
#   0. a healthy server under ordinary pgbench traffic: no SEV1-SEV3
#   1. a connection leak from one application: the finding names the source
#      and the remedy's arguments come from the sessions holding the slots;
#      the refused clients in the server log are reported as past once the
#      leak is over, below live findings, without their old severity
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrillUtil;

my $node = drill_node('drill_conn', q{
max_connections = 30
superuser_reserved_connections = 3
fsync = on
});
$node->safe_psql('postgres', q{
	CREATE ROLE orders LOGIN;
});

# ---------------------------------------------------------------------
# Drill 0: pgbench, as a healthy server runs it.
# ---------------------------------------------------------------------
$node->command_ok([ 'pgbench', '-i', '-s', '5', '-q', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'drill 0: pgbench -i');
$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
my $bench = IPC::Run::start([ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '8', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'>', \my $bench_out, '2>', \my $bench_err);
sleep 4;
my $rows = triage($node);
my @bad = map { "$_->{severity} $_->{check_name}: $_->{finding}" } grep { $_->{severity} =~ /^SEV[123]$/ } @$rows;
is(join("\n", @bad), '', 'drill 0: pgbench running: no SEV1-SEV3 finding');
$bench->finish;
like($bench_out, qr/number of transactions actually processed: [1-9]/, 'drill 0: pgbench did work');
$rows = triage($node);
@bad = map { "$_->{severity} $_->{check_name}: $_->{finding}" } grep { $_->{severity} =~ /^SEV[123]$/ } @$rows;
is(join("\n", @bad), '', 'drill 0: after pgbench: no SEV1-SEV3 finding');

# ---------------------------------------------------------------------
# Drill 1: orders-api leaks connections (idle, role orders); billing keeps
# two idle connections of its pool, reporting runs a statement.  Then more
# orders-api clients try to connect and are refused.
# ---------------------------------------------------------------------
my @billing = map { session($node, 'billing') } 1 .. 2;
my $report = session($node, 'reporting');
send_async($report, 'SELECT pg_sleep(600);');
my $mon = session($node, 'oncall');
my @leak;
{
	# (the query's own session counts in in_use)
	my $n = $node->safe_psql('postgres', 'SELECT usable - in_use + 1 FROM runbook.connections()');
	local $ENV{PGUSER} = 'orders';
	push @leak, session($node, 'orders-api') for 1 .. $n;
}
# the pool of orders-api keeps trying: its clients are refused
my $refused = 0;
{
	local $ENV{PGAPPNAME} = 'orders-api';
	for my $i (1 .. 5)
	{
		my ($ret, $out, $err) = $node->psql('postgres', 'SELECT 1', extra_params => [ '-U', 'orders' ]);
		$refused++ if $err =~ /remaining connection slots are reserved|too many clients/;
		diag "connect: ret $ret $err" unless $err =~ /remaining connection slots|too many clients/;
	}
}
is($refused, 5, "drill 1: clients of orders-api were refused");
sleep 2;    # the leaked sessions have been idle a while

$rows = triage($node);
my $top = record_top('911 #1', top_live($rows));
is($top->{check_name}, 'connections', 'drill 1: the highest live finding is the connections finding');
like($top->{severity}, qr/^SEV[12]$/, 'drill 1: SEV1 or SEV2');
like($top->{finding}, qr/orders-api/, 'drill 1: the finding names the source, orders-api');
like($top->{remedy_sql}, qr/application_pattern => 'orders-api'/, 'drill 1: the remedy is scoped to orders-api');
unlike($top->{remedy_sql}, qr/'30 min'/, 'drill 1: not a fixed 30 min');
nothing_innocent($rows, [ (map { $_->{pid} } @billing), $report->{pid}, $mon->{pid} ], 'drill 1');

# past findings (the server log) come after every live one
my $seen_past = 0;
my $order_ok = 1;
for my $r (@$rows)
{
	my $live = !exists $r->{live} || $r->{live};
	$seen_past = 1 if !$live;
	$order_ok = 0 if $live && $seen_past;
}
ok($order_ok, 'drill 1: findings from the past (the server log) are ranked after the live ones');
my $log = finding_of($rows, 'server_log');
ok($log && exists $log->{live} && !$log->{live}, 'drill 1: the refused clients in the log are a past finding');
like($log->{finding} // '', qr/\d\d:\d\d:\d\d/, 'drill 1: the past finding says when');

# the remedy as printed: a dry run naming exactly the leaked sessions
my ($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
is($ret, 0, 'drill 1: the remedy runs as printed') or diag $err;
my %leaked = map { $_->{pid} => 1 } @leak;
# kill_idle()'s columns: pid first, outcome the 12th
my @picked = map { [ (split /\|/)[ 0, 11 ] ] } grep { /^\d+\|/ } split /\n/, $out;
is(scalar(grep { !$leaked{ $_->[0] } } @picked), 0, 'drill 1: the dry run picks only orders-api\'s leaked sessions');
is(scalar(@picked), scalar(@leak), 'drill 1: ... every one of them');
is(join(',', sort { $a cmp $b } keys %{ { map { $_->[1] => 1 } @picked } }), 'dry_run', 'drill 1: as a dry run');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'orders-api'"),
	scalar(@leak), 'drill 1: the printed remedy is a dry run: nobody ended yet');
# then for real, as the action says: the same call with dry_run => false
my $real = $top->{remedy_sql} =~ s/\)\s*;/, dry_run => false);/r;
($ret, $out, $err) = run_printed($node, $real);
is($ret, 0, 'drill 1: the remedy with dry_run => false runs') or diag $err;
poll($node, q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'orders-api'})
  or die 'leaked sessions still there';
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('billing', 'reporting', 'oncall')}),
	'4', 'drill 1: billing, reporting and the on-call session are untouched');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'}),
	'<', 10, 'drill 1: pg_stat_activity: the slots are free again');

$rows = triage($node);
no_sev2_for($rows, [qw(connections server_log)], 'drill 1 after');
$log = finding_of($rows, 'server_log');
ok($log && !$log->{live}, 'drill 1 after: the log finding is still shown, as past');
unlike($log->{remedy_sql} // '', qr/kill_idle/, 'drill 1 after: the past finding no longer suggests ending sessions');

# the flight recorder's events and the worker's figures are rounded
my $vals = $node->safe_psql('postgres', q{SELECT string_agg(value::text, ',') FROM runbook.events(now() - interval '10 min')
                                          WHERE value IS NOT NULL});
unlike($vals, qr/\.\d{3,}/, 'events().value is rounded');
my $cyc = $node->safe_psql('postgres', q{SELECT concat_ws(',', last_cycle_ms, avg_cycle_ms, max_cycle_ms) FROM runbook.worker_status()});
unlike($cyc, qr/\.\d{4,}/, 'worker_status() cycle times are rounded');

end_sessions($node, @billing, $report, $mon);
done_testing();
