/*-------------------------------------------------------------------------
 *
 * databases.c
 *		Every database from one call (ARCHITECTURE.md, "Every database from
 *		one call"): the calling side of the whole-server mechanism.
 *
 *		runbook._on_databases(check, databases, rowtype [, args...]) runs one
 *		check of the fixed list (dbworker.c) in each database and returns
 *		its rows, each with the database's name, plus one summary row per
 *		database: checked, or why not.  runbook._databases_probe(databases)
 *		returns only the summary rows (and the pg_runbook version found):
 *		what a whole-server call would cover now.
 *
 * How, per database:
 *	- the current database: the check runs here, in the caller's
 *	  transaction, in a subtransaction (an error becomes that database's
 *	  reason; a cancel still cancels);
 *	- another database: first what PostgreSQL would refuse a connection of
 *	  the calling role (datallowconn, an invalid database, rolcanlogin, the
 *	  CONNECT privilege, the database's and the role's connection limits,
 *	  the slots reserved for superusers) is refused here, with the reason;
 *	  then a dynamic background worker (dbworker.c) connects there as the
 *	  calling role and runs the check; its rows come back over a shm_mq in
 *	  a dynamic shared memory segment of its own, its errors over a second
 *	  queue.
 *
 * Bounds: at most pg_runbook.per_database_workers checks at once (a worker
 * that has sent its last row and only exits does not count), and only as
 * many as free background-worker slots allow (a database waits for a slot
 * while one of ours holds one, and is reported when none can be had); each
 * database's check gets pg_runbook.per_database_timeout from its worker's
 * start, then it is reported as timed out and its worker is stopped.  A
 * worker whose check is over within it only waits for us to read its rows
 * (RbDbwFixed.sending): that wait, while we check our own database or run
 * the caller's SQL between _on_databases_start() and _collect(), is not
 * counted against the budget.  The caller
 * is never blocked on a lock: it only waits on its latch, interruptibly.
 *
 * Nothing is left running: each worker's segment carries an on_dsm_detach
 * callback that stops the worker (if it has not stopped) and waits for its
 * exit.  A segment is detached when its worker is done, and by the resource
 * owner or at process exit when the caller errors out (statement_timeout,
 * pg_cancel_backend, an error) or is terminated.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "databases.h"
#include "hostshot.h"
#include "snapshot.h"

PG_FUNCTION_INFO_V1(rb_on_databases);
PG_FUNCTION_INFO_V1(rb_databases_probe);
PG_FUNCTION_INFO_V1(rb_check_deadline);
PG_FUNCTION_INFO_V1(rb_on_databases_start);
PG_FUNCTION_INFO_V1(rb_on_databases_collect);

int			rb_per_database_workers = 2;
int			rb_per_database_timeout_ms = 10000;
#ifdef RB_TEST_HOOKS
static int	rb_test_per_database_delay_ms = 0;
static bool rb_test_no_segment = false;
#endif

/* datconnlimit of a database whose DROP DATABASE was interrupted */
#define RB_DATCONNLIMIT_INVALID_DB	(-2)

/*
 * The default of pg_runbook.per_database_workers: one more than the CPUs
 * the server may run on, at least 2 and at most 4.  A per-database worker
 * lives a few milliseconds and spends part of them waiting (the
 * postmaster's fork, its connection, the caller reading its rows): one
 * more than the CPUs keeps them busy.  At most 4: a call must leave
 * max_worker_processes slots (8 by default) to parallel query and to other
 * extensions.
 */
static int
rb_default_per_database_workers(void)
{
	int			n = rb_host_cpus();

	if (n <= 0)
		return 2;
	return Min(Max(n + 1, 2), 4);
}

