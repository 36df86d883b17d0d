# The extension's schema is its own (issue 22).
#
# A database owner who is not a superuser creates schema runbook before the
# superuser's CREATE EXTENSION pg_runbook, and plants in it an overload of
# kill_idle() with a text first argument: runbook.kill_idle('10 min') as the
# docs write it would resolve to the planted one (an unknown literal prefers
# text), run as the superuser, and make the owner superuser.  1.1 installed
# into such a schema without a word.  Now CREATE EXTENSION fails before it
# creates anything, with SQLSTATE 42P06 and a hint, when the schema is owned
# by a non-superuser, when another role may create objects in it, or when it
# holds anything; the attacker ends the test not superuser, and the planted
# function never ran.  A schema a superuser made and left empty (as DROP
# EXTENSION leaves it) is fine.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('takeover');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_runbook'\n");
$node->start;

my $su = $node->safe_psql('postgres', 'SELECT current_user');
$node->safe_psql('postgres', q{
	CREATE ROLE attacker LOGIN;
	CREATE DATABASE appdb OWNER attacker;
});
$node->safe_psql('appdb', q{
	CREATE TABLE public.trap (who name, at timestamptz DEFAULT now());
	GRANT INSERT ON public.trap TO PUBLIC;
});

sub attacker_is_superuser
{
	return $node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'});
}

sub create_extension
{
	my ($db) = @_;
	my ($ret, $out, $err) = $node->psql($db, 'CREATE EXTENSION pg_runbook',
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($ret, $err);
}

# ---- 1. the attacker's schema, with a planted overload
$node->safe_psql('appdb', q{
	CREATE SCHEMA runbook;
	CREATE FUNCTION runbook.kill_idle(max_idle text, dry_run boolean DEFAULT false)
	RETURNS SETOF record LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.trap (who) VALUES (current_user);
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			ALTER ROLE attacker SUPERUSER;
		END IF;
		RETURN;
	END $$;
}, extra_params => [ '-U', 'attacker' ]);
my ($ret, $err) = create_extension('appdb');
isnt($ret, 0, 'CREATE EXTENSION into a schema a non-superuser owns fails');
like($err, qr/ERROR:  42P06: schema "runbook" already exists and is owned by role "attacker", which is not a superuser/,
	'... with SQLSTATE 42P06 and the owner named');
like($err, qr/HINT:  Check what the schema holds, then drop or rename it/, '... and a hint');
is($node->safe_psql('appdb', q{SELECT count(*) FROM pg_extension WHERE extname = 'pg_runbook'}), '0',
	'nothing was installed');
is($node->safe_psql('appdb', q{SELECT count(*) FROM pg_proc WHERE pronamespace = 'runbook'::regnamespace}), '1',
	'the schema still holds only the planted function');

# ---- 2. the superuser took the schema over, but the attacker may still create in it
$node->safe_psql('appdb', qq{ALTER SCHEMA runbook OWNER TO "$su"; GRANT CREATE ON SCHEMA runbook TO attacker;
	DROP FUNCTION runbook.kill_idle(text, boolean)});
($ret, $err) = create_extension('appdb');
isnt($ret, 0, 'CREATE EXTENSION into a schema where another role may create objects fails');
like($err, qr/ERROR:  42P06: schema "runbook" already exists and other roles may create objects in it: attacker/,
	'... naming the role');

# ---- 3. a superuser's schema that holds something
$node->safe_psql('appdb', q{REVOKE CREATE ON SCHEMA runbook FROM attacker; CREATE TABLE runbook.leftover (x int)});
($ret, $err) = create_extension('appdb');
isnt($ret, 0, 'CREATE EXTENSION into a schema that holds objects fails');
like($err, qr/ERROR:  42P06: schema "runbook" already exists and holds objects that are not pg_runbook's\nDETAIL:  It holds: relation leftover/,
	'... listing them');

# ---- 4. a superuser's empty schema: fine; and after DROP EXTENSION, again
$node->safe_psql('appdb', q{DROP TABLE runbook.leftover});
($ret, $err) = create_extension('appdb');
is($ret, 0, 'CREATE EXTENSION into an empty schema of a superuser works') or diag($err);
$node->safe_psql('appdb', q{DROP EXTENSION pg_runbook});
($ret, $err) = create_extension('appdb');
is($ret, 0, 'CREATE EXTENSION again after DROP EXTENSION works') or diag($err);

# ---- 5. no schema at all: CREATE EXTENSION makes it
($ret, $err) = create_extension('postgres');
is($ret, 0, 'CREATE EXTENSION where no schema runbook exists works') or diag($err);
is($node->safe_psql('postgres', q{SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'runbook'}), $su,
	'the schema it made is owned by the installing superuser');

is($node->safe_psql('appdb', 'SELECT count(*) FROM public.trap'), '0', 'no planted code ran during the installs');
is(attacker_is_superuser(), 'f', 'the attacker is not superuser');

$node->stop;
done_testing();
