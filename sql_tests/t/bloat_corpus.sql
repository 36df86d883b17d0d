-- The bloat accuracy corpus (sql_tests/t/401_bloat_accuracy.pl): tables and
-- indexes built to be what estimators get wrong.  Every table has
-- autovacuum off, so what each one went through is exactly what is written
-- here.  Sizes are kept small enough for the whole corpus to be built,
-- measured and rewritten in well under a minute.
-- pg_stat_force_next_flush() before every ANALYZE and VACUUM: the counts of
-- this session's writes reach the cumulative statistics before those reset
-- them (as they would a second later in any real session).
SET client_min_messages = warning;
SET synchronous_commit = off;

-- the issue's case: 1,000,000 rows analyzed, then 80 % of them updated or
-- deleted (40 % each), no VACUUM, no ANALYZE since
CREATE TABLE bc_issue (id int PRIMARY KEY, k int, pad text) WITH (autovacuum_enabled = false);
INSERT INTO bc_issue SELECT g, g % 1000, 'row ' || g FROM generate_series(1, 1000000) g;
CREATE INDEX bc_issue_k ON bc_issue (k);
SELECT pg_stat_force_next_flush();
ANALYZE bc_issue;
UPDATE bc_issue SET pad = pad || '.' WHERE id % 5 = 1 OR id % 5 = 2;
DELETE FROM bc_issue WHERE id % 5 = 3 OR id % 5 = 4;

-- narrow rows, fixed width, fresh
CREATE TABLE bc_narrow (id int PRIMARY KEY, a int NOT NULL, b smallint NOT NULL) WITH (autovacuum_enabled = false);
INSERT INTO bc_narrow SELECT g, g * 7, g % 100 FROM generate_series(1, 200000) g;
SELECT pg_stat_force_next_flush();
ANALYZE bc_narrow;

-- alignment padding between columns (bool, bigint, bool, bigint)
CREATE TABLE bc_align (f1 bool, b1 bigint, f2 bool, b2 bigint, c char(3)) WITH (autovacuum_enabled = false);
INSERT INTO bc_align SELECT g % 2 = 0, g, g % 3 = 0, g * 2, 'abc' FROM generate_series(1, 150000) g;
CREATE INDEX bc_align_b1 ON bc_align (b1);
SELECT pg_stat_force_next_flush();
ANALYZE bc_align;

-- wide rows (about 1,500 bytes, incompressible, stored inline): 5 rows a page
CREATE TABLE bc_wide (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = false);
ALTER TABLE bc_wide ALTER body SET STORAGE EXTERNAL;
INSERT INTO bc_wide SELECT g, (SELECT string_agg(md5(g::text || ':' || i), '') FROM generate_series(1, 46) i)
  FROM generate_series(1, 20000) g;
SELECT pg_stat_force_next_flush();
ANALYZE bc_wide;

-- the same, half deleted and vacuumed
CREATE TABLE bc_wide_del (LIKE bc_wide INCLUDING ALL) WITH (autovacuum_enabled = false);
INSERT INTO bc_wide_del SELECT * FROM bc_wide;
DELETE FROM bc_wide_del WHERE id % 2 = 0;
SELECT pg_stat_force_next_flush();
VACUUM ANALYZE bc_wide_del;

-- mostly NULL columns
CREATE TABLE bc_nulls (id int PRIMARY KEY, a int, b bigint, c text, d timestamptz, e numeric, f text)
  WITH (autovacuum_enabled = false);
INSERT INTO bc_nulls SELECT g,
       CASE WHEN g % 10 = 0 THEN g END, CASE WHEN g % 7 = 0 THEN g END,
       CASE WHEN g % 5 = 0 THEN repeat('c', g % 40) END, CASE WHEN g % 9 = 0 THEN now() END,
       CASE WHEN g % 11 = 0 THEN g / 3.0 END, CASE WHEN g % 13 = 0 THEN md5(g::text) END
  FROM generate_series(1, 200000) g;
CREATE INDEX bc_nulls_a ON bc_nulls (a);
SELECT pg_stat_force_next_flush();
ANALYZE bc_nulls;

-- TOASTed out of line (EXTERNAL: no compression)
CREATE TABLE bc_toast (id int PRIMARY KEY, doc text) WITH (autovacuum_enabled = false);
ALTER TABLE bc_toast ALTER doc SET STORAGE EXTERNAL;
INSERT INTO bc_toast SELECT g, repeat(md5(g::text), 150) FROM generate_series(1, 8000) g;
SELECT pg_stat_force_next_flush();
ANALYZE bc_toast;

