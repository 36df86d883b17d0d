# The flight recorder against a real incident: a lock queue forms behind an
# idle-in-transaction session, grows, and is cleared by terminating its root
# through runbook.terminate_blockers(); then a connection spike.  The
# samples must show it at the right moments, the events must name the root
# blocker, the wait profile must put the waiting on the lock, and the
# incident report's timeline must order detection, growth, action and
# recovery.  Then: a reload changes the interval, a restart empties the
# rings, a standby samples too.  No timed assertion: every wait polls.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('history');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
max_connections = 20
superuser_reserved_connections = 3
pg_runbook.enforce = off
pg_runbook.sample_interval = '50ms'
pg_runbook.history_size = 20000
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE app LOGIN;
	CREATE ROLE nobody LOGIN;
	CREATE TABLE t (id int PRIMARY KEY);
	INSERT INTO t VALUES (1);
	GRANT ALL ON t TO app;
});

my $mon = $node->background_psql('postgres');
sub sq { my $r = $mon->query_safe($_[0]); chomp $r; return $r; }
sub now_text { return sq('SELECT clock_timestamp()'); }

ok($node->poll_query_until('postgres',
		'SELECT running AND samples_kept > 2 FROM runbook.history_status()'),
	'the sampler runs and fills the ring');
is(sq('SELECT sample_interval_ms || \'|\' || history_size || \'|\' || bytes_per_sample FROM runbook.history_status()'),
	'50|20000|400', 'status: interval, ring size, bytes per sample');

# ---- the lock incident --------------------------------------------------
my $t0 = now_text();
my $root = $node->background_psql('postgres', extra_params => [ '-U', 'app' ]);
my $rpid = $root->query_safe('SELECT pg_backend_pid()');
chomp $rpid;
$root->query_safe('BEGIN');
$root->query_safe('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');

# one waiter: the queue forms
my $t_first_wait = now_text();
my @w;
my @wpid;
sub add_waiter
{
	my $s = $node->background_psql('postgres');
	my $p = $s->query_safe('SELECT pg_backend_pid()');
	chomp $p;
	$s->query_until(qr/started/, "\\echo started\nSELECT count(*) FROM t;\n");
	push @w, $s;
	push @wpid, $p;
	$node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $p")
	  or die "waiter $p never waited";
}
add_waiter();
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM runbook.events('$t0') WHERE kind = 'lock_queue_formed' AND pid = $rpid"),
	'event: a lock queue formed behind the root');

# three more: it grows
my $t_grow = now_text();
# (each count seen by a sample before the next waiter comes: the sampler
# reports a queue that doubled, 1 -> 2 -> 4; had it seen 1 -> 3 under load,
# 4 would not be a doubling of 3)
for my $n (2 .. 4)
{
	add_waiter();
	$node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM runbook.history('$t0') WHERE lock_waiters = $n")
	  or die "no sample saw $n waiters";
}
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM runbook.history('$t0') WHERE lock_waiters = 4"),
	'a sample shows the four waiters');
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM runbook.events('$t0') WHERE kind = 'lock_queue_grew' AND pid = $rpid AND value = 4"),
	'event: the queue grew to four');

# the action: terminate the root through the audited path
my $t_action = now_text();
is(sq("SELECT pid || ':' || outcome FROM runbook.terminate_blockers('0', false)"), "$rpid:terminated",
	'terminate_blockers ends the root');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM runbook.events('$t0') WHERE kind = 'lock_queue_cleared' AND pid = $rpid"),
	'event: the queue cleared');

# -- the samples show it at the right moments
is(sq("SELECT count(*) FROM runbook.history('$t0', '$t_first_wait') WHERE lock_waiters > 0"), '0',
	'no lock waiter in the samples before the first waiter');
