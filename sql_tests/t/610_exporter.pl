# The real prometheus-postgres-exporter (Debian package), with the shipped
# contrib/prometheus/postgres_exporter.yml, scraped over loopback: it serves
# pg_runbook's series under the names runbook.metrics() uses, every family
# metrics() has, and they show a staged lock queue and connection spike.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FleetUtil;

if (my $m = fleet_programs_missing('prometheus-postgres-exporter'))
{
	plan skip_all => "$m is not installed (tools/deps.sh installs it on Debian 12)";
}

my $node = PostgreSQL::Test::Cluster->new('exporter');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
max_connections = 30
superuser_reserved_connections = 3
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE TABLE t (id int PRIMARY KEY, v int);
	INSERT INTO t VALUES (1, 0);
});

my $url = start_exporter($node, 'a');

# Samples of one series in the exposition text, by name and label subset.
sub sample
{
	my ($text, $name, %labels) = @_;
	for my $line (split /\n/, $text)
	{
		next unless $line =~ /^\Q$name\E(?:\{([^}]*)\})? (\S+)$/;
		my ($l, $v) = ($1 // '', $2);
		my %have = $l =~ /(\w+)="((?:[^"\\]|\\.)*)"/g;
		next if grep { ($have{$_} // '') ne $labels{$_} } keys %labels;
		return $v;
	}
	return undef;
}

my $m = http_get("$url/metrics");
ok(defined $m, 'the exporter answers');
is(sample($m, 'pg_runbook_max_connections'), '30', 'max_connections through the exporter');
is(sample($m, 'pg_runbook_lock_waiters'), '0', 'no lock waiter yet');
is(sample($m, 'pg_runbook_check_up', check => 'slow_queries'), '0',
	'no pg_stat_statements: its check is down');
is(sample($m, 'pg_runbook_slow_query_mean_seconds'), undef, '... and its series absent, not 0');

# Every family metrics() samples now is served by the exporter too (the one
# documented exception: pg_runbook_actions).
my $direct = $node->safe_psql('postgres', 'SELECT runbook.metrics()');
my %fam_direct = map { /^([a-z_]+)/ ? ($1 => 1) : () } grep { !/^#/ && /\S/ } split /\n/, $direct;
delete $fam_direct{pg_runbook_actions};
cmp_ok(scalar(keys %fam_direct), '>', 25, 'metrics() has its families');
my %fam_exp = map { /^(pg_runbook_[a-z_]+)/ ? ($1 => 1) : () } grep { !/^#/ } split /\n/, $m;
my @missing = grep { !$fam_exp{$_} } sort keys %fam_direct;
is("@missing", '', 'the exporter serves every family metrics() samples');

# A lock queue: a holder idle in transaction, two waiters.
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('UPDATE t SET v = 1 WHERE id = 1');
my @waiters;
for my $i (1 .. 2)
{
	my $w = $node->background_psql('postgres');
	$w->query_until(qr/started/, "\\echo started\nUPDATE t SET v = v + 1 WHERE id = 1;\n");
	push @waiters, $w;
}
$node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM pg_stat_activity WHERE wait_event_type = 'Lock'})
  or die 'the waiters never waited';
$m = http_get("$url/metrics");
is(sample($m, 'pg_runbook_lock_waiters'), '2', 'the exporter shows the two lock waiters');
cmp_ok(sample($m, 'pg_runbook_lock_wait_max_seconds'), '>', 0, 'and how long the first has waited');
is(sample($m, 'pg_runbook_connections', state => 'idle_in_transaction'), '1', 'and the idle-in-transaction holder');

$holder->query_safe('ROLLBACK');
$_->quit for @waiters;
$holder->quit;
$node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'})
  or die 'the queue never cleared';

# A connection spike: 20 idle sessions of 27 usable slots.
my @idle;
push @idle, $node->background_psql('postgres') for 1 .. 20;
$node->poll_query_until('postgres',
	q{SELECT count(*) >= 20 FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'idle'})
  or die 'the sessions never came';
$m = http_get("$url/metrics");
cmp_ok(sample($m, 'pg_runbook_connections', state => 'idle'), '>=', 20, 'the spike: idle sessions');
cmp_ok(sample($m, 'pg_runbook_connections_used_ratio'), '>=', 20 / 27, 'the spike: used ratio of the usable slots');
cmp_ok(sample($m, 'pg_runbook_database_connections', datname => 'postgres'), '>=', 21,
	'the spike: connections of database postgres');
is(sample($m, 'pg_runbook_alert_firing', alert => 'DatabaseHighConnections'), '1',
	'the in-server DatabaseHighConnections alert fires');
$_->quit for @idle;

stop_all();
$node->stop;
done_testing();
