# Privilege safety (issue 11): a role that owns a database where
# pg_runbook is installed, and may create schemas and tables there, plants
# the objects of the class "code run with the rights of whoever reads it":
#   - a user-defined cast on a migration table's column type (attack 1),
#   - domains shadowing inet and text, a function shadowing now(),
#     operators shadowing = (attack 2, through ALTER DATABASE ... SET
#     search_path),
#   - a row-level-security policy calling a function, a view calling a
#     function, a foreign key over a domain with a CHECK, a foreign key
#     whose equality operator is shadowed,
#   - ALTER DATABASE / ROLE ... SET of search_path, default_transaction_read_only,
#     statement_timeout, lock_timeout and TimeZone.
# Then a superuser and a pg_monitor member call every function of schema
# runbook (enumerated from pg_proc, so a function added later is covered),
# read every view, run a real remedy (so the audit writer starts) and the
# policy worker runs cycles.  One test per mechanism:
#   attacker gained nothing (not superuser, trap table empty), every call
#   worked or failed with a proper error (no crash, no XX000), refused
#   objects are reported, both workers keep working under hostile settings.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('privsec');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.database = 'appdb'
pg_runbook.naptime = '200ms'
log_timezone = 'UTC'
timezone = 'UTC'
});
$node->start;

my $su = $node->safe_psql('postgres', 'SELECT current_user');

$node->safe_psql('postgres', q{
	CREATE ROLE attacker LOGIN;
	CREATE ROLE victim LOGIN;
	CREATE ROLE monitor LOGIN IN ROLE pg_monitor, pg_signal_backend;
	CREATE ROLE dba LOGIN SUPERUSER;
	CREATE DATABASE appdb OWNER attacker;
	CREATE DATABASE otherdb OWNER attacker;
});
# otherdb: where only the audit writer copies the audit (the policy worker
# runs in appdb, and copies the ring entries of appdb itself)
$node->safe_psql('otherdb', 'CREATE EXTENSION pg_runbook');
$node->safe_psql('otherdb', q{
	CREATE SCHEMA evil;
	CREATE TABLE evil.trap (who name, sess name, what text);
	GRANT USAGE ON SCHEMA evil TO PUBLIC;
	GRANT INSERT ON evil.trap TO PUBLIC;
	CREATE FUNCTION evil.f(anyelement) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		BEGIN
			INSERT INTO evil.trap (who, sess, what) VALUES (current_user, session_user, 'f');
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
		BEGIN
			EXECUTE 'ALTER ROLE attacker SUPERUSER';
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
		RETURN true;
	END $$;
	CREATE DOMAIN evil.inet AS pg_catalog.inet CHECK (evil.f(VALUE));
	CREATE DOMAIN evil.text AS pg_catalog.text CHECK (evil.f(VALUE));
	ALTER DATABASE otherdb SET search_path = evil, pg_catalog, public;
}, extra_params => [ '-U', 'attacker' ]);

# superuser part of the set-up in appdb: the extensions
$node->safe_psql('appdb', q{
	CREATE EXTENSION pg_runbook;
	CREATE EXTENSION amcheck;
	CREATE EXTENSION pgstattuple;
	GRANT USAGE ON SCHEMA runbook TO attacker;
});

