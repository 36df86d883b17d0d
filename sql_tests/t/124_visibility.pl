# Show only what the reader may see (issue 22).
#
# A role granted USAGE on schema runbook and EXECUTE on one function (the
# per-function delegation of docs/security.md), not a member of
# pg_read_all_stats, reads sessions of other roles through pg_runbook no
# better than through its own pg_stat_activity: no query text, no client
# address of a session that pg_stat_activity shows it as
# <insufficient privilege>.  Secrets (a card number, an API key) sit in the
# queries of role rb_secret, over TCP; then:
#  - every function and view of schema runbook (enumerated from the
#    catalog, so a function added later is covered), called by a role with
#    EXECUTE on all of them and SELECT on every table and view, returns no
#    secret;
#  - events(), recent_actions(), wait_profile(), history(),
#    policy_preview(), SELECT on runbook.actions or runbook.events_archive,
#    each granted alone, show
#    the secret session as <insufficient privilege> (and a superuser does
#    see the secrets there: the test can fail);
#  - the audit records what the actor could see: a refused terminate() of a
#    superuser's session and a terminate() by a pg_signal_backend member
#    of a session it may not see copy no query text into the audit;
#  - runbook.actions keeps pg_monitor's read and the audit writer's insert.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('visibility');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.database = 'postgres'
pg_runbook.enforce = off
pg_runbook.sample_interval = '100ms'
listen_addresses = '127.0.0.1'
});
$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n");
$node->start;

my $su = $node->safe_psql('postgres', 'SELECT current_user');
sub sql { return $node->safe_psql('postgres', $_[0]); }

# as a role: (output, stderr); errors are the caller's business
sub as_role
{
	my ($role, $q) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $q,
		extra_params => [ '-U', $role, '-v', 'VERBOSITY=verbose' ]);
	return ($out // '', $err // '', $ret);
}

my $CARD = '4111-1111-1111-1111';
my $KEY = 'sk_live_51HxSECRETapiKEY';
my $SU_CARD = '5500-0000-0000-0004';
my $secret_re = qr/4111-1111|sk_live_51Hx|5500-0000/;

sql(qq{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE rb_secret LOGIN;
	CREATE ROLE rb_reader LOGIN IN ROLE pg_read_all_settings; -- and EXECUTE on everything, SELECT on every relation
	CREATE ROLE rb_one LOGIN;            -- EXECUTE on one function at a time
	CREATE ROLE rb_signal LOGIN IN ROLE pg_signal_backend;
	CREATE ROLE rb_monitor LOGIN IN ROLE pg_monitor;
	GRANT USAGE ON SCHEMA runbook TO rb_reader, rb_one, rb_signal;
	GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA runbook TO rb_reader;
	GRANT SELECT ON ALL TABLES IN SCHEMA runbook TO rb_reader;
	GRANT EXECUTE ON FUNCTION runbook.terminate(integer, text) TO rb_signal;
	UPDATE runbook.alert_thresholds SET value = 1 WHERE name = 'long_query_seconds';
	-- policy_preview(): a log policy on the secret role's running statements
	INSERT INTO runbook.policies (name, role_name, states, min_state_age, action)
	VALUES ('watch_secret', 'rb_secret', '{active}', '0', 'log');
});
sql('SELECT pg_reload_conf()');    # the sampler re-reads its thresholds

# a session of rb_secret over TCP, running a statement with secrets
sub secret_session
{
	my ($user, $text) = @_;
	local $node->{_host} = '127.0.0.1';
	my $s = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', $user ]);
	$s->query_safe("SET application_name = 'secret-app'");
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
	$s->query_until(qr/running/, "\\echo running\nSELECT pg_sleep(600) /* $text */;\n");
	$node->poll_query_until('postgres',
		"SELECT state = 'active' AND query LIKE 'SELECT pg_sleep(600)%' FROM pg_stat_activity WHERE pid = $pid")
	  or die "the secret statement did not start";
	return ($s, $pid);
}

