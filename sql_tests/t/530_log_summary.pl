# log_summary() on each log destination with errors the server really
# raised: a division by zero (22012), a statement_timeout (57014), a real
# deadlock (40P01) and a real "too many clients" (53300) from exceeding
# max_connections; across a log rotation; with a byte limit; with a
# log_line_prefix without %e; file-read rights.  Then, on the same servers:
# database_stats counters after those deadlocks and rollbacks, triage's
# integrity findings (a real checksum failure, an invalid index left by a
# failed CREATE INDEX CONCURRENTLY, NOT VALID constraints, a failed
# migration row) with remedies that run as printed, and the incident
# messages of a staged lock incident.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

sub make_node
{
	my ($name, $conf, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%opt);
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.naptime = '60s'
logging_collector = on
log_directory = 'log'
max_connections = 6
superuser_reserved_connections = 0
deadlock_timeout = '100ms'
lc_messages = 'C'
$conf
});
	$node->start;
	$node->safe_psql('postgres', q{
		CREATE EXTENSION pg_runbook;
		CREATE TABLE dl (id int PRIMARY KEY, v int);
		INSERT INTO dl VALUES (1, 0), (2, 0);
		CREATE ROLE app LOGIN;
		GRANT ALL ON dl TO app;
	});
	return $node;
}

# A real deadlock between two sessions: one of them gets 40P01.
sub deadlock
{
	my $node = shift;
	my $s1 = $node->background_psql('postgres', on_error_stop => 0);
	my $s2 = $node->background_psql('postgres', on_error_stop => 0);
	my $p1 = $s1->query_safe('SELECT pg_backend_pid()');
	$s1->query_safe('BEGIN; UPDATE dl SET v = v + 1 WHERE id = 1;');
	$s2->query_safe('BEGIN; UPDATE dl SET v = v + 1 WHERE id = 2;');
	$s1->query_until(qr/started/, "\\echo started\nUPDATE dl SET v = v + 1 WHERE id = 2;\n");
	$node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $p1")
	  or die 'first session never waited';
	my ($out, $err) = $s2->query('UPDATE dl SET v = v + 1 WHERE id = 1');
	$s1->query('ROLLBACK');
	$s2->query('ROLLBACK');
	$s1->quit;
	$s2->quit;
}

