-- integrity_check: invalid index from a failed CREATE INDEX CONCURRENTLY,
-- NOT VALID constraints, orphaned rows under a NOT VALID foreign key,
-- amcheck over a healthy index, and the time bound of one probe.
\set SHOW_CONTEXT never
-- a clean database has nothing to report
SELECT count(*) FROM runbook.integrity_check();
CREATE SCHEMA integ;
CREATE TABLE integ.parent (id int PRIMARY KEY, code text);
CREATE TABLE integ.child (id int PRIMARY KEY, parent_id int, note text);
INSERT INTO integ.parent SELECT g, 'p' || g FROM generate_series(1, 10) g;
INSERT INTO integ.child VALUES (1, 1, 'ok'), (2, 2, 'ok'), (3, 42, 'orphan'), (4, NULL, 'no parent'), (5, 43, '');
ALTER TABLE integ.child ADD CONSTRAINT child_parent_fk
    FOREIGN KEY (parent_id) REFERENCES integ.parent (id) NOT VALID;
ALTER TABLE integ.child ADD CONSTRAINT note_nonempty CHECK (note <> '') NOT VALID;
CREATE TABLE integ.good_child (id int PRIMARY KEY, parent_id int REFERENCES integ.parent);
INSERT INTO integ.good_child VALUES (1, 3), (2, NULL);
-- two-column MATCH FULL key
CREATE TABLE integ.pair (a int, b int, PRIMARY KEY (a, b));
INSERT INTO integ.pair VALUES (1, 1);
CREATE TABLE integ.pair_ref (id int, a int, b int);
INSERT INTO integ.pair_ref VALUES (1, 1, 1), (2, 1, NULL), (3, NULL, NULL), (4, 2, 2);
ALTER TABLE integ.pair_ref ADD CONSTRAINT pair_ref_fk FOREIGN KEY (a, b)
    REFERENCES integ.pair MATCH FULL NOT VALID;
-- a unique index built concurrently over duplicates fails and stays invalid
CREATE TABLE integ.users (id int, email text);
INSERT INTO integ.users VALUES (1, 'a@example.com'), (2, 'a@example.com'), (3, 'b@example.com');
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON integ.users (email);
\x
SELECT * FROM runbook.integrity_check();
\x
-- the SQL given confirms each finding
SELECT email, count(*) FROM integ.users GROUP BY email HAVING count(*) > 1;
SELECT count(*) FROM integ.child WHERE NOT ((note <> ''::text));
-- include_ok lists the clean foreign keys too
SELECT check_name, status, object, relation, count
  FROM runbook.integrity_check(include_ok => true) ORDER BY check_name, object;
-- orphan counting can be switched off
SELECT check_name, count(*) FROM runbook.integrity_check(orphan_timeout => NULL) GROUP BY 1 ORDER BY 1;
SELECT * FROM runbook.integrity_check(orphan_timeout => '-1s');
-- amcheck: an explicit argument without the extension is an error
SELECT * FROM runbook.integrity_check(ARRAY['integ.parent_pkey'::regclass]);
CREATE EXTENSION amcheck;
-- a table means its B-tree indexes; the invalid one is skipped
SELECT check_name, status, object, relation, detail, check_sql
  FROM runbook.integrity_check(ARRAY['integ.parent'::regclass, 'integ.users_email_key'], heapallindexed => true)
 WHERE check_name = 'amcheck';
DROP EXTENSION amcheck;
-- the time bound: our own deadline is reported as ours (and the probe's
-- subtransaction rolled back)
SELECT result, outcome FROM runbook._bounded_query('SELECT pg_sleep(5)', '{}', 50);
-- the caller's statement_timeout is put back afterwards: it still ends this
-- statement (pg_sleep(3) alone would outlast it)
SET statement_timeout = '1s';
SELECT (runbook._bounded_query('SELECT pg_sleep(5)', '{}', 50)).outcome, pg_sleep(3);
-- and when the caller's limit is the sooner one, it is not swallowed
SET statement_timeout = '100ms';
SELECT (runbook._bounded_query('SELECT pg_sleep(5)', '{}', 60000)).outcome;
RESET statement_timeout;
-- a probe on a table locked by this transaction itself runs normally
BEGIN;
LOCK TABLE integ.parent IN ACCESS EXCLUSIVE MODE;
SELECT result, outcome FROM runbook._bounded_query('SELECT count(*) AS n FROM integ.parent', '{integ.parent}', 1000);
ROLLBACK;
-- partitioned tables: one row per foreign key (not per partition); a
-- validated key can have orphans too (triggers bypassed)
CREATE TABLE integ.pp (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE integ.pp1 PARTITION OF integ.pp FOR VALUES FROM (0) TO (100);
CREATE TABLE integ.pp2 PARTITION OF integ.pp FOR VALUES FROM (100) TO (200);
INSERT INTO integ.pp VALUES (1), (150);
CREATE TABLE integ.pc (id int, pid int REFERENCES integ.pp) PARTITION BY RANGE (id);
CREATE TABLE integ.pc1 PARTITION OF integ.pc FOR VALUES FROM (0) TO (100);
CREATE TABLE integ.pc2 PARTITION OF integ.pc FOR VALUES FROM (100) TO (200);
INSERT INTO integ.pc VALUES (1, 1), (120, 150);
SET session_replication_role = replica;
INSERT INTO integ.pc VALUES (2, 77);
RESET session_replication_role;
SELECT check_name, status, object, relation, count, detail
  FROM runbook.integrity_check(include_ok => true)
 WHERE relation::text LIKE 'integ.p_';
DROP TABLE integ.pc, integ.pp;
-- fixing the findings clears them
DELETE FROM integ.child WHERE id IN (3, 5);
ALTER TABLE integ.child VALIDATE CONSTRAINT child_parent_fk;
ALTER TABLE integ.child VALIDATE CONSTRAINT note_nonempty;
DROP INDEX integ.users_email_key;
DROP TABLE integ.pair_ref;
SELECT count(*) FROM runbook.integrity_check();
DROP SCHEMA integ CASCADE;
