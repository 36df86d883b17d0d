-- Row types of the functions that cover every database of the server,
-- new in 1.2: a fresh install makes them here, and the update 1.1 -> 1.2
-- takes this same file (its line "-- @include sql/install/12_whole_server_types.sql",
-- expanded by tools/sql-build.sh): each is written once.

-- The rows of the per-database functions that cover every database of the
-- server (1.2; ARCHITECTURE.md, "Every database from one call"): each
-- database's rows come back with these columns, of built-in types only.
-- reg* columns are NULL for another database's rows: datname, schemaname
-- and relname (and table_relname, table_schemaname) name the relation.

-- a row of index_advice()
CREATE TYPE @extschema@.index_advice_row AS (
    verdict text,
    index regclass,
    table_name regclass,
    size_bytes bigint,
    size_pretty text,
    keep regclass,
    reason text,
    ddl text,
    stats_since timestamptz,
    datname name,
    schemaname name,
    relname name,
    table_relname name);

COMMENT ON TYPE @extschema@.index_advice_row IS
'a row of index_advice(): the verdict, the index (relname) and its table (table_relname; an index is in its table''s schema), the reason and the DDL to run in that database';

-- a row of migration_status()
CREATE TYPE @extschema@.migration_status_row AS (
    tool text,
    migration_table regclass,
    status text,
    migration text,
    started_at timestamptz,
    finished_at timestamptz,
    detail text,
    remedy text,
    remedy_command text,
    remedy_sql text,
    datname name,
    schemaname name,
    relname name);

COMMENT ON TYPE @extschema@.migration_status_row IS
'a row of migration_status(): a migration tool''s table in a database (schemaname, relname), its status and the remedy';

-- a row of integrity_check()
CREATE TYPE @extschema@.integrity_check_row AS (
    check_name text,
    status text,
    object text,
    relation regclass,
    count bigint,
    detail text,
    check_sql text,
    remedy_sql text,
    datname name,
    schemaname name,
    relname name);

COMMENT ON TYPE @extschema@.integrity_check_row IS
'a row of integrity_check(): a check, its status, the object and relation (schemaname, relname) in a database, the SQL that confirms it and the SQL that fixes it';

-- a row of sequences_near_overflow()
CREATE TYPE @extschema@.sequences_near_overflow_row AS (
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
    table_relname name);

COMMENT ON TYPE @extschema@.sequences_near_overflow_row IS
'a row of sequences_near_overflow(): the sequence (schemaname, relname) and the column it feeds (table_schemaname, table_relname, column_name) in a database, how much of its range is used, and the remedy';
