/*-------------------------------------------------------------------------
 *
 * worker.h
 *		The policy-enforcement background worker (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_WORKER_H
#define PG_RUNBOOK_WORKER_H

extern void rb_worker_register(void);
extern void rb_wake_worker_at_commit(void);
extern int	rb_worker_pid(void);

#endif							/* PG_RUNBOOK_WORKER_H */
