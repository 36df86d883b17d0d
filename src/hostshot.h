/*-------------------------------------------------------------------------
 *
 * hostshot.h
 *		What the operating system says about the server (hostshot.c, Linux):
 *		the memory it may use and uses (its own cgroup, else /proc/meminfo),
 *		the filesystems of its data directory, pg_wal and tablespaces, the
 *		temporary files of each backend, and per process private memory,
 *		I/O and CPU time from /proc.  A snapshot-layer module: it reads
 *		files, never shared memory, and never signals.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_HOSTSHOT_H
#define PG_RUNBOOK_HOSTSHOT_H

#include "postgres.h"

/* Is this platform supported (Linux)?  Elsewhere every reader fails. */
extern bool rb_host_supported(void);
/* ERROR "not supported on this platform" (errcode, hint) unless supported */
extern void rb_host_require(const char *what);

/* ---------- memory ---------- */

typedef struct RbMemory
{
	const char *source;			/* "cgroup v1", "cgroup v2" or "meminfo" */
	char		cgroup[256];	/* the limiting cgroup ("" for meminfo) */
	int64		limit_bytes;	/* what the server may use */
	int64		usage_bytes;	/* the kernel's count, page cache included */
	int64		cache_bytes;	/* file-backed page cache (reclaimable) */
	int64		used_bytes;		/* usage less the cache: what cannot be
								 * reclaimed without swap */
	double		used_pct;		/* used of limit */
} RbMemory;

/*
 * The memory figure of the server: of its own cgroup and every parent
 * that has a limit below the machine's memory, and of the machine
 * (/proc/meminfo), the one with the highest used_pct.  Cheap (a few small
 * files; where the cgroup is, is found once and again every 10 s); no
 * palloc.  False if nothing could be read.
 */
extern bool rb_host_memory(RbMemory *out);

/* ---------- filesystems ---------- */

typedef enum RbLocKind
{
	RB_LOC_DATA,				/* the data directory (pg_default, pg_global) */
	RB_LOC_WAL,					/* pg_wal */
	RB_LOC_TABLESPACE			/* pg_tblspc/<oid> */
} RbLocKind;

typedef struct RbFsLocation
{
	RbLocKind	kind;
	Oid			spcoid;			/* the tablespace (pg_default for data) */
	char		path[MAXPGPATH];	/* as configured (symlinks resolved) */
	char		tmpdir[MAXPGPATH];	/* its pgsql_tmp; "" for pg_wal */
	bool		ok;				/* statvfs succeeded */
	int			err;			/* its errno otherwise */
	uint64		fsid;			/* identifies the filesystem (st_dev) */
	int64		size_bytes;
	int64		used_bytes;
	int64		free_bytes;		/* available to the server (not root) */
	double		used_pct;		/* used of used + free, as df */
	int64		inodes;			/* 0: the filesystem has no inode count */
	int64		inodes_free;
	int64		temp_bytes;		/* its temporary files (RB_HOST_TEMP) */
	int			temp_files;
} RbFsLocation;

/* data directory, pg_wal, each tablespace; with their statvfs */
extern int	rb_host_locations(RbFsLocation **out);
/* statvfs again (cheap) */
extern void rb_host_statfs(RbFsLocation *loc);
/* the mount point holding a path (from /proc/self/mountinfo), or "" */
extern void rb_host_mountpoint(const char *path, char *out, size_t outlen);

/* ---------- processes ---------- */

typedef struct RbProcUse
{
	bool		ok;				/* private memory was read */
	int64		rss_anon;		/* private memory (RssAnon) */
	int64		rss_shmem;		/* shared memory touched (RssShmem); -1
								 * unless RB_HOST_PROC_STATUS */
	bool		io_ok;
	int64		read_bytes;		/* /proc/<pid>/io: storage reads */
	int64		write_bytes;	/* storage writes */
	bool		cpu_ok;
	double		cpu_seconds;	/* user + system */
	int64		temp_bytes;		/* temporary files, every location */
	int			temp_files;
	int64	   *temp_by_loc;	/* per location of the shot; NULL if none */
} RbProcUse;

/* what rb_hostshot_take reads */
#define RB_HOST_MEMORY		0x01	/* rb_host_memory */
#define RB_HOST_FS			0x02	/* the locations, statvfs */
#define RB_HOST_PROC_MEM	0x04	/* private memory of wanted pids
									 * (/proc/<pid>/statm: 5 us a process) */
#define RB_HOST_PROC_IO		0x08	/* /proc/<pid>/io and stat */
#define RB_HOST_TEMP		0x10	/* temporary files of every location */
#define RB_HOST_PROC_STATUS	0x20	/* RssShmem too (/proc/<pid>/status: 30 us) */

typedef struct RbHostShot
{
	bool		memory_ok;
	RbMemory	memory;
	int			nlocs;
	RbFsLocation *locs;
	int			nprocs;			/* parallel to the pids asked for */
	RbProcUse  *procs;
	int64		orphan_temp_bytes;	/* temporary files of no pid asked for */
	bool		settling;		/* a guard acted moments ago and the figures
								 * have not risen since: the server-wide marks
								 * count as not reached (guard.c) */
} RbHostShot;

/*
 * One picture of the host for the pids given (want[i] false or want NULL
 * for all: whether to read pids[i]).  RB_HOST_TEMP needs RB_HOST_FS.
 * palloc'd in the current memory context.
 */
extern RbHostShot *rb_hostshot_take(const int *pids, const bool *want, int n,
									int flags);

/* ---------- load ---------- */

extern bool rb_host_load(double *load1, double *load5, double *load15);
extern int	rb_host_cpus(void);

#endif							/* PG_RUNBOOK_HOSTSHOT_H */
