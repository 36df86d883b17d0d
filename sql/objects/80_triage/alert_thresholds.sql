-- runbook.alert_thresholds on write: a user change marks the row user_set
-- (pg_dump keeps only those); on restore the INSERT of a row CREATE
-- EXTENSION already made becomes an UPDATE of it; a negative value is
-- refused on INSERT and on UPDATE.

CREATE OR REPLACE FUNCTION @extschema@._alert_thresholds_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NEW.value IS NULL OR NEW.value < 0 THEN
        RAISE EXCEPTION 'threshold % must be a non-negative number', NEW.name
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Thresholds are counts, percents, seconds, bytes or milliseconds: 0 or more.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.value IS DISTINCT FROM OLD.value OR NEW.unit IS DISTINCT FROM OLD.unit
           OR NEW.description IS DISTINCT FROM OLD.description THEN
            NEW.user_set := true;
        END IF;
        RETURN NEW;
    END IF;
    -- INSERT (a restore): the row CREATE EXTENSION made is updated instead
    UPDATE @extschema@.alert_thresholds t
       SET value = NEW.value, unit = NEW.unit, description = NEW.description, user_set = NEW.user_set
     WHERE t.name = NEW.name;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$fn$;

REVOKE ALL ON FUNCTION @extschema@._alert_thresholds_write() FROM PUBLIC;

CREATE OR REPLACE TRIGGER alert_thresholds_write
BEFORE INSERT OR UPDATE ON @extschema@.alert_thresholds
FOR EACH ROW EXECUTE FUNCTION @extschema@._alert_thresholds_write();
