# bloat_report()'s estimate reads the pg_class rows of a whole database in
# one scan, before it locks each relation (src/bloat.c).  A relation
# rewritten or dropped between that scan and its lock must be read as it is
# after the lock: a syscache callback records the pg_class rows invalidated
# since the scan, and those are read again.  The test build's
# pg_runbook.test_bloat_delay_after_scan holds the window open while another
# session runs VACUUM FULL (new files for the table and its index, the old
# ones truncated: without the re-read their size reads as 0), TRUNCATE, and
# DROP TABLE.  Whole-database and one-table calls both.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('bloat_inval');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE TABLE rw (id int PRIMARY KEY, pad text);
	INSERT INTO rw SELECT g, repeat('r', 100) FROM generate_series(1, 20000) g;
	CREATE TABLE tr (id int PRIMARY KEY, pad text);
	INSERT INTO tr SELECT g, repeat('t', 100) FROM generate_series(1, 20000) g;
	CREATE TABLE dr (id int PRIMARY KEY);
	INSERT INTO dr SELECT generate_series(1, 1000);
	ANALYZE;
});
is($node->safe_psql('postgres', q{SHOW pg_runbook.test_bloat_delay_after_scan}), '0',
	'the test build has the delay setting');

my $dropped = $node->safe_psql('postgres',
	q{SELECT string_agg(oid::text, ',') FROM pg_class WHERE relname IN ('dr', 'dr_pkey')});

# whole database: VACUUM FULL rw after deleting half of it, TRUNCATE tr and
# fill it again, DROP dr, all in the window
$node->safe_psql('postgres', q{DELETE FROM rw WHERE id % 2 = 0});
my $est = $node->background_psql('postgres');
$est->query_safe(q{SET pg_runbook.test_bloat_delay_after_scan = '3s'});
$est->query_until(qr/started/, q{\echo started
CREATE TEMP TABLE whole AS
  SELECT relation::oid AS oid, relation::text AS rel, size_bytes, reason FROM runbook.bloat_report();
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE wait_event = 'Extension' AND query LIKE '%bloat_report%' AND pid <> pg_backend_pid()}),
	'the estimate paused between its scans and its locks');
$node->safe_psql('postgres', q{
	VACUUM FULL rw;
	BEGIN;
	TRUNCATE tr;
	INSERT INTO tr SELECT g, repeat('n', 50) FROM generate_series(1, 5000) g;
	COMMIT;
	DROP TABLE dr;
});
# the DDL committed while the estimate was paused (it held no lock on them)
ok($node->safe_psql('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE wait_event = 'Extension' AND query LIKE '%bloat_report%' AND pid <> pg_backend_pid()}) eq 't',
	'VACUUM FULL, TRUNCATE and DROP ran while the estimate was paused');

my $rows = $est->query_safe(q{
	SELECT string_agg(rel || '=' || coalesce(size_bytes::text, 'NULL'), ' ' ORDER BY rel) FROM whole
	 WHERE rel IN ('rw', 'rw_pkey', 'tr', 'tr_pkey')});
chomp $rows;
my $truth = $node->safe_psql('postgres', q{
	SELECT string_agg(c.relname || '=' || pg_relation_size(c.oid), ' ' ORDER BY c.relname)
	  FROM pg_class c WHERE c.relname IN ('rw', 'rw_pkey', 'tr', 'tr_pkey')});
is($rows, $truth, 'sizes after the rewrite and the truncate are the new files\', the dropped table is left out');
unlike($rows, qr/=0\b/, 'no size read from a file the rewrite emptied');
is($est->query_safe("SELECT count(*) FROM whole WHERE oid IN ($dropped)"), "0",
	'the dropped table and its index are not listed');

# one table (rel =>): the same for a second rewrite
$est->query_safe(q{DELETE FROM rw WHERE id % 3 = 0});
$est->query_until(qr/started/, q{\echo started
CREATE TEMP TABLE one AS
  SELECT relation::text AS rel, size_bytes FROM runbook.bloat_report(rel => 'rw');
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE wait_event = 'Extension' AND query LIKE '%bloat_report%' AND pid <> pg_backend_pid()}),
	'rel => rw: the estimate paused');
$node->safe_psql('postgres', q{VACUUM FULL rw});
$rows = $est->query_safe(q{SELECT string_agg(rel || '=' || size_bytes, ' ' ORDER BY rel) FROM one});
chomp $rows;
$truth = $node->safe_psql('postgres', q{
	SELECT string_agg(c.relname || '=' || pg_relation_size(c.oid), ' ' ORDER BY c.relname)
	  FROM pg_class c WHERE c.relname IN ('rw', 'rw_pkey')});
is($rows, $truth, 'rel => rw: the sizes of the rewritten table and index');
$est->quit;

done_testing();
