# slow_queries on a server that preloads pg_stat_statements: statements run a
# known number of times appear with those call counts, in every ordering,
# with the extension installed in a schema of its own; sleep and utility
# statements only on request (include_utility).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pgss');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_stat_statements,pg_runbook'
track_io_timing = on
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_runbook;
CREATE SCHEMA stats;
CREATE EXTENSION pg_stat_statements SCHEMA stats;
CREATE TABLE t (id int);
INSERT INTO t SELECT generate_series(1, 1000);
CREATE ROLE rb_watch LOGIN IN ROLE pg_monitor;
SELECT stats.pg_stat_statements_reset();
});

# known statements, each in its own session
$node->safe_psql('postgres', 'SELECT /* rb_count */ count(*) FROM t WHERE id < ' . $_)
  for (1 .. 7);
$node->safe_psql('postgres', 'SELECT /* rb_sleep */ pg_sleep(0.2)') for (1 .. 3);
$node->safe_psql('postgres', 'SELECT /* rb_rows */ id FROM t WHERE id <= 250') for (1 .. 2);

$node->safe_psql('postgres', 'VACUUM /* rb_utility */ t');

sub row_for
{
	my ($order, $marker, $utility) = @_;
	$utility //= 'false';
	return $node->safe_psql('postgres', qq{
		SELECT rank, calls, rows, usename, datname
		  FROM runbook.slow_queries(100, '$order', include_utility => $utility)
		 WHERE query LIKE '%$marker%' AND query NOT LIKE '%slow_queries%'});
}

# constants are normalised: one entry, seven calls
is(row_for('calls', 'rb_count'), '1|7|7|' . $node->safe_psql('postgres', 'SELECT current_user') . '|postgres',
	'7 runs of the count statement: first by calls, 7 calls, 7 rows');
is(row_for('total', 'rb_sleep'), '', 'a sleeping statement is left out by default');
is(row_for('total', 'rb_utility'), '', 'so is a utility statement (VACUUM)');
like(row_for('mean', 'rb_sleep', 'true'), qr/^1\|3\|3\|/, 'with include_utility: the sleeping statement ranks first by mean, 3 calls');
like(row_for('total', 'rb_sleep', 'true'), qr/^1\|3\|/, 'and first by total');
like(row_for('total', 'rb_utility', 'true'), qr/^\d+\|1\|/, 'and the VACUUM is there');
# by default ranked by total time (no statement here waits on a lock);
# which one costs most is the machine's business: rb_count, rb_rows and
# the reset itself (recorded as it ends) take a few ms each
is($node->safe_psql('postgres', q{
	SELECT bool_and(x.prev IS NULL OR x.total_ms <= x.prev), bool_and(coalesce(x.lock_wait_pct, 0) = 0),
	       bool_or(x.query LIKE '%rb_count%'), bool_or(x.query LIKE '%rb_rows%'),
	       bool_or(x.query ~* 'rb_sleep|rb_utility')
	  FROM (SELECT total_ms, lock_wait_pct, query, lag(total_ms) OVER (ORDER BY rank) AS prev
	          FROM runbook.slow_queries(10)) x}),
	't|t|t|t|f', 'by default, ranked by total time among the statements left');
like(row_for('rows', 'rb_rows'), qr/^1\|2\|500\|/, 'the 250-row statement ranks first by rows (2 calls, 500 rows)');

# times: milliseconds and intervals agree; the sleep took at least 200 ms a call
is($node->safe_psql('postgres', q{
	SELECT mean_ms >= 200, max_ms >= mean_ms, total_ms >= 600,
	       mean_time = make_interval(secs => mean_ms / 1000.0),
	       total_time >= interval '600 ms'
	  FROM runbook.slow_queries(100, 'mean', include_utility => true)
	 WHERE query LIKE '%rb_sleep%' AND query NOT LIKE '%slow_queries%'}),
	't|t|t|t|t', 'mean/max/total in ms and as intervals');

