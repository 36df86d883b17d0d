-- Blocking locks without waiters: empty results, no error; privileges:
-- pg_monitor may call both functions, other roles may not.
SELECT count(*) FROM runbook.blocking_locks();
SELECT count(*) FROM runbook.lock_tree();
SELECT count(*) FROM runbook.sessions WHERE blocked_by IS NOT NULL;

CREATE ROLE rb_lk_nobody LOGIN;
CREATE ROLE rb_lk_monitor LOGIN IN ROLE pg_monitor;

SET ROLE rb_lk_nobody;
SELECT * FROM runbook.blocking_locks();
SELECT * FROM runbook.lock_tree();
RESET ROLE;

SET ROLE rb_lk_monitor;
SELECT count(*) FROM runbook.blocking_locks();
SELECT count(*) FROM runbook.lock_tree();
RESET ROLE;

-- the result columns are the documented ones
SELECT string_agg(a, ', ' ORDER BY n)
  FROM unnest((SELECT proargnames FROM pg_proc WHERE oid = 'runbook.blocking_locks()'::regprocedure))
       WITH ORDINALITY AS u(a, n);

DROP ROLE rb_lk_nobody;
DROP ROLE rb_lk_monitor;
