/*-------------------------------------------------------------------------
 *
 * hostshot.c
 *		Reads the operating system (Linux) for runbook.host(),
 *		runbook.backend_resources() and the worker's memory and disk guards:
 *
 *	- memory: the server's own cgroup, found through /proc/self/cgroup and
 *	  /proc/self/mountinfo (v1: memory.limit_in_bytes, memory.usage_in_bytes;
 *	  v2: memory.max, memory.current; memory.stat for the page cache), and
 *	  every parent cgroup up to the mount point (a limit may be set above:
 *	  a Kubernetes pod around its containers); the tightest one that has a
 *	  limit below the machine's memory.  Without any, /proc/meminfo.
 *	- filesystems: statvfs of the data directory, pg_wal and each
 *	  tablespace, and the mount point from /proc/self/mountinfo;
 *	- temporary files: pgsql_tmp<pid>.* in each location's pgsql_tmp (and
 *	  the shared filesets, pgsql_tmp<pid>.<n>.fileset directories);
 *	- per process: private memory (RssAnon: resident less shared pages of
 *	  /proc/<pid>/statm, or RssAnon / RssShmem of /proc/<pid>/status),
 *	  /proc/<pid>/io, CPU time of /proc/<pid>/stat;
 *	- load averages and the CPUs the server may run on.
 *
 * "Used" memory is usage less the file-backed page cache (active and
 * inactive file pages), which the kernel reclaims before it kills: what is
 * left (anonymous memory, shared memory, kernel memory) is what an OOM kill
 * is about.  Shared buffers count there once (shmem), not per backend.
 *
 * A snapshot-layer module: plain reads of files, no shared memory, no
 * signals, nothing of pg_runbook but the settings (the test hook
 * pg_runbook.test_os_root, which puts every memory file under a directory
 * laid out like /, for tests of cgroup layouts this machine does not have).
 * The readers used by the worker's cheap check (rb_host_memory,
 * rb_host_statfs) use no palloc and raise no error: open/read/close into
 * stack buffers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#include <sys/statvfs.h>
#endif

#include "catalog/pg_tablespace_d.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "settings.h"
#include "hostshot.h"

#ifdef __linux__
#define RB_HOST_LINUX 1
#endif

bool
rb_host_supported(void)
{
#ifdef RB_HOST_LINUX
	return true;
#else
	return false;
#endif
}

void
rb_host_require(const char *what)
{
	if (!rb_host_supported())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not supported on this platform", what),
				 errdetail("It reads Linux's /proc and cgroup files."),
				 errhint("On other systems use the operating system's own tools (df, vmstat, ps).")));
}

#ifdef RB_HOST_LINUX

/* ---------- reading small files without palloc ---------- */

/* The whole file into buf (NUL-terminated, clipped); its length or -1. */
static ssize_t
read_file(const char *path, char *buf, size_t size)
{
	int			fd;
	ssize_t		total = 0;
	ssize_t		n = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (total < (ssize_t) size - 1 &&
		   (n = read(fd, buf + total, size - 1 - total)) > 0)
		total += n;
	close(fd);
	if (n < 0)
		return -1;
	buf[total] = '\0';
	return total;
}

/* Lines of a file of any length, through a fixed buffer. */
typedef struct LineReader
{
	int			fd;
	int			len;			/* bytes in buf */
	int			pos;			/* start of the next line */
	bool		eof;
	char		buf[8192];
} LineReader;

static bool
lr_open(LineReader *lr, const char *path)
{
	lr->fd = open(path, O_RDONLY | O_CLOEXEC);
	lr->len = lr->pos = 0;
	lr->eof = false;
	return lr->fd >= 0;
}

