# The upgrade paths: 1.0 and 1.1 are released and frozen (sql/released/);
# 1.2 is generated from sql/ (tools/sql-build.sh).  A database that
# installed 1.0 or 1.1 and ran `ALTER EXTENSION pg_runbook UPDATE` (1.0 goes
# through 1.1) must end up with exactly the objects of a fresh 1.2 install
# (definitions, settings, grants, comments, the configuration tables pg_dump
# keeps), and with every row its users wrote.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_runbook'
pg_runbook.enforce = off
});
$node->start;

my $current = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'pg_runbook'});
is($current, '1.2', 'the default version is 1.2');
is($node->safe_psql('postgres',
	q{SELECT string_agg(version, ',' ORDER BY version) FROM pg_available_extension_versions WHERE name = 'pg_runbook'}),
	'1.0,1.1,1.2', 'every released version and 1.2 are installable');
is($node->safe_psql('postgres',
	q{SELECT string_agg(path, ' | ' ORDER BY source) FROM pg_extension_update_paths('pg_runbook')
	   WHERE target = '1.2' AND path IS NOT NULL}),
	'1.0--1.1--1.2 | 1.1--1.2', '1.0 updates through 1.1, 1.1 in one step');

# Every member object of the extension, described by name (never by oid),
# with everything that makes it what it is.
my $describe = q{
WITH ext AS (SELECT oid, extconfig, extcondition FROM pg_extension WHERE extname = 'pg_runbook'),
members AS (
  SELECT d.classid, d.objid FROM pg_depend d, ext
   WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT line FROM (
  -- the members themselves
  SELECT 'member ' || pg_describe_object(classid, objid, 0) AS line FROM members
  UNION ALL
  -- functions: full definition (body, volatility, security, SET options), grants, comment
  SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
         || E'\nacl ' || coalesce(p.proacl::text, '-')
         || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
   WHERE p.prokind <> 'a'
  UNION ALL
  SELECT 'aggregate ' || p.oid::regprocedure || ' acl ' || coalesce(p.proacl::text, '-')
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
   WHERE p.prokind = 'a'
  UNION ALL
  -- relations: kind, options, grants, comment, view definition
  SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text
         || ' options ' || coalesce(c.reloptions::text, '-')
         || ' rls ' || c.relrowsecurity || '/' || c.relforcerowsecurity
         || ' acl ' || coalesce(c.relacl::text, '-')
         || ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
         || CASE WHEN c.relkind IN ('v', 'm') THEN E'\n' || pg_get_viewdef(c.oid) ELSE '' END
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  UNION ALL
  -- columns of every relation of the extension's schema (a column has no
  -- pg_depend row of its own), in order, with type, default, nullability, grants
  SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' #' || a.attnum
         || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
         || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
         || CASE WHEN a.attgenerated <> '' THEN ' generated ' || a.attgenerated::text ELSE '' END
         || ' collation ' || coalesce(a.attcollation::regcollation::text, '-')
         || ' acl ' || coalesce(a.attacl::text, '-')
         || ' comment ' || coalesce(col_description(c.oid, a.attnum), '-')
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  UNION ALL
  SELECT 'constraint ' || co.conrelid::regclass || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_constraint co ON co.conrelid = c.oid
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
    FROM members m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid
   WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'policy ' || po.polrelid::regclass || ' ' || po.polname || ' ' || po.polcmd::text
         || ' ' || coalesce(pg_get_expr(po.polqual, po.polrelid), '-')
         || ' ' || coalesce(pg_get_expr(po.polwithcheck, po.polrelid), '-')
    FROM members m JOIN pg_policy po ON m.classid = 'pg_class'::regclass AND po.polrelid = m.objid
  UNION ALL
  SELECT 'type ' || t.oid::regtype || ' ' || t.typtype::text
         || ' acl ' || coalesce(t.typacl::text, '-')
         || coalesce(' enum ' || (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder)
                                    FROM pg_enum WHERE enumtypid = t.oid), '')
    FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
  UNION ALL
  -- the configuration tables pg_dump keeps, with their filters
  SELECT 'extconfig ' || cfg::regclass || ' ' || coalesce(cond, '-')
    FROM ext, unnest(ext.extconfig, ext.extcondition) AS u(cfg, cond)
  UNION ALL
  SELECT 'schema ' || n.nspname || ' acl ' || coalesce(n.nspacl::text, '-')
         || ' comment ' || coalesce(obj_description(n.oid, 'pg_namespace'), '-')
    FROM pg_namespace n WHERE n.nspname = 'runbook'
  UNION ALL
  SELECT 'extension ' || e.extname || ' ' || e.extversion || ' schema ' || e.extnamespace::regnamespace
         || ' relocatable ' || e.extrelocatable
    FROM pg_extension e WHERE e.extname = 'pg_runbook'
) s ORDER BY line COLLATE "C";
};

