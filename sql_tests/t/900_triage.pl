# triage(), alerts, metrics() and incident_report() against a real incident:
# an idle-in-transaction session holding a lock with a waiter behind it, and
# connections filling a low max_connections.  The right SEV rows must name
# the right pids in their evidence and the alerts must fire accordingly.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

my $node = PostgreSQL::Test::Cluster->new('triage');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
max_connections = 20
superuser_reserved_connections = 3
pg_runbook.naptime = '60s'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE TABLE t (id int PRIMARY KEY, v int);
	INSERT INTO t VALUES (1, 0);
});

# One monitoring session for every check: it uses one slot throughout.
my $mon = $node->background_psql('postgres');
sub sq { my $r = $mon->query_safe($_[0]); chomp $r; return $r; }

# Before anything: no SEV1/SEV2, nothing fires but perhaps nothing at all.
is(sq(q{SELECT count(*) FROM runbook.triage() WHERE severity IN ('SEV1', 'SEV2')}), '0',
	'quiet server: no SEV1/SEV2 finding');
is(sq(q{SELECT string_agg(alert, ',') FROM runbook.alerts WHERE firing}), '', 'quiet server: no alert fires');

# The blocker: idle in transaction, holding a row lock.
my $blocker = $node->background_psql('postgres');
$blocker->query_safe("SET application_name = 'tri_blocker'");
my $bpid = $blocker->query_safe('SELECT pg_backend_pid()');
chomp $bpid;
$blocker->query_safe('BEGIN');
$blocker->query_safe('UPDATE t SET v = v + 1 WHERE id = 1');

# The waiter behind it.
my $waiter = $node->background_psql('postgres');
my $wpid = $waiter->query_safe('SELECT pg_backend_pid()');
chomp $wpid;
$waiter->query_until(qr/started/, "\\echo started\nUPDATE t SET v = v + 1 WHERE id = 1;\n");
$node->poll_query_until('postgres',
	"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $wpid")
  or die 'waiter never waited';
# a wait shorter than deadlock_timeout is ordinary traffic, not a finding
sq(q{SET deadlock_timeout = '1h'});
is(sq(q{SELECT count(*) FROM runbook.triage() WHERE check_name IN ('idle_in_transaction_blocking', 'lock_waits')}),
	'0', 'a wait younger than deadlock_timeout is no finding');
sq(q{RESET deadlock_timeout});
$node->poll_query_until('postgres',
	"SELECT now() - state_change > current_setting('deadlock_timeout')::interval FROM pg_stat_activity WHERE pid = $wpid")
  or die 'waiter never waited past deadlock_timeout';

# Default thresholds: the wait is younger than a minute, so SEV3.
my $row = sq(q{SELECT severity || '|' || (evidence->>'pid') || '|' || (evidence->'blocked_pids')::text
                FROM runbook.triage() WHERE check_name = 'idle_in_transaction_blocking'});
is($row, "SEV3|$bpid|[$wpid]", 'idle-in-transaction blocker found, SEV3 while the wait is young');
$row = sq(q{SELECT severity || '|' || (evidence->'blockers')::text || '|' || (evidence->'waits'->0->>'pid')
             FROM runbook.triage() WHERE check_name = 'lock_waits'});
is($row, "SEV3|[$bpid]|$wpid", 'lock wait found with its blocker');
is(sq(q{SELECT evidence->'root_blockers' FROM runbook.triage() WHERE check_name = 'lock_waits'}), "[$bpid]",
	'root blocker from blocking_locks()');
is(sq(q{SELECT firing FROM runbook.alerts WHERE alert = 'DatabaseLockWaits'}), 'f',
	'DatabaseLockWaits does not fire below its threshold');
like(sq(q{SELECT remedy_sql FROM runbook.triage() WHERE check_name = 'idle_in_transaction_blocking'}),
	qr/^SELECT \* FROM runbook\.terminate\($bpid, 'idle in transaction, blocking 1 session\(s\)'\);  SELECT \* FROM runbook\.terminate_blockers\('\d+ s', dry_run => true\);$/,
	'remedy: the audited runbook.terminate of the blocker with its reason, then the dry run of terminate_blockers listing every root');
is(sq(q{SELECT count(*) FROM runbook.triage() WHERE check_name = 'idle_in_transaction'}), '0',
	'the blocker is not counted again as a plain idle transaction');

# A waiter older than the threshold: SEV2 (threshold lowered, not waited for).
sq(q{UPDATE runbook.alert_thresholds SET value = 0 WHERE name = 'lock_wait_seconds'});
$row = sq(q{SELECT string_agg(severity || ':' || check_name, ',' ORDER BY check_name)
             FROM runbook.triage() WHERE check_name IN ('idle_in_transaction_blocking', 'lock_waits')});
