# Incident drills, maintenance (issue 23):
#   1. table and index bloat on a table whose autovacuum is off: the cause
#      named; after triage's own VACUUM the bloat still reported (not
#      silence); the rebuild it prints gives the space back (pgstattuple)
#   2. an abandoned logical slot retaining WAL (no fixed 1 GB threshold)
#   3. a failed CREATE UNIQUE INDEX CONCURRENTLY over duplicates
#   4. a hot query missing an index (slow_queries ranks by total time,
#      leaves utility and sleep statements out, tells lock waits apart);
#      index_advice() after the index exists, and never on pg_runbook's
#      own indexes
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrillUtil;

my $node = drill_node('drill_maint', q{
max_parallel_workers_per_gather = 0
}, allows_streaming => 'logical');

# ---------------------------------------------------------------------
# Drill 1: bloat.  A queue table with autovacuum off, most rows deleted.
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
	CREATE TABLE job_queue (id bigserial PRIMARY KEY, token text, payload text)
	  WITH (autovacuum_enabled = off);
	INSERT INTO job_queue (token, payload)
	SELECT md5(g::text), repeat('x', 60) FROM generate_series(1, 300000) g;
	CREATE INDEX job_queue_token ON job_queue (token);
	DELETE FROM job_queue WHERE id % 10 <> 0;
	ANALYZE job_queue;
});
my $rows = triage($node);
my $top = record_top('913 #1', top_live($rows));
is($top->{check_name}, 'dead_tuples', 'drill 1: the highest live finding is dead tuples');
like($top->{finding} . ' ' . $top->{action}, qr/job_queue/, 'drill 1: it names the table');
like($top->{finding} . ' ' . $top->{action}, qr/autovacuum_enabled = off/, 'drill 1: it names the cause: autovacuum is off on the table');
my ($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
is($ret, 0, 'drill 1: the remedy runs as printed') or diag $err;
is($node->safe_psql('postgres', q{SELECT dead_tuple_count FROM pgstattuple('job_queue')}), '0',
	'drill 1: pgstattuple: no dead tuple left');
is($node->safe_psql('postgres', q{SELECT coalesce(reloptions::text, '') FROM pg_class WHERE oid = 'job_queue'::regclass}),
	'', 'drill 1: the remedy turned autovacuum back on for the table');
cmp_ok($node->safe_psql('postgres', q{SELECT free_percent FROM pgstattuple('job_queue')}), '>', 50,
	'drill 1: pgstattuple: the heap is still mostly free space');
$rows = triage($node);
my $bloat = finding_of($rows, 'bloat');
ok($bloat, 'drill 1: after the VACUUM, triage still reports the bloat');
like($bloat->{finding} // '', qr/job_queue/, 'drill 1: the bloat finding names the table');
$top = record_top('913 #2', top_live($rows));
is($top->{check_name}, 'bloat', 'drill 1: it is the highest live finding now');
($ret, $out, $err) = run_printed($node, $bloat->{remedy_sql} // 'SELECT 1/0');
is($ret, 0, 'drill 1: the bloat remedy runs as printed') or diag $err;
cmp_ok($node->safe_psql('postgres', q{SELECT free_percent FROM pgstattuple('job_queue')}), '<', 20,
	'drill 1: pgstattuple: the heap is compact');
cmp_ok($node->safe_psql('postgres', q{SELECT avg_leaf_density FROM pgstatindex('job_queue_token')}), '>', 70,
	'drill 1: pgstatindex: the index is dense');
$rows = triage($node);
is(join(',', map { $_->{check_name} } grep { $_->{check_name} =~ /^(bloat|dead_tuples)$/ } @$rows), '',
	'drill 1 after: no bloat or dead tuples finding');

# ---------------------------------------------------------------------
# Drill 2: an abandoned logical slot retaining WAL.
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('cdc_legacy', 'test_decoding')});
$node->safe_psql('postgres', q{
	CREATE TABLE wal_filler (id int, t text);
	INSERT INTO wal_filler SELECT g, repeat('w', 200) FROM generate_series(1, 150000) g;
	SELECT pg_switch_wal();
	CHECKPOINT;
});
my $retained = $node->safe_psql('postgres', q{SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots});
cmp_ok($retained, '>', 16 * 1024 * 1024, 'drill 2: the slot retains WAL');
$rows = triage($node);
my ($slot) = grep { $_->{check_name} eq 'replication' && ($_->{evidence}{name} // '') eq 'cdc_legacy' } @$rows;
ok($slot, 'drill 2: an inactive slot retaining far less than 1 GB is a finding');
like($slot->{finding} // '', qr/max_slot_wal_keep_size/, 'drill 2: measured against max_slot_wal_keep_size (-1: nothing limits it)');
$top = record_top('913 #3', top_live($rows));
is($top->{check_name} . ' ' . ($top->{evidence}{name} // ''), 'replication cdc_legacy', 'drill 2: the highest live finding is the slot')
  or diag explain $top;
($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
is($ret, 0, 'drill 2: the remedy runs as printed') or diag $err;
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0', 'drill 2: pg_replication_slots: the slot is gone');
no_sev2_for(triage($node), [qw(replication replication_slots_xmin)], 'drill 2 after');
is(scalar(grep { $_->{check_name} eq 'replication' } @{ triage($node) }), 0, 'drill 2 after: no replication finding');
$node->safe_psql('postgres', 'DROP TABLE wal_filler');

# ---------------------------------------------------------------------
# Drill 3: CREATE UNIQUE INDEX CONCURRENTLY over duplicates fails.
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
	CREATE TABLE users (id int PRIMARY KEY, email text);
	INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 1000) g;
	INSERT INTO users VALUES (1001, 'u7@example.com'), (1002, 'u8@example.com'), (1003, 'u8@example.com');
});
($ret, $out, $err) = $node->psql('postgres', 'CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email)');
like($err, qr/could not create unique index/, 'drill 3: the build fails on the duplicates');
is($node->safe_psql('postgres', q{SELECT indisready::text || ',' || indisvalid::text FROM pg_index WHERE indexrelid = 'users_email_key'::regclass}),
	'false,false', 'drill 3: pg_index: the leftover is neither ready nor valid');
($ret, $out, $err) = $node->psql('postgres', q{INSERT INTO users VALUES (1004, 'u9@example.com'), (1005, 'u9@example.com')});
is($ret, 0, 'drill 3: it refuses no duplicate (indisready = false)');
$rows = triage($node);
$top = record_top('913 #4', top_live($rows));
is($top->{check_name}, 'invalid_indexes', 'drill 3: the highest live finding is the invalid index');
like($top->{finding}, qr/users_email_key/, 'drill 3: it names the index');
unlike($top->{finding}, qr/still refuses duplicates/, 'drill 3: it does not claim the index refuses duplicates');
like($top->{finding}, qr/not ready|indisready/, 'drill 3: it says the index is not even maintained');
unlike($top->{remedy_sql}, qr/REINDEX/, 'drill 3: no REINDEX (it would fail on the same duplicates)');
like($top->{remedy_sql}, qr/GROUP BY .*email.* HAVING count\(\*\) > 1/s, 'drill 3: the remedy lists the duplicates');
($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
is($ret, 0, 'drill 3: the remedy runs as printed') or diag $err;
like($out, qr/u8\@example\.com\|3/, 'drill 3: ... and shows the duplicates');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname LIKE 'users_email_key%'}), '0',
	'drill 3: the invalid index is gone (and no _ccnew was left)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_index WHERE NOT indisvalid'), '0', 'drill 3: pg_index: no invalid index');
is(scalar(grep { $_->{check_name} eq 'invalid_indexes' } @{ triage($node) }), 0, 'drill 3 after: no invalid_indexes finding');

# ---------------------------------------------------------------------
# Drill 4: a hot query missing an index.
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
	CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int, amount numeric, note text);
	INSERT INTO orders (customer_id, amount, note)
	SELECT ((g::bigint * 7919) % 10000)::int, g % 100, md5(g::text) FROM generate_series(1, 600000) g;
	VACUUM ANALYZE orders;
	CREATE TABLE acc (id int PRIMARY KEY, v int);
	INSERT INTO acc VALUES (1, 0);
	ALTER TABLE acc OWNER TO app;
	SELECT pg_stat_statements_reset();
	SELECT pg_stat_reset();
});
# noise a DBA's slow_queries() must not rank above it: sleeps, utility, lock waits
$node->safe_psql('postgres', 'SELECT pg_sleep(0.3)') for 1 .. 3;
$node->safe_psql('postgres', 'VACUUM acc');
my $holder = session($node, 'holder');
sq($holder, 'BEGIN');
sq($holder, 'UPDATE acc SET v = v + 1 WHERE id = 1');
my $victim = session($node, 'victim');
send_async($victim, 'UPDATE acc SET v = v + 2 WHERE id = 1;');
wait_lock_waiters($node, 1, 3.5);
sq($holder, 'COMMIT');
poll($node, "SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $victim->{pid}");
# the hot query
my $script = $node->basedir . '/hot.sql';
PostgreSQL::Test::Utils::append_to_file($script, "\\set cid random(1, 10000)\nSELECT id, amount FROM orders WHERE customer_id = :cid;\n");
$node->command_ok([ 'pgbench', '-n', '-f', $script, '-t', '60', '-c', '2', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'drill 4: the application runs its hot query');

my $sq = $node->safe_psql('postgres', q{SELECT string_agg(query, E'\n' ORDER BY rank) FROM runbook.slow_queries(3)});
like((split /\n/, $sq)[0], qr/FROM orders WHERE customer_id/, 'drill 4: slow_queries() ranks the hot query first (by total time)');
unlike($sq, qr/pg_sleep|VACUUM/i, 'drill 4: slow_queries() leaves sleep and utility statements out by default');
like($node->safe_psql('postgres', q{SELECT string_agg(query, E'\n') FROM runbook.slow_queries(20, include_utility => true)}),
	qr/VACUUM/, 'drill 4: ... and shows them on request');
my $lw = $node->safe_psql('postgres', q{SELECT coalesce(lock_wait_pct::text, 'null') || '|' || coalesce(lock_wait_note, '')
                                         FROM runbook.slow_queries(20) WHERE query LIKE 'UPDATE acc SET v = v + $1%'});
like($lw, qr/^\d/, 'drill 4: the lock victim\'s time is told apart as lock waiting') or diag $lw;
cmp_ok((split /\|/, $lw)[0], '>=', 50, 'drill 4: ... most of it');
like($node->safe_psql('postgres', q{SELECT pct_of_total FROM runbook.slow_queries(1)}), qr/^\d+(\.\d)?$/,
	'drill 4: with its share of all statement time');
is($node->safe_psql('postgres', q{SELECT count(*) FROM runbook.index_advice() WHERE verdict = 'seq_scan_heavy' AND table_name = 'orders'::regclass}),
	'1', 'drill 4: index_advice(): orders is seq_scan_heavy');
is($node->safe_psql('postgres', q{SELECT count(*) FROM runbook.index_advice() WHERE table_name::text LIKE 'runbook.%' OR index::text LIKE 'runbook.%'}),
	'0', 'drill 4: index_advice() proposes nothing on pg_runbook\'s own tables');

$rows = triage($node);
$top = record_top('913 #5', top_live($rows));
is($top->{check_name}, 'slow_queries', 'drill 4: the highest live finding is the slow query')
  or diag explain $rows;
like($top->{finding}, qr/FROM orders WHERE customer_id/, 'drill 4: it names the statement');
like($top->{finding}, qr/\d+(\.\d+)?% of all statement time/, 'drill 4: with its share of statement time');
like($top->{remedy_sql}, qr/^CREATE INDEX CONCURRENTLY (\S+ )?ON public\.orders \(customer_id\);/, 'drill 4: the remedy creates the missing index');
($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
is($ret, 0, 'drill 4: the remedy runs as printed') or diag $err;
like($node->safe_psql('postgres', q{EXPLAIN SELECT id, amount FROM orders WHERE customer_id = 42}), qr/Index|Bitmap/,
	'drill 4: EXPLAIN: the query uses the index');
$node->safe_psql('postgres', q{SELECT pg_stat_statements_reset(0, 0, queryid) FROM pg_stat_statements WHERE query LIKE '%FROM orders WHERE customer_id%'});
$node->command_ok([ 'pgbench', '-n', '-f', $script, '-t', '60', '-c', '2', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'drill 4: the application runs it again');
cmp_ok($node->safe_psql('postgres', q{SELECT max(mean_exec_time) FROM pg_stat_statements WHERE query LIKE '%FROM orders WHERE customer_id%'}),
	'<', 10, 'drill 4: pg_stat_statements: the mean dropped under 10 ms');
is($node->safe_psql('postgres', q{SELECT count(*) FROM runbook.index_advice() WHERE verdict = 'seq_scan_heavy' AND table_name = 'orders'::regclass}),
	'0', 'drill 4: index_advice(): orders is no longer seq_scan_heavy once its index is used');
is(scalar(grep { $_->{check_name} eq 'slow_queries' } @{ triage($node) }), 0, 'drill 4 after: no slow_queries finding');
end_sessions($node, $holder, $victim);

done_testing();
