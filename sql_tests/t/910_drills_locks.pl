# Incident drills, lock queues (issue 23): staged for real with real
# sessions, triage() read as a DBA reads it, the remedy it prints run as
# printed, the result measured from PostgreSQL's own views.
#   1. a lock queue behind a migration's idle transaction, and a second
#      queue behind an application's idle transaction with the migration's
#      DDL waiting in it (everyone behind a root is counted; the
#      terminate_blockers hint reaches every root)
#   2. a row-lock chain behind an idle transaction
#   3. a runaway query with victims queued behind it (long_running(),
#      cancel_long() and the suggested cancel never pick a victim)
#   4. lock_tree() from another database names the relation's database
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrillUtil;

my $node = drill_node('drill_locks');
$node->safe_psql('postgres', q{
	CREATE DATABASE appdb;
	SET ROLE app;
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 100) g;
	CREATE TABLE items (id int PRIMARY KEY, qty int);
	INSERT INTO items SELECT g, 0 FROM generate_series(1, 100) g;
	CREATE TABLE acc (id int PRIMARY KEY, v int);
	INSERT INTO acc SELECT g, 0 FROM generate_series(1, 10) g;
});
threshold($node, 'lock_wait_seconds', 2);

# ---------------------------------------------------------------------
# Drill 1: two lock queues.
#   orders: the migration's session altered the table and sits idle in its
#           transaction; three application reads queue behind it.
#   items:  an application transaction updated a row and sits idle; the
#           migration's ALTER TABLE waits for it, and two reads queue behind
#           the ALTER (they wait on the DDL, not directly on the root).
# ---------------------------------------------------------------------
my $mig = session($node, 'rails-migrate');
sq($mig, 'BEGIN');
sq($mig, 'ALTER TABLE orders ADD COLUMN shipped_at timestamptz');
my @readers;
for my $i (1 .. 3)
{
	my $r = session($node, 'orders-api');
	send_async($r, 'SELECT count(*) FROM orders;');
	push @readers, $r;
}
wait_lock_waiters($node, 3, 2);

my $app = session($node, 'inventory-api');
sq($app, 'BEGIN');
sq($app, 'UPDATE items SET qty = qty + 1 WHERE id = 1');
my $ddl = session($node, 'rails-migrate-2');
send_async($ddl, 'ALTER TABLE items ADD COLUMN sku text;');
wait_lock_waiters($node, 4);
my @readers2;
for my $i (1 .. 2)
{
	my $r = session($node, 'inventory-api');
	send_async($r, 'SELECT count(*) FROM items;');
	push @readers2, $r;
}
wait_lock_waiters($node, 6);
# the second queue's waits are younger than the first's, but past the threshold
poll($node, q{SELECT min(now() - state_change) >= interval '2.5 s' FROM pg_stat_activity
              WHERE wait_event_type = 'Lock'}) or die 'waits never aged';

my $rows = triage($node);
my $top = record_top('910 #1', top_live($rows));
my @iitb = grep { $_->{check_name} eq 'idle_in_transaction_blocking' } @$rows;
is(scalar(@iitb), 2, 'drill 1: one idle_in_transaction_blocking finding per root');
my ($f_mig) = grep { $_->{evidence}{pid} == $mig->{pid} } @iitb;
my ($f_app) = grep { $_->{evidence}{pid} == $app->{pid} } @iitb;
ok($f_mig && $f_app, 'drill 1: both roots named (the migration and the application transaction)');
is($top->{check_name} . ' ' . $top->{severity}, 'idle_in_transaction_blocking SEV2',
	'drill 1: the highest live finding is an idle transaction blocking others, SEV2');
ok($top->{evidence}{pid} == $mig->{pid} || $top->{evidence}{pid} == $app->{pid},
	'drill 1: the highest live finding names a root blocker');
like($f_app->{finding}, qr/blocks 3 session\(s\)/,
	'drill 1: the application transaction blocks 3 (the DDL and the 2 reads behind it)');
is(join(',', sort { $a <=> $b } @{ $f_app->{evidence}{blocked_pids} }),
	join(',', sort { $a <=> $b } map { $_->{pid} } ($ddl, @readers2)),
	'drill 1: blocked_pids: everyone behind the root');
like($f_mig->{finding}, qr/blocks 3 session\(s\)/, 'drill 1: the migration blocks its 3 readers');
nothing_innocent($rows, [ map { $_->{pid} } (@readers, @readers2, $ddl) ], 'drill 1');