# Fill every connection slot, then one more connection is refused: 53300.
# A session that is leaving keeps its slot until its backend has exited:
# before each connection, wait until the held sessions are the only ones
# (counted by the first of them: a psql started to count would be leaving
# while the next one connects, refused, a second 53300).
sub too_many_clients
{
	my $node = shift;
	my @held = ($node->background_psql('postgres'));
	while (@held < 6)
	{
		my $tries = 0;
		until ($held[0]->query_safe(
				q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'}) == @held)
		{
			die 'sessions still leaving' if ++$tries > 10 * $PostgreSQL::Test::Utils::timeout_default;
			usleep(100_000);
		}
		push @held, $node->background_psql('postgres');
	}
	my ($ret, $out, $err) = $node->psql('postgres', 'SELECT 1');
	like($err, qr/too many clients already/, $node->name . ': the seventh connection is refused');
	$_->quit for @held;
}

# The four errors, two divisions by zero so that first_at < last_at.
sub produce_errors
{
	my $node = shift;
	$node->psql('postgres', 'SELECT 1/0');
	$node->psql('postgres', "SET statement_timeout = '50ms'; SELECT pg_sleep(5)");
	deadlock($node);
	too_many_clients($node);
	$node->psql('postgres', 'SELECT 2/0');
}

my $want = q{
	SELECT string_agg(concat_ws('|', category, severity, coalesce(sqlstate, '-'), count), ',' ORDER BY category)
	  FROM runbook.log_summary('10 min')
	 WHERE category IN ('division_by_zero', 'statement_timeout', 'deadlock', 'too_many_connections')};
my $expect = 'deadlock|ERROR|40P01|1,division_by_zero|ERROR|22012|2,'
  . 'statement_timeout|ERROR|57014|1,too_many_connections|FATAL|53300|1';

my %nodes;
for my $dest (['stderr', q{log_destination = 'stderr'
log_line_prefix = '%m [%p] %e %q%u@%d '}],
	['csvlog', q{log_destination = 'csvlog'}],
	['jsonlog', q{log_destination = 'jsonlog'
log_filename = 'server.log'}])    # no escape: the file is server.json
{
	my ($name, $conf) = @$dest;
	my $node = make_node($name, $conf, $name eq 'jsonlog' ? (extra => ['--data-checksums']) : ());
	$nodes{$name} = $node;
	# (the log's times have milliseconds: t0 is compared truncated to them)
	my $t0 = $node->safe_psql('postgres', 'SELECT now()');
	produce_errors($node);
	# the collector writes asynchronously: wait for the last error to land
	$node->poll_query_until('postgres', "SELECT ($want) = '$expect'")
	  or diag($node->safe_psql('postgres', 'SELECT * FROM runbook.log_summary(\'10 min\')'));
	is($node->safe_psql('postgres', $want), $expect,
		"$name: each error counted once, by category, severity and SQLSTATE");
	is( $node->safe_psql('postgres', qq{
			SELECT string_agg(category || ':' || (first_at >= date_trunc('milliseconds', '$t0'::timestamptz) AND last_at <= now() AND first_at <= last_at), ',' ORDER BY category)
			  FROM runbook.log_summary('10 min')
			 WHERE category IN ('division_by_zero', 'deadlock', 'too_many_connections')}),
		'deadlock:true,division_by_zero:true,too_many_connections:true',
		"$name: first_at and last_at within the test's period");
	is( $node->safe_psql('postgres', q{
			SELECT first_at < last_at FROM runbook.log_summary('10 min') WHERE category = 'division_by_zero'}),
		't', "$name: two divisions by zero: first_at before last_at");
	is( $node->safe_psql('postgres', q{
			SELECT string_agg(category || '=' || example, E'\n' ORDER BY category)
			  FROM runbook.log_summary('10 min')
			 WHERE category IN ('division_by_zero', 'statement_timeout', 'deadlock', 'too_many_connections')}),
		"deadlock=deadlock detected\ndivision_by_zero=division by zero\n"
		  . "statement_timeout=canceling statement due to statement timeout\n"
		  . "too_many_connections=sorry, too many clients already",
		"$name: the latest message of each as its example");
	is( $node->safe_psql('postgres', q{
			SELECT string_agg(DISTINCT log_format, ',') || '|' || count(*) FILTER (WHERE note IS NOT NULL)
			  FROM runbook.log_summary('10 min')}),
		"$name|0", "$name: read as $name, nothing to note");
	# a period that ends before the errors: nothing
	is($node->safe_psql('postgres', q{SELECT count(*) FROM runbook.log_summary('0')}), '0',
		"$name: since '0' counts nothing");
}

# --- rotation: entries in the previous file count too (csvlog) ---------
{
	my $node = $nodes{csvlog};
	my $old = $node->safe_psql('postgres', q{SELECT pg_current_logfile('csvlog')});
	# the file name has seconds: rotate until the collector opened a new one
	$node->poll_query_until('postgres',
		"SELECT pg_current_logfile('csvlog') <> '$old' OR NOT pg_rotate_logfile()")
	  or die 'log file never rotated';
	$node->psql('postgres', 'SELECT 3/0');
	$node->poll_query_until('postgres',
		q{SELECT count = 3 FROM runbook.log_summary('10 min') WHERE category = 'division_by_zero'})
	  or die 'third division by zero never counted';
	pass('csvlog: after a rotation, errors in the current and the previous file are counted (3)');
	is( $node->safe_psql('postgres', q{
			SELECT count FROM runbook.log_summary('10 min') WHERE category = 'deadlock'}),
		'1', 'csvlog: the deadlock, in the previous file only, still counted');

	# a byte limit of the current file's size: the older files are not
	# read (the deadlock is not counted), and the note says so
	my $size = $node->safe_psql('postgres', q{SELECT greatest(size, 1) FROM pg_stat_file(pg_current_logfile('csvlog'))});
	my $row = $node->safe_psql('postgres', qq{
		SELECT coalesce(sum(count) FILTER (WHERE category = 'deadlock'), 0) || '|' ||
		       bool_and(note ~ '^read limit of $size bytes reached: entries before .* were not read\$')
		  FROM runbook.log_summary('10 min', $size)});
	is($row, '0|true', 'csvlog: max_bytes bounds the read (the older file is not read) and the note says so');
}

# --- stderr without %e: SQLSTATE unknown, category from the text ---------
{
	my $node = $nodes{stderr};
	$node->safe_psql('postgres', q{ALTER SYSTEM SET log_line_prefix = '%t [%p] '; SELECT pg_reload_conf();});
	$node->poll_query_until('postgres', q{SELECT current_setting('log_line_prefix') = '%t [%p] '})
	  or die 'prefix not reloaded';
	$node->psql('postgres', 'SELECT 4/0');
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM runbook.log_summary('10 min') WHERE category = 'division_by_zero'})
	  or diag($node->safe_psql('postgres', q{SELECT * FROM runbook.log_summary('10 min')}));
	is( $node->safe_psql('postgres', q{
			SELECT concat_ws('|', severity, coalesce(sqlstate, 'NULL'), count, example)
			  FROM runbook.log_summary('10 min') WHERE category = 'division_by_zero'}),
		'ERROR|NULL|1|division by zero',
		'stderr without %e: SQLSTATE NULL, category from the message, lines of the old prefix not matched');
	like( $node->safe_psql('postgres', q{
			SELECT note FROM runbook.log_summary('10 min') WHERE category = 'division_by_zero'}),
		qr/SQLSTATE not in the log: log_line_prefix has no %e/, 'stderr without %e: the note says why');
}

