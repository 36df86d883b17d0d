-- slow_queries on an instance without pg_stat_statements: argument checks,
-- then the error and the exact remedy in the hint, for each missing piece.
\set SHOW_CONTEXT never
SELECT * FROM runbook.slow_queries(top => 0);
SELECT * FROM runbook.slow_queries(top => NULL);
SELECT * FROM runbook.slow_queries(order_by => 'slowest');
SELECT * FROM runbook.slow_queries(order_by => NULL);
SELECT * FROM runbook.slow_queries(min_calls => 0);
-- neither the library nor the extension
SELECT * FROM runbook.slow_queries();
-- the extension exists but the library is not preloaded (version pinned:
-- the message names it, and each major ships another default; 1.10 is 15's
-- and installs on 17 and 18 too)
CREATE EXTENSION pg_stat_statements VERSION '1.10';
SELECT * FROM runbook.slow_queries(5, 'total');
DROP EXTENSION pg_stat_statements;
-- ' IO ' is accepted (case-insensitive, trimmed): the error is about availability
SELECT * FROM runbook.slow_queries(3, ' IO ');
