-- A per-database check of triage() (80_triage/triage_database.sql runs it
-- in every database): integrity: invalid indexes.  Its remedy is to be run
-- in this database (the finding's datname).  A failed CREATE INDEX CONCURRENTLY or REINDEX
-- CONCURRENTLY leaves one; builds in progress are not findings.  What it
-- still does depends on pg_index.indisready: a build that failed while it
-- filled the index (a unique one over duplicates: the usual case) leaves
-- indisready = false, and the index is neither maintained nor refuses
-- anything; one that failed later is maintained on every write and, if
-- unique, refuses duplicates among new rows.  For a unique index the remedy
-- never rebuilds (REINDEX CONCURRENTLY fails on the same duplicates and
-- leaves a second invalid index, _ccnew): it lists the duplicates and drops
-- the index; the DBA fixes the rows and creates it again.

CREATE OR REPLACE FUNCTION @extschema@._triage_db_invalid_indexes(thresholds jsonb)
RETURNS SETOF @extschema@.triage_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f       @extschema@.triage_finding;
    r       record;
    dups    text;
BEGIN
    f.check_name := 'invalid_indexes';
    FOR r IN
        SELECT i.indexrelid::regclass AS idx, i.indrelid::regclass AS tbl, i.indisunique, i.indisready,
               i.indnullsnotdistinct AS nulls_not_distinct, ic.relname,
               @extschema@.relation_size_nowait(i.indexrelid::regclass) AS bytes,
               -- the key columns, when they are plain columns (no expression, no predicate)
               CASE WHEN i.indpred IS NULL AND NOT (0 = ANY (i.indkey::int2[]))
                    THEN ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, o)
                                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att
                                WHERE k.o <= i.indnkeyatts ORDER BY k.o) END AS cols
          FROM pg_index i
          JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE NOT i.indisvalid
           AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                            WHERE p.relid = i.indrelid OR p.index_relid = i.indexrelid)
         ORDER BY i.indexrelid::regclass::text
         LIMIT 20
    LOOP
        f.severity := 'SEV3';
        f.finding := format('invalid index %s on %s in %s%s: not used by queries; %s',
                            r.idx, r.tbl, quote_ident(current_database()),
                            CASE WHEN r.relname ~ '_ccnew[0-9]*$' THEN ' (left by a failed REINDEX CONCURRENTLY)'
                                 WHEN r.relname ~ '_ccold[0-9]*$' THEN ' (old copy left by an interrupted REINDEX CONCURRENTLY)'
                                 ELSE ' (a failed CREATE INDEX CONCURRENTLY)' END,
                            CASE WHEN NOT r.indisready
                                 THEN 'not ready (indisready = false): the build failed before it was filled, so it is not maintained and refuses nothing'
                                      || CASE WHEN r.indisunique THEN ', duplicates included' ELSE '' END
                                 WHEN r.indisunique
                                 THEN 'still maintained on every write and, being unique, refuses duplicates among new rows (the existing rows may hold some)'
                                 ELSE 'still maintained on every write' END);
        f.evidence := jsonb_build_object('index', r.idx::text, 'table', r.tbl::text, 'datname', current_database(),
                                         'unique', r.indisunique, 'ready', r.indisready, 'size_bytes', r.bytes);
        IF r.relname ~ '_cc(new|old)[0-9]*$' THEN
            f.action := @extschema@._runnable('text', 'drop the leftover of the failed REINDEX CONCURRENTLY; the index it copied is still there');
            f.remedy_sql := @extschema@._runnable('sql', 'DROP INDEX CONCURRENTLY %R;', r.idx);
        ELSIF r.indisunique THEN
            -- the duplicates, as the DBA will fix them (NULLs are distinct unless
            -- NULLS NOT DISTINCT), then the drop
            dups := CASE
                WHEN cardinality(r.cols) = 1 AND NOT r.nulls_not_distinct THEN
                    @extschema@._runnable('sql', 'SELECT %1$I, count(*) FROM %2$R WHERE %1$I IS NOT NULL GROUP BY %1$I HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 100;  DROP INDEX CONCURRENTLY %3$R;',
                                          r.cols[1], r.tbl, r.idx)
                WHEN cardinality(r.cols) = 1 THEN
                    @extschema@._runnable('sql', 'SELECT %1$I, count(*) FROM %2$R GROUP BY %1$I HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 100;  DROP INDEX CONCURRENTLY %3$R;',
                                          r.cols[1], r.tbl, r.idx)
                WHEN cardinality(r.cols) = 2 AND NOT r.nulls_not_distinct THEN
                    @extschema@._runnable('sql', 'SELECT %1$I, %2$I, count(*) FROM %3$R WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL GROUP BY %1$I, %2$I HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 100;  DROP INDEX CONCURRENTLY %4$R;',
                                          r.cols[1], r.cols[2], r.tbl, r.idx)
                WHEN cardinality(r.cols) = 2 THEN
                    @extschema@._runnable('sql', 'SELECT %1$I, %2$I, count(*) FROM %3$R GROUP BY %1$I, %2$I HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 100;  DROP INDEX CONCURRENTLY %4$R;',
                                          r.cols[1], r.cols[2], r.tbl, r.idx)
                WHEN cardinality(r.cols) = 3 AND NOT r.nulls_not_distinct THEN
                    @extschema@._runnable('sql', 'SELECT %1$I, %2$I, %3$I, count(*) FROM %4$R WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %3$I IS NOT NULL GROUP BY %1$I, %2$I, %3$I HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 100;  DROP INDEX CONCURRENTLY %5$R;',
                                          r.cols[1], r.cols[2], r.cols[3], r.tbl, r.idx)
                WHEN cardinality(r.cols) = 3 THEN
                    @extschema@._runnable('sql', 'SELECT %1$I, %2$I, %3$I, count(*) FROM %4$R GROUP BY %1$I, %2$I, %3$I HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 100;  DROP INDEX CONCURRENTLY %5$R;',
                                          r.cols[1], r.cols[2], r.cols[3], r.tbl, r.idx)
                END;
            f.action := @extschema@._runnable('text', 'a unique index whose build failed, most often on duplicate keys: %s drop it, fix the duplicate rows, then create it again with CREATE UNIQUE INDEX CONCURRENTLY.  Do not REINDEX it: that fails on the same duplicates and leaves a second invalid index (_ccnew)',
                                              CASE WHEN dups IS NOT NULL THEN 'the first statement lists them (it reads the whole table);'
                                                   ELSE 'find them with a GROUP BY over its key (an expression or partial index: its definition in pg_indexes);' END);
            f.remedy_sql := coalesce(dups, @extschema@._runnable('sql', 'DROP INDEX CONCURRENTLY %R;', r.idx));
        ELSE
            f.action := @extschema@._runnable('text', 'rebuild it online (REINDEX INDEX CONCURRENTLY) or drop it; find why the build failed in the server log (a deadlock, a cancel, a lack of disk)');
            f.remedy_sql := @extschema@._runnable('sql', 'REINDEX INDEX CONCURRENTLY %R;', r.idx);
        END IF;
        f.datname := current_database();
        RETURN NEXT f;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION @extschema@._triage_db_invalid_indexes(jsonb) IS
'internal: a per-database check of triage(), run in every database by _triage_database()';

REVOKE ALL ON FUNCTION @extschema@._triage_db_invalid_indexes(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._triage_db_invalid_indexes(jsonb) TO pg_monitor;
