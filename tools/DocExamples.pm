# The engine of the tested documentation examples (the format is described
# in docs/examples.md): parse a page, run its blocks in one psql session,
# compare each example's output with the page, rewrite outputs (--update),
# and list the public objects of the extension that have no docs heading or
# no tested example.  Used by tools/doc-examples.pl (tools/doc-examples.sh,
# `make docs`) and by sql_tests/t/800_doc_examples.pl (`make test`).
package DocExamples;

use strict;
use warnings;
use File::Temp qw(tempfile);

# ---------- parsing ----------

# parse_page(TEXT): the runnable blocks of a page, in order.  Each block:
#   kind   'example' (sql + text: compared), 'run' (sql alone: run, must not
#          fail) or 'setup' (<!-- doc-setup ... -->: run, must not fail)
#   sql    the statements
#   line   1-based line of the sql fence (or of the comment)
#   text   the expected output (examples only)
#   tfrom, tto  0-based indexes of the first and last line INSIDE the text
#          fence (tto = tfrom - 1 when the block is empty)
sub parse_page
{
	my ($text) = @_;
	my @lines = split /\n/, $text, -1;
	my @blocks;
	my $i = 0;
	while ($i < @lines)
	{
		my $l = $lines[$i];
		if ($l =~ /^ {0,3}(```+|~~~+)\s*([\w-]*)/)
		{
			my ($fence, $lang) = ($1, $2);
			my $start = $i;
			my $j = $i + 1;
			$j++ while $j < @lines && $lines[$j] !~ /^ {0,3}\Q$fence\E\s*$/;
			die "line " . ($start + 1) . ": code block not closed\n" if $j >= @lines;
			if ($lang eq 'sql')
			{
				my $b = {
					kind => 'run',
					sql => join("\n", @lines[ $start + 1 .. $j - 1 ]),
					line => $start + 1
				};
				# an example: the next non-blank line opens a text block
				my $k = $j + 1;
				$k++ while $k < @lines && $lines[$k] =~ /^\s*$/;
				if ($k < @lines && $lines[$k] =~ /^ {0,3}(```+|~~~+)\s*text\s*$/)
				{
					my $tf = $1;
					my $m = $k + 1;
					$m++ while $m < @lines && $lines[$m] !~ /^ {0,3}\Q$tf\E\s*$/;
					die "line " . ($k + 1) . ": text block not closed\n" if $m >= @lines;
					$b->{kind} = 'example';
					$b->{tfrom} = $k + 1;
					$b->{tto} = $m - 1;
					$b->{text} = join("\n", @lines[ $k + 1 .. $m - 1 ]);
					$j = $m;
				}
				push @blocks, $b;
			}
			$i = $j + 1;
			next;
		}
		if ($l =~ /^\s*<!--\s*doc-setup\b(.*)$/)
		{
			my $start = $i;
			my @sql;
			my $rest = $1;
			if ($rest =~ /^(.*?)-->/)
			{
				push @sql, $1;
			}
			else
			{
				push @sql, $rest if $rest =~ /\S/;
				my $j = $i + 1;
				while ($j < @lines && $lines[$j] !~ /-->/)
				{
					push @sql, $lines[$j];
					$j++;
				}
				die "line " . ($start + 1) . ": doc-setup comment not closed\n" if $j >= @lines;
				(my $last = $lines[$j]) =~ s/-->.*//;
				push @sql, $last if $last =~ /\S/;
				$i = $j;
			}
			push @blocks, { kind => 'setup', sql => join("\n", @sql), line => $start + 1 };
		}
		$i++;
	}
	return @blocks;
}

