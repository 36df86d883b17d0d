# Emitted text is safe to paste (docs/security.md, "Text meant to be pasted").
#
# A hostile-name corpus: objects of every kind pg_runbook reports (schemas,
# tables, columns, indexes, constraints, sequences, databases, roles,
# prepared transactions, slots, application names, migration rows of every
# supported tool) are named with a newline and a psql meta-command, quotes,
# backslashes, $$ and dollar-quote tags, semicolons, ESC, CR, a direction
# mark; each name carries a marker command (\! touch Mxxx).  The conditions
# that make each function emit text about them are staged (an invalid
# unique index, duplicate and unused indexes, a sequence near overflow, NOT
# VALID constraints with orphans, prepared transactions, an inactive slot,
# failed and locked migrations, a blocking idle-in-transaction session).
#
# Then every text column of every function and view of the extension is
# enumerated from the catalog (a column added later is covered without
# editing this test) and each value is judged by its kind:
#   sql    (the default) pasted into psql as a superuser in a throwaway
#          database: no marker may appear, no role may gain anything, and
#          psql must still read the statement pasted after it;
#   shell  run by sh in a sandbox (after sh -n), the tools replaced by stubs
#          that record their arguments: no marker, one argument per value;
#   prose  no control character (but a newline or tab), no C1 control,
#          zero-width or direction mark;
#   data   raw values shown as data (session query texts, names): listed.
#
# The owner's-code cases: remedies that run code of a table's owner (VALIDATE
# CONSTRAINT of a CHECK calling the owner's function, DELETE of orphans from
# a table with the owner's trigger, ALTER COLUMN TYPE of a table whose CHECK
# runs the owner's function) are pasted by a superuser into the real
# database: the owner's code tries RESET ROLE and ALTER ROLE ... SUPERUSER
# and must fail; the remedy must still do its job.
#
# The wraparound gid case: a prepared transaction whose gid imitates
# another's ("victim) x") must be named by its own gid in
# runbook.wraparound.action.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;

my $node = PostgreSQL::Test::Cluster->new('paste');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook, pg_stat_statements'
max_prepared_transactions = 30
autovacuum = off
pg_runbook.enforce = off
pg_runbook.naptime = '60s'
});
$node->start;

my $sandbox = PostgreSQL::Test::Utils::tempdir();
mkdir "$sandbox/bin" or die;
# stubs for the tools whose commands migration_status() suggests: they
# record their arguments, one per line, between markers
for my $tool (qw(npx flyway liquibase migrate knex sqlx)) {
	open my $fh, '>', "$sandbox/bin/$tool" or die;
	print $fh "#!/bin/sh\n{ echo 'ARGS-BEGIN $tool'; for a in \"\$\@\"; do printf '%s\\n' \"\$a\"; done; echo 'ARGS-END'; } >> \"$sandbox/args.log\"\n";
	close $fh;
	chmod 0755, "$sandbox/bin/$tool";
}

my $db = 'postgres';
sub sql { return $node->safe_psql($db, $_[0]); }

# ---------------------------------------------------------------------
# The corpus: hn(kind, k) is variant k of a name for an object of kind;
# '@' becomes the marker M<kind><k>, which \! touch would create.
# ---------------------------------------------------------------------
# (a literal here-document: Perl changes no backslash in it)
sql(<<'SQL');
	CREATE EXTENSION pg_runbook;
	CREATE EXTENSION amcheck;
	CREATE EXTENSION pg_stat_statements;
	CREATE ROLE attacker LOGIN CREATEDB;
	GRANT CREATE ON DATABASE postgres TO attacker;
	GRANT CREATE ON SCHEMA public TO attacker;
	CREATE TABLE public.variant(k int PRIMARY KEY, t text NOT NULL);
	INSERT INTO public.variant VALUES
	  (1, E'n\n\\! touch @\n'),
	  (2, E'q";\\! touch @\n--'),
	  (3, E's'';\\! touch @\n--'),
	  (4, E'b\\\\\n\\! touch @\n'),
	  (5, E'd$$\n\\! touch @\n$$'),
	  (6, E'g$q$\n\\! touch @\n'),
	  (7, E'e\x1b]0;x\x07\n\\! touch @\n'),
	  (8, E'c*/\n\\! touch @\n/*'),
	  (9, E'r\r\\! touch @\r'),
	  (10, E'u\u202e\n\\! touch @\n'),
	  (11, E'x@;\nALTER ROLE attacker SUPERUSER;\n'),
	  (12, E'h''$(touch @)`touch @`;:v'),
	  (13, E'w"$HOME"\\ && touch @ | *'),
	  (14, E'y''; touch @; echo '''),
	  (15, E'z'';\\! touch @;--');
	GRANT SELECT ON public.variant TO PUBLIC;
	CREATE FUNCTION public.hn(kind text, k int) RETURNS text LANGUAGE sql STABLE
	  AS $$ SELECT replace(t, '@', 'M' || kind || k) FROM public.variant WHERE variant.k = hn.k $$;