-- compressed inline (MAIN)
CREATE TABLE bc_compressed (id int PRIMARY KEY, doc text) WITH (autovacuum_enabled = false);
ALTER TABLE bc_compressed ALTER doc SET STORAGE MAIN;
INSERT INTO bc_compressed SELECT g, repeat('abcdefgh' || (g % 97), 300) FROM generate_series(1, 30000) g;
SELECT pg_stat_force_next_flush();
ANALYZE bc_compressed;

-- TOASTed, then most rows deleted and vacuumed
CREATE TABLE bc_toast_del (id int PRIMARY KEY, doc text) WITH (autovacuum_enabled = false);
ALTER TABLE bc_toast_del ALTER doc SET STORAGE EXTERNAL;
INSERT INTO bc_toast_del SELECT g, repeat(md5(g::text), 150) FROM generate_series(1, 8000) g;
DELETE FROM bc_toast_del WHERE id % 4 <> 0;
SELECT pg_stat_force_next_flush();
VACUUM ANALYZE bc_toast_del;

-- fillfactor 70, fresh
CREATE TABLE bc_ff70 (id int PRIMARY KEY, v int, pad text) WITH (fillfactor = 70, autovacuum_enabled = false);
INSERT INTO bc_ff70 SELECT g, g, repeat('p', 60) FROM generate_series(1, 150000) g;
SELECT pg_stat_force_next_flush();
ANALYZE bc_ff70;

-- fillfactor 50 after HOT updates of every row
CREATE TABLE bc_ff50_hot (id int PRIMARY KEY, v int, pad text) WITH (fillfactor = 50, autovacuum_enabled = false);
INSERT INTO bc_ff50_hot SELECT g, g, repeat('p', 40) FROM generate_series(1, 100000) g;
UPDATE bc_ff50_hot SET v = v + 1;
SELECT pg_stat_force_next_flush();
VACUUM ANALYZE bc_ff50_hot;

-- an index with fillfactor 70
CREATE TABLE bc_idx_ff (id int, v int) WITH (autovacuum_enabled = false);
INSERT INTO bc_idx_ff SELECT g, g FROM generate_series(1, 200000) g;
CREATE INDEX bc_idx_ff_v ON bc_idx_ff (v) WITH (fillfactor = 70);
SELECT pg_stat_force_next_flush();
ANALYZE bc_idx_ff;

-- a wide column dropped: old rows still carry it
CREATE TABLE bc_dropped (id int PRIMARY KEY, big text, v int) WITH (autovacuum_enabled = false);
INSERT INTO bc_dropped SELECT g, repeat('d', 200), g FROM generate_series(1, 50000) g;
ALTER TABLE bc_dropped DROP COLUMN big;
SELECT pg_stat_force_next_flush();
ANALYZE bc_dropped;

-- a column dropped, then the table rewritten
CREATE TABLE bc_dropped_full (id int PRIMARY KEY, big text, v int) WITH (autovacuum_enabled = false);
INSERT INTO bc_dropped_full SELECT g, repeat('d', 200), g FROM generate_series(1, 50000) g;
ALTER TABLE bc_dropped_full DROP COLUMN big;
SELECT pg_stat_force_next_flush();
VACUUM FULL bc_dropped_full;
SELECT pg_stat_force_next_flush();
ANALYZE bc_dropped_full;

-- mass UPDATE (non-HOT: the indexed column), no VACUUM
CREATE TABLE bc_upd (id int PRIMARY KEY, v int, pad text) WITH (autovacuum_enabled = false);
INSERT INTO bc_upd SELECT g, g, repeat('u', 30) FROM generate_series(1, 200000) g;
CREATE INDEX bc_upd_v ON bc_upd (v);
SELECT pg_stat_force_next_flush();
ANALYZE bc_upd;
UPDATE bc_upd SET v = v + 1 WHERE id % 2 = 0;

-- the same, vacuumed
CREATE TABLE bc_upd_vac (id int PRIMARY KEY, v int, pad text) WITH (autovacuum_enabled = false);
INSERT INTO bc_upd_vac SELECT g, g, repeat('u', 30) FROM generate_series(1, 200000) g;
CREATE INDEX bc_upd_vac_v ON bc_upd_vac (v);
UPDATE bc_upd_vac SET v = v + 1 WHERE id % 2 = 0;
SELECT pg_stat_force_next_flush();
VACUUM ANALYZE bc_upd_vac;

