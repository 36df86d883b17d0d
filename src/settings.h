/*-------------------------------------------------------------------------
 *
 * settings.h
 *		The core settings (GUC variables) of pg_runbook (settings.c): who is
 *		exempt, how many actions a call may take, the audit ring's size and
 *		the policy worker's settings.  A leaf: settings.c calls nothing of
 *		pg_runbook.  Subsystems with settings of their own (remedy.c,
 *		audit.c, history.c) define them themselves; _PG_init (pg_runbook.c)
 *		calls each definition once.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_SETTINGS_H
#define PG_RUNBOOK_SETTINGS_H

#include "postgres.h"

extern char *rb_exempt_roles;
extern int	rb_max_actions_per_cycle;
extern int	rb_audit_ring_size;
#ifdef RB_TEST_HOOKS
extern int	rb_test_delay_before_signal;
extern int	rb_test_bloat_delay_after_scan;
extern char *rb_test_os_root;
#endif

/* worker settings */
typedef enum RbEnforce
{
	RB_ENFORCE_OFF,
	RB_ENFORCE_LOG,
	RB_ENFORCE_ON
} RbEnforce;

extern char *rb_database;
extern int	rb_naptime_ms;
extern int	rb_enforce;
extern bool rb_act_on_standby;
extern const char *rb_enforce_name(void);

/* define the settings above (from _PG_init) */
extern void rb_settings_define(void);

#endif							/* PG_RUNBOOK_SETTINGS_H */
