# The memory readers of runbook.host() and the memory guard on cgroup
# layouts this machine does not have (it has cgroup v1): directories laid
# out like / (proc/self/cgroup, proc/self/mountinfo, proc/meminfo and the
# cgroup files), read through the test-only setting pg_runbook.test_os_root
# (test builds only, see src/settings.c).
#
# Layouts: cgroup v2 as Kubernetes nests it (a pod limit above an
# unlimited container and a looser container limit: the tightest wins; page
# cache not counted); v2 in a cgroup namespace ("0::/", a mount point with
# an escaped blank); v1 in a container without a cgroup namespace (mount
# root /docker/abc); a hybrid host (v1 memory wins over the v2 line); an
# unlimited cgroup (then /proc/meminfo); broken files (meminfo alone, no
# error).  Then the guard itself on the v2 layout: real sessions holding
# real private memory, memory in use from the files: policy_preview() and
# the worker end the largest first and only as far as the target.
use strict;
use warnings;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('host_layouts');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_runbook'
pg_runbook.database = 'postgres'
pg_runbook.naptime = '1h'
});
$node->start;
sub sql { return $node->safe_psql('postgres', $_[0]); }
sql(q{CREATE EXTENSION pg_runbook; CREATE ROLE app LOGIN;});

my $is_test_build = sql(q{SELECT count(*) FROM pg_settings WHERE name = 'pg_runbook.test_os_root'});
plan skip_all => 'not a test build (make RB_TEST_HOOKS=1)' unless $is_test_build;

my $top = tempdir(CLEANUP => 1);
my $n = 0;

# a directory laid out like /: { 'relative/path' => content }
sub layout
{
	my (%files) = @_;
	my $root = "$top/l" . $n++;
	for my $f (keys %files)
	{
		my ($d) = $f =~ m{^(.*)/};
		make_path("$root/$d") if defined $d;
		open my $fh, '>', "$root/$f" or die "$root/$f: $!";
		print $fh $files{$f};
		close $fh;
	}
	return $root;
}

my $GiB = 1024 * 1024 * 1024;
my $MiB = 1024 * 1024;
my $meminfo = "MemTotal:       16384000 kB\nMemFree:         2048000 kB\nMemAvailable:   12288000 kB\nBuffers:          100000 kB\nCached:          8000000 kB\n";
my $root_line = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n";
sub stat_v2 { return "anon 1000\nfile $_[0]\nkernel 0\nshmem 0\nactive_file " . int($_[0] / 2) . "\ninactive_file " . ($_[0] - int($_[0] / 2)) . "\n"; }

sub memory_row
{
	my ($root) = @_;
	return $node->safe_psql('postgres', qq{SET pg_runbook.test_os_root = '$root';
		SELECT source, coalesce(path, '-'), size_bytes, used_bytes, cache_bytes, used_pct
		  FROM runbook.host() WHERE kind = 'memory'});
}

# --- v2, Kubernetes: pod limit 2 GiB above an unlimited container
my $k8s_current = int(1.9 * $GiB);
my $k8s = layout(
	'proc/self/cgroup' => "0::/kubepods.slice/pod1/ctr1\n",
	'proc/self/mountinfo' => $root_line
	  . "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
	'proc/meminfo' => $meminfo,
	'sys/fs/cgroup/memory.current' => "5000000000\n",
	'sys/fs/cgroup/memory.stat' => stat_v2(0),
	'sys/fs/cgroup/kubepods.slice/memory.max' => "max\n",
	'sys/fs/cgroup/kubepods.slice/memory.current' => "4000000000\n",
	'sys/fs/cgroup/kubepods.slice/memory.stat' => stat_v2(0),
	'sys/fs/cgroup/kubepods.slice/pod1/memory.max' => (2 * $GiB) . "\n",
	'sys/fs/cgroup/kubepods.slice/pod1/memory.current' => "$k8s_current\n",
	'sys/fs/cgroup/kubepods.slice/pod1/memory.stat' => stat_v2(100 * $MiB),
	'sys/fs/cgroup/kubepods.slice/pod1/ctr1/memory.max' => (4 * $GiB) . "\n",
	'sys/fs/cgroup/kubepods.slice/pod1/ctr1/memory.current' => "1000000000\n",
	'sys/fs/cgroup/kubepods.slice/pod1/ctr1/memory.stat' => stat_v2(0));
