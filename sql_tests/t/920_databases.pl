# Every database from one call (issue 24).  One server, several databases:
#   shop    pg_runbook installed, a table with 45,000 dead tuples
#   noext   without pg_runbook
#   closed  pg_runbook installed, then ALLOW_CONNECTIONS false
#   locked  pg_runbook installed, CONNECT revoked from PUBLIC
#   oldver  pg_runbook 1.1
# One triage() call from postgres must report the dead tuples of shop with
# its datname and every database it could not check with the reason; a
# role with only pg_monitor must see in shop exactly what it sees connected
# there (and be refused where its own connection would be); the workers run
# as the calling role, at most pg_runbook.per_database_workers at once,
# within the time budget; and cancelling or terminating the caller leaves
# no worker behind (pg_stat_activity).  Figures are cross-checked against
# PostgreSQL's own views read in the database itself.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('databases');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.naptime = '60s'
max_worker_processes = 12
# the limit is exercised with 3 databases to check at once
pg_runbook.per_database_workers = 2
# the statistics compared between two reads must not move in between
autovacuum = off
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_runbook;
	CREATE ROLE mon LOGIN IN ROLE pg_monitor;
	CREATE ROLE grp NOLOGIN IN ROLE pg_monitor;
	GRANT grp TO mon;
	CREATE DATABASE shop;
	CREATE DATABASE noext;
	CREATE DATABASE closed;
	CREATE DATABASE locked;
	CREATE DATABASE oldver;
	REVOKE CONNECT ON DATABASE locked FROM PUBLIC;
});
for my $db (qw(shop closed locked))
{
	$node->safe_psql($db, 'CREATE EXTENSION pg_runbook');
}
$node->safe_psql('oldver', q{CREATE EXTENSION pg_runbook VERSION '1.1'});
$node->safe_psql('postgres', 'ALTER DATABASE closed ALLOW_CONNECTIONS false');
$node->safe_psql('shop', q{
	CREATE TABLE orders (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false);
	INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 50000) g;
	DELETE FROM orders WHERE id % 10 <> 0;
});
$node->poll_query_until('shop',
	q{SELECT n_dead_tup = 45000 FROM pg_stat_user_tables WHERE relname = 'orders'})
  or die 'the dead tuples never showed in pg_stat_user_tables';

sub psq { my ($db, $sql) = @_; my $r = $node->safe_psql($db, $sql); return $r; }
sub workers_now
{
	return psq('postgres', q{SELECT count(*) FROM pg_stat_activity
	                        WHERE backend_type = 'pg_runbook per-database check'});
}

# the default of the worker limit: the CPUs the server may use plus one,
# between 2 and 4 (2 here is postgresql.conf's)
chomp(my $ncpu = `nproc`);
my $want_default = $ncpu + 1 < 2 ? 2 : ($ncpu + 1 > 4 ? 4 : $ncpu + 1);
is(psq('postgres', q{SELECT boot_val || '|' || setting FROM pg_settings WHERE name = 'pg_runbook.per_database_workers'}),
	"$want_default|2", "pg_runbook.per_database_workers: default $want_default on $ncpu CPU(s), set to 2 here");

# ---- coverage as a superuser sees it --------------------------------------
is(psq('postgres', q{SELECT string_agg(datname || ':' || checked || ':' || coalesce(code, '-'), ' ' ORDER BY datname)
                     FROM runbook.databases()}),
	'closed:false:not_allowed locked:true:- noext:false:not_installed oldver:false:other_version '
	  . 'postgres:true:- shop:true:- template0:false:template template1:false:template',
	'databases(): each database checked or not, with the reason code');
like(psq('postgres', q{SELECT reason || '|' || fix FROM runbook.databases() WHERE datname = 'oldver'}),
	qr/^pg_runbook 1\.1 is installed in this database, 1\.2 where the call ran\|ALTER EXTENSION pg_runbook UPDATE;$/,
	'another version: both versions and the fix');
is(psq('postgres', q{SELECT fix FROM runbook.databases() WHERE datname = 'noext'}),
	'CREATE EXTENSION pg_runbook;', 'not installed: the one-line fix');

# ---- one triage() call from postgres ---------------------------------------
my $shop_dead = psq('shop', q{SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'orders'});
my $tri = psq('postgres', q{SELECT string_agg(check_name || '|' || severity || '|' || coalesce(datname, '-'), ' ' ORDER BY check_name, datname)
                            FROM runbook.triage() WHERE check_name IN ('dead_tuples', 'databases')});
is($tri, 'databases|SEV4|closed databases|SEV4|noext databases|SEV4|oldver dead_tuples|SEV3|shop',
	'triage(): dead tuples in shop, and closed, noext and oldver reported as not checked');
