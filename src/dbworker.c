/*-------------------------------------------------------------------------
 *
 * dbworker.c
 *		The per-database worker of the whole-server mechanism (databases.h,
 *		ARCHITECTURE.md "Every database from one call"), and the fixed list
 *		of checks it may run.
 *
 * A caller (databases.c) starts one dynamic background worker per database
 * to check.  The worker attaches to the caller's dynamic shared memory
 * segment, redirects its error reports to the segment's error queue (as
 * parallel workers do: a FATAL during the connection reaches the caller),
 * connects to the database AS THE CALLING ROLE with
 * BackgroundWorkerInitializeConnectionByOid() (so PostgreSQL itself applies
 * datallowconn, the CONNECT privilege and rolcanlogin to that role), fixes
 * its environment (read-only transactions, a pinned search_path, a short
 * lock_timeout, no parallel query), and runs ONE check of the fixed list
 * below: the check's function or view of the pg_runbook extension installed
 * in that database, which must be at the caller's version.  Its rows are
 * kept until its transaction has ended (no snapshot, no lock held while
 * the caller is busy elsewhere), then go back over the tuple queue as heap
 * tuples of built-in types; what it found (done, not installed, another
 * version) goes into the segment's fixed part.
 *
 * No SQL text crosses the segment: the caller names the check by its index
 * in rb_db_checks[] and passes typed arguments; the query is built here
 * from the entry, the schema of the extension found in that database and
 * the number of arguments.  The object must be a member of the extension
 * there (pg_depend), so nothing another role made can stand in for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "libpq/pqmq.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_runbook.h"
#include "databases.h"

/*
 * The fixed list of checks: the only things a per-database worker runs.
 * A check is a function or view of the pg_runbook extension, run in each
 * database as it is installed there.  Adding a check: one line here, and
 * the object in sql/objects/ (ARCHITECTURE.md has the recipe).
 */
bool		rb_in_dbworker = false;
TimestampTz rb_dbworker_deadline = 0;

static const RbDbCheck rb_db_checks[] = {
	{"probe", NULL, RB_DBCHECK_PROBE},
	{"triage_database", "_triage_database", RB_DBCHECK_FUNCTION},
	{"vacuum_status", "vacuum_status", RB_DBCHECK_VIEW},
	{"sizes", "_sizes_relations", RB_DBCHECK_VIEW},
	{"dead_tuples_top", "_dead_tuples_top", RB_DBCHECK_VIEW},
	{"relation_names", "_relation_names", RB_DBCHECK_FUNCTION},
	{"bloat_report", "_bloat_report", RB_DBCHECK_FUNCTION},
	{"index_advice", "_index_advice", RB_DBCHECK_FUNCTION},
	{"migration_status", "_migration_status", RB_DBCHECK_FUNCTION},
	{"integrity_check", "_integrity_check", RB_DBCHECK_FUNCTION},
	{"sequences_near_overflow", "_sequences_near_overflow", RB_DBCHECK_FUNCTION},
	{"wraparound_tables", "_wraparound_tables", RB_DBCHECK_VIEW},
};

/* index of a check by name, or -1 */
int
rb_db_check_lookup(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(rb_db_checks); i++)
		if (strcmp(rb_db_checks[i].name, name) == 0)
			return i;
	return -1;
}

const RbDbCheck *
rb_db_check(int index)
{
	Assert(index >= 0 && index < lengthof(rb_db_checks));
	return &rb_db_checks[index];
}

/*
 * The query of a check: SELECT * FROM schema.object($1, ..., $n) for a
 * function, SELECT * FROM schema.object for a view.  Both identifiers
 * quoted; nothing else goes in.  Also used by the caller for its own
 * database.
 */
char *
rb_db_check_query(int index, const char *schema, int nargs)
{
	const RbDbCheck *c = rb_db_check(index);
	StringInfoData q;
	int			i;

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT * FROM %s.%s",
					 quote_identifier(schema), quote_identifier(c->object));
	if (c->kind == RB_DBCHECK_FUNCTION)
	{
		appendStringInfoChar(&q, '(');
		for (i = 0; i < nargs; i++)
			appendStringInfo(&q, "%s$%d", i > 0 ? ", " : "", i + 1);
		appendStringInfoChar(&q, ')');
	}
	return q.data;
}

/* The caller went away (its end of the queue is detached): stop quietly. */
static void
rb_dbworker_caller_gone(void)
{
	ereport(DEBUG1,
			(errmsg("pg_runbook per-database check: the calling backend is gone")));
	proc_exit(0);
}

/* The state and detail the caller reads once the tuple queue is detached. */
static void
rb_dbworker_report(RbDbwFixed *fixed, RbDbwState state, const char *detail)
{
	if (detail != NULL)
		strlcpy(fixed->detail, detail, RB_DBW_DETAIL_LEN);
	pg_write_barrier();
	pg_atomic_write_u32(&fixed->state, (uint32) state);
}

