-- Composite types that functions return (created once; an update changes
-- them with ALTER TYPE in sql/updates/).

-- a row of bloat_report()
CREATE TYPE @extschema@.bloat_row AS (
    relation regclass,
    kind text,
    table_name regclass,
    size_bytes bigint,
    size_pretty text,
    bloat_bytes bigint,
    bloat_pretty text,
    bloat_pct numeric,
    dead_tuple_pct numeric,
    live_tuples bigint,
    dead_tuples bigint,
    toast_bytes bigint,
    fillfactor integer,
    method text,
    confidence text,
    reason text,
    remedy text,
    -- 1.2: where the row comes from (relation and table_name are NULL for
    -- another database's relation; these name it)
    datname name,
    schemaname name,
    relname name,
    table_relname name);

COMMENT ON TYPE @extschema@.bloat_row IS
'a row of bloat_report(): a table or index (schemaname, relname; an index''s table in table_relname) of a database, its size and estimated or measured bloat, how far the figure can be trusted, and the remedy to run in that database';

-- a row of every remedy: cancel, terminate, kill_idle, cancel_long,
-- terminate_blockers (the columns of the DESIGN contract)
CREATE TYPE @extschema@.remedy_result AS (
    pid integer,
    usename name,
    datname name,
    application_name text,
    client_addr inet,
    backend_type text,
    state text,
    state_age interval,
    xact_age interval,
    query_age interval,
    action text,
    outcome text,
    reason text,
    detail text,
    query text);

COMMENT ON TYPE @extschema@.remedy_result IS
'a row of a remedy (cancel, terminate, kill_idle, cancel_long, terminate_blockers): the session as it was re-checked, the action, its outcome or the reason it was skipped';

-- A check of triage() is a function of the sessions snapshot (an array of
-- runbook.sessions rows, taken once per call), the lock waits (jsonb: per
-- backend, the seconds each lock waiter has waited, the root blockers) and
-- returns its findings (none when all is well).  An error is not caught
-- there: triage() turns a check that fails into a SEV4 finding.
CREATE TYPE @extschema@.triage_finding AS (
    severity text,
    check_name text,
    finding text,
    evidence jsonb,
    action text,
    remedy_sql text,
    datname name);

COMMENT ON TYPE @extschema@.triage_finding IS
'a row of triage(): severity (SEV1 to SEV4), the check that found it, the finding, its evidence, what to do, the SQL to run next and the database it is about';