# The attacker's part: everything a database owner may do.
$node->safe_psql('appdb', q{
	CREATE SCHEMA evil;
	GRANT USAGE ON SCHEMA evil TO PUBLIC;
	-- the trap: a row per run of the attacker's code, with the identity it ran as
	CREATE TABLE evil.trap (who name, sess name, what text, at timestamptz DEFAULT pg_catalog.clock_timestamp());
	GRANT INSERT ON evil.trap TO PUBLIC;
	CREATE FUNCTION evil.f(anyelement) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		BEGIN
			INSERT INTO evil.trap (who, sess, what) VALUES (current_user, session_user, 'f');
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
		BEGIN
			EXECUTE 'ALTER ROLE attacker SUPERUSER';
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
		RETURN true;
	END $$;
	CREATE FUNCTION evil.g() RETURNS boolean LANGUAGE sql AS $$ SELECT evil.f(1) $$;

	-- shadows for a search path that puts evil first
	CREATE DOMAIN evil.inet AS pg_catalog.inet CHECK (evil.f(VALUE));
	CREATE DOMAIN evil.text AS pg_catalog.text CHECK (evil.f(VALUE));
	CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS
		$$ SELECT pg_catalog.now() WHERE evil.g() $$;
	CREATE FUNCTION evil.length(pg_catalog.text) RETURNS int LANGUAGE sql AS
		$$ SELECT pg_catalog.length($1) WHERE evil.g() $$;
	CREATE FUNCTION evil.texteq(pg_catalog.text, pg_catalog.text) RETURNS boolean LANGUAGE sql AS
		$$ SELECT pg_catalog.texteq($1, $2) AND evil.g() $$;
	CREATE OPERATOR evil.= (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = evil.texteq);
	CREATE FUNCTION evil.int4eq(int, int) RETURNS boolean LANGUAGE sql AS
		$$ SELECT pg_catalog.int4eq($1, $2) AND evil.g() $$;
	CREATE OPERATOR evil.= (LEFTARG = int, RIGHTARG = int, FUNCTION = evil.int4eq);

	-- attack 1: a migration table whose version has a user type with a cast to text
	CREATE TYPE evil.vtype AS (v bigint);
	CREATE FUNCTION evil.vtype_text(evil.vtype) RETURNS pg_catalog.text LANGUAGE sql AS
		$$ SELECT ($1).v::pg_catalog.text WHERE evil.g() $$;
	CREATE CAST (evil.vtype AS pg_catalog.text) WITH FUNCTION evil.vtype_text(evil.vtype);
	CREATE TABLE public.schema_migrations (version evil.vtype);
	INSERT INTO public.schema_migrations VALUES (ROW(20240101)::evil.vtype);

	-- RLS whose policy calls the attacker's function (readers that do not bypass RLS)
	CREATE TABLE public.django_migrations (id int, app text, name text, applied timestamptz);
	INSERT INTO public.django_migrations VALUES (1, 'app', '0001_initial', '2024-01-01');
	ALTER TABLE public.django_migrations ENABLE ROW LEVEL SECURITY;
	ALTER TABLE public.django_migrations FORCE ROW LEVEL SECURITY;
	CREATE POLICY p ON public.django_migrations USING (evil.f(id));
	GRANT SELECT ON public.django_migrations TO PUBLIC;

	-- a view calling a function, named like a migration table
	CREATE VIEW public.alembic_version AS SELECT 'abc'::pg_catalog.text AS version_num WHERE evil.g();
	GRANT SELECT ON public.alembic_version TO PUBLIC;

	-- foreign keys: over a domain with a CHECK, and over int (whose = is shadowed)
	CREATE DOMAIN evil.dint AS int CHECK (evil.f(VALUE));
	CREATE TABLE public.parent_d (id evil.dint PRIMARY KEY);
	CREATE TABLE public.child_d (pid evil.dint REFERENCES public.parent_d);
	INSERT INTO public.parent_d VALUES (1);
	INSERT INTO public.child_d VALUES (1);
	CREATE TABLE public.parent_i (id int PRIMARY KEY);
	CREATE TABLE public.child_i (pid int REFERENCES public.parent_i);
	INSERT INTO public.parent_i VALUES (1);
	INSERT INTO public.child_i VALUES (1);
	GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC;
	CREATE INDEX child_d_idx ON public.child_d (pid);
	TRUNCATE evil.trap;
}, extra_params => [ '-U', 'attacker' ]);

