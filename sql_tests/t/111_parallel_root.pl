# A parallel query as the root blocker.  Its two workers are busy (they
# sleep in a loop, no heavyweight-lock wait) while the leader, the workers'
# and its own AccessShareLock on the table hold a LOCK TABLE back.
# pg_blocking_pids(ddl) names the leader once per PROCLOCK (three times);
# blocking_locks() and runbook.sessions name it once; lock_tree() shows the
# leader as the root; terminate_blockers() targets the leader (the client
# session), never a parallel worker alone, and ending it drains the queue.
# (isolationtester cannot step past a session that waits on something other
# than a lock, hence TAP.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('parallel_root');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
max_worker_processes = 16
max_parallel_workers = 8
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE rb_app LOGIN;
	CREATE ROLE rb_dba LOGIN IN ROLE pg_signal_backend, pg_monitor;
	CREATE TABLE t WITH (autovacuum_enabled = off) AS SELECT x FROM generate_series(1, 10000) x;
	ANALYZE t;
	ALTER TABLE t OWNER TO rb_app;
	-- busy (sleeping, no lock wait) until advisory lock 4243 is free
	CREATE FUNCTION spin(int) RETURNS int LANGUAGE plpgsql PARALLEL SAFE AS $$
	BEGIN
	  WHILE NOT pg_try_advisory_xact_lock_shared(4243) LOOP
	    PERFORM pg_sleep(0.01);
	  END LOOP;
	  RETURN 1;
	END $$;
});

sub sql { return $node->safe_psql('postgres', $_[0], extra_params => [ '-U', $_[1] // 'postgres' ]); }

my $holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4243)');

my $par = $node->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'rb_app' ]);
my $par_pid = $par->query_safe('SELECT pg_backend_pid()');
chomp $par_pid;
$par->query_safe(q{SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
	SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;
	SET parallel_leader_participation = off; SET application_name = 'par'});
$par->query_until(qr/go/, "\\echo go\nSELECT sum(spin(x)) FROM t;\n");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE leader_pid = $par_pid AND pid <> $par_pid AND wait_event = 'PgSleep'"),
	'both parallel workers are running (sleeping, no lock wait)');
my @workers = split /\n/, sql("SELECT pid FROM pg_stat_activity WHERE leader_pid = $par_pid AND pid <> $par_pid ORDER BY pid");

my $ddl = $node->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'rb_app' ]);
my $ddl_pid = $ddl->query_safe('SELECT pg_backend_pid()');
chomp $ddl_pid;
$ddl->query_until(qr/go/, "\\echo go\nBEGIN; LOCK TABLE t;\n");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $ddl_pid AND wait_event_type = 'Lock'"),
	'LOCK TABLE waits');

is(sql("SELECT pg_blocking_pids($ddl_pid)"), "{$par_pid,$par_pid,$par_pid}",
	'pg_blocking_pids names the leader once per PROCLOCK (leader and two workers)');
is(sql("SELECT pid, blocked_by, root_blocker, depth FROM runbook.blocking_locks()"),
	"$ddl_pid|{$par_pid}|$par_pid|1", 'blocking_locks: the leader once, as the root');
is(sql("SELECT blocked_by FROM runbook.sessions WHERE pid = $ddl_pid"), "{$par_pid}",
	'sessions.blocked_by of the waiter: the leader once');
is(sql("SELECT count(*) FROM runbook.sessions WHERE (pid = $par_pid OR leader_pid = $par_pid) AND blocked_by IS NOT NULL"),
	'0', 'the parallel group waits on no lock: blocked_by NULL for leader and workers');
like((split /\n/, sql("SELECT line FROM runbook.lock_tree()"))[0],
	qr/^pid $par_pid \[par\] active, .*holds AccessShareLock on relation t, blocks 1/,
	'lock_tree: the leader is the root');

ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM runbook.terminate_blockers('0')"),
	'terminate_blockers sees the root once the wait start is recorded');
is(sql("SELECT pid, backend_type, outcome FROM runbook.terminate_blockers('0')", 'rb_dba'),
	"$par_pid|client backend|dry_run", 'dry run targets the leader, no worker');

is(sql("SELECT pid, outcome FROM runbook.terminate_blockers('0', dry_run => false)", 'rb_dba'),
	"$par_pid|terminated", 'a real run terminates the leader');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid IN ($par_pid, " . join(',', @workers) . ")"),
	'the leader and its workers are gone');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $ddl_pid AND wait_event_type = 'Lock'"),
	'the LOCK TABLE got its lock');
is(sql("SELECT string_agg(outcome, ',') FROM runbook.recent_actions() WHERE pid IN (" . join(',', @workers) . ")"),
	'', 'no parallel worker was signalled on its own');

$ddl->query_safe('COMMIT');
$ddl->quit;
$holder->quit;
eval { $par->quit; };
$node->stop;
done_testing();
