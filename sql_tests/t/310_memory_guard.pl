# The memory guard against a real out-of-memory kill.
#
# A private server runs inside its own memory cgroup (cgroup v1, made by
# tools/guard-fixtures.sh under the test harness's own cgroup, never at the
# hierarchy's root, limited to 1 GiB, removed after the run): a wrapper
# writes its pid to the cgroup's cgroup.procs, then execs pg_ctl.  A query
# of an ordinary role allocates without bound and uses its result
# (cardinality(array_agg(repeat(...))): the planner drops outputs nobody
# reads).
#
# Without the guard the failure is real: the kernel kills that backend
# (the cgroup's oom_kill count goes up), the postmaster logs "terminated by
# signal 9" and restarts the cluster, and another session's connection is
# lost.  With the starter policy starter_memory_guard enabled as shipped
# (90 % of the limit, 64 MB of private memory or more): the query is
# cancelled (57014), nothing is killed, the cluster does not restart, the
# other session keeps its connection, and the action is audited with the
# memory figure.  The guarded hog is paced (a pg_sleep every 1 MB, still
# hundreds of MB a second) so that a loaded test machine cannot make the
# test flaky; bench/88_guards.sh measures the unpaced one.
#
# Needs root for the cgroup (tools/run-tests.sh makes it when it runs as
# root); otherwise the test says why it skips.
use strict;
use warnings;
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $cg = $ENV{PG_RUNBOOK_TEST_CGROUP} // '';
plan skip_all => 'no memory cgroup: '
  . ($ENV{PG_RUNBOOK_TEST_CGROUP_SKIP} // 'tools/run-tests.sh makes one when run as root')
  unless $cg ne '' && -w "$cg/cgroup.procs";

my $limit = slurp_file("$cg/memory.limit_in_bytes") + 0;
ok($limit >= 512 * 1024 * 1024 && $limit <= 4 * 1024 * 1024 * 1024,
	"the test cgroup is limited ($limit bytes)");
(my $cgname = $cg) =~ s{^.*?/sys/fs/cgroup/memory}{};

sub oom_kills
{
	my $t = slurp_file("$cg/memory.oom_control");
	return $t =~ /^oom_kill (\d+)/m ? $1 : -1;
}

my $node = PostgreSQL::Test::Cluster->new('memory_guard');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_runbook'
pg_runbook.database = 'postgres'
pg_runbook.naptime = '1h'
shared_buffers = 32MB
max_connections = 20
restart_after_crash = on
});

# start the server inside the cgroup: pg_ctl through a wrapper that moves
# itself there first (the postmaster and every backend inherit it)
my $wrap = tempdir(CLEANUP => 1);
my ($real_pg_ctl) = grep { -x "$_/pg_ctl" } split /:/, $ENV{PATH};
$real_pg_ctl .= '/pg_ctl';
open my $fh, '>', "$wrap/pg_ctl" or die $!;
print $fh "#!/bin/sh\necho \$\$ > '$cg/cgroup.procs' || exit 1\nexec '$real_pg_ctl' \"\$@\"\n";
close $fh;
chmod 0755, "$wrap/pg_ctl";
{
	local $ENV{PATH} = "$wrap:$ENV{PATH}";
	$node->start;
}
my $pm = $node->safe_psql('postgres', 'SELECT pid FROM pg_stat_activity WHERE backend_type = \'checkpointer\'');
like(slurp_file("$cg/cgroup.procs"), qr/^$pm$/m, 'the server runs inside the test cgroup');

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE app LOGIN;
});

# runbook.host() reads the same cgroup (cross-checked with its files)
my $row = $node->safe_psql('postgres',
	q{SELECT source, path, size_bytes FROM runbook.host() WHERE kind = 'memory'});
is($row, "cgroup v1|$cgname|$limit", 'host(): memory is the cgroup v1 limit of the server\'s own cgroup');
my ($used, $usage) = split /\|/, $node->safe_psql('postgres',
	q{SELECT used_bytes, used_bytes + cache_bytes FROM runbook.host() WHERE kind = 'memory'});
my $kusage = slurp_file("$cg/memory.usage_in_bytes") + 0;
ok(abs($usage - $kusage) < 64 * 1024 * 1024,
	"host(): usage $usage is the cgroup's memory.usage_in_bytes ($kusage)");

my $hog = q{SELECT cardinality(array_agg(repeat('x', 1000000))) FROM generate_series(1, 100000)};