# ---- the audit: entries recorded by a superuser (who sees the secret) ----
my ($s1, $p1) = secret_session('rb_secret', "card $CARD api_key=$KEY");
like(sql(qq{SELECT query FROM runbook.cancel($p1, 'visibility test')}), $secret_re,
	'a superuser cancel() shows the secret query it may see');
eval { $s1->quit };

# ---- the audit records what the actor could see --------------------------
my ($ssu, $psu) = secret_session($su, "superuser card $SU_CARD");
my ($out, $err) = as_role('rb_signal',
	qq{SELECT outcome || ' ' || reason || ' ' || coalesce(query, '') FROM runbook.terminate($psu, 'refused')});
like($out, qr/^skipped /, "a pg_signal_backend member's terminate() of a superuser's session is refused ($out)");
unlike($out, $secret_re, '... and shows it no query text');
my ($s2, $p2) = secret_session('rb_secret', "card $CARD api_key=$KEY");
($out, $err) = as_role('rb_signal',
	qq{SELECT outcome || ' ' || coalesce(query, '') FROM runbook.terminate($p2, 'allowed')});
like($out, qr/^terminated <insufficient privilege>$/,
	"a pg_signal_backend member may end a session it may not see ($out)");
eval { $s2->quit };
is(sql(qq{SELECT string_agg(pid || ' ' || outcome || ' ' || coalesce(query, '-') || ' ' || coalesce(host(client_addr), '-'), '; ' ORDER BY seq)
            FROM runbook.recent_actions() WHERE acting_role = 'rb_signal'}),
	"$psu skipped <insufficient privilege> -; $p2 terminated <insufficient privilege> -",
	'the audit holds neither query nor client address of what rb_signal could not see (read as superuser)');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 3 FROM runbook.actions}),
	'the audit writer copied the three entries into runbook.actions');
is(sql(qq{SELECT count(*) FROM runbook.actions WHERE query ~ '4111-1111|5500-0000'}), '1',
	'runbook.actions: only the superuser cancel() holds a secret query');
($out) = as_role('rb_monitor', q{SELECT count(*) || ' ' || count(*) FILTER (WHERE query ~ '4111-1111') FROM runbook.actions});
is($out, '3 1', 'a pg_monitor member reads every row of runbook.actions');

# ---- live sessions with secrets, for the readers -------------------------
my ($s3, $p3) = secret_session('rb_secret', "card $CARD api_key=$KEY");
my $t0 = sql(q{SELECT now() - interval '10 min'});
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) > 0 FROM runbook.events('$t0') WHERE kind = 'long_query' AND pid = $p3}),
	'the flight recorder has a long_query event for the secret statement');
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) > 0 FROM runbook.wait_profile('$t0') WHERE query ~ '4111-1111'}),
	'the wait profile has the secret statement');
sql('SELECT runbook.archive_history()');
is(sql(q{SELECT count(*) > 0 FROM runbook.events_archive WHERE query ~ '4111-1111'}), 't',
	'archive_history() copied the secret event into runbook.events_archive');
my $port3 = sql(qq{SELECT client_port FROM pg_stat_activity WHERE pid = $p3});
ok($port3 > 0, "the secret session comes over TCP (port $port3)");

# the reader's own pg_stat_activity: the secret session is not visible
for my $r ('rb_reader', 'rb_one')
{
	($out) = as_role($r, qq{SELECT query || ' ' || coalesce(host(client_addr), '-') FROM pg_stat_activity WHERE pid = $p3});
	is($out, '<insufficient privilege> -', "$r: pg_stat_activity shows the secret session as <insufficient privilege>");
}