is(psq('postgres', q{SELECT (evidence->'tables'->0->>'n_dead_tup') || '|' || (evidence->'tables'->0->>'relation') || '|' || remedy_sql
                     FROM runbook.triage() WHERE check_name = 'dead_tuples'}),
	"$shop_dead|public.orders|ALTER TABLE public.orders RESET (autovacuum_enabled);  VACUUM (VERBOSE, ANALYZE) public.orders;",
	'the dead tuples are those pg_stat_user_tables shows in shop; the remedy to run there (its autovacuum is off: turned back on first)');
is(psq('postgres', q{SELECT finding || '|' || remedy_sql FROM runbook.triage() WHERE check_name = 'databases' AND datname = 'noext'}),
	'database noext not checked: pg_runbook is not installed in this database|CREATE EXTENSION pg_runbook;',
	'noext: not checked, why, and the fix to run in that database');
like(psq('postgres', q{SELECT finding FROM runbook.triage() WHERE check_name = 'databases' AND datname = 'closed'}),
	qr/not checked: the database does not allow connections/, 'closed: not checked, it allows no connections');

# the same from shop: the dead tuples are local there, the finding the same
is(psq('shop', q{SELECT datname || '|' || finding || '|' || remedy_sql FROM runbook.triage() WHERE check_name = 'dead_tuples'}),
	psq('postgres', q{SELECT datname || '|' || finding || '|' || remedy_sql FROM runbook.triage() WHERE check_name = 'dead_tuples'}),
	'from shop itself: the same finding as from postgres');

# ---- vacuum_status(), sizes(), metrics() over the server ------------------
is(psq('postgres', q{SELECT coalesce(relation::text, 'NULL') || '|' || schemaname || '.' || relname || '|' || n_dead_tup
                     FROM runbook.vacuum_status() WHERE datname = 'shop' AND relname = 'orders'}),
	"NULL|public.orders|$shop_dead", 'vacuum_status(): shop\'s table, relation NULL, the dead tuples of shop');
is(psq('postgres', q{SELECT string_agg(datname || ':' || status, ' ' ORDER BY datname) FROM runbook.vacuum_status() WHERE relname IS NULL}),
	'closed:not checked: the database does not allow connections (datallowconn is false) '
	  . 'noext:not checked: pg_runbook is not installed in this database '
	  . 'oldver:not checked: pg_runbook 1.1 is installed in this database, 1.2 where the call ran',
	'vacuum_status(): one row per database it could not check, saying why');
is(psq('postgres', q{SELECT count(*) FROM runbook.vacuum_status(ARRAY['postgres']) WHERE relation IS NULL}),
	'0', 'the current database\'s rows keep relation');
# more rows than work_mem holds: the rows of a database spill to a
# temporary file, also when the check runs here in a subtransaction
psq('shop', q{DO $$ BEGIN FOR g IN 1..300 LOOP EXECUTE format('CREATE TABLE filler%s (id int)', g); END LOOP; END $$});
my $view_rows = psq('shop', 'SELECT count(*) FROM runbook.vacuum_status');
cmp_ok($view_rows, '>', 300, "shop's vacuum_status view has $view_rows rows");
is(psq('shop', q{SET work_mem = '64kB'; SELECT count(*) FROM runbook.vacuum_status(ARRAY['shop'])}),
	$view_rows, 'vacuum_status(shop) in shop with work_mem 64kB: every row (spilled in the local subtransaction)');
is(psq('postgres', q{SET work_mem = '64kB'; SELECT count(*) FROM runbook.vacuum_status(ARRAY['shop'])}),
	$view_rows, '... and from postgres');
my $orders_size = psq('shop', q{SELECT pg_total_relation_size('orders')});
is(psq('postgres', q{SELECT total_bytes || '|' || coalesce(relation::text, 'NULL') FROM runbook.sizes() WHERE datname = 'shop' AND relname = 'orders'}),
	"$orders_size|NULL", 'sizes(): total bytes of shop.orders as pg_total_relation_size says in shop');
like(psq('postgres', q{SELECT status FROM runbook.sizes() WHERE kind = 'database' AND name = 'noext'}),
	qr/relations not checked: pg_runbook is not installed/, 'sizes(): why noext has no relation rows');
my $m = psq('postgres', 'SELECT runbook.metrics()');
like($m, qr/^pg_runbook_table_dead_tuples\{datname="shop",relname="orders",schemaname="public"\} $shop_dead$/m,
	'metrics(): dead tuples of shop, labelled with its datname');
like($m, qr/^pg_runbook_check_up\{check="table_dead_tuples",datname="noext"\} 0$/m,
	'metrics(): the family says it does not cover noext');
like($m, qr/^pg_runbook_check_up\{check="table_dead_tuples",datname="shop"\} 1$/m, '... and covers shop');