# the terminate_blockers hint of either finding reaches every root
for my $f ($f_mig, $f_app)
{
	my ($call) = (($f->{remedy_sql} // '') . ' ' . ($f->{action} // '')) =~ /(runbook\.terminate_blockers\([^)]*\))/;
	ok(defined $call, "drill 1: the finding on $f->{evidence}{pid} offers terminate_blockers");
	my $got = $node->safe_psql('postgres',
		"SELECT string_agg(pid::text || ':' || (outcome IN ('dry_run', 'skipped')), ',' ORDER BY pid) FROM " . ($call // 'runbook.recent_actions()') . ' x');
	is($got, join(',', map { "$_:true" } sort { $a <=> $b } ($mig->{pid}, $app->{pid})),
		"drill 1: its hint (a dry run) reaches both roots, not only the older one");
}

# the remedies, as printed: each terminates its root
for my $f ($f_mig, $f_app)
{
	my ($ret, $out, $err) = run_printed($node, $f->{remedy_sql});
	is($ret, 0, "drill 1: remedy of $f->{evidence}{pid} runs as printed") or diag $err;
}
poll($node, q{SELECT count(*) = 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'})
  or die 'lock waits did not clear';
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0}), '0',
	'drill 1: pg_blocking_pids: nobody blocked any more');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE pid IN ($mig->{pid}, $app->{pid})"), '0',
	'drill 1: both roots are gone');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'sku'}), '1',
	'drill 1: the migration DDL that waited went through');
no_sev2_for(triage($node), [qw(idle_in_transaction_blocking lock_waits long_running)], 'drill 1 after');
end_sessions($node, $mig, $app, $ddl, @readers, @readers2);

# ---------------------------------------------------------------------
# Drill 2: a row-lock chain.  s1 holds row 1 idle in its transaction; s2
# updates row 2 then waits for row 1; s3 and s4 wait for row 2 (behind s2).
# ---------------------------------------------------------------------
my $s1 = session($node, 'billing');
sq($s1, 'BEGIN');
sq($s1, 'UPDATE acc SET v = v + 1 WHERE id = 1');
my $s2 = session($node, 'shipping');
send_async($s2, 'BEGIN; UPDATE acc SET v = v + 1 WHERE id = 2; UPDATE acc SET v = v + 1 WHERE id = 1; COMMIT;');
wait_lock_waiters($node, 1);
my $s3 = session($node, 'shipping');
send_async($s3, 'UPDATE acc SET v = v + 10 WHERE id = 2;');
wait_lock_waiters($node, 2);
my $s4 = session($node, 'shipping');
send_async($s4, 'UPDATE acc SET v = v + 100 WHERE id = 2;');
wait_lock_waiters($node, 3, 2.5);

$rows = triage($node);
$top = record_top('910 #2', top_live($rows));
is($top->{check_name} . ' ' . $top->{severity}, 'idle_in_transaction_blocking SEV2',
	'drill 2: highest live finding: the idle transaction at the head of the chain');