# ---------------------------------------------------------------------
# without the guard: the kernel kills the backend, the cluster restarts
my $bystander = $node->background_psql('postgres', on_error_stop => 0);
$bystander->query_safe('SELECT 1');
my $off = -s $node->logfile;
my $kills0 = oom_kills();
my ($rc, $out, $err) = $node->psql('postgres', $hog, extra_params => [ '-U', 'app' ]);
isnt($rc, 0, 'without the guard the memory hog fails');
like($err, qr/server closed the connection unexpectedly|connection to server was lost/,
	'... its connection is lost');
ok(oom_kills() > $kills0, '... killed by the kernel: the cgroup\'s oom_kill count went up');
# ("server process" up to 17, "client backend" from 18)
ok($node->wait_for_log(qr/(?:server process|client backend) \(PID \d+\) was terminated by signal 9/, $off),
	'... the server log shows a backend terminated by signal 9');
ok($node->wait_for_log(qr/all server processes terminated; reinitializing/, $off),
	'... and the cluster restarting');
$bystander->query('SELECT 1');
like($bystander->{stderr},
	qr/terminating connection because of crash of another server process|server closed the connection unexpectedly/,
	'... another session lost its connection');
$bystander->quit;
ok($node->poll_query_until('postgres', 'SELECT true'), 'the cluster came back');

# ---------------------------------------------------------------------
# with the starter memory guard, as shipped
ok($node->poll_query_until('postgres', 'SELECT running FROM runbook.worker_status()'),
	'the worker runs again');
$node->safe_psql('postgres',
	q{UPDATE runbook.policies SET enabled = true WHERE name = 'starter_memory_guard'});
is($node->safe_psql('postgres', q{SELECT min_memory_used_pct || ' ' || min_private_memory_bytes || ' ' || action
	FROM runbook.policies WHERE name = 'starter_memory_guard'}),
	'90 67108864 cancel_then_terminate', 'starter_memory_guard as shipped');
# the worker has read the policy (its cycle after the change)
ok($node->poll_query_until('postgres', 'SELECT policies = 1 FROM runbook.worker_status()'),
	'the worker enforces the guard');

$bystander = $node->background_psql('postgres', on_error_stop => 0);
my $bpid = $bystander->query_safe('SELECT pg_backend_pid()');
$off = -s $node->logfile;
$kills0 = oom_kills();
my $paced = q{SELECT cardinality(array_agg(repeat('x', 1000000))) FROM generate_series(1, 100000) g
	WHERE pg_sleep(0.002) IS NOT NULL};
($rc, $out, $err) = $node->psql('postgres', $paced, extra_params => [ '-U', 'app' ]);
isnt($rc, 0, 'with the guard the memory hog fails');
like($err, qr/canceling statement due to user request/, '... cancelled');
is(oom_kills(), $kills0, '... the kernel killed nothing');
my $log = slurp_file($node->logfile, $off);
unlike($log, qr/terminated by signal|reinitializing/, '... no backend killed, no restart in the log');
is($bystander->query_safe('SELECT pg_backend_pid()'), $bpid,
	'... the other session kept its connection');
$bystander->quit;

# the audit, with the memory figure
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');    # a cycle flushes the ring
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM runbook.actions WHERE actor = 'policy:starter_memory_guard'}),
	'the cancel is in runbook.actions');
my ($act, $detail) = split /\|/, $node->safe_psql('postgres',
	q{SELECT action || ' ' || outcome || ' ' || usename, detail FROM runbook.actions
	   WHERE actor = 'policy:starter_memory_guard'});
is($act, 'cancel cancelled app', 'audited: the memory hog of role app cancelled');
like($detail,
	qr/^memory in use (\d+\.\d)% of 1024 MB \(cgroup v1\) >= 90%, private memory (\d+) MB >= 64 MB$/,
	'the audit detail has the memory figure, its source and the private memory');
if ($detail =~ /memory in use (\d+\.\d)%.*private memory (\d+) MB/)
{
	my ($pct, $priv) = ($1, $2);
	ok($pct >= 90 && $pct < 100, "memory in use at the cancel: $pct % (at the mark, below the limit)");
	ok($priv * 1024 * 1024 > 0.5 * $limit, "the hog held most of it: $priv MB private");
}
# the memory was given back
ok($node->poll_query_until('postgres',
		q{SELECT used_pct < 50 FROM runbook.host() WHERE kind = 'memory'}),
	'memory in use fell back after the cancel');

$node->stop('immediate');
done_testing();
