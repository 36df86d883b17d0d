# The documentation's examples are tested: every example of docs/*.md
# (a ```sql block followed by a ```text block, docs/examples.md) is run on a
# fresh server per page and its output must equal the page's text block.
# Then every public object of the extension (pg_depend members, not
# starting with "_") must have a docs heading and a tested example that
# mentions it.  tools/doc-examples.sh runs the same check outside the
# suite; `make docs` rewrites the outputs.
use strict;
use warnings;
use File::Basename;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root;
BEGIN { $root = $ENV{PG_RUNBOOK_ROOT} // '.'; }
use lib "$root/tools";
use DocExamples;

my @all = sort glob("$root/docs/*.md");
my @pages = grep {
	open my $fh, '<', $_ or die "$_: $!";
	my $t = do { local $/; <$fh> };
	$t =~ /^ {0,3}```+ *sql|<!-- *doc-setup/m;
} @all;
ok(scalar @pages, 'docs/ has pages with examples');

my @objects;
for my $page (@pages)
{
	my $name = basename($page, '.md');
	(my $nodename = "docs_$name") =~ s/\W/_/g;
	my $node = PostgreSQL::Test::Cluster->new($nodename);
	$node->init;
	$node->append_conf('postgresql.conf',
		PostgreSQL::Test::Utils::slurp_file("$root/tools/doc-examples.conf"));
	$node->start;
	$node->safe_psql('postgres', 'CREATE DATABASE docs');
	$node->safe_psql('docs', 'CREATE EXTENSION pg_runbook; CREATE EXTENSION dblink;');

	my $r = DocExamples::run_page(
		psql => [ 'psql', '-h', $node->host, '-p', $node->port, '-d', 'docs' ],
		page => $page);
	my @f = DocExamples::failures($r, "docs/$name.md");
	my $n = DocExamples::n_examples($r);
	ok(!@f, "docs/$name.md: the outputs of its $n examples are psql's")
	  or diag(join("\n", @f));

	@objects = split /\n/, $node->safe_psql('docs', $DocExamples::OBJECTS_SQL)
	  unless @objects;
	$node->stop('immediate');
}

# completeness: every public object has a heading and a tested example
ok(scalar @objects > 50, 'the public objects of the extension are listed');
my @missing = DocExamples::missing_objects(objects => \@objects, pages => \@all);
# PG_RUNBOOK_DOCS_INCOMPLETE_OK=1 reports the missing ones without failing
# (a TODO test), for a tree whose pages are being written.
our $TODO;
local $TODO = 'pages still being written (PG_RUNBOOK_DOCS_INCOMPLETE_OK)'
  if $ENV{PG_RUNBOOK_DOCS_INCOMPLETE_OK};
is(scalar @missing, 0, 'every public object has a docs heading and a tested example')
  or diag("missing in docs/:\n  " . join("\n  ", @missing));

done_testing();