is($top->{evidence}{pid}, $s1->{pid}, 'drill 2: it names the root of the chain');
like($top->{finding}, qr/blocks 3 session\(s\)/, 'drill 2: counting the whole chain behind it (3)');
my $lw = finding_of($rows, 'lock_waits');
is(join(',', @{ $lw->{evidence}{root_blockers} }), $s1->{pid}, 'drill 2: lock_waits: one root, the idle transaction');
nothing_innocent($rows, [ $s2->{pid}, $s3->{pid}, $s4->{pid} ], 'drill 2');
my ($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
is($ret, 0, 'drill 2: the remedy runs as printed') or diag $err;
poll($node, q{SELECT count(*) = 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'})
  or die 'chain did not clear';
is($node->safe_psql('postgres', 'SELECT string_agg(v::text, \',\' ORDER BY id) FROM acc WHERE id <= 2'),
	'1,111', 'drill 2: b, c and d all went through (row 1 by b; row 2 by b, c, d)');
no_sev2_for(triage($node), [qw(idle_in_transaction_blocking lock_waits)], 'drill 2 after');
end_sessions($node, $s1, $s2, $s3, $s4);

# ---------------------------------------------------------------------
# Drill 3: a runaway query holding its table; a migration's ALTER waits,
# and a read queues behind the ALTER.  The victims are long-running too.
# ---------------------------------------------------------------------
threshold($node, 'long_query_seconds', 2);
my $run = session($node, 'reporting');
send_async($run, 'SELECT pg_sleep(600) FROM orders LIMIT 1;');
poll($node, "SELECT state = 'active' AND wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $run->{pid}");
my $victim = session($node, 'rails-migrate');
send_async($victim, 'ALTER TABLE orders ADD COLUMN region text;');
wait_lock_waiters($node, 1);
my $victim2 = session($node, 'orders-api');
send_async($victim2, 'SELECT count(*) FROM orders;');
wait_lock_waiters($node, 2, 2.5);

# long_running(): the victims wait on a lock, they are not runaway queries
is($node->safe_psql('postgres', q{SELECT string_agg(pid::text, ',') FROM runbook.long_running('1 s')}),
	$run->{pid}, 'drill 3: long_running() lists the runaway, not the sessions waiting on its lock');
is($node->safe_psql('postgres', q{SELECT string_agg(pid::text || ':' || coalesce(root_blocker::text, '-'), ',' ORDER BY pid)
                                    FROM runbook.long_running('1 s', include_lock_waits => true)}),
	join(',', map { "$_->[0]:$_->[1]" } sort { $a->[0] <=> $b->[0] }
		  ([ $run->{pid}, '-' ], [ $victim->{pid}, $run->{pid} ], [ $victim2->{pid}, $run->{pid} ])),
	'drill 3: with include_lock_waits, the victims show their root blocker');
# cancel_long(): a dry run by default; the victims are skipped, pointing at the root
my $cl = $node->safe_psql('postgres', q{SELECT string_agg(pid::text || ':' || outcome || ':' || coalesce(reason, '') || ':' || coalesce(detail, ''), E'\n' ORDER BY pid)
                                          FROM runbook.cancel_long('1 s')});
like($cl, qr/^$run->{pid}:dry_run::/m, 'drill 3: cancel_long() (a dry run by default) picks the runaway');
like($cl, qr/^$victim->{pid}:skipped:waiting_on_lock:.*root blocker pid $run->{pid}\b/m,
	'drill 3: cancel_long() skips the ALTER waiting on a lock and names its root blocker');
like($cl, qr/^$victim2->{pid}:skipped:waiting_on_lock:.*root blocker pid $run->{pid}\b/m,
	'drill 3: cancel_long() skips the read queued behind it');

$rows = triage($node);
$top = record_top('910 #3', top_live($rows));
is($top->{check_name} . ' ' . $top->{severity}, 'lock_waits SEV2', 'drill 3: highest live finding: the lock queue');
is(join(',', @{ $top->{evidence}{root_blockers} }), $run->{pid}, 'drill 3: its root is the runaway query');
my $lr = finding_of($rows, 'long_running');
is(join(',', map { $_->{pid} } @{ $lr->{evidence}{statements} }), $run->{pid},
	'drill 3: the long_running finding lists the runaway only');
nothing_innocent($rows, [ $victim->{pid}, $victim2->{pid} ], 'drill 3');
like($top->{remedy_sql}, qr/runbook\.cancel\($run->{pid},/, 'drill 3: the remedy cancels the runaway (an active root)');
($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
is($ret, 0, 'drill 3: the remedy runs as printed') or diag $err;
poll($node, q{SELECT count(*) = 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'})
  or die 'queue did not clear';
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'region'"),
	'1', 'drill 3: the ALTER went through once the runaway was cancelled');
is($node->safe_psql('postgres', "SELECT state FROM pg_stat_activity WHERE pid = $run->{pid}"), 'idle',
	'drill 3: the runaway session was cancelled, not terminated');
no_sev2_for(triage($node), [qw(lock_waits long_running idle_in_transaction_blocking)], 'drill 3 after');
threshold($node, 'long_query_seconds', 300);
end_sessions($node, $run, $victim, $victim2);

# ---------------------------------------------------------------------
# lock_tree() called from another database names the relation.
# ---------------------------------------------------------------------
$node->safe_psql('appdb', 'GRANT CREATE ON SCHEMA public TO app; SET ROLE app; CREATE TABLE invoices (id int)');
my $h = session($node, 'appdb-holder', 'appdb');
sq($h, 'BEGIN');
sq($h, 'LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE');
my $w = session($node, 'appdb-reader', 'appdb');
send_async($w, 'SELECT count(*) FROM invoices;');
wait_lock_waiters($node, 1, 0, 'appdb');
my $tree = $node->safe_psql('postgres', 'SELECT string_agg(t, E\'\n\') FROM runbook.lock_tree() t');
# A relation's name is in its own database's catalog: without pg_runbook
# there, the tree shows the oid and the database; with it, lock_tree() asks
# that database (_on_databases(), a worker connected there) for the name.
like($tree, qr/Lock on relation \d+ in database appdb/, 'lock_tree() from database postgres names the database of appdb\'s relation');
unlike($tree, qr/relation \d+\b(?! in database)/, 'lock_tree() shows no bare relation oid');
$node->safe_psql('appdb', 'CREATE EXTENSION pg_runbook');
$tree = $node->safe_psql('postgres', 'SELECT string_agg(t, E\'\n\') FROM runbook.lock_tree() t');
like($tree, qr/holds AccessExclusiveLock on relation public\.invoices in database appdb/,
	'lock_tree() from database postgres names appdb\'s relation once pg_runbook is installed there');
like($tree, qr/waiting \S+ for AccessShareLock on relation public\.invoices in database appdb/, '... for the waiter too');
end_sessions($node, $h, $w);

done_testing();
