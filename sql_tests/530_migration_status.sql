-- migration_status: the migration tables of common tools, in any schema.
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SELECT count(*) FROM runbook.migration_status();
CREATE SCHEMA app;
-- Prisma: one applied, one failed (logs), one started and never finished
CREATE TABLE app._prisma_migrations (
    id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
    migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0);
INSERT INTO app._prisma_migrations VALUES
 ('a1', 'x', '2026-01-01 10:00:05+00', '20260101_init', NULL, NULL, '2026-01-01 10:00:00+00', 1),
 ('a2', 'x', NULL, '20260102_add_orders', 'Database error: column "total" already exists', NULL, '2026-01-02 10:00:00+00', 0),
 ('a3', 'x', NULL, '20260103_add_index', NULL, NULL, '2026-01-03 10:00:00+00', 0),
 ('a4', 'x', NULL, '20260101_bad', 'old failure', '2026-01-01 11:00:00+00', '2026-01-01 10:30:00+00', 0);
-- Flyway
CREATE TABLE public.flyway_schema_history (
    installed_rank int PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
    type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum int,
    installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),
    execution_time int NOT NULL, success boolean NOT NULL);
INSERT INTO public.flyway_schema_history VALUES
 (1, '1', 'init', 'SQL', 'V1__init.sql', 1, 'app', '2026-01-01 10:00:00', 12, true),
 (2, '2', 'add users', 'SQL', 'V2__add_users.sql', 2, 'app', '2026-01-02 10:00:00', 7, true),
 (3, '3', 'add orders', 'SQL', 'V3__add_orders.sql', 3, 'app', '2026-01-03 10:00:00', 3, false);
-- golang-migrate (dirty)
CREATE SCHEMA gm;
CREATE TABLE gm.schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
INSERT INTO gm.schema_migrations VALUES (20260105, true);
-- Rails
CREATE SCHEMA rails;
CREATE TABLE rails.schema_migrations (version varchar PRIMARY KEY);
INSERT INTO rails.schema_migrations VALUES ('20250101000000'), ('20260101120000'), ('9');
-- Alembic
CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO public.alembic_version VALUES ('ae1027a6acf');
-- Knex, locked
CREATE TABLE public.knex_migrations (id serial PRIMARY KEY, name varchar(255), batch int, migration_time timestamptz);
INSERT INTO public.knex_migrations (name, batch, migration_time) VALUES ('20260101_a.js', 1, '2026-01-01 10:00+00'), ('20260102_b.js', 2, '2026-01-02 10:00+00');
CREATE TABLE public.knex_migrations_lock (index serial PRIMARY KEY, is_locked int);
INSERT INTO public.knex_migrations_lock (is_locked) VALUES (1);
-- Django
CREATE TABLE public.django_migrations (id bigserial PRIMARY KEY, app varchar(255), name varchar(255), applied timestamptz);
INSERT INTO public.django_migrations (app, name, applied) VALUES ('auth', '0001_initial', '2026-01-01 10:00+00'), ('shop', '0002_orders', '2026-01-02 10:00+00');
-- Liquibase, lock held
CREATE TABLE public.databasechangelog (id varchar(255), author varchar(255), filename varchar(255), dateexecuted timestamp, orderexecuted int, exectype varchar(10), md5sum varchar(35), description varchar(255), comments varchar(255), tag varchar(255), liquibase varchar(20), contexts varchar(255), labels varchar(255), deployment_id varchar(10));
INSERT INTO public.databasechangelog (id, author, filename, dateexecuted, orderexecuted, exectype) VALUES ('1', 'ann', 'db/changelog.xml', '2026-01-01 10:00', 1, 'EXECUTED');
CREATE TABLE public.databasechangeloglock (id int PRIMARY KEY, locked boolean NOT NULL, lockgranted timestamp, lockedby varchar(255));
INSERT INTO public.databasechangeloglock VALUES (1, true, '2026-01-04 09:00', 'ci-runner-7 (10.0.0.7)');
-- an unrelated table that happens to be called schema_migrations
CREATE SCHEMA other;
CREATE TABLE other.schema_migrations (id int, note text);
\x
SELECT * FROM runbook.migration_status();
\x
SELECT * FROM runbook.migration_status(probe_timeout => NULL);
DROP SCHEMA app, gm, rails, other CASCADE;
DROP TABLE flyway_schema_history, alembic_version, knex_migrations, knex_migrations_lock,
    django_migrations, databasechangelog, databasechangeloglock;
SELECT count(*) FROM runbook.migration_status();
-- probe_timeout bounds the read of each migration table: Rails's query
-- finds the highest of 2,000,000 versions (a count and a top-1 sort: well
-- over 100 ms), so it is skipped under '100ms' and read under '1h'.
CREATE SCHEMA slow;
CREATE TABLE slow.schema_migrations (version varchar);
INSERT INTO slow.schema_migrations SELECT g::text FROM generate_series(1, 2000000) g;
SELECT tool, migration_table, status, migration, detail FROM runbook.migration_status('100ms');
SELECT tool, migration_table, status, migration, detail FROM runbook.migration_status('1h');
DROP SCHEMA slow CASCADE;
