# bloat_report()'s estimate against what pgstattuple and pgstatindex measure,
# on a corpus built to be what estimators get wrong (bloat_corpus.sql: narrow
# and wide rows, NULLs, TOAST, fillfactor, dropped columns, mass UPDATE and
# DELETE with and without VACUUM, stale and missing statistics, partitions,
# expression and partial indexes, btree / gin / gist / hash, the issue's
# 1,000,000-row table with 80 % of its rows updated or deleted), and
# check_postgres --action=bloat's estimate on the same corpus.
#
# The truth per relation is bloat_truth_before.sql's and _after.sql's (in
# percent of its size): for a table, hash or gist index pgstattuple's free +
# dead space less the free space it finds after VACUUM FULL (what the
# fillfactor and a page's last partial row keep free, which a rewrite cannot
# return); for a btree index pgstatindex's leaf density against the
# fillfactor plus empty and deleted pages (entries of dead rows count as
# used, as pgstatindex counts them); for a gin index (pgstattuple cannot
# read it) the size a rebuild returns.
#
# Fails when an estimate not marked confidence 'low' misses the truth by
# more than 15 points, when the median error exceeds 5 points or the worst
# confident error 15, when a 'low' row gives no reason, or when
# check_postgres does better on the median or the worst error.  Prints the
# table of figures.
use strict;
use warnings;
use File::Basename;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $cp = `command -v check_postgres 2>/dev/null || command -v check_postgres.pl 2>/dev/null`;
chomp $cp;
BAIL_OUT('check_postgres is not installed (tools/deps.sh installs check-postgres)') unless $cp;

my $t0 = time;
my $node = PostgreSQL::Test::Cluster->new('bloat_accuracy');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
autovacuum = off
shared_buffers = 128MB
max_wal_size = 1GB
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE acc');
$node->safe_psql('acc', 'CREATE EXTENSION pg_runbook; CREATE EXTENSION pgstattuple;');

# the corpus, then a flush of this session's counts (before its ReadyForQuery)
my $corpus = slurp_file(dirname(__FILE__) . '/bloat_corpus.sql');
$node->safe_psql('acc', $corpus . "\nSELECT pg_stat_force_next_flush();\n");
my $built = time - $t0;

# 1. the estimates and pgstattuple / pgstatindex of every corpus relation
my $dir = dirname(__FILE__);
$node->safe_psql('acc', slurp_file("$dir/bloat_truth_before.sql"));

# check_postgres on the same database, before anything is rewritten
# (its psql: the first on PATH, this installation's)
local $ENV{PATH} = $node->config_data('--bindir') . ":$ENV{PATH}";
my $cp_out = `"$cp" --action=bloat --host="@{[$node->host]}" --port=@{[$node->port]} --dbuser="@{[scalar getpwuid($<)]}" --dbname=acc --warning='1 TB' --critical='2 TB' --perflimit=100000 2>&1`;
like($cp_out, qr/^POSTGRES_BLOAT OK/, 'check_postgres --action=bloat ran');
my %cp;
while ($cp_out =~ /(?:^|\s)(?:public\.)?(bc_[a-z_0-9]+)=(\d+)B/g)
{
	$cp{$1} //= $2;    # its first figure: tables as schema.name, indexes by name
}
ok(scalar(keys %cp) > 0, 'check_postgres reported wasted bytes for corpus relations');

# 2. what a rewrite leaves free, and the truth
$node->safe_psql('acc', slurp_file("$dir/bloat_truth_after.sql"));
my $rows = $node->safe_psql('acc', q{
SELECT name, kind, am, size, truth, coalesce(est::text, ''), coalesce(confidence, ''),
       coalesce(reason, ''), coalesce(remedy, '')
  FROM acc_cmp ORDER BY kind DESC, name});

my (@err, @err_conf, @cp_err);
my ($tables, %am, $worst_conf_name) = (0);
my $table = sprintf("%-22s %-5s %-5s %10s %6s %6s %-6s %6s %6s %6s\n",
	'relation', 'kind', 'am', 'size kB', 'truth', 'est', 'conf', 'err', 'c_p', 'c_p err');
