/*-------------------------------------------------------------------------
 *
 * wall.h
 *		The connection hook (wall.c): wakes the policy worker at the
 *		high-water mark of a saturation policy and lets an ordinary
 *		connection at the wall wait for a slot, never with a slot a
 *		superuser would need.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_WALL_H
#define PG_RUNBOOK_WALL_H

/* install ClientAuthentication_hook (from _PG_init, while preloading) */
extern void rb_wall_install_hook(void);

#endif							/* PG_RUNBOOK_WALL_H */
