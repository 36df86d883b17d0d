/*-------------------------------------------------------------------------
 *
 * pg_runbook.c
 *		Module entry point: _PG_init defines the settings and installs the
 *		shared-memory hooks, the workers and the connection hook, by calling
 *		the init functions of the modules that own them.  Nothing calls into
 *		this file: it is the top of the layers (ARCHITECTURE.md).
 *
 * Diagnostic functions work without preloading; features that need shared
 * memory (audit ring, worker) call rb_require_preload() (shmem.c) and say
 * how to enable them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "pg_runbook.h"
#include "audit.h"
#include "remedy.h"
#include "history.h"
#include "wall.h"
#include "worker.h"
#include "databases.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
rb_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	rb_shmem_request();			/* shmem.c: RbShared and its lock */
	rb_audit_shmem_request();	/* audit.c: the audit ring */
	rb_history_shmem_request(); /* history.c: the flight recorder */
}

static void
rb_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	rb_shmem_startup();
	rb_audit_shmem_startup();
	rb_history_shmem_init();
}

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	rb_settings_define();		/* settings.c */
	rb_remedy_define_gucs();	/* remedy.c, audit.c */
	rb_history_init_gucs();		/* flight recorder (history.c) */
	rb_databases_define_gucs(); /* whole-server calls (databases.c) */
	MarkGUCPrefixReserved("pg_runbook");

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rb_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rb_shmem_startup_hook;

	rb_worker_register();
	rb_wall_install_hook();	/* wall.c: the connection hook */
	rb_history_register_worker();
}