# ---- a role with only pg_monitor -------------------------------------------
is(psq('postgres', q{SET ROLE mon; SELECT string_agg(datname || ':' || coalesce(code, '-'), ' ' ORDER BY datname)
                     FROM runbook.databases() WHERE NOT is_current AND datname NOT LIKE 'template%'}),
	'closed:not_allowed locked:no_privilege noext:not_installed oldver:other_version shop:-',
	'pg_monitor role: refused where its own connection would be (no CONNECT on locked)');
my ($rc, $out, $err) = $node->psql('locked', 'SELECT 1', extra_params => [ '-U', 'mon' ]);
isnt($rc, 0, '... and its own connection to locked is refused indeed');
like($err, qr/permission denied for database "locked"/, '... for lack of CONNECT');
is(psq('postgres', q{SET ROLE mon; SELECT remedy_sql FROM runbook.triage() WHERE check_name = 'databases' AND datname = 'locked'}),
	'GRANT CONNECT ON DATABASE locked TO mon;', 'triage() as mon: locked not checked, with the grant that would fix it');
my $cols = q{datname, schemaname, relname, n_live_tup, n_dead_tup, dead_pct, autovacuum_enabled, vacuum_threshold, vacuum_due, status};
my $remote = psq('postgres', qq{SET ROLE mon; SELECT $cols FROM runbook.vacuum_status(ARRAY['shop']) ORDER BY schemaname, relname});
my $local = $node->safe_psql('shop', qq{SELECT $cols FROM runbook.vacuum_status ORDER BY schemaname, relname},
	extra_params => [ '-U', 'mon' ]);
is($remote, $local, 'pg_monitor role: vacuum_status of shop from postgres is what it sees connected to shop');
cmp_ok(scalar(split /\n/, $remote), '>', 10, '... (with the catalogs and orders)');
is(psq('postgres', q{SET ROLE grp; SELECT string_agg(datname || ':' || coalesce(code, '-'), ' ' ORDER BY datname)
                     FROM runbook.databases() WHERE datname IN ('shop', 'postgres')}),
	'postgres:- shop:cannot_login', 'a NOLOGIN role (SET ROLE): refused, as its own connection would be');
psq('postgres', 'ALTER ROLE mon CONNECTION LIMIT 1');
($rc, $out, $err) = $node->psql('postgres', q{SELECT string_agg(datname || ':' || coalesce(code, '-'), ' ' ORDER BY datname)
                                             FROM runbook.databases() WHERE datname IN ('shop', 'postgres')},
	extra_params => [ '-U', 'mon' ]);
is($out, 'postgres:- shop:connection_limit', 'role at its connection limit: refused, as a second connection would be');
psq('postgres', 'ALTER ROLE mon CONNECTION LIMIT -1');

# ---- the workers run as the calling role, at most N at once ---------------
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_safe(q{SET pg_runbook.test_per_database_delay = '1500ms'});
$bg->query_safe('SET ROLE mon');
$bg->query_until(qr/started/, "\\echo started\nSELECT count(*) FROM runbook.vacuum_status();\n");
$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity
                                      WHERE backend_type = 'pg_runbook per-database check'})
  or die 'no worker showed up';
is(psq('postgres', q{SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity
                   WHERE backend_type = 'pg_runbook per-database check'}),
	'mon', 'the workers connect as the calling role (pg_stat_activity.usename), not as a superuser');
# sampled until the call is over: 4 databases, 1.5 s each, 2 at a time
my $max = 0;
my $idle = 0;
my $t0 = time();
while (time() - $t0 < 30 && $idle < 10)
{
	my $n = psq('postgres', q{SELECT count(*) FROM pg_stat_activity
	                          WHERE backend_type = 'pg_runbook per-database check' AND state = 'active'});
	$max = $n if $n > $max;
	$idle = ($n == 0 && workers_now() == 0) ? $idle + 1 : 0;
	usleep(50_000);
}
is($max, 2, 'never more than pg_runbook.per_database_workers (2) checks at once');
$bg->query_safe('RESET ROLE');

# ---- the time budget --------------------------------------------------------
is(psq('postgres', q{SET pg_runbook.test_per_database_delay = '5s'; SET pg_runbook.per_database_timeout = '500ms';
                   SELECT string_agg(datname || ':' || coalesce(code, '-'), ' ' ORDER BY datname)
                     FROM runbook.databases() WHERE datname IN ('shop', 'noext', 'postgres')}),
	'noext:timeout postgres:- shop:timeout', 'over its time budget: reported as timed out');