# hit ratio and I/O time (track_io_timing is on: a number, never NULL)
is($node->safe_psql('postgres', q{
	SELECT bool_and(hit_ratio IS NULL OR hit_ratio BETWEEN 0 AND 1),
	       bool_and(io_ms IS NOT NULL AND io_ms >= 0),
	       count(*) > 0
	  FROM runbook.slow_queries(100, 'io')}),
	't|t|t', 'hit ratio in [0,1], I/O time reported when tracked');

is($node->safe_psql('postgres', q{SELECT count(*) FROM runbook.slow_queries(2)}),
	'2', 'top limits the rows');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM runbook.slow_queries(100, 'calls', min_calls => 3) WHERE calls < 3}),
	'0', 'min_calls filters');

# a pg_monitor member sees the other user's statements in full, once it may
# use the schema the extension lives in
my ($ret, $out, $err) = $node->psql('postgres',
	'SET ROLE rb_watch; SELECT * FROM runbook.slow_queries()');
like($err, qr/permission denied for schema stats of pg_stat_statements.*HINT:  GRANT USAGE ON SCHEMA stats TO rb_watch;/s,
	'no USAGE on the extension schema: error with the GRANT to run');
$node->safe_psql('postgres', 'GRANT USAGE ON SCHEMA stats TO rb_watch');
is($node->safe_psql('postgres', q{
	SET ROLE rb_watch;
	SELECT count(*) FROM runbook.slow_queries(100, 'calls')
	 WHERE query LIKE '%rb_count%' AND query NOT LIKE '%slow_queries%'}),
	'1', 'pg_monitor sees the statement text');

# pg_runbook's own workers run statements: the sampler reads
# runbook.alert_thresholds (at start, each minute, on reload), the policy
# worker runbook.policies every cycle.  None is recorded in
# pg_stat_statements (their pg_stat_statements.track is none), so none can
# rank above the application's.  In order after a reset: a threshold of 0
# the sampler read shows as a connections_high event (1 connection of 100
# is far below the 80 % it knew); a policy change wakes the worker, and two
# cycles more mean that one ran whole after it.
$node->safe_psql('postgres', 'SELECT stats.pg_stat_statements_reset()');
$node->safe_psql('postgres', q{
	UPDATE runbook.alert_thresholds SET value = 0 WHERE name = 'connections_sev2_pct';
	SELECT pg_reload_conf();});
$node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM runbook.events(now() - interval '1 hour')
	 WHERE kind = 'connections_high'})
  or die 'the sampler never read the thresholds';
my $cycles = $node->safe_psql('postgres', 'SELECT cycles FROM runbook.worker_status()');
$node->safe_psql('postgres', 'UPDATE runbook.policies SET enabled = enabled WHERE false');
$node->poll_query_until('postgres', "SELECT cycles >= $cycles + 2 FROM runbook.worker_status()")
  or die 'the worker never ran two cycles';
my $workers = q{'FROM (runbook\.(alert_thresholds|policies)|pg_catalog\.pg_database d)\M'};
is($node->safe_psql('postgres', "SELECT count(*) FROM stats.pg_stat_statements WHERE query ~ $workers"),
	'0', "the statements of pg_runbook's sampler and worker are not recorded in pg_stat_statements");
is($node->safe_psql('postgres', "SELECT count(*) FROM runbook.slow_queries(100, include_utility => true) WHERE query ~ $workers"),
	'0', 'so slow_queries() never lists them');

# without track_io_timing an I/O time of zero means "not measured": NULL
$node->append_conf('postgresql.conf', 'track_io_timing = off');
$node->reload;
# (a connection made before the postmaster read the file would still time I/O)
$node->poll_query_until('postgres', q{SELECT current_setting('track_io_timing') = 'off'})
  or die 'track_io_timing never turned off';
$node->safe_psql('postgres', 'SELECT stats.pg_stat_statements_reset()');
$node->safe_psql('postgres', 'SELECT /* rb_noio */ count(*) FROM t');
is($node->safe_psql('postgres', q{
	SELECT io_ms IS NULL FROM runbook.slow_queries(100, 'calls')
	 WHERE query LIKE '%rb_noio%' AND query NOT LIKE '%slow_queries%'}),
	't', 'no I/O time when track_io_timing is off');

$node->stop;
done_testing();
