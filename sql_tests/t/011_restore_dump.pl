# A dump made on another major version (the host's 15, by
# tools/dump-for-restore.sh, passed in by `make test-matrix` as
# PG_RUNBOOK_RESTORE_DUMP) restores here: the extension comes back at its
# current version and the users' policies and thresholds with it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dump = $ENV{PG_RUNBOOK_RESTORE_DUMP};
plan skip_all => 'no dump of another version given (make test-matrix passes one to 17 and 18)'
  unless $dump && -r $dump;
(my $expected_file = $dump) =~ s/\.custom$/.expected/;
my $expected = slurp_file($expected_file);
chomp $expected;
like($expected, qr/^policy dump_idle_app 10 \{idle\} 00:42:00 /m, 'the dump has the user policy');
like($expected, qr/^threshold lock_wait_seconds 1234 true$/m, 'the dump has the user threshold');

my $node = PostgreSQL::Test::Cluster->new('restore');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.enforce = off
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE userdb');
my ($out, $err) = ('', '');
my $ok = IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('userdb'), $dump ], '>', \$out, '2>', \$err);
ok($ok, 'pg_restore of the other version\'s dump succeeds') or diag($err);
my $rows_sql = slurp_file(($ENV{PG_RUNBOOK_ROOT} // '.') . '/sql_tests/t/restore_rows.sql');
is($node->safe_psql('userdb', $rows_sql), $expected, 'the users\' policies and thresholds come back');
is($node->safe_psql('userdb', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_runbook'}),
	$node->safe_psql('userdb', q{SELECT default_version FROM pg_available_extensions WHERE name = 'pg_runbook'}),
	'the extension is at its current version');
# the restored thresholds are the ones triage reads
is($node->safe_psql('userdb', q{SELECT runbook._threshold('lock_wait_seconds')}), '1234',
	'triage reads the restored threshold');
$node->stop;
done_testing();
