/*-------------------------------------------------------------------------
 *
 * databases.h
 *		The whole-server mechanism (ARCHITECTURE.md, "Every database from
 *		one call"): a per-database check runs in every database of the
 *		server from one call, in a dynamic background worker connected to
 *		that database as the calling role, with its rows sent back over a
 *		shared-memory queue.
 *
 *		databases.c is the calling side (the SQL functions _on_databases()
 *		and _databases_probe(), the checks before any connection, the
 *		scheduling, the time budget and the clean-up); dbworker.c is the
 *		worker and owns the fixed list of checks.  This header is the
 *		contract between them: the layout of the dynamic shared memory
 *		segment of one worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_DATABASES_H
#define PG_RUNBOOK_DATABASES_H

#include "postgres.h"

#include "port/atomics.h"
#include "datatype/timestamp.h"

/* shm_toc magic and keys of one worker's segment */
#define RB_DBW_MAGIC			0x52424457	/* "RBDW" */
#define RB_DBW_KEY_FIXED		1
#define RB_DBW_KEY_ARGS			2
#define RB_DBW_KEY_ERRQ			3
#define RB_DBW_KEY_TUPQ			4

#define RB_DBW_ERRQ_SIZE		(16 * 1024)
#define RB_DBW_TUPQ_SIZE		(64 * 1024)
#define RB_DBW_MAX_COLS			100
#define RB_DBW_DETAIL_LEN		256
#define RB_DBW_VERSION_LEN		64

/*
 * What the worker found, written by the worker (before it detaches from the
 * tuple queue) and read by the caller once the queue is detached.  STARTING
 * when it ends means it never got that far: the reason is then the error it
 * sent (or, without one, that it exited without a result).
 */
typedef enum RbDbwState
{
	RB_DBW_STARTING = 0,
	RB_DBW_DONE,				/* the check ran; every row was sent */
	RB_DBW_NOT_INSTALLED,		/* pg_runbook is not installed there */
	RB_DBW_OTHER_VERSION,		/* installed at another version (detail) */
	RB_DBW_NO_OBJECT			/* installed, but the check's object is not
								 * a member of the extension there */
} RbDbwState;

/*
 * The fixed part of a worker's segment.  Everything the worker needs comes
 * from here: never SQL text.  The check is an index into the fixed list of
 * dbworker.c; the arguments are typed (built-in types only) and follow in
 * RB_DBW_KEY_ARGS, serialised with datumSerialize().
 */
typedef struct RbDbwFixed
{
	/* set by the caller before the worker starts */
	Oid			dbid;			/* the database to connect to */
	Oid			roleid;			/* the calling role (GetUserId()) */
	pid_t		leader_pid;
	int			check;			/* index in rb_db_checks[] */
	int			nargs;
	Oid			argtypes[FUNC_MAX_ARGS];
	int			ncols;			/* the row type the caller expects */
	Oid			coltypes[RB_DBW_MAX_COLS];
	int			budget_ms;		/* pg_runbook.per_database_timeout */
	TimestampTz deadline;		/* the end of the budget, as the caller
								 * counts it (set before the start) */
	int			test_delay_ms;	/* test builds: sleep before the check */
	char		extversion[RB_DBW_VERSION_LEN]; /* the caller's version */
	char		timezone[RB_DBW_VERSION_LEN];	/* the caller's TimeZone, or "" */

	/* set by the worker */
	pg_atomic_uint32 sending;	/* 1: the check has run (its transaction is
								 * over) and its rows are being sent; the
								 * budget no longer applies: the worker only
								 * waits for the caller to read them */
	pg_atomic_uint32 state;		/* RbDbwState */
	char		detail[RB_DBW_DETAIL_LEN];	/* e.g. the version found there */
	uint64		nrows;
} RbDbwFixed;

/* One entry of the fixed list of checks (dbworker.c). */
typedef enum RbDbCheckKind
{
	RB_DBCHECK_FUNCTION,		/* SELECT * FROM schema.object($1, ...) */
	RB_DBCHECK_VIEW,			/* SELECT * FROM schema.object */
	RB_DBCHECK_PROBE			/* nothing: is pg_runbook there, at which
								 * version */
} RbDbCheckKind;

typedef struct RbDbCheck
{
	const char *name;			/* the name callers use */
	const char *object;			/* function or view of the extension */
	RbDbCheckKind kind;
} RbDbCheck;

extern int	rb_db_check_lookup(const char *name);
extern const RbDbCheck *rb_db_check(int index);
extern char *rb_db_check_query(int index, const char *schema, int nargs);
extern bool rb_db_extension(Oid *extoid, Oid *nspoid, char **version);

/*
 * In a per-database worker (dbworker.c): true, and the end of the
 * database's time budget.  A check runs in one database only: a whole-server
 * call from inside a worker is refused (databases.c).
 */
extern bool rb_in_dbworker;
extern TimestampTz rb_dbworker_deadline;

/* the worker's entry point (dbworker.c) */
extern PGDLLEXPORT void rb_dbworker_main(Datum main_arg);

/* settings (databases.c) */
extern int	rb_per_database_workers;
extern int	rb_per_database_timeout_ms;
extern void rb_databases_define_gucs(void);

#endif							/* PG_RUNBOOK_DATABASES_H */