/* The next line, NUL-terminated, or NULL; a line longer than the buffer is clipped. */
static char *
lr_next(LineReader *lr)
{
	for (;;)
	{
		char	   *start = lr->buf + lr->pos;
		char	   *nl = memchr(start, '\n', lr->len - lr->pos);
		ssize_t		n;

		if (nl)
		{
			*nl = '\0';
			lr->pos = nl - lr->buf + 1;
			return start;
		}
		if (lr->eof)
		{
			if (lr->pos < lr->len)
			{
				lr->buf[lr->len] = '\0';
				lr->pos = lr->len;
				return start;
			}
			return NULL;
		}
		/* move the partial line to the front and read more */
		if (lr->pos > 0)
		{
			memmove(lr->buf, start, lr->len - lr->pos);
			lr->len -= lr->pos;
			lr->pos = 0;
		}
		if (lr->len >= (int) sizeof(lr->buf) - 1)
		{
			/* a line longer than the buffer: return what fits, drop the rest */
			char	   *line = lr->buf;
			bool		more = true;

			lr->buf[lr->len] = '\0';
			while (more)
			{
				char		c;

				n = read(lr->fd, &c, 1);
				more = (n == 1 && c != '\n');
				if (n <= 0)
					lr->eof = true;
			}
			lr->len = lr->pos = 0;
			return line;
		}
		n = read(lr->fd, lr->buf + lr->len, sizeof(lr->buf) - 1 - lr->len);
		if (n <= 0)
			lr->eof = true;
		else
			lr->len += n;
	}
}

static void
lr_close(LineReader *lr)
{
	if (lr->fd >= 0)
		close(lr->fd);
	lr->fd = -1;
}

/* the test hook's directory laid out like /, or "" */
static const char *
os_root(void)
{
#ifdef RB_TEST_HOOKS
	if (rb_test_os_root && rb_test_os_root[0])
		return rb_test_os_root;
#endif
	return "";
}