void
rb_databases_define_gucs(void)
{
	rb_per_database_workers = rb_default_per_database_workers();
	DefineCustomIntVariable("pg_runbook.per_database_workers",
							"Most background workers one whole-server call runs at once (one per database).",
							"Each worker uses a max_worker_processes slot while it runs; a database waits for a free slot. Default: the CPUs the server may use plus one, between 2 and 4.",
							&rb_per_database_workers,
							rb_per_database_workers, 1, 64,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_runbook.per_database_timeout",
							"Time budget of one database in a whole-server call; a database that takes longer is reported as timed out.",
							NULL,
							&rb_per_database_timeout_ms,
							10000, 100, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

#ifdef RB_TEST_HOOKS
	DefineCustomIntVariable("pg_runbook.test_per_database_delay",
							"Test only: a per-database worker waits this long before its check.",
							"Used by the test suite for the time budget and cancellation. Leave at 0.",
							&rb_test_per_database_delay_ms,
							0, 0, 600000,
							PGC_SUSET,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("pg_runbook.test_per_database_no_segment",
							 "Test only: a whole-server call finds no dynamic shared memory segment left.",
							 "Used by the test suite for a server at its limit on segments. Leave off.",
							 &rb_test_no_segment,
							 false,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
#endif
}

/*
 * What stops a worker whose caller did not see it finish.  Lives in
 * TopMemoryContext: the callback runs when the segment is detached, which
 * on an error is after the query's memory is gone.
 */
typedef struct RbWorkerGuard
{
	BackgroundWorkerHandle *handle;
} RbWorkerGuard;

static void
rb_worker_guard_release(dsm_segment *seg, Datum arg)
{
	RbWorkerGuard *g = (RbWorkerGuard *) DatumGetPointer(arg);
	pid_t		pid;

	if (g->handle != NULL &&
		GetBackgroundWorkerPid(g->handle, &pid) != BGWH_STOPPED)
	{
		/*
		 * Stop it and wait until it has exited, so that nothing of this call
		 * runs on.  Interrupts are held: this runs during error clean-up or
		 * process exit, where another error must not be thrown.
		 */
		HOLD_INTERRUPTS();
		TerminateBackgroundWorker(g->handle);
		(void) WaitForBackgroundWorkerShutdown(g->handle);
		RESUME_INTERRUPTS();
	}
	if (g->handle != NULL)
		pfree(g->handle);
	pfree(g);
}

typedef enum RbTaskState
{
	RB_TASK_PENDING,			/* to start */
	RB_TASK_RUNNING,			/* worker started, rows may come */
	RB_TASK_EXITING,			/* its queue is closed, its exit awaited */
	RB_TASK_FINISHED
} RbTaskState;

/* one database of a call */
typedef struct RbDbTask
{
	Oid			dbid;
	NameData	datname;
	bool		is_current;
	RbTaskState state;
	/* the outcome */
	bool		checked;
	const char *code;
	char	   *reason;
	char	   *version;		/* pg_runbook's version there, if known */
	double		elapsed_ms;
	/* while running */
	TimestampTz started;
	TimestampTz deadline;
	bool		timed_out;
	dsm_segment *seg;
	RbDbwFixed *fixed;
	shm_mq_handle *tupq;
	shm_mq_handle *errq;
	RbWorkerGuard *guard;
	ErrorData  *error;			/* the first error the worker reported */
	Tuplestorestate *rows;		/* its rows, kept until it is checked */
} RbDbTask;

/* one call */
typedef struct RbFanout
{
	int			check;
	Oid			roleid;
	char	   *rolname;
	bool		superuser;
	bool		canlogin;
	int			rolconnlimit;
	char	   *schema;			/* pg_runbook's schema here */
	char	   *extversion;		/* pg_runbook's version here */
	int			nargs;
	Oid			argtypes[FUNC_MAX_ARGS];
	Datum		args[FUNC_MAX_ARGS];
	bool		argnulls[FUNC_MAX_ARGS];
	/* the row type of the check's rows (NULL for the probe) */
	TupleDesc	rowdesc;
	TupleDesc	wiredesc;		/* its columns without dropped ones */
	int		   *wiremap;		/* wire column -> rowdesc attribute */
	char	   *wirereg;		/* a reg* column: RB_REG_* */
	Datum	   *wvalues;		/* one received row */
	bool	   *wnulls;
	/* the output of _on_databases(): datname, summary, ..., r */
	TupleDesc	outdesc;
	Oid			rowtype;		/* the check's row type (0: the probe) */
	ResourceOwner segowner;		/* owner of the segments (NULL: current) */
	MemoryContext querycxt;		/* where the tuplestores live */
	ResourceOwner owner;		/* ... and whose temporary files they use:
								 * the caller's, so that they outlive the
								 * subtransaction of the local check */
	MemoryContext rowcxt;		/* reset after each row */
	int			ntasks;
	RbDbTask   *tasks;
	RbSnapshot *snap;			/* for the connection limits, taken once */
} RbFanout;

/* ---------- arguments and row types ---------- */

/* A type both sides share: built-in (same OID in every database). */
static bool
rb_builtin_type(Oid typid)
{
	return typid < FirstNormalObjectId && typid != RECORDOID &&
		typid != UNKNOWNOID && get_typtype(typid) != TYPTYPE_PSEUDO;
}

/*
 * reg* columns of another database's rows.  A regclass names a relation of
 * that database: always NULL here (pg_class there is not pg_class here).
 * The other reg* types name definitions (types, functions, operators,
 * roles...): one made by initdb (an OID below FirstNormalObjectId) is the
 * same object in every database, made from the same template; another is
 * NULL.
 */
#define RB_REG_NONE		0
#define RB_REG_CLASS	1
#define RB_REG_OTHER	2

static char
rb_reg_kind(Oid typid)
{
	switch (typid)
	{
		case REGCLASSOID:
			return RB_REG_CLASS;
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGTYPEOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGNAMESPACEOID:
		case REGROLEOID:
		case REGCOLLATIONOID:
			return RB_REG_OTHER;
		default:
			return RB_REG_NONE;
	}
}

/* The check's row type: every column of a built-in type. */
static void
rb_fanout_rowtype(RbFanout *fo, Oid rowtype)
{
	TupleDesc	desc;
	int			i,
				n = 0;

	if (get_typtype(rowtype) != TYPTYPE_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("rowtype must be a composite type, not %s", format_type_be(rowtype)),
				 errhint("Pass NULL::runbook.<view or type> as rowtype.")));
	desc = lookup_rowtype_tupdesc_copy(rowtype, -1);
	fo->rowdesc = desc;
	fo->wiremap = palloc(sizeof(int) * desc->natts);
	fo->wirereg = palloc(sizeof(char) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped)
			continue;
		if (!rb_builtin_type(a->atttypid))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of %s has type %s, which other databases do not share",
							NameStr(a->attname), format_type_be(rowtype), format_type_be(a->atttypid)),
					 errhint("A per-database check returns columns of built-in types only.")));
		fo->wiremap[n] = i;
		fo->wirereg[n] = rb_reg_kind(a->atttypid);
		n++;
	}
	if (n > RB_DBW_MAX_COLS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a per-database check returns at most %d columns", RB_DBW_MAX_COLS)));
	fo->wiredesc = CreateTemplateTupleDesc(n);
	for (i = 0; i < n; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, fo->wiremap[i]);

		TupleDescInitEntry(fo->wiredesc, (AttrNumber) (i + 1), NameStr(a->attname),
						   a->atttypid, a->atttypmod, 0);
	}
}

/* The typed arguments of the check (arguments firstarg.. of the call). */
static void
rb_fanout_args(RbFanout *fo, FunctionCallInfo fcinfo, int firstarg)
{
	int			i;

	if (PG_NARGS() <= firstarg)
		return;
	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pass the check's arguments one by one, not as a VARIADIC array")));
	fo->nargs = PG_NARGS() - firstarg;
	if (fo->nargs > FUNC_MAX_ARGS)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_ARGUMENTS),
				 errmsg("too many arguments for a per-database check")));
	for (i = 0; i < fo->nargs; i++)
	{
		Oid			t = get_fn_expr_argtype(fcinfo->flinfo, firstarg + i);
		int16		typlen;
		bool		typbyval;

		if (!OidIsValid(t) || !rb_builtin_type(t))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("argument %d of the check has type %s, which other databases do not share",
							i + 1, OidIsValid(t) ? format_type_be(t) : "unknown"),
					 errhint("Pass arguments of built-in types, with a cast where the type is not clear (e.g. 'x'::text).")));
		fo->argtypes[i] = t;
		fo->argnulls[i] = PG_ARGISNULL(firstarg + i);
		fo->args[i] = (Datum) 0;
		if (!fo->argnulls[i])
		{
			get_typlenbyval(t, &typlen, &typbyval);
			fo->args[i] = PG_GETARG_DATUM(firstarg + i);
			if (typlen == -1)
				fo->args[i] = PointerGetDatum(PG_DETOAST_DATUM(fo->args[i]));
			/* ours, in the call's memory (a started call outlives the expression) */
			fo->args[i] = datumCopy(fo->args[i], typbyval, typlen);
		}
	}
}

/* ---------- the databases of the call, and what refuses them ---------- */

