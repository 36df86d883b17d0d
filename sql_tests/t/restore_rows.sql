-- The user rows of a database made by tools/dump-for-restore.sh, as
-- sql_tests/t/011_restore_dump.pl compares them before and after a restore.
SELECT 'policy ' || name || ' ' || priority || ' ' || states::text || ' ' || coalesce(min_state_age::text, '-')
       || ' ' || coalesce(min_query_age::text, '-') || ' ' || action || ' ' || coalesce(role_name, '-') || ' ' || enabled
  FROM runbook.policies WHERE name LIKE 'dump\_%'
UNION ALL
SELECT 'threshold ' || name || ' ' || value || ' ' || user_set FROM runbook.alert_thresholds WHERE user_set
ORDER BY 1;
