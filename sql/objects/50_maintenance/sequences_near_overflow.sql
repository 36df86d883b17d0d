-- runbook.sequences_near_overflow(threshold, databases): sequences and the
-- range of their type and of the columns they feed, in every database of
-- the server (or the named ones).  _sequences_near_overflow() is one
-- database's part, run in each by _on_databases(): its remedy is to be run
-- in the database of its row (datname).

CREATE OR REPLACE FUNCTION @extschema@._sequence_last_value(seq regclass,
    OUT last_value bigint, OUT skipped text)
RETURNS record
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rb_sequence_last_value';

REVOKE ALL ON FUNCTION @extschema@._sequence_last_value(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._sequence_last_value(regclass) TO pg_monitor;

-- ---------------------------------------------------------------------
-- sequences_near_overflow
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@._sequences_near_overflow(threshold real)
RETURNS TABLE (
    sequence regclass,
    table_name regclass,
    column_name name,
    column_type regtype,
    sequence_type regtype,
    last_value bigint,
    limit_value bigint,
    limited_by text,
    pct_used numeric,
    remaining bigint,
    cycles boolean,
    status text,
    remedy text,
    datname name,
    schemaname name,
    relname name,
    table_schemaname name,
    table_relname name)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, not %', threshold
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It is the share of the usable range already consumed, e.g. 0.8 for 80 %.';
    END IF;
    RETURN QUERY
    WITH seqs AS (
        SELECT s.seqrelid, s.seqtypid, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle
          FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
         WHERE c.relpersistence <> 't'
    ), uses AS (
        -- owned (serial, OWNED BY) and identity columns
        SELECT d.objid AS seqrelid, d.refobjid AS tab, d.refobjsubid::int2 AS att
          FROM pg_depend d
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
        UNION
        -- DEFAULT nextval('seq') without ownership
        SELECT d.refobjid, ad.adrelid, ad.adnum
          FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
         WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
    ), seqrows AS (
        SELECT q.seqrelid, u.tab, a.attname, a.atttypid, q.seqtypid, q.seqincrement,
               q.seqmin, q.seqmax, q.seqcycle, lv.last_value AS lastv, lv.skipped,
               CASE a.atttypid WHEN 'int2'::regtype THEN 32767::numeric
                               WHEN 'int4'::regtype THEN 2147483647::numeric
                               WHEN 'int8'::regtype THEN 9223372036854775807::numeric END AS colmax,
               CASE a.atttypid WHEN 'int2'::regtype THEN -32768::numeric
                               WHEN 'int4'::regtype THEN -2147483648::numeric
                               WHEN 'int8'::regtype THEN -9223372036854775808::numeric END AS colmin
          FROM seqs q
          LEFT JOIN uses u ON u.seqrelid = q.seqrelid
          LEFT JOIN pg_attribute a ON a.attrelid = u.tab AND a.attnum = u.att
          CROSS JOIN LATERAL @extschema@._sequence_last_value(q.seqrelid) lv
    ), lim AS (
        SELECT r.*,
               CASE WHEN r.seqincrement > 0
                    THEN least(r.seqmax::numeric, coalesce(r.colmax, r.seqmax::numeric))
                    ELSE greatest(r.seqmin::numeric, coalesce(r.colmin, r.seqmin::numeric)) END AS lim,
               CASE WHEN r.seqincrement > 0
                    THEN CASE WHEN r.colmax <= r.seqmax THEN 'column type' ELSE 'sequence' END
                    ELSE CASE WHEN r.colmin >= r.seqmin THEN 'column type' ELSE 'sequence' END END AS by
          FROM seqrows r
    ), pct AS (
        SELECT l.*,
               CASE WHEN l.lastv IS NULL THEN NULL
                    WHEN l.seqincrement > 0
                    THEN round(100.0 * (l.lastv - l.seqmin::numeric) / nullif(l.lim - l.seqmin::numeric, 0), 2)
                    ELSE round(100.0 * (l.seqmax::numeric - l.lastv) / nullif(l.seqmax::numeric - l.lim, 0), 2) END AS used
          FROM lim l
    )
    SELECT p.seqrelid::regclass, p.tab::regclass, p.attname, p.atttypid::regtype, p.seqtypid::regtype,
           p.lastv, p.lim::bigint, p.by, p.used,
           CASE WHEN p.lastv IS NOT NULL THEN (abs(p.lim - p.lastv) / abs(p.seqincrement))::bigint END,
           p.seqcycle,
           CASE WHEN p.skipped IS NOT NULL THEN p.skipped
                WHEN p.used >= 100 THEN 'exhausted'
                ELSE 'near overflow' END,
           -- SQL built by _runnable(); the column's new type through
           -- as_owner(): the rewrite re-checks the owner's constraints and
           -- recomputes generated columns (the owner's code)
           CASE WHEN p.skipped IS NOT NULL THEN @extschema@._runnable('sql', '-- retry later: the sequence could not be read now (see status)')
                WHEN p.seqcycle AND p.seqincrement > 0 THEN @extschema@._runnable('sql', '-- the sequence cycles: values restart at its minimum and may collide with existing keys')
                WHEN p.seqcycle THEN @extschema@._runnable('sql', '-- the sequence cycles: values restart at its maximum and may collide with existing keys')
                WHEN p.by = 'column type' AND p.seqtypid <> 'int8'::regtype THEN
                    @extschema@._runnable('sql', '%D  ALTER SEQUENCE %R AS bigint;  -- rewrites the table under an ACCESS EXCLUSIVE lock: schedule it, or migrate through a new bigint column',
                        @extschema@._as_owner_sql(p.tab::regclass, @extschema@._runnable('sql', 'ALTER TABLE %R ALTER COLUMN %I TYPE bigint', p.tab, p.attname)),
                        p.seqrelid)
                WHEN p.by = 'column type' THEN
                    @extschema@._runnable('sql', '%D  -- rewrites the table under an ACCESS EXCLUSIVE lock: schedule it, or migrate through a new bigint column',
                        @extschema@._as_owner_sql(p.tab::regclass, @extschema@._runnable('sql', 'ALTER TABLE %R ALTER COLUMN %I TYPE bigint', p.tab, p.attname)))
                WHEN p.seqincrement > 0 THEN @extschema@._runnable('sql', 'ALTER SEQUENCE %R AS bigint MAXVALUE 9223372036854775807;', p.seqrelid)
                ELSE @extschema@._runnable('sql', 'ALTER SEQUENCE %R AS bigint MINVALUE -9223372036854775808;', p.seqrelid)
           END,
           current_database(), sn.nspname, sc.relname, tn.nspname, tc.relname
      FROM pct p
      JOIN pg_class sc ON sc.oid = p.seqrelid
      JOIN pg_namespace sn ON sn.oid = sc.relnamespace
      LEFT JOIN pg_class tc ON tc.oid = p.tab
      LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
     WHERE p.skipped IS NOT NULL OR p.used >= threshold * 100
     ORDER BY p.used DESC NULLS FIRST;
END
$fn$;

COMMENT ON FUNCTION @extschema@._sequences_near_overflow(real) IS
'internal: sequences_near_overflow() in this database (the per-database check sequences_near_overflow() runs in each database)';

REVOKE ALL ON FUNCTION @extschema@._sequences_near_overflow(real) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._sequences_near_overflow(real) TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@.sequences_near_overflow(
    threshold real DEFAULT 0.8,
    databases name[] DEFAULT NULL)
RETURNS SETOF @extschema@.sequences_near_overflow_row
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    h bigint;
BEGIN
    IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, not %', threshold
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It is the share of the usable range already consumed, e.g. 0.8 for 80 %.';
    END IF;
    IF @extschema@._this_database_only(databases) THEN
        RETURN QUERY SELECT * FROM @extschema@._sequences_near_overflow(threshold);
        RETURN;
    END IF;
    h := @extschema@._on_databases_start('sequences_near_overflow', databases, NULL::@extschema@.sequences_near_overflow_row, threshold);
    -- this database, here, while the workers read the others; an error is
    -- its row, as for another database
    IF databases IS NULL OR current_database() = ANY (databases) THEN
        BEGIN
            RETURN QUERY SELECT * FROM @extschema@._sequences_near_overflow(threshold);
        EXCEPTION WHEN OTHERS THEN
            RETURN QUERY SELECT (@extschema@._not_checked_row(NULL::@extschema@.sequences_near_overflow_row, current_database(), 'error',
                                     format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE), 'status', 'remedy')).*;
        END;
    END IF;
    -- the other databases' rows; a database that could not be checked is
    -- one row that says why, with the statement that fixes it (to run in
    -- that database)
    RETURN QUERY SELECT * FROM @extschema@._on_databases_rows(h, NULL::@extschema@.sequences_near_overflow_row,
                                                           'status', 'remedy');
END
$fn$;

COMMENT ON FUNCTION @extschema@.sequences_near_overflow(real, name[]) IS
'sequences, serial and identity columns whose last value has used at least threshold of the range of the column type (or the sequence) that limits them, in every database of the server (databases NULL) or the named ones; sequence and table_name are NULL for another database''s (datname, schemaname, relname, table_schemaname, table_relname name them; the remedy is run there); a database that could not be checked is a row whose status says why';

REVOKE ALL ON FUNCTION @extschema@.sequences_near_overflow(real, name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sequences_near_overflow(real, name[]) TO pg_monitor;