is(sq("SELECT min(sampled_at) = (SELECT at FROM runbook.events('$t0') WHERE kind = 'lock_queue_formed')
         FROM runbook.history('$t0') WHERE lock_waiters > 0"), 't',
	'the first sample with a waiter is the moment of the formed event');
is(sq("SELECT min(sampled_at) >= '$t_grow' FROM runbook.history('$t0') WHERE lock_waiters > 1"), 't',
	'more than one waiter only after the others arrived');
is(sq("SELECT max(lock_waiters) || '|' || min(root_blocker) || '|' || max(root_blocker) || '|' || max(root_blocked)
         FROM runbook.history('$t0') WHERE lock_waiters > 0"), "4|$rpid|$rpid|4",
	'samples: at most four waiters, all behind the root');
is(sq("SELECT count(*) FROM runbook.history('$t0') WHERE lock_waiters > 0 AND sampled_at >= '$t_action'
         AND sampled_at >= (SELECT at FROM runbook.events('$t0') WHERE kind = 'lock_queue_cleared')"), '0',
	'no waiter from the clearing on');
is(sq("SELECT bool_and(longest_lock_wait > '0' AND wait_events ? 'Lock:relation')
         FROM runbook.history('$t0') WHERE lock_waiters > 0"), 't',
	'samples with waiters have a lock wait age and Lock:relation among the wait events');

# -- the events name the root blocker and the waiters
my $formed = sq("SELECT pid || '|' || value || '|' || array_to_string(pids, ',') || '|' || query
                   FROM runbook.events('$t0') WHERE kind = 'lock_queue_formed'");
like($formed, qr/^$rpid\|1\|$wpid[0]\|LOCK TABLE t IN ACCESS EXCLUSIVE MODE\s*;?$/,
	'formed: root pid, one waiter named, the root\'s query');
is(sq("SELECT array_to_string(ARRAY(SELECT unnest(pids) ORDER BY 1), ',')
         FROM runbook.events('$t0') WHERE kind = 'lock_queue_grew' AND value = 4"),
	join(',', sort { $a <=> $b } @wpid), 'grew: all four waiters named');
like(sq("SELECT detail FROM runbook.events('$t0') WHERE kind = 'lock_queue_cleared'"),
	qr/^the queue behind pid $rpid cleared after [\d.]+ s \(at most 4 waiting\); the root blocker (session ended|released its locks)$/,
	'cleared: how long, how many, and that the root session ended');

# -- the wait profile puts the waiting on the lock
is(sq("SELECT wait_event_type || ':' || wait_event FROM runbook.wait_profile('$t0', '$t_action')
        WHERE kind = 'wait_event' ORDER BY seconds DESC LIMIT 1"), 'Lock:relation',
	'wait profile: most active time went to Lock:relation');
is(sq("SELECT query FROM runbook.wait_profile('$t0', '$t_action')
        WHERE kind = 'query' AND wait_event_type = 'Lock' ORDER BY seconds DESC LIMIT 1"),
	'SELECT count(*) FROM t;', 'wait profile: the waiting statement');
is(sq("SELECT seconds > 0 AND pct > 50 FROM runbook.wait_profile('$t0', '$t_action')
        WHERE kind = 'wait_event' AND wait_event_type = 'Lock'"), 't',
	'wait profile: seconds and share of active time');

# -- the incident report's timeline
my $report = sq("SELECT runbook.incident_report('$t0'::timestamptz)");
my @phases;
for my $line (split /\n/, $report)
{
	push @phases, "detection" if $line =~ /^\| [\d:.]+ \| detection \| lock_queue_formed: .*behind pid $rpid/;
	push @phases, "growth"    if $line =~ /^\| [\d:.]+ \| growth \| lock_queue_grew: 4 session/;
	push @phases, "action"    if $line =~ /^\| [\d:.]+ \| action \| terminate_blockers terminate pid $rpid \(app\): terminated/;
	push @phases, "recovery"  if $line =~ /^\| [\d:.]+ \| recovery \| lock_queue_cleared: .*pid $rpid/;
}
is(join(',', @phases), 'detection,growth,action,recovery',
	'incident report: the timeline orders detection, growth, action, recovery');
like($report, qr/^- \*\*Detected:\*\* \d{4}-\d\d-\d\d [\d:]+ UTC by pg_runbook sampler \(lock_queue_formed\)$/m,
	'incident report: detection time');
like($report, qr/^- \*\*Resolved:\*\* \d{4}-\d\d-\d\d [\d:]+ UTC \(duration [\d:]+\)$/m,
	'incident report: resolution time and duration');
like($report, qr/^- \*\*Method:\*\* terminate by terminate_blockers \(terminated\)$/m,
	'incident report: recovery method from the audit');
like($report, qr/^- Peak lock waiters: 4 at [\d:]+ \(root blocker pid $rpid, 4 behind it\)/m,
	'incident report: the peak from the samples');
like($report, qr/^## Errors in the server log$/m, 'incident report: a section for the server log');
is(sq("SELECT runbook.incident_report('db down', '$t0') LIKE '# Incident: db down%'
           AND runbook.incident_report(since => '$t0') LIKE '# Incident: database incident on %'"),
	't', 'incident_report(title, since) and incident_report(since => ...) both work');
like(sq("SELECT runbook.incident_report()"), qr/^# Incident: database incident on /,
	'incident_report() still works without arguments');

$_->quit for @w;
@w = ();
eval { $root->quit; };

# ---- a connection spike -------------------------------------------------
my $t1 = now_text();
my @extra;
my $high = 0;
while (sq('SELECT pct_used FROM runbook.connections()') < 85)
{
	push @extra, $node->background_psql('postgres');
}
my $peak = sq('SELECT in_use FROM runbook.connections()');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM runbook.events('$t1') WHERE kind = 'connections_high'"),
	'event: connections crossed the high-water mark');
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM runbook.history('$t1') WHERE connections = $peak"),
	'a sample shows the peak');
like(sq("SELECT detail FROM runbook.events('$t1') WHERE kind = 'connections_high'"),
	qr/^\d+ of 17 usable connections in use/, 'connections_high: the counts');

# the alert's duration comes from the history
$mon->query_safe(q{INSERT INTO runbook.alert_thresholds (name, value, unit, description)
                   VALUES ('alert_for_seconds', 0, 'seconds', 'test: sustained at once')});
is(sq(q{SELECT firing AND firing_since >= '} . $t1 . q{' AND firing_since <= now() AND sustained
          FROM runbook.alerts WHERE alert = 'DatabaseHighConnections'}), 't',
	'alerts: DatabaseHighConnections firing since the spike, sustained with for_duration 0');
$mon->query_safe(q{UPDATE runbook.alert_thresholds SET value = 3600 WHERE name = 'alert_for_seconds'});
is(sq(q{SELECT firing AND NOT sustained AND for_duration = '1 hour' FROM runbook.alerts WHERE alert = 'DatabaseHighConnections'}),
	't', 'alerts: not sustained before its for: duration');

$_->quit for @extra;
@extra = ();
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM runbook.events('$t1') WHERE kind = 'connections_normal'"),
	'event: connections back under the mark');
is(sq("SELECT min(connections) >= 14 FROM runbook.history('$t1') WHERE sampled_at >=
         (SELECT at FROM runbook.events('$t1') WHERE kind = 'connections_high') AND sampled_at <
         (SELECT at FROM runbook.events('$t1') WHERE kind = 'connections_normal')"), 't',
	'samples between the two events are all at or above the mark');
is(sq(q{SELECT firing_since IS NULL AND NOT sustained FROM runbook.alerts WHERE alert = 'DatabaseHighConnections'}),
	't', 'alerts: no duration once it stops firing');

# rates: commits counted between samples
$node->safe_psql('postgres', 'SELECT 1') for 1 .. 5;
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM runbook.history('$t1') WHERE tps > 0 AND commits_per_s > 0"),
	'rates: transactions per second from consecutive samples');

# ---- archive ------------------------------------------------------------
my ($s1, $e1) = split /\|/, sq('SELECT samples || \'|\' || events FROM runbook.archive_history()');
ok($s1 > 0 && $e1 >= 6, "archive_history() copies samples ($s1) and events ($e1)");
my ($s2, $e2) = split /\|/, sq('SELECT samples || \'|\' || events FROM runbook.archive_history()');
ok($s2 < $s1 && $e2 == 0, 'a second call copies only what is new');
is(sq('SELECT count(*) = count(DISTINCT sampled_at) FROM runbook.history_archive'), 't', 'no sample archived twice');

# ---- privileges ---------------------------------------------------------
my ($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM runbook.history(now() - interval '1 min')",
	extra_params => [ '-U', 'nobody' ]);
like($err, qr/permission denied/, 'history() is not for PUBLIC');
$node->safe_psql('postgres', 'GRANT pg_monitor TO nobody');
ok($node->safe_psql('postgres', "SELECT count(*) > 0 FROM runbook.history(now() - interval '1 min')",
		extra_params => [ '-U', 'nobody' ]), 'pg_monitor may read it');
($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM runbook.history(now(), now() - interval '1 min')");
like($err, qr/since must not be later than until/, 'a reversed window is an error');

# ---- a reload changes the interval --------------------------------------
$node->safe_psql('postgres', "ALTER SYSTEM SET pg_runbook.sample_interval = '200ms'; SELECT pg_reload_conf()");
ok($node->poll_query_until('postgres', 'SELECT sample_interval_ms = 200 FROM runbook.history_status()'),
	'after a reload the sampler uses the new interval');
my $t2 = now_text();
ok($node->poll_query_until('postgres', "SELECT count(*) >= 11 FROM runbook.history('$t2')"),
	'it keeps sampling');
is(sq("SELECT (max(sampled_at) - min(sampled_at)) / (count(*) - 1) >= interval '150 ms'
         FROM (SELECT sampled_at FROM runbook.history('$t2') ORDER BY 1 LIMIT 11) s"), 't',
	'samples are now about 200 ms apart (50 ms before)');
($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET pg_runbook.sample_interval = '5ms'");
like($err, qr/invalid value for parameter "pg_runbook.sample_interval"/, 'an interval under 10 ms is refused');

# ---- a restart empties the rings ----------------------------------------
ok(sq("SELECT count(*) FROM runbook.events('$t0')") > 0, 'events before the restart');
$mon->quit;
$node->safe_psql('postgres', "ALTER SYSTEM SET pg_runbook.sample_interval = '50ms'");
$node->restart;
$mon = $node->background_psql('postgres');
ok($node->poll_query_until('postgres', 'SELECT running AND samples_kept > 0 FROM runbook.history_status()'),
	'the sampler runs after the restart');
is(sq("SELECT min(sampled_at) >= pg_postmaster_start_time() FROM runbook.history(NULL)"), 't',
	'the restart emptied the sample ring');
is(sq("SELECT count(*) FROM runbook.events(NULL) WHERE at < pg_postmaster_start_time()"), '0',
	'and the event ring');
is(sq('SELECT count(*) > 0 FROM runbook.history_archive'), 't', 'the archive table keeps its copy');

# ---- sampling off -------------------------------------------------------
$node->safe_psql('postgres', "ALTER SYSTEM SET pg_runbook.sample_interval = 0; SELECT pg_reload_conf()");
ok($node->poll_query_until('postgres', 'SELECT sample_interval_ms = 0 FROM runbook.history_status()'),
	'sample_interval = 0: the sampler sees it');
my $taken = sq('SELECT samples_taken FROM runbook.history_status()');

# ---- a standby samples too ----------------------------------------------
$node->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('history_standby');
$standby->init_from_backup($node, 'bk', has_streaming => 1);
$standby->start;
# the primary's ALTER SYSTEM (interval 0) came with the backup
$standby->safe_psql('postgres', "ALTER SYSTEM SET pg_runbook.sample_interval = '50ms'; SELECT pg_reload_conf()");
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
ok($standby->poll_query_until('postgres', 'SELECT running AND samples_kept > 2 FROM runbook.history_status()'),
	'the standby samples');
my $ts = $standby->safe_psql('postgres', 'SELECT clock_timestamp()');
my $sa = $standby->background_psql('postgres');
my $sapid = $sa->query_safe('SELECT pg_backend_pid()');
chomp $sapid;
$sa->query_safe('SELECT pg_advisory_lock(42)');
my $sb = $standby->background_psql('postgres');
$sb->query_until(qr/started/, "\\echo started\nSELECT pg_advisory_lock(42);\n");
ok($standby->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM runbook.events('$ts') WHERE kind = 'lock_queue_formed' AND pid = $sapid"),
	'standby: the lock queue is recorded with its root');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM runbook.history('$ts') WHERE lock_waiters = 1 AND root_blocker = $sapid"),
	'standby: the samples show the waiter');
($ret, $out, $err) = $standby->psql('postgres', 'SELECT runbook.archive_history()');
like($err, qr/cannot write on a standby/, 'standby: archive_history() says why it cannot');
$sa->quit;
$sb->quit;

is(sq('SELECT samples_taken FROM runbook.history_status()'), $taken,
	'primary: no sample taken while sample_interval = 0');

$mon->quit;
$standby->stop;
$node->stop;
done_testing();