-- mass DELETE, no VACUUM (and the last ANALYZE before it)
CREATE TABLE bc_del (id int PRIMARY KEY, v int, pad text) WITH (autovacuum_enabled = false);
INSERT INTO bc_del SELECT g, g % 500, repeat('x', 40 + g % 60) FROM generate_series(1, 200000) g;
CREATE INDEX bc_del_v ON bc_del (v);
SELECT pg_stat_force_next_flush();
ANALYZE bc_del;
DELETE FROM bc_del WHERE id % 3 <> 0;

-- the same, vacuumed (and analyzed)
CREATE TABLE bc_del_vac (id int PRIMARY KEY, v int, pad text) WITH (autovacuum_enabled = false);
INSERT INTO bc_del_vac SELECT g, g % 500, repeat('x', 40 + g % 60) FROM generate_series(1, 200000) g;
CREATE INDEX bc_del_vac_v ON bc_del_vac (v);
DELETE FROM bc_del_vac WHERE id % 3 <> 0;
SELECT pg_stat_force_next_flush();
VACUUM ANALYZE bc_del_vac;

-- vacuumed but never analyzed since the rows grew (stale widths)
CREATE TABLE bc_stale (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false);
INSERT INTO bc_stale SELECT g, 'n' FROM generate_series(1, 100000) g;
SELECT pg_stat_force_next_flush();
ANALYZE bc_stale;
UPDATE bc_stale SET note = repeat('n', 120);
SELECT pg_stat_force_next_flush();
VACUUM bc_stale;

-- never analyzed, never vacuumed: fixed-width NOT NULL columns
CREATE TABLE bc_never_fixed (id int NOT NULL, a bigint NOT NULL, b int NOT NULL) WITH (autovacuum_enabled = false);
INSERT INTO bc_never_fixed SELECT g, g, g FROM generate_series(1, 100000) g;

-- never analyzed: text columns
CREATE TABLE bc_never_text (id int, t text) WITH (autovacuum_enabled = false);
INSERT INTO bc_never_text SELECT g, repeat('t', g % 80) FROM generate_series(1, 100000) g;
CREATE INDEX bc_never_text_id ON bc_never_text (id);

-- partitioned: three partitions in three states
CREATE TABLE bc_part (id int, v int, pad text) PARTITION BY RANGE (id);
CREATE TABLE bc_part_1 PARTITION OF bc_part FOR VALUES FROM (0) TO (100000) WITH (autovacuum_enabled = false);
CREATE TABLE bc_part_2 PARTITION OF bc_part FOR VALUES FROM (100000) TO (200000) WITH (autovacuum_enabled = false);
CREATE TABLE bc_part_3 PARTITION OF bc_part FOR VALUES FROM (200000) TO (300000) WITH (autovacuum_enabled = false);
CREATE INDEX bc_part_v ON bc_part (v);
INSERT INTO bc_part SELECT g, g % 1000, repeat('q', 50) FROM generate_series(0, 299999) g;
SELECT pg_stat_force_next_flush();
ANALYZE bc_part;
DELETE FROM bc_part WHERE id >= 100000 AND id < 200000 AND id % 2 = 0;
SELECT pg_stat_force_next_flush();
VACUUM bc_part_2;
UPDATE bc_part SET v = v + 1 WHERE id >= 200000 AND id % 3 = 0;

-- expression and partial indexes
CREATE TABLE bc_expr (id int PRIMARY KEY, email text, active bool) WITH (autovacuum_enabled = false);
INSERT INTO bc_expr SELECT g, 'User' || g || '@Example.com', g % 10 = 0 FROM generate_series(1, 150000) g;
CREATE INDEX bc_expr_lower ON bc_expr (lower(email));
CREATE INDEX bc_expr_partial ON bc_expr (id) WHERE active;
SELECT pg_stat_force_next_flush();
ANALYZE bc_expr;

-- duplicates: deduplicated btree posting lists
CREATE TABLE bc_dups (id int, status int, tag text) WITH (autovacuum_enabled = false);
INSERT INTO bc_dups SELECT g, g % 5, 'tag' || (g % 20) FROM generate_series(1, 200000) g;
CREATE INDEX bc_dups_status ON bc_dups (status);
CREATE INDEX bc_dups_tag ON bc_dups (tag);
SELECT pg_stat_force_next_flush();
ANALYZE bc_dups;

-- an index grown by random inserts (page splits), not built at once
CREATE TABLE bc_random (id int, r float8) WITH (autovacuum_enabled = false);
CREATE INDEX bc_random_r ON bc_random (r);
INSERT INTO bc_random SELECT g, (g * 2654435761::bigint % 4294967296) / 4294967296.0 FROM generate_series(1, 150000) g;
SELECT pg_stat_force_next_flush();
ANALYZE bc_random;

