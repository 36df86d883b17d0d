-- The remedy of a migration_status() row as triage prints it: a stuck lock
-- holder through the audited runbook.terminate(); a tool's shell command
-- with the migration name as one shell word, as a SQL comment on one line.

CREATE OR REPLACE FUNCTION @extschema@._migration_remedy(tool text, status text, migration text, detail text, remedy text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    holder integer;
BEGIN
    IF remedy IS NULL THEN
        RETURN NULL;
    END IF;
    holder := substring(detail FROM 'held by pid ([0-9]+)')::integer;
    IF holder IS NOT NULL AND remedy ~ 'pg_terminate_backend' THEN
        RETURN format('SELECT * FROM %s.terminate(%s, %L);  -- only if that session is stuck: a migration may be running',
                      '@extschema@', holder, format('%s migration lock holder stuck', tool));
    END IF;
    IF migration ~ '[[:cntrl:]]' THEN
        RETURN '-- the migration name holds control characters: see ' || '@extschema@' || '.migration_status() and quote it by hand';
    END IF;
    IF migration IS NOT NULL THEN
        remedy := replace(replace(remedy, '--rolled-back ' || migration, '--rolled-back ' || @extschema@._shell_quote(migration)),
                          '--applied ' || migration, '--applied ' || @extschema@._shell_quote(migration));
    END IF;
    RETURN '-- ' || @extschema@._one_line(remedy);
END
$fn$;

COMMENT ON FUNCTION @extschema@._migration_remedy(text, text, text, text, text) IS
'internal: a migration_status() remedy quoted for its target (shell words, one-line SQL comment, audited terminate)';

REVOKE ALL ON FUNCTION @extschema@._migration_remedy(text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._migration_remedy(text, text, text, text, text) TO pg_monitor;
