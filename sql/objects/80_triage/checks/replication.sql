-- A check of triage() (80_triage/triage.sql runs them): replication.  An
-- inactive slot keeps every WAL segment from its restart point on and grows
-- with every write: it is a finding as soon as it holds a segment, measured
-- against what limits it: max_slot_wal_keep_size (the slot is invalidated
-- there, the disk is safe) or, when that is -1, the free space of the WAL
-- filesystem (runbook.host(), when it can tell) and slot_retained_bytes.

CREATE OR REPLACE FUNCTION @extschema@._triage_replication(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    keep    bigint := pg_size_bytes(current_setting('max_slot_wal_keep_size') || CASE WHEN current_setting('max_slot_wal_keep_size') ~ '^-?[0-9]+$' THEN 'MB' ELSE '' END);
    segsz   bigint := pg_size_bytes(current_setting('wal_segment_size'));
    free    bigint;
BEGIN
    f.check_name := 'replication';
    FOR r IN SELECT * FROM @extschema@.replication_status() LOOP
        f.severity := NULL;
        IF r.kind = 'replica' AND r.replay_lag_bytes >= @extschema@._threshold('replication_lag_bytes') THEN
            f.severity := CASE WHEN r.replay_lag_bytes >= @extschema@._threshold('replication_lag_sev2_bytes') THEN 'SEV2' ELSE 'SEV3' END;
            f.finding := format('replica %s replays %s behind (%s)', r.name,
                                pg_size_pretty(r.replay_lag_bytes), coalesce(r.replay_lag::text, 'time lag unknown'));
            f.action := 'check the replica''s load, network and hot_standby_feedback conflicts';
            f.remedy_sql := 'SELECT * FROM ' || '@extschema@' || '.replication_status();';
        ELSIF r.kind = 'slot' AND r.wal_status IN ('lost', 'unreserved') THEN
            f.severity := 'SEV2';
            f.finding := format('slot %s: wal_status %s', r.name, r.wal_status);
            f.action := 'the consumer has fallen too far behind: rebuild it, drop the slot';
            f.remedy_sql := format('SELECT pg_drop_replication_slot(%L);', r.name);
        ELSIF r.kind = 'slot' AND NOT r.active AND r.retained_bytes >= segsz THEN
            IF keep < 0 THEN
                free := coalesce(free, @extschema@._wal_free_bytes());
            END IF;
            f.severity := CASE WHEN keep >= 0 THEN 'SEV3'    -- the setting protects the disk
                               WHEN free IS NOT NULL AND r.retained_bytes >= free THEN 'SEV1'
                               WHEN r.retained_bytes >= @extschema@._threshold('slot_retained_bytes')
                                 OR (free IS NOT NULL AND r.retained_bytes >= free / 4) THEN 'SEV2'
                               ELSE 'SEV3' END;
            f.finding := format('inactive %s slot %s retains %s of WAL and grows with every write; %s',
                                r.slot_type, r.name, pg_size_pretty(r.retained_bytes),
                                CASE WHEN keep >= 0
                                     THEN format('max_slot_wal_keep_size = %s invalidates it at that size (%s left)',
                                                 current_setting('max_slot_wal_keep_size'), coalesce(pg_size_pretty(r.safe_wal_size), '?'))
                                     WHEN free IS NOT NULL
                                     THEN format('max_slot_wal_keep_size = -1: nothing limits it but the disk, %s free on the WAL filesystem', pg_size_pretty(free))
                                     ELSE 'max_slot_wal_keep_size = -1: nothing limits it but the disk' END);
            f.action := @extschema@._runnable('text', 'if its consumer is gone, drop the slot (pg_wal shrinks at the next checkpoint); if it is coming back, watch the disk; set max_slot_wal_keep_size so that a slot cannot fill the disk (config_check)');
            f.remedy_sql := @extschema@._runnable('sql', 'SELECT pg_drop_replication_slot(%L);', r.name);
        ELSIF r.kind = 'archiver' AND r.state = 'failing' THEN
            f.severity := 'SEV2';
            f.finding := format('WAL archiving fails (%s failures, last %s at %s); %s file(s) waiting',
                                r.failed_count, r.last_failed_wal, date_trunc('second', r.last_failure), coalesce(r.files_waiting::text, 'unknown'));
            f.action := 'fix archive_command (see the server log): WAL piles up in pg_wal';
            f.remedy_sql := 'SELECT * FROM pg_stat_archiver;';
        ELSIF r.kind = 'receiver' AND r.state = 'not running' THEN
            f.severity := 'SEV2';
            f.finding := 'standby: WAL receiver not running';
            f.action := 'check primary_conninfo and the primary; see the server log';
            f.remedy_sql := 'SELECT * FROM pg_stat_wal_receiver;';
        END IF;
        IF f.severity IS NOT NULL THEN
            f.evidence := jsonb_strip_nulls(jsonb_build_object('kind', r.kind, 'name', r.name, 'state', r.state,
                              'pid', r.pid, 'replay_lag_bytes', r.replay_lag_bytes, 'replay_lag_s', @extschema@._secs(r.replay_lag),
                              'retained_bytes', r.retained_bytes, 'wal_status', r.wal_status,
                              'failed_count', r.failed_count, 'files_waiting', r.files_waiting, 'detail', r.detail));
            RETURN NEXT f;
        END IF;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_replication(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_replication(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_replication(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
