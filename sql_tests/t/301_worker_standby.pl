# The worker on a streaming standby: it ends an idle session per policy
# (policies replicate from the primary), audits to the shared-memory ring
# only; after promotion it goes on without a restart and also writes
# runbook.actions.  Walsenders are never touched on the primary.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.database = 'postgres'
pg_runbook.naptime = '500ms'
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE rb_app LOGIN;
	-- a policy with no role filter and no backend-type exemption of its own
	-- that matches the walsender's state ('active' while it streams): the
	-- walsender must still never be touched
	INSERT INTO runbook.policies (name, states, min_state_age, action)
	VALUES ('idle_1s', '{idle}', '1 s', 'terminate');
	INSERT INTO runbook.policies (name, states, min_state_age, action)
	VALUES ('active_5s', '{active}', '5 s', 'terminate');
});
$primary->backup('b1');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->append_conf('postgresql.conf', "pg_runbook.act_on_standby = on\n");
$standby->start;
$primary->wait_for_catchup($standby, 'replay');

# the walsender on the primary is 'active' past the 5 s threshold of an
# all-roles policy, and the worker has run cycles since: never ended
my $walsender = $primary->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'walsender'");
ok($primary->poll_query_until('postgres', qq{SELECT state = 'active' AND state_change < now() - interval '6 s'
	FROM pg_stat_activity WHERE pid = $walsender}),
	'the walsender is active past the policy threshold');
my $c0 = $primary->safe_psql('postgres', 'SELECT cycles FROM runbook.worker_status()');
ok($primary->poll_query_until('postgres', "SELECT cycles >= $c0 + 3 FROM runbook.worker_status()"),
	'the worker ran three more cycles');
is($primary->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $walsender"),
	'1', 'walsender untouched by an all-roles policy matching its state');
is($primary->safe_psql('postgres',
		"SELECT count(*) FROM runbook.recent_actions() WHERE pid = $walsender"),
	'0', 'and not even considered (no skip recorded)');

ok($standby->poll_query_until('postgres', 'SELECT running FROM runbook.worker_status()'),
	'worker runs on the standby');

sub idle_session
{
	my ($node, $app) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', 'rb_app' ]);
	$s->query_safe("SET application_name = '$app'");
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
	return ($s, $pid);
}

my ($s1, $pid1) = idle_session($standby, 'standby-idle');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid1"),
	'standby worker ended the idle session');
is($standby->safe_psql('postgres',
		"SELECT outcome || '/' || actor FROM runbook.recent_actions() WHERE pid = $pid1"),
	'terminated/policy:idle_1s', 'action in recent_actions() on the standby');
is($standby->safe_psql('postgres', "SELECT count(*) FROM runbook.actions WHERE pid = $pid1"),
	'0', 'no table write on the standby');

# promote, as a failover manager would
my $wpid = $standby->safe_psql('postgres', 'SELECT pid FROM runbook.worker_status()');
$standby->safe_psql('postgres', 'SELECT pg_promote()');
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()');
my ($s2, $pid2) = idle_session($standby, 'promoted-idle');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid2"),
	'promoted node: worker still acts');
is($standby->safe_psql('postgres', 'SELECT pid FROM runbook.worker_status()'),
	$wpid, 'same worker process, no restart');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM runbook.actions WHERE pid = $pid2 AND outcome = 'terminated'"),
	'after promotion the action is also written to runbook.actions');

$standby->stop;
$primary->stop;
done_testing();