SQL
is(sql(q{SELECT count(*) FROM public.variant WHERE position(chr(92) || '!' IN t) > 0}), '11',
	'eleven variants hold the psql meta-command \\! (backslash, exclamation mark)');
my @variants = (1 .. 15);

# roles with hostile names (owners of prepared transactions)
sql(q{DO $$ BEGIN FOR k IN 1..3 LOOP
	EXECUTE format('CREATE ROLE %I', public.hn('rol', k));
	EXECUTE format('GRANT %I TO attacker', public.hn('rol', k));
END LOOP; END $$;});

# databases with hostile names, owned by the attacker (CREATEDB)
for my $k (1, 2, 7) {
	$node->safe_psql($db, "SET ROLE attacker; SELECT public.hn('db', $k) AS n \\gset\nCREATE DATABASE :\"n\";");
}

# the attacker's objects: a hostile schema per variant, with a parent and
# a child table, hostile columns, indexes, constraints and sequences
$node->safe_psql($db, q{
SET ROLE attacker;
DO $$
DECLARE k int; s text; t text; p text; c text; q text;
BEGIN
  FOR k IN 1..15 LOOP
    s := public.hn('sch', k); t := public.hn('tab', k); p := public.hn('par', k); c := public.hn('col', k);
    EXECUTE format('CREATE SCHEMA %I', s);
    EXECUTE format('CREATE TABLE %I.%I (id int PRIMARY KEY)', s, p);
    EXECUTE format('INSERT INTO %I.%I VALUES (1)', s, p);
    EXECUTE format('CREATE TABLE %I.%I (id int, %I int, pid int, v int)', s, t, c);
    EXECUTE format('INSERT INTO %I.%I SELECT g, 1, 1 + (g %% 2), g FROM generate_series(1, 20) g', s, t, c);
    -- duplicate, unused indexes
    EXECUTE format('CREATE INDEX %I ON %I.%I (%I)', public.hn('dix', k), s, t, c);
    EXECUTE format('CREATE INDEX %I ON %I.%I (%I)', public.hn('dup', k), s, t, c);
    -- a foreign key without an index, NOT VALID, with orphans (pid 2)
    EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I FOREIGN KEY (pid) REFERENCES %I.%I (id) NOT VALID',
                   s, t, public.hn('fk', k), s, p);
    -- a NOT VALID check
    EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I CHECK (v > 5) NOT VALID', s, t, public.hn('ck', k));
    -- a sequence feeding an int column, near its end
    q := public.hn('seq', k);
    EXECUTE format('CREATE SEQUENCE %I.%I AS bigint OWNED BY %I.%I.id', s, q, s, t);
    EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN id SET DEFAULT nextval(%L)', s, t, quote_ident(s) || '.' || quote_ident(q));
    EXECUTE format('SELECT setval(%L, 2147483000)', quote_ident(s) || '.' || quote_ident(q));
    -- an int sequence near its own end
    EXECUTE format('CREATE SEQUENCE %I.%I AS int', s, public.hn('iseq', k));
    EXECUTE format('SELECT setval(%L, 2147483000)', quote_ident(s) || '.' || quote_ident(public.hn('iseq', k)));
  END LOOP;
END $$;
});
# invalid unique indexes: CREATE UNIQUE INDEX CONCURRENTLY on duplicates
# fails and leaves the index invalid
for my $k (@variants) {
	my ($ret, $out, $err) = $node->psql($db,
		"SET ROLE attacker; SELECT public.hn('sch', $k) AS s, public.hn('tab', $k) AS t, public.hn('uix', $k) AS i, public.hn('col', $k) AS c \\gset\n"
		  . "CREATE UNIQUE INDEX CONCURRENTLY :\"i\" ON :\"s\".:\"t\" (:\"c\");");
	like($err, qr/could not create unique index/, "variant $k: the unique index build failed (left invalid)");
}