is(workers_now(), '0', '... and its workers are gone');
like(psq('postgres', q{SET pg_runbook.test_per_database_delay = '5s'; SET pg_runbook.per_database_timeout = '500ms';
                     SELECT severity || '|' || finding FROM runbook.triage() WHERE check_name = 'databases' AND datname = 'shop'}),
	qr/^SEV3\|database shop not checked: timed out after 500 ms/, 'triage(): a database that timed out is a SEV3 finding');

# ---- no dynamic shared memory segment left (the server's limit) ----------
# (a test setting stands for dsm_create() finding the limit reached)
is(psq('postgres', q{SET pg_runbook.test_per_database_no_segment = on;
                   SELECT string_agg(datname || ':' || coalesce(code, '-'), ' ' ORDER BY datname)
                     FROM runbook.databases() WHERE datname IN ('shop', 'postgres')}),
	'postgres:- shop:no_shared_memory', 'no segment left: the database is refused with its reason, the call goes on');
like(psq('postgres', q{SET pg_runbook.test_per_database_no_segment = on;
                     SELECT severity || '|' || finding FROM runbook.triage() WHERE check_name = 'databases' AND datname = 'shop'}),
	qr/^SEV4\|database shop not checked: no dynamic shared memory segment is left/, 'triage(): a finding that says so');

# ---- cancelling the caller leaves no worker behind --------------------------
($rc, $out, $err) = $node->psql('postgres', q{SET pg_runbook.test_per_database_delay = '30s'; SET statement_timeout = '2s';
                                             SELECT * FROM runbook.triage()});
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout cancels triage()');
is(workers_now(), '0', 'statement_timeout: no worker left behind (pg_stat_activity, at once)');

$bg->query_safe(q{SET pg_runbook.test_per_database_delay = '30s'});
my $bgpid = $bg->query_safe('SELECT pg_backend_pid()');
chomp $bgpid;
$bg->query_until(qr/started/, "\\echo started\nSELECT count(*) FROM runbook.sizes();\n");
$node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM pg_stat_activity
                                      WHERE backend_type = 'pg_runbook per-database check'})
  or die 'the workers never showed up';
psq('postgres', "SELECT pg_cancel_backend($bgpid)");
$node->poll_query_until('postgres', qq{SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $bgpid})
  or die 'the caller never came back';
is(workers_now(), '0', 'pg_cancel_backend: no worker left behind');

$bg->query_until(qr/started/, "\\echo started\nSELECT count(*) FROM runbook.sizes();\n");
$node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM pg_stat_activity
                                      WHERE backend_type = 'pg_runbook per-database check'})
  or die 'the workers never showed up';
psq('postgres', "SELECT pg_terminate_backend($bgpid)");
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity
                                         WHERE backend_type = 'pg_runbook per-database check'}),
	'pg_terminate_backend of the caller: its workers end with it');
eval { $bg->quit };	# its backend was terminated

# ---- no lock waits: a table locked by DDL in shop --------------------------
my $ddl = $node->background_psql('shop');
$ddl->query_safe('BEGIN');
$ddl->query_safe('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
is(psq('shop', q{SELECT mode FROM pg_locks WHERE relation = 'orders'::regclass AND granted}),
	'AccessExclusiveLock', 'orders is locked in shop');
$t0 = time();
like(psq('postgres', q{SELECT status FROM runbook.sizes(ARRAY['shop']) WHERE relname = 'orders'}),
	qr/^skipped: locked by another session/, 'sizes(): the locked table of shop is skipped, not waited for');
is(psq('postgres', q{SELECT count(*) FROM runbook.triage() WHERE check_name = 'dead_tuples' AND datname = 'shop'}),
	'1', 'triage() still reads shop while the table is locked');
cmp_ok(time() - $t0, '<', 20, '... without waiting on the lock');
$ddl->query_safe('ROLLBACK');
$ddl->quit;

# ---- a database that is not a template is never left out silently ---------
is(psq('postgres', q{SELECT count(*) FROM pg_database d
                   WHERE NOT d.datistemplate
                     AND NOT EXISTS (SELECT 1 FROM runbook.triage() t WHERE t.check_name = 'databases' AND t.datname = d.datname)
                     AND d.datname NOT IN (SELECT datname FROM runbook.databases() WHERE checked)}),
	'0', 'every database is either checked or named by a finding');

# ---- the per-database functions over the server (part 2) -------------------
# In shop: a duplicate and an unused index, an invalid unique index (a
# failed CREATE UNIQUE INDEX CONCURRENTLY), a NOT VALID foreign key with
# orphans, a serial column near the end of int, failed Flyway and Prisma
# migrations; orders still has its dead tuples.  One call of each function
# from postgres reports them with datname shop (relation NULL, schemaname
# and relname naming them) and the databases it could not check; the same
# call in shop gives the same rows; each remedy, run in shop, resolves its
# condition there.
$node->safe_psql('shop', q{
	CREATE TABLE customers (id int PRIMARY KEY);
	INSERT INTO customers VALUES (1);
	CREATE TABLE payments (id serial PRIMARY KEY, customer int, note text);
	INSERT INTO payments (customer, note) SELECT 1 + g % 2, 'n' || g FROM generate_series(1, 10) g;
	ALTER TABLE payments ADD CONSTRAINT payments_customer_fk FOREIGN KEY (customer) REFERENCES customers NOT VALID;
	SELECT setval('payments_id_seq', 2100000000);
	CREATE INDEX payments_note ON payments (note);
	CREATE INDEX payments_note_dup ON payments (note);
	CREATE TABLE emails (addr text);
	INSERT INTO emails VALUES ('a@example.com'), ('a@example.com');
	CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
	    type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum int, installed_by varchar(100) NOT NULL,
	    installed_on timestamp NOT NULL DEFAULT now(), execution_time int NOT NULL, success boolean NOT NULL);
	INSERT INTO flyway_schema_history VALUES (1, '1', 'init', 'SQL', 'V1__init.sql', 0, 'app', now(), 5, true),
	                                         (2, '2', 'payments', 'SQL', 'V2__payments.sql', 0, 'app', now(), 5, false);
	CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
	    migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(),
	    applied_steps_count integer NOT NULL DEFAULT 0);
	INSERT INTO _prisma_migrations (id, checksum, migration_name, logs) VALUES ('p1', 'x', '20260101_emails', 'relation "emails" already exists');
	ANALYZE;
});
($rc, $out, $err) = $node->psql('shop', 'CREATE UNIQUE INDEX CONCURRENTLY emails_addr ON emails (addr)');
like($err, qr/could not create unique index/, 'shop: the unique index build failed, leaving emails_addr invalid');
is(psq('shop', q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'emails_addr'::regclass}), 'f', '... invalid in pg_index');