my $k8s_used = $k8s_current - 100 * $MiB;
is(memory_row($k8s),
	sprintf('cgroup v2|/kubepods.slice/pod1|%d|%d|%d|%.1f', 2 * $GiB, $k8s_used, 100 * $MiB,
		100 * $k8s_used / (2 * $GiB)),
	'v2 nested: the pod\'s limit (the tightest parent) counts, page cache not counted as used');

# the container's own limit is tighter: it wins
my $k8s_ctr = layout(
	'proc/self/cgroup' => "0::/kubepods.slice/pod1/ctr1\n",
	'proc/self/mountinfo' => $root_line
	  . "30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
	'proc/meminfo' => $meminfo,
	'sys/fs/cgroup/kubepods.slice/pod1/memory.max' => (2 * $GiB) . "\n",
	'sys/fs/cgroup/kubepods.slice/pod1/memory.current' => (1 * $GiB) . "\n",
	'sys/fs/cgroup/kubepods.slice/pod1/memory.stat' => stat_v2(0),
	'sys/fs/cgroup/kubepods.slice/pod1/ctr1/memory.max' => (512 * $MiB) . "\n",
	'sys/fs/cgroup/kubepods.slice/pod1/ctr1/memory.current' => (480 * $MiB) . "\n",
	'sys/fs/cgroup/kubepods.slice/pod1/ctr1/memory.stat' => stat_v2(0));
like(memory_row($k8s_ctr), qr{^cgroup v2\|/kubepods\.slice/pod1/ctr1\|536870912\|503316480\|0\|93\.8$},
	'v2 nested: a tighter container limit wins over the pod\'s');

# --- v2 in a cgroup namespace, a mount point with a blank (\040)
my $ns = layout(
	'proc/self/cgroup' => "0::/\n",
	'proc/self/mountinfo' => $root_line . "31 22 0:27 / /sys/fs/cg\\040root rw - cgroup2 cgroup2 rw\n",
	'proc/meminfo' => $meminfo,
	'sys/fs/cg root/memory.max' => (512 * $MiB) . "\n",
	'sys/fs/cg root/memory.current' => (256 * $MiB) . "\n",
	'sys/fs/cg root/memory.stat' => stat_v2(0));
is(memory_row($ns), sprintf('cgroup v2|/|%d|%d|0|50.0', 512 * $MiB, 256 * $MiB),
	'v2 in a cgroup namespace ("0::/"), a mount point with an escaped blank');

# --- v1 in a container without a cgroup namespace (mount root /docker/abc)
my $v1 = layout(
	'proc/self/cgroup' => "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n",
	'proc/self/mountinfo' => $root_line
	  . "39 31 0:31 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n"
	  . "40 31 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n",
	'proc/meminfo' => $meminfo,
	'sys/fs/cgroup/memory/memory.limit_in_bytes' => (256 * $MiB) . "\n",
	'sys/fs/cgroup/memory/memory.usage_in_bytes' => (200 * $MiB) . "\n",
	'sys/fs/cgroup/memory/memory.stat' => "cache 1\nrss 2\ninactive_file 1\nactive_file 1\n"
	  . "total_inactive_file " . (30 * $MiB) . "\ntotal_active_file " . (10 * $MiB) . "\n");
is(memory_row($v1), sprintf('cgroup v1|/docker/abc|%d|%d|%d|62.5', 256 * $MiB, 160 * $MiB, 40 * $MiB),
	'v1 in a container (mount root /docker/abc): hierarchical file cache (total_*) not counted');

# --- hybrid: a v1 memory controller and a v2 line: v1 counts
my $hybrid = layout(
	'proc/self/cgroup' => "4:memory:/app\n0::/app\n",
	'proc/self/mountinfo' => $root_line
	  . "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
	  . "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
	'proc/meminfo' => $meminfo,
	'sys/fs/cgroup/memory/app/memory.limit_in_bytes' => $GiB . "\n",
	'sys/fs/cgroup/memory/app/memory.usage_in_bytes' => (512 * $MiB) . "\n",
	'sys/fs/cgroup/memory/app/memory.stat' => "total_inactive_file 0\ntotal_active_file 0\n",
	'sys/fs/cgroup/unified/app/memory.current' => "1\n",
	'sys/fs/cgroup/unified/app/memory.max' => "2\n");