# Databases at 1.0 and at 1.1 with what users write into them.
my $user_rows = q{
	SELECT (SELECT string_agg(name || ':' || priority || ':' || min_state_age || ':' || action, ',' ORDER BY name)
	          FROM runbook.policies WHERE name NOT LIKE 'starter\_%')
	    || ' / ' ||
	       (SELECT string_agg(name || '=' || value, ',' ORDER BY name)
	          FROM runbook.alert_thresholds WHERE value = 77)
};
my %before;
foreach my $from ('1.0', '1.1')
{
	my $db = 'from_' . ($from =~ s/\./_/r);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{CREATE EXTENSION pg_runbook VERSION '$from'});
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_runbook'}),
		$from, "$from installs as released");
	$node->safe_psql($db, q{
		INSERT INTO runbook.policies (name, priority, states, min_state_age, action, role_name)
		VALUES ('user_idle', 10, '{idle}', '42 min', 'terminate', 'postgres');
		UPDATE runbook.alert_thresholds SET value = 77 WHERE name = (SELECT min(name) FROM runbook.alert_thresholds);
	});
	$before{$from} = $node->safe_psql($db, $user_rows);
	like($before{$from}, qr/^user_idle:10:00:42:00:terminate \/ \w+=77$/, "user rows written at $from");
	$node->safe_psql($db, 'ALTER EXTENSION pg_runbook UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_runbook'}),
		'1.2', "ALTER EXTENSION UPDATE from $from reaches 1.2");
	is($node->safe_psql($db, $user_rows), $before{$from}, "user policies and thresholds written at $from survive the update");
}
# 1.0 -> 1.1 -> 1.2 one step at a time, as a user who updated to 1.1 when it came out
$node->safe_psql('postgres', 'CREATE DATABASE stepwise');
$node->safe_psql('stepwise', q{CREATE EXTENSION pg_runbook VERSION '1.0'});
$node->safe_psql('stepwise', q{ALTER EXTENSION pg_runbook UPDATE TO '1.1'});
$node->safe_psql('stepwise', q{ALTER EXTENSION pg_runbook UPDATE TO '1.2'});

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_runbook');
my $fresh = $node->safe_psql('fresh', $describe);
my @lines = split /\n/, $fresh;
cmp_ok(scalar(grep { /^member function / } @lines), '>', 40, 'the description covers the functions');
ok((grep { /^extconfig runbook.policies / } @lines), 'the description covers the configuration tables');

foreach my $db ('from_1_0', 'from_1_1', 'stepwise')
{
	my $upgraded = $node->safe_psql($db, $describe);
	if ($upgraded eq $fresh)
	{
		pass("$db: an updated database and a fresh 1.2 have the same objects");
		next;
	}
	fail("$db: an updated database and a fresh 1.2 have the same objects");
	my %u = map { $_ => 1 } split /\n(?=\S+ )/, $upgraded;
	my %f = map { $_ => 1 } split /\n(?=\S+ )/, $fresh;
	diag("only after the update: $_") for grep { !$f{$_} } sort keys %u;
	diag("only in a fresh install: $_") for grep { !$u{$_} } sort keys %f;
}

# A grant a user gave on a function that 1.1 re-creates (kill_idle gains a
# parameter: DROP + CREATE) survives the updates to 1.2; in a database of
# its own, so that the comparison above stays between untouched installs.
$node->safe_psql('postgres', 'CREATE ROLE oncall; CREATE DATABASE granted');
$node->safe_psql('granted', q{
	CREATE EXTENSION pg_runbook VERSION '1.0';
	GRANT USAGE ON SCHEMA runbook TO oncall;
	GRANT EXECUTE ON FUNCTION runbook.kill_idle(interval, boolean, text[], name, name, text, text, boolean) TO oncall;
	GRANT EXECUTE ON FUNCTION runbook.recent_actions() TO oncall WITH GRANT OPTION;
	GRANT EXECUTE ON FUNCTION runbook.terminate_blockers(interval, boolean, boolean) TO oncall;
});
$node->safe_psql('granted', 'ALTER EXTENSION pg_runbook UPDATE');
is($node->safe_psql('granted', q{
	SELECT string_agg(p.proname || ':' || has_function_privilege('oncall', p.oid, 'EXECUTE')
	                  || ':' || has_function_privilege('oncall', p.oid, 'EXECUTE WITH GRANT OPTION'), ',' ORDER BY p.proname)
	  FROM pg_proc p WHERE p.pronamespace = 'runbook'::regnamespace
	   AND p.proname IN ('kill_idle', 'recent_actions', 'cancel_long', 'terminate_blockers', 'terminate')}),
	'cancel_long:false:false,kill_idle:true:false,recent_actions:true:true,terminate:false:false,terminate_blockers:true:false',
	'a user\'s grants on re-created functions survive the update, and no other is given');
# terminate_blockers() (1.0) and terminate() (new in 1.1) return rows of the
# type runbook.remedy_result; the script's own grants are on both, and a
# grant a user gives on the 1.1 terminate() after the update works.
is($node->safe_psql('granted', q{
	SELECT string_agg(p.proname || ':' || p.prorettype::regtype || ':'
	                  || has_function_privilege('pg_signal_backend', p.oid, 'EXECUTE'), ',' ORDER BY p.proname)
	  FROM pg_proc p WHERE p.pronamespace = 'runbook'::regnamespace
	   AND p.proname IN ('terminate_blockers', 'terminate', 'cancel')}),
	'cancel:runbook.remedy_result:true,terminate:runbook.remedy_result:true,terminate_blockers:runbook.remedy_result:true',
	'the remedies return runbook.remedy_result and pg_signal_backend may run them');
$node->safe_psql('granted', q{GRANT EXECUTE ON FUNCTION runbook.terminate(integer, text) TO oncall});
is($node->safe_psql('granted', q{
	SET ROLE oncall;
	SELECT count(*) FROM runbook.terminate(pg_backend_pid() + 1000000, 'not a pid') WHERE outcome = 'skipped'}),
	'1', 'a role granted runbook.terminate() runs it');

# The update runs in one go and leaves the extension usable.
is($node->safe_psql('from_1_0', q{SELECT count(*) > 0 FROM runbook.sessions}), 't',
	'the updated extension answers');

# A dump of the updated database restores into a fresh one with the users' rows.
my $dump = $node->basedir . '/upgraded.dump';
command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('from_1_0') ], 'pg_dump of the updated database');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore into a new database');
is($node->safe_psql('restored', $user_rows), $before{'1.0'}, 'the restored database has the users\' rows');
is($node->safe_psql('restored', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_runbook'}),
	'1.2', 'the restored extension is 1.2');

done_testing();