# the databases a default call cannot check, as a superuser sees them
my $unchecked = 'closed noext oldver';
is(psq('postgres', q{SELECT string_agg(datname, ' ' ORDER BY datname) FROM runbook.index_advice() WHERE verdict = 'not_checked'}),
	$unchecked, 'index_advice(): the databases it could not check, one row each');
is(psq('postgres', q{SELECT string_agg(datname || ':' || status || ':' || coalesce(remedy_sql, '-'), ' ' ORDER BY datname)
                     FROM runbook.migration_status() WHERE status = 'not_checked'}),
	'closed:not_checked:- noext:not_checked:CREATE EXTENSION pg_runbook; oldver:not_checked:ALTER EXTENSION pg_runbook UPDATE;',
	'migration_status(): the same, with the fix to run in each');
is(psq('postgres', q{SELECT string_agg(datname, ' ' ORDER BY datname) FROM runbook.integrity_check() WHERE status = 'not_checked'}),
	$unchecked, 'integrity_check(): the same');
is(psq('postgres', q{SELECT string_agg(datname, ' ' ORDER BY datname) FROM runbook.sequences_near_overflow() WHERE status LIKE 'not checked: %'}),
	$unchecked, 'sequences_near_overflow(): the same');
is(psq('postgres', q{SELECT string_agg(datname, ' ' ORDER BY datname) FROM runbook.bloat_report() WHERE reason LIKE 'not checked: %'}),
	$unchecked, 'bloat_report(): the same');

# triage() from postgres: shop's conditions are findings with datname shop
# (its per-database checks ran there, in a worker), each cross-checked
# against shop's own catalogs; the same findings as triage() in shop
my $shop_tri = psq('postgres', q{SELECT string_agg(check_name || '|' || severity, ' ' ORDER BY check_name, severity)
                                 FROM runbook.triage() WHERE datname = 'shop'
                                  AND check_name IN ('invalid_indexes', 'not_valid_constraints', 'migrations', 'sequences', 'dead_tuples')});
is($shop_tri, 'dead_tuples|SEV3 invalid_indexes|SEV3 migrations|SEV2 migrations|SEV2 not_valid_constraints|SEV3 sequences|SEV2',
	'triage() from postgres: dead tuples, the invalid index, the failed Flyway and Prisma migrations, the NOT VALID key, the serial near overflow, all of shop');
is(psq('postgres', q{SELECT evidence->>'index' FROM runbook.triage() WHERE datname = 'shop' AND check_name = 'invalid_indexes'}),
	psq('shop', q{SELECT string_agg(n.nspname || '.' || c.relname, ',') FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid}),
	'... the invalid index is the one pg_index of shop shows invalid');
