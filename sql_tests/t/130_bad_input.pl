# Every function, every bad input (issue 12 §2).
#
# The call list is built from the catalog (pg_proc, schema runbook), so a
# function added later is covered without editing this test.  Each function
# is called with one hostile value per argument (the other arguments left
# to their defaults or given a benign value of their type): NULLs,
# negative / zero / huge intervals, empty and NULL-element arrays, huge and
# negative integers, NaN and infinities, unknown method names, empty and
# very long text, the regclass of a dropped, foreign, partitioned, TOAST,
# catalog relation, a view, an index, a sequence...  Expected: a result, or
# an ERROR with a proper SQLSTATE (never XX000), never a lost connection.
#
# Passes: a superuser (remedies always with dry_run => true), a pg_monitor
# member without pg_signal_backend, a role with no grants, every function
# inside an aborted transaction, and the sweep again on a streaming standby.
# Canary sessions (idle, idle in transaction holding a lock, a lock waiter)
# prove that nothing was signalled: they all survive, the audit records no
# terminated or cancelled session, and no server process crashed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('bad_input');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
max_prepared_transactions = 5
pg_runbook.naptime = '1h'
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_runbook;
CREATE EXTENSION pgstattuple;
CREATE ROLE rb_mon LOGIN IN ROLE pg_monitor;
CREATE ROLE rb_nogrant LOGIN;
CREATE ROLE rb_canary LOGIN;
CREATE TABLE bi_plain (id int PRIMARY KEY, t text);
INSERT INTO bi_plain SELECT g, repeat('x', 3000) FROM generate_series(1, 50) g;
CREATE TABLE bi_part (a int) PARTITION BY RANGE (a);
CREATE TABLE bi_part_1 PARTITION OF bi_part FOR VALUES FROM (0) TO (100);
CREATE INDEX bi_part_a ON bi_part (a);
CREATE FOREIGN DATA WRAPPER bi_fdw;
CREATE SERVER bi_srv FOREIGN DATA WRAPPER bi_fdw;
CREATE FOREIGN TABLE bi_foreign (a int) SERVER bi_srv;
CREATE VIEW bi_view AS SELECT 1 AS one;
CREATE MATERIALIZED VIEW bi_mv AS SELECT 1 AS one;
CREATE SEQUENCE bi_seq;
CREATE TABLE bi_dropped (a int);
CREATE TABLE bi_canary (a int);
GRANT ALL ON bi_canary TO rb_canary;
ANALYZE;
});
my $dropped = $node->safe_psql('postgres',
	q{SELECT 'bi_dropped'::regclass::oid; DROP TABLE bi_dropped;});
my $toast = $node->safe_psql('postgres',
	q{SELECT reltoastrelid FROM pg_class WHERE oid = 'bi_plain'::regclass});
ok($toast > 0, 'bi_plain has a TOAST table');

