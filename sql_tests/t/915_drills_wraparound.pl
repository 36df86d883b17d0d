# Incident drill, transaction id wraparound (issue 23): the server's xid
# counter moved 1.15 billion ahead of every database's datfrozenxid
# (pg_resetwal -x, as a long-lived busy server gets there), with
# autovacuum_freeze_max_age raised to 1.5 billion so that autovacuum does not
# step in.  triage() and runbook.wraparound must agree on the percentage and
# the severity, never send the DBA to connect to template0, mention the xmin
# horizon only when something holds it, and config_check() must flag the
# settings behind it; the remedies, run as printed (each in the database its
# finding names), bring every database's age down.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrillUtil;

my $node = drill_node('drill_wrap', q{
autovacuum_freeze_max_age = 1500000000
autovacuum_naptime = 1
});
$node->safe_psql('postgres', 'CREATE TABLE acc (id int PRIMARY KEY, v int); INSERT INTO acc VALUES (1, 0);');
# an application database with pg_runbook: its tables are as old, and
# triage() in postgres must name them (issue 24: every database)
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION pg_runbook; CREATE TABLE ledger (id int PRIMARY KEY); INSERT INTO ledger VALUES (1);');
$node->stop;
# the next xid: 1.15 billion on, at a pg_xact segment boundary, and the
# segment file the server will write it to
my $segxacts = 32 * 8192 * 4;
my $next = int(1_150_000_000 / $segxacts) * $segxacts;
command_ok([ 'pg_resetwal', '-x', $next, $node->data_dir ], 'pg_resetwal -x: the xid counter jumps ahead');
my $seg = sprintf('%s/pg_xact/%04X', $node->data_dir, int($next / $segxacts));
open(my $fh, '>', $seg) or die "$seg: $!";
print $fh "\0" x (32 * 8192);
close $fh;
$node->start;

my $rows = triage($node);
my @wrap = grep { $_->{check_name} eq 'wraparound' } @$rows;
is(join(',', sort map { $_->{evidence}{datname} } @wrap), 'app,postgres,template0,template1', 'every database is reported');
my $top = record_top('915 #1', top_live($rows));
is($top->{check_name} . ' ' . $top->{severity}, 'wraparound SEV2', 'the highest live finding: wraparound, SEV2');

# the tables behind the age, per database with pg_runbook: app's from
# postgres (its worker read them there), as app's own catalog shows them
my @wt = grep { $_->{check_name} eq 'wraparound_tables' } @$rows;
is(join(',', map { "$_->{datname}:$_->{severity}" } sort { $a->{datname} cmp $b->{datname} } @wt), 'app:SEV2,postgres:SEV2',
	'wraparound_tables: the old tables of app and postgres, each finding with its database');
my ($wapp) = grep { $_->{datname} eq 'app' } @wt;
is($wapp->{evidence}{count}, $node->safe_psql('app', q{SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'm', 't') AND relfrozenxid <> '0'::xid
                                                      AND age(relfrozenxid) > 1000000000}),
	'app: as many tables as pg_class of app shows past the age');
is($node->safe_psql('app', qq{SELECT age(relfrozenxid) = (SELECT max(age(c.relfrozenxid)) FROM pg_class c
                                                           WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid)
                               FROM pg_class WHERE oid = '$wapp->{evidence}{tables}[0]{table}'::regclass}),
	't', "app: the table it names oldest ($wapp->{evidence}{tables}[0]{table}) is the oldest in pg_class of app");
like($wapp->{remedy_sql}, qr/^VACUUM \(FREEZE, VERBOSE\) \S+;$/, 'app: the remedy freezes the oldest table');
my ($ret0, $out0, $err0) = run_printed($node, $wapp->{remedy_sql}, 'app');
is($ret0, 0, 'app: the remedy runs as printed in app') or diag $err0;

# the view and triage agree, database by database
my (undef, $vout) = $node->psql('postgres', q{SELECT name, pct_of_hard_limit, severity, action FROM runbook.wraparound WHERE kind = 'database'});
my %view = map { my @f = split /\|/; $f[0] => [ @f[ 1, 2, 3 ] ] } split /\n/, $vout // '';
for my $f (@wrap)
{
	my $d = $f->{evidence}{datname};
	is($f->{evidence}{pct_of_limit}, $view{$d}[0], "$d: triage and runbook.wraparound give the same percentage");
	is($f->{severity}, $view{$d}[1], "$d: ... and the same severity");
	like($view{$d}[2] // '', qr/\S/, "$d: runbook.wraparound gives an action (not 'none')");
	unlike($f->{action} . ' ' . ($f->{remedy_sql} // ''), qr/xmin_horizon/, "$d: no 'see xmin_horizon' when nothing holds the horizon");
}
my ($t0) = grep { $_->{evidence}{datname} eq 'template0' } @wrap;
unlike(($t0->{action} // '') . ' ' . ($t0->{remedy_sql} // ''), qr/in database template0|\\c template0|connect to template0/i,
	'template0: never told to connect to it (it takes no connections)');

# config_check() names the settings behind it
my $cc = $node->safe_psql('postgres', q{SELECT string_agg(setting || ':' || severity, ',' ORDER BY setting) FROM runbook.config_check()
                                         WHERE setting IN ('autovacuum_freeze_max_age', 'max_slot_wal_keep_size')});
like($cc, qr/autovacuum_freeze_max_age:high/, 'config_check(): autovacuum_freeze_max_age = 1500000000 is flagged high');
like($cc, qr/max_slot_wal_keep_size:/, 'config_check(): max_slot_wal_keep_size = -1 is flagged');
ok(finding_of($rows, 'config'), 'triage: the config finding is there');

# the remedies as printed, each in the database its finding names
for my $f (grep { $_->{evidence}{datname} ne 'template0' } @wrap)
{
	my ($ret, $out, $err) = run_printed($node, $f->{remedy_sql}, $f->{evidence}{datname});
	is($ret, 0, "$f->{evidence}{datname}: the remedy runs as printed") or diag $err;
}
is($node->safe_psql('postgres', q{SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database
                                  WHERE age(datfrozenxid) > 200000000}), 'template0',
	'pg_database: postgres and template1 are frozen, template0 is left');
my ($ret, $out, $err) = run_printed($node, $t0->{remedy_sql} // 'SELECT 1/0');
is($ret, 0, 'template0: its remedy runs as printed') or diag $err;
$node->restart if ($t0->{remedy_sql} // '') =~ /restart/;
poll($node, q{SELECT max(age(datfrozenxid)) < 200000000 FROM pg_database}) or diag 'template0 still old';
is($node->safe_psql('postgres', q{SELECT max(age(datfrozenxid)) < 200000000 FROM pg_database}), 't',
	'pg_database: every database frozen, template0 by autovacuum');
no_sev2_for(triage($node), [qw(wraparound wraparound_tables)], 'after');

done_testing();
