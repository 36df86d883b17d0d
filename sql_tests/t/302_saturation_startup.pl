# A connection still in set-up is never signalled.
#
# bench/85_saturation.sh saw connection attempts closed during set-up with
# no message while the saturation policy acted; they were the kernel's
# (the postmaster's listen queue overflowed, see bench/README.md), not
# pg_runbook's.  This test holds the invariant that finding relies on: a
# backend that has read the startup packet and waits in authentication (the
# server asked for a password, the client has not sent it yet) is not a
# client session pg_runbook may end.  SIGTERM there closes the connection
# without a word to the client (PostgreSQL sends nothing while
# authentication is in progress), which an application cannot tell from a
# network failure.  So, while two connections wait in authentication:
#  - a saturation policy over every state of their role acts (the leak:
#    connections over the high-water mark, the worker ends the excess);
#  - a superuser calls runbook.terminate() on one of their pids;
# and both connections then complete their authentication and reach
# ReadyForQuery, and the audit has no entry for either.  Before 18 such a
# backend has no status entry (runbook.terminate() reports it gone); 18
# shows it in state "starting", and the remedy path skips it
# (not_client_backend).
use strict;
use warnings;
use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sat_startup');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.database = 'postgres'
pg_runbook.naptime = '1h'
max_connections = 20
# the stalled connections must outlast the test, however slow the machine
authentication_timeout = '10min'
});
# the stalling role authenticates with a password; everyone else as before
my $hba = slurp_file($node->data_dir . '/pg_hba.conf');
open(my $fh, '>', $node->data_dir . '/pg_hba.conf') or die $!;
print $fh "local all rb_stall password\n" . $hba;
close $fh;
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{CREATE EXTENSION pg_runbook});
sql(q{CREATE ROLE rb_stall LOGIN PASSWORD 'pw'});
my $usable = sql(q{SELECT current_setting('max_connections')::int
	- current_setting('superuser_reserved_connections')::int});

# ---- a raw protocol client that stops in authentication
my $sockpath = $node->host . '/.s.PGSQL.' . $node->port;

# read one message: (type, body) or () at end of stream
sub read_msg
{
	my ($s) = @_;
	my $sel = IO::Select->new($s);
	my $buf = '';
	my $want = 5;
	my ($type, $len);
	while (1)
	{
		while (length($buf) < $want)
		{
			return () unless $sel->can_read($PostgreSQL::Test::Utils::timeout_default);
			my $got = sysread($s, $buf, $want - length($buf), length($buf));
			return () unless $got;
		}
		last if defined $len;
		($type, $len) = unpack('a N', $buf);
		$want = 1 + $len;
	}
	return ($type, substr($buf, 5));
}

# connect, send the startup packet, and stop when the server asks for the
# password: returns the socket
sub stall
{
	my ($app) = @_;
	my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sockpath)
	  or die "connect $sockpath: $!";
	my $body = pack('N', 196608)
	  . "user\0rb_stall\0database\0postgres\0application_name\0$app\0\0";
	syswrite($s, pack('N', length($body) + 4) . $body);
	my ($type, $msg) = read_msg($s);
	die "expected a password request, got " . ($type // 'end of stream')
	  unless defined $type && $type eq 'R' && unpack('N', $msg) == 3;
	return $s;
}

# send the password; 'ready' when ReadyForQuery arrives, else what happened
sub finish
{
	my ($s) = @_;
	my $pw = "pw\0";
	syswrite($s, 'p' . pack('N', length($pw) + 4) . $pw);
	while (1)
	{
		my ($type, $msg) = read_msg($s);
		return 'closed without a message' unless defined $type;
		return 'ready' if $type eq 'Z';
		if ($type eq 'E')
		{
			$msg =~ s/\0/ /g;
			return "error: $msg";
		}
	}
}

# the pids of backends now waiting in authentication for rb_stall
sub authenticating
{
	my $pm = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
	my @pids;
	opendir(my $d, '/proc') or die $!;
	for my $p (grep { /^\d+$/ } readdir($d))
	{
		my $cmd = eval { slurp_file("/proc/$p/cmdline") } // next;
		my $stat = eval { slurp_file("/proc/$p/stat") } // next;
		my ($ppid) = $stat =~ /^\d+ \(.*\) \S+ (\d+)/;
		push @pids, $p
		  if defined $ppid && $ppid == $pm && $cmd =~ /rb_stall postgres \[local\] authentication/;
	}
	closedir($d);
	return sort { $a <=> $b } @pids;
}

my @stalled = (stall('stall-1'), stall('stall-2'));
my @spids;
for (1 .. $PostgreSQL::Test::Utils::timeout_default * 10)
{
	@spids = authenticating();
	last if @spids == 2;
	select(undef, undef, undef, 0.1);
}
is(scalar(@spids), 2, 'two backends wait in authentication')
  or BAIL_OUT('the scenario did not form');

# ---- the leak: a saturation policy on every state of rb_stall
sql(q{INSERT INTO runbook.policies (name, role_name, states, min_state_age, action,
	min_connections_pct, target_connections_pct)
    VALUES ('sat', 'rb_stall', '{idle,idle in transaction,idle in transaction (aborted),active}',
	        '0', 'terminate', 50, 30)});
my $high = int(0.5 * $usable + 0.999);
my @leak;
{
	local $ENV{PGPASSWORD} = 'pw';
	for my $i (1 .. $high + 2)
	{
		my $s = $node->background_psql('postgres', on_error_stop => 0,
			extra_params => [ '-U', 'rb_stall' ]);
		push @leak, $s;
	}
}
ok($node->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM runbook.recent_actions()
		   WHERE actor = 'policy:sat' AND outcome = 'terminated'}),
	'the saturation policy ended leaked sessions');
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) < $high FROM pg_stat_activity WHERE usename = 'rb_stall'}),
	'the leaked sessions are back under the high-water mark');

# ---- by pid
my $out = sql(qq{SELECT outcome || ' ' || coalesce(reason, '') FROM runbook.terminate($spids[0], 'test')});
unlike($out, qr/^terminated/, "runbook.terminate() of a backend in authentication does not signal it ($out)");

# ---- nothing touched them: both complete their authentication
is(sql(qq{SELECT count(*) FROM runbook.recent_actions()
	WHERE pid IN ($spids[0], $spids[1]) AND outcome = 'terminated'}),
	'0', 'the audit has no termination of either');
is(join(',', authenticating()), join(',', @spids), 'both still wait in authentication');
is(finish($stalled[0]), 'ready', 'the first completes its authentication and is ready for queries');
is(finish($stalled[1]), 'ready', 'the second too');

close $_ for @stalled;
eval { $_->quit } for @leak;
$node->stop;
done_testing();