# ---------------------------------------------------------------------
# values by type: hostile ones, and one benign value
my $long = "repeat('x', 100000)";
my %hostile = (
	'interval' => [ q{'-1 s'}, q{'0'}, q{'-178000000 years'}, q{'178000000 years'},
		q{'2147483647 days'}, q{'-2147483648 months'}, q{'1 microsecond'} ],
	'integer'  => [ '0', '-1', '-2147483648', '2147483647' ],
	'smallint' => [ '0', '-1', '-32768', '32767' ],
	'bigint'   => [ '0', '-1', '-9223372036854775808', '9223372036854775807' ],
	'real'     => [ '0', '-1', q{'NaN'}, q{'Infinity'}, q{'-Infinity'}, '1e30' ],
	'double precision' => [ '0', '-1', q{'NaN'}, q{'Infinity'}, q{'-Infinity'}, '1e300' ],
	'numeric'  => [ '0', '-1', q{'NaN'}, '1e300', '-1e300' ],
	'text'     => [ q{''}, $long, q{'no_such_method'}, q{'%'}, q{'''; SELECT 1; --'},
		q{E'\\\\'}, q{'all'}, q{'main'} ],
	'name'     => [ q{''}, "repeat('x', 200)", q{'no_such_role'} ],
	'boolean'  => [ 'true', 'false' ],
	'regclass' => [ '0', "$dropped", "'bi_foreign'", "'bi_part'", "'bi_part_a'", "$toast",
		"'pg_class'", "'bi_view'", "'bi_mv'", "'bi_seq'", "'bi_plain_pkey'", "'bi_plain'" ],
	'oid'      => [ '0', '4294967295', "$dropped" ],
	'text[]'   => [ q{'{}'}, q{'{NULL}'}, q{'{idle,bogus}'}, "ARRAY[$long]" ],
	'integer[]' => [ q{'{}'}, q{'{NULL}'}, q{'{-1,0,2147483647}'} ],
	'timestamp with time zone' => [ q{'infinity'}, q{'-infinity'}, q{'4713-01-01 00:00 BC'},
		q{'294276-12-31 00:00'}, q{now() + '1 year'} ],
	'cidr'     => [ q{'0.0.0.0/0'}, q{'::/0'}, q{'255.255.255.255/32'} ],
	'inet'     => [ q{'0.0.0.0/0'}, q{'::1'} ],
	'jsonb'    => [ q{'{}'}, q{'[]'}, q{'null'} ],
);
my %benign = (
	'interval' => q{'1 hour'}, 'integer' => '1', 'smallint' => '1', 'bigint' => '1',
	'real' => '0.5', 'double precision' => '0.5', 'numeric' => '0.5',
	'text' => q{'x'}, 'name' => q{'x'}, 'boolean' => 'false',
	'regclass' => q{'bi_plain'}, 'oid' => '1', 'text[]' => q{'{}'}, 'integer[]' => q{'{}'},
	'timestamp with time zone' => q{now() - '1 hour'}, 'cidr' => q{'10.0.0.0/8'},
	'inet' => q{'10.0.0.1'}, 'jsonb' => q{'{}'},
);

sub lit
{
	my ($v, $type) = @_;
	return "($v)::$type";
}

# the catalog: every function of the extension's schema with its IN arguments
sub catalog
{
	my ($n) = @_;
	my $rows = $n->safe_psql('postgres', q{
SELECT p.oid, p.proname, p.prokind, p.pronargdefaults,
       coalesce((SELECT string_agg(coalesce(nullif(a.n, ''), '-') || '=' || format_type(a.t, NULL), ';' ORDER BY a.o)
                   FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
                               coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs])),
                               coalesce(p.proargnames, array_fill(''::text, ARRAY[cardinality(coalesce(p.proallargtypes, p.proargtypes::oid[]))])))
                        WITH ORDINALITY AS a(t, m, n, o)
                  WHERE a.m IN ('i', 'b', 'v')), '')
  FROM pg_proc p
 WHERE p.pronamespace = 'runbook'::regnamespace
 ORDER BY p.proname, p.oid});
	my @f;
	for my $line (split /\n/, $rows)
	{
		my ($oid, $name, $kind, $ndef, $args) = split /\|/, $line, 5;
		my @args = map { [ split /=/, $_, 2 ] } grep { length } split /;/, $args;
		push @f, { oid => $oid, name => $name, kind => $kind, ndef => $ndef, args => \@args };
	}
	return @f;
}

# one call with the given values (undef = leave to its default)
sub call_sql
{
	my ($f, $vals) = @_;
	my @args = @{ $f->{args} };
	my $named = !grep { $_->[0] eq '-' } @args;
	my @parts;
	for my $i (0 .. $#args)
	{
		my ($an, $at) = @{ $args[$i] };
		my $v = $vals->[$i];
		if (!defined $v)
		{
			next if $named;
			$v = 'NULL';
		}
		push @parts, $named ? "$an => " . lit($v, $at) : lit($v, $at);
	}
	my $call = "runbook.$f->{name}(" . join(', ', @parts) . ')';
	return $f->{kind} eq 'p' ? "CALL $call" : "SELECT * FROM $call";
}

# every (function, hostile input) call of a sweep
sub calls
{
	my @calls;
	for my $f (@_)
	{
		my @args = @{ $f->{args} };
		my $first_default = @args - $f->{ndef};
		my @base;
		for my $i (0 .. $#args)
		{
			my ($an, $at) = @{ $args[$i] };
			if ($an eq 'dry_run') { $base[$i] = 'true'; next; }    # never signal
			$base[$i] = $i >= $first_default ? undef : ($benign{$at} // 'NULL');
		}
		push @calls, [ $f, call_sql($f, \@base) ];
		for my $i (0 .. $#args)
		{
			my ($an, $at) = @{ $args[$i] };
			my @values = ('NULL');
			push @values, @{ $hostile{$at} // [] } unless $an eq 'dry_run';
			for my $v (@values)
			{
				my @vals = @base;
				$vals[$i] = $v;
				push @calls, [ $f, call_sql($f, \@vals) ];
			}
		}
	}
	return @calls;
}

# Run a list of calls in one psql session (each its own statement, under a
# statement_timeout); return (ran, sqlstate counts, internal errors, lost).
sub sweep
{
	my ($n, $role, $label, $calls, $pre, $post) = @_;
	my $script = "SET statement_timeout = '20s';\n\\o /dev/null\n";
	$pre //= '';
	$post //= '';
	for my $k (0 .. $#$calls)
	{
		my $sql = $calls->[$k][1];
		$script .= "$pre\\echo @\@ $k begin\n$sql;\n\\echo @\@ $k :SQLSTATE\n$post";
	}
	$script .= "\\echo @\@ END\n";
	my ($out, $err) = ('', '');
	$n->psql('postgres', $script, stdout => \$out, stderr => \$err,
		on_error_stop => 0, extra_params => [ '-U', $role ]);
	my (%states, @internal, $last);
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^@@ (\d+) begin$/) { $last = $1; next; }
		next unless $line =~ /^@@ (\d+) (\w+)$/;
		$states{$2}++;
		push @internal, $calls->[$1][1] if $2 eq 'XX000';
		note("$label: $2 $calls->[$1][1]") unless $2 eq '00000' || $2 eq '42501';
	}
	my $lost = $out !~ /^@@ END$/m;
	if ($lost)
	{
		diag("$label: connection lost at call: "
			  . (defined $last ? $calls->[$last][1] : '(before the first call)'));
		diag(substr($err, -2000));
	}
	for my $c (@internal)
	{
		diag("$label: internal error (XX000): $c");
	}
	note("$label: " . join(', ', map { "$_ x$states{$_}" } sort keys %states));
	return (scalar(@$calls), \%states, \@internal, $lost);
}

my @funcs = catalog($node);
my @calls = calls(@funcs);
ok(@funcs > 40, scalar(@funcs) . ' functions of schema runbook found in pg_proc');
my %nfunc = map { $_->{name} => 1 } @funcs;
ok($nfunc{terminate_blockers} && $nfunc{kill_idle} && $nfunc{relation_size_nowait},
	'the remedies and diagnostics are in the list');

# ---------------------------------------------------------------------
# canaries: idle, idle in transaction holding a lock, and a waiter behind it
my %canary;
for my $c (qw(idle holder waiter))
{
	$canary{$c} = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', 'rb_canary' ]);
	$canary{$c}->query_safe("SET application_name = 'canary_$c'");
}
$canary{holder}->query_safe('BEGIN; LOCK TABLE bi_canary IN ACCESS EXCLUSIVE MODE');
$canary{waiter}->query_until(qr/go/, "\\echo go\nBEGIN; LOCK TABLE bi_canary;\n");
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'canary_waiter' AND wait_event_type = 'Lock'}),
	'the canary waiter waits on the canary holder');
my %canary_pid = map {
	$_ => $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE application_name = 'canary_$_'")
} keys %canary;

my $log_start = -s $node->logfile;
my $total = 0;

# pass 1: superuser; pass 2: pg_monitor, no pg_signal_backend; pass 3: no grants
for my $pass ([ 'superuser', $node->safe_psql('postgres', 'SELECT current_user') ],
	[ 'pg_monitor member', 'rb_mon' ], [ 'role without grants', 'rb_nogrant' ])
{
	my ($label, $role) = @$pass;
	my ($ran, $states, $internal, $lost) = sweep($node, $role, $label, \@calls);
	$total += $ran;
	ok(!$lost, "$label: the connection survived $ran calls");
	is(scalar(@$internal), 0, "$label: no internal error (XX000)");
	ok(($states->{'00000'} // 0) > 0, "$label: some calls returned a result")
	  if $role ne 'rb_nogrant';
	ok(($states->{'42501'} // 0) > 0, "$label: calls without EXECUTE are refused (42501)")
	  if $role eq 'rb_nogrant';
}
$node->safe_psql('postgres', 'SELECT runbook.resume_worker()');

# pass 4: every function inside an aborted transaction
{
	my @benign = grep { $_->[1] !~ /^CALL/ } map { (calls($_))[0] } @funcs;
	my ($ran, $states, $internal, $lost) = sweep($node, 'rb_mon', 'aborted transaction',
		\@benign, "BEGIN;\nSELECT 1/0;\n", "ROLLBACK;\n");
	$total += $ran;
	ok(!$lost, "aborted transaction: the connection survived $ran calls");
	is(scalar(@$internal), 0, 'aborted transaction: no internal error');
	is($states->{'25P02'}, $ran, 'aborted transaction: every call refused with 25P02');
}

# ---------------------------------------------------------------------
# nothing was signalled, nothing crashed
for my $c (sort keys %canary_pid)
{
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE pid = $canary_pid{$c}"),
		'1', "canary $c survived every pass");
}
is($canary{idle}->query_safe('SELECT 42'), '42', 'the idle canary still answers');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'canary_waiter' AND wait_event_type = 'Lock'}),
	'1', 'the canary waiter still waits (its blocker was not ended)');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM runbook.recent_actions() WHERE outcome IN ('terminated', 'cancelled')}),
	'0', 'the audit records no terminated or cancelled session');
my $log = slurp_file($node->logfile, $log_start);
unlike($log, qr/was terminated by signal|terminating any other active server processes/,
	'no server process crashed');

# ---------------------------------------------------------------------
# pass 5: the same sweep on a streaming standby (read-only server)
$node->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('bad_input_standby');
$standby->init_from_backup($node, 'bk', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
{
	my $slog = -s $standby->logfile;
	my @scalls = calls(catalog($standby));
	my ($ran, $states, $internal, $lost) = sweep($standby,
		$standby->safe_psql('postgres', 'SELECT current_user'), 'standby', \@scalls);
	$total += $ran;
	ok(!$lost, "standby: the connection survived $ran calls");
	is(scalar(@$internal), 0, 'standby: no internal error (XX000)');
	unlike(slurp_file($standby->logfile, $slog),
		qr/was terminated by signal|terminating any other active server processes/,
		'standby: no server process crashed');
}
$standby->stop;

diag(scalar(@funcs) . " functions; $total calls in all passes (" . scalar(@calls)
	  . " function x input combinations per sweep)");

$canary{holder}->query_safe('ROLLBACK');
for my $c (keys %canary) { eval { $canary{$c}->quit; }; }
$node->stop;
done_testing();
