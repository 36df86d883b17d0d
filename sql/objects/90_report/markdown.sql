-- ---------------------------------------------------------------------
-- Markdown escaping for incident_report() and the report sections
-- ---------------------------------------------------------------------

-- A value in Markdown text or a table cell: on one line (runs of white
-- space become one space), other control characters shown (_runnable
-- 'text'), and escaped with a backslash what would change the table or
-- make a link: the cell separator |, the brackets of link and image syntax
-- [ ], < > (HTML and autolinks), the backquote of code spans, the backslash
-- itself; and the "://" and "www." of bare URLs, which renderers turn into
-- links.  Emphasis (* _ ~) is left alone: it changes no cell and links
-- nowhere, and names are full of underscores.
CREATE OR REPLACE FUNCTION @extschema@._md(v text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT regexp_replace(regexp_replace(
               regexp_replace(@extschema@._runnable('text', '%s', regexp_replace(coalesce(v, ''), '\s+', ' ', 'g')),
                              '([\\|\[\]<>`])', '\\\1', 'g'),
               ':(//)', '\\:\1', 'g'),
           '(www)\.', '\1\\.', 'gi')
$$;

COMMENT ON FUNCTION @extschema@._md(text) IS
'internal: a value as Markdown text (one line, control characters shown, table cells and links escaped)';

REVOKE ALL ON FUNCTION @extschema@._md(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._md(text) TO pg_monitor;

-- A value inside a Markdown code span in a table cell (`...`): one line,
-- control characters shown, | escaped (GitHub tables need it even there),
-- a backquote (which would end the span) shown as '.
CREATE OR REPLACE FUNCTION @extschema@._md_code(v text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT replace(replace(@extschema@._runnable('text', '%s', regexp_replace(coalesce(v, ''), '\s+', ' ', 'g')),
                           '|', '\|'), '`', '''')
$$;

COMMENT ON FUNCTION @extschema@._md_code(text) IS
'internal: a value inside a Markdown code span of a table cell (one line, control characters shown, | escaped)';

REVOKE ALL ON FUNCTION @extschema@._md_code(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._md_code(text) TO pg_monitor;