static void
rb_fanout_role(RbFanout *fo)
{
	HeapTuple	tup;
	Form_pg_authid r;

	fo->roleid = GetUserId();
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(fo->roleid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for role %u", fo->roleid);
	r = (Form_pg_authid) GETSTRUCT(tup);
	fo->rolname = pstrdup(NameStr(r->rolname));
	fo->superuser = r->rolsuper;
	fo->canlogin = r->rolcanlogin;
	fo->rolconnlimit = r->rolconnlimit;
	ReleaseSysCache(tup);
}

/* pg_runbook's schema and version here */
static void
rb_fanout_extension(RbFanout *fo)
{
	Oid			extoid;
	Oid			nspoid;

	if (!rb_db_extension(&extoid, &nspoid, &fo->extversion) ||
		fo->extversion == NULL || strlen(fo->extversion) >= RB_DBW_VERSION_LEN)
		elog(ERROR, "pg_runbook: no usable extension version found");
	fo->schema = get_namespace_name(nspoid);
}

/* client backends now in a database / of a role (as InitPostgres counts) */
static int
rb_fanout_count(RbFanout *fo, Oid dbid, Oid roleid)
{
	int			i,
				n = 0;

	if (fo->snap == NULL)
		fo->snap = rb_snapshot_take(0);
	for (i = 0; i < fo->snap->nbackends; i++)
	{
		RbBackend  *b = &fo->snap->backends[i];

		if (b->backend_type != B_BACKEND || b->is_bgworker)
			continue;
		if ((OidIsValid(dbid) && b->dbid == dbid) ||
			(OidIsValid(roleid) && b->roleid == roleid))
			n++;
	}
	return n;
}

static void
rb_task_refuse(RbDbTask *t, const char *code, const char *fmt,...) pg_attribute_printf(3, 4);

static void
rb_task_refuse(RbDbTask *t, const char *code, const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	t->checked = false;
	t->code = code;
	t->reason = buf.data;
	t->state = RB_TASK_FINISHED;
}

/*
 * What PostgreSQL would refuse a connection of the calling role to this
 * database (pg_hba.conf aside: no client connection is made).  InitPostgres
 * checks the first four again in the worker; the limits it does not apply
 * to background workers, so they are applied here.
 */
static void
rb_task_precheck(RbFanout *fo, RbDbTask *t, Form_pg_database db)
{
	if (db->datconnlimit == RB_DATCONNLIMIT_INVALID_DB)
		rb_task_refuse(t, "invalid", "an invalid database (its DROP DATABASE was interrupted)");
	else if (!db->datallowconn)
		rb_task_refuse(t, "not_allowed", "the database does not allow connections (datallowconn is false)");
	else if (!fo->canlogin)
		rb_task_refuse(t, "cannot_login", "role \"%s\" may not log in (NOLOGIN): its connections are refused",
					   fo->rolname);
	else if (!fo->superuser &&
			 !DatumGetBool(DirectFunctionCall3(has_database_privilege_id_id,
											   ObjectIdGetDatum(fo->roleid),
											   ObjectIdGetDatum(t->dbid),
											   CStringGetTextDatum("CONNECT"))))
		rb_task_refuse(t, "no_privilege", "role \"%s\" has no CONNECT privilege on the database", fo->rolname);
	else if (!fo->superuser && db->datconnlimit >= 0 &&
			 rb_fanout_count(fo, t->dbid, InvalidOid) >= db->datconnlimit)
		rb_task_refuse(t, "connection_limit", "the database's connection limit (%d) is reached",
					   db->datconnlimit);
	else if (!fo->superuser && fo->rolconnlimit >= 0 &&
			 rb_fanout_count(fo, InvalidOid, fo->roleid) >= fo->rolconnlimit)
		rb_task_refuse(t, "connection_limit", "the connection limit of role \"%s\" (%d) is reached",
					   fo->rolname, fo->rolconnlimit);
	else if (!fo->superuser && !rb_ordinary_slot_free())
		rb_task_refuse(t, "no_slot", "no connection slot is left for role \"%s\" (the rest are reserved for superusers)",
					   fo->rolname);
}

static int
rb_task_cmp(const void *a, const void *b)
{
	return strcmp(NameStr(((const RbDbTask *) a)->datname),
				  NameStr(((const RbDbTask *) b)->datname));
}

/*
 * The databases of the call: every database but the templates (databases
 * NULL; with templates_too, the templates are listed as not checked) or the
 * named ones, templates included; an unknown name is an error.
 * Pre-checked.
 */
static void
rb_fanout_databases(RbFanout *fo, ArrayType *names, bool templates_too)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Datum	   *wanted = NULL;
	bool	   *wnulls = NULL;
	bool	   *found = NULL;
	int			nwanted = 0;
	int			cap = 16;
	int			i;

	if (names != NULL)
	{
		deconstruct_array(names, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
						  &wanted, &wnulls, &nwanted);
		found = palloc0(sizeof(bool) * Max(nwanted, 1));
	}
	fo->tasks = palloc0(sizeof(RbDbTask) * cap);
	fo->ntasks = 0;

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		RbDbTask   *t;
		bool		want = (names == NULL);

		for (i = 0; i < nwanted; i++)
			if (!wnulls[i] && strcmp(NameStr(*DatumGetName(wanted[i])), NameStr(db->datname)) == 0)
			{
				want = true;
				found[i] = true;
			}
		if (!want || (names == NULL && db->datistemplate && !templates_too))
			continue;
		if (fo->ntasks >= cap)
		{
			cap *= 2;
			fo->tasks = repalloc(fo->tasks, sizeof(RbDbTask) * cap);
		}
		t = &fo->tasks[fo->ntasks++];
		memset(t, 0, sizeof(RbDbTask));
		t->dbid = db->oid;
		namestrcpy(&t->datname, NameStr(db->datname));
		t->is_current = (db->oid == MyDatabaseId);
		t->state = RB_TASK_PENDING;
		if (t->is_current)
			continue;
		if (names == NULL && db->datistemplate)
			rb_task_refuse(t, "template",
						   "a template database: whole-server calls check it only when it is named");
		else
			rb_task_precheck(fo, t, db);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	for (i = 0; i < nwanted; i++)
		if (!wnulls[i] && !found[i])
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_DATABASE),
					 errmsg("database \"%s\" does not exist", NameStr(*DatumGetName(wanted[i]))),
					 errhint("runbook.databases() lists the databases and whether each can be checked.")));
	if (fo->ntasks > 1)
		qsort(fo->tasks, fo->ntasks, sizeof(RbDbTask), rb_task_cmp);
}

/* ---------- the rows of a check ---------- */

#define RB_OUT_NATTS	7		/* datname, summary, checked, code, reason,
								 * elapsed_ms, r */

/*
 * Keep one row of a database's check: the wire columns put into the row
 * type, regclass columns NULL for another database's row (their OIDs name
 * relations of that database and mean nothing here), other reg* columns
 * too unless initdb made the object (rb_reg_kind()).  The rows of a database
 * are kept apart until it is known to be checked: a check that fails half
 * way returns none of its rows.
 */