# migration tables of every tool, in two hostile schemas, with hostile
# names in every text column they have and the states that make
# migration_status() suggest a remedy
for my $k (1, 7) {
	$node->safe_psql($db, qq{
SET ROLE attacker;
DO \$\$
DECLARE s text := public.hn('mig', $k);
BEGIN
  EXECUTE format('CREATE SCHEMA %I', s);
  EXECUTE format('CREATE TABLE %I._prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
      migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(),
      applied_steps_count integer NOT NULL DEFAULT 0)', s);
  EXECUTE format('INSERT INTO %I._prisma_migrations (id, checksum, migration_name, logs)
      SELECT ''f'' || k, ''x'', public.hn(''pri'', k), public.hn(''log'', k) FROM generate_series(1, 15) k', s);
  EXECUTE format('INSERT INTO %I._prisma_migrations (id, checksum, migration_name, logs)
      SELECT ''p'' || k, ''x'', public.hn(''prp'', k), NULL FROM generate_series(1, 15) k', s);
  EXECUTE format('CREATE TABLE %I.flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
      type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum int, installed_by varchar(100) NOT NULL,
      installed_on timestamp NOT NULL DEFAULT now(), execution_time int NOT NULL, success boolean NOT NULL)', s);
  EXECUTE format('INSERT INTO %I.flyway_schema_history SELECT k, public.hn(''fyv'', k), public.hn(''fyd'', k), ''SQL'',
      public.hn(''fys'', k), 1, public.hn(''fyb'', k), now(), 3, k %% 2 = 0 FROM generate_series(1, 15) k', s);
  EXECUTE format('CREATE TABLE %I.schema_migrations (version varchar PRIMARY KEY)', s);
  EXECUTE format('INSERT INTO %I.schema_migrations SELECT public.hn(''rai'', k) FROM generate_series(1, 15) k', s);
  EXECUTE format('CREATE TABLE %I.alembic_version (version_num varchar(32) PRIMARY KEY)', s);
  EXECUTE format('INSERT INTO %I.alembic_version SELECT left(public.hn(''alb'', k), 32) FROM generate_series(1, 15) k', s);
  EXECUTE format('CREATE TABLE %I.knex_migrations (id serial PRIMARY KEY, name varchar(255), batch int, migration_time timestamptz)', s);
  EXECUTE format('INSERT INTO %I.knex_migrations (name, batch, migration_time) SELECT public.hn(''knx'', k), k, now() FROM generate_series(1, 15) k', s);
  EXECUTE format('CREATE TABLE %I.knex_migrations_lock (index serial PRIMARY KEY, is_locked int)', s);
  EXECUTE format('INSERT INTO %I.knex_migrations_lock (is_locked) VALUES (1)', s);
  EXECUTE format('CREATE TABLE %I.django_migrations (id bigserial PRIMARY KEY, app varchar(255), name varchar(255), applied timestamptz)', s);
  EXECUTE format('INSERT INTO %I.django_migrations (app, name, applied) SELECT public.hn(''dja'', k), public.hn(''djn'', k), now() FROM generate_series(1, 15) k', s);
  EXECUTE format('CREATE TABLE %I.databasechangelog (id varchar(255), author varchar(255), filename varchar(255), dateexecuted timestamp,
      orderexecuted int, exectype varchar(10), md5sum varchar(35), description varchar(255), comments varchar(255), tag varchar(255),
      liquibase varchar(20), contexts varchar(255), labels varchar(255), deployment_id varchar(10))', s);
  EXECUTE format('INSERT INTO %I.databasechangelog (id, author, filename, dateexecuted, orderexecuted, exectype)
      SELECT public.hn(''lqi'', k), public.hn(''lqa'', k), public.hn(''lqf'', k), now(), k, CASE WHEN k %% 2 = 0 THEN ''EXECUTED'' ELSE ''FAILED'' END
        FROM generate_series(1, 15) k', s);
  EXECUTE format('CREATE TABLE %I.databasechangeloglock (id int PRIMARY KEY, locked boolean NOT NULL, lockgranted timestamp, lockedby varchar(255))', s);
  EXECUTE format('INSERT INTO %I.databasechangeloglock VALUES (1, true, now(), public.hn(''lql'', $k))', s);
  EXECUTE format('CREATE TABLE %I._sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL, installed_on timestamptz NOT NULL DEFAULT now(),
      success boolean NOT NULL, checksum bytea NOT NULL, execution_time bigint NOT NULL)', s);
  EXECUTE format('INSERT INTO %I._sqlx_migrations (version, description, success, checksum, execution_time)
      SELECT k, public.hn(''sqx'', k), k %% 2 = 0, ''\\x00'', 1000000 FROM generate_series(1, 15) k', s);
  EXECUTE format('CREATE TABLE %I.goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now())', s);
  EXECUTE format('INSERT INTO %I.goose_db_version (version_id, is_applied) VALUES (1, true), (2, false)', s);
END \$\$;
});
}
# golang-migrate (dirty) beside them: its version is a number
$node->safe_psql($db, q{
SET ROLE attacker;
SELECT public.hn('gmi', 2) AS s \gset
CREATE SCHEMA :"s";
CREATE TABLE :"s".schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
INSERT INTO :"s".schema_migrations VALUES (20260105, true);
});

# slots first (a logical slot waits for the transactions running when it
# is made, prepared ones included): a logical slot in each hostile database
# (its database shows in replication_status) and an abandoned physical slot
# that keeps WAL
sub hostile_conn {
	my ($k) = @_;
	# (as hex: psql's output would lose the name's trailing newline)
	my $v = pack('H*', $node->safe_psql($db, "SELECT encode(convert_to(public.hn('db', $k), 'UTF8'), 'hex')"));
	# a connection string value in single quotes: \ and ' escaped
	$v =~ s/([\\'])/\\$1/g;
	return $node->connstr('postgres') . " dbname='$v'";
}
for my $k (1, 2, 7) {
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', hostile_conn($k), '-c',
		"SELECT pg_create_logical_replication_slot('logical_$k', 'test_decoding')" ],
		'>', \$out, '2>', \$err) or die "slot in hostile database $k: $err";
}
sql(q{SELECT pg_create_physical_replication_slot('abandoned', true)});

# prepared transactions with hostile gids, by hostile roles, also in the
# hostile databases
for my $k (1, 2, 3, 5, 7, 11, 12) {
	my $r = 1 + $k % 3;
	$node->safe_psql($db, "SELECT public.hn('gid', $k) AS g, public.hn('rol', $r) AS r \\gset\n"
		  . "BEGIN; SET LOCAL ROLE :\"r\"; SELECT txid_current(); PREPARE TRANSACTION :'g';");
}
for my $k (1, 2, 7) {
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', hostile_conn($k), '-c', 'BEGIN', '-c',
		"SELECT txid_current(); PREPARE TRANSACTION 'pdb$k';" ],
		'>', \$out, '2>', \$err) or die "prepare in hostile database $k: $err";
}

# a table to be locked by a blocking session (nothing else of the corpus
# is in it: diagnostics that lock what they read stay clear of it)
$node->safe_psql($db, q{SET ROLE attacker; SELECT public.hn('lck', 1) AS t \gset
CREATE TABLE public.:"t" (x int);});

# every threshold at 0: every check reports what it sees
sql(q{UPDATE runbook.alert_thresholds SET value = 0
       WHERE name NOT IN ('connections_sev1_pct', 'connections_sev2_pct', 'lock_waiters_sev1')});
sql(q{ANALYZE});

# a blocking session idle in transaction with a hostile application_name,
# and a waiter behind it
my $blocker = $node->background_psql($db);
$blocker->query_safe(q{SELECT set_config('application_name', public.hn('app', 2), false)});
$blocker->query_safe(q{BEGIN});
$blocker->query_safe(q{SELECT public.hn('lck', 1) AS t \gset});
$blocker->query_safe(q{LOCK TABLE public.:"t" IN ACCESS EXCLUSIVE MODE});
my $waiter = $node->background_psql($db);
$waiter->query_safe(q{SELECT set_config('application_name', public.hn('app', 12), false)});
$waiter->query_safe(q{SELECT public.hn('lck', 1) AS t \gset});
$waiter->query_until(qr/started/, "\\echo started\nSELECT count(*) FROM public.:\"t\";\n");
$node->poll_query_until($db,
	q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'})
  or die 'the waiter never waited';

# prisma migrate's lock held by a session with a hostile application_name
my $prisma = $node->background_psql($db);
$prisma->query_safe(q{SELECT set_config('application_name', public.hn('prm', 14), false)});
$prisma->query_safe(q{SELECT pg_advisory_lock(72707369)});

# the privileges of every role now: pasting must change none of them
my $priv_sql = q{SELECT string_agg(format('%s:%s%s%s%s%s:%s', rolname, rolsuper::int, rolcreaterole::int, rolcreatedb::int,
                        rolreplication::int, rolbypassrls::int,
                        (SELECT string_agg(m.roleid::regrole::text, ',' ORDER BY m.roleid) FROM pg_auth_members m WHERE m.member = a.oid)),
                        E'\n' ORDER BY rolname) FROM pg_authid a};
my $privs_before = sql($priv_sql);
is(sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'}), 'f', 'the attacker is not superuser');

# ---------------------------------------------------------------------
# Every text column of every function and view, from the catalog
# ---------------------------------------------------------------------
# Functions that act (signal, write, pause) are not called: the ones granted
# to pg_signal_backend or to nobody.  Functions whose arguments are not all
# defaulted are called with the arguments listed here; one that returns text
# and is neither callable nor listed fails the test.
my %args = (
	events => [q{now() - interval '1 hour'}],
	history => [q{now() - interval '1 hour'}],
	wait_profile => [q{now() - interval '1 hour'}],
	incident_message => [map { "'$_'" } qw(declare update resolve status_investigating status_identified status_resolved)],
	incident_report => [q{now() - interval '1 hour'}],
	relation_size_nowait => undef,    # returns a number
	as_owner => undef,                # acts (and returns a number)
);
my $cat = decode_json(sql(q{
	WITH f AS (
	  SELECT p.oid, p.proname, p.pronargs, p.pronargdefaults, p.proretset,
	         EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 'pg_monitor'::regrole AND a.privilege_type = 'EXECUTE') AS monitor,
	         coalesce((SELECT json_agg(json_build_object('name', a.n, 'type', format_type(a.t, NULL)) ORDER BY a.o)
	                     FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs])),
	                                 coalesce(p.proargnames, array_fill(''::text, ARRAY[p.pronargs]))) WITH ORDINALITY a(t, m, n, o)
	                    WHERE a.m IN ('o', 't', 'b')),
	                  -- RETURNS SETOF a composite type (a row type of the
	                  -- whole-server functions, a view's): its columns
	                  (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, NULL)) ORDER BY a.attnum)
	                     FROM pg_type ty JOIN pg_attribute a ON a.attrelid = ty.typrelid
	                    WHERE ty.oid = p.prorettype AND ty.typrelid <> 0 AND a.attnum > 0 AND NOT a.attisdropped),
	                  '[]') AS outs,
	         format_type(p.prorettype, NULL) AS rettype
	    FROM pg_proc p
	   WHERE p.pronamespace = 'runbook'::regnamespace AND p.proname !~ '^_'
	)
	SELECT json_build_object(
	  'functions', (SELECT json_agg(f ORDER BY f.proname, f.pronargs) FROM f),
	  'views', (SELECT json_agg(json_build_object('name', c.relname,
	              'cols', (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, NULL)) ORDER BY a.attnum)
	                         FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)) ORDER BY c.relname)
	              FROM pg_class c WHERE c.relnamespace = 'runbook'::regnamespace AND c.relkind IN ('v', 'r')))
}));

