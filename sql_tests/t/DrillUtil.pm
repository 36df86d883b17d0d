# Helpers of the incident drills (sql_tests/t/9[1-9]x_drills_*.pl): a server
# set up as a DBA would run one (pg_runbook and pg_stat_statements preloaded,
# the server log collected), sessions with an application name, triage()'s
# rows as Perl data, and the remedy text run as printed (through psql's
# standard input, as a paste).  Not a test itself.
package DrillUtil;

use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use Exporter 'import';

our @EXPORT = qw(drill_node session sq send_async triage live_rows top_live
  offered_pids run_printed poll threshold burn_xids finding_of nothing_innocent
  no_sev2_for wait_lock_waiters end_sessions record_top);

# A server for drills: $extra is appended to postgresql.conf.
sub drill_node
{
	my ($name, $extra, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%opt);
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook, pg_stat_statements'
pg_runbook.naptime = '60s'
max_prepared_transactions = 10
track_activity_query_size = 2048
logging_collector = on
log_directory = 'log'
log_filename = 'postgresql-%Y%m%d.log'
lc_messages = 'C'
fsync = on
} . ($extra // ''));
	$node->start;
	# the applications connect as role app (no superuser: what a DBA sees
	# at 3 a.m.), which owns the tables they use
	$node->safe_psql('postgres', q{
		CREATE EXTENSION pg_runbook;
		CREATE EXTENSION pg_stat_statements;
		CREATE EXTENSION pgstattuple;
		CREATE ROLE app LOGIN;
		GRANT CREATE ON SCHEMA public TO app;
	});
	return $node;
}

# A session of application $app (a background psql) as role app (or
# $ENV{PGUSER} when set); ->{pid} is its pid.
sub session
{
	my ($node, $app, $db) = @_;
	local $ENV{PGAPPNAME} = $app;
	local $ENV{PGUSER} = $ENV{PGUSER} // 'app';
	my $psql = $node->background_psql($db // 'postgres', on_error_stop => 0);
	my $pid = $psql->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
	return { psql => $psql, pid => $pid, app => $app };
}

# A query in a session, its output chomped.
sub sq
{
	my ($s, $sql) = @_;
	my $r = $s->{psql}->query_safe($sql);
	chomp $r;
	return $r;
}

# Send a statement that will block or run for long; returns at once.
sub send_async
{
	my ($s, $sql) = @_;
	$s->{psql}->query_until(qr/sent/, "\\echo sent\n$sql\n");
}

# triage()'s rows, in order, as hashes (evidence decoded).
sub triage
{
	my ($node, $db) = @_;
	my $j = $node->safe_psql($db // 'postgres',
		q{SELECT coalesce(json_agg(to_jsonb(t) ORDER BY t.ordinality), '[]') FROM runbook.triage() WITH ORDINALITY t});
	return decode_json($j);
}

# Findings about the present (a finding from the server log's past has
# live = false; a triage() without the column counts everything as live).
sub live_rows
{
	my ($rows) = @_;
	return [ grep { !exists $_->{live} || $_->{live} } @$rows ];
}

sub top_live
{
	my ($rows) = @_;
	return live_rows($rows)->[0] // {};
}

# The first finding of a check (or undef).
sub finding_of
{
	my ($rows, $check) = @_;
	return (grep { $_->{check_name} eq $check } @$rows)[0];
}

# Every pid that some remedy text offers to runbook.terminate/cancel.
sub offered_pids
{
	my ($rows) = @_;
	my %p;
	for my $r (@$rows)
	{
		my $t = $r->{remedy_sql} // '';
		$p{$1} = 1 while $t =~ /runbook\.(?:terminate|cancel)\((\d+)/g;
	}
	return [ sort { $a <=> $b } keys %p ];
}

# No remedy offers any of @innocent (or the caller's session).
sub nothing_innocent
{
	my ($rows, $innocent, $name) = @_;
	my %inn = map { $_ => 1 } @$innocent;
	my @bad = grep { $inn{$_} } @{ offered_pids($rows) };
	is(join(',', @bad), '', "$name: no innocent session offered to terminate/cancel");
}

# No SEV1/SEV2 finding of the given checks is left.
sub no_sev2_for
{
	my ($rows, $checks, $name) = @_;
	my %c = map { $_ => 1 } @$checks;
	my @left = map { "$_->{severity} $_->{check_name}: $_->{finding}" }
	  grep { $c{ $_->{check_name} } && $_->{severity} =~ /^SEV[12]$/ } @$rows;
	is(join("\n", @left), '', "$name: no SEV1/SEV2 finding left");
}

# Run a remedy text as printed, through psql's standard input (a paste);
# returns (exit code, stdout, stderr).
sub run_printed
{
	my ($node, $sql, $db) = @_;
	my ($ret, $out, $err) = $node->psql($db // 'postgres', $sql, on_error_stop => 1);
	return ($ret, $out, $err);
}

sub poll
{
	my ($node, $sql, $db, $expected) = @_;
	return $node->poll_query_until($db // 'postgres', $sql, $expected // 't');
}

sub threshold
{
	my ($node, $name, $value) = @_;
	$node->safe_psql('postgres',
		"UPDATE runbook.alert_thresholds SET value = $value WHERE name = '$name'");
}

# Use up $n transaction ids (one committed transaction each).
sub burn_xids
{
	my ($node, $n, $db) = @_;
	$node->safe_psql($db // 'postgres', qq{
		CREATE OR REPLACE PROCEDURE public.drill_burn(n int) LANGUAGE plpgsql AS
		\$p\$ BEGIN FOR i IN 1..n LOOP PERFORM txid_current(); COMMIT; END LOOP; END \$p\$;
		SET synchronous_commit = off;
		CALL public.drill_burn($n);
	});
}

# Wait until $n sessions wait on a heavyweight lock, each for at least $secs.
sub wait_lock_waiters
{
	my ($node, $n, $secs, $db) = @_;
	$secs //= 0;
	poll($node, qq{SELECT count(*) >= $n FROM pg_stat_activity
	                WHERE wait_event_type = 'Lock' AND now() - state_change >= interval '$secs s'}, $db)
	  or die "not $n lock waiters";
}


# End drill sessions: their backends first (a session still running a
# statement would keep its psql waiting), then the psql processes.
sub end_sessions
{
	my ($node, @s) = @_;
	my @pids = map { $_->{pid} } grep { defined $_ && defined $_->{pid} } @s;
	$node->safe_psql('postgres', 'SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid IN ('
		  . join(',', @pids) . ')')
	  if @pids;
	for my $x (@s)
	{
		next unless defined $x;
		eval { $x->{psql}->quit };
	}
}

# The highest live finding, into the test's log (what each drill shows).
sub record_top
{
	my ($name, $top) = @_;
	note(sprintf("%s: highest live finding: %s %s: %s\n  remedy: %s", $name, $top->{severity} // '-',
		$top->{check_name} // '-', $top->{finding} // '-', $top->{remedy_sql} // '-'));
	return $top;
}

1;
