# cancel_then_terminate escalates only after a cancel that happened
# (issue 12 §3).  With pg_runbook.max_actions_per_cycle = 1 and two
# statements that ignore cancels, the first cycle cancels one and skips the
# other for the cap.  The skipped one must be cancelled in a later cycle,
# and terminated only after its own grace period: never terminated without
# a cancel that was sent.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('escalation');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.database = 'postgres'
pg_runbook.naptime = '200ms'
pg_runbook.max_actions_per_cycle = 1
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE rb_app LOGIN;
});
ok($node->poll_query_until('postgres', 'SELECT running FROM runbook.worker_status()'), 'the worker runs');

my (@sess, @pid);
for my $name (qw(esc_a esc_b))
{
	my $s = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', 'rb_app' ]);
	$s->query_safe("SET application_name = '$name'");
	my $p = $s->query_safe('SELECT pg_backend_pid()');
	chomp $p;
	# a statement that ignores cancels
	$s->query_until(qr/stubborn/, "\\echo stubborn\n"
		  . "DO \$\$ BEGIN LOOP BEGIN PERFORM pg_sleep(600); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END \$\$;\n");
	push @sess, $s;
	push @pid, $p;
}
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name LIKE 'esc\\_%' AND state = 'active'"),
	'two statements that ignore cancels are running');

$node->safe_psql('postgres', q{
	INSERT INTO runbook.policies (name, states, application_pattern, min_query_age, action, grace)
	VALUES ('escalate', '{active}', 'esc\_%', '0', 'cancel_then_terminate', '2s');
});

ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'esc\\_%'"),
	'both sessions are ended in the end');
# a skip beyond the cap is not audited (the cap counts skips too): the LOG
# line that counts them shows the cap acted
like(slurp_file($node->logfile),
	qr/actor="policy:escalate" skipped \d+ sessions? without an audit entry each/,
	'the cap skipped an action at least once (the scenario formed)');
for my $i (0, 1)
{
	is($node->safe_psql('postgres',
			"SELECT string_agg(action || ':' || outcome, ' ' ORDER BY seq) FROM runbook.recent_actions() "
			  . "WHERE pid = $pid[$i] AND actor = 'policy:escalate' AND outcome <> 'skipped'"),
		'cancel:cancelled terminate:terminated',
		"session " . ($i + 1) . ": cancelled, then terminated (never terminated without a cancel sent)");
	my $gap = $node->safe_psql('postgres',
		"SELECT max(acted_at) FILTER (WHERE action = 'terminate') - max(acted_at) FILTER (WHERE action = 'cancel') >= interval '2s' "
		  . "FROM runbook.recent_actions() WHERE pid = $pid[$i] AND actor = 'policy:escalate' AND outcome <> 'skipped'");
	is($gap, 't', "session " . ($i + 1) . ": the terminate came at least the grace period after its own cancel");
}

for my $s (@sess)
{
	eval { $s->quit; };
}
$node->stop;
done_testing();