like(memory_row($hybrid), qr{^cgroup v1\|/app\|1073741824\|536870912\|0\|50\.0$},
	'hybrid host: the v1 memory controller, not the v2 line');

# --- unlimited (v1's "no limit" value): /proc/meminfo
my $unlimited = layout(
	'proc/self/cgroup' => "4:memory:/app\n",
	'proc/self/mountinfo' => $root_line . "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
	'proc/meminfo' => $meminfo,
	'sys/fs/cgroup/memory/app/memory.limit_in_bytes' => "9223372036854771712\n",
	'sys/fs/cgroup/memory/app/memory.usage_in_bytes' => (512 * $MiB) . "\n",
	'sys/fs/cgroup/memory/app/memory.stat' => "total_inactive_file 0\ntotal_active_file 0\n");
is(memory_row($unlimited),
	sprintf('meminfo|-|%d|%d|%d|25.0', 16384000 * 1024, 4096000 * 1024, 10240000 * 1024),
	'an unlimited cgroup: the machine\'s memory (MemTotal, MemTotal - MemAvailable)');

# --- broken files: a malformed mountinfo, an empty limit; no error
my $broken = layout(
	'proc/self/cgroup' => "garbage\n0::\n4:memory\n",
	'proc/self/mountinfo' => "nonsense\n- - -\n" . ("x" x 10000) . "\n",
	'proc/meminfo' => $meminfo);
like(memory_row($broken), qr/^meminfo\|-\|16777216000\|/, 'malformed cgroup files: meminfo, no error');
my $none = $node->safe_psql('postgres', qq{SET pg_runbook.test_os_root = '$top/nothing';
	SELECT count(*), count(size_bytes) FROM runbook.host() WHERE kind = 'memory'});
is($none, '1|0', 'nothing readable: the memory row has no figures, no error');

# ---------------------------------------------------------------------
# The guard on the v2 layout.  Two sessions of app hold real private memory
# while they sleep; memory in use comes from the files: 95 % of 2 GiB.
my $limit = 2 * $GiB;
my $guard = layout(
	'proc/self/cgroup' => "0::/kubepods.slice/pod1\n",
	'proc/self/mountinfo' => $root_line . "30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
	'proc/meminfo' => $meminfo,
	'sys/fs/cgroup/kubepods.slice/pod1/memory.max' => "$limit\n",
	'sys/fs/cgroup/kubepods.slice/pod1/memory.current' => int(0.95 * $limit) . "\n",
	'sys/fs/cgroup/kubepods.slice/pod1/memory.stat' => stat_v2(0));
my %hog;
for my $h ([ 'big', 100 ], [ 'small', 30 ])
{
	my $s = $node->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'app' ]);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_until(qr/started/, qq{\\echo started
		SET application_name = 'hog-$h->[0]';
		SELECT cardinality(a), pg_sleep(300) FROM
		  (SELECT array_agg(repeat('x', 1000000)) a FROM generate_series(1, $h->[1])) s;
	});
	$hog{ $h->[0] } = { s => $s, pid => $pid };
}
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND application_name LIKE 'hog-%'}),
	'two sessions hold memory and sleep');
my ($big, $small) = map { sql("SELECT private_memory_bytes FROM runbook.backend_resources() WHERE pid = $hog{$_}{pid}") } qw(big small);
ok($big > 100 * $MiB && $big < 320 * $MiB && $small > 30 * $MiB && $small < $big,
	"backend_resources(): their private memory ($big, $small bytes)");

# triage() and metrics() read the same figure: SEV1 at 95 %, the remedy
# names the session holding the most private memory
my $tri = $node->safe_psql('postgres', qq{SET pg_runbook.test_os_root = '$guard';
	SELECT severity, finding, remedy_sql FROM runbook.triage() WHERE check_name = 'memory'});
like($tri, qr{^SEV1\|memory in use 95\.0% of the 2048 MB limit \(cgroup v2 /kubepods\.slice/pod1\): at 100 % the kernel ends a backend and the whole cluster restarts\|SELECT \* FROM runbook\.cancel\($hog{big}{pid}, 'memory: the largest private memory \(\d+ MB\)'\);$},
	'triage(): a SEV1 memory finding whose remedy cancels the largest');
is($node->safe_psql('postgres', qq{SET pg_runbook.test_os_root = '$guard';
	SELECT labels->>'source', value FROM runbook.metric_samples(ARRAY['pg_runbook_memory_used_ratio'])}),
	'cgroup v2|0.95', 'metric_samples(): pg_runbook_memory_used_ratio');

