# The disk guard against a temporary tablespace that fills up.
#
# temp_tablespaces points at a tablespace on a small tmpfs (mounted by
# tools/guard-fixtures.sh as root for the run, owned by the server's user,
# unmounted after it), and a sort with a tiny work_mem spills past the
# filesystem's size.
#
# Without the guard the failure is real: the sort fails with "No space left
# on device" (53100).  With the starter policy starter_disk_guard enabled as
# shipped (95 % used, 16 MB of temporary files or more): the sort is
# cancelled (57014) before the filesystem is full (the audit's figure is
# below 100 %, nothing in the log says "No space left"), the action is
# audited with the filesystem's figure, and a second session sorting into
# the same tablespace all along keeps working.  host() and
# backend_resources() are cross-checked with df(1) and pg_ls_tmpdir().
#
# Needs root for the mount (tools/run-tests.sh makes it when it runs as
# root); otherwise the test says why it skips.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IPC::Run;

my $fs = $ENV{PG_RUNBOOK_TEST_TMPFS} // '';
plan skip_all => 'no tmpfs: '
  . ($ENV{PG_RUNBOOK_TEST_TMPFS_SKIP} // 'tools/run-tests.sh mounts one when run as root')
  unless $fs ne '' && -d $fs && -w $fs;

my $node = PostgreSQL::Test::Cluster->new('disk_guard');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_runbook'
pg_runbook.database = 'postgres'
pg_runbook.naptime = '1h'
log_temp_files = 0
});
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

my $ts = "$fs/ts_" . $$;
mkdir $ts or die "mkdir $ts: $!";
sql(q{CREATE EXTENSION pg_runbook; CREATE ROLE app LOGIN;});
sql("CREATE TABLESPACE tmpts LOCATION '$ts'");
sql(q{GRANT CREATE ON TABLESPACE tmpts TO app; ALTER ROLE app SET temp_tablespaces = 'tmpts';
      ALTER ROLE app SET work_mem = '1MB';});

# host(): the tablespace's filesystem, as df sees it
my ($size, $mount, $temp) = split /\|/, sql(
	q{SET temp_tablespaces = tmpts;
	  SELECT size_bytes, mount_point, temp FROM runbook.host() WHERE tablespace = 'tmpts'});
my @df = split ' ', (split /\n/, `df -B1 --output=size,target '$ts'`)[1];
is($size, $df[0], "host(): the tablespace's filesystem size is df's ($df[0] bytes)");
is($mount, $df[1], "host(): its mount point is df's ($df[1])");
is($temp, 't', 'host(): the tablespace holds the temporary files of a session that SET temp_tablespaces to it');
ok($size < 1024 * 1024 * 1024, 'the filesystem is small');

# triage(): a filesystem 96 % full (a file of the test fills it) is a SEV1
# finding that says what it holds
my $avail = (split ' ', (split /\n/, `df -B1 --output=avail '$ts'`)[1])[0];
my $fill = $avail - int($size * 0.04);
open my $fh, '>', "$fs/filler" or die $!;
my $chunk = 'x' x (1024 * 1024);
print $fh substr($chunk, 0, 1024 * 1024) for 1 .. int($fill / (1024 * 1024));
close $fh;
my ($sev, $finding, $rsql) = split /\|/, sql(q{SELECT severity, finding, remedy_sql FROM runbook.triage()
	WHERE check_name = 'disk' AND finding LIKE '%tablespace tmpts%'});
is($sev, 'SEV1', 'triage(): the filesystem of the tablespace, 96 % full, is SEV1');
like($finding, qr{^filesystem \Q$df[1]\E 9[5-9]\.\d% used \(\d+ \w+ free of 128 MB\), holding tablespace tmpts$},
	'... the finding names the filesystem and what it holds');
is($rsql, 'SELECT * FROM runbook.disk_usage();', '... no temporary files there: the remedy looks for what grows');
unlink "$fs/filler";

# a sort that spills past the filesystem's size, and a paced one
my $rows = int($size / 40);    # ~100 bytes a row, written and merged
my $sort = "SELECT md5(g::text) || md5(g::text) || md5(g::text) FROM generate_series(1, $rows) g ORDER BY 1 OFFSET $rows";
my $paced = "SELECT md5(g::text) || md5(g::text) || md5(g::text) FROM generate_series(1, $rows) g
	WHERE g % 1000 <> 0 OR pg_sleep(0.004) IS NOT NULL ORDER BY 1 OFFSET $rows";
# a second session's small sort into the same tablespace (~3 MB spilled)
my $small = q{SELECT count(*) FROM (SELECT md5(g::text) FROM generate_series(1, 100000) g ORDER BY 1 OFFSET 0) s};

