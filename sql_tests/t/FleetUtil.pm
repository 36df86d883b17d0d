# Helpers of the fleet tests: the real prometheus-postgres-exporter and
# Prometheus from Debian's packages, started on loopback against the test
# servers, and a plain HTTP GET.  Not a test itself.
package FleetUtil;

use strict;
use warnings;
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);
use Exporter 'import';

our @EXPORT = qw(fleet_programs_missing start_exporter start_prometheus http_get wait_http stop_all contrib_dir);

my @procs;

sub contrib_dir
{
	my $root = $ENV{PG_RUNBOOK_ROOT} // '.';
	return "$root/contrib/prometheus";
}

# The program that is not installed, or undef when all are.
sub fleet_programs_missing
{
	for my $p (@_)
	{
		return $p unless grep { -x "$_/$p" } split /:/, "$ENV{PATH}:/usr/bin:/usr/sbin";
	}
	return undef;
}

sub http_get
{
	my ($url) = @_;
	my $r = HTTP::Tiny->new(timeout => 10)->get($url);
	return $r->{success} ? $r->{content} : undef;
}

# Poll a URL until it answers (or die after $timeout seconds).
sub wait_http
{
	my ($url, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	for (my $i = 0; $i < $timeout * 10; $i++)
	{
		my $c = http_get($url);
		return $c if defined $c;
		usleep(100_000);
	}
	die "no answer from $url after $timeout s";
}

# prometheus-postgres-exporter for $node's database postgres, with the
# shipped query file and nothing else; returns its base URL.
sub start_exporter
{
	my ($node, $name) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $log = $node->basedir . "/exporter_$name.log";
	local $ENV{DATA_SOURCE_NAME} =
	  'host=' . $node->host . ' port=' . $node->port . ' user=' . ($ENV{USER} // getpwuid($<)) . ' dbname=postgres sslmode=disable';
	my $h = IPC::Run::start(
		[
			'prometheus-postgres-exporter',
			'--extend.query-path=' . contrib_dir() . '/postgres_exporter.yml',
			'--disable-default-metrics', '--disable-settings-metrics',
			"--web.listen-address=127.0.0.1:$port"
		],
		'<', \undef, '>', $log, '2>', $log);
	push @procs, $h;
	my $url = "http://127.0.0.1:$port";
	wait_http("$url/metrics");
	return $url;
}

# Prometheus scraping the given targets every second, with the given rules
# file, evaluating every second; returns its base URL.
sub start_prometheus
{
	my ($dir, $rules, @targets) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	mkdir "$dir/prom-data";
	my $targets = join(', ', map { "'$_'" } @targets);
	open my $fh, '>', "$dir/prometheus.yml" or die $!;
	print $fh <<"EOF";
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - '$rules'
scrape_configs:
  - job_name: postgres
    static_configs:
      - targets: [$targets]
EOF
	close $fh;
	my $log = "$dir/prometheus.log";
	my $h = IPC::Run::start(
		[
			'prometheus', "--config.file=$dir/prometheus.yml",
			"--storage.tsdb.path=$dir/prom-data",
			"--web.listen-address=127.0.0.1:$port"
		],
		'<', \undef, '>', $log, '2>', $log);
	push @procs, $h;
	my $url = "http://127.0.0.1:$port";
	wait_http("$url/-/ready");
	return $url;
}

sub stop_all
{
	for my $h (@procs)
	{
		eval { $h->signal('TERM'); $h->finish; };
	}
	@procs = ();
}

END { stop_all(); }

1;