my %is_text = map { $_ => 1 } ('text', 'name', 'character varying', 'text[]');
my @calls;    # [name for the maps, label, sql, [text columns]]
for my $f (@{ $cat->{functions} }) {
	my $n = $f->{proname};
	my @tcols = map { $_->{name} } grep { $is_text{ $_->{type} } } @{ $f->{outs} };
	@tcols = ('<ret>') if !@{ $f->{outs} } && $is_text{ $f->{rettype} };
	next unless @tcols;
	next unless $f->{monitor};    # acts: granted to pg_signal_backend or to nobody
	if ($f->{pronargs} == $f->{pronargdefaults}) {
		push @calls, [ "$n()", "$n()", @{ $f->{outs} } ? "SELECT * FROM runbook.$n()" : "SELECT runbook.$n() AS \"<ret>\"", \@tcols ];
	}
	elsif (exists $args{$n} && defined $args{$n}) {
		for my $a (@{ $args{$n} }) {
			push @calls, [ "$n()", "$n($a)", @{ $f->{outs} } ? "SELECT * FROM runbook.$n($a)" : "SELECT runbook.$n($a) AS \"<ret>\"", \@tcols ];
		}
	}
	else {
		fail("function $n returns text but this test does not know how to call it: add it to %args");
	}
}
for my $v (@{ $cat->{views} }) {
	my @tcols = map { $_->{name} } grep { $is_text{ $_->{type} } } @{ $v->{cols} };
	push @calls, [ $v->{name}, $v->{name}, "SELECT * FROM runbook.$v->{name}", \@tcols ] if @tcols;
}
ok(scalar(@calls) >= 30, scalar(@calls) . ' functions and views with text columns to read');