# ---------------------------------------------------------------------
# without the guard: the filesystem fills up
my $off = -s $node->logfile;
my ($rc, $out, $err) = $node->psql('postgres', $sort, extra_params => [ '-U', 'app' ]);
isnt($rc, 0, 'without the guard the sort fails');
like($err, qr/could not write to file ".*pgsql_tmp.*": No space left on device/,
	'... the filesystem is full: No space left on device');

# ---------------------------------------------------------------------
# backend_resources(): the temporary files of an idle session (a cursor
# WITH HOLD, materialized at commit and spilled; a file that outlives its
# transaction goes to the database's default tablespace, whatever
# temp_tablespaces says) are exactly what pg_ls_tmpdir() lists, to the byte
my $holder = $node->background_psql('postgres', on_error_stop => 1,
	extra_params => [ '-U', 'app' ]);
$holder->query_safe(q{BEGIN; DECLARE c CURSOR WITH HOLD FOR
	SELECT md5(g::text) FROM generate_series(1, 300000) g; COMMIT;});
my $hpid = $holder->query_safe('SELECT pg_backend_pid()');
my $spcoid = sql(q{SELECT oid FROM pg_tablespace WHERE spcname = 'tmpts'});
my ($lsbytes, $lsfiles) = split /\|/, sql(qq{SELECT sum(size), count(*) FROM pg_ls_tmpdir()
	WHERE name LIKE 'pgsql_tmp$hpid.%'});
ok($lsbytes > 1000000, "the held cursor spilled to base/pgsql_tmp ($lsbytes bytes in $lsfiles files)");
is(sql(qq{SELECT temp_bytes || ' ' || temp_files || ' ' || state FROM runbook.backend_resources() WHERE pid = $hpid}),
	"$lsbytes $lsfiles idle", 'backend_resources(): its temporary bytes and files are pg_ls_tmpdir()\'s');
is(sql(q{SELECT temp_file_bytes FROM runbook.host() WHERE name = 'data directory'}), $lsbytes,
	'host(): the temporary bytes of the data directory too');
$holder->quit;

# ---------------------------------------------------------------------
# with the starter disk guard, as shipped
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM pg_ls_tmpdir($spcoid)}),
	'the temporary files are gone');
sql(q{UPDATE runbook.policies SET enabled = true WHERE name = 'starter_disk_guard'});
is(sql(q{SELECT min_disk_used_pct || ' ' || min_temp_file_bytes || ' ' || action
	FROM runbook.policies WHERE name = 'starter_disk_guard'}),
	'95 16777216 cancel_then_terminate', 'starter_disk_guard as shipped');
ok($node->poll_query_until('postgres', 'SELECT policies = 1 FROM runbook.worker_status()'),
	'the worker enforces the guard');

my $bystander = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'app' ]);
my $bpid = $bystander->query_safe('SELECT pg_backend_pid()');
$off = -s $node->logfile;
my ($bs, $bs_in, $bs_out) = ('', '', '');
my $big = IPC::Run::start([ 'psql', '-X', '-q', '-U', 'app', '-h', $node->host, '-p', $node->port,
		'-d', 'postgres', '-c', $paced ], '<', \$bs_in, '>', \$bs_out, '2>', \$bs);
# the second session sorts into the same tablespace all along
my ($runs, $failed) = (0, 0);
while ($big->pumpable)
{
	my $r = $bystander->query($small);
	$runs++;
	$failed++ unless defined $r && $r eq '100000';
	$big->pump_nb;
	usleep(50_000);
}
$big->finish;
like($bs, qr/canceling statement due to user request/, 'with the guard the sort is cancelled');
ok($runs >= 3 && $failed == 0, "the second session's sorts into the same tablespace kept working ($runs runs, $failed failed)");
is($bystander->query_safe('SELECT pg_backend_pid()'), $bpid, '... on the same connection');
$bystander->quit;
my $log = slurp_file($node->logfile, $off);
unlike($log, qr/No space left on device/, 'the filesystem never filled up (no "No space left" in the log)');

sql('SELECT pg_reload_conf()');    # a cycle flushes the audit ring
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM runbook.actions WHERE actor = 'policy:starter_disk_guard'}),
	'the cancel is in runbook.actions');
my ($act, $detail) = split /\|/, sql(
	q{SELECT action || ' ' || outcome || ' ' || usename, detail FROM runbook.actions
	   WHERE actor = 'policy:starter_disk_guard'});
is($act, 'cancel cancelled app', 'audited: the sort of role app cancelled');
like($detail,
	qr/^filesystem of tablespace tmpts (\d+\.\d)% used \(\d+ \w+ free\) >= 95%, temporary files (\d+) MB there >= 16 MB$/,
	'the audit detail has the filesystem, its use and the temporary bytes');
if ($detail =~ / (\d+\.\d)% used/)
{
	ok($1 >= 95 && $1 < 100, "filesystem use at the cancel: $1 % (at the mark, not full)");
}
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM pg_ls_tmpdir($spcoid)}),
	'the cancelled sort\'s temporary files are gone');

$node->stop('fast');
done_testing();