# ---- each function granted alone ------------------------------------------
my %one = (
	'events'         => [ 'runbook.events(timestamptz, timestamptz)',
	                      qq{SELECT string_agg(e::text, E'\\n') FROM runbook.events('$t0') e},
	                      qq{SELECT query FROM runbook.events('$t0') WHERE kind = 'long_query' AND pid = $p3 LIMIT 1} ],
	'recent_actions' => [ 'runbook.recent_actions()',
	                      q{SELECT string_agg(a::text, E'\n') FROM runbook.recent_actions() a},
	                      q{SELECT query || ' ' || coalesce(host(client_addr), '-') FROM runbook.recent_actions() WHERE actor = 'cancel'} ],
	'_wait_samples'  => [ 'runbook._wait_samples(timestamptz, timestamptz)',
	                      qq{SELECT string_agg(w::text, E'\\n') FROM runbook._wait_samples('$t0', now()) w},
	                      qq{SELECT string_agg(DISTINCT query, ',') FROM runbook._wait_samples('$t0', now()) WHERE kind = 'query' AND wait_event = 'PgSleep'} ],
	'history'        => [ 'runbook.history(timestamptz, timestamptz)',
	                      qq{SELECT string_agg(h::text, E'\\n') FROM runbook.history('$t0') h},
	                      qq{SELECT count(*) > 0 FROM runbook.history('$t0')} ],
	'policy_preview' => [ 'runbook.policy_preview()',
	                      q{SELECT string_agg(p::text, E'\n') FROM runbook.policy_preview() p},
	                      qq{SELECT query || ' ' || coalesce(host(client_addr), '-') FROM runbook.policy_preview() WHERE pid = $p3} ],
	'events_archive' => [ 'TABLE runbook.events_archive',
	                      q{SELECT string_agg(a::text, E'\n') FROM runbook.events_archive a},
	                      q{SELECT count(*) FROM runbook.events_archive WHERE query IS NOT NULL} ],
	'actions'        => [ 'TABLE runbook.actions',
	                      q{SELECT string_agg(a::text, E'\n') FROM runbook.actions a},
	                      q{SELECT count(*) FROM runbook.actions WHERE usename = 'rb_secret'} ],
);
my %expect = (
	'events'         => '<insufficient privilege>',
	'recent_actions' => '<insufficient privilege> -',
	'_wait_samples'  => '<insufficient privilege>',
	'history'        => 't',
	'policy_preview' => '<insufficient privilege> -',
	'actions'        => '0',
	'events_archive' => '0',
);
for my $f (sort keys %one)
{
	my ($obj, $all, $probe) = @{ $one{$f} };
	my $grant = $obj =~ /^TABLE (.*)/ ? "SELECT ON $1" : "EXECUTE ON FUNCTION $obj";
	sql("GRANT $grant TO rb_one");
	sql('GRANT SELECT ON runbook.policies TO rb_one') if $f eq 'policy_preview';
	my ($su_out) = as_role($su, $all);
	like($su_out, $secret_re, "$f: a superuser sees the secret") unless $f eq 'history';
	my ($o, $e, $ret) = as_role('rb_one', $all);
	is($ret, 0, "$f granted alone: callable") or diag($e);
	unlike($o, $secret_re, "$f granted alone: no secret");
	unlike($o, qr/127\.0\.0\.1/, "$f granted alone: no client address");
	($o) = as_role('rb_one', $probe);
	is($o, $expect{$f}, "$f granted alone: the secret session reads as pg_stat_activity shows it");
	sql("REVOKE $grant FROM rb_one");
	sql('REVOKE SELECT ON runbook.policies FROM rb_one') if $f eq 'policy_preview';
}