is($row, 'SEV2:idle_in_transaction_blocking,SEV2:lock_waits', 'blocked longer than lock_wait_seconds: SEV2');
is(sq(q{SELECT firing FROM runbook.alerts WHERE alert = 'DatabaseLockWaits'}), 't', 'DatabaseLockWaits fires');
is(sq(q{SELECT severity FROM runbook.triage() LIMIT 1}), 'SEV2', 'SEV2 rows come first');

# metrics() sees the waiter; incident_report() shows the blocking pair.
like(sq(q{SELECT runbook.metrics()}), qr/^pg_runbook_lock_waiters 1$/m, 'metrics: one lock waiter');
my $report = sq(q{SELECT runbook.incident_report('lock pile-up')});
like($report, qr/^\| $wpid \| $bpid \| $bpid \|/m, 'incident report: blocking table names waiter, blocker, root');
like($report, qr/^- \*\*Severity:\*\* SEV2$/m, 'incident report: severity is the worst finding');

# Connections: fill the usable slots (17) up to 80 %, then 95 %.
my @extra;
my $usable = sq(q{SELECT usable FROM runbook.connections()});
is($usable, '17', 'usable slots');
sub fill_to
{
	my $pct = shift;
	while (sq(q{SELECT pct_used FROM runbook.connections()}) < $pct)
	{
		push @extra, $node->background_psql('postgres');
	}
}
fill_to(80);
$row = sq(q{SELECT severity || '|' || (evidence->>'in_use') || '|' || (evidence->>'usable')
             FROM runbook.triage() WHERE check_name = 'connections'});
my $in_use = sq(q{SELECT in_use FROM runbook.connections()});
is($row, "SEV2|$in_use|17", 'connections at 80 %: SEV2 with the counts as evidence');
is(sq(q{SELECT firing FROM runbook.alerts WHERE alert = 'DatabaseHighConnections'}), 't',
	'DatabaseHighConnections fires');
fill_to(95);
is(sq(q{SELECT severity FROM runbook.triage() WHERE check_name = 'connections'}), 'SEV1',
	'connections at 95 %: SEV1');
is(sq(q{SELECT severity || ':' || check_name FROM runbook.triage() LIMIT 1}), 'SEV1:connections',
	'SEV1 first');
like(sq(q{SELECT runbook.metrics()}), qr/^pg_runbook_connections_used_ratio (0\.9[5-9]|1)/m,
	'metrics: used ratio');
like(sq(q{SELECT runbook.incident_report()}), qr/^- \*\*Severity:\*\* SEV1$/m, 'incident report: SEV1');

# Once the incident is over the rows go away.
$_->quit for @extra;
$blocker->quit;
$waiter->quit;
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM runbook.triage() WHERE severity IN ('SEV1', 'SEV2')")
  or die 'findings did not clear';
pass('findings clear after the sessions end');

# pg_dump keeps the user-changed threshold (only that row), and the
# restore into a fresh CREATE EXTENSION updates the shipped row.
my $dump = "$PostgreSQL::Test::Utils::tmp_check/triage_dump.sql";
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'restore without error');
is( $node->safe_psql('restored',
		"SELECT string_agg(name || '=' || value, ',') FROM runbook.alert_thresholds WHERE user_set"),
	'lock_wait_seconds=0', 'restored database keeps the changed threshold');
is($node->safe_psql('restored', 'SELECT count(*) FROM runbook.alert_thresholds'),
	'30', 'and the shipped defaults, once each');

$mon->quit;
$node->stop;

# Without preload: nothing fails, the missing pieces are SEV4 / absent.
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION pg_runbook');
is($plain->safe_psql('postgres', q{SELECT severity FROM runbook.triage() WHERE check_name = 'worker'}),
	'SEV4', 'not preloaded: worker finding is SEV4');
is($plain->safe_psql('postgres', q{SELECT count(*) FROM runbook.triage() WHERE finding LIKE 'check not run:%' AND check_name <> 'slow_queries'}),
	'0', 'not preloaded: every other check runs');
my $m = $plain->safe_psql('postgres', 'SELECT runbook.metrics()');
unlike($m, qr/pg_runbook_worker/, 'not preloaded: no worker metrics');
like($m, qr/^pg_runbook_max_connections \d+$/m, 'not preloaded: metrics still served');
like($plain->safe_psql('postgres', 'SELECT runbook.incident_report()'),
	qr/Audit ring unavailable: pg_runbook is not in shared_preload_libraries/, 'not preloaded: report says so');
is($plain->safe_psql('postgres', 'SELECT count(*) FROM runbook.alerts'), '9', 'not preloaded: alerts');
$plain->stop;
done_testing();