# --- forged lines (issue 22): Debian's log_line_prefix has %d, and the
# server writes a database name as it is.  A name with a line break puts a
# line of its choosing in the log: a "PANIC" that never happened, which
# log_summary() counted and triage() raised (SEV2).  Now a stderr line is
# believed only if it reads as the server writes it: not next to a broken
# line, not in the text of a name with a line break, read one way only, not
# dated in the future.  The others are counted in the note.
{
	my $node = make_node('forge', q{log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '});
	$nodes{forge} = $node;
	my $panics = q{SELECT coalesce(sum(count), 0) FROM runbook.log_summary('10 min') WHERE severity = 'PANIC'};
	my $now = $node->safe_psql('postgres', q{SET timezone = 'UTC'; SELECT to_char(now(), 'YYYY-MM-DD HH24:MI:SS.MS "UTC"')});
	my $evil = "e\n$now [1] a\@b PANIC:  forged\n";
	cmp_ok(length($evil), '<', 64, 'the forging name fits a database name (' . length($evil) . ' bytes)');
	$node->safe_psql('postgres', "SELECT format('CREATE DATABASE %I', \$n\$$evil\$n\$) \\gexec");
	$node->psql($evil, 'SELECT 1/0');
	# (the lines right after a split record are not believed either: keep
	# the control error further away than a name can reach)
	$node->psql('postgres', q{DO $$BEGIN RAISE LOG '%', repeat('spacer ', 40); END$$});
	$node->psql('postgres', 'SELECT 5/0');
	$node->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM runbook.log_summary('10 min') WHERE category = 'division_by_zero'})
	  or die 'the control error never counted';
	my $logfile = $node->data_dir . '/' . $node->safe_psql('postgres', q{SELECT pg_current_logfile('stderr')});
	like(slurp_file($logfile), qr/^\Q$now\E \[1\] a\@b PANIC:  forged$/m,
		'the log now has a line of the name\'s choosing: a PANIC');
	is($node->safe_psql('postgres', $panics), '0', 'log_summary() does not count the forged PANIC');
	like($node->safe_psql('postgres', q{SELECT DISTINCT note FROM runbook.log_summary('10 min')}),
		qr/stderr lines? not counted: not read as the server writes them.*1 role or database name contains a line break/,
		'the note says lines were not counted, and why');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM runbook.triage() WHERE check_name = 'server_log' AND finding LIKE '%PANIC%'}),
		'0', 'triage() raises no PANIC');
	is($node->safe_psql('postgres', q{SELECT count FROM runbook.log_summary('10 min') WHERE category = 'division_by_zero'}),
		'1', 'the error of a database with an ordinary name is still counted');

	# the name is gone, the lines stay: the broken line next to them gives
	# them away
	$node->safe_psql('postgres', "SELECT format('DROP DATABASE %I', \$n\$$evil\$n\$) \\gexec");
	is($node->safe_psql('postgres', $panics), '0', 'after the database is dropped, still not counted');

	# a name that reads as a severity: the line reads two ways
	$node->safe_psql('postgres', q{CREATE DATABASE "postgres PANIC:  forged"});
	$node->psql('postgres PANIC:  forged', 'SELECT 1/0');
	$node->psql('postgres', 'SELECT 6/0');
	$node->poll_query_until('postgres',
		q{SELECT count = 2 FROM runbook.log_summary('10 min') WHERE category = 'division_by_zero'})
	  or die 'the second control error never counted';
	like(slurp_file($logfile), qr/ postgres\@postgres PANIC:  forged ERROR:  division by zero$/m,
		'a database name with "PANIC:  " in it');
	is($node->safe_psql('postgres', $panics), '0', 'a line that reads two ways is not counted');

	# a line dated in the future
	$node->psql('postgres', 'SELECT 7/0');
	$node->poll_query_until('postgres',
		q{SELECT count = 3 FROM runbook.log_summary('10 min') WHERE category = 'division_by_zero'})
	  or die 'the third control error never counted';
	open(my $fh, '>>', $logfile) or die $!;
	print $fh "2099-01-01 00:00:00.000 UTC [1] a\@b PANIC:  from the future\n";
	close $fh;
	is($node->safe_psql('postgres', $panics), '0', 'a line dated in the future is not counted');
	like($node->safe_psql('postgres', q{SELECT DISTINCT note FROM runbook.log_summary('10 min')}),
		qr/1 entry dated in the future not counted/, 'the note says so');
}