# ---------------------------------------------------------------------
# The kind of each column: sql unless listed
# ---------------------------------------------------------------------
my %shell = map { $_ => 1 } qw(remedy_command);
my %prose = map { $_ => 1 } (
	'lock_tree().line', 'triage().action', 'index_advice().reason', 'integrity_check().detail',
	'migration_status().remedy', 'migration_status().detail', 'replication_status().detail',
	'config_check().reason', 'wraparound.detail', 'incident_message().<ret>', 'incident_report().<ret>',
	'bloat_report().reason', '_wraparound_tables.detail', 'wraparound().detail');
# raw values shown as data (names, query texts, states, settings); never text
# to paste.  A new column is pasted (sql) until it is listed here.
my %data = map { $_ => 1 } qw(
  query root_query usename root_usename datname database application_name root_application_name
  backend_type state root_state wait_event wait_event_type locktype mode held_mode queued_mode root_held_mode
  object cycle kind name setting current_value suggested_value severity check_name status tool migration
  category sqlstate log_format example note enforce last_error actor acting_role session_role outcome policy
  metric metric_type help alert unit summary role client sync_state slot_type wal_status retained
  last_failed_wal pretty size_pretty limited_by column_name finding verdict confidence description updated_by
  comment application_pattern exclude_application_pattern database_name role_name states temp_size
  indexes_pretty table_pretty toast_pretty total_pretty outcome schemaname relname code extversion
  table_schemaname table_relname bloat_pretty kind method);
# per function: a column whose name means something else there
my %data_in = map { $_ => 1 } (
	'slow_queries().lock_wait_note', 'events().detail', 'recent_actions().detail', 'recent_actions().reason', 'recent_actions().action',
	'policy_preview().detail', 'policy_preview().reason', 'policy_preview().action', 'actions.detail',
	'actions.reason', 'actions.action', 'events_archive.detail', 'enable_starter_policies().action',
	'disk_usage().detail', 'policies.action', 'audit_status().last_error',
	# why a whole-server call could not check a database: a message, as
	# finding is (the statement that fixes it is databases().fix, sql)
	'databases().reason',
	# what the operating system says: paths, sources, pretty sizes
	'host().tablespace', 'host().path', 'host().mount_point', 'host().source', 'host().size', 'host().used',
	'host().free',
	'backend_resources().private_memory', 'backend_resources().temp', 'backend_resources().read',
	'backend_resources().written',
	# the Prometheus exposition format: label values escaped by its own rule
	# (\\, \", \n; tested in 620_prometheus.pl), read by a scraper
	'metrics().<ret>');
