-- The schema is the extension's own (issue 22).  CREATE EXTENSION creates
-- schema runbook (the control file's `schema`) when it does not exist, and
-- installs into it when it does.  A schema someone else made is refused
-- before anything is created: one owned by a role that is not a superuser
-- (a database owner could have made it), one where another role may create
-- objects, and one that holds anything at all (a planted function with the
-- name of one of ours and a text first argument would win the calls the
-- docs suggest).  A schema left empty by DROP EXTENSION is fine.  Every name
-- and operator here is qualified: this runs as a superuser with the schema
-- in search_path, before we know what the schema holds.
DO $schema_check$
DECLARE
    nsp    pg_catalog.oid;
    owner  pg_catalog.name;
    super  boolean;
    what   pg_catalog.text;
    who    pg_catalog.text;
BEGIN
    SELECT n.oid, r.rolname, r.rolsuper INTO nsp, owner, super
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) '@extschema@';
    IF NOT super THEN
        RAISE EXCEPTION 'schema "@extschema@" already exists and is owned by role "%", which is not a superuser', owner
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = 'pg_runbook installs only into a schema of its own: objects a non-superuser placed there would be found by the calls of a superuser.',
                  HINT = 'Check what the schema holds, then drop or rename it (DROP SCHEMA "@extschema@" CASCADE, or ALTER SCHEMA "@extschema@" RENAME TO ...) and run CREATE EXTENSION pg_runbook again: it creates the schema itself.';
    END IF;
    SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                                 ELSE a.grantee::pg_catalog.regrole::pg_catalog.text END, ', ')
      INTO who
      FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
     WHERE n.oid OPERATOR(pg_catalog.=) nsp AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner;
    IF who IS NOT NULL THEN
        RAISE EXCEPTION 'schema "@extschema@" already exists and other roles may create objects in it: %', who
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = 'pg_runbook installs only into a schema of its own.',
                  HINT = 'REVOKE CREATE ON SCHEMA "@extschema@" FROM those roles after checking what the schema holds, or drop the schema, then run CREATE EXTENSION pg_runbook again.';
    END IF;
    SELECT pg_catalog.string_agg(o.kind OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) o.name, ', ' ORDER BY o.kind, o.name) INTO what
      FROM (SELECT 'relation' AS kind, c.relname::pg_catalog.text AS name FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'function', p.oid::pg_catalog.regprocedure::pg_catalog.text FROM pg_catalog.pg_proc p WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'type', t.typname::pg_catalog.text FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'operator', o.oid::pg_catalog.regoperator::pg_catalog.text FROM pg_catalog.pg_operator o WHERE o.oprnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'collation', l.collname::pg_catalog.text FROM pg_catalog.pg_collation l WHERE l.collnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'conversion', v.conname::pg_catalog.text FROM pg_catalog.pg_conversion v WHERE v.connamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'operator class', oc.opcname::pg_catalog.text FROM pg_catalog.pg_opclass oc WHERE oc.opcnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'operator family', f.opfname::pg_catalog.text FROM pg_catalog.pg_opfamily f WHERE f.opfnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'statistics object', x.stxname::pg_catalog.text FROM pg_catalog.pg_statistic_ext x WHERE x.stxnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'text search configuration', tc.cfgname::pg_catalog.text FROM pg_catalog.pg_ts_config tc WHERE tc.cfgnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'text search dictionary', td.dictname::pg_catalog.text FROM pg_catalog.pg_ts_dict td WHERE td.dictnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'text search parser', tp.prsname::pg_catalog.text FROM pg_catalog.pg_ts_parser tp WHERE tp.prsnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'text search template', tt.tmplname::pg_catalog.text FROM pg_catalog.pg_ts_template tt WHERE tt.tmplnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL SELECT 'extension', e.extname::pg_catalog.text FROM pg_catalog.pg_extension e WHERE e.extnamespace OPERATOR(pg_catalog.=) nsp
                                                                                   AND e.extname OPERATOR(pg_catalog.<>) 'pg_runbook') o;
    IF what IS NOT NULL THEN
        RAISE EXCEPTION 'schema "@extschema@" already exists and holds objects that are not pg_runbook''s'
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = pg_catalog.left('It holds: ' OPERATOR(pg_catalog.||) what, 1000),
                  HINT = 'Check who made them and why, then drop or rename the schema (DROP SCHEMA "@extschema@" CASCADE, or ALTER SCHEMA "@extschema@" RENAME TO ...) and run CREATE EXTENSION pg_runbook again.';
    END IF;
END
$schema_check$;

-- The schema runbook (the control file's `schema`): nothing in it is for
-- PUBLIC; read-only diagnostics are granted to pg_monitor, remedies to
-- pg_signal_backend (each object's file grants what it creates).
REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO pg_monitor, pg_signal_backend;