static void
rb_task_keep_row(RbFanout *fo, RbDbTask *t, Datum *wvalues, bool *wnulls)
{
	TupleDesc	rd = fo->rowdesc;
	MemoryContext old;
	Datum	   *rvalues;
	bool	   *rnulls;
	Datum		out[RB_OUT_NATTS];
	bool		onulls[RB_OUT_NATTS];
	int			i;
	ResourceOwner oldowner = CurrentResourceOwner;

	/* as PL/pgSQL does for its result, under the caller's resource owner */
	CurrentResourceOwner = fo->owner;
	if (t->rows == NULL)
	{
		old = MemoryContextSwitchTo(fo->querycxt);
		t->rows = tuplestore_begin_heap(false, false, work_mem);
		MemoryContextSwitchTo(old);
	}
	old = MemoryContextSwitchTo(fo->rowcxt);
	rvalues = palloc0(sizeof(Datum) * rd->natts);
	rnulls = palloc(sizeof(bool) * rd->natts);
	memset(rnulls, true, sizeof(bool) * rd->natts);
	for (i = 0; i < fo->wiredesc->natts; i++)
	{
		int			a = fo->wiremap[i];

		if (wnulls[i])
			continue;
		if (!t->is_current &&
			(fo->wirereg[i] == RB_REG_CLASS ||
			 (fo->wirereg[i] == RB_REG_OTHER &&
			  DatumGetObjectId(wvalues[i]) >= FirstNormalObjectId)))
			continue;
		rvalues[a] = wvalues[i];
		rnulls[a] = false;
	}
	memset(onulls, false, sizeof(onulls));
	out[0] = NameGetDatum(&t->datname);
	out[1] = BoolGetDatum(false);
	out[2] = BoolGetDatum(true);
	out[3] = out[4] = out[5] = (Datum) 0;
	onulls[3] = onulls[4] = onulls[5] = true;
	out[6] = HeapTupleGetDatum(heap_form_tuple(rd, rvalues, rnulls));
	tuplestore_putvalues(t->rows, fo->outdesc, out, onulls);
	MemoryContextSwitchTo(old);
	MemoryContextReset(fo->rowcxt);
	CurrentResourceOwner = oldowner;
}

/* ---------- the current database: here, in a subtransaction ---------- */

/*
 * The check in the caller's own database, in the caller's transaction.  An
 * error becomes the database's reason (its rows are dropped); a cancel
 * (statement_timeout, pg_cancel_backend) is re-thrown.
 */
static void
rb_task_run_here(RbFanout *fo, RbDbTask *t)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	TimestampTz start = GetCurrentTimestamp();
	const RbDbCheck *c = rb_db_check(fo->check);

	t->version = fo->extversion;
	if (c->kind == RB_DBCHECK_PROBE)
	{
		t->checked = true;
		t->state = RB_TASK_FINISHED;
		return;
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		char		nulls[FUNC_MAX_ARGS];
		Portal		portal;
		bool		first = true;
		int			i;

		for (i = 0; i < fo->nargs; i++)
			nulls[i] = fo->argnulls[i] ? 'n' : ' ';
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		portal = SPI_cursor_open_with_args(NULL,
										   rb_db_check_query(fo->check, fo->schema, fo->nargs),
										   fo->nargs, fo->argtypes, fo->args, nulls,
										   false, CURSOR_OPT_NO_SCROLL);
		for (;;)
		{
			uint64		j;
			TupleDesc	desc;

			SPI_cursor_fetch(portal, true, 1000);
			desc = SPI_tuptable->tupdesc;
			if (first)
			{
				bool		same = (desc->natts == fo->wiredesc->natts);

				for (i = 0; same && i < desc->natts; i++)
					same = (TupleDescAttr(desc, i)->atttypid ==
							TupleDescAttr(fo->wiredesc, i)->atttypid);
				if (!same)
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("pg_runbook check \"%s\" returns other columns than the caller expects",
									c->name)));
				first = false;
			}
			if (SPI_processed == 0)
				break;
			for (j = 0; j < SPI_processed; j++)
			{
				heap_deform_tuple(SPI_tuptable->vals[j], desc, fo->wvalues, fo->wnulls);
				rb_task_keep_row(fo, t, fo->wvalues, fo->wnulls);
			}
			SPI_freetuptable(SPI_tuptable);
			CHECK_FOR_INTERRUPTS();
		}
		SPI_cursor_close(portal);
		SPI_finish();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		t->checked = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		t->checked = false;
		t->code = "error";
		t->reason = psprintf("%s (SQLSTATE %s)", edata->message, unpack_sql_state(edata->sqlerrcode));
		if (t->rows != NULL)
			tuplestore_clear(t->rows);
	}
	PG_END_TRY();
	t->elapsed_ms = (double) (GetCurrentTimestamp() - start) / 1000.0;
	t->state = RB_TASK_FINISHED;
}

/* ---------- another database: a worker ---------- */

/* what rb_task_start() did */
typedef enum RbStartResult
{
	RB_START_STARTED,			/* the worker is registered */
	RB_START_NO_SLOT,			/* no background-worker slot is free */
	RB_START_REFUSED			/* no segment: the database is refused */
} RbStartResult;

/*
 * Start the worker of one database: its segment (the fixed part, the
 * arguments, the error and tuple queues), its guard, its registration.
 * Nothing is left over when it does not start: no background-worker slot
 * free (the database waits for one), or no dynamic shared memory segment
 * left (the server's limit on segments is reached: the database is
 * refused, with that reason, rather than the whole call failing).
 */
static RbStartResult
rb_task_start(RbFanout *fo, RbDbTask *t)
{
	shm_toc_estimator e;
	Size		argsz = 0;
	Size		segsize;
	dsm_segment *seg;
	shm_toc    *toc;
	RbDbwFixed *fixed;
	char	   *argspace;
	char	   *p;
	shm_mq	   *errmq;
	shm_mq	   *tupmq;
	BackgroundWorker w;
	BackgroundWorkerHandle *handle;
	RbWorkerGuard *guard;
	MemoryContext old;
	const char *tz;
	bool		ok;
	int			i;

	for (i = 0; i < fo->nargs; i++)
	{
		int16		typlen;
		bool		typbyval;

		get_typlenbyval(fo->argtypes[i], &typlen, &typbyval);
		argsz = add_size(argsz, datumEstimateSpace(fo->args[i], fo->argnulls[i], typbyval, typlen));
	}
	shm_toc_initialize_estimator(&e);
	shm_toc_estimate_chunk(&e, sizeof(RbDbwFixed));
	shm_toc_estimate_chunk(&e, Max(argsz, 1));
	shm_toc_estimate_chunk(&e, RB_DBW_ERRQ_SIZE);
	shm_toc_estimate_chunk(&e, RB_DBW_TUPQ_SIZE);
	shm_toc_estimate_keys(&e, 4);
	segsize = shm_toc_estimate(&e);

	{
		ResourceOwner oldowner = CurrentResourceOwner;

		if (fo->segowner != NULL)
			CurrentResourceOwner = fo->segowner;
#ifdef RB_TEST_HOOKS
		if (rb_test_no_segment)
			seg = NULL;
		else
#endif
			seg = dsm_create(segsize, DSM_CREATE_NULL_IF_MAXSEGMENTS);
		CurrentResourceOwner = oldowner;
	}
	if (seg == NULL)
	{
		rb_task_refuse(t, "no_shared_memory",
					   "no dynamic shared memory segment is left for its worker (the server's limit on segments is reached)");
		return RB_START_REFUSED;
	}
	toc = shm_toc_create(RB_DBW_MAGIC, dsm_segment_address(seg), segsize);

	fixed = shm_toc_allocate(toc, sizeof(RbDbwFixed));
	memset(fixed, 0, sizeof(RbDbwFixed));
	fixed->dbid = t->dbid;
	fixed->roleid = fo->roleid;
	fixed->leader_pid = MyProcPid;
	fixed->check = fo->check;
	fixed->nargs = fo->nargs;
	memcpy(fixed->argtypes, fo->argtypes, sizeof(Oid) * fo->nargs);
	fixed->ncols = fo->wiredesc ? fo->wiredesc->natts : 0;
	for (i = 0; i < fixed->ncols; i++)
		fixed->coltypes[i] = TupleDescAttr(fo->wiredesc, i)->atttypid;
	fixed->budget_ms = rb_per_database_timeout_ms;
	fixed->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), rb_per_database_timeout_ms);
