# Incident drills, failed migrations (issue 23), one per supported tool.
# Tools that record a failure (Prisma, Flyway, golang-migrate, Liquibase,
# sqlx) or leave their lock taken (Knex, Liquibase): the highest live
# finding names the tool and the migration, the printed remedy is the
# tool's own repair command for that migration; the drill then does what
# that command does to the tool's table (the tools are not installed here)
# and the finding clears.  Tools that run each migration in a transaction
# (Rails, Django, Alembic, goose) record nothing of a failure: what a failed
# non-transactional migration of theirs leaves behind (CREATE INDEX
# CONCURRENTLY over duplicates) is found instead, and migration_status()
# does not pretend the failed migration was applied.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrillUtil;

my $node = drill_node('drill_mig');

# one tool at a time: its table, the failure, triage, the repair
sub drill
{
	my (%d) = @_;
	$node->safe_psql('postgres', $d{setup});
	my $rows = triage($node);
	my $top = record_top("914 $d{tool}", top_live($rows));
	is($top->{check_name}, 'migrations', "$d{tool}: the highest live finding is the migration");
	like($top->{finding}, $d{finding}, "$d{tool}: it names the tool and the migration");
	unlike($top->{action} // '', qr/\n/, "$d{tool}: the action is one line");
	my $text = ($top->{remedy_sql} // '') . "\n" . ($top->{action} // '');
	like($text, $d{command}, "$d{tool}: the remedy is the tool's repair command for that migration");
	my ($ret, $out, $err) = run_printed($node, $top->{remedy_sql} // 'SELECT 1');
	is($ret, 0, "$d{tool}: the remedy text is harmless to paste into psql") or diag $err;
	# what the tool's command does
	$node->safe_psql('postgres', $d{repair});
	is(scalar(grep { $_->{check_name} eq 'migrations' } @{ triage($node) }), 0, "$d{tool}: repaired, no migrations finding");
	$node->safe_psql('postgres', $d{teardown});
}

drill(tool => 'prisma',
	setup => q{
		CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL,
		  finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
		  started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0);
		INSERT INTO _prisma_migrations VALUES
		  ('a1', 'c1', now() - interval '2 days', '20240101000000_init', NULL, NULL, now() - interval '2 days', 1),
		  ('a2', 'c2', NULL, '20240301120000_add_orders_index', E'Database error code: 23505\n\nDatabase error:\nERROR: could not create unique index "orders_ref_key"\nDETAIL: Key (ref)=(A-17) is duplicated.\n\nDbError { severity: "ERROR", code: SqlState(E23505) }', NULL, now() - interval '5 min', 0);
	},
	finding => qr/prisma.*20240301120000_add_orders_index/,
	command => qr/prisma migrate resolve --rolled-back '?20240301120000_add_orders_index/,
	repair => q{UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '20240301120000_add_orders_index'},
	teardown => 'DROP TABLE _prisma_migrations');

drill(tool => 'flyway',
	setup => q{
		CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
		  type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum int, installed_by varchar(100) NOT NULL,
		  installed_on timestamp NOT NULL DEFAULT now(), execution_time int NOT NULL, success boolean NOT NULL);
		INSERT INTO flyway_schema_history VALUES
		  (1, '1', 'init', 'SQL', 'V1__init.sql', 1, 'app', now() - interval '1 day', 12, true),
		  (2, '2', 'add payments', 'SQL', 'V2__add_payments.sql', 2, 'app', now(), 40, false);
	},
	finding => qr/flyway.*2 add payments/,
	command => qr/flyway repair/,
	repair => q{DELETE FROM flyway_schema_history WHERE NOT success},
	teardown => 'DROP TABLE flyway_schema_history');

drill(tool => 'golang-migrate',
	setup => q{
		CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO schema_migrations VALUES (20240301, true);
	},
	finding => qr/golang-migrate.*20240301/,
	command => qr/migrate .*force/,
	repair => q{UPDATE schema_migrations SET version = 20240201, dirty = false},
	teardown => 'DROP TABLE schema_migrations');

drill(tool => 'liquibase',
	setup => q{
		CREATE TABLE databasechangelog (id varchar(255) NOT NULL, author varchar(255) NOT NULL, filename varchar(255) NOT NULL,
		  dateexecuted timestamp NOT NULL, orderexecuted int NOT NULL, exectype varchar(10) NOT NULL, md5sum varchar(35),
		  description varchar(255), comments varchar(255), tag varchar(255), liquibase varchar(20), contexts varchar(255),
		  labels varchar(255), deployment_id varchar(10));
		INSERT INTO databasechangelog (id, author, filename, dateexecuted, orderexecuted, exectype) VALUES
		  ('1', 'ana', 'db/changelog.xml', now() - interval '1 day', 1, 'EXECUTED'),
		  ('2', 'ana', 'db/changelog.xml', now(), 2, 'FAILED');
	},
	finding => qr/liquibase.*2 \(ana, db\/changelog\.xml\)/,
	command => qr/liquibase update/,
	repair => q{DELETE FROM databasechangelog WHERE exectype = 'FAILED'},
	teardown => 'DROP TABLE databasechangelog');

drill(tool => 'sqlx',
	setup => q{
		CREATE TABLE _sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL,
		  installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL, checksum bytea NOT NULL,
		  execution_time bigint NOT NULL);
		INSERT INTO _sqlx_migrations VALUES (1, 'init', now() - interval '1 day', true, '\x00', 1000),
		                                    (2, 'add refunds', now(), false, '\x01', 1000);
	},
	finding => qr/sqlx.*2 add refunds/,
	command => qr/sqlx migrate run/,
	repair => q{DELETE FROM _sqlx_migrations WHERE NOT success},
	teardown => 'DROP TABLE _sqlx_migrations');

