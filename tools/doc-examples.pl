#!/usr/bin/perl
# Runs the examples of documentation pages against a running server (the
# connection comes from PGHOST, PGPORT, PGUSER; database "docs"), one page
# per call of run_page, all pages on the same server: tools/doc-examples.sh
# starts a fresh server per page and calls this once per page.
#   doc-examples.pl [--update] [--psql PATH] [--objects] PAGE...
# --objects: instead, print the public objects of the extension that no
#   page documents with a heading and a tested example (never fails).
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use DocExamples;
use Getopt::Long;

my ($update, $objects, $psql) = (0, 0, 'psql');
GetOptions('update' => \$update, 'objects' => \$objects, 'psql=s' => \$psql)
  or die "usage: $0 [--update] [--psql PATH] [--objects] PAGE...\n";
my @psql = ($psql, '-d', 'docs');

if ($objects)
{
	my @obj = grep { /\S/ } split /\n/,
	  `$psql -X -q -At -d docs -c "$DocExamples::OBJECTS_SQL"`;
	die "could not list the objects of the extension\n" if $? || !@obj;
	my @missing = DocExamples::missing_objects(objects => \@obj, pages => \@ARGV);
	printf "coverage: %d of %d public objects have a heading and a tested example\n",
	  @obj - @missing, scalar @obj;
	print "missing: $_\n" for @missing;
	exit 0;
}

my $rc = 0;
for my $page (@ARGV)
{
	# shown relative to the directory the runner was started from
	my $show = $page;
	$show =~ s{^\Q$ENV{DOC_EXAMPLES_CWD}\E/}{} if $ENV{DOC_EXAMPLES_CWD};
	my $r = DocExamples::run_page(psql => \@psql, page => $page);
	my @f = DocExamples::failures($r, $show);
	if ($update && !$r->{error})
	{
		my $new = DocExamples::updated_text($r);
		if ($new ne $r->{text})
		{
			open my $fh, '>', $page or die "cannot write $page: $!";
			print $fh $new;
			close $fh;
			print "updated $show\n";
		}
		# outputs are now the page's; what is left are failed set-ups
		@f = grep { !/: example differs\n/ } @f;
	}
	if (@f)
	{
		print "not ok $show\n";
		print "$_\n" for @f;
		$rc = 1;
	}
	else
	{
		printf "ok %s %d examples\n", $show, DocExamples::n_examples($r);
	}
}
exit $rc;