#ifdef RB_TEST_HOOKS
	fixed->test_delay_ms = rb_test_per_database_delay_ms;
#endif
	strlcpy(fixed->extversion, fo->extversion, RB_DBW_VERSION_LEN);
	tz = GetConfigOption("TimeZone", true, false);
	if (tz != NULL && strlen(tz) < RB_DBW_VERSION_LEN)
		strlcpy(fixed->timezone, tz, RB_DBW_VERSION_LEN);
	pg_atomic_init_u32(&fixed->state, RB_DBW_STARTING);
	pg_atomic_init_u32(&fixed->sending, 0);
	shm_toc_insert(toc, RB_DBW_KEY_FIXED, fixed);

	argspace = shm_toc_allocate(toc, Max(argsz, 1));
	p = argspace;
	for (i = 0; i < fo->nargs; i++)
	{
		int16		typlen;
		bool		typbyval;

		get_typlenbyval(fo->argtypes[i], &typlen, &typbyval);
		datumSerialize(fo->args[i], fo->argnulls[i], typbyval, typlen, &p);
	}
	shm_toc_insert(toc, RB_DBW_KEY_ARGS, argspace);

	errmq = shm_mq_create(shm_toc_allocate(toc, RB_DBW_ERRQ_SIZE), RB_DBW_ERRQ_SIZE);
	shm_toc_insert(toc, RB_DBW_KEY_ERRQ, errmq);
	shm_mq_set_receiver(errmq, MyProc);
	tupmq = shm_mq_create(shm_toc_allocate(toc, RB_DBW_TUPQ_SIZE), RB_DBW_TUPQ_SIZE);
	shm_toc_insert(toc, RB_DBW_KEY_TUPQ, tupmq);
	shm_mq_set_receiver(tupmq, MyProc);

	/*
	 * The guard first, so that from the moment the worker exists, a detach
	 * of the segment (normal, on error, at exit) stops it.
	 */
	guard = MemoryContextAllocZero(TopMemoryContext, sizeof(RbWorkerGuard));
	on_dsm_detach(seg, rb_worker_guard_release, PointerGetDatum(guard));

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_ConsistentState;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "pg_runbook");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "rb_dbworker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "pg_runbook per-database check for pid %d", (int) MyProcPid);
	snprintf(w.bgw_type, BGW_MAXLEN, "pg_runbook per-database check");
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	w.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&w, &handle);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		dsm_detach(seg);
		return RB_START_NO_SLOT;
	}
	guard->handle = handle;

	t->seg = seg;
	t->fixed = fixed;
	t->guard = guard;
	t->errq = shm_mq_attach(errmq, seg, handle);
	t->tupq = shm_mq_attach(tupmq, seg, handle);
	t->started = GetCurrentTimestamp();
	t->deadline = TimestampTzPlusMilliseconds(t->started, rb_per_database_timeout_ms);
	t->state = RB_TASK_RUNNING;
	return RB_START_STARTED;
}

/* Read what the worker reported on its error queue (the first error). */
static void
rb_task_drain_errors(RbDbTask *t)
{
	for (;;)
	{
		Size		n;
		void	   *data;
		StringInfoData msg;
		char		msgtype;

		if (shm_mq_receive(t->errq, &n, &data, true) != SHM_MQ_SUCCESS)
			return;
		initStringInfo(&msg);
		appendBinaryStringInfo(&msg, data, (int) n);
		msgtype = pq_getmsgbyte(&msg);
		if (msgtype == 'E' && t->error == NULL)
		{
			ErrorData  *ed = palloc0(sizeof(ErrorData));

			pq_parse_errornotice(&msg, ed);
			t->error = ed;
		}
		/* notices and anything else: dropped */
		pfree(msg.data);
	}
}

/* Read the rows that arrived; true when the worker closed the queue. */
static bool
rb_task_drain_rows(RbFanout *fo, RbDbTask *t)
{
	for (;;)
	{
		Size		n;
		void	   *data;
		shm_mq_result res;
		HeapTupleData htup;

		res = shm_mq_receive(t->tupq, &n, &data, true);
		if (res == SHM_MQ_WOULD_BLOCK)
			return false;
		if (res == SHM_MQ_DETACHED)
			return true;
		if (fo->rowdesc == NULL)
			continue;			/* the probe sends none */
		htup.t_len = (uint32) n;
		htup.t_data = (HeapTupleHeader) data;
		htup.t_tableOid = InvalidOid;
		ItemPointerSetInvalid(&htup.t_self);
		heap_deform_tuple(&htup, fo->wiredesc, fo->wvalues, fo->wnulls);
		rb_task_keep_row(fo, t, fo->wvalues, fo->wnulls);
		CHECK_FOR_INTERRUPTS();
	}
}