# Knex: the lock a migration that died left taken (SEV3: a migration may
# be running, so it is not claimed as the highest finding)
{
	$node->safe_psql('postgres', q{
		CREATE TABLE knex_migrations (id serial PRIMARY KEY, name varchar(255), batch int, migration_time timestamptz);
		CREATE TABLE knex_migrations_lock (index serial PRIMARY KEY, is_locked int);
		INSERT INTO knex_migrations (name, batch, migration_time) VALUES ('20240101_init.js', 1, now() - interval '1 day');
		INSERT INTO knex_migrations_lock (is_locked) VALUES (1);
	});
	my $f = finding_of(triage($node), 'migrations');
	like($f->{finding} // '', qr/knex.*locked/, 'knex: the lock left taken is found');
	like(($f->{remedy_sql} // '') . ($f->{action} // ''), qr/knex migrate:unlock/, 'knex: the remedy is knex migrate:unlock');
	$node->safe_psql('postgres', 'UPDATE knex_migrations_lock SET is_locked = 0');
	ok(!finding_of(triage($node), 'migrations'), 'knex: unlocked, no finding');
	$node->safe_psql('postgres', 'DROP TABLE knex_migrations, knex_migrations_lock');
}

# Rails, Django, Alembic, goose: the migration ran CREATE UNIQUE INDEX
# CONCURRENTLY outside a transaction (as they must) and failed on duplicates
$node->safe_psql('postgres', q{
	CREATE TABLE customers (id int PRIMARY KEY, ref text);
	INSERT INTO customers SELECT g, 'C-' || (g % 900) FROM generate_series(1, 1000) g;
});
my %tables = (
	'rails/activerecord' => [ q{CREATE TABLE schema_migrations (version varchar PRIMARY KEY);
	                            INSERT INTO schema_migrations VALUES ('20240101000000');},
		'20240101000000', 'DROP TABLE schema_migrations' ],
	'django' => [ q{CREATE TABLE django_migrations (id serial PRIMARY KEY, app varchar(255), name varchar(255), applied timestamptz);
	                INSERT INTO django_migrations (app, name, applied) VALUES ('shop', '0001_initial', now() - interval '1 day');},
		'shop.0001_initial', 'DROP TABLE django_migrations' ],
	'alembic' => [ q{CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
	                 INSERT INTO alembic_version VALUES ('ae1027a6acf');},
		'ae1027a6acf', 'DROP TABLE alembic_version' ],
	'goose' => [ q{CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint, is_applied boolean, tstamp timestamp DEFAULT now());
	               INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (20240101, true);},
		'20240101', 'DROP TABLE goose_db_version' ]);
for my $tool (sort keys %tables)
{
	my ($setup, $last, $teardown) = @{ $tables{$tool} };
	$node->safe_psql('postgres', $setup);
	my ($ret, $out, $err) = $node->psql('postgres', 'CREATE UNIQUE INDEX CONCURRENTLY customers_ref_key ON customers (ref)');
	like($err, qr/could not create unique index/, "$tool: its migration failed");
	my $ms = $node->safe_psql('postgres', q{SELECT status || ':' || migration FROM runbook.migration_status() WHERE tool = } . "'$tool'");
	is($ms, "last_applied:$last", "$tool: migration_status() shows the last applied one, not the failed one");
	my $rows = triage($node);
	my $top = record_top("914 $tool", top_live($rows));
	is($top->{check_name}, 'invalid_indexes', "$tool: the highest live finding is what the failure left behind");
	like($top->{finding}, qr/customers_ref_key/, "$tool: the leftover index is named");
	($ret, $out, $err) = run_printed($node, $top->{remedy_sql});
	is($ret, 0, "$tool: the remedy runs as printed") or diag $err;
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_index WHERE NOT indisvalid}), '0', "$tool: pg_index: the leftover is gone");
	$node->safe_psql('postgres', $teardown);
}

done_testing();
