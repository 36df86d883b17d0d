# A real Prometheus (Debian package) scraping two servers through the real
# exporter, with the shipped alert rules loaded: connection exhaustion staged
# on one server fires DatabaseHighConnections for that instance only, as
# Prometheus's HTTP API reports it.
#
# The rules are the shipped file with every `for:` set to 0s (a test cannot
# wait five minutes); expressions, thresholds and labels are the shipped
# ones, and promtool's unit tests (contrib/prometheus/tests) cover `for:`.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use FleetUtil;

for my $p ('prometheus-postgres-exporter', 'prometheus', 'promtool')
{
	if (my $m = fleet_programs_missing($p))
	{
		plan skip_all => "$m is not installed (tools/deps.sh installs it on Debian 12)";
	}
}

my $rules_src = contrib_dir() . '/pg_runbook.rules.yml';
command_ok([ 'promtool', 'check', 'rules', $rules_src ], 'promtool check rules passes on the shipped rules');
{
	my $dir = contrib_dir() . '/tests';
	my ($out, $err);
	my $ok = IPC::Run::run([ 'sh', '-c', "cd '$dir' && promtool test rules pg_runbook.rules.test.yml" ], '>', \$out, '2>', \$err);
	ok($ok, 'promtool test rules passes') or diag("$out\n$err");
}

my @nodes;
for my $name ('busy', 'calm')
{
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
max_connections = 20
superuser_reserved_connections = 3
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_runbook');
	push @nodes, $node;
}
my ($busy, $calm) = @nodes;

my $dir = $busy->basedir . '/prom';
mkdir $dir;
my $rules = "$dir/rules.yml";
{
	open my $in, '<', $rules_src or die $!;
	open my $out, '>', $rules or die $!;
	while (<$in>)
	{
		s/^(\s+for:\s*).*/${1}0s/;
		print $out $_;
	}
}
my $busy_url = start_exporter($busy, 'busy');
my $calm_url = start_exporter($calm, 'calm');
(my $busy_target = $busy_url) =~ s{^http://}{};
(my $calm_target = $calm_url) =~ s{^http://}{};
my $prom = start_prometheus($dir, $rules, $busy_target, $calm_target);

sub api
{
	my ($path) = @_;
	my $c = http_get("$prom$path");
	return defined $c ? decode_json($c) : undef;
}

# Wait until Prometheus has scraped both servers.
sub poll_until
{
	my ($what, $cond) = @_;
	for (my $i = 0; $i < $PostgreSQL::Test::Utils::timeout_default * 5; $i++)
	{
		my $v = $cond->();
		return $v if $v;
		select(undef, undef, undef, 0.2);
	}
	diag("timed out waiting for $what");
	return undef;
}

ok(poll_until('two targets up', sub {
	my $r = api('/api/v1/query?query=pg_runbook_max_connections');
	return $r && @{ $r->{data}{result} } == 2;
}), 'Prometheus scrapes pg_runbook from both servers');

ok(poll_until('rules loaded', sub {
	my $r = api('/api/v1/rules');
	return $r && grep { $_->{name} eq 'DatabaseHighConnections' } map { @{ $_->{rules} } } @{ $r->{data}{groups} };
}), 'the shipped rules are loaded');

sub firing
{
	my ($alert) = @_;
	my $r = api('/api/v1/alerts') or return ();
	return map { $_->{labels}{instance} }
	  grep { $_->{labels}{alertname} eq $alert && $_->{state} eq 'firing' } @{ $r->{data}{alerts} };
}

# Quiet: nothing fires about connections.
is(join(',', firing('DatabaseHighConnections')), '', 'no connection alert while both servers are quiet');

# Exhaust the busy server: 15 of 17 usable slots idle (88 %).
my @sessions;
push @sessions, $busy->background_psql('postgres') for 1 .. 14;
$busy->poll_query_until('postgres',
	q{SELECT count(*) >= 15 FROM pg_stat_activity WHERE backend_type = 'client backend'})
  or die 'the sessions never came';

my $fired = poll_until('DatabaseHighConnections firing', sub {
	my @i = firing('DatabaseHighConnections');
	return @i ? \@i : undef;
});
ok($fired, 'DatabaseHighConnections fires');
is(join(',', @{ $fired // [] }), $busy_target, 'for the exhausted server only');
my $r = api('/api/v1/alerts');
my ($a) = grep { $_->{labels}{alertname} eq 'DatabaseHighConnections' } @{ $r->{data}{alerts} };
is($a->{labels}{severity}, 'SEV2', 'with the SEV label of connection exhaustion');
like($a->{annotations}{summary}, qr/of the usable connection slots in use on \Q$busy_target\E/, 'and its summary');

# The calm server's own series say it is calm.
$r = api('/api/v1/query?query=' . 'pg_runbook_connections_used_ratio');
my %ratio = map { $_->{metric}{instance} => $_->{value}[1] } @{ $r->{data}{result} };
cmp_ok($ratio{$busy_target}, '>=', 0.8, 'busy: used ratio at or above 0.8');
cmp_ok($ratio{$calm_target}, '<', 0.8, 'calm: used ratio below 0.8');

# The sessions end: the alert resolves.
$_->quit for @sessions;
ok(poll_until('the alert resolves', sub { !firing('DatabaseHighConnections') }),
	'the alert resolves when the sessions end');

stop_all();
$_->stop for @nodes;
done_testing();