# --- who may read it -------------------------------------------------------
{
	my $node = $nodes{jsonlog};
	$node->safe_psql('postgres', q{CREATE ROLE mon LOGIN IN ROLE pg_monitor});
	my ($ret, $out, $err) = $node->psql('postgres', q{SELECT count(*) FROM runbook.log_summary()},
		extra_params => [ '-U', 'mon' ]);
	like($err, qr/ERROR:  permission denied to read the server log.*HINT:  GRANT pg_read_server_files/s,
		'pg_monitor alone may not read the log (the hint names pg_read_server_files)');
	$node->safe_psql('postgres', q{GRANT pg_read_server_files TO mon});
	is($node->psql('postgres', q{SELECT count(*) > 0 FROM runbook.log_summary('10 min')},
			extra_params => [ '-U', 'mon' ], stdout => \$out), 0, 'with pg_read_server_files it may');
	is($out, 't', 'and sees the errors');
}

# --- database_stats after the real deadlocks and rollbacks ----------------
{
	my $node = $nodes{stderr};
	my $q = q{SELECT deadlocks || '|' || xact_rollback FROM runbook.database_stats WHERE datname = 'postgres'};
	$node->poll_query_until('postgres', q{SELECT deadlocks >= 1 FROM runbook.database_stats WHERE datname = 'postgres'})
	  or die 'deadlock not counted';
	my ($dl0, $rb0) = split /\|/, $node->safe_psql('postgres', $q);
	is($dl0, '1', 'database_stats: the deadlock of this test is counted');
	deadlock($node);
	$node->safe_psql('postgres', 'BEGIN; SELECT 1; ROLLBACK; BEGIN; SELECT 1; ROLLBACK; BEGIN; SELECT 1; ROLLBACK;');
	$node->poll_query_until('postgres', qq{
		SELECT deadlocks = $dl0 + 1 AND xact_rollback >= $rb0 + 5 FROM runbook.database_stats WHERE datname = 'postgres'})
	  or diag($node->safe_psql('postgres', 'SELECT * FROM runbook.database_stats'));
	my $row = $node->safe_psql('postgres', q{
		SELECT deadlocks, rollback_pct > 0, cache_hit_pct BETWEEN 0 AND 100,
		       commit_rollback_ratio = round(xact_commit::numeric / xact_rollback, 2),
		       sessions > 0, sessions_fatal >= 0, since_reset IS NOT DISTINCT FROM date_trunc('second', now() - stats_reset)
		  FROM runbook.database_stats WHERE datname = 'postgres'});
	is($row, '2|t|t|t|t|t|t', 'database_stats: a second real deadlock and the rollbacks counted; ratios consistent');
	# a session ended by the administrator
	my $victim = $node->background_psql('postgres', extra_params => [ '-U', 'app' ]);
	$victim->query_safe(q{SET application_name = 'victim'});
	my $killed0 = $node->safe_psql('postgres', q{SELECT sessions_killed FROM runbook.database_stats WHERE datname = 'postgres'});
	is($node->safe_psql('postgres', q{SELECT outcome FROM runbook.kill_idle('0', dry_run => false, application_pattern => 'victim')}),
		'terminated', 'the idle victim is terminated through kill_idle');
	$node->poll_query_until('postgres', qq{
		SELECT sessions_killed = $killed0 + 1 FROM runbook.database_stats WHERE datname = 'postgres'})
	  or die 'sessions_killed not counted';
	pass('database_stats: sessions_killed counts the terminated session');
	$victim->quit;
}

