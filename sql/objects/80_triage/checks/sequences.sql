-- A per-database check of triage() (80_triage/triage_database.sql runs it
-- in every database): sequences near overflow, what
-- _sequences_near_overflow() (this database's part of
-- sequences_near_overflow()) reports at the threshold sequence_used_pct of
-- the database triage() runs in.  An exhausted sequence (inserts that need
-- a value fail now) is SEV1, sequence_used_sev2_pct SEV2, the rest SEV3;
-- one finding per sequence, the five most used.  Sequences the caller may
-- not read (pg_monitor has no SELECT on them) or that were locked are one
-- SEV4 finding per database: the check did not cover them.  The remedy is
-- sequences_near_overflow()'s, to be run in this database (the finding's
-- datname).

CREATE OR REPLACE FUNCTION @extschema@._triage_db_sequences(thresholds jsonb)
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_pct   numeric := coalesce((thresholds->>'sequence_used_pct')::numeric, @extschema@._threshold('sequence_used_pct'));
    t_sev2  numeric := coalesce((thresholds->>'sequence_used_sev2_pct')::numeric, @extschema@._threshold('sequence_used_sev2_pct'));
    n       integer := 0;
    skipped integer := 0;
    why     text;
    names   text[] := '{}';
BEGIN
    f.check_name := 'sequences';
    FOR r IN
        SELECT s.* FROM @extschema@._sequences_near_overflow((least(greatest(t_pct, 0), 100) / 100)::real) s
         ORDER BY s.pct_used DESC NULLS LAST, s.schemaname, s.relname
    LOOP
        IF r.pct_used IS NULL THEN
            skipped := skipped + 1;
            why := coalesce(why, r.status);
            IF skipped <= 5 THEN names := names || format('%I.%I', r.schemaname, r.relname); END IF;
            CONTINUE;
        END IF;
        n := n + 1;
        CONTINUE WHEN n > 5;
        f.severity := CASE WHEN r.pct_used >= 100 THEN 'SEV1' WHEN r.pct_used >= t_sev2 THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := CASE WHEN r.table_relname IS NOT NULL
            THEN format('sequence %I.%I of %I.%I.%I (%s) in %s has used %s%% of its range (%s values left)',
                        r.schemaname, r.relname, r.table_schemaname, r.table_relname, r.column_name, r.column_type,
                        quote_ident(current_database()), r.pct_used, r.remaining)
            ELSE format('sequence %I.%I in %s has used %s%% of its range (%s values left)',
                        r.schemaname, r.relname, quote_ident(current_database()), r.pct_used, r.remaining) END;
        f.evidence := jsonb_strip_nulls(jsonb_build_object(
                          'datname', current_database(), 'sequence', format('%I.%I', r.schemaname, r.relname),
                          'table', CASE WHEN r.table_relname IS NOT NULL THEN format('%I.%I', r.table_schemaname, r.table_relname) END,
                          'column', r.column_name, 'column_type', r.column_type::text, 'last_value', r.last_value,
                          'limit_value', r.limit_value, 'limited_by', r.limited_by, 'pct_used', r.pct_used,
                          'remaining', r.remaining, 'cycles', r.cycles));
        f.action := CASE
            WHEN r.cycles THEN 'the sequence cycles: once it restarts, new keys may collide with existing ones; widen it (and its column) to bigint'
            WHEN r.limited_by = 'column type' THEN 'widen the column (and the sequence) to bigint before the range runs out: the rewrite takes an ACCESS EXCLUSIVE lock on the table, schedule it or migrate through a new bigint column'
            ELSE 'widen the sequence to bigint before it runs out (ALTER SEQUENCE is quick)' END;
        f.remedy_sql := r.remedy;
        f.datname := current_database();
        RETURN NEXT f;
    END LOOP;
    IF skipped > 0 THEN
        f.severity := 'SEV4';
        f.finding := format('%s sequence(s) in %s not read: %s', skipped, quote_ident(current_database()),
                            regexp_replace(why, '^skipped: ', ''));
        f.evidence := jsonb_build_object('datname', current_database(), 'skipped', skipped, 'reason', why,
                                         'sequences', to_jsonb(names));
        f.action := 'run triage() as a role that may read them (their owner, or a member of pg_read_all_data), or again once they are not locked';
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT schemaname, relname, status FROM %I.sequences_near_overflow(databases => ARRAY[current_database()]) WHERE pct_used IS NULL;',
                                              '@extschema@');
        f.datname := current_database();
        RETURN NEXT f;
    END IF;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_db_sequences(jsonb) IS
'internal: a per-database check of triage(), run in every database by _triage_database()';

REVOKE ALL ON FUNCTION @extschema@._triage_db_sequences(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_db_sequences(jsonb) TO pg_monitor;