sql(qq{ALTER SYSTEM SET pg_runbook.test_os_root = '$guard'; SELECT pg_reload_conf();});
sql(q{INSERT INTO runbook.policies (name, states, min_memory_used_pct, min_private_memory_bytes, action, dry_run)
      VALUES ('mem90', '{active}', 90, 10000000, 'cancel', true)});
sub preview
{
	return sql(q{SELECT string_agg(application_name || ':' || action || ':' || outcome, ',' ORDER BY application_name)
	               FROM runbook.policy_preview()});
}
is(preview(), 'hog-big:cancel:dry_run',
	'mark 90 %, target 90 %: only the largest (95 % less it is below 90 %)');
like(sql(q{SELECT detail FROM runbook.policy_preview()}),
	qr{^memory in use 95\.0% of 2048 MB \(cgroup v2\) >= 90%, private memory \d+ MB >= 9766 kB$},
	'the detail: memory figure, its source, private memory and the floor');
sql(q{UPDATE runbook.policies SET target_memory_used_pct = 80 WHERE name = 'mem90'});
is(preview(), 'hog-big:cancel:dry_run,hog-small:cancel:dry_run',
	'target 80 %: the next largest too');
sql(q{UPDATE runbook.policies SET min_private_memory_bytes = } . ($small + $big) / 2 . q{ WHERE name = 'mem90'});
is(preview(), 'hog-big:cancel:dry_run', 'a floor between them: only the big one can be chosen');
sql(q{UPDATE runbook.policies SET min_memory_used_pct = 96, target_memory_used_pct = NULL WHERE name = 'mem90'});
is(preview(), '', 'below the mark: nothing');

# the worker acts: the largest is cancelled; the other is not in the same
# cycle (95 % less the largest is below the target).  The files do not
# change when memory is freed, so they are rewritten at once (as the
# kernel's would be); before that, the worker waits 500 ms after acting.
sql(q{UPDATE runbook.policies SET min_memory_used_pct = 90, min_private_memory_bytes = 10000000,
      dry_run = false WHERE name = 'mem90'});
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $hog{big}{pid} AND state = 'active'}),
	'the worker cancelled the largest');
open my $fh, '>', "$guard/sys/fs/cgroup/kubepods.slice/pod1/memory.current" or die $!;
print $fh int(0.95 * $limit) - $big, "\n";
close $fh;
ok($node->poll_query_until('postgres',
		q{SELECT count(*) >= 1 FROM runbook.recent_actions() WHERE actor = 'policy:mem90'}),
	'audited');
like(sql(q{SELECT application_name || ' ' || action || ' ' || outcome || ' ' || detail
	FROM runbook.recent_actions() WHERE actor = 'policy:mem90' ORDER BY acted_at LIMIT 1}),
	qr{^hog-big cancel cancelled memory in use 95\.0% of 2048 MB \(cgroup v2\) >= 90%, private memory \d+ MB >= 9766 kB$},
	'the audit has the v2 memory figure');
sleep 1;
is(sql(q{SELECT count(*) FROM runbook.recent_actions() WHERE actor = 'policy:mem90'
          AND acted_at < (SELECT min(acted_at) + interval '450 ms' FROM runbook.recent_actions()
                           WHERE actor = 'policy:mem90')}), '1',
	'only the largest was cancelled in that cycle (as far as the target), nothing else within 450 ms');
# (a loaded machine may take longer than the 500 ms to rewrite the file:
# then the worker, still reading 95 %, rightly ends the next largest, which
# the test above shows it did no sooner)
if (sql(qq{SELECT count(*) FROM runbook.recent_actions() WHERE actor = 'policy:mem90' AND pid = $hog{small}{pid}}) eq '0')
{
	is(sql(qq{SELECT state FROM pg_stat_activity WHERE pid = $hog{small}{pid}}), 'active',
		'the smaller session keeps running once memory in use is below the mark');
}
else
{
	diag('the file was rewritten after the 500 ms restraint: the smaller session was cancelled later');
}
sql(qq{SELECT pg_cancel_backend($hog{small}{pid})});
$_->{s}->quit for values %hog;

sql(q{ALTER SYSTEM RESET pg_runbook.test_os_root; SELECT pg_reload_conf();});
$node->stop('fast');
done_testing();