/*
 * pg_runbook in this database: its OID, schema and version.  False when it
 * is not installed.  Read from the catalog directly (no SPI, no planning:
 * a worker starts with cold caches).  Also used by the caller.
 */
bool
rb_db_extension(Oid *extoid, Oid *nspoid, char **version)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("pg_runbook"));
	rel = table_open(ExtensionRelationId, AccessShareLock);
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		Form_pg_extension e = (Form_pg_extension) GETSTRUCT(tup);
		bool		isnull;
		Datum		v;

		*extoid = e->oid;
		*nspoid = e->extnamespace;
		v = heap_getattr(tup, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);
		*version = isnull ? NULL : TextDatumGetCString(v);
		found = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Is the check's object a member of the extension in this database, with
 * exactly these argument types (a function) or as a view?
 */
static bool
rb_dbworker_object_ok(const RbDbCheck *c, Oid extoid, Oid nspoid,
					  int nargs, const Oid *argtypes)
{
	if (c->kind == RB_DBCHECK_FUNCTION)
	{
		HeapTuple	tup;
		Oid			fn;

		tup = SearchSysCache3(PROCNAMEARGSNSP, CStringGetDatum(c->object),
							  PointerGetDatum(buildoidvector(argtypes, nargs)),
							  ObjectIdGetDatum(nspoid));
		if (!HeapTupleIsValid(tup))
			return false;
		fn = ((Form_pg_proc) GETSTRUCT(tup))->oid;
		ReleaseSysCache(tup);
		return getExtensionOfObject(ProcedureRelationId, fn) == extoid;
	}
	else
	{
		Oid			rel = get_relname_relid(c->object, nspoid);

		return OidIsValid(rel) && get_rel_relkind(rel) == RELKIND_VIEW &&
			getExtensionOfObject(RelationRelationId, rel) == extoid;
	}
}

/*
 * Test builds: wait this long before the check, inside its transaction
 * (the worker is then "active" in pg_stat_activity, and the time budget and
 * the caller's cancellation are what ends it).
 */
static void
rb_dbworker_test_delay(int ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);

		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The rows of a check, kept by the worker until its transaction is over.
 * The caller may be busy with its own database while the check runs (it
 * reads the queues only then): rows sent as they come would fill the queue
 * (RB_DBW_TUPQ_SIZE) and hold the check, its snapshot and its locks in
 * this database, until the budget ran out.  Kept here instead, they are
 * sent after the commit, when the worker holds nothing but a connection.
 */
typedef struct RbDbwRows
{
	MemoryContext cxt;
	HeapTuple  *tuples;
	int			n;
	int			cap;
} RbDbwRows;

static void
rb_dbworker_keep(RbDbwRows *rows, HeapTuple tup, TupleDesc desc)
{
	MemoryContext old = MemoryContextSwitchTo(rows->cxt);

	if (rows->n >= rows->cap)
	{
		rows->cap = rows->cap == 0 ? 256 : rows->cap * 2;
		rows->tuples = rows->tuples == NULL ?
			palloc(sizeof(HeapTuple) * rows->cap) :
			repalloc_huge(rows->tuples, sizeof(HeapTuple) * rows->cap);
	}
	/* TOAST pointers mean nothing to the caller: inline them */
	rows->tuples[rows->n++] = HeapTupleHasExternal(tup) ?
		toast_flatten_tuple(tup, desc) : heap_copytuple(tup);
	MemoryContextSwitchTo(old);
}

/*
 * Run the check and keep its rows.  In a transaction, SPI connected, a
 * snapshot pushed.  Returns the state to report.
 */
static RbDbwState
rb_dbworker_run(RbDbwFixed *fixed, RbDbwRows *rows, Datum *values,
				char *nulls, char *detail)
{
	const RbDbCheck *c = rb_db_check(fixed->check);
	Oid			extoid;
	Oid			nspoid;
	char	   *nspname;
	char	   *version;
	Portal		portal;
	bool		first = true;

	/* pg_runbook in this database: its schema and version */
	if (!rb_db_extension(&extoid, &nspoid, &version))
		return RB_DBW_NOT_INSTALLED;
	strlcpy(detail, version ? version : "", RB_DBW_DETAIL_LEN);
	if (version == NULL || strcmp(version, fixed->extversion) != 0)
		return RB_DBW_OTHER_VERSION;
	if (c->kind == RB_DBCHECK_PROBE)
		return RB_DBW_DONE;

	nspname = get_namespace_name(nspoid);
	if (nspname == NULL ||
		!rb_dbworker_object_ok(c, extoid, nspoid, fixed->nargs, fixed->argtypes))
	{
		snprintf(detail, RB_DBW_DETAIL_LEN, "%s", c->object);
		return RB_DBW_NO_OBJECT;
	}

	portal = SPI_cursor_open_with_args(NULL,
									   rb_db_check_query(fixed->check, nspname, fixed->nargs),
									   fixed->nargs, fixed->argtypes, values, nulls,
									   true, CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		uint64		i;
		TupleDesc	desc;

		SPI_cursor_fetch(portal, true, 1000);
		desc = SPI_tuptable->tupdesc;
		if (first)
		{
			/* the row type the caller expects, column for column */
			bool		same = (desc->natts == fixed->ncols);

			for (i = 0; same && i < desc->natts; i++)
				same = (TupleDescAttr(desc, i)->atttypid == fixed->coltypes[i]);
			if (!same)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("pg_runbook check \"%s\" returns other columns in this database than the caller expects",
								c->name)));
			first = false;
		}
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
			rb_dbworker_keep(rows, SPI_tuptable->vals[i], desc);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	return RB_DBW_DONE;
}

