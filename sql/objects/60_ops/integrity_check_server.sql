-- runbook.integrity_check(): every database of the server (or the named
-- ones) from one call: _integrity_check() (integrity_check.sql) in each
-- database through _on_databases(), or here alone when the call names
-- relations of this database (amcheck_indexes); then the checksum
-- failures, which pg_stat_database holds for the whole server.

CREATE OR REPLACE FUNCTION @extschema@.integrity_check(
    amcheck_indexes regclass[] DEFAULT NULL,
    orphan_timeout interval DEFAULT '5s',
    include_ok boolean DEFAULT false,
    heapallindexed boolean DEFAULT false,
    databases name[] DEFAULT NULL)
RETURNS SETOF @extschema@.integrity_check_row
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    h bigint;
BEGIN
    IF orphan_timeout IS NOT NULL AND orphan_timeout < interval '0' THEN
        RAISE EXCEPTION 'orphan_timeout must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass an interval such as ''5s''; NULL or ''0'' skips orphan counting.';
    END IF;
    -- this database alone (databases names only it, or amcheck_indexes,
    -- which names its relations): here, its errors raised as they are
    IF @extschema@._this_database_only(databases, CASE WHEN amcheck_indexes IS NOT NULL THEN 'amcheck_indexes' END) THEN
        RETURN QUERY SELECT * FROM @extschema@._integrity_check(amcheck_indexes, orphan_timeout, include_ok, heapallindexed);
    ELSE
        h := @extschema@._on_databases_start('integrity_check', databases, NULL::@extschema@.integrity_check_row, NULL::regclass[], orphan_timeout, include_ok, heapallindexed);
        -- this database, here, while the workers read the others; an error is
        -- its row, as for another database
        IF databases IS NULL OR current_database() = ANY (databases) THEN
            BEGIN
                RETURN QUERY SELECT * FROM @extschema@._integrity_check(NULL, orphan_timeout, include_ok, heapallindexed);
            EXCEPTION WHEN OTHERS THEN
                RETURN QUERY SELECT (@extschema@._not_checked_row(NULL::@extschema@.integrity_check_row, current_database(), 'error',
                                         format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE), 'detail', 'remedy_sql', '{"check_name": "database", "status": "not_checked"}')).*;
            END;
        END IF;
        -- the other databases' rows; a database that could not be checked is
        -- one row that says why, with the statement that fixes it (to run in
        -- that database)
        RETURN QUERY SELECT * FROM @extschema@._on_databases_rows(h, NULL::@extschema@.integrity_check_row,
                                                           'detail', 'remedy_sql', '{"check_name": "database", "status": "not_checked"}');
    END IF;

    -- checksum failures, per database of the call (NULL when checksums are
    -- off), and the shared objects unless databases are named: one
    -- server-wide view, read here
    RETURN QUERY
    SELECT 'checksum_failures'::text,
           CASE WHEN d.checksum_failures > 0 THEN 'found' ELSE 'ok' END,
           coalesce(d.datname::text, '(shared objects)'), NULL::regclass, d.checksum_failures,
           CASE WHEN d.checksum_failures > 0
                THEN 'data page checksum failures, last at ' || d.checksum_last_failure || ': storage is corrupting pages; find them in the server log (WARNING: page verification failed)'
                ELSE 'no checksum failures' END,
           @extschema@._runnable('sql', 'SELECT datname, checksum_failures, checksum_last_failure FROM pg_stat_database WHERE datname IS NOT DISTINCT FROM %L;',
                                 d.datname),
           CASE WHEN d.checksum_failures > 0
                THEN @extschema@._runnable('sql', '-- restore the damaged relations from a backup; check the disks; pg_checksums --check (offline) lists every bad block') END,
           d.datname, NULL::name, NULL::name
      FROM pg_stat_database d
     WHERE (d.checksum_failures > 0 OR (include_ok AND d.checksum_failures IS NOT NULL))
       AND (databases IS NULL OR d.datname = ANY (databases))
     ORDER BY 3;
END
$fn$;

COMMENT ON FUNCTION @extschema@.integrity_check(regclass[], interval, boolean, boolean, name[]) IS
'invalid indexes, NOT VALID constraints, orphaned rows per foreign key (time-bounded, locked tables skipped), checksum failures, and bt_index_check over amcheck_indexes (this database); each finding with its datname, schemaname and relname (relation is NULL for another database''s) and the SQL that confirms or fixes it there; every database of the server (databases NULL) or the named ones; a database that could not be checked is a row of status not_checked';

REVOKE ALL ON FUNCTION @extschema@.integrity_check(regclass[], interval, boolean, boolean, name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.integrity_check(regclass[], interval, boolean, boolean, name[]) TO pg_monitor;
