# Live activity against real sessions: idle, idle in transaction, aborted,
# active.  Each function must report exactly them, with the right states and
# ages, and runbook.sessions must agree with pg_stat_activity for every pid.
# A second node without preload shows the diagnostics work there too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('activity');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_runbook'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_runbook');

my (%want, @sessions);

sub open_session
{
	my ($app, $kind) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe("SET application_name = '$app'");
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
	if ($kind eq 'idle in transaction')
	{
		$s->query_safe('BEGIN');
		$s->query_safe('SELECT txid_current()');
	}
	elsif ($kind eq 'idle in transaction (aborted)')
	{
		$s->query_safe('BEGIN');
		$s->query('SELECT 1/0');
	}
	elsif ($kind eq 'active')
	{
		$s->query_until(qr/started/, "\\echo started\nSELECT pg_sleep(600);\n");
	}
	$want{$pid} = $kind;
	push @sessions, $s;
	return $pid;
}

open_session("tap_idle_$_", 'idle') for 1 .. 3;
open_session("tap_iit_$_", 'idle in transaction') for 1 .. 2;
open_session('tap_aborted', 'idle in transaction (aborted)');
open_session("tap_active_$_", 'active') for 1 .. 2;

# wait until both active sessions are really running pg_sleep
$node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%' AND state = 'active'")
  or die 'active sessions did not start';
sleep 2;

my @idle_pids = sort { $a <=> $b } grep { $want{$_} ne 'active' } keys %want;
my @active_pids = sort { $a <=> $b } grep { $want{$_} eq 'active' } keys %want;

# idle_sessions('1s'): exactly the idle, idle-in-transaction and aborted ones
my $rows = $node->safe_psql('postgres',
	"SELECT pid, state, state_age >= '1s' AND state_age < '1 min', "
	  . "xact_age IS NOT NULL, application_name FROM runbook.idle_sessions('1s') "
	  . "WHERE application_name LIKE 'tap_%' ORDER BY pid");
my @got = map { [ split /\|/ ] } split /\n/, $rows;
is_deeply([ map { $_->[0] } @got ], \@idle_pids, 'idle_sessions lists exactly the idle sessions');
for my $r (@got)
{
	is($r->[1], $want{ $r->[0] }, "state of $r->[4] is $want{$r->[0]}");
	is($r->[2], 't', "state_age of $r->[4] is between 1 s and 1 min");
	is($r->[3], $want{ $r->[0] } eq 'idle in transaction' ? 't' : 'f', "xact_age of $r->[4] is set only in a live transaction");
}

# ordering: longest idle first
my $ordered = $node->safe_psql('postgres',
	"SELECT bool_and(ordered) FROM (SELECT state_age >= lead(state_age) OVER () AS ordered "
	  . "FROM runbook.idle_sessions('0')) q WHERE ordered IS NOT NULL");
is($ordered, 't', 'idle_sessions is ordered by state age, oldest first');

# long_running('1s'): exactly the two pg_sleep sessions
$rows = $node->safe_psql('postgres',
	"SELECT pid FROM runbook.long_running('1s') WHERE application_name LIKE 'tap_%' ORDER BY pid");
is_deeply([ split /\n/, $rows ], \@active_pids, 'long_running lists exactly the active sessions');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM runbook.long_running('1s') WHERE query <> 'SELECT pg_sleep(600);'"),
	'0', 'long_running shows the running statement');
is($node->safe_psql('postgres', "SELECT count(*) FROM runbook.long_running('1 hour')"),
	'0', 'long_running with a high threshold is empty');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM runbook.idle_sessions('1 hour') WHERE application_name LIKE 'tap_%'"),
	'0', 'idle_sessions with a high threshold is empty');

# runbook.sessions against pg_stat_activity, pid by pid, in one statement
my $cols = 'backend_type, usename, datname, application_name, client_addr, '
  . 'client_port, backend_start, backend_xid, backend_xmin, leader_pid';
my $stable = 'state, xact_start, query_start, state_change, query';
my $diff = $node->safe_psql('postgres', qq{
	WITH r AS (SELECT pid, $cols, $stable FROM runbook.sessions WHERE pid <> pg_backend_pid()),
	     a AS (SELECT pid, $cols, $stable FROM pg_stat_activity WHERE pid <> pg_backend_pid())
	SELECT 'only in runbook: ' || pid FROM (SELECT pid FROM r EXCEPT SELECT pid FROM a) x
	UNION ALL
	SELECT 'only in pg_stat_activity: ' || pid FROM (SELECT pid FROM a EXCEPT SELECT pid FROM r) y
	UNION ALL
	SELECT 'differs: ' || r.pid FROM r JOIN a USING (pid)
	 WHERE (r.backend_type, r.usename, r.datname, r.application_name, r.client_addr,
	        r.client_port, r.backend_start, r.backend_xid::text, r.backend_xmin::text, r.leader_pid)
	       IS DISTINCT FROM
	       (a.backend_type, a.usename, a.datname, a.application_name, a.client_addr,
	        a.client_port, a.backend_start, a.backend_xid::text, a.backend_xmin::text, a.leader_pid)
	    OR (r.application_name LIKE 'tap_%' AND
	        (r.state, r.xact_start, r.query_start, r.state_change, r.query)
	        IS DISTINCT FROM (a.state, a.xact_start, a.query_start, a.state_change, a.query))
});
is($diff, '', 'runbook.sessions agrees with pg_stat_activity for every pid');

# the idle-in-transaction sessions hold an xid: xid_age is reported
is($node->safe_psql('postgres',
		"SELECT count(*) FROM runbook.sessions WHERE application_name LIKE 'tap_iit_%' "
		  . "AND backend_xid IS NOT NULL AND xid_age >= 0"),
	'2', 'xid and xid_age of sessions holding a transaction id');

# connections(): our 8 sessions plus the one asking are in use
my $c = $node->safe_psql('postgres',
	"SELECT in_use, active, idle, idle_in_transaction, idle_in_transaction_aborted FROM runbook.connections()");
is($c, '9|3|3|2|1', 'connections() counts sessions by state');

# connection_sources groups them
is($node->safe_psql('postgres',
		"SELECT sum(connections) FROM runbook.connection_sources WHERE application_name LIKE 'tap_idle_%' AND state = 'idle'"),
	'3', 'connection_sources counts the idle sessions');

$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'tap_active_%'");
$_->quit for @sessions;
$node->stop;

# Without preload: the diagnostics work; the GUCs still exist.
my $plain = PostgreSQL::Test::Cluster->new('no_preload');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION pg_runbook');
is($plain->safe_psql('postgres',
		'SELECT count(*) > 0 FROM runbook.sessions WHERE pid = pg_backend_pid()'),
	't', 'runbook.sessions works without shared_preload_libraries');
is($plain->safe_psql('postgres', 'SELECT in_use >= 1 FROM runbook.connections()'),
	't', 'connections() works without shared_preload_libraries');
$plain->stop;

done_testing();
