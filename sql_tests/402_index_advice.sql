-- index_advice: one fixture per verdict, and the look-alikes that must not
-- be flagged (partial vs full, expression vs plain, other collation).
CREATE EXTENSION IF NOT EXISTS pg_runbook;
SET client_min_messages = warning;

CREATE TABLE ia_t (id int PRIMARY KEY, a int, c int, d int, e int, f int, g text, u int UNIQUE);
INSERT INTO ia_t SELECT i, i % 10, i, i, i, i, 'v' || i, i FROM generate_series(1, 1000) i;
CREATE INDEX ia_dup1 ON ia_t (a);
CREATE INDEX ia_dup2 ON ia_t (a);                       -- duplicate of ia_dup1
CREATE INDEX ia_prefix ON ia_t (c);                     -- redundant: prefix of ia_wide
CREATE INDEX ia_wide ON ia_t (c, d);
CREATE INDEX ia_nonuniq ON ia_t (e);                    -- redundant with the unique one
CREATE UNIQUE INDEX ia_uniq ON ia_t (e);
CREATE INDEX ia_full ON ia_t (f);
CREATE INDEX ia_partial ON ia_t (f) WHERE f > 500;      -- not a duplicate of ia_full
CREATE INDEX ia_plain ON ia_t (g);
CREATE INDEX ia_lower ON ia_t (lower(g));               -- not redundant with ia_plain ...
CREATE INDEX ia_lower_wide ON ia_t (lower(g), c);       -- ... but with this one
CREATE INDEX ia_coll ON ia_t (g COLLATE "C");           -- other collation: not a duplicate
CREATE INDEX ia_desc ON ia_t (d DESC);                  -- other order: not a prefix of ia_wide
CREATE INDEX ia_used ON ia_t (d, c);
-- a failed CREATE UNIQUE INDEX CONCURRENTLY leaves an invalid index
INSERT INTO ia_t VALUES (1001, 1, 1, 1, 1001, 1, 'v1', 1001);
CREATE UNIQUE INDEX CONCURRENTLY ia_invalid ON ia_t (g);
-- foreign keys: one without a supporting index, one with
CREATE TABLE ia_child (id int, t_id int REFERENCES ia_t (id));
CREATE TABLE ia_child_ok (id int, t_id int REFERENCES ia_t (id));
CREATE INDEX ia_child_ok_t_id ON ia_child_ok (t_id, id);
-- a table read by sequential scans only
CREATE TABLE ia_seq (id int, v text);
INSERT INTO ia_seq SELECT i, 'x' FROM generate_series(1, 20000) i;
ANALYZE ia_t, ia_seq;
SELECT count(*) FROM ia_seq WHERE v = 'y';
SELECT count(*) FROM ia_seq WHERE v = 'y';
SELECT count(*) FROM ia_seq WHERE v = 'y';
SET enable_seqscan = off;
SELECT count(*) FROM ia_t WHERE d = 5 AND c = 5;
RESET enable_seqscan;
SELECT pg_stat_force_next_flush();
SELECT pg_sleep(0.1);

SELECT verdict, index, table_name, keep, ddl
  FROM runbook.index_advice(min_table_bytes => 0, min_seq_scans => 3)
 WHERE table_name::text LIKE 'ia\_%'
 ORDER BY verdict, index::text COLLATE "C", table_name::text;

-- reasons of the non-unused verdicts
SELECT verdict, index, reason
  FROM runbook.index_advice(min_table_bytes => 0, min_seq_scans => 3)
 WHERE table_name::text LIKE 'ia\_%' AND verdict <> 'unused'
 ORDER BY verdict, index::text COLLATE "C", table_name::text;

-- the unused verdict names the statistics-reset time and never a PK or unique index
SELECT bool_and(reason ~ 'no index scans since' AND stats_since IS NOT NULL) AS with_reset_time,
       bool_or(index IN ('ia_t_pkey'::regclass, 'ia_t_u_key'::regclass, 'ia_uniq'::regclass)) AS flags_constraint
  FROM runbook.index_advice() WHERE verdict = 'unused';

-- leave nothing behind for the other suites sharing this database
DROP TABLE ia_child, ia_child_ok, ia_seq, ia_t;