/* "key:   123 kB" lines: the value of 'key' in bytes (kB * 1024), or -1 */
static int64
kb_field(const char *text, const char *key)
{
	size_t		klen = strlen(key);
	const char *p = text;

	while (p && *p)
	{
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
		{
			int64		v = strtoll(p + klen + 1, NULL, 10);
			const char *unit = strchr(p + klen + 1, 'k');
			const char *eol = strchr(p, '\n');

			if (unit && (eol == NULL || unit < eol))
				v *= 1024;
			return v;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* "key value" lines (memory.stat, /proc/<pid>/io): the value, or -1 */
static int64
space_field(const char *text, const char *key)
{
	size_t		klen = strlen(key);
	const char *p = text;

	while (p && *p)
	{
		if (strncmp(p, key, klen) == 0 && (p[klen] == ' ' || p[klen] == ':'))
			return strtoll(p + klen + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* ---------- where the server's memory cgroup is ---------- */

#define CG_RECHECK_US	(10 * USECS_PER_SEC)

typedef struct CgroupWhere
{
	int			version;		/* 0: none, 1 or 2 */
	char		own[MAXPGPATH];	/* the server's cgroup directory */
	char		mount[MAXPGPATH];	/* the hierarchy's mount point */
	char		name[256];		/* the cgroup as /proc/self/cgroup names it */
	TimestampTz found_at;
	char		root[MAXPGPATH];	/* os_root() it was found under */
} CgroupWhere;

static CgroupWhere cg;

/* Undo mountinfo's octal escapes (\040 for a blank) in place. */
static void
unescape_octal(char *s)
{
	char	   *r = s,
			   *w = s;

	while (*r)
	{
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
			r[3] >= '0' && r[3] <= '7')
		{
			*w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		}
		else
			*w++ = *r++;
	}
	*w = '\0';
}

/* Is 'opt' one of the comma-separated items of 'list'? */
static bool
has_item(const char *list, const char *opt)
{
	size_t		olen = strlen(opt);
	const char *p = list;

	while (p && *p)
	{
		const char *end = strchr(p, ',');
		size_t		len = end ? (size_t) (end - p) : strlen(p);

		if (len == olen && strncmp(p, opt, olen) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/*
 * One line of /proc/self/mountinfo split into its fields: mount root,
 * mount point, filesystem type and super options.  False if malformed.
 */
static bool
split_mountinfo(char *line, char **root, char **point, char **fstype, char **superopts)
{
	char	   *f[6];
	int			i = 0;
	char	   *save = NULL;
	char	   *tok;
	bool		dash = false;

	*fstype = *superopts = NULL;
	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
	{
		if (!dash)
		{
			if (i < 6)
				f[i] = tok;
			if (strcmp(tok, "-") == 0 && i >= 6)
			{
				dash = true;
				i = 0;
				continue;
			}
			i++;
		}
		else
		{
			if (i == 0)
				*fstype = tok;
			else if (i == 2)
				*superopts = tok;
			i++;
		}
	}
	if (!dash || *fstype == NULL)
		return false;
	*root = f[3];
	*point = f[4];
	unescape_octal(*root);
	unescape_octal(*point);
	if (*superopts == NULL)
		*superopts = "";
	return true;
}

/*
 * Find the memory cgroup of this process: v1 (a "memory" controller line
 * and a cgroup mount with the memory option) before v2 (the "0::" line and
 * a cgroup2 mount whose directory for us has memory.current).
 */
static void
cgroup_find(void)
{
	const char *root = os_root();
	char		path[MAXPGPATH];
	char		v1name[256] = "",
				v2name[256] = "";
	bool		have_v1 = false,
				have_v2 = false;
	LineReader	reader;
	LineReader *lr = &reader;
	char	   *line;
	int			pass;

	memset(&cg, 0, sizeof(cg));
	cg.found_at = GetCurrentTimestamp();
	strlcpy(cg.root, root, sizeof(cg.root));

	snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
	if (lr_open(lr, path))
	{
		while ((line = lr_next(lr)) != NULL)
		{
			char	   *c1 = strchr(line, ':');
			char	   *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

			if (c2 == NULL)
				continue;
			*c2 = '\0';
			if (strncmp(line, "0:", 2) == 0 && c1[1] == '\0')
			{
				strlcpy(v2name, c2 + 1, sizeof(v2name));
				have_v2 = true;
			}
			else if (has_item(c1 + 1, "memory"))
			{
				strlcpy(v1name, c2 + 1, sizeof(v1name));
				have_v1 = true;
			}
		}
		lr_close(lr);
	}

	/* pass 1: v1, pass 2: v2 */
	for (pass = 1; pass <= 2 && cg.version == 0; pass++)
	{
		const char *name = pass == 1 ? v1name : v2name;

		if (!(pass == 1 ? have_v1 : have_v2))
			continue;
		snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
		if (!lr_open(lr, path))
			break;
		while ((line = lr_next(lr)) != NULL)
		{
			char	   *mroot,
					   *point,
					   *fstype,
					   *superopts;
			const char *rel;
			size_t		rlen;
			char		own[MAXPGPATH];
			struct stat st;

			if (!split_mountinfo(line, &mroot, &point, &fstype, &superopts))
				continue;
			if (pass == 1 && !(strcmp(fstype, "cgroup") == 0 && has_item(superopts, "memory")))
				continue;
			if (pass == 2 && strcmp(fstype, "cgroup2") != 0)
				continue;

			/* our cgroup's path below this mount's root */
			rlen = strlen(mroot);
			if (strcmp(mroot, "/") == 0)
				rel = name;
			else if (strncmp(name, mroot, rlen) == 0 && (name[rlen] == '/' || name[rlen] == '\0'))
				rel = name + rlen;
			else
				rel = "";		/* a cgroup namespace: the mount is ours */
			snprintf(own, sizeof(own), "%s%s%s", root, point,
					 strcmp(rel, "/") == 0 ? "" : rel);
			snprintf(path, sizeof(path), "%s/%s", own,
					 pass == 1 ? "memory.usage_in_bytes" : "memory.current");
			if (stat(path, &st) != 0)
				continue;
			cg.version = pass;
			strlcpy(cg.own, own, sizeof(cg.own));
			snprintf(cg.mount, sizeof(cg.mount), "%s%s", root, point);
			strlcpy(cg.name, name, sizeof(cg.name));
			break;
		}
		lr_close(lr);
	}
}

/* a limit, "max" meaning none; false if unreadable */
static bool
read_limit(const char *path, int64 *value, bool *unlimited)
{
	char		buf[64];

	if (read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	*unlimited = strncmp(buf, "max", 3) == 0;
	*value = *unlimited ? 0 : strtoll(buf, NULL, 10);
	return true;
}

/*
 * The cgroup directory 'dir' (named 'name'), if it has a limit below the
 * machine's memory: its figure replaces *best when it is tighter.
 */
static void
cgroup_level(const char *dir, const char *name, int64 memtotal,
			 RbMemory *best, bool *found)
{
	char		path[MAXPGPATH];
	char		statbuf[16384];
	int64		limit,
				usage,
				cache = 0;
	bool		unlimited;
	double		pct;
	int			v = cg.version;

	snprintf(path, sizeof(path), "%s/%s", dir, v == 1 ? "memory.limit_in_bytes" : "memory.max");
	if (!read_limit(path, &limit, &unlimited) || unlimited || limit <= 0 ||
		(memtotal > 0 && limit >= memtotal))
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, v == 1 ? "memory.usage_in_bytes" : "memory.current");
	if (!read_limit(path, &usage, &unlimited) || unlimited)
		return;
	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	if (read_file(path, statbuf, sizeof(statbuf)) > 0)
	{
		int64		inactive = -1,
					active = -1;

		if (v == 1)
		{
			/* hierarchical counts, as usage_in_bytes is */
			inactive = space_field(statbuf, "total_inactive_file");
			active = space_field(statbuf, "total_active_file");
		}
		if (inactive < 0)
			inactive = space_field(statbuf, "inactive_file");
		if (active < 0)
			active = space_field(statbuf, "active_file");
		cache = Max(inactive, 0) + Max(active, 0);
	}
	cache = Min(cache, usage);
	pct = 100.0 * (double) (usage - cache) / (double) limit;
	if (*found && pct <= best->used_pct)
		return;
	*found = true;
	best->source = v == 1 ? "cgroup v1" : "cgroup v2";
	strlcpy(best->cgroup, name, sizeof(best->cgroup));
	best->limit_bytes = limit;
	best->usage_bytes = usage;
	best->cache_bytes = cache;
	best->used_bytes = usage - cache;
	best->used_pct = pct;
}

bool
rb_host_memory(RbMemory *out)
{
	char		path[MAXPGPATH];
	char		buf[8192];
	int64		memtotal = 0;
	bool		meminfo_ok = false;
	bool		found = false;
	TimestampTz now = GetCurrentTimestamp();

	memset(out, 0, sizeof(RbMemory));

	snprintf(path, sizeof(path), "%s/proc/meminfo", os_root());
	if (read_file(path, buf, sizeof(buf)) > 0)
	{
		int64		avail = kb_field(buf, "MemAvailable");
		int64		freeb = kb_field(buf, "MemFree");

		memtotal = kb_field(buf, "MemTotal");
		if (memtotal > 0 && freeb >= 0)
		{
			if (avail < 0)		/* kernels before 3.14 */
				avail = freeb + Max(kb_field(buf, "Cached"), 0) + Max(kb_field(buf, "Buffers"), 0);
			avail = Min(avail, memtotal);
			meminfo_ok = true;
			out->source = "meminfo";
			out->limit_bytes = memtotal;
			out->usage_bytes = memtotal - freeb;
			out->used_bytes = memtotal - avail;
			out->cache_bytes = Max(out->usage_bytes - out->used_bytes, 0);
			out->used_pct = 100.0 * (double) out->used_bytes / (double) memtotal;
		}
	}

	/* where our cgroup is: found again every 10 s (or when the test root changes) */
	if (cg.found_at == 0 || now - cg.found_at >= CG_RECHECK_US || now < cg.found_at ||
		strcmp(cg.root, os_root()) != 0)
		cgroup_find();

	if (cg.version != 0)
	{
		char		dir[MAXPGPATH];
		char		name[256];
		size_t		mlen = strlen(cg.mount);
		RbMemory	best;

		memset(&best, 0, sizeof(best));
		strlcpy(dir, cg.own, sizeof(dir));
		strlcpy(name, cg.name[0] ? cg.name : "/", sizeof(name));
		for (;;)
		{
			char	   *slash;

			cgroup_level(dir, name, memtotal, &best, &found);
			if (strlen(dir) <= mlen)
				break;
			slash = strrchr(dir, '/');
			if (slash == NULL || (size_t) (slash - dir) < mlen)
				break;
			*slash = '\0';
			slash = strrchr(name, '/');
			if (slash && slash != name)
				*slash = '\0';
			else
				strcpy(name, "/");
		}
		if (found)
			*out = best;
	}
	return found || meminfo_ok;
}

/* ---------- filesystems ---------- */

void
rb_host_statfs(RbFsLocation *loc)
{
	struct statvfs vfs;
	struct stat st;

	loc->ok = false;
	loc->err = 0;
	if (statvfs(loc->path, &vfs) != 0 || stat(loc->path, &st) != 0)
	{
		loc->err = errno;
		return;
	}
	{
		uint64		frsize = vfs.f_frsize ? vfs.f_frsize : vfs.f_bsize;
		uint64		used = (uint64) (vfs.f_blocks - vfs.f_bfree) * frsize;
		uint64		avail = (uint64) vfs.f_bavail * frsize;

		loc->ok = true;
		loc->fsid = (uint64) st.st_dev;
		loc->size_bytes = (int64) ((uint64) vfs.f_blocks * frsize);
		loc->used_bytes = (int64) used;
		loc->free_bytes = (int64) avail;
		loc->used_pct = used + avail > 0 ? 100.0 * (double) used / (double) (used + avail) : 0;
		loc->inodes = (int64) vfs.f_files;
		loc->inodes_free = (int64) vfs.f_favail;
	}
}

static void
location_init(RbFsLocation *loc, RbLocKind kind, Oid spcoid, const char *where,
			  const char *tmpdir)
{
	char		real[PATH_MAX];

	memset(loc, 0, sizeof(RbFsLocation));
	loc->kind = kind;
	loc->spcoid = spcoid;
	if (realpath(where, real) != NULL)
		strlcpy(loc->path, real, sizeof(loc->path));
	else
		strlcpy(loc->path, where, sizeof(loc->path));
	if (tmpdir)
		strlcpy(loc->tmpdir, tmpdir, sizeof(loc->tmpdir));
	rb_host_statfs(loc);
}

int
rb_host_locations(RbFsLocation **out)
{
	int			n = 0,
				cap = 8;
	RbFsLocation *locs = palloc(sizeof(RbFsLocation) * cap);
	char		where[MAXPGPATH];
	char		tmpdir[MAXPGPATH];
	DIR		   *dir;
	struct dirent *de;

	snprintf(tmpdir, sizeof(tmpdir), "%s/base/%s", DataDir, PG_TEMP_FILES_DIR);
	location_init(&locs[n++], RB_LOC_DATA, DEFAULTTABLESPACE_OID, DataDir, tmpdir);
	snprintf(where, sizeof(where), "%s/pg_wal", DataDir);
	location_init(&locs[n++], RB_LOC_WAL, InvalidOid, where, NULL);

	snprintf(where, sizeof(where), "%s/pg_tblspc", DataDir);
	dir = AllocateDir(where);
	while ((de = ReadDirExtended(dir, where, DEBUG1)) != NULL)
	{
		Oid			oid;
		char	   *end;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		oid = (Oid) strtoul(de->d_name, &end, 10);
		if (*end != '\0' || oid == InvalidOid)
			continue;
		if (n == cap)
		{
			cap *= 2;
			locs = repalloc(locs, sizeof(RbFsLocation) * cap);
		}
		snprintf(where, sizeof(where), "%s/pg_tblspc/%u", DataDir, oid);
		snprintf(tmpdir, sizeof(tmpdir), "%s/pg_tblspc/%u/%s/%s", DataDir, oid,
				 TABLESPACE_VERSION_DIRECTORY, PG_TEMP_FILES_DIR);
		location_init(&locs[n++], RB_LOC_TABLESPACE, oid, where, tmpdir);
	}
	if (dir)
		FreeDir(dir);
	*out = locs;
	return n;
}

void
rb_host_mountpoint(const char *path, char *out, size_t outlen)
{
	LineReader *lr = palloc(sizeof(LineReader));
	char	   *line;
	size_t		best = 0;

	out[0] = '\0';
	if (!lr_open(lr, "/proc/self/mountinfo"))
	{
		pfree(lr);
		return;
	}
	while ((line = lr_next(lr)) != NULL)
	{
		char	   *mroot,
				   *point,
				   *fstype,
				   *superopts;
		size_t		len;

		if (!split_mountinfo(line, &mroot, &point, &fstype, &superopts))
			continue;
		len = strlen(point);
		/* the longest mount point that is a directory prefix of the path */
		if (strncmp(path, point, len) == 0 &&
			(path[len] == '/' || path[len] == '\0' || strcmp(point, "/") == 0) &&
			len >= best)
		{
			best = len;
			strlcpy(out, point, outlen);
		}
	}
	lr_close(lr);
	pfree(lr);
}

/* ---------- processes ---------- */

static void
proc_read(int pid, RbProcUse *u, int flags)
{
	char		path[64];
	char		buf[4096];

	u->rss_shmem = -1;
	if (flags & RB_HOST_PROC_STATUS)
	{
		/* RssAnon and RssShmem, by name */
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
		if (read_file(path, buf, sizeof(buf)) > 0)
		{
			u->rss_anon = kb_field(buf, "RssAnon");
			u->rss_shmem = kb_field(buf, "RssShmem");
			u->ok = u->rss_anon >= 0;
		}
	}
	else if (flags & RB_HOST_PROC_MEM)
	{
		/*
		 * statm, a sixth of the cost of status: resident less shared (file
		 * and shmem pages) is exactly RssAnon (the kernel's task_statm).
		 */
		snprintf(path, sizeof(path), "/proc/%d/statm", pid);
		if (read_file(path, buf, sizeof(buf)) > 0)
		{
			unsigned long long size,
						resident,
						shared;

			if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) == 3 &&
				resident >= shared)
			{
				long		page = sysconf(_SC_PAGESIZE);

				u->rss_anon = (int64) (resident - shared) * (page > 0 ? page : 4096);
				u->ok = true;
			}
		}
	}
	if (flags & RB_HOST_PROC_IO)
	{
		snprintf(path, sizeof(path), "/proc/%d/io", pid);
		if (read_file(path, buf, sizeof(buf)) > 0)
		{
			u->read_bytes = space_field(buf, "read_bytes");
			u->write_bytes = space_field(buf, "write_bytes");
			u->io_ok = u->read_bytes >= 0 && u->write_bytes >= 0;
		}
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		if (read_file(path, buf, sizeof(buf)) > 0)
		{
			/* fields after the command, which may hold blanks and ')' */
			char	   *p = strrchr(buf, ')');
			int			field = 2;
			unsigned long long utime = 0,
						stime = 0;

			while (p && *p && field < 15)
			{
				p = strchr(p, ' ');
				if (p == NULL)
					break;
				p++;
				field++;
				if (field == 14)
					utime = strtoull(p, NULL, 10);
				else if (field == 15)
					stime = strtoull(p, NULL, 10);
			}
			if (field == 15)
			{
				long		hz = sysconf(_SC_CLK_TCK);

				u->cpu_ok = true;
				u->cpu_seconds = (double) (utime + stime) / (double) (hz > 0 ? hz : 100);
			}
		}
	}
}

/* ---------- temporary files ---------- */

typedef struct PidIndex
{
	int			pid;
	int			idx;
} PidIndex;

static int
pid_index_cmp(const void *a, const void *b)
{
	int			pa = ((const PidIndex *) a)->pid;
	int			pb = ((const PidIndex *) b)->pid;

	return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/* bytes and files of a fileset directory (one level: its files) */
static int64
dir_bytes(const char *path, int *files)
{
	DIR		   *dir = AllocateDir(path);
	struct dirent *de;
	int64		bytes = 0;

	while ((de = ReadDirExtended(dir, path, DEBUG1)) != NULL)
	{
		char		f[MAXPGPATH];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
		if (lstat(f, &st) == 0 && S_ISREG(st.st_mode))
		{
			bytes += st.st_size;
			(*files)++;
		}
	}
	if (dir)
		FreeDir(dir);
	return bytes;
}

static void
scan_temp(RbHostShot *shot, PidIndex *index, int nindex)
{
	int			l;

	for (l = 0; l < shot->nlocs; l++)
	{
		RbFsLocation *loc = &shot->locs[l];
		DIR		   *dir;
		struct dirent *de;

		if (loc->tmpdir[0] == '\0')
			continue;
		dir = AllocateDir(loc->tmpdir);
		while ((de = ReadDirExtended(dir, loc->tmpdir, DEBUG1)) != NULL)
		{
			const char *p = de->d_name;
			char		f[MAXPGPATH];
			struct stat st;
			int64		bytes = 0;
			int			files = 0;
			PidIndex	key,
					   *hit;
			char	   *end;
			long		pid;

			if (strncmp(p, PG_TEMP_FILE_PREFIX, strlen(PG_TEMP_FILE_PREFIX)) != 0)
				continue;
			p += strlen(PG_TEMP_FILE_PREFIX);
			pid = strtol(p, &end, 10);
			if (end == p || *end != '.' || pid <= 0 || pid > INT_MAX)
				continue;
			snprintf(f, sizeof(f), "%s/%s", loc->tmpdir, de->d_name);
			if (lstat(f, &st) != 0)
				continue;		/* gone meanwhile */
			if (S_ISREG(st.st_mode))
			{
				bytes = st.st_size;
				files = 1;
			}
			else if (S_ISDIR(st.st_mode))
				bytes = dir_bytes(f, &files);	/* a shared fileset */
			else
				continue;

			loc->temp_bytes += bytes;
			loc->temp_files += files;
			key.pid = (int) pid;
			hit = nindex > 0 ? bsearch(&key, index, nindex, sizeof(PidIndex), pid_index_cmp) : NULL;
			if (hit)
			{
				RbProcUse  *u = &shot->procs[hit->idx];

				u->temp_bytes += bytes;
				u->temp_files += files;
				if (u->temp_by_loc == NULL)
					u->temp_by_loc = palloc0(sizeof(int64) * shot->nlocs);
				u->temp_by_loc[l] += bytes;
			}
			else
				shot->orphan_temp_bytes += bytes;
		}
		if (dir)
			FreeDir(dir);
	}
}

RbHostShot *
rb_hostshot_take(const int *pids, const bool *want, int n, int flags)
{
	RbHostShot *shot = palloc0(sizeof(RbHostShot));
	int			i;

	if (flags & RB_HOST_MEMORY)
		shot->memory_ok = rb_host_memory(&shot->memory);
	if (flags & (RB_HOST_FS | RB_HOST_TEMP))
		shot->nlocs = rb_host_locations(&shot->locs);
	shot->nprocs = n;
	shot->procs = palloc0(sizeof(RbProcUse) * Max(n, 1));
	if (flags & (RB_HOST_PROC_MEM | RB_HOST_PROC_STATUS | RB_HOST_PROC_IO))
	{
		for (i = 0; i < n; i++)
			if (want == NULL || want[i])
				proc_read(pids[i], &shot->procs[i], flags);
	}
	if (flags & RB_HOST_TEMP)
	{
		PidIndex   *index = palloc(sizeof(PidIndex) * Max(n, 1));
		int			nindex = 0;

		for (i = 0; i < n; i++)
			if (want == NULL || want[i])
			{
				index[nindex].pid = pids[i];
				index[nindex].idx = i;
				nindex++;
			}
		qsort(index, nindex, sizeof(PidIndex), pid_index_cmp);
		scan_temp(shot, index, nindex);
		pfree(index);
	}
	return shot;
}

/* ---------- load ---------- */

bool
rb_host_load(double *load1, double *load5, double *load15)
{
	double		l[3];

	if (getloadavg(l, 3) != 3)
		return false;
	*load1 = l[0];
	*load5 = l[1];
	*load15 = l[2];
	return true;
}

int
rb_host_cpus(void)
{
	cpu_set_t	set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set);
	return (int) sysconf(_SC_NPROCESSORS_ONLN);
}

#else							/* not Linux */

bool
rb_host_memory(RbMemory *out)
{
	memset(out, 0, sizeof(RbMemory));
	return false;
}

void
rb_host_statfs(RbFsLocation *loc)
{
	loc->ok = false;
	loc->err = ENOSYS;
}

int
rb_host_locations(RbFsLocation **out)
{
	*out = NULL;
	return 0;
}

void
rb_host_mountpoint(const char *path, char *out, size_t outlen)
{
	out[0] = '\0';
}

RbHostShot *
rb_hostshot_take(const int *pids, const bool *want, int n, int flags)
{
	RbHostShot *shot = palloc0(sizeof(RbHostShot));

	shot->nprocs = n;
	shot->procs = palloc0(sizeof(RbProcUse) * Max(n, 1));
	return shot;
}

bool
rb_host_load(double *load1, double *load5, double *load15)
{
	return false;
}

int
rb_host_cpus(void)
{
	return 0;
}

#endif							/* RB_HOST_LINUX */
