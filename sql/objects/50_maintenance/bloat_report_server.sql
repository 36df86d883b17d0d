-- runbook.bloat_report(): every database of the server (or the named
-- ones) from one call.  The workers of the other databases start first
-- (_on_databases_start()); this database's part, _bloat_report()
-- (bloat_report.sql), runs here meanwhile; then their rows are collected.
-- A relation (rel) is one of this database: then only this database is
-- read.  The method is checked here, once, rather than failing in every
-- database; pgstattuple (approx, exact) is needed in each database
-- measured.

CREATE OR REPLACE FUNCTION @extschema@.bloat_report(
    method text DEFAULT 'estimate',
    rel regclass DEFAULT NULL,
    max_bytes bigint DEFAULT 1073741824,
    databases name[] DEFAULT NULL)
RETURNS SETOF @extschema@.bloat_row
LANGUAGE plpgsql VOLATILE
SET jit = off
-- the rows of a database of 10,000 tables (about 8 MB) stay in memory
SET work_mem = '64MB'
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    m text := lower(coalesce(bloat_report.method, 'estimate'));
    h bigint;
BEGIN
    IF m NOT IN ('estimate', 'approx', 'exact') THEN
        RAISE EXCEPTION 'unknown bloat method "%"', bloat_report.method
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''estimate'' (catalog statistics, no scan), ''approx'' (pgstattuple_approx) or ''exact'' (pgstattuple / pgstatindex, reads every page).';
    END IF;
    -- this database alone (databases names only it, or rel is given): its
    -- errors raised as they are
    IF @extschema@._this_database_only(databases, CASE WHEN rel IS NOT NULL THEN 'rel' END) THEN
        RETURN QUERY SELECT * FROM @extschema@._bloat_report(m, rel, max_bytes);
        RETURN;
    END IF;
    h := @extschema@._on_databases_start('bloat_report', databases, NULL::@extschema@.bloat_row,
                                         m, NULL::regclass, max_bytes);
    -- this database, here, while the workers read the others; an error is
    -- its row, as for another database
    IF databases IS NULL OR current_database() = ANY (databases) THEN
        BEGIN
            RETURN QUERY SELECT * FROM @extschema@._bloat_report(m, NULL, max_bytes);
        EXCEPTION WHEN OTHERS THEN
            RETURN QUERY SELECT (@extschema@._not_checked_row(NULL::@extschema@.bloat_row, current_database(), 'error',
                                     format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE), 'reason', 'remedy')).*;
        END;
    END IF;
    -- the other databases' rows; a database that could not be checked is
    -- one row that says why, with the statement that fixes it (to run in
    -- that database)
    RETURN QUERY SELECT * FROM @extschema@._on_databases_rows(h, NULL::@extschema@.bloat_row,
                                                           'reason', 'remedy');
END
$fn$;

COMMENT ON FUNCTION @extschema@.bloat_report(text, regclass, bigint, name[]) IS
'bloat of tables and indexes (btree and hash estimated) with method, confidence, the reason a figure is weak and the remedy, in every database of the server (databases NULL), the named ones, or with rel this database only; relation and table_name are NULL for another database''s (datname, schemaname, relname, table_relname name it; its remedy is run there); a database that could not be checked is a row whose reason says why; method estimate (default, catalog statistics, no scan), approx or exact (pgstattuple, opt-in, reads every page: relations up to max_bytes, one table with rel)';

REVOKE ALL ON FUNCTION @extschema@.bloat_report(text, regclass, bigint, name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.bloat_report(text, regclass, bigint, name[]) TO pg_monitor;