is(psq('postgres', q{SELECT evidence->>'constraint' FROM runbook.triage() WHERE datname = 'shop' AND check_name = 'not_valid_constraints'}),
	psq('shop', q{SELECT string_agg(conname, ',') FROM pg_constraint WHERE NOT convalidated}),
	'... the NOT VALID constraint is the one pg_constraint of shop shows not validated');
is(psq('postgres', q{SELECT (evidence->>'last_value') || '|' || (evidence->>'sequence') || '|' || (evidence->>'column') FROM runbook.triage()
                     WHERE datname = 'shop' AND check_name = 'sequences'}),
	psq('shop', q{SELECT last_value || '|' || schemaname || '.' || sequencename || '|id' FROM pg_sequences WHERE sequencename = 'payments_id_seq'}),
	'... the sequence and its last value as pg_sequences shows them in shop');
is(psq('postgres', q{SELECT remedy_sql FROM runbook.triage() WHERE datname = 'shop' AND check_name = 'sequences'}),
	psq('postgres', q{SELECT remedy FROM runbook.sequences_near_overflow(databases => ARRAY['shop']) WHERE relname = 'payments_id_seq'}),
	'... with the remedy of sequences_near_overflow(), to run in shop');
is(psq('postgres', q{SELECT string_agg(evidence->>'tool', ',' ORDER BY evidence->>'tool') FROM runbook.triage() WHERE datname = 'shop' AND check_name = 'migrations'}),
	'flyway,prisma', '... the failed migrations are those of flyway_schema_history and _prisma_migrations in shop');
my $findq = q{SELECT string_agg(check_name || '|' || severity || '|' || finding || '|' || coalesce(remedy_sql, '-'), E'\n' ORDER BY check_name, finding)
              FROM runbook.triage() WHERE datname = 'shop'
               AND check_name IN ('invalid_indexes', 'not_valid_constraints', 'migrations', 'sequences', 'dead_tuples')};
is(psq('postgres', $findq), psq('shop', $findq), 'triage() in shop itself: the same findings, word for word');
like(psq('postgres', q{SELECT runbook.incident_message('resolve')}), qr/^- Invalid indexes: SEV3 \(database shop\) \S/m,
	'incident_message(resolve) from postgres: the invalid index of shop, named with its database');
is(psq('postgres', q{SET ROLE mon; SELECT string_agg(check_name || ':' || severity, ' ' ORDER BY check_name) FROM runbook.triage() WHERE datname = 'shop'
                     AND check_name IN ('invalid_indexes', 'not_valid_constraints', 'sequences')}),
	'invalid_indexes:SEV3 not_valid_constraints:SEV3 sequences:SEV4',
	'a pg_monitor role sees them too (its workers connect to shop as mon), but for the sequence, which it may not read ...');
is(psq('postgres', q{SET ROLE mon; SELECT finding FROM runbook.triage() WHERE datname = 'shop' AND check_name = 'sequences'}),
	'1 sequence(s) in shop not read: no SELECT or USAGE privilege on the sequence',
	'... and triage() says so rather than stay silent');
is(psq('shop', q{SELECT string_agg(relname, ',') FILTER (WHERE NOT has_sequence_privilege('mon', oid, 'SELECT,USAGE')) FROM pg_class WHERE relkind = 'S'}),
	'payments_id_seq', '... (pg_class of shop: the one sequence mon may not read; pg_runbook\'s own it may)');

# each condition of shop, from postgres, with its datname and names
is(psq('postgres', q{SELECT string_agg(verdict || ':' || relname || ':' || table_relname || ':' || coalesce(index::text, 'NULL'), ' ' ORDER BY verdict, relname)
                     FROM runbook.index_advice() WHERE datname = 'shop' AND table_relname IN ('payments', 'emails')
                      AND verdict IN ('duplicate', 'invalid')}),
	'duplicate:payments_note_dup:payments:NULL invalid:emails_addr:emails:NULL',
	'index_advice(): the duplicate and the invalid index of shop, index NULL, relname and table_relname naming them');
is(psq('postgres', q{SELECT string_agg(check_name || ':' || relname || ':' || coalesce(count::text, '-'), ' ' ORDER BY check_name, relname)
                     FROM runbook.integrity_check() WHERE datname = 'shop' AND relation IS NULL}),
	'invalid_index:emails:- not_valid_constraint:payments:- orphaned_rows:payments:'
	  . psq('shop', q{SELECT count(*) FROM payments p WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = p.customer)}),
	'integrity_check(): the invalid index, the NOT VALID key and its orphans (counted as shop counts them)');
is(psq('postgres', q{SELECT string_agg(tool || ':' || status || ':' || schemaname || '.' || relname, ' ' ORDER BY tool, status)
                     FROM runbook.migration_status() WHERE datname = 'shop' AND migration_table IS NULL AND status <> 'not_checked'}),
	'flyway:failed:public.flyway_schema_history flyway:last_applied:public.flyway_schema_history prisma:failed:public._prisma_migrations',
	'migration_status(): the failed Flyway and Prisma migrations of shop');
