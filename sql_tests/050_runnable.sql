-- runbook._runnable(): the one builder of text a person pastes
-- (docs/security.md, Emitted text).  Hostile names stay inside quoted
-- tokens; a template used wrongly is an error; what would not run as
-- written becomes a fixed note.
CREATE EXTENSION IF NOT EXISTS pg_runbook;
-- names as other roles may choose them
CREATE TEMP TABLE hostile(label text, v text);
INSERT INTO hostile VALUES
  ('newline + psql shell', E'i\n\\! id>/tmp/p\n'),
  ('quote', 'a"b'),
  ('single quote', 'it''s'),
  ('backslash', E'a\\b'),
  ('dollar tag', '$$x$$'),
  ('semicolon', 'x; ALTER ROLE attacker SUPERUSER; --'),
  ('escape', E'x\x1b[2Jy'),
  ('plain', 'orders');
-- identifiers and literals: the text parses back to the very value
SELECT label,
       runbook._runnable('sql', 'SELECT %I, %L;', v, v) AS sql_text
  FROM hostile WHERE label IN ('quote', 'single quote', 'backslash', 'plain') ORDER BY label;
-- every value round-trips through quoting: the identifier and the literal
-- name exactly what was given, whatever it holds
DO $$
DECLARE r record; got_ident text; got_lit text;
BEGIN
  FOR r IN SELECT * FROM hostile LOOP
    EXECUTE 'SELECT ' || quote_literal(runbook._runnable('sql', '%I', r.v)) INTO got_ident;
    EXECUTE 'SELECT ' || runbook._runnable('sql', '%L', r.v) INTO got_lit;
    IF got_lit IS DISTINCT FROM r.v THEN RAISE EXCEPTION 'literal of % did not round-trip', r.label; END IF;
    IF NOT (got_ident = quote_ident(r.v)) THEN RAISE EXCEPTION 'identifier of % differs', r.label; END IF;
  END LOOP;
  RAISE NOTICE 'all % values round-trip', (SELECT count(*) FROM hostile);
END $$;
-- outside quoted tokens the result is plain ASCII without a backslash
SELECT label, runbook._runnable('sql', 'VACUUM %I;', v) ~ E'^VACUUM (\\w+|"([^"]|"")*");$' AS one_quoted_token
  FROM hostile ORDER BY label;
-- %L of NULL, numbers through %s, positions
SELECT runbook._runnable('sql', 'SELECT %L, %s, %s;', NULL::text, 42, 1.5::numeric);
SELECT runbook._runnable('sql', 'SELECT %2$s, %1$I;', 'a b', 7);
-- %R: a relation by oid, schema-qualified and quoted; gone -> NULL
CREATE TABLE "We""ird
name" (x int);
SELECT runbook._runnable('sql', 'VACUUM (ANALYZE) %R;', '"We""ird
name"'::regclass) AS r;
SELECT runbook._runnable('sql', 'VACUUM %R;', 4294967295::oid) IS NULL AS gone_is_null;
DROP TABLE "We""ird
name";
-- shell: one single-quoted word; a value with a control character cannot
-- be one line: the whole command becomes a note
SELECT runbook._runnable('shell', 'npx prisma migrate resolve --rolled-back %Q', 'it''s 20240101_init');
SELECT runbook._runnable('shell', 'npx prisma migrate resolve --rolled-back %Q', v)
  FROM hostile WHERE label = 'newline + psql shell';
-- prose: control characters of values are shown, never emitted
SELECT runbook._runnable('text', 'table %I in database %I is bloated (%s %%)', v, 'shop', 54.3)
  FROM hostile WHERE label IN ('newline + psql shell', 'escape') ORDER BY label;
-- templates used wrongly are errors
SELECT runbook._runnable('sql', 'SELECT 1 -- %I', 'x');
SELECT runbook._runnable('sql', 'SELECT ''%I''', 'x');
SELECT runbook._runnable('sql', 'SELECT %s', 'x');
SELECT runbook._runnable('sql', 'SELECT %I, %I', 'x');
SELECT runbook._runnable('sql', 'SELECT %X', 'x');
SELECT runbook._runnable('sql', 'SELECT %I', NULL::text);
SELECT runbook._runnable('shell', 'rm %I', 'x');
SELECT runbook._runnable('sql', 'SELECT %Q', 'x');
SELECT runbook._runnable('nosuchkind', 'SELECT 1');
-- a constant template that would not run as written (a backslash, an
-- unterminated quote, a psql variable) is withheld
SELECT runbook._runnable('sql', E'SELECT 1;\n\\! id');
SELECT runbook._runnable('sql', 'SELECT ''unterminated');
SELECT runbook._runnable('sql', 'SELECT :evil');
SELECT runbook._runnable('sql', 'SELECT 1::int, ARRAY[1,2][1:1] -- fine');
