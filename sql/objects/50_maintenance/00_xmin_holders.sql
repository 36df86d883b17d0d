-- runbook._xmin_holders(sess, min_age): the sessions and standbys that
-- really hold the xmin horizon back, read by triage()'s xmin_horizon check
-- and the view runbook.wraparound (prepared transactions and slots are
-- judged by their own checks and the view).
--
-- A backend's xmin is the oldest transaction that was running when it took
-- its snapshot: a statement that started a second ago, while an old
-- transaction was open, shows that old transaction's age although its own
-- snapshot is young, and ending it would not move the horizon.  So a
-- session is a holder when
--   - its own transaction has an xid at least min_age old (it wrote long
--     ago and has not finished), or
--   - its snapshot is old: it is idle in transaction and keeps a snapshot
--     (only repeatable read, serializable or an open cursor keep one while
--     idle), or its statement has run at least long_query_seconds, or its
--     xmin is explained by no older transaction still running (no other
--     session's xid, no prepared transaction at or before it) and its
--     transaction has been open for a minute or more.
-- A standby (its walsender carries hot_standby_feedback) is a holder when
-- no running transaction here explains its xmin.  Never the caller's own
-- session, autovacuum or parallel workers (their leader is judged).

CREATE OR REPLACE FUNCTION @extschema@._xmin_holders(
    sess @extschema@.sessions[],
    min_age bigint,
    OUT source text,
    OUT pid integer,
    OUT usename name,
    OUT datname name,
    OUT application_name text,
    OUT state text,
    OUT age bigint,
    OUT own_xid boolean,
    OUT xact_age interval,
    OUT query_age interval,
    OUT query text,
    OUT why text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    long_s numeric := @extschema@._threshold('long_query_seconds');
BEGIN
    -- explained: some other running transaction (a session's xid, a
    -- prepared transaction) is at least as old as this xmin.  Linear: the
    -- two oldest session xids (the oldest may be the session itself) and the
    -- oldest prepared transaction, not a search per session.
    RETURN QUERY
    WITH s AS (
        SELECT x.*,
               coalesce(x.xid_age, 0)::bigint AS xa, coalesce(x.xmin_age, 0)::bigint AS ma
          FROM unnest(sess) x
         WHERE x.pid <> pg_backend_pid()
           AND x.backend_type IN ('client backend', 'walsender')
    ), top2 AS (
        SELECT (array_agg(t.pid ORDER BY t.xa DESC))[1] AS pid1,
               (array_agg(t.xa ORDER BY t.xa DESC))[1] AS xa1,
               coalesce((array_agg(t.xa ORDER BY t.xa DESC))[2], 0) AS xa2
          FROM (SELECT s.pid, s.xa FROM s WHERE s.backend_type = 'client backend' AND s.xa > 0
                 ORDER BY s.xa DESC LIMIT 2) t
    ), prep AS (
        SELECT coalesce(max(pg_catalog.age(p.transaction))::bigint, 0) AS pa FROM pg_prepared_xacts p
    ), j AS (
        SELECT s.*,
               greatest(CASE WHEN s.pid = top2.pid1 THEN top2.xa2 ELSE coalesce(top2.xa1, 0) END, prep.pa) >= s.ma
               AND greatest(CASE WHEN s.pid = top2.pid1 THEN top2.xa2 ELSE coalesce(top2.xa1, 0) END, prep.pa) > 0 AS explained
          FROM s, top2, prep
         WHERE greatest(s.xa, s.ma) >= greatest(min_age, 1)
    )
    SELECT CASE WHEN j.backend_type = 'walsender' THEN 'standby' ELSE 'session' END,
           j.pid, j.usename, j.datname, j.application_name, j.state,
           greatest(j.xa, j.ma), j.xa >= min_age AND j.xa > 0, j.xact_age, j.query_age, j.query,
           CASE WHEN j.backend_type = 'walsender'
                    THEN 'a standby''s oldest snapshot (hot_standby_feedback)'
                WHEN j.xa >= min_age AND j.xa > 0
                    THEN 'its own transaction, which wrote and has not ended'
                WHEN j.state LIKE 'idle in transaction%'
                    THEN 'the snapshot it keeps while idle in its transaction'
                WHEN extract(epoch FROM j.query_age) >= long_s
                    THEN 'the snapshot of a statement running for ' || date_trunc('second', j.query_age)::text
                ELSE 'its snapshot, older than any transaction still running' END
      FROM j
     WHERE greatest(j.xa, j.ma) >= greatest(min_age, 1)
       AND CASE WHEN j.backend_type = 'walsender' THEN j.ma >= min_age AND NOT j.explained
                ELSE (j.xa >= min_age AND j.xa > 0)
                  OR (j.ma >= min_age AND j.ma > 0
                      AND (j.state LIKE 'idle in transaction%'
                           OR extract(epoch FROM j.query_age) >= long_s
                           OR (NOT j.explained AND j.xact_age >= interval '1 min')))
           END
     ORDER BY 7 DESC, 2;
END
$fn$;

COMMENT ON FUNCTION @extschema@._xmin_holders(@extschema@.sessions[], bigint) IS
'internal: the sessions and standbys that really hold the xmin horizon back by at least min_age transactions (own old xid, or an old snapshot of their own), never those whose young snapshot merely shows the horizon';

REVOKE ALL ON FUNCTION @extschema@._xmin_holders(@extschema@.sessions[], bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._xmin_holders(@extschema@.sessions[], bigint) TO pg_monitor;
