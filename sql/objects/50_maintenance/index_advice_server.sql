-- runbook.index_advice(): every database of the server (or the named
-- ones) from one call.  The workers of the other databases start first
-- (_on_databases_start()); this database's part, _index_advice()
-- (index_advice.sql), runs here meanwhile; then their rows are collected.

CREATE OR REPLACE FUNCTION @extschema@.index_advice(
    min_table_bytes bigint DEFAULT 10485760,
    min_seq_scans bigint DEFAULT 50,
    databases name[] DEFAULT NULL)
RETURNS SETOF @extschema@.index_advice_row
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    h bigint;
BEGIN
    IF @extschema@._this_database_only(databases) THEN
        RETURN QUERY SELECT * FROM @extschema@._index_advice(min_table_bytes, min_seq_scans);
        RETURN;
    END IF;
    h := @extschema@._on_databases_start('index_advice', databases, NULL::@extschema@.index_advice_row, min_table_bytes, min_seq_scans);
    -- this database, here, while the workers read the others; an error is
    -- its row, as for another database
    IF databases IS NULL OR current_database() = ANY (databases) THEN
        BEGIN
            RETURN QUERY SELECT * FROM @extschema@._index_advice(min_table_bytes, min_seq_scans);
        EXCEPTION WHEN OTHERS THEN
            RETURN QUERY SELECT (@extschema@._not_checked_row(NULL::@extschema@.index_advice_row, current_database(), 'error',
                                     format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE), 'reason', 'ddl', '{"verdict": "not_checked"}')).*;
        END;
    END IF;
    -- the other databases' rows; a database that could not be checked is
    -- one row that says why, with the statement that fixes it (to run in
    -- that database)
    RETURN QUERY SELECT * FROM @extschema@._on_databases_rows(h, NULL::@extschema@.index_advice_row,
                                                           'reason', 'ddl', '{"verdict": "not_checked"}');
END
$fn$;

COMMENT ON FUNCTION @extschema@.index_advice(bigint, bigint, name[]) IS
'unused (never PK/unique/constraint), duplicate and redundant (respecting predicates, expressions, collations, operator classes, uniqueness; says which to keep), invalid (not a build in progress), foreign keys without an index, seq-scan-heavy large tables: each with the reason and the DDL to run in its database; in every database of the server (databases NULL) or the named ones (index, table_name and keep are NULL for another database''s: datname, schemaname, relname, table_relname name them); a database that could not be checked is a row of verdict not_checked';

REVOKE ALL ON FUNCTION @extschema@.index_advice(bigint, bigint, name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.index_advice(bigint, bigint, name[]) TO pg_monitor;