# The comparison ignores trailing blanks on each line and trailing empty lines.
sub normalize
{
	my ($s) = @_;
	$s = '' unless defined $s;
	my @l = map { s/[ \t\r]+$//r } split /\n/, $s, -1;
	pop @l while @l && $l[-1] eq '';
	return join("\n", @l);
}

# ---------- running ----------

# run_page(psql => [argv of psql, connection from the environment],
#          page => path, timeout => seconds)
# Returns { blocks => [...], got => [output per block], error => message }.
sub run_page
{
	my (%o) = @_;
	my $page = $o{page};
	open my $fh, '<', $page or return { error => "cannot read $page: $!" };
	my $text = do { local $/; <$fh> };
	close $fh;
	my @blocks = eval { parse_page($text) };
	return { error => "$page: $@" } if $@;
	return { blocks => [], got => [], text => $text } unless @blocks;

	# One script, one session: each block, then a marker, then the display
	# settings back to the defaults (a block may use \x).  Errors show no
	# CONTEXT line: it names PL/pgSQL line numbers, which change with any
	# edit of the function and tell a reader nothing.
	my $script = "\\pset pager off\n\\pset null ''\n\\set SHOW_CONTEXT never\n";
	for my $n (0 .. $#blocks)
	{
		$script .= $blocks[$n]{sql} . "\n";
		$script .= "\\r\n\\echo '\@\@DOC-BLOCK-END $n\@\@'\n";
		$script .= "\\pset expanded off\n\\pset format aligned\n\\pset tuples_only off\n";
	}
	my ($sfh, $sfile) = tempfile('doc-script-XXXXXX', TMPDIR => 1, UNLINK => 1);
	print $sfh $script;
	close $sfh;
	my ($ofh, $ofile) = tempfile('doc-out-XXXXXX', TMPDIR => 1, UNLINK => 1);
	close $ofh;
	my $timeout = $o{timeout} // 300;

	# psql reads the script from stdin (so that its messages carry no
	# "psql:file:line:" prefix); stderr (errors, notices) and stdout go to
	# one file: psql flushes stdout before it writes a message.
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		# the same psql everywhere: the TAP framework sets PGAPPNAME to the
		# test's name, and the environment must not change the output
		delete @ENV{qw(PGAPPNAME PGOPTIONS PGTZ PGDATESTYLE PGCLIENTENCODING PSQLRC PSQL_PAGER PAGER)};
		$ENV{PGCLIENTENCODING} = 'UTF8';
		open STDIN, '<', $sfile or die;
		open STDOUT, '>', $ofile or die;
		open STDERR, '>&', \*STDOUT or die;
		exec('timeout', $timeout, @{ $o{psql} }, '-X', '-q') or die "exec psql: $!";
	}
	waitpid($pid, 0);
	my $rc = $? >> 8;
	open my $rfh, '<', $ofile or die;
	my $out = do { local $/; <$rfh> };
	close $rfh;

	my @got;
	my $cur = '';
	my $next = 0;
	for my $l (split /\n/, $out, -1)
	{
		if ($l =~ /^\@\@DOC-BLOCK-END (\d+)\@\@$/ && $1 == $next)
		{
			push @got, $cur;
			$cur = '';
			$next++;
			next;
		}
		$cur .= "$l\n";
	}
	my $error;
	if ($next < @blocks)
	{
		$error = "$page: psql stopped (exit $rc"
		  . ($rc == 124 ? ", timed out after $timeout s" : '')
		  . ") in the block of line $blocks[$next]{line}; its output so far:\n$cur";
	}
	return { blocks => \@blocks, got => \@got, text => $text, error => $error };
}

# check(result, page => name): a list of failures (strings), empty when
# every example matches and no other block failed.
sub failures
{
	my ($r, $page) = @_;
	my @f;
	push @f, $r->{error} if $r->{error};
	my $blocks = $r->{blocks} || [];
	for my $n (0 .. $#$blocks)
	{
		last if $n >= @{ $r->{got} };
		my $b = $blocks->[$n];
		my $got = normalize($r->{got}[$n]);
		if ($b->{kind} eq 'example')
		{
			my $want = normalize($b->{text});
			next if $got eq $want;
			push @f, "$page:$b->{line}: example differs\n" . udiff($want, $got, "$page:$b->{line} (page)", "$page:$b->{line} (psql)");
		}
		elsif ($got =~ /^(ERROR|FATAL|PANIC):/m)
		{
			push @f, "$page:$b->{line}: the $b->{kind} block failed:\n$got\n";
		}
	}
	return @f;
}

sub n_examples
{
	my ($r) = @_;
	return scalar grep { $_->{kind} eq 'example' } @{ $r->{blocks} || [] };
}

sub udiff
{
	my ($a, $b, $la, $lb) = @_;
	my ($fa, $pa) = tempfile('doc-a-XXXXXX', TMPDIR => 1, UNLINK => 1);
	my ($fb, $pb) = tempfile('doc-b-XXXXXX', TMPDIR => 1, UNLINK => 1);
	print $fa "$a\n";
	print $fb "$b\n";
	close $fa;
	close $fb;
	my $d = `diff -u --label '$la' --label '$lb' '$pa' '$pb'`;
	return $d;
}

# update(result): the page's text with every example's text block replaced
# by the real output.  Undef when the run did not reach every block.
sub updated_text
{
	my ($r) = @_;
	return undef if $r->{error};
	my @lines = split /\n/, $r->{text}, -1;
	my $blocks = $r->{blocks};
	# from the last block up, so that earlier line numbers stay valid
	for my $n (reverse 0 .. $#$blocks)
	{
		my $b = $blocks->[$n];
		next unless $b->{kind} eq 'example';
		my $got = normalize($r->{got}[$n]);
		my @new = $got eq '' ? () : split /\n/, $got, -1;
		splice @lines, $b->{tfrom}, $b->{tto} - $b->{tfrom} + 1, @new;
	}
	return join("\n", @lines);
}

# ---------- completeness ----------

# The public objects of the extension: members (pg_depend 'e') that are
# functions, tables, views or types of their own, not starting with "_".
our $OBJECTS_SQL = q{
SELECT DISTINCT name || '|' || kind FROM (
  SELECT p.proname AS name, 'function' AS kind
    FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_runbook')
  UNION ALL
  SELECT c.relname, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' ELSE 'table' END
    FROM pg_depend d JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_runbook')
     AND c.relkind IN ('r', 'p', 'v', 'm')
  UNION ALL
  SELECT t.typname, 'type'
    FROM pg_depend d JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_runbook')
) o WHERE name NOT LIKE '\_%' ORDER BY 1
};

# missing_objects(objects => ["name|kind", ...], pages => [paths]):
# "name (kind): no heading" / "...: no tested example", sorted.
# A heading is a "## " or "### " line naming `runbook.name` or
# `runbook.name(...)`; a tested example is a compared sql block that
# mentions runbook.name.
sub missing_objects
{
	my (%o) = @_;
	my (@headings, @examples);
	for my $p (@{ $o{pages} })
	{
		open my $fh, '<', $p or die "cannot read $p: $!";
		my $text = do { local $/; <$fh> };
		close $fh;
		push @headings, grep { /^#{2,3}\s/ } split /\n/, $text;
		push @examples, map { $_->{sql} } grep { $_->{kind} eq 'example' } parse_page($text);
	}
	my $h = join("\n", @headings);
	my $e = join("\n", @examples);
	my @missing;
	for my $obj (@{ $o{objects} })
	{
		my ($name, $kind) = split /\|/, $obj;
		my @why;
		push @why, 'no heading' unless $h =~ /`runbook\.\Q$name\E(\(|`)/;
		push @why, 'no tested example' unless $e =~ /\brunbook\.\Q$name\E\b/;
		push @missing, "$name ($kind): " . join(', ', @why) if @why;
	}
	return @missing;
}

1;
