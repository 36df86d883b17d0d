-- runbook.migration_status(): every database of the server (or the named
-- ones) from one call: _migration_status() (migration_status.sql) in each
-- database through _on_databases().

CREATE OR REPLACE FUNCTION @extschema@.migration_status(
    probe_timeout interval DEFAULT '2s',
    databases name[] DEFAULT NULL)
RETURNS SETOF @extschema@.migration_status_row
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    h bigint;
BEGIN
    IF probe_timeout IS NULL OR probe_timeout <= interval '0' THEN
        RAISE EXCEPTION 'probe_timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF @extschema@._this_database_only(databases) THEN
        RETURN QUERY SELECT * FROM @extschema@._migration_status(probe_timeout);
        RETURN;
    END IF;
    h := @extschema@._on_databases_start('migration_status', databases, NULL::@extschema@.migration_status_row, probe_timeout);
    -- this database, here, while the workers read the others; an error is
    -- its row, as for another database
    IF databases IS NULL OR current_database() = ANY (databases) THEN
        BEGIN
            RETURN QUERY SELECT * FROM @extschema@._migration_status(probe_timeout);
        EXCEPTION WHEN OTHERS THEN
            RETURN QUERY SELECT (@extschema@._not_checked_row(NULL::@extschema@.migration_status_row, current_database(), 'error',
                                     format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE), 'detail', 'remedy_sql', '{"status": "not_checked"}')).*;
        END;
    END IF;
    -- the other databases' rows; a database that could not be checked is
    -- one row that says why, with the statement that fixes it (to run in
    -- that database)
    RETURN QUERY SELECT * FROM @extschema@._on_databases_rows(h, NULL::@extschema@.migration_status_row,
                                                           'detail', 'remedy_sql', '{"status": "not_checked"}');
END
$fn$;

COMMENT ON FUNCTION @extschema@.migration_status(interval, name[]) IS
'migration tables of Prisma, Flyway, Rails, golang-migrate, Alembic, Knex, Django, Liquibase, sqlx and goose in any schema of every database of the server (databases NULL) or of the named ones: failed, partial, dirty, locked, and the last applied, each with its datname, schemaname and relname (migration_table is NULL for another database''s) and the remedy to run there; a database that could not be checked is a row of status not_checked; zero rows when none is found';

REVOKE ALL ON FUNCTION @extschema@.migration_status(interval, name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.migration_status(interval, name[]) TO pg_monitor;
