-- runbook._relation_names(relids): schema-qualified names of relations of
-- this database, by oid.  lock_tree() asks it, through _on_databases()
-- (the check "relation_names", run in a worker connected to the database
-- whose relations another database's lock tree shows), because a relation's
-- name is in its own database's catalog only.  _relation_name is the row
-- type (a view that returns nothing).

CREATE OR REPLACE VIEW @extschema@._relation_name AS
    SELECT NULL::oid AS relid, NULL::text AS name WHERE false;

COMMENT ON VIEW @extschema@._relation_name IS
'internal: the row type of _relation_names() (no rows)';

GRANT SELECT ON @extschema@._relation_name TO pg_monitor;

CREATE OR REPLACE FUNCTION @extschema@._relation_names(relids oid[])
RETURNS SETOF @extschema@._relation_name
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = ANY (relids)
$fn$;

COMMENT ON FUNCTION @extschema@._relation_names(oid[]) IS
'internal: schema-qualified names of relations of this database, by oid (lock_tree() of another database asks it through _on_databases())';

REVOKE ALL ON FUNCTION @extschema@._relation_names(oid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._relation_names(oid[]) TO pg_monitor;