# ---- every function and view, with everything granted but the statistics role
my %generic = (
	'interval' => q{'1 hour'::pg_catalog.interval},
	'boolean' => 'false',
	'integer' => '0',
	'bigint' => '1',
	'smallint' => '1',
	'real' => '0.5',
	'double precision' => '0.5',
	'numeric' => '1',
	'text' => q{'x'::pg_catalog.text},
	'text[]' => q{'{active}'::pg_catalog.text[]},
	'name' => q{'rb_secret'::pg_catalog.name},
	'oid' => '0',
	'regclass' => q{'runbook.actions'::pg_catalog.regclass},
	'regclass[]' => q{'{runbook.actions}'::pg_catalog.regclass[]},
	'timestamp with time zone' => qq{'$t0'::pg_catalog.timestamptz},
	'jsonb' => q{'{}'::pg_catalog.jsonb},
	'cidr' => q{'127.0.0.1/32'::pg_catalog.cidr},
	'inet' => q{'127.0.0.1'::pg_catalog.inet},
	'integer[]' => qq{'{$p3}'::pg_catalog.int4[]},
	'runbook.sessions[]' => q{ARRAY(SELECT s FROM runbook.sessions s)},
);
# functions that change state are left out: the worker, the archive, policies
my $writers = qr/^(pause_worker|resume_worker|enable_starter_policies|archive_history)$/;
my @calls;
for my $row (split /\n/, sql(q{
	SET search_path = pg_catalog;
	SELECT p.proname, p.pronargs - p.pronargdefaults,
	       coalesce(array_to_string(p.proargnames, ','), ''),
	       coalesce((SELECT string_agg(format_type(t, NULL), ',' ORDER BY o)
	                   FROM unnest(p.proargtypes) WITH ORDINALITY u(t, o)), '')
	  FROM pg_proc p
	 WHERE p.pronamespace = 'runbook'::regnamespace
	   AND p.prorettype <> 'trigger'::regtype AND p.prokind = 'f'
	 ORDER BY p.proname, p.oid}))
{
	my ($name, $nreq, $argnames, $argtypes) = split /\|/, $row, -1;
	next if $name =~ $writers;
	my @names = split /,/, $argnames;
	my @types = split /,/, $argtypes;
	my (@args, $skip);
	for my $i (0 .. $#types)
	{
		my $n = $names[$i] // '';
		if ($i < $nreq)
		{
			my $v = $generic{ $types[$i] };
			if (!defined $v) { diag("no generic value for $types[$i] of $name"); $skip = 1; last; }
			push @args, $n ne '' ? "$n => $v" : $v;
		}
		elsif ($n eq 'dry_run')
		{
			push @args, 'dry_run => true';
		}
	}
	next if $skip;
	push @calls, "SELECT pg_catalog.string_agg(x::pg_catalog.text, E'\\n') FROM runbook.$name("
	  . join(', ', @args) . ') x';
}
for my $v (split /\n/, sql(
	q{SELECT relname FROM pg_catalog.pg_class WHERE relnamespace = 'runbook'::pg_catalog.regnamespace AND relkind IN ('v', 'r') ORDER BY 1}))
{
	push @calls, "SELECT pg_catalog.string_agg(x::pg_catalog.text, E'\\n') FROM runbook.$v x";
}
push @calls,
  q{SELECT runbook.incident_report()},
  q{SELECT runbook.incident_message('declare')},
  q{SELECT runbook.incident_message('update')},
  q{SELECT runbook.lock_tree()};
cmp_ok(scalar(@calls), '>', 60, scalar(@calls) . ' calls enumerated from the catalog');

my ($su_seen, @leaks, $worked) = (0);
for my $q (@calls)
{
	my ($so) = as_role($su, $q);
	$su_seen++ if $so =~ $secret_re;
	my ($o, $e, $ret) = as_role('rb_reader', $q);
	$worked++ if $ret == 0;
	push @leaks, "$q: " . substr($o, 0, 300) if $o =~ $secret_re || $e =~ $secret_re;
}
cmp_ok($su_seen, '>=', 6, "as superuser, $su_seen calls show a secret (the test can see a leak)");
cmp_ok($worked, '>', 50, "as rb_reader, $worked calls worked");
is(join("\n", @leaks), '', 'as rb_reader (everything granted, not pg_read_all_stats): no call shows a secret');

# incident_report() and incident_message() through the visible parts only
($out, $err) = as_role('rb_reader', q{SELECT runbook.incident_report()});
# (Markdown escapes the angle brackets)
like($out, qr/\\?<insufficient privilege\\?>/, 'incident_report() shows the hidden statement as pg_stat_activity does')
  or diag($err);

sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ($p3, $psu)");
eval { $_->quit } for ($s3, $ssu);
$node->stop;
done_testing();