/* The worker has exited: its outcome; its segment is released. */
static void
rb_task_finish(RbFanout *fo, RbDbTask *t)
{
	uint32		st = pg_atomic_read_u32(&t->fixed->state);
	char		detail[RB_DBW_DETAIL_LEN];

	pg_read_barrier();
	strlcpy(detail, t->fixed->detail, sizeof(detail));
	t->elapsed_ms = (double) (GetCurrentTimestamp() - t->started) / 1000.0;
	if (st == RB_DBW_DONE || st == RB_DBW_OTHER_VERSION || st == RB_DBW_NO_OBJECT)
		t->version = pstrdup(detail);
	if (st == RB_DBW_NO_OBJECT)
		t->version = pstrdup(fo->extversion);

	t->checked = false;
	/* the worker's own timer (the same budget, for a caller gone) says so too */
	if (st == RB_DBW_STARTING && t->error != NULL &&
		t->error->sqlerrcode == ERRCODE_QUERY_CANCELED &&
		t->error->message != NULL && strstr(t->error->message, "statement timeout") != NULL)
		t->timed_out = true;
	if (t->timed_out)
	{
		t->code = "timeout";
		t->reason = psprintf("timed out after %d ms (pg_runbook.per_database_timeout)",
							 rb_per_database_timeout_ms);
	}
	else if (st == RB_DBW_DONE)
		t->checked = true;
	else if (st == RB_DBW_NOT_INSTALLED)
	{
		t->code = "not_installed";
		t->reason = pstrdup("pg_runbook is not installed in this database");
	}
	else if (st == RB_DBW_OTHER_VERSION)
	{
		t->code = "other_version";
		t->reason = psprintf("pg_runbook %s is installed in this database, %s where the call ran",
							 detail, fo->extversion);
	}
	else if (st == RB_DBW_NO_OBJECT)
	{
		t->code = "other_version";
		t->reason = psprintf("pg_runbook in this database lacks %s", detail);
	}
	else if (t->error != NULL)
	{
		ErrorData  *ed = t->error;

		switch (ed->sqlerrcode)
		{
			case ERRCODE_QUERY_CANCELED:
				t->code = "timeout";
				break;
			case ERRCODE_INSUFFICIENT_PRIVILEGE:
				t->code = "no_privilege";
				break;
			case ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION:
				t->code = "cannot_login";
				break;
			case ERRCODE_LOCK_NOT_AVAILABLE:
				t->code = "locked";
				break;
			default:
				t->code = "error";
		}
		t->reason = psprintf("%s (SQLSTATE %s)", ed->message ? ed->message : "error",
							 unpack_sql_state(ed->sqlerrcode));
	}
	else
	{
		t->code = "error";
		t->reason = pstrdup("the per-database worker exited without a result");
	}
	if (!t->checked && t->rows != NULL)
		tuplestore_clear(t->rows);

	/* the worker has stopped: the guard only frees itself */
	dsm_detach(t->seg);
	t->seg = NULL;
	t->fixed = NULL;
	t->guard = NULL;
	t->state = RB_TASK_FINISHED;
}

/*
 * Start workers up to the limit: checks in progress.  A worker that has
 * sent its last row is only exiting (its exit is awaited, but holds up no
 * other database).  True when a database was refused meanwhile.
 */
static bool
rb_fanout_start_workers(RbFanout *fo)
{
	int			maxw = Min(rb_per_database_workers, max_worker_processes);
	int			active = 0;		/* checks in progress */
	int			busy = 0;		/* our workers that hold a slot */
	bool		progress = false;
	RbStartResult res;
	int			i;

	for (i = 0; i < fo->ntasks; i++)
	{
		if (fo->tasks[i].state == RB_TASK_RUNNING)
			active++;
		if (fo->tasks[i].state == RB_TASK_RUNNING || fo->tasks[i].state == RB_TASK_EXITING)
			busy++;
	}
	for (i = 0; i < fo->ntasks && active < maxw; i++)
	{
		RbDbTask   *t = &fo->tasks[i];

		if (t->state != RB_TASK_PENDING || t->is_current)
			continue;
		res = rb_task_start(fo, t);
		if (res == RB_START_STARTED)
		{
			active++;
			busy++;
		}
		else if (res == RB_START_REFUSED)
			progress = true;	/* reported; the next one */
		else if (busy == 0)
		{
			/* none of ours will free one: say so, and try the next */
			rb_task_refuse(t, "no_worker_slot",
						   "no background worker slot is free (max_worker_processes = %d)",
						   max_worker_processes);
			progress = true;
		}
		else
			break;				/* one of ours will end and free a slot */
	}
	return progress;
}

/*
 * Run the call: the current database here, the others in workers, at most
 * pg_runbook.per_database_workers at once, each within its time budget.
 * Returns when every database has its outcome.
 */
static void
rb_fanout_run(RbFanout *fo)
{
	bool		here_done = false;
	int			i;

	for (;;)
	{
		bool		more = false;
		bool		progress = false;
		long		timeout = -1;
		TimestampTz now;

		if (rb_fanout_start_workers(fo))
			progress = true;

		/* the current database, here, while the first workers start */
		if (!here_done)
		{
			here_done = true;
			for (i = 0; i < fo->ntasks; i++)
				if (fo->tasks[i].is_current && fo->tasks[i].state == RB_TASK_PENDING)
					rb_task_run_here(fo, &fo->tasks[i]);
		}

		now = GetCurrentTimestamp();
		for (i = 0; i < fo->ntasks; i++)
		{
			RbDbTask   *t = &fo->tasks[i];
			pid_t		pid;

			if (t->state == RB_TASK_PENDING)
			{
				more = true;
				continue;
			}
			if (t->state == RB_TASK_RUNNING)
			{
				rb_task_drain_errors(t);
				if (rb_task_drain_rows(fo, t))
				{
					rb_task_drain_errors(t);
					t->state = RB_TASK_EXITING;
					progress = true;
				}
			}
			if (t->state == RB_TASK_RUNNING || t->state == RB_TASK_EXITING)
			{
				if (GetBackgroundWorkerPid(t->guard->handle, &pid) == BGWH_STOPPED)
				{
					/* a worker that died without closing its queue */
					if (t->state == RB_TASK_RUNNING)
					{
						rb_task_drain_errors(t);
						(void) rb_task_drain_rows(fo, t);
					}
					rb_task_finish(fo, t);
					progress = true;
					continue;
				}
				if (t->state == RB_TASK_RUNNING &&
					pg_atomic_read_u32(&t->fixed->sending) != 0)
				{
					/*
					 * Its check is over within the budget: only its rows
					 * are left to read (it sets our latch as it sends).
					 * The budget bounds the check, never the caller's own
					 * work before it reads (its own database, or the SQL
					 * between _on_databases_start() and _collect()).
					 */
				}
				else if (now >= t->deadline)
				{
					/* over its budget: stop it; it is reported as timed out */
					if (!t->timed_out && t->state == RB_TASK_RUNNING)
						t->timed_out = true;
					TerminateBackgroundWorker(t->guard->handle);
					t->deadline = TimestampTzPlusMilliseconds(now, 1000);
				}
				else
				{
					long		ms = TimestampDifferenceMilliseconds(now, t->deadline);

					if (timeout < 0 || ms < timeout)
						timeout = Max(ms, 1);
				}
				more = true;
			}
		}
		if (!more)
			break;
		if (!progress)
		{
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout >= 0 ? WL_TIMEOUT : 0),
							 timeout, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/* ---------- the SQL functions ---------- */

static RbFanout *
rb_fanout_begin(FunctionCallInfo fcinfo, int check, int dbarg, bool templates_too,
				MemoryContext querycxt, ResourceOwner owner)
{
	RbFanout   *fo = palloc0(sizeof(RbFanout));

	/*
	 * A per-database check reads its own database: one that reached for
	 * the others would start workers from a worker, a call the caller's
	 * budget and worker limit do not bound.
	 */
	if (rb_in_dbworker)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a per-database check cannot check other databases"),
				 errhint("A per-database check calls the functions of its own database (runbook._bloat_report(), not runbook.bloat_report()).")));
	fo->check = check;
	fo->querycxt = querycxt;
	fo->owner = owner;
	fo->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_runbook per-database row",
									   ALLOCSET_DEFAULT_SIZES);
	rb_fanout_role(fo);
	rb_fanout_extension(fo);
	rb_fanout_databases(fo, PG_ARGISNULL(dbarg) ? NULL : PG_GETARG_ARRAYTYPE_P(dbarg), templates_too);
	return fo;
}