# --- triage: integrity findings, remedies that run as printed -------------
my $jnode = $nodes{jsonlog};
$jnode->safe_psql('postgres', q{
	CREATE TABLE victim (id int, pad text);
	INSERT INTO victim SELECT g, repeat('x', 50) FROM generate_series(1, 2000) g;
	CHECKPOINT;
});
my $heap = $jnode->safe_psql('postgres', q{SELECT pg_relation_filepath('victim')});
$jnode->stop;
{
	open(my $fh, '+<', $jnode->data_dir . '/' . $heap) or die "open: $!";
	binmode $fh;
	sysseek($fh, 8192 + 4000, 0) or die "seek: $!";
	syswrite($fh, "\x{13}" x 64) == 64 or die "write: $!";
	close($fh);
}
$jnode->start;
my ($ret, $out, $err) = $jnode->psql('postgres', 'SELECT count(*) FROM victim');
like($err, qr/invalid page in block 1/, 'jsonlog: reading the damaged page fails its checksum');
$jnode->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM runbook.log_summary('10 min') WHERE category = 'checksum_failure'})
  or diag($jnode->safe_psql('postgres', q{SELECT * FROM runbook.log_summary('10 min')}));
# (the page verification failure is a WARNING of the reading backend up to
# 17, a LOG line of the I/O worker that read the page from 18 on)
like( $jnode->safe_psql('postgres', q{
		SELECT string_agg(severity || ':' || sqlstate, ',' ORDER BY severity)
		  FROM runbook.log_summary('10 min') WHERE category = 'checksum_failure'}),
	qr/^ERROR:XX001,(WARNING|LOG):XX001$/,
	'log_summary: the checksum failure, as the WARNING or LOG line (page verification failed) and the ERROR');
$jnode->poll_query_until('postgres', q{
	SELECT checksum_failures > 0 FROM runbook.database_stats WHERE datname = 'postgres'})
  or die 'checksum failure not counted';
