# The lockGroupLeader race, made deterministic with gdb.
#
# snapshot.c reads PGPROC.lockGroupLeader without a lock; a parallel
# query's members clear it when they exit (ProcKill).  Reading it twice (a
# NULL check, then a dereference) crashes the reader if the group ends in
# between.  Here gdb stops a backend reading runbook.sessions exactly at the
# dereference of the leader pointer of a parallel group member, the group is
# then ended (leader terminated, workers gone), and the backend continues.
# Before the fix (two reads) it died of SIGSEGV and the server restarted;
# with one read into a local it answers.  Skipped where gdb is missing or
# may not attach (ptrace refused).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $gdb = `command -v gdb 2>/dev/null`;
chomp $gdb;
plan skip_all => 'gdb is not installed' unless $gdb;

# the line that dereferences the leader pointer, found in the source
my $root = $ENV{PG_RUNBOOK_ROOT} // '.';
my $line;
open(my $fh, '<', "$root/src/snapshot.c") or die "src/snapshot.c: $!";
while (<$fh>)
{
	if (/\bint\s+lpid\s*=/) { $line = $.; last; }
}
close $fh;
plan skip_all => 'no leader dereference found in src/snapshot.c' unless $line;

my $node = PostgreSQL::Test::Cluster->new('lockgroup_race');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
max_worker_processes = 16
max_parallel_workers = 8
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE TABLE t WITH (autovacuum_enabled = off) AS SELECT x FROM generate_series(1, 10000) x;
	ANALYZE t;
	CREATE FUNCTION w(int) RETURNS int LANGUAGE sql PARALLEL SAFE AS
	  'SELECT pg_advisory_xact_lock_shared(42); SELECT 1;';
});

# a parallel group that stays: its workers wait on advisory lock 42
my $holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(42)');
my $par = $node->background_psql('postgres', on_error_stop => 0);
$par->query_safe(q{SET application_name = 'par'; SET parallel_setup_cost = 0;
	SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
	SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off});
$par->query_until(qr/go/, "\\echo go\nSELECT sum(w(x)) FROM t;\n");
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'parallel worker' AND wait_event_type = 'Lock'}),
	'a parallel group exists (two workers waiting)');

my $obs = $node->background_psql('postgres', on_error_stop => 0);
my $obs_pid = $obs->query_safe('SELECT pg_backend_pid()');
chomp $obs_pid;

# gdb: stop at the dereference, end the group, let the backend go on
my $bindir = $node->config_data('--bindir');
my $psql = "$bindir/psql -X -Atq -h '" . $node->host . "' -p " . $node->port . " -d postgres";
my $cmds = "${PostgreSQL::Test::Utils::tmp_check}/gdb_race.cmd";
my $gdbout = "${PostgreSQL::Test::Utils::tmp_check}/gdb_race.out";
open(my $c, '>', $cmds) or die $!;
print $c <<"GDB";
set pagination off
break snapshot.c:$line
commands 1
  shell $psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'par' AND backend_type = 'client backend'" >/dev/null
  shell for i in \$(seq 300); do n=\$($psql -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker' OR application_name = 'par'"); [ "\$n" = 0 ] && break; sleep 0.1; done; echo group-gone
  delete 1
  detach
  quit
end
continue
GDB
close $c;
my $h = IPC::Run::start([ $gdb, '-q', '-batch', '-p', $obs_pid, '-x', $cmds ],
	'>', $gdbout, '2>&1');
# wait until gdb is attached and the breakpoint is set
my $attached = 0;
for (1 .. 300)
{
	if (-s $gdbout && slurp_file($gdbout) =~ /Breakpoint 1 at/) { $attached = 1; last; }
	if (-s $gdbout && slurp_file($gdbout) =~ /ptrace|Operation not permitted|Could not attach/i)
	{
		last;
	}
	select(undef, undef, undef, 0.1);
}
if (!$attached)
{
	$h->kill_kill;
	note(slurp_file($gdbout)) if -s $gdbout;
	$obs->quit;
	$holder->quit;
	eval { $par->quit; };
	$node->stop;
	plan skip_all => 'gdb could not attach to a backend (ptrace refused)';
}

my $log_offset = -s $node->logfile;
my $out = eval { $obs->query('SELECT count(*) > 0 FROM runbook.sessions') } // '(connection lost)';
$h->finish;
my $g = slurp_file($gdbout);
like($g, qr/Breakpoint 1, .*snapshot\.c:$line/s, "the reader stopped at the leader dereference (snapshot.c:$line)");
like($g, qr/group-gone/, 'the parallel group ended while it was stopped');
is($out, 't', 'the reader went on and answered');
unlike(slurp_file($node->logfile, $log_offset), qr/terminated by signal/,
	'no backend crashed');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');

eval { $obs->quit; };
$holder->quit;
eval { $par->quit; };
$node->stop;
done_testing();