# a column whose values are of several kinds, judged by the value:
# bloat_report().remedy holds SQL, pg_repack's command line (shell), or a
# word for a person ('none', a retry note)
my %by_value = ('bloat_report().remedy' => sub {
	my ($v) = @_;
	return 'shell' if $v =~ /^pg_repack / || $v =~ /^# pg_runbook withheld this command/;
	return 'prose' if $v eq 'none' || $v =~ /^retry later/;
	return 'sql';
});
sub kind_of {
	my ($label, $col, $v) = @_;
	my $key = "$label.$col";
	return $by_value{$key}->($v) if $by_value{$key};
	return 'shell' if $shell{$col};
	return 'prose' if $prose{$key};
	return 'data' if $data_in{$key} || $data{$col};
	return 'sql';
}

# ---------------------------------------------------------------------
# Read everything, then judge each value
# ---------------------------------------------------------------------
my $json = JSON::PP->new->utf8;
my %values;    # kind -> [ [where, value] ]
my %seen_kinds;
for my $c (@calls) {
	my ($fname, $label, $q, $tcols) = @$c;
	my $rows = $json->decode(sql("SELECT coalesce(json_agg(t), '[]') FROM ($q) t"));
	for my $row (@$rows) {
		for my $col (@$tcols) {
			my $v = $row->{$col};
			next unless defined $v;
			$v = join("\n", @$v) if ref $v eq 'ARRAY';
			my $k = kind_of($fname, $col, $v);
			$seen_kinds{"$fname.$col"} = $k;
			push @{ $values{$k} }, [ "$label.$col", $v, "$fname.$col" ];
		}
	}
}
for my $k (qw(sql shell prose)) {
	note("$k columns: " . join(' ', sort grep { $seen_kinds{$_} eq $k } keys %seen_kinds));
}