static int
rb_check_arg(FunctionCallInfo fcinfo)
{
	char	   *name;
	int			check;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("check must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check = rb_db_check_lookup(name);
	if (check < 0 || rb_db_check(check)->kind == RB_DBCHECK_PROBE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no per-database check named \"%s\"", name),
				 errhint("The checks are a fixed list (src/dbworker.c).")));
	return check;
}

/*
 * The result of a call: per database, in name order, its summary row and,
 * if it was checked, its rows.  The rows' tuplestores are released.
 */
static void
rb_fanout_output(RbFanout *fo, ReturnSetInfo *rsinfo)
{
	TupleTableSlot *slot;
	int			i;

	slot = MakeSingleTupleTableSlot(fo->outdesc, &TTSOpsMinimalTuple);
	for (i = 0; i < fo->ntasks; i++)
	{
		RbDbTask   *t = &fo->tasks[i];
		Datum		out[RB_OUT_NATTS];
		bool		onulls[RB_OUT_NATTS];

		memset(onulls, false, sizeof(onulls));
		out[0] = NameGetDatum(&t->datname);
		out[1] = BoolGetDatum(true);
		out[2] = BoolGetDatum(t->checked);
		out[3] = t->code ? CStringGetTextDatum(t->code) : (Datum) 0;
		onulls[3] = (t->code == NULL);
		out[4] = t->reason ? CStringGetTextDatum(t->reason) : (Datum) 0;
		onulls[4] = (t->reason == NULL);
		out[5] = Float8GetDatum(t->elapsed_ms);
		out[6] = (Datum) 0;
		onulls[6] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, onulls);
		if (t->checked && t->rows != NULL)
		{
			while (tuplestore_gettupleslot(t->rows, true, false, slot))
				tuplestore_puttupleslot(rsinfo->setResult, slot);
		}
		if (t->rows != NULL)
			tuplestore_end(t->rows);
		t->rows = NULL;
	}
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * runbook._on_databases(check text, databases name[], rowtype anyelement
 *						 [, VARIADIC args "any"])
 *	 RETURNS TABLE (datname name, summary boolean, checked boolean, code text,
 *					reason text, elapsed_ms float8, r anyelement)
 *
 * Per database, in name order: one summary row (r NULL; checked, or code
 * and reason), then its rows (summary false), only if it was checked.
 */
Datum
rb_on_databases(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			check = rb_check_arg(fcinfo);
	Oid			rowtype = get_fn_expr_argtype(fcinfo->flinfo, 2);
	RbFanout   *fo;

	InitMaterializedSRF(fcinfo, 0);
	fo = rb_fanout_begin(fcinfo, check, 1, false,
						 rsinfo->econtext->ecxt_per_query_memory, CurrentResourceOwner);
	fo->outdesc = rsinfo->setDesc;
	fo->rowtype = rowtype;
	rb_fanout_rowtype(fo, rowtype);
	rb_fanout_args(fo, fcinfo, 3);
	fo->wvalues = palloc(sizeof(Datum) * Max(fo->wiredesc->natts, 1));
	fo->wnulls = palloc(sizeof(bool) * Max(fo->wiredesc->natts, 1));

	rb_fanout_run(fo);
	rb_fanout_output(fo, rsinfo);
	return (Datum) 0;
}

/*
 * runbook._databases_probe(databases name[])
 *	 RETURNS TABLE (datname name, datid oid, is_current boolean,
 *					checked boolean, code text, reason text,
 *					extversion text, elapsed_ms float8)
 *
 * Whether each database can be checked now (a worker connects, finds
 * pg_runbook at this version, and stops), and why not.
 */
Datum
rb_databases_probe(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbFanout   *fo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	fo = rb_fanout_begin(fcinfo, rb_db_check_lookup("probe"), 0, true,
						 rsinfo->econtext->ecxt_per_query_memory, CurrentResourceOwner);
	rb_fanout_run(fo);

	for (i = 0; i < fo->ntasks; i++)
	{
		RbDbTask   *t = &fo->tasks[i];
		Datum		out[8];
		bool		onulls[8];

		memset(onulls, false, sizeof(onulls));
		out[0] = NameGetDatum(&t->datname);
		out[1] = ObjectIdGetDatum(t->dbid);
		out[2] = BoolGetDatum(t->is_current);
		out[3] = BoolGetDatum(t->checked);
		out[4] = t->code ? CStringGetTextDatum(t->code) : (Datum) 0;
		onulls[4] = (t->code == NULL);
		out[5] = t->reason ? CStringGetTextDatum(t->reason) : (Datum) 0;
		onulls[5] = (t->reason == NULL);
		out[6] = t->version ? CStringGetTextDatum(t->version) : (Datum) 0;
		onulls[6] = (t->version == NULL || t->version[0] == '\0');
		out[7] = Float8GetDatum(t->elapsed_ms);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, onulls);
	}
	return (Datum) 0;
}

/*
 * runbook._check_deadline() RETURNS timestamptz
 *
 * In a per-database worker, the end of the database's time budget
 * (pg_runbook.per_database_timeout, as its caller counts it): a check with
 * time-bounded probes of its own (orphaned rows, migration tables) keeps
 * them within it and reports what it skipped, rather than losing the whole
 * database to the budget.  NULL anywhere else (the caller's own database:
 * its statement_timeout governs).
 */
