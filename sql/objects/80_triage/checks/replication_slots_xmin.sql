-- A check of triage() (80_triage/triage.sql runs them): xmin horizon:
-- replication slots that really hold it: an inactive one (nobody moves
-- it), or an active one whose xmin no transaction still running explains
-- (an active logical slot shows the oldest running transaction's xid as
-- its catalog_xmin: that transaction is the culprit, not the slot).

CREATE OR REPLACE FUNCTION @extschema@._triage_replication_slots_xmin(sess @extschema@.sessions[], waits jsonb, roots integer[])
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    t_xmin  numeric := @extschema@._threshold('xmin_age_xids');
    t_xmin2 numeric := @extschema@._threshold('xmin_age_sev2_xids');
BEGIN
    f.check_name := 'replication_slots_xmin';
    FOR r IN
        SELECT sl.slot_name, sl.slot_type, sl.active,
               greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0)) AS age
          FROM pg_replication_slots sl
         WHERE greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0)) >= t_xmin
           AND (NOT sl.active
                OR NOT EXISTS (SELECT 1 FROM unnest(sess) o
                                WHERE o.xid_age >= greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0)))
                   AND NOT EXISTS (SELECT 1 FROM pg_prepared_xacts p
                                    WHERE age(p.transaction) >= greatest(coalesce(age(sl.xmin), 0), coalesce(age(sl.catalog_xmin), 0))))
         ORDER BY 4 DESC
    LOOP
        f.severity := CASE WHEN r.age >= t_xmin2 OR NOT r.active THEN 'SEV2' ELSE 'SEV3' END;
        f.finding := format('%s slot %s (%s) holds the xmin horizon back by %s transactions',
                            r.slot_type, r.slot_name, CASE WHEN r.active THEN 'active' ELSE 'inactive' END, r.age);
        f.evidence := jsonb_build_object('source', 'slot', 'slot_name', r.slot_name, 'slot_type', r.slot_type,
                                         'active', r.active, 'xmin_age', r.age);
        f.action := @extschema@._runnable('text', 'make its consumer catch up, or drop the slot if the consumer is gone (a dropped slot cannot be brought back: its consumer must then be set up again)');
        f.remedy_sql := @extschema@._runnable('sql', 'SELECT pg_drop_replication_slot(%L);', r.slot_name);
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_replication_slots_xmin(@extschema@.sessions[], jsonb, integer[]) IS
'internal: a check of triage(), run by _triage_rows()';

REVOKE ALL ON FUNCTION @extschema@._triage_replication_slots_xmin(@extschema@.sessions[], jsonb, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_replication_slots_xmin(@extschema@.sessions[], jsonb, integer[]) TO pg_monitor;
