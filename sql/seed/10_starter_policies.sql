-- The starter policies (the runbooks' rules, installed disabled): their
-- definitions are in objects/40_worker/starter_policies.sql.
INSERT INTO @extschema@.policies SELECT * FROM @extschema@._starter_policies()
    ON CONFLICT (name) DO NOTHING;