# the staging worked: hostile names reached the texts of every emitter
my $hostile_re = qr/touch M|ALTER ROLE attacker SUPERUSER/;
for my $where (
	'triage().remedy_sql',           'index_advice().ddl',
	'sequences_near_overflow().remedy', 'integrity_check().check_sql',
	'integrity_check().remedy_sql',  'migration_status().remedy_command',
	'wraparound.action',             'lock_tree().line',
	'migration_status().detail',
	'incident_message().<ret>',      'triage().action')
{
	my $kind = $seen_kinds{$where} // 'none';
	my $n = grep { $_->[2] eq $where && $_->[1] =~ $hostile_re } @{ $values{$kind} // [] };
	ok($n > 0, "$where carries hostile names ($n values)");
}

# the prisma lock holder: named by its pid (from pg_locks), through the
# audited terminate, never by text parsed back
my $ppid = $prisma->query_safe('SELECT pg_backend_pid()');
chomp $ppid;
is(sql(q{SELECT remedy_sql FROM runbook.migration_status() WHERE tool = 'prisma' AND status = 'locked'}),
	"SELECT * FROM runbook.terminate($ppid, 'prisma migrate lock holder stuck');",
	'migration_status(): the prisma lock holder by its pid, through runbook.terminate()');

# sql: pasted into psql as a superuser, in a throwaway database
sql(q{CREATE DATABASE paste_sandbox});
my $sandbox_conn = $node->connstr('paste_sandbox');
sub markers { opendir my $d, $sandbox or die; my @m = grep { /^M/ } readdir $d; closedir $d; return @m; }
my ($pasted, $bad) = (0, 0);
my %dedup;
for my $e (@{ $values{sql} // [] }) {
	my ($where, $v) = @$e;
	next if $dedup{"$where\0$v"}++;
	open my $fh, '>:encoding(UTF-8)', "$sandbox/paste.sql" or die;
	print $fh $v, "\nSELECT 'paste-end-' || 'reached' AS paste_end;\n";
	close $fh;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-d', $sandbox_conn, '-f', "$sandbox/paste.sql" ],
		'>', \$out, '2>', \$err, init => sub { chdir $sandbox or die });
	$pasted++;
	my @m = markers();
	my $ok = !@m && $out =~ /paste-end-reached/ && $err !~ /invalid command|unterminated/;
	if (!$ok) {
		$bad++;
		diag("$where: pasting ran something or swallowed the next statement (markers: @m)\n--- text:\n$v\n--- stderr:\n$err");
		unlink map { "$sandbox/$_" } @m;
	}
}
ok($pasted > 100, "$pasted distinct sql texts pasted into psql");
is($bad, 0, 'no pasted sql text ran a psql meta-command or left psql inside a quote');
is(sql($priv_sql), $privs_before, 'no role gained a privilege from the pasted texts');

# shell: sh -n, then run with the tools stubbed
my ($ran, $shell_bad) = (0, 0);
%dedup = ();
for my $e (@{ $values{shell} // [] }) {
	my ($where, $v) = @$e;
	next if $dedup{$v}++;
	my ($out, $err) = ('', '');
	if (!IPC::Run::run([ 'sh', '-n', '-c', $v ], '>', \$out, '2>', \$err)) {
		$shell_bad++;
		diag("$where: not valid sh: $v\n$err");
		next;
	}
	unlink "$sandbox/args.log";
	IPC::Run::run([ 'sh', '-c', $v ], '>', \$out, '2>', \$err,
		init => sub { chdir $sandbox or die; $ENV{PATH} = "$sandbox/bin:/usr/bin:/bin"; });
	$ran++;
	my @m = markers();
	if (@m) {
		$shell_bad++;
		diag("$where: the command ran an injected command (markers: @m): $v");
		unlink map { "$sandbox/$_" } @m;
	}
	# a value is one word: the last argument of prisma's resolve is the
	# migration name the command was built from
	if ($v =~ /^npx prisma migrate resolve --rolled-back /) {
		open my $fh, '<:encoding(UTF-8)', "$sandbox/args.log" or die "no stub ran for: $v";
		my @args = <$fh>;
		close $fh;
		chomp @args;
		if (!(@args == 7 && $args[0] eq 'ARGS-BEGIN npx' && $args[4] eq '--rolled-back' && $args[6] eq 'ARGS-END')) {
			$shell_bad++;
			diag("$where: the migration name is not one argument: $v => @args");
		}
	}
}
ok($ran >= 8, "$ran shell commands run in the sandbox");
is($shell_bad, 0, 'every shell command is valid sh, runs no injected command and passes each value as one word');
my $withheld = grep { $_->[1] =~ /^# pg_runbook withheld this command/ } @{ $values{shell} // [] };
ok($withheld > 0, "$withheld shell commands withheld (a value with a control character cannot be one line)");

# prose: no control character but newline and tab, no C1, zero-width or
# direction mark
my $prose_bad = 0;
for my $e (@{ $values{prose} // [] }) {
	my ($where, $v) = @$e;
	if ($v =~ /([\x00-\x08\x0b-\x1f\x7f\x{80}-\x{9f}\x{200b}-\x{200f}\x{2028}-\x{202e}\x{2066}-\x{2069}\x{feff}])/) {
		$prose_bad++;
		diag(sprintf("%s: U+%04X in: %s", $where, ord($1), $v =~ s/([^\x20-\x7e])/sprintf('<%X>', ord $1)/ger));
	}
}
ok(scalar(@{ $values{prose} // [] }) > 50, scalar(@{ $values{prose} // [] }) . ' prose values read');
is($prose_bad, 0, 'no prose value carries a control character, C1 control or direction mark');

# Markdown of incident_report(): every hostile name's | and [ are escaped
my $md = sql(q{SELECT runbook.incident_report()});
unlike($md, qr/(?<!\\)\[[^\]\n]*\]\(/, 'incident_report(): no link syntax from a value');

# Pasted, databases().fix (CREATE EXTENSION pg_runbook) installed pg_runbook
# in the sandbox, so the pasted runbook.terminate() remedies then ended
# these sessions, as they would for a DBA: their psql may be gone.
eval { $blocker->quit };
eval { $waiter->quit };
eval { $prisma->quit };

# ---------------------------------------------------------------------
# The owner's code: pasted by a superuser, it still runs as the owner
# ---------------------------------------------------------------------
# the corpus is dropped: triage() lists at most 20 constraints; the
# attacker starts from no privilege whatever happened above
sql(q{ALTER ROLE attacker NOSUPERUSER});
sql(q{DO $$ BEGIN FOR k IN 1..15 LOOP EXECUTE format('DROP SCHEMA %I CASCADE', public.hn('sch', k)); END LOOP; END $$;});
sql(q{
	CREATE SCHEMA evil AUTHORIZATION attacker;
	SET ROLE attacker;
	-- returns true whatever happens: the remedy succeeds, the escalation must not
	CREATE FUNCTION evil.f(text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
	  BEGIN RESET ROLE; EXCEPTION WHEN OTHERS THEN NULL; END;
	  BEGIN ALTER ROLE attacker SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
	  RETURN true;
	END $$;
	CREATE FUNCTION evil.trg() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
	  BEGIN RESET ROLE; EXCEPTION WHEN OTHERS THEN NULL; END;
	  BEGIN ALTER ROLE attacker SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
	  RETURN OLD;
	END $$;
	-- a NOT VALID check that calls the owner's function
	CREATE TABLE evil.checked (id int);
	INSERT INTO evil.checked VALUES (1), (2);
	ALTER TABLE evil.checked ADD CONSTRAINT owner_code CHECK (evil.f(id::text)) NOT VALID;
	-- orphans in a table whose DELETE trigger is the owner's code
	CREATE TABLE evil.parent (id int PRIMARY KEY);
	INSERT INTO evil.parent VALUES (1);
	CREATE TABLE evil.child (id int, pid int);
	INSERT INTO evil.child VALUES (1, 1), (2, 2), (3, 3);
	ALTER TABLE evil.child ADD CONSTRAINT child_fk FOREIGN KEY (pid) REFERENCES evil.parent (id) NOT VALID;
	CREATE TRIGGER escalate BEFORE DELETE ON evil.child FOR EACH ROW EXECUTE FUNCTION evil.trg();
	-- a sequence near the end of an int column of a table whose check runs
	-- the owner's code when the column type changes
	CREATE TABLE evil.counter (id serial, CONSTRAINT owner_code_too CHECK (evil.f(id::text)));
	SELECT setval('evil.counter_id_seq', 2147483000);
	RESET ROLE;
});
sub paste_here {
	my ($text) = @_;
	open my $fh, '>:encoding(UTF-8)', "$sandbox/here.sql" or die;
	print $fh $text, "\n";
	close $fh;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-d', $node->connstr($db), '-f', "$sandbox/here.sql" ],
		'>', \$out, '2>', \$err, init => sub { chdir $sandbox or die });
	return $err;
}
my $validate = sql(q{SELECT remedy_sql FROM runbook.triage() WHERE check_name = 'not_valid_constraints' AND finding LIKE '%owner_code%'});
like($validate, qr/^SELECT runbook\.as_owner\('evil\.checked', 'ALTER TABLE evil\.checked VALIDATE CONSTRAINT owner_code'\);$/,
	'triage: validating a CHECK runs as the table owner');
my $err = paste_here($validate);
is(sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'}), 'f', 'VALIDATE pasted by a superuser: the attacker is not superuser');
is(sql(q{SELECT convalidated FROM pg_constraint WHERE conname = 'owner_code'}), 't', 'and the constraint is validated') or diag($err);

my ($check_sql, $remedy) = split /\|/, sql(q{SELECT check_sql || '|' || remedy_sql FROM runbook.integrity_check()
	WHERE check_name = 'orphaned_rows' AND relation = 'evil.child'::regclass}), 2;
like($remedy, qr/runbook\.as_owner\('evil\.child', 'DELETE FROM evil\.child c WHERE/, 'integrity_check: the orphan DELETE on a table with a trigger runs as the owner');
$err = paste_here($remedy);
is(sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'}), 'f', 'orphan DELETE pasted by a superuser: the attacker is not superuser');
is(sql(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM evil.child}), '1', 'and the orphans are gone') or diag($err);
is(sql(q{SELECT convalidated FROM pg_constraint WHERE conname = 'child_fk'}), 't', 'and the foreign key is validated') or diag($err);

my $seq = sql(q{SELECT remedy FROM runbook.sequences_near_overflow() WHERE table_name = 'evil.counter'::regclass});
like($seq, qr/^SELECT runbook\.as_owner\('evil\.counter', 'ALTER TABLE evil\.counter ALTER COLUMN id TYPE bigint'\);/,
	'sequences_near_overflow: the column type changes as the table owner');
$err = paste_here($seq);
is(sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'}), 'f', 'ALTER COLUMN TYPE pasted by a superuser: the attacker is not superuser');
is(sql(q{SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = 'evil.counter'::regclass AND attname = 'id'}),
	'bigint', 'and the column is bigint') or diag($err);

# what SET ROLE would have done: the owner's code takes the superuser back
sql(q{ALTER TABLE evil.checked DROP CONSTRAINT owner_code;
      ALTER TABLE evil.checked ADD CONSTRAINT owner_code CHECK (evil.f(id::text)) NOT VALID});
paste_here(q{SET ROLE attacker; ALTER TABLE evil.checked VALIDATE CONSTRAINT owner_code; RESET ROLE;});
is(sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'}), 't',
	'(control) SET ROLE is no boundary: the same CHECK made the attacker superuser');
sql(q{ALTER ROLE attacker NOSUPERUSER});

# as_owner() itself: only for a role that has the owner's privileges
my ($ret, $out);
($ret, $out, $err) = $node->psql($db, q{SET ROLE attacker; SELECT runbook.as_owner('pg_catalog.pg_class', 'SELECT 1')});
like($err, qr/permission denied/, 'as_owner(): the attacker cannot act as the owner of a catalog');

# ---------------------------------------------------------------------
# wraparound: a gid that imitates another's names its own transaction
# ---------------------------------------------------------------------
sql(q{BEGIN; SELECT txid_current(); PREPARE TRANSACTION 'victim';});
$node->safe_psql($db, q{SET ROLE attacker; BEGIN; SELECT txid_current(); PREPARE TRANSACTION 'victim) x';});
my $actions = sql(q{SELECT string_agg(action, E'\n' ORDER BY action) FROM runbook.wraparound WHERE kind = 'horizon: prepared transaction'});
like($actions, qr/^ROLLBACK PREPARED 'victim\) x';/m, "the imitating transaction's action names its own gid");
is(scalar(() = $actions =~ /^ROLLBACK PREPARED 'victim';/mg), 1, "the victim's gid is named once, by its own row");
my $attacker_action = sql(q{SELECT action FROM runbook.wraparound WHERE kind = 'horizon: prepared transaction' AND action LIKE '%victim) x%'});
paste_here($attacker_action);
is(sql(q{SELECT string_agg(gid, ',' ORDER BY gid) FROM pg_prepared_xacts WHERE gid LIKE 'victim%'}), 'victim',
	"pasting that action ends the imitator's transaction, not the victim's");
sql(q{ROLLBACK PREPARED 'victim'});

done_testing();
