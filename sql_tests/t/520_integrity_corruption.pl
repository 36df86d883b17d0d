# integrity_check on real corruption: a damaged heap page on a cluster with
# data checksums is counted per database, and a damaged index page is
# reported as corrupt by the amcheck step (with the REINDEX to run).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('corrupt');
$node->init(extra => ['--data-checksums']);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_runbook'");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_runbook;
CREATE EXTENSION amcheck;
CREATE TABLE victim (id int, pad text);
INSERT INTO victim SELECT g, repeat('x', 50) FROM generate_series(1, 2000) g;
CREATE TABLE healthy (id int PRIMARY KEY);
INSERT INTO healthy SELECT generate_series(1, 2000);
CREATE INDEX victim_id_idx ON victim (id);
CHECKPOINT;
});

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM runbook.integrity_check()}),
	'0', 'nothing to report before the damage');
is($node->safe_psql('postgres', q{
	SELECT string_agg(object || ':' || status || ':' || count, ',' ORDER BY object)
	  FROM runbook.integrity_check(include_ok => true) WHERE check_name = 'checksum_failures'}),
	'(shared objects):ok:0,postgres:ok:0,template0:ok:0,template1:ok:0',
	'checksums on: every database reported with zero failures when include_ok');

my $heap = $node->safe_psql('postgres', q{SELECT pg_relation_filepath('victim')});
my $index = $node->safe_psql('postgres', q{SELECT pg_relation_filepath('victim_id_idx')});
$node->stop;

# overwrite bytes in the middle of block 1 of each file
sub scribble
{
	my ($file, $offset) = @_;
	open(my $fh, '+<', $file) or die "open $file: $!";
	binmode $fh;
	sysseek($fh, $offset, 0) or die "seek: $!";
	syswrite($fh, "\x{13}" x 64) == 64 or die "write: $!";
	close($fh);
}
scribble($node->data_dir . '/' . $heap, 8192 + 4000);
scribble($node->data_dir . '/' . $index, 8192 + 4000);
$node->start;

my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM victim');
like($err, qr/invalid page in block 1/, 'reading the damaged heap fails the checksum');

my $row = $node->safe_psql('postgres', q{
	SELECT status, object, count >= 1, detail LIKE 'data page checksum failures, last at %',
	       check_sql
	  FROM runbook.integrity_check() WHERE check_name = 'checksum_failures'});
is($row, "found|postgres|t|t|SELECT datname, checksum_failures, checksum_last_failure FROM pg_stat_database WHERE datname IS NOT DISTINCT FROM 'postgres';",
	'checksum failures reported for the database, with the query that confirms it');

$row = $node->safe_psql('postgres', q{
	SELECT object, status, detail LIKE '%invalid page in block 1%', remedy_sql
	  FROM runbook.integrity_check(ARRAY['victim'::regclass, 'healthy'::regclass])
	 WHERE check_name = 'amcheck' ORDER BY object});
is($row, "public.healthy_pkey|ok|f|\n"
	  . "public.victim_id_idx|corrupt|t|REINDEX INDEX CONCURRENTLY public.victim_id_idx;",
	'amcheck: the damaged index is corrupt (REINDEX given), the healthy one passes');

$node->stop('immediate');
done_testing();