my $row = $jnode->safe_psql('postgres', q{
	SELECT severity || '|' || (evidence->>'checksum_failures') || '|' || remedy_sql
	  FROM runbook.triage() WHERE check_name = 'checksum_failures'});
like($row, qr/^SEV2\|\d+\|SELECT \* FROM runbook\.integrity_check\(\);  SELECT \* FROM runbook\.log_summary\('1 hours'\) WHERE category = 'checksum_failure';$/,
	'triage: a recent checksum failure is SEV2, with the checks to run');
is( $jnode->safe_psql('postgres', q{
		SELECT string_agg(severity || ':' || (evidence->>'category'), ',' ORDER BY evidence->>'severity')
		  FROM runbook.triage() WHERE check_name = 'server_log' AND evidence->>'category' = 'checksum_failure'}),
	'SEV2:checksum_failure,SEV2:checksum_failure', 'triage: the log\'s checksum failures are SEV2 findings too');

# an invalid index: a real failed CREATE UNIQUE INDEX CONCURRENTLY
$jnode->safe_psql('postgres', q{
	CREATE TABLE u (v int);
	INSERT INTO u VALUES (1), (1), (2);
	CREATE TABLE parent (id int PRIMARY KEY);
	CREATE TABLE child (pid int, n int);
	INSERT INTO child VALUES (42, 1);
	ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (pid) REFERENCES parent NOT VALID;
	ALTER TABLE child ADD CONSTRAINT "n ""positive""" CHECK (n > 0) NOT VALID;
	CREATE TABLE _prisma_migrations (
	    id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
	    migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
	    started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0);
	INSERT INTO _prisma_migrations VALUES
	 ('a1', 'x', NULL, '20261130_it''s $(touch pwned)', 'Database error: relation "orders" already exists', NULL, now(), 0);
});
($ret, $out, $err) = $jnode->psql('postgres', 'CREATE UNIQUE INDEX CONCURRENTLY u_v ON u (v)');
like($err, qr/could not create unique index "u_v"/, 'CREATE UNIQUE INDEX CONCURRENTLY fails on a duplicate');
$row = $jnode->safe_psql('postgres', q{
	SELECT severity || '|' || (evidence->>'index') || '|' || (evidence->>'unique') || '|' || remedy_sql
	  FROM runbook.triage() WHERE check_name = 'invalid_indexes'});
is($row, 'SEV3|public.u_v|true|SELECT v, count(*) FROM public.u WHERE v IS NOT NULL GROUP BY v HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 100;  DROP INDEX CONCURRENTLY public.u_v;',
	'triage: the invalid index left by the failed build, SEV3, with its remedy (the duplicates, then the drop: never a REINDEX that fails again)');
like( $jnode->safe_psql('postgres', q{SELECT finding FROM runbook.triage() WHERE check_name = 'invalid_indexes'}),
	qr/a failed CREATE INDEX CONCURRENTLY.*not ready \(indisready = false\).*refuses nothing/, 'the finding says why it matters');

is( $jnode->safe_psql('postgres', q{
		SELECT string_agg(severity || '|' || (evidence->>'type') || '|' || remedy_sql, E'\n' ORDER BY severity)
		  FROM runbook.triage() WHERE check_name = 'not_valid_constraints'}),
	"SEV3|foreign key|SELECT runbook.as_owner('public.child', 'ALTER TABLE public.child VALIDATE CONSTRAINT child_parent_fk');\n"
	  . qq{SEV4|check|SELECT runbook.as_owner('public.child', 'ALTER TABLE public.child VALIDATE CONSTRAINT "n ""positive"""');},
	'triage: NOT VALID foreign key SEV3, check SEV4, the constraint name quoted, validated as the table owner');
# the printed remedy runs as is: the check holds for the existing row
$jnode->safe_psql('postgres', $jnode->safe_psql('postgres', q{
	SELECT remedy_sql FROM runbook.triage() WHERE check_name = 'not_valid_constraints' AND severity = 'SEV4'}));