Datum
rb_check_deadline(PG_FUNCTION_ARGS)
{
	if (!rb_in_dbworker || rb_dbworker_deadline == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(rb_dbworker_deadline);
}

/* ---------- a call started now, its rows collected later ---------- */

/*
 * runbook._on_databases_start(check, databases, rowtype [, args...]) starts
 * the workers of a call for the OTHER databases of the call (the caller
 * checks its own database itself meanwhile: that is the point) and returns
 * a handle; runbook._on_databases_collect(handle, rowtype) runs the call to
 * its end and returns what _on_databases() would, without the current
 * database.  The first pg_runbook.per_database_workers workers start at
 * once; the rest, the time budgets and the rows are handled by collect.
 *
 * A started call lives until it is collected or its transaction ends: its
 * memory is a child of TopTransactionContext, its segments belong to the
 * transaction's resource owner (an error anywhere detaches them: their
 * guards stop the workers), and at commit a call never collected is
 * stopped the same way.  At most RB_MAX_STARTED calls per session.
 */
#define RB_MAX_STARTED 4

typedef struct RbStarted
{
	int64		id;				/* 0: a free slot */
	RbFanout   *fo;
	MemoryContext cxt;
} RbStarted;

static RbStarted rb_started[RB_MAX_STARTED];
static int64 rb_started_next = 1;
static bool rb_started_callback = false;

/* Stop what a started call still runs: detach its segments (the guards
 * stop the workers and wait for them) and drop its rows. */
static void
rb_started_stop(RbFanout *fo)
{
	int			i;

	for (i = 0; i < fo->ntasks; i++)
	{
		RbDbTask   *t = &fo->tasks[i];

		if (t->seg != NULL)
		{
			dsm_detach(t->seg);
			t->seg = NULL;
		}
		if (t->rows != NULL)
		{
			tuplestore_end(t->rows);
			t->rows = NULL;
		}
	}
}

static void
rb_started_xact_callback(XactEvent event, void *arg)
{
	int			i;

	for (i = 0; i < RB_MAX_STARTED; i++)
	{
		if (rb_started[i].id == 0)
			continue;
		switch (event)
		{
			case XACT_EVENT_PRE_COMMIT:
			case XACT_EVENT_PARALLEL_PRE_COMMIT:
			case XACT_EVENT_PRE_PREPARE:
				/* never collected: stopped now, before the transaction's end */
				rb_started_stop(rb_started[i].fo);
				break;
			default:
				/*
				 * The end (commit or abort): the memory goes with the
				 * transaction; on abort the resource owner detaches the
				 * segments (the guards stop the workers).
				 */
				rb_started[i].id = 0;
				rb_started[i].fo = NULL;
				rb_started[i].cxt = NULL;
				break;
		}
	}
}

static RbStarted *
rb_started_find(int64 id)
{
	int			i;

	for (i = 0; i < RB_MAX_STARTED; i++)
		if (rb_started[i].id == id && id != 0)
			return &rb_started[i];
	return NULL;
}

/*
 * runbook._on_databases_start(check text, databases name[], rowtype
 *							   anyelement [, VARIADIC args "any"])
 *	 RETURNS bigint
 */
Datum
rb_on_databases_start(PG_FUNCTION_ARGS)
{
	int			check = rb_check_arg(fcinfo);
	Oid			rowtype = get_fn_expr_argtype(fcinfo->flinfo, 2);
	RbStarted  *slot = NULL;
	MemoryContext cxt;
	MemoryContext old;
	RbFanout   *fo;
	int			i,
				n;

	for (i = 0; i < RB_MAX_STARTED; i++)
		if (rb_started[i].id == 0)
		{
			slot = &rb_started[i];
			break;
		}
	if (slot == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most %d per-database calls may be started and not collected at once", RB_MAX_STARTED),
				 errhint("Collect a started call with runbook._on_databases_collect().")));
	if (!rb_started_callback)
	{
		RegisterXactCallback(rb_started_xact_callback, NULL);
		rb_started_callback = true;
	}

	cxt = AllocSetContextCreate(TopTransactionContext, "pg_runbook started per-database call",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	fo = rb_fanout_begin(fcinfo, check, 1, false, cxt, TopTransactionResourceOwner);
	fo->segowner = TopTransactionResourceOwner;
	fo->rowtype = rowtype;
	rb_fanout_rowtype(fo, rowtype);
	rb_fanout_args(fo, fcinfo, 3);
	fo->wvalues = palloc(sizeof(Datum) * Max(fo->wiredesc->natts, 1));
	fo->wnulls = palloc(sizeof(bool) * Max(fo->wiredesc->natts, 1));
	/* the result's layout: datname, summary, checked, code, reason, elapsed_ms, r */
	fo->outdesc = CreateTemplateTupleDesc(RB_OUT_NATTS);
	TupleDescInitEntry(fo->outdesc, 1, "datname", NAMEOID, -1, 0);
	TupleDescInitEntry(fo->outdesc, 2, "summary", BOOLOID, -1, 0);
	TupleDescInitEntry(fo->outdesc, 3, "checked", BOOLOID, -1, 0);
	TupleDescInitEntry(fo->outdesc, 4, "code", TEXTOID, -1, 0);
	TupleDescInitEntry(fo->outdesc, 5, "reason", TEXTOID, -1, 0);
	TupleDescInitEntry(fo->outdesc, 6, "elapsed_ms", FLOAT8OID, -1, 0);
	TupleDescInitEntry(fo->outdesc, 7, "r", rowtype, -1, 0);

	/* the caller checks its own database itself */
	for (i = 0, n = 0; i < fo->ntasks; i++)
		if (!fo->tasks[i].is_current)
			fo->tasks[n++] = fo->tasks[i];
	fo->ntasks = n;

	(void) rb_fanout_start_workers(fo);
	MemoryContextSwitchTo(old);

	slot->id = rb_started_next++;
	slot->fo = fo;
	slot->cxt = cxt;
	PG_RETURN_INT64(slot->id);
}

/*
 * runbook._on_databases_collect(handle bigint, rowtype anyelement)
 *	 RETURNS TABLE (datname name, summary boolean, checked boolean, code text,
 *					reason text, elapsed_ms float8, r anyelement)
 */
Datum
rb_on_databases_collect(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RbStarted  *volatile st = PG_ARGISNULL(0) ? NULL : rb_started_find(PG_GETARG_INT64(0));
	Oid			rowtype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	RbFanout   *volatile fo;
	MemoryContext old;

	if (st == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no started per-database call with this handle in this transaction"),
				 errhint("runbook._on_databases_start() returns the handle; a call is collected once.")));
	fo = st->fo;
	if (rowtype != fo->rowtype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("rowtype %s is not the one the call was started with (%s)",
						format_type_be(rowtype), format_type_be(fo->rowtype))));
	InitMaterializedSRF(fcinfo, 0);

	/*
	 * The call's memory and resource owner stay those of its start.  An
	 * error (a cancel) while it runs stops it at once, even when a
	 * subtransaction catches the error: the call is over either way.
	 */
	old = MemoryContextSwitchTo(st->cxt);
	PG_TRY();
	{
		rb_fanout_run(fo);
	}
	PG_CATCH();
	{
		rb_started_stop(fo);
		st->id = 0;
		st->fo = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	rb_fanout_output(fo, rsinfo);

	/* collected: its memory is released (its segments were, task by task) */
	st->id = 0;
	st->fo = NULL;
	MemoryContextDelete(st->cxt);
	st->cxt = NULL;
	return (Datum) 0;
}