# the hostile settings: the database owner's, and a role-level one of the
# role the workers run as (the bootstrap superuser: only a superuser can
# set it, but the workers must not obey it either)
$node->safe_psql('appdb', q{
	ALTER DATABASE appdb SET search_path = evil, pg_catalog, public;
	ALTER ROLE attacker SET search_path = evil, pg_catalog, public;
}, extra_params => [ '-U', 'attacker' ]);
$node->safe_psql('appdb', "ALTER ROLE \"$su\" IN DATABASE appdb SET search_path = evil, pg_catalog, public");
# (every query of this test in appdb is written for that search path:
# operators qualified, so that the test itself never runs the trap)

sub trap_rows
{
	my $n = 0;
	$n += $node->safe_psql($_,
		q{SELECT count(*) FROM evil.trap WHERE who OPERATOR(pg_catalog.<>) 'attacker'},
		extra_params => [ '-U', 'dba' ]) for qw(appdb otherdb);
	return "$n";
}

sub attacker_is_superuser
{
	return $node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'});
}

# ---- every function and view of schema runbook, from the catalog
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
	'text[]' => q{'{idle}'::pg_catalog.text[]},
	'name' => q{'attacker'::pg_catalog.name},
	'oid' => '0',
	'regclass' => q{'public.schema_migrations'::pg_catalog.regclass},
	'regclass[]' => q{'{public.child_d_idx}'::pg_catalog.regclass[]},
	'timestamp with time zone' => q{pg_catalog.now() OPERATOR(pg_catalog.-) '1 hour'::pg_catalog.interval},
	'jsonb' => q{'{}'::pg_catalog.jsonb},
	'cidr' => q{'127.0.0.1/32'::pg_catalog.cidr},
	'inet' => q{'127.0.0.1'::pg_catalog.inet},
	'integer[]' => q{'{1}'::pg_catalog.int4[]},
	# the snapshot triage() gives its checks (runbook._triage_*)
	'runbook.sessions[]' => q{ARRAY(SELECT s FROM runbook.sessions s)},
);
my @calls;
for my $row (split /\n/, $node->safe_psql('appdb', q{
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
	my @names = split /,/, $argnames;
	my @types = split /,/, $argtypes;
	my @args;
	my $skip = 0;
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
	push @calls, "SELECT pg_catalog.count(*) FROM runbook.$name(" . join(', ', @args) . ')';
}
for my $v (split /\n/, $node->safe_psql('appdb',
	q{SELECT relname FROM pg_catalog.pg_class WHERE relnamespace = 'runbook'::pg_catalog.regnamespace AND relkind IN ('v', 'r') ORDER BY 1}))
{
	push @calls, "SELECT pg_catalog.count(*) FROM runbook.$v";
}
# the paths that read user objects, with arguments that make them do it
push @calls,
  "SELECT pg_catalog.count(*) FROM runbook.integrity_check(amcheck_indexes => '{public.child_d_idx, public.child_d}'::pg_catalog.regclass[], include_ok => true, heapallindexed => true)",
  "SELECT pg_catalog.count(*) FROM runbook.bloat_report('exact')",
  "SELECT pg_catalog.count(*) FROM runbook.migration_status()";
cmp_ok(scalar(@calls), '>', 40, scalar(@calls) . ' calls enumerated from the catalog');

# The victim of the real remedy: an idle session in otherdb.
my $victim = $node->background_psql('otherdb', extra_params => [ '-U', 'victim' ]);
my $vpid = $victim->query_safe('SELECT pg_catalog.pg_backend_pid()');
chomp $vpid;

# ---- mechanism 1: search_path and user objects (superuser, then pg_monitor member)
for my $role ($su, 'monitor')
{
	my @bad;
	for my $sql (@calls)
	{
		my ($ret, $out, $err) = $node->psql('appdb', $sql,
			extra_params => [ '-U', $role, '-v', 'VERBOSITY=verbose' ]);
		push @bad, "$sql: $err" if $ret != 0 && ($err !~ /ERROR:  [0-9A-Z]{5}:/ || $err =~ /ERROR:  XX000/);
	}
	is(join("\n", @bad), '', "as $role: every call worked or failed with a proper error");
	ok($node->safe_psql('postgres', 'SELECT 1') eq '1', "as $role: server alive");
}
is(attacker_is_superuser(), 'f', 'diagnostics as superuser and pg_monitor: attacker is not superuser');
is(trap_rows(), '0', 'diagnostics as superuser and pg_monitor: no attacker code ran with their rights');

# the refused objects are reported, not silently dropped
my $ms = $node->safe_psql('appdb', q{SELECT tool || ':' || migration_table::pg_catalog.text || ':' || status || ':' || detail FROM runbook.migration_status() ORDER BY 1});
like($ms, qr/schema_migrations:skipped:.*user-defined/, 'migration table with a user type is reported as refused');
like($ms, qr/alembic_version:skipped:.*view/, 'a view named like a migration table is reported as refused');
my $msm = $node->safe_psql('appdb', q{SELECT migration_table::pg_catalog.text || ':' || status || ':' || detail FROM runbook.migration_status() ORDER BY 1},
	extra_params => [ '-U', 'monitor' ]);
like($msm, qr/django_migrations:skipped:.*row-level security/, 'row-level security reported as refused for a pg_monitor member');
my $ic = $node->safe_psql('appdb', q{SELECT object || ':' || status || ':' || detail FROM runbook.integrity_check(include_ok => true) WHERE check_name OPERATOR(pg_catalog.=) 'orphaned_rows' ORDER BY 1});
like($ic, qr/child_d_pid_fkey:skipped:.*user-defined/, 'foreign key over a domain with a CHECK is refused');
like($ic, qr/child_i_pid_fkey:ok:/, 'foreign key over int is checked (the shadowed = is not used)');

# ---- mechanism 2: the audit writer under the hostile search_path (attack 2)
my $kill = $node->safe_psql('otherdb',
	"SELECT outcome FROM runbook.kill_idle('0', dry_run => false, role_name => 'victim')");
is($kill, 'terminated', 'real kill_idle run');
ok($node->poll_query_until('otherdb', "SELECT count(*) > 0 FROM runbook.actions WHERE pid OPERATOR(pg_catalog.=) $vpid"),
	'audit writer copied the action under the hostile search_path');
is(attacker_is_superuser(), 'f', 'audit writer: attacker is not superuser');
is(trap_rows(), '0', 'audit writer: no attacker code ran');

# ---- mechanism 3: the policy worker under the hostile search_path
# (no error since $t0: a worker that started before CREATE EXTENSION keeps
# "extension pg_runbook is not installed" as its last error, superseded by
# the successful cycles since, see last_success_at)
my ($c0, $t0) = split /\|/, $node->safe_psql('appdb', 'SELECT cycles, pg_catalog.now() FROM runbook.worker_status()');
$node->safe_psql('appdb', q{INSERT INTO runbook.policies (name, role_name, states, min_state_age, action, active_from, active_until)
	VALUES ('watch', 'victim', '{idle}', '1 h', 'log', '00:00', '23:59:59')});
ok($node->poll_query_until('appdb', "SELECT cycles > $c0 + 2 AND last_success_at > '$t0' AND NOT coalesce(last_error_at > '$t0', false) FROM runbook.worker_status()"),
	'policy worker runs cycles under the hostile search_path');
is(attacker_is_superuser(), 'f', 'policy worker: attacker is not superuser');
is(trap_rows(), '0', 'policy worker: no attacker code ran');

# ---- mechanism 4: settings the workers must not obey
my $log_offset = -s $node->logfile;
# (this test's own queries from here on run as the superuser dba, whose
# role-in-database settings undo the hostile ones for it alone)
for my $db (qw(appdb otherdb))
{
	$node->safe_psql('postgres', qq{
		ALTER ROLE dba IN DATABASE $db SET default_transaction_read_only = off;
		ALTER ROLE dba IN DATABASE $db SET statement_timeout = 0;
		ALTER ROLE dba IN DATABASE $db SET lock_timeout = 0;
		ALTER ROLE dba IN DATABASE $db SET default_transaction_isolation = 'read committed';
		ALTER ROLE dba IN DATABASE $db SET TimeZone = 'UTC';
	});
}
# victims connected before (the settings below would end their sessions)
my $victim2 = $node->background_psql('otherdb', extra_params => [ '-U', 'victim' ]);
$victim2->query_safe("SET application_name = 'v2'");
my $vpid2 = $victim2->query_safe('SELECT pg_catalog.pg_backend_pid()');
chomp $vpid2;
my $victim3 = $node->background_psql('appdb', extra_params => [ '-U', 'victim' ]);
my $vpid3 = $victim3->query_safe('SELECT pg_catalog.pg_backend_pid()');
chomp $vpid3;
for my $db (qw(appdb otherdb))
{
	$node->safe_psql($db, qq{
		ALTER DATABASE $db SET default_transaction_read_only = on;
		ALTER DATABASE $db SET statement_timeout = '1ms';
		ALTER DATABASE $db SET lock_timeout = '1ms';
		ALTER DATABASE $db SET idle_in_transaction_session_timeout = '1ms';
		ALTER DATABASE $db SET default_transaction_isolation = 'serializable';
		ALTER DATABASE $db SET TimeZone = 'Pacific/Kiritimati';
	}, extra_params => [ '-U', 'attacker' ]);
}
my @dba = (extra_params => [ '-U', 'dba' ]);
sub dba_sql { return $node->safe_psql($_[1] // 'appdb', $_[0], @dba); }
sub dba_poll
{
	my ($q, $db) = @_;
	for (1 .. 300)
	{
		my ($ret, $out) = $node->psql($db // 'appdb', $q, @dba);
		return 1 if $ret == 0 && $out eq 't';
		select(undef, undef, undef, 0.1);
	}
	return 0;
}
# the worker reconnects (terminated, it restarts with the new database settings)
my $wpid = dba_sql('SELECT pid FROM runbook.worker_status()');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid)");
ok(dba_poll("SELECT running AND pid OPERATOR(pg_catalog.<>) $wpid FROM runbook.worker_status()"),
	'worker restarted');
is(dba_sql("SELECT outcome FROM runbook.kill_idle('0', dry_run => false, role_name => 'victim', application_pattern => 'v2')", 'otherdb'),
	'terminated', 'real kill_idle run with hostile database defaults');
ok(dba_poll("SELECT count(*) > 0 FROM runbook.actions WHERE pid OPERATOR(pg_catalog.=) $vpid2", 'otherdb'),
	'the audit writer copies the action although the database defaults to read-only, 1 ms timeouts, serializable');
my ($c1, $t1) = split /\|/, dba_sql('SELECT cycles, pg_catalog.now() FROM runbook.worker_status()');
ok(dba_poll("SELECT cycles > $c1 + 2 AND last_success_at > '$t1' AND NOT coalesce(last_error_at > '$t1', false) FROM runbook.worker_status()"),
	'policy worker keeps working under the same database defaults');

# policy windows are read in log_timezone (UTC here), not in the database's
# TimeZone: a window around the current UTC time is far outside it in
# Pacific/Kiritimati (UTC+14)
dba_sql(q{
	INSERT INTO runbook.policies (name, priority, role_name, states, min_state_age, action, active_from, active_until)
	VALUES ('window', 1, 'victim', '{idle}', '0', 'log',
	        (pg_catalog.now() - '1 hour'::pg_catalog.interval)::pg_catalog.time,
	        (pg_catalog.now() + '1 hour'::pg_catalog.interval)::pg_catalog.time)});
ok($node->wait_for_log(qr/actor=policy:window pid=$vpid3/), 'policy window evaluated in log_timezone');
my $log = substr(slurp_file($node->logfile), $log_offset);
unlike($log, qr/(in a read-only transaction|canceling statement due to (statement|lock) timeout|could not serialize|idle-in-transaction timeout)/,
	'no worker error from the database settings in the log');
is(attacker_is_superuser(), 'f', 'hostile settings: attacker is not superuser');
is(trap_rows(), '0', 'hostile settings: no attacker code ran');

done_testing();
