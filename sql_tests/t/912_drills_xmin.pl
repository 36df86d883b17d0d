# Incident drills, the xmin horizon (issue 23): vacuum cannot remove dead
# rows because something holds the horizon back.  Each time innocent
# sessions run beside the culprit (statements that started after it, whose
# snapshots are young but whose backend_xmin equals the horizon): only the
# culprit may be named, never them nor the caller.
#   1. an idle transaction
#   2. a prepared transaction
#   3. a logical replication slot nobody consumes
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrillUtil;

my $node = drill_node('drill_xmin', '', allows_streaming => 'logical');
$node->safe_psql('postgres', q{
	SET ROLE app;
	CREATE TABLE acc (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off);
	INSERT INTO acc SELECT g, 0 FROM generate_series(1, 1000) g;
});
threshold($node, 'xmin_age_xids', 1000);
threshold($node, 'xmin_age_sev2_xids', 100000);

# Innocent sessions: a statement that started after the culprit and runs a
# few seconds, over and over (its xmin is the horizon, its snapshot young).
sub innocents
{
	my @s;
	for my $i (1 .. 2)
	{
		my $s = session($node, "dashboard-$i");
		send_async($s, join(' ', ('SELECT pg_sleep(1.5);') x 200));
		push @s, $s;
	}
	poll($node, q{SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name LIKE 'dashboard-%' AND wait_event = 'PgSleep'});
	return @s;
}

# dead rows the horizon keeps: pgstattuple's dead tuples after VACUUM
sub dead_after_vacuum
{
	my ($settle) = @_;
	my $x = $node->safe_psql('postgres', 'BEGIN; UPDATE acc SET v = v + 1 WHERE id <= 200; SELECT txid_current(); COMMIT;');
	# statements already running took their snapshot before the update:
	# once none is left, the horizon is past it unless something holds it
	poll($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_xmin::text::bigint <= $x")
	  or die 'snapshots older than the update stayed'
	  if $settle;
	$node->safe_psql('postgres', 'VACUUM acc');
	return $node->safe_psql('postgres', q{SELECT dead_tuple_count FROM pgstattuple('acc')});
}

sub check_culprit
{
	my ($name, $check, $culprit_re, $innocent) = @_;
	my $rows = triage($node);
	my $top = record_top("912 $name", top_live($rows));
	is($top->{check_name}, $check, "$name: the highest live finding is $check");
	like($top->{finding} . ' ' . $top->{remedy_sql}, $culprit_re, "$name: it names the culprit");
	my @xh = grep { $_->{check_name} eq 'xmin_horizon' } @$rows;
	my @named = map { $_->{evidence}{pid} } @xh;
	my %inn = map { $_ => 1 } @$innocent;
	is(join(',', grep { $inn{$_} } @named), '', "$name: xmin_horizon names no innocent session");
	nothing_innocent($rows, $innocent, $name);
	my $view = $node->safe_psql('postgres', q{SELECT string_agg(name, '; ') FROM runbook.wraparound WHERE kind LIKE 'horizon%'});
	for my $p (@$innocent)
	{
		unlike($view, qr/\bpid $p\b/, "$name: runbook.wraparound does not list innocent pid $p");
	}
	return $top;
}

# ---------------------------------------------------------------------
# Drill 1: an idle transaction (it wrote: it has an xid).
# ---------------------------------------------------------------------
my $h = session($node, 'batch-job');
sq($h, 'BEGIN');
sq($h, 'UPDATE acc SET v = v + 1 WHERE id = 1000');
burn_xids($node, 2000);
my @inn = innocents();
cmp_ok(dead_after_vacuum(), '>=', 200, 'drill 1: vacuum leaves dead rows (the horizon is held)');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'dashboard-%' AND age(backend_xmin) > 1000"),
	'2', 'drill 1: the innocent sessions\' backend_xmin equals the old horizon');
my $top = check_culprit('drill 1', 'xmin_horizon', qr/\b$h->{pid}\b/, [ map { $_->{pid} } @inn ]);
my ($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
is($ret, 0, 'drill 1: the remedy runs as printed') or diag $err;
poll($node, q{SELECT coalesce(max(age(backend_xmin)), 0) < 1000 FROM pg_stat_activity})
  or die 'horizon did not advance';
is(dead_after_vacuum(1), '0', 'drill 1: VACUUM removes the dead rows again (pgstattuple)');
no_sev2_for(triage($node), [qw(xmin_horizon wraparound)], 'drill 1 after');
is(scalar(grep { $_->{check_name} eq 'xmin_horizon' } @{ triage($node) }), 0, 'drill 1 after: no xmin_horizon finding');
end_sessions($node, $h, @inn);

# ---------------------------------------------------------------------
# Drill 2: a prepared transaction nobody finished.
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{BEGIN; UPDATE acc SET v = v + 1 WHERE id = 999; PREPARE TRANSACTION 'payment-7f3a';});
burn_xids($node, 2000);
@inn = innocents();
cmp_ok(dead_after_vacuum(), '>=', 200, 'drill 2: vacuum leaves dead rows');
threshold($node, 'prepared_xact_seconds', 0);
$top = check_culprit('drill 2', 'prepared_transactions', qr/payment-7f3a/, [ map { $_->{pid} } @inn ]);
like($top->{remedy_sql}, qr/^ROLLBACK PREPARED 'payment-7f3a';/, 'drill 2: the remedy rolls it back');
($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
is($ret, 0, 'drill 2: the remedy runs as printed') or diag $err;
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0', 'drill 2: pg_prepared_xacts is empty');
poll($node, q{SELECT coalesce(max(age(backend_xmin)), 0) < 1000 FROM pg_stat_activity}) or die 'horizon held';
is(dead_after_vacuum(1), '0', 'drill 2: VACUUM removes the dead rows again');
no_sev2_for(triage($node), [qw(xmin_horizon prepared_transactions)], 'drill 2 after');
end_sessions($node, @inn);

# ---------------------------------------------------------------------
# Drill 3: a logical slot whose consumer is gone (catalog_xmin).
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('cdc_orders', 'test_decoding')});
burn_xids($node, 2000);
@inn = innocents();
$top = check_culprit('drill 3', 'replication_slots_xmin', qr/cdc_orders/, [ map { $_->{pid} } @inn ]);
like($top->{remedy_sql}, qr/pg_drop_replication_slot\('cdc_orders'\)/, 'drill 3: the remedy drops the slot');
($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
is($ret, 0, 'drill 3: the remedy runs as printed') or diag $err;
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0', 'drill 3: pg_replication_slots is empty');
no_sev2_for(triage($node), [qw(xmin_horizon replication_slots_xmin replication)], 'drill 3 after');
end_sessions($node, @inn);

done_testing();
