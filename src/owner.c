/*-------------------------------------------------------------------------
 *
 * owner.c
 *		runbook.as_owner(relation, statement): run one suggested statement
 *		as the owner of a table, the way VACUUM, ANALYZE, REINDEX and CREATE
 *		INDEX switch to the owner themselves.
 *
 *		Why: some remedies pg_runbook suggests execute code that a table's
 *		owner chose: ALTER TABLE ... VALIDATE CONSTRAINT evaluates a CHECK
 *		(which may call the owner's function), DELETE fires the owner's
 *		triggers and rules, ALTER COLUMN TYPE re-checks constraints and
 *		recomputes generated columns.  Pasted by a superuser, that code runs
 *		as the superuser.  "SET ROLE owner; ...; RESET ROLE;" is no
 *		boundary: SET ROLE is checked against the session user, so the
 *		owner's code can itself RESET ROLE and be superuser again.
 *
 *		Here the statement runs with the owner's user id inside a
 *		security-restricted operation (SECURITY_RESTRICTED_OPERATION |
 *		SECURITY_LOCAL_USERID_CHANGE), where SET ROLE, SET SESSION
 *		AUTHORIZATION, temporary objects and WITH HOLD cursors are refused,
 *		and every setting the statement changes is put back afterwards:
 *		the owner's code runs with the owner's rights and cannot reach the
 *		caller's.  The caller must already have the privileges of the
 *		owner (a superuser, or a member of the owning role): as_owner()
 *		never lets anyone act as a role they could not become.
 *
 *		A front end (a SQL function): uses only the leaves.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "pg_runbook.h"

PG_FUNCTION_INFO_V1(rb_as_owner);

/*
 * runbook.as_owner(relation regclass, statement text) returns bigint
 *
 * Runs statement as the owner of relation in a security-restricted
 * operation, with search_path = pg_catalog, pg_temp (the function's SET
 * clause; names in the statement are schema-qualified).  Returns the
 * number of rows the last statement processed (deleted, updated, or
 * returned by a SELECT: the rows are counted, not kept), 0 for DDL.
 */
Datum
rb_as_owner(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *stmt = text_to_cstring(PG_GETARG_TEXT_PP(1));
	HeapTuple	tup;
	Oid			owner;
	char	   *relname;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	SPIExecuteOptions opts;
	int			ret;
	uint64		processed;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	relname = pstrdup(NameStr(((Form_pg_class) GETSTRUCT(tup))->relname));
	ReleaseSysCache(tup);

	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to run a statement as the owner of relation %s",
						quote_identifier(relname)),
				 errdetail("Only a superuser or a member of the owning role %s may.",
						   quote_identifier(GetUserNameFromId(owner, false))),
				 errhint("Run it as a superuser, or ask the owner to run the statement; running it yourself runs the owner's code with your rights.")));

	/* as VACUUM does (vacuum_rel): the owner, restricted, settings put back */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	memset(&opts, 0, sizeof(opts));
	opts.read_only = false;
	opts.allow_nonatomic = false;
	opts.dest = None_Receiver;	/* count the rows, keep none */
	ret = SPI_execute_extended(stmt, &opts);
	if (ret == SPI_ERROR_TRANSACTION || ret == SPI_ERROR_COPY)
		ereport(ERROR,
				(errcode(ret == SPI_ERROR_TRANSACTION ?
						 ERRCODE_INVALID_TRANSACTION_TERMINATION :
						 ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("as_owner() cannot run %s",
						ret == SPI_ERROR_TRANSACTION ? "transaction control statements" :
						"COPY to or from the client"),
				 errhint("as_owner() runs statements inside the caller's transaction: leave out BEGIN, COMMIT and ROLLBACK, and COPY to or from STDIN or STDOUT.")));
	if (ret < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("as_owner: the statement failed: %s", SPI_result_code_string(ret))));
	processed = SPI_processed;
	SPI_finish();

	/* on an error, the (sub)transaction's abort restores both */
	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	PG_RETURN_INT64((int64) processed);
}