/*
 * Entry point: main_arg is the handle of the caller's segment.
 */
void
rb_dbworker_main(Datum main_arg)
{
	dsm_segment *seg;
	shm_toc    *toc;
	RbDbwFixed *fixed;
	shm_mq	   *mq;
	shm_mq_handle *errh;
	shm_mq_handle *tuph;
	char	   *argspace;
	Datum		values[FUNC_MAX_ARGS];
	char		nulls[FUNC_MAX_ARGS];
	char		detail[RB_DBW_DETAIL_LEN];
	RbDbwState	state;
	RbDbwRows	rows;
	int			i;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/*
	 * No resource owner yet: the mapping of the segment lasts until exit.
	 * A segment that is gone means the caller is gone.
	 */
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);
	toc = shm_toc_attach(RB_DBW_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		proc_exit(0);
	fixed = shm_toc_lookup(toc, RB_DBW_KEY_FIXED, false);
	rb_in_dbworker = true;
	rb_dbworker_deadline = fixed->deadline;

	/* from here on, errors (FATAL included) reach the caller */
	mq = shm_toc_lookup(toc, RB_DBW_KEY_ERRQ, false);
	shm_mq_set_sender(mq, MyProc);
	errh = shm_mq_attach(mq, seg, NULL);
	pq_redirect_to_shm_mq(seg, errh);

	mq = shm_toc_lookup(toc, RB_DBW_KEY_TUPQ, false);
	shm_mq_set_sender(mq, MyProc);
	tuph = shm_mq_attach(mq, seg, NULL);

	/*
	 * Connect as the calling role: InitPostgres refuses (FATAL, sent to the
	 * caller) a database that does not allow connections, a role without
	 * CONNECT on it, or a role that may not log in, as it would refuse that
	 * role's own connection.
	 */
	BackgroundWorkerInitializeConnectionByOid(fixed->dbid, fixed->roleid, 0);
	pgstat_report_appname("pg_runbook per-database check");
	rb_dbworker_fixed_environment(fixed->timezone);

	/* the arguments: built-in types, serialised by the caller */
	argspace = shm_toc_lookup(toc, RB_DBW_KEY_ARGS, false);
	for (i = 0; i < fixed->nargs; i++)
	{
		bool		isnull;

		values[i] = datumRestore(&argspace, &isnull);
		nulls[i] = isnull ? 'n' : ' ';
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/*
	 * The caller stops this worker when its budget is over; this timer, a
	 * second later, is for a caller that cannot (gone, or not scheduled).
	 */
	if (fixed->budget_ms > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, fixed->budget_ms + 1000);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_runbook per-database check: SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	{
		char		activity[128];

		snprintf(activity, sizeof(activity), "pg_runbook per-database check \"%s\" for pid %d",
				 rb_db_check(fixed->check)->name, (int) fixed->leader_pid);
		pgstat_report_activity(STATE_RUNNING, activity);
	}
	if (fixed->test_delay_ms > 0)
		rb_dbworker_test_delay(fixed->test_delay_ms);

	detail[0] = '\0';
	memset(&rows, 0, sizeof(rows));
	rows.cxt = AllocSetContextCreate(TopMemoryContext, "pg_runbook per-database rows",
									 ALLOCSET_DEFAULT_SIZES);
	state = rb_dbworker_run(fixed, &rows, values, nulls, detail);

	PopActiveSnapshot();
	SPI_finish();
	disable_timeout(STATEMENT_TIMEOUT, false);
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	/*
	 * The check is over: no snapshot, no lock, no timer.  Its rows go to
	 * the caller as fast as it reads them; it does not count this wait
	 * against the budget (sending).  A caller that is gone detaches.
	 */
	pg_write_barrier();
	pg_atomic_write_u32(&fixed->sending, 1);
	for (i = 0; i < rows.n; i++)
	{
		if (shm_mq_send(tuph, rows.tuples[i]->t_len, rows.tuples[i]->t_data,
						false, false) == SHM_MQ_DETACHED)
			rb_dbworker_caller_gone();
		fixed->nrows++;
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(rows.cxt);

	/* what was found, then the end of the rows (flushes what is pending) */
	rb_dbworker_report(fixed, state, detail);
	shm_mq_detach(tuph);
	proc_exit(0);
}
