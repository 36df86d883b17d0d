# runbook.sizes opens a TOAST table's relcache entry (to find its index)
# only while it holds a lock on that TOAST table (issue 12: the assertion in
# try_relation_open on an assert-enabled server).  A release build does not
# check it, so gdb stops the reading backend on entry to try_relation_open()
# for the TOAST table, and pg_locks, read from another session at that
# moment, must show the reader's AccessShareLock on it.  Before the fix the
# TOAST table was opened with NoLock on the strength of the owning table's
# lock, and pg_locks showed none.  Skipped where gdb is missing or may not
# attach (ptrace refused).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $gdb = `command -v gdb 2>/dev/null`;
chomp $gdb;
plan skip_all => 'gdb is not installed' unless $gdb;
plan skip_all => 'x86_64 only (the first argument is read from %rdi)'
  unless `uname -m` =~ /x86_64/;

my $node = PostgreSQL::Test::Cluster->new('sizes_toast');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_runbook'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE TABLE docs (id int PRIMARY KEY, body text);
	INSERT INTO docs SELECT g, repeat(md5(g::text), 500) FROM generate_series(1, 20) g;
});
my $toast = $node->safe_psql('postgres',
	q{SELECT reltoastrelid FROM pg_class WHERE oid = 'docs'::regclass});
ok($toast > 0, "docs has a TOAST table ($toast)");

my $obs = $node->background_psql('postgres', on_error_stop => 0);
my $obs_pid = $obs->query_safe('SELECT pg_backend_pid()');
chomp $obs_pid;

my $bindir = $node->config_data('--bindir');
my $psql = "$bindir/psql -X -Atq -h '" . $node->host . "' -p " . $node->port . " -d postgres";
my $cmds = "${PostgreSQL::Test::Utils::tmp_check}/gdb_toast.cmd";
my $gdbout = "${PostgreSQL::Test::Utils::tmp_check}/gdb_toast.out";
my $locks = "${PostgreSQL::Test::Utils::tmp_check}/gdb_toast.locks";
unlink $locks;
open(my $c, '>', $cmds) or die $!;
print $c <<"GDB";
set pagination off
break try_relation_open if \$rdi == $toast
commands 1
  shell $psql -c "SELECT coalesce(string_agg(mode || ':' || granted, ','), 'none') FROM pg_locks WHERE pid = $obs_pid AND locktype = 'relation' AND relation = $toast" > $locks
  delete 1
  detach
  quit
end
continue
GDB
close $c;
my $h = IPC::Run::start([ $gdb, '-q', '-batch', '-p', $obs_pid, '-x', $cmds ],
	'>', $gdbout, '2>&1');
my $attached = 0;
for (1 .. 300)
{
	if (-s $gdbout && slurp_file($gdbout) =~ /Breakpoint 1 at/) { $attached = 1; last; }
	last if -s $gdbout && slurp_file($gdbout) =~ /ptrace|Operation not permitted|Could not attach/i;
	select(undef, undef, undef, 0.1);
}
if (!$attached)
{
	$h->kill_kill;
	note(slurp_file($gdbout)) if -s $gdbout;
	$obs->quit;
	$node->stop;
	plan skip_all => 'gdb could not attach to a backend (ptrace refused)';
}

my $out = eval { $obs->query(q{SELECT toast_bytes > 0 FROM runbook.sizes WHERE relation = 'docs'::regclass}) }
  // '(connection lost)';
$h->finish;
like(slurp_file($gdbout), qr/Breakpoint 1, .*try_relation_open/s,
	'the reader stopped on entry to try_relation_open() of the TOAST table');
is(-e $locks ? slurp_file($locks) =~ s/\s+$//r : '(not read)', 'AccessShareLock:true',
	'at that moment the reader holds AccessShareLock on the TOAST table');
is($out, 't', 'sizes reports the TOAST bytes');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks WHERE relation = }
		  . $toast), '0', 'and the lock is released after the relation was measured');

$obs->quit;
$node->stop;
done_testing();