is(psq('postgres', q{SELECT remedy_command FROM runbook.migration_status() WHERE datname = 'shop' AND tool = 'prisma'}),
	q{npx prisma migrate resolve --rolled-back '20260101_emails'}, '... with the tool\'s command for that migration');
is(psq('postgres', q{SELECT relname || ':' || table_schemaname || '.' || table_relname || '.' || column_name || ':' || column_type || ':' || last_value
                     FROM runbook.sequences_near_overflow() WHERE datname = 'shop'}),
	'payments_id_seq:public.payments.id:integer:' . psq('shop', q{SELECT last_value FROM pg_sequences WHERE sequencename = 'payments_id_seq'}),
	'sequences_near_overflow(): the serial of shop, the column it feeds and its type, the last value pg_sequences shows there');
is(psq('postgres', q{SELECT dead_tuples || ':' || coalesce(relation::text, 'NULL') || ':' || remedy FROM runbook.bloat_report() WHERE datname = 'shop' AND relname = 'orders'}),
	psq('shop', q{SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'orders'}) . ':NULL:VACUUM (VERBOSE, ANALYZE) public.orders;',
	'bloat_report(): the dead tuples of shop.orders as shop counts them, and the remedy');

# the same rows as the call in shop itself (the columns but the regclass ones)
my %cmp = (
	index_advice => 'verdict, schemaname, relname, table_relname, size_bytes, reason, ddl',
	integrity_check => 'check_name, status, object, count, detail, check_sql, remedy_sql, schemaname, relname',
	migration_status => 'tool, status, migration, detail, remedy, remedy_command, remedy_sql, schemaname, relname',
	sequences_near_overflow => 'schemaname, relname, table_schemaname, table_relname, column_name, column_type, last_value, pct_used, status, remedy',
	bloat_report => 'kind, schemaname, relname, table_relname, size_bytes, bloat_bytes, confidence, reason, remedy');
# (bloat: the tables of the application; the catalogs' own statistics move)
my %where = (bloat_report => "WHERE schemaname = 'public'");
for my $f (sort keys %cmp)
{
	my $q = "SELECT $cmp{$f} FROM runbook.$f(databases => ARRAY['shop']) " . ($where{$f} // '') . " ORDER BY 1, 2, 3, 4, 5";
	my $there = psq('shop', $q);
	is(psq('postgres', $q), $there, "$f(): from postgres, shop's rows are those shop gives itself");
	cmp_ok(length($there), '>', 0, '... (some rows)');
}

# a role with only pg_monitor: what it sees connected to shop
psq('postgres', 'GRANT CONNECT ON DATABASE locked TO mon');
for my $f (qw(index_advice integrity_check migration_status sequences_near_overflow))
{
	my $q = "SELECT $cmp{$f} FROM runbook.$f(databases => ARRAY['shop']) ORDER BY 1, 2, 3, 4, 5";
	is(psq('postgres', "SET ROLE mon; $q"), $node->safe_psql('shop', $q, extra_params => [ '-U', 'mon' ]),
		"pg_monitor role: $f() of shop from postgres is what it sees connected to shop");
}
like(psq('postgres', q{SET ROLE mon; SELECT detail FROM runbook.migration_status(databases => ARRAY['shop']) WHERE tool = 'flyway'}),
	qr/no SELECT privilege on public\.flyway_schema_history/, '... (a table it may not read is skipped, in shop as here)');
psq('postgres', 'REVOKE CONNECT ON DATABASE locked FROM mon');
is(psq('postgres', q{SET ROLE mon; SELECT string_agg(datname || ':' || coalesce(ddl, '-'), ' ' ORDER BY datname) FROM runbook.index_advice() WHERE verdict = 'not_checked'}),
	'closed:- locked:GRANT CONNECT ON DATABASE locked TO mon; noext:CREATE EXTENSION pg_runbook; oldver:ALTER EXTENSION pg_runbook UPDATE;',
	'pg_monitor role: refused where its own connection would be, with the fix');

# each remedy, taken from postgres and run in shop, resolves its condition
sub run_there
{
	my ($sql) = @_;
	my ($r, $o, $e) = $node->psql('shop', $sql, on_error_stop => 1);
	is($r, 0, 'the remedy runs in shop as printed') or diag("$sql\n$e");
}
run_there(psq('postgres', q{SELECT ddl FROM runbook.index_advice() WHERE datname = 'shop' AND verdict = 'duplicate' AND relname = 'payments_note_dup'}));
is(psq('shop', q{SELECT to_regclass('payments_note_dup') IS NULL AND to_regclass('payments_note') IS NOT NULL}), 't',
	'index_advice(): the duplicate is dropped in shop, the index kept stays');
run_there(psq('postgres', q{SELECT remedy_sql FROM runbook.integrity_check() WHERE datname = 'shop' AND check_name = 'orphaned_rows'}));
is(psq('shop', q{SELECT convalidated || ':' || (SELECT count(*) FROM payments p WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = p.customer))
                 FROM pg_constraint WHERE conname = 'payments_customer_fk'}), 'true:0',
	'integrity_check(): the orphans are deleted in shop and the key validated');