is( $jnode->safe_psql('postgres', q{SELECT count(*) FROM runbook.triage() WHERE check_name = 'not_valid_constraints'}),
	'1', 'the printed VALIDATE ran as printed and the check finding is gone');

$row = $jnode->safe_psql('postgres', q{
	SELECT severity || '|' || action || '|' || remedy_sql FROM runbook.triage() WHERE check_name = 'migrations'});
my $quoted = q{'20261130_it'\''s $(touch pwned)'};
is($row, qq{SEV2|fix the database, then mark the migration rolled back (remedy_command; --applied instead if you completed it by hand); in a shell: npx prisma migrate resolve --rolled-back $quoted|}
	  . q{SELECT tool, migration_table, status, migration, detail, remedy, remedy_command FROM runbook.migration_status() WHERE status <> 'last_applied';},
	'triage: the failed migration is SEV2; its action has the shell command with the name quoted, remedy_sql only SQL');
is($jnode->safe_psql('postgres', q{SELECT remedy_command FROM runbook.migration_status() WHERE status = 'failed'}),
	"npx prisma migrate resolve --rolled-back $quoted", 'migration_status(): the command, the name one shell word');
# the quoted word is one shell word that means the name, and runs nothing
my $shdir = PostgreSQL::Test::Utils::tempdir;
my $pwned = "$shdir/pwned";
open(my $ph, '-|', 'sh', '-c', "cd '$shdir' && printf '%s' $quoted") or die "sh: $!";
my $sh_out = do { local $/; <$ph> };
close($ph);
is($sh_out, q{20261130_it's $(touch pwned)}, 'the shell reads the quoted name back unchanged');
ok(!-e $pwned, 'and the command substitution in it did not run');

# --- incident messages of a staged lock incident (csvlog node) ---------------
{
	my $node = $nodes{csvlog};
	my $blocker = $node->background_psql('postgres', extra_params => [ '-U', 'app' ]);
	$blocker->query_safe(q{SET application_name = 'checkout'});
	my $bpid = $blocker->query_safe('SELECT pg_backend_pid()');
	$blocker->query_safe('BEGIN');
	$blocker->query_safe('UPDATE dl SET v = v + 1 WHERE id = 1');
	my $waiter = $node->background_psql('postgres', on_error_stop => 0);
	my $wpid = $waiter->query_safe('SELECT pg_backend_pid()');
	$waiter->query_until(qr/started/, "\\echo started\nUPDATE dl SET v = v + 1 WHERE id = 1;\n");
	$node->poll_query_until('postgres', "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $wpid")
	  or die 'waiter never waited';
	$node->safe_psql('postgres', q{UPDATE runbook.alert_thresholds SET value = 0 WHERE name = 'lock_wait_seconds'});
	# a wait shorter than deadlock_timeout (100ms here) is ordinary traffic
	# and no finding: wait until triage sees this one past it (a fast
	# machine asks within those 100ms)
	$node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM runbook.triage()
		 WHERE check_name = 'lock_waits' AND evidence->'root_blockers' = '[$bpid]'})
	  or die 'the lock wait never became a finding';
	my $minute = q{SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')};
	my $t_before = $node->safe_psql('postgres', $minute);

	my $m = $node->safe_psql('postgres', q{SELECT runbook.incident_message('declare')});
	my $t_after = $node->safe_psql('postgres', $minute);
	# SEV1 while the refused connection is younger than 5 minutes, SEV2 after
	like($m, qr/^\@channel INCIDENT DECLARED: Database Issue\n\nSeverity: SEV[12]\n/, 'declare: title and worst severity');
	# (the minute may turn between the two reads)
	like($m, qr/^Time Detected: (?:\Q$t_before\E|\Q$t_after\E):\d\d UTC$/m, 'declare: time detected, UTC');
	like($m, qr/^First Sign: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(first deadlock in the server log\)$/m,
		'declare: the first sign is the earliest: the deadlock in the log, before the lock queue');
	like($m, qr/^- SEV2 idle_in_transaction_blocking: pid $bpid \(app, checkout\) is idle in transaction/m,
		'declare: the blocker finding, with its pid');
	like($m, qr/^- Sessions waiting on locks: 1, the longest for [\d.]+ s; root blocker pid\(s\): $bpid$/m,
		'declare: impact names the waiting session and the root blocker');
	like($m, qr/^- Errors in the server log \(last hour\): .*FATAL too_many_connections x1 \(SQLSTATE 53300, last at \d\d:\d\d:\d\d UTC\)/m,
		'declare: the refused connection from the log');
	like($m, qr/ERROR deadlock x1 \(SQLSTATE 40P01/, 'declare: the deadlock from the log');
	like($m, qr/^Next Update:\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n\nIncident Channel: #incident-\d{8}-database-issue\n$/m,
		'declare: next update and channel');

	my $t0 = $node->safe_psql('postgres', q{SELECT now() - interval '10 min'});
	$m = $node->safe_psql('postgres', qq{SELECT runbook.incident_message('update', started_at => '$t0', eta => '20 min')});
	like($m, qr/^Elapsed Time: 00:10:\d\d \(since /m, 'update: elapsed time since the given start');
	like($m, qr/^- end the idle transaction.*: SELECT \* FROM runbook\.terminate\($bpid, 'idle in transaction, blocking 1 session\(s\)'\);/m,
		'update: next step is the audited runbook.terminate of the blocker, reason quoted');
	unlike($m, qr/pg_terminate_backend|pg_cancel_backend/, 'update: never the bare built-ins');
	like($m, qr/^Actions Taken:\n- none recorded in the audit since /m, 'update: no action yet');
	like($m, qr/^Estimated Resolution Time:\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in 00:20:00\)$/m, 'update: the ETA given');

	# the remedy, through the audited path
	is($node->safe_psql('postgres', q{SELECT pid || ':' || outcome FROM runbook.terminate_blockers('0', dry_run => false)}),
		"$bpid:terminated", 'the root blocker is terminated (audited)');
	$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $bpid")
	  or die 'blocker still there';
	$m = $node->safe_psql('postgres', qq{SELECT runbook.incident_message('resolve', started_at => '$t0')});
	like($m, qr/^\@channel INCIDENT RESOLVED: Database Issue\n\nTime Resolved: .* UTC\nTotal Duration: 00:10:\d\d \(from /,
		'resolve: time and duration');
	like($m, qr/^- \d\d:\d\d:\d\d terminate pid $bpid \(app, checkout\): terminated by terminate_blockers as \S+/m,
		'resolve: the audited action with its pid');
	like($m, qr/^- Server log since \d\d:\d\d UTC: FATAL too_many_connections x1 \(SQLSTATE 53300\)/m,
		'resolve: impact from the server log since the start');
	like($m, qr/^Data Integrity Status:\n- Checksum failures: none in pg_stat_database/m, 'resolve: integrity status');
	unlike($m, qr/idle_in_transaction_blocking|lock_waits/, 'resolve: the lock findings are gone');

	for my $k ('status_investigating', 'status_identified', 'status_resolved')
	{
		my $s = $node->safe_psql('postgres', qq{SELECT runbook.incident_message('$k', eta => '20 min')});
		unlike($s, qr/$bpid|checkout|SEV\d|pid/, "$k: nothing internal on the status page");
		like($s, qr/^Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n\z/m, "$k: time");
	}
	like($node->safe_psql('postgres', q{SELECT runbook.incident_message('status_identified', eta => '20 min')}),
		qr/^Status: Identified\n\nWe have identified the cause .* We expect to restore service within 20 minutes \(by \d\d:\d\d UTC\)\./m,
		'status_identified: the ETA in words');
	$waiter->quit;
}

$_->stop for values %nodes;
done_testing();
