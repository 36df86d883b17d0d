/*
 * guard_sampler: the figure a memory or disk guard watches, sampled about
 * every millisecond, for bench/88_guards.sh (the time from the threshold
 * being crossed to the culprit's cancel).
 *
 *   guard_sampler mem  CGROUP_DIR MARK_PCT SECONDS   (cgroup v1)
 *   guard_sampler disk PATH       MARK_PCT SECONDS
 *
 * mem: (memory.usage_in_bytes - total_inactive_file - total_active_file of
 * memory.stat) / memory.limit_in_bytes, as pg_runbook counts it (page cache
 * is not "used"); disk: (f_blocks - f_bfree) / (f_blocks - f_bfree +
 * f_bavail) of statvfs, as df and pg_runbook count it.
 *
 * Prints, when it ends (after SECONDS, or on SIGTERM / SIGINT):
 *   cross <unix time in microseconds> <pct>   first sample at or above MARK
 *                                             ("cross - -" if none)
 *   peak <pct> <samples>                      the highest figure seen
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/statvfs.h>
#include <sys/time.h>

static volatile sig_atomic_t stop = 0;

static void
on_signal(int sig)
{
	(void) sig;
	stop = 1;
}

static long long
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long) tv.tv_sec * 1000000 + tv.tv_usec;
}

static int
read_file(const char *path, char *buf, size_t size)
{
	int			fd = open(path, O_RDONLY);
	ssize_t		n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return (int) n;
}

static long long
field(const char *text, const char *key)
{
	size_t		k = strlen(key);
	const char *p = text;

	while (p && *p)
	{
		if (strncmp(p, key, k) == 0 && p[k] == ' ')
			return atoll(p + k + 1);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *mode,
			   *path;
	double		mark,
				peak = 0;
	long long	end,
				cross_at = 0;
	double		cross_pct = 0;
	long		samples = 0;
	long long	limit = 0;
	char		f[4096],
				buf[16384];

	if (argc != 5)
	{
		fprintf(stderr, "usage: %s mem|disk PATH MARK_PCT SECONDS\n", argv[0]);
		return 2;
	}
	mode = argv[1];
	path = argv[2];
	mark = atof(argv[3]);
	end = now_us() + (long long) (atof(argv[4]) * 1e6);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (strcmp(mode, "mem") == 0)
	{
		snprintf(f, sizeof(f), "%s/memory.limit_in_bytes", path);
		if (read_file(f, buf, sizeof(buf)) <= 0)
		{
			perror(f);
			return 1;
		}
		limit = atoll(buf);
	}
	while (!stop && now_us() < end)
	{
		double		pct = -1;

		if (limit > 0)
		{
			long long	usage,
						cache;

			snprintf(f, sizeof(f), "%s/memory.usage_in_bytes", path);
			if (read_file(f, buf, sizeof(buf)) <= 0)
				break;
			usage = atoll(buf);
			snprintf(f, sizeof(f), "%s/memory.stat", path);
			if (read_file(f, buf, sizeof(buf)) <= 0)
				break;
			cache = field(buf, "total_inactive_file") + field(buf, "total_active_file");
			pct = 100.0 * (double) (usage - cache) / (double) limit;
		}
		else
		{
			struct statvfs v;
			double		used,
						avail;

			if (statvfs(path, &v) != 0)
				break;
			used = (double) (v.f_blocks - v.f_bfree) * v.f_frsize;
			avail = (double) v.f_bavail * v.f_frsize;
			pct = used + avail > 0 ? 100.0 * used / (used + avail) : 0;
		}
		samples++;
		if (pct > peak)
			peak = pct;
		if (cross_at == 0 && pct >= mark)
		{
			cross_at = now_us();
			cross_pct = pct;
		}
		usleep(1000);
	}
	if (cross_at)
		printf("cross %lld %.2f\n", cross_at, cross_pct);
	else
		printf("cross - -\n");
	printf("peak %.2f %ld\n", peak, samples);
	return 0;
}