psq('shop', q{DELETE FROM emails WHERE ctid <> (SELECT min(ctid) FROM emails)});
run_there(psq('postgres', q{SELECT remedy_sql FROM runbook.integrity_check() WHERE datname = 'shop' AND check_name = 'invalid_index'}));
is(psq('shop', q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'emails_addr'::regclass}), 't',
	'integrity_check(): once the duplicate is gone, the rebuild makes the index valid in shop');
run_there(psq('postgres', q{SELECT remedy FROM runbook.sequences_near_overflow() WHERE datname = 'shop' AND relname = 'payments_id_seq'}));
is(psq('shop', q{SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = 'payments'::regclass AND attname = 'id'}),
	'bigint', 'sequences_near_overflow(): the column is bigint in shop');
is(psq('postgres', q{SELECT count(*) FROM runbook.sequences_near_overflow() WHERE datname = 'shop'}), '0', '... and no longer reported');
run_there(psq('postgres', q{SELECT remedy FROM runbook.bloat_report() WHERE datname = 'shop' AND relname = 'orders'}));
$node->poll_query_until('shop', q{SELECT n_dead_tup = 0 FROM pg_stat_user_tables WHERE relname = 'orders'})
  or die 'the dead tuples stayed';
is(psq('postgres', q{SELECT string_agg(check_name || ':' || relname, ' ' ORDER BY 1) FROM runbook.integrity_check(databases => ARRAY['shop'])}), '',
	'integrity_check(): nothing left to report in shop');

# a database whose rows outgrow the queue (64 kB) while the caller is busy
# elsewhere: the worker keeps its rows until its check is over and sends
# them after it; the budget bounds the check, not the caller's own work
# (here 2.5 s of it between start and collect, the budget 1 s)
cmp_ok(psq('shop', q{SELECT sum(pg_column_size(s.*)) FROM runbook._sizes_relations s}), '>', 2 * 65536,
	"shop's sizes rows are more than twice the queue");
my $wide = psq('postgres', q{BEGIN;
	SET LOCAL pg_runbook.per_database_timeout = '1s';
	SELECT runbook._on_databases_start('sizes', ARRAY['shop'], NULL::runbook._sizes_relations) AS h \gset
	SELECT pg_sleep(2.5) \gset
	SELECT coalesce(string_agg(code || ': ' || reason, ' ') FILTER (WHERE summary), 'checked') || '|' || count(*) FILTER (WHERE NOT summary)
	  FROM runbook._on_databases_collect(:h, NULL::runbook._sizes_relations);
	COMMIT;});
is($wide, 'checked|' . psq('shop', 'SELECT count(*) FROM runbook._sizes_relations'),
	'rows beyond the queue while the caller was busy past the budget: shop checked, every row (as many as shop has)');
is(workers_now(), '0', '... and its worker is gone');

# a database whose probes are slow stays checked: a probe is cut to what
# is left of the database's time budget (a migration table of 3,000,000
# rows, read in about 1.5 s here, with probe_timeout 1h under a budget of
# 1 s: uncut, the read would outlast the budget and the database be
# reported as timed out)
psq('postgres', 'CREATE DATABASE slowmig');
$node->safe_psql('slowmig', q{
	CREATE EXTENSION pg_runbook;
	CREATE TABLE schema_migrations (version varchar PRIMARY KEY);
	INSERT INTO schema_migrations SELECT md5(g::text) || md5(g::text) FROM generate_series(1, 3000000) g;
});
my $slow = psq('postgres', q{SET pg_runbook.per_database_timeout = '1s';
	SELECT status || '|' || detail FROM runbook.migration_status('1h', ARRAY['slowmig', 'postgres'])});
like($slow, qr/^(last_applied\|3000000 migration\(s\) recorded|skipped\|skipped: not finished within \d+ ms)$/,
	'slow migration table: read or skipped within the budget, the database still checked (not timed out)');
if ($slow =~ /within (\d+) ms/) { cmp_ok($1, '<', 1000, '... the probe was cut to the budget'); }
psq('postgres', 'DROP DATABASE slowmig');

my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|terminated by signal/, 'no assertion failure or crash in the server log');

done_testing();