foreach my $line (split /\n/, $rows)
{
	my ($name, $kind, $am, $size, $truth, $est, $conf, $reason, $remedy) = split /\|/, $line, -1;
	$tables++ if $kind eq 'table';
	$am{$am}++ if $kind eq 'index';
	my $cpp = defined $cp{$name} && $size > 0 ? sprintf('%.1f', 100.0 * $cp{$name} / $size) : '0.0';
	my $cpe = abs($cpp - $truth);
	push @cp_err, $cpe;
	my $err = $est eq '' ? undef : abs($est - $truth);
	if (defined $err)
	{
		push @err, $err;
		push @err_conf, $err if $conf ne 'low';
	}
	$table .= sprintf("%-22s %-5s %-5s %10d %6.1f %6s %-6s %6s %6.1f %6.1f\n",
		$name, $kind, $am, $size / 1024, $truth, $est eq '' ? '-' : $est, $conf,
		defined $err ? sprintf('%.1f', $err) : '-', $cpp, $cpe);
	if ($conf eq 'low')
	{
		ok($reason ne '', "$name: confidence low, with the reason ($reason)");
	}
	elsif (defined $err)
	{
		ok($err <= 15, "$name: confident ($conf) estimate $est % within 15 points of $truth %")
		  or diag("$name: $reason");
	}
	else
	{
		fail("$name: no estimate, yet confidence $conf");
	}
}

sub median
{
	my @s = sort { $a <=> $b } @_;
	return 0 unless @s;
	return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}
sub worst { my $m = 0; $m = $_ > $m ? $_ : $m foreach @_; return $m; }

my ($med, $wst, $wst_conf) = (median(@err), worst(@err), worst(@err_conf));
my ($cp_med, $cp_wst) = (median(@cp_err), worst(@cp_err));
my $secs = time - $t0;
$table .= sprintf("pg_runbook: %d of %d relations estimated (%d confident): median error %.1f points, worst %.1f (worst confident %.1f)\n",
	scalar @err, scalar @cp_err, scalar @err_conf, $med, $wst, $wst_conf);
$table .= sprintf("check_postgres: median error %.1f points, worst %.1f (%d relations; not reported = 0 %%)\n",
	$cp_med, $cp_wst, scalar @cp_err);
$table .= sprintf("corpus built in %.0f s, whole test %.0f s\n", $built, $secs);
diag("\n" . $table);
open(my $fh, '>', "${PostgreSQL::Test::Utils::log_path}/bloat_accuracy.txt") or die $!;
print $fh $table;
close $fh;

# the corpus covers what it should
cmp_ok($tables, '>=', 30, "at least 30 tables ($tables)");
ok($am{$_}, "$_ indexes in the corpus") foreach qw(btree gin gist hash);

# the issue's case: 1,000,000 rows, 80 % updated or deleted, no VACUUM
my ($issue) = grep { /^bc_issue\|/ } split /\n/, $rows;
my (undef, undef, undef, undef, $itruth, $iest) = split /\|/, $issue;
cmp_ok(abs($iest - $itruth), '<=', 15, "the issue's table: estimate $iest % against pgstattuple $itruth %");
foreach my $ix (qw(bc_issue_pkey bc_issue_k))
{
	my ($l) = grep { /^$ix\|/ } split /\n/, $rows;
	my (undef, undef, undef, undef, $t, $e, $c) = split /\|/, $l;
	ok(abs($e - $t) <= 15 || $c eq 'low', "the issue's index $ix: estimate $e % against pgstatindex $t % ($c)");
}

cmp_ok($med, '<=', 5, "median error $med <= 5 points");
cmp_ok($wst_conf, '<=', 15, "worst confident error $wst_conf <= 15 points");
cmp_ok($med, '<', $cp_med, "median error below check_postgres's ($cp_med)");
cmp_ok($wst, '<', $cp_wst, "worst error (low rows included) below check_postgres's ($cp_wst)");

# low-confidence rows offer the exact method with its cost, or ANALYZE
my $offers = $node->safe_psql('acc', q{
SELECT count(*) FILTER (WHERE remedy LIKE 'SELECT * FROM runbook.bloat_report(''exact'', %'
                              AND reason LIKE '%method ''exact'' measures it (pgstattuple reads all %'),
       count(*) FILTER (WHERE remedy LIKE 'ANALYZE %')
  FROM acc_est WHERE confidence = 'low'});
my ($exact, $analyze) = split /\|/, $offers;
cmp_ok($exact, '>', 0, "low rows offer bloat_report('exact') and say what it reads ($exact)");
cmp_ok($analyze, '>', 0, "low rows for want of statistics offer ANALYZE ($analyze)");

done_testing();
