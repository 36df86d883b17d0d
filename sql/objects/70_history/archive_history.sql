-- runbook.archive_history(): append what the rings hold since the last call
-- to runbook.history_archive and runbook.events_archive.

CREATE OR REPLACE FUNCTION @extschema@.archive_history(OUT samples bigint, OUT events bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    last_sample timestamptz;
    last_event  timestamptz;
BEGIN
    IF pg_catalog.pg_is_in_recovery() THEN
        RAISE EXCEPTION 'runbook.archive_history() cannot write on a standby'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Read runbook.history() on the standby, or archive on the primary.';
    END IF;
    -- one archiver at a time; a concurrent call waits, then sees the rows
    LOCK TABLE @extschema@.history_archive IN SHARE ROW EXCLUSIVE MODE;
    SELECT max(h.sampled_at) INTO last_sample FROM @extschema@.history_archive h;
    SELECT max(e.at) INTO last_event FROM @extschema@.events_archive e;

    INSERT INTO @extschema@.history_archive
    SELECT h.* FROM @extschema@.history(NULL, NULL) h
     WHERE h.sampled_at > coalesce(last_sample, '-infinity');
    GET DIAGNOSTICS samples = ROW_COUNT;

    INSERT INTO @extschema@.events_archive (at, seq, kind, pid, pids, value, threshold, detail, query)
    SELECT e.at, e.seq, e.kind, e.pid, e.pids, e.value, e.threshold, e.detail, e.query
      FROM @extschema@.events(NULL, NULL) e
     WHERE e.at > coalesce(last_event, '-infinity');
    GET DIAGNOSTICS events = ROW_COUNT;
END
$fn$;

COMMENT ON FUNCTION @extschema@.archive_history() IS
'append the samples and events taken since the last call to runbook.history_archive and runbook.events_archive; optional, never called by pg_runbook itself';

REVOKE ALL ON FUNCTION @extschema@.archive_history() FROM PUBLIC;