-- multi-column index with mixed widths
CREATE TABLE bc_multi (a int, b text, c date, d bigint) WITH (autovacuum_enabled = false);
INSERT INTO bc_multi SELECT g % 1000, 'k' || (g % 5000), date '2020-01-01' + g % 700, g FROM generate_series(1, 150000) g;
CREATE INDEX bc_multi_abc ON bc_multi (a, b, c);
CREATE UNIQUE INDEX bc_multi_d ON bc_multi (d);
SELECT pg_stat_force_next_flush();
ANALYZE bc_multi;

-- uuid keys
CREATE TABLE bc_uuid (id uuid PRIMARY KEY, n int) WITH (autovacuum_enabled = false);
INSERT INTO bc_uuid SELECT md5(g::text)::uuid, g FROM generate_series(1, 100000) g;
SELECT pg_stat_force_next_flush();
ANALYZE bc_uuid;

-- numeric and varchar
CREATE TABLE bc_numeric (id bigint, amount numeric(12,2), code varchar(12), ts timestamp) WITH (autovacuum_enabled = false);
INSERT INTO bc_numeric SELECT g, g * 1.25, 'C' || g, timestamp '2024-01-01' + g * interval '1 s' FROM generate_series(1, 150000) g;
CREATE INDEX bc_numeric_code ON bc_numeric (code);
SELECT pg_stat_force_next_flush();
ANALYZE bc_numeric;

-- GIN, GiST and hash indexes
CREATE TABLE bc_gin (id int, tags int[], doc tsvector) WITH (autovacuum_enabled = false);
INSERT INTO bc_gin SELECT g, ARRAY[g % 100, g % 37, g % 11], to_tsvector('simple', 'word' || (g % 300) || ' other' || (g % 17))
  FROM generate_series(1, 100000) g;
CREATE INDEX bc_gin_tags ON bc_gin USING gin (tags);
CREATE INDEX bc_gin_doc ON bc_gin USING gin (doc);
SELECT pg_stat_force_next_flush();
ANALYZE bc_gin;

CREATE TABLE bc_gist (id int, p point, r int4range) WITH (autovacuum_enabled = false);
INSERT INTO bc_gist SELECT g, point(g % 1000, g / 1000), int4range(g, g + 10) FROM generate_series(1, 100000) g;
CREATE INDEX bc_gist_p ON bc_gist USING gist (p);
CREATE INDEX bc_gist_r ON bc_gist USING gist (r);
SELECT pg_stat_force_next_flush();
ANALYZE bc_gist;

CREATE TABLE bc_hash (id int, k text) WITH (autovacuum_enabled = false);
INSERT INTO bc_hash SELECT g, 'key' || g FROM generate_series(1, 150000) g;
CREATE INDEX bc_hash_k ON bc_hash USING hash (k);
SELECT pg_stat_force_next_flush();
ANALYZE bc_hash;

-- a hash index after most rows were deleted and vacuumed
CREATE TABLE bc_hash_del (id int, k int) WITH (autovacuum_enabled = false);
INSERT INTO bc_hash_del SELECT g, g FROM generate_series(1, 150000) g;
CREATE INDEX bc_hash_del_k ON bc_hash_del USING hash (k);
DELETE FROM bc_hash_del WHERE id % 4 <> 0;
SELECT pg_stat_force_next_flush();
VACUUM ANALYZE bc_hash_del;

-- a materialized view
CREATE MATERIALIZED VIEW bc_matview AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 100000) g;
CREATE UNIQUE INDEX bc_matview_id ON bc_matview (id);
SELECT pg_stat_force_next_flush();
ANALYZE bc_matview;

-- everything deleted and vacuumed (the emptied pages stay)
CREATE TABLE bc_emptied (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false);
INSERT INTO bc_emptied SELECT g, repeat('e', 50) FROM generate_series(1, 100000) g;
DELETE FROM bc_emptied WHERE id > 10 AND id < 99990;
SELECT pg_stat_force_next_flush();
VACUUM ANALYZE bc_emptied;

-- tiny
CREATE TABLE bc_tiny (id int PRIMARY KEY, t text) WITH (autovacuum_enabled = false);
INSERT INTO bc_tiny SELECT g, 'tiny' FROM generate_series(1, 50) g;
SELECT pg_stat_force_next_flush();
ANALYZE bc_tiny;
