-- Who changed a policy or a threshold, and when: the stamp trigger of
-- runbook.policies and runbook.alert_thresholds (updated_by is session_user,
-- also after SET ROLE); deleting a row leaves a LOG line.

CREATE OR REPLACE FUNCTION @extschema@._config_stamp() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE LOG 'pg_runbook: row % deleted from %.% by session_user % (current_user %)',
                  pg_catalog.quote_literal(OLD.name), TG_TABLE_SCHEMA, TG_TABLE_NAME,
                  pg_catalog.quote_ident(session_user), pg_catalog.quote_ident(current_user);
        RETURN OLD;
    END IF;
    NEW.updated_by := session_user;
    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$fn$;

REVOKE ALL ON FUNCTION @extschema@._config_stamp() FROM PUBLIC;

CREATE OR REPLACE TRIGGER policies_stamp
    BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.policies
    FOR EACH ROW EXECUTE FUNCTION @extschema@._config_stamp();
CREATE OR REPLACE TRIGGER alert_thresholds_stamp
    BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.alert_thresholds
    FOR EACH ROW EXECUTE FUNCTION @extschema@._config_stamp();
