# Remediation on a standby: kill_idle works there, the audit goes to the
# standby's shared-memory ring and log (no table can be written), and the
# primary's runbook.actions is unaffected.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('remedy_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_runbook'");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pg_runbook; CREATE ROLE app LOGIN');
$primary->backup('bk');

my $standby = PostgreSQL::Test::Cluster->new('remedy_standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');

my $s = $standby->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'app' ]);
$s->query_safe("SET application_name = 'tap_standby_idle'");
my $pid = $s->query_safe('SELECT pg_backend_pid()');
chomp $pid;

my $log_offset = -s $standby->logfile;
is($standby->safe_psql('postgres',
		"SELECT outcome FROM runbook.kill_idle('0', dry_run => false, application_pattern => 'tap\\_standby%')"),
	'terminated', 'kill_idle ends an idle session on a standby');
ok($standby->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'the session is gone');
is($standby->safe_psql('postgres',
		"SELECT actor || ':' || outcome || ':' || in_table FROM runbook.recent_actions() WHERE pid = $pid"),
	'kill_idle:terminated:false', 'the standby ring has the action (not in a table: read-only)');
like(slurp_file($standby->logfile, $log_offset), qr/pg_runbook audit: seq=1 actor="kill_idle" .* outcome=terminated .* pid=$pid /,
	'and the standby log has the LOG line');
is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_runbook audit writer'"),
	'0', 'no audit writer is started on a standby');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM runbook.actions'), '0',
	'the primary table is untouched');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM runbook.recent_actions()'), '0',
	'and so is the primary ring (rings are per server)');

eval { $s->quit; };
$standby->stop;
$primary->stop;
done_testing();
