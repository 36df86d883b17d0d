# The session filters of kill_idle and cancel_long against real sessions:
# two roles (one a member of a group role), two databases, a TCP client
# from 127.0.0.1 and unix-socket clients.  Each filter, alone and combined,
# must select exactly the expected sessions in a dry run; sessions it does
# not select are not listed at all.  (Bad filter values: 200_remedy.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('filters');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pg_runbook'\nlisten_addresses = '127.0.0.1'");
$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE grp NOLOGIN;
	CREATE ROLE app1 LOGIN IN ROLE grp;
	CREATE ROLE app2 LOGIN;
	CREATE DATABASE db2;
});

my (%pid, %sess);

# name => [role, database, tcp?]; application_name is "flt_<name>"
my %spec = (
	a1_pg => [ 'app1', 'postgres', 0 ],
	a2_pg => [ 'app2', 'postgres', 0 ],
	a1_db2 => [ 'app1', 'db2', 0 ],
	a2_db2 => [ 'app2', 'db2', 0 ],
	a1_tcp => [ 'app1', 'postgres', 1 ],
	a2_tcp_db2 => [ 'app2', 'db2', 1 ],);

foreach my $name (sort keys %spec)
{
	my ($role, $db, $tcp) = @{ $spec{$name} };
	# the node's connection string names its socket directory; for a TCP
	# client it names 127.0.0.1 instead (listen_addresses above)
	local $node->{_host} = $tcp ? '127.0.0.1' : $node->{_host};
	my $s = $node->background_psql($db, on_error_stop => 0, extra_params => [ '-U', $role ]);
	$s->query_safe("SET application_name = 'flt_$name'");
	my $p = $s->query_safe('SELECT pg_backend_pid()');
	chomp $p;
	$pid{$name} = $p;
	$sess{$name} = $s;
}

# the scenario formed: six sessions, the TCP ones from 127.0.0.1, the others
# on the unix socket (no client address)
is( $node->safe_psql('postgres', q{
		SELECT string_agg(application_name || ':' || usename || ':' || datname || ':'
		                  || coalesce(host(client_addr), 'unix'), ' ' ORDER BY application_name)
		  FROM pg_stat_activity WHERE application_name LIKE 'flt\_%'}),
	'flt_a1_db2:app1:db2:unix flt_a1_pg:app1:postgres:unix flt_a1_tcp:app1:postgres:127.0.0.1 '
	  . 'flt_a2_db2:app2:db2:unix flt_a2_pg:app2:postgres:unix flt_a2_tcp_db2:app2:db2:127.0.0.1',
	'six sessions: two roles, two databases, TCP and unix socket');

# The sessions (by name) a call lists, with their outcome: "name:outcome".
# Only this test's sessions (application flt_*) count: the caller and the
# background processes are not part of the scenario.
sub selected
{
	my ($call) = @_;
	my %name_of = reverse %pid;
	my $out = $node->safe_psql('postgres',
		"SELECT pid || ':' || outcome FROM $call WHERE application_name LIKE 'flt\\_%'");
	my @r;
	foreach my $line (split /\n/, $out)
	{
		my ($p, $outcome) = split /:/, $line;
		push @r, ($name_of{$p} // "unknown_$p") . ":$outcome";
	}
	return join(' ', sort @r);
}

sub names
{
	return join(' ', map { "$_:dry_run" } sort @_);
}

# idle sessions: wait until all six are idle
$node->poll_query_until('postgres', q{
	SELECT count(*) = 6 FROM pg_stat_activity WHERE application_name LIKE 'flt\_%' AND state = 'idle'})
  or die 'sessions not idle';

my @all = sort keys %spec;
my %cases = (
	'' => [@all],
	"role_name => 'app1'" => [qw(a1_pg a1_db2 a1_tcp)],
	"role_name => 'app2'" => [qw(a2_pg a2_db2 a2_tcp_db2)],
	"role_name => 'grp'" => [qw(a1_pg a1_db2 a1_tcp)],
	"database_name => 'postgres'" => [qw(a1_pg a2_pg a1_tcp)],
	"database_name => 'db2'" => [qw(a1_db2 a2_db2 a2_tcp_db2)],
	"client_network => '127.0.0.0/8'" => [qw(a1_tcp a2_tcp_db2)],
	"client_network => '127.0.0.1/32'" => [qw(a1_tcp a2_tcp_db2)],
	"client_network => '10.0.0.0/8'" => [],
	"client_network => '::1/128'" => [],
	"application_pattern => 'flt\\_a1\\_%'" => [qw(a1_pg a1_db2 a1_tcp)],
	"application_pattern => '%db2'" => [qw(a1_db2 a2_db2 a2_tcp_db2)],
	"role_name => 'app2', database_name => 'db2'" => [qw(a2_db2 a2_tcp_db2)],
	"role_name => 'app2', database_name => 'db2', client_network => '127.0.0.1/32'" => [qw(a2_tcp_db2)],
	"database_name => 'postgres', client_network => '127.0.0.0/8', application_pattern => 'flt\\_a1%'" =>
	  [qw(a1_tcp)],
	"role_name => 'app1', application_pattern => 'flt\\_a2%'" => [],);

foreach my $f (sort keys %cases)
{
	my $args = $f eq '' ? '' : ", $f";
	is(selected("runbook.kill_idle('0', true$args)"),
		names(@{ $cases{$f} }), "kill_idle dry run, filter ($f)");
}

# the same filters in cancel_long: make the six sessions run a statement
foreach my $name (@all)
{
	$sess{$name}->{stdin} .= "SELECT pg_sleep(3600);\n";
	$sess{$name}->{run}->pump_nb();
}
$node->poll_query_until('postgres', q{
	SELECT count(*) = 6 FROM pg_stat_activity
	 WHERE application_name LIKE 'flt\_%' AND state = 'active' AND query LIKE 'SELECT pg_sleep%'})
  or die 'sessions not active';

# an idle filter now finds none of them; cancel_long finds exactly the same
foreach my $f (sort keys %cases)
{
	my $args = $f eq '' ? '' : ", $f";
	is(selected("runbook.cancel_long('0', true$args)"),
		names(@{ $cases{$f} }), "cancel_long dry run, filter ($f)");
}
is(selected("runbook.kill_idle('0', true)"), '', 'kill_idle lists no active session');

# the dry runs left every session running
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity
		 WHERE application_name LIKE 'flt\_%' AND state = 'active'}),
	'6', 'dry runs signalled nobody');

$node->safe_psql('postgres',
	q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'flt\_%'});
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'flt\_%'});
foreach my $name (@all)
{
	eval { $sess{$name}->quit; };
}
$node->stop;
done_testing();
