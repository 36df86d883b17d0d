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
  ('direction mark', E'abc\u202Edef'),
  ('plain', 'orders');
-- identifiers and literals: the text parses back to the very value
SELECT label,
       runbook._runnable('sql', 'SELECT %I, %L;', v, v) AS sql_text
  FROM hostile WHERE label IN ('quote', 'single quote', 'backslash', 'plain') ORDER BY label;
-- control characters (and direction marks) of a value are written as
-- escapes: a Unicode-escaped identifier, an escape string
SELECT label, runbook._runnable('sql', 'SELECT %L AS %I;', v, v) AS sql_text
  FROM hostile WHERE label IN ('newline + psql shell', 'escape', 'direction mark') ORDER BY label;
-- every value round-trips through quoting, whatever standard_conforming_strings
-- is: the server reads back the very identifier (a column of that name) and
-- the very literal
DO $$
DECLARE r record; got_ident text; got_lit text; scs text;
BEGIN
  FOREACH scs IN ARRAY ARRAY['on', 'off'] LOOP
    PERFORM set_config('standard_conforming_strings', scs, true);
    FOR r IN SELECT * FROM hostile LOOP
      EXECUTE 'CREATE TEMP TABLE rt (' || runbook._runnable('sql', '%I', r.v) || ' int)';
      SELECT attname INTO got_ident FROM pg_attribute WHERE attrelid = 'rt'::regclass AND attnum = 1;
      DROP TABLE rt;
      EXECUTE 'SELECT ' || runbook._runnable('sql', '%L', r.v) INTO got_lit;
      IF got_lit IS DISTINCT FROM r.v THEN RAISE EXCEPTION 'literal of % did not round-trip', r.label; END IF;
      IF got_ident IS DISTINCT FROM r.v THEN RAISE EXCEPTION 'identifier of % did not round-trip', r.label; END IF;
    END LOOP;
  END LOOP;
  RAISE NOTICE 'all % values round-trip', (SELECT count(*) FROM hostile);
END $$;
-- the result is one quoted token, plain ASCII, no control character
SELECT label, runbook._runnable('sql', 'VACUUM %I;', v) ~ E'^VACUUM (\\w+|(U&)?"([^"]|"")*");$'
       AND runbook._runnable('sql', 'VACUUM %I;', v) !~ '[^\x20-\x7e]' AS one_quoted_token
  FROM hostile ORDER BY label;
-- %I of an array: a list of identifiers
SELECT runbook._runnable('sql', 'CREATE INDEX ON t (%I);', ARRAY['a', 'B c', E'd\ne']::name[]);
SELECT runbook._runnable('sql', 'SELECT %I', '{}'::text[]);
-- %D: SQL already built (by _runnable, or the server's deparser), its quoted
-- tokens written again without control characters, the whole still checked
CREATE TABLE "t
x" ("c;
\! id" int CHECK ("c;
\! id" <> 7 OR 'a
\b' <> ''));
CREATE INDEX "i
\! id" ON "t
x" ("c;
\! id");
SELECT runbook._runnable('sql', 'DROP INDEX %R; %D;', c.oid, pg_get_indexdef(c.oid))
  FROM pg_class c WHERE c.relname = E'i\n\\! id';
SELECT runbook._runnable('sql', 'SELECT count(*) FROM %R WHERE NOT (%D);', t.oid,
                         regexp_replace(pg_get_constraintdef(k.oid), '^CHECK \((.*)\)$', '\1'))
  FROM pg_class t JOIN pg_constraint k ON k.conrelid = t.oid WHERE t.relname = E't\nx';
SELECT runbook._runnable('sql', 'SELECT %I.as_owner(%L, %L);', 'runbook', 'public.t'::text,
                         runbook._runnable('sql', 'ALTER TABLE %I VALIDATE CONSTRAINT %I', 't', E'c\nk'));
SELECT runbook._runnable('sql', 'SELECT 1; %D', E'\\! id') AS refused;
SELECT runbook._runnable('sql', 'SELECT %D', NULL::text) IS NULL AS gone_is_null;
SELECT runbook._runnable('sql', 'SELECT %D', 1);
DROP TABLE "t
x";
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
-- a control character in a prose template is the caller's error too
SELECT runbook._runnable('text', E'a bell \x07 in prose');
\set VERBOSITY sqlstate
SELECT runbook._runnable('text', E'a bell \x07 in prose');
\set VERBOSITY default
-- a constant template that would not run as written (a backslash, an
-- unterminated quote, a psql variable) is withheld
SELECT runbook._runnable('sql', E'SELECT 1;\n\\! id');
SELECT runbook._runnable('sql', 'SELECT ''unterminated');
SELECT runbook._runnable('sql', 'SELECT :evil');
SELECT runbook._runnable('sql', 'SELECT 1::int, ARRAY[1,2][1:1] -- fine');
-- as_owner(): runs a statement as the table's owner; a statement it cannot
-- run (transaction control, COPY to the client) is the caller's error, with
-- its SQLSTATE and a hint
CREATE TABLE owned (x int);
INSERT INTO owned VALUES (1), (2);
SELECT runbook.as_owner('owned', 'DELETE FROM public.owned WHERE x = 1') AS deleted;
SELECT runbook.as_owner('owned', 'COMMIT');
SELECT runbook.as_owner('owned', 'COPY public.owned TO STDOUT');
\set VERBOSITY sqlstate
SELECT runbook.as_owner('owned', 'COMMIT');
SELECT runbook.as_owner('owned', 'COPY public.owned TO STDOUT');
\set VERBOSITY default
SELECT x FROM owned;
DROP TABLE owned;
-- a negative number after a minus sign stays a number, not a comment
SELECT runbook._runnable('sql', 'SELECT 1-%s;', -1);
