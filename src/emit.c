/*-------------------------------------------------------------------------
 *
 * emit.c
 *		The one builder of text that pg_runbook hands to a person to run or
 *		paste: remedies, DDL, actions, check SQL, migration hints, incident
 *		messages.  runbook._runnable(kind, fmt, VARIADIC args) fills a
 *		constant template with values that are always quoted, then reads the
 *		result as psql (or a shell) would and refuses, with a fixed note, any
 *		text that would not run exactly as written.  The rules are in
 *		docs/security.md, "Emitted text".
 *
 *		Why this is needed: a DBA pastes remedy text into psql as a
 *		superuser.  psql ends an SQL "--" comment at a newline, and a
 *		backslash outside quotes starts a meta-command (\! runs a shell
 *		command); names of tables, indexes, databases and roles are chosen by
 *		other roles and may hold newlines, quotes, backslashes and ESC.
 *		Inside a quoted identifier, a string literal or a dollar quote psql
 *		tracks the quotes, so such characters there are data; even so a
 *		value's control characters (and, in UTF-8, C1 controls, zero-width
 *		and direction marks) are written as escapes, U&"a\000Ab" and
 *		E'a\nb', so that the text carries none to the reader's terminal.
 *
 *		A leaf module: it reads nothing of pg_runbook's and no shared state;
 *		the only catalog access is the name of a relation by OID (%R) and
 *		the types of the values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "pg_runbook.h"

PG_FUNCTION_INFO_V1(rb_runnable);

typedef enum RbTextKind
{
	RB_TEXT_SQL,				/* read by psql */
	RB_TEXT_SHELL,				/* one shell command line */
	RB_TEXT_PROSE				/* read by a person, never run */
} RbTextKind;

/* states of the psql reader (a subset of psqlscan.l's, all we emit) */
typedef enum RbLexState
{
	LX_NORMAL,
	LX_LINE_COMMENT,
	LX_BLOCK_COMMENT,
	LX_LITERAL,					/* '...' */
	LX_ELITERAL,				/* E'...' (backslash escapes) */
	LX_IDENT,					/* "..." */
	LX_DOLLAR					/* $tag$...$tag$ */
} RbLexState;

typedef struct RbLexer
{
	RbLexState	state;
	int			depth;			/* block comment nesting */
	const char *tag;			/* dollar-quote tag, with its $ signs */
	int			taglen;
} RbLexer;

static const char RB_NOTE_SQL[] =
"-- pg_runbook withheld this text: it would not run as written if pasted into psql";
static const char RB_NOTE_SHELL[] =
"# pg_runbook withheld this command: a value in it cannot be shown as one shell word";

static int	rb_special_char(const unsigned char *p, unsigned *cp);

/*
 * One step of the psql reader at s[i]: returns the number of bytes that
 * belong to the current token step (1, or 2 for doubled quotes and
 * escapes), and updates the state.  Reads as psqlscan.l does for what
 * pg_runbook emits: quotes, E'' escapes, dollar quotes, comments.
 */
static int
rb_lex_step(RbLexer *lx, const char *s, int i, int len)
{
	char		c = s[i];
	char		n = (i + 1 < len) ? s[i + 1] : '\0';

	switch (lx->state)
	{
		case LX_NORMAL:
			if (c == '-' && n == '-')
			{
				lx->state = LX_LINE_COMMENT;
				return 2;
			}
			if (c == '/' && n == '*')
			{
				lx->state = LX_BLOCK_COMMENT;
				lx->depth = 1;
				return 2;
			}
			if ((c == 'E' || c == 'e') && n == '\'' &&
				(i == 0 || !(isalnum((unsigned char) s[i - 1]) || s[i - 1] == '_' ||
							 s[i - 1] == '$' || IS_HIGHBIT_SET(s[i - 1]))))
			{
				lx->state = LX_ELITERAL;
				return 2;
			}
			if (c == '\'')
			{
				lx->state = LX_LITERAL;
				return 1;
			}
			if (c == '"')
			{
				lx->state = LX_IDENT;
				return 1;
			}
			if (c == '$' &&
				(i == 0 || !(isalnum((unsigned char) s[i - 1]) || s[i - 1] == '_' ||
							 IS_HIGHBIT_SET(s[i - 1]))))
			{
				int			j = i + 1;

				while (j < len && (isalnum((unsigned char) s[j]) || s[j] == '_' ||
								   IS_HIGHBIT_SET(s[j])) &&
					   !(j == i + 1 && isdigit((unsigned char) s[j])))
					j++;
				if (j < len && s[j] == '$')
				{
					lx->state = LX_DOLLAR;
					lx->tag = s + i;
					lx->taglen = j - i + 1;
					return lx->taglen;
				}
			}
			return 1;
		case LX_LINE_COMMENT:
			if (c == '\n')
				lx->state = LX_NORMAL;
			return 1;
		case LX_BLOCK_COMMENT:
			if (c == '/' && n == '*')
			{
				lx->depth++;
				return 2;
			}
			if (c == '*' && n == '/')
			{
				if (--lx->depth == 0)
					lx->state = LX_NORMAL;
				return 2;
			}
			return 1;
		case LX_LITERAL:
			if (c == '\'' && n == '\'')
				return 2;
			if (c == '\'')
				lx->state = LX_NORMAL;
			return 1;
		case LX_ELITERAL:
			if (c == '\\' && n != '\0')
				return 2;
			if (c == '\'' && n == '\'')
				return 2;
			if (c == '\'')
				lx->state = LX_NORMAL;
			return 1;
		case LX_IDENT:
			if (c == '"' && n == '"')
				return 2;
			if (c == '"')
				lx->state = LX_NORMAL;
			return 1;
		case LX_DOLLAR:
			if (c == '$' && i + lx->taglen <= len &&
				strncmp(s + i, lx->tag, lx->taglen) == 0)
			{
				int			l = lx->taglen;

				lx->state = LX_NORMAL;
				return l;
			}
			return 1;
	}
	return 1;
}

/* a byte a person can read and that no terminal or reader takes as control */
static inline bool
rb_plain_ascii(unsigned char c)
{
	return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t';
}

/*
 * Would psql run this text exactly as written?  Outside quoted tokens
 * (where only the template's own text can be) every byte must be plain
 * ASCII, with no backslash (a psql meta-command) and no psql variable
 * (":name", ":'name'", ":\"name\""); comments likewise; inside quoted
 * tokens no character of rb_special_char() but a newline or tab (values
 * are written with escapes, so only a template could put one there); the
 * text must not end inside a quote or a comment (psql would swallow what
 * is pasted next).  Every byte of every lexer step is looked at.
 */
static bool rb_special_in(const char *s, int from, int to, bool outside);

static bool
rb_sql_text_safe(const char *s, int len)
{
	RbLexer		lx = {LX_NORMAL, 0, NULL, 0};
	int			i = 0;

	while (i < len)
	{
		RbLexState	before = lx.state;
		bool		outside = (before == LX_NORMAL ||
							   before == LX_LINE_COMMENT ||
							   before == LX_BLOCK_COMMENT);
		int			step;

		if (before == LX_NORMAL && s[i] == ':' && i + 1 < len &&
			(i == 0 || s[i - 1] != ':') &&
			(isalpha((unsigned char) s[i + 1]) || s[i + 1] == '_' ||
			 s[i + 1] == '\'' || s[i + 1] == '"' || s[i + 1] == '{'))
			return false;
		step = rb_lex_step(&lx, s, i, len);
		if (rb_special_in(s, i, Min(i + step, len), outside))
			return false;
		i += step;
	}
	return lx.state == LX_NORMAL || lx.state == LX_LINE_COMMENT;
}

/* bytes [from, to) of s hold what rb_sql_text_safe() refuses there */
static bool
rb_special_in(const char *s, int from, int to, bool outside)
{
	int			k;

	for (k = from; k < to; k++)
	{
		unsigned char c = (unsigned char) s[k];
		unsigned	cp;

		if (outside)
		{
			if (!rb_plain_ascii(c) || c == '\\')
				return true;
		}
		else if (c != '\n' && c != '\t' &&
				 rb_special_char((const unsigned char *) s + k, &cp) > 0)
			return true;
	}
	return false;
}

/*
 * A shell command line: one line of plain ASCII (no control character at
 * all, inside quotes or not: a pasted ESC or newline acts on the terminal
 * before the shell reads it), quotes balanced.
 */
static bool
rb_shell_text_safe(const char *s, int len)
{
	char		quote = '\0';
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x20 || c == 0x7f || IS_HIGHBIT_SET(c))
			return false;
		if (quote == '\'')
		{
			if (c == '\'')
				quote = '\0';
		}
		else if (quote == '"')
		{
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '"')
				quote = '\0';
		}
		else if (c == '\\' && i + 1 < len)
			i++;
		else if (c == '\'' || c == '"')
			quote = (char) c;
	}
	return quote == '\0';
}

/*
 * A character at p that must not reach a terminal or a reader as it is:
 * returns its length in bytes (0 for any other character) and sets *cp to
 * its code point.  C0 controls and DEL in every encoding; in UTF-8 also the
 * C1 controls (U+0080 to U+009F), zero-width and direction marks (U+200B to
 * U+200F, U+2028 to U+202E, U+2066 to U+2069) and U+FEFF, which a terminal
 * or an editor shows as something else than what is there ("Trojan
 * Source").  p is NUL-terminated: a byte is read only if the one before it
 * matched a lead byte, so never past the end.
 */
static int
rb_special_char(const unsigned char *p, unsigned *cp)
{
	if (*p < 0x20 || *p == 0x7f)
	{
		*cp = *p;
		return 1;
	}
	if (*p < 0x80 || GetDatabaseEncoding() != PG_UTF8)
		return 0;
	if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
	{
		*cp = p[1];
		return 2;
	}
	if ((p[0] == 0xE2 && p[1] == 0x80 &&
		 ((p[2] >= 0x8B && p[2] <= 0x8F) || (p[2] >= 0xA8 && p[2] <= 0xAE))) ||
		(p[0] == 0xE2 && p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9) ||
		(p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF))
	{
		*cp = ((unsigned) (p[0] & 0x0F) << 12) | ((unsigned) (p[1] & 0x3F) << 6) |
			(unsigned) (p[2] & 0x3F);
		return 3;
	}
	return 0;
}

static bool
rb_has_special(const char *v)
{
	const unsigned char *p;
	unsigned	cp;

	for (p = (const unsigned char *) v; *p; p++)
		if (rb_special_char(p, &cp) > 0)
			return true;
	return false;
}

/*
 * Text for a person (prose, lock_tree() lines, incident messages): the
 * characters of rb_special_char() shown as \n, \r, \t, \xHH or \uXXXX
 * instead of being emitted.  Exported (pg_runbook.h) for the front ends
 * that print names and query texts themselves.
 */
void
rb_append_visible(StringInfo out, const char *v)
{
	const unsigned char *p = (const unsigned char *) v;

	while (*p)
	{
		unsigned	cp;
		int			n = rb_special_char(p, &cp);

		if (n == 0)
		{
			appendStringInfoChar(out, (char) *p++);
			continue;
		}
		if (cp == '\n')
			appendStringInfoString(out, "\\n");
		else if (cp == '\r')
			appendStringInfoString(out, "\\r");
		else if (cp == '\t')
			appendStringInfoString(out, "\\t");
		else if (cp < 0x80)
			appendStringInfo(out, "\\x%02X", cp);
		else
			appendStringInfo(out, "\\u%04X", cp);
		p += n;
	}
}

/*
 * An SQL identifier.  One without special characters as quote_identifier()
 * quotes it; one with them as a Unicode-escaped identifier, U&"a\000Ab"
 * (a backslash in it doubled, a double quote doubled), which names exactly
 * the same object whatever standard_conforming_strings is, and carries no
 * control character to the reader's terminal.  Only code points below
 * U+0080, or any in a UTF-8 database, are escaped, as the server requires.
 */
static void
rb_append_identifier(StringInfo out, const char *v)
{
	const unsigned char *p = (const unsigned char *) v;

	if (!rb_has_special(v))
	{
		appendStringInfoString(out, quote_identifier(v));
		return;
	}
	appendStringInfoString(out, "U&\"");
	while (*p)
	{
		unsigned	cp;
		int			n = rb_special_char(p, &cp);

		if (n > 0)
		{
			appendStringInfo(out, "\\%04X", cp);
			p += n;
			continue;
		}
		if (*p == '"')
			appendStringInfoString(out, "\"\"");
		else if (*p == '\\')
			appendStringInfoString(out, "\\\\");
		else
			appendStringInfoChar(out, (char) *p);
		p++;
	}
	appendStringInfoChar(out, '"');
}

/*
 * An identifier in prose: as SQL would need it quoted (a name that needs no
 * quotes stays bare, as in public.orders), its control characters shown.
 */
static void
rb_append_prose_identifier(StringInfo out, const char *v)
{
	const char *p;

	if (!rb_has_special(v) && strcmp(quote_identifier(v), v) == 0)
	{
		appendStringInfoString(out, v);
		return;
	}
	appendStringInfoChar(out, '"');
	for (p = v; *p; p++)
	{
		const char *q = p;

		while (*q && *q != '"')
			q++;
		if (q > p)
		{
			char	   *part = pnstrdup(p, q - p);

			rb_append_visible(out, part);
			pfree(part);
		}
		if (*q == '\0')
			break;
		appendStringInfoString(out, "\"\"");
		p = q;
	}
	appendStringInfoChar(out, '"');
}

/*
 * An SQL string literal.  One without special characters as
 * quote_literal_cstr() quotes it ('it''s', or E'a\\b' when it holds a
 * backslash); one with them as an escape string, E'a\nb\x1B', that
 * carries no control character and means the same value whatever
 * standard_conforming_strings is.
 */
static void
rb_append_literal(StringInfo out, const char *v)
{
	const unsigned char *p = (const unsigned char *) v;

	if (!rb_has_special(v))
	{
		appendStringInfoString(out, quote_literal_cstr(v));
		return;
	}
	appendStringInfoString(out, "E'");
	while (*p)
	{
		unsigned	cp;
		int			n = rb_special_char(p, &cp);

		if (n > 0)
		{
			if (cp == '\n')
				appendStringInfoString(out, "\\n");
			else if (cp == '\r')
				appendStringInfoString(out, "\\r");
			else if (cp == '\t')
				appendStringInfoString(out, "\\t");
			else if (cp < 0x80)
				appendStringInfo(out, "\\x%02X", cp);
			else
				appendStringInfo(out, "\\u%04X", cp);
			p += n;
			continue;
		}
		if (*p == '\'')
			appendStringInfoString(out, "''");
		else if (*p == '\\')
			appendStringInfoString(out, "\\\\");
		else
			appendStringInfoChar(out, (char) *p);
		p++;
	}
	appendStringInfoChar(out, '\'');
}

/* One shell word: single-quoted, a quote inside as '\'' */
static void
rb_append_shell_word(StringInfo out, const char *v)
{
	const char *p;

	appendStringInfoChar(out, '\'');
	for (p = v; *p; p++)
	{
		if (*p == '\'')
			appendStringInfoString(out, "'\\''");
		else
			appendStringInfoChar(out, *p);
	}
	appendStringInfoChar(out, '\'');
}

static bool
rb_is_number_type(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case XIDOID:
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			return true;
		default:
			return false;
	}
}

static char *
rb_value_text(Datum value, Oid typid)
{
	Oid			outfunc;
	bool		isvarlena;

	getTypeOutputInfo(typid, &outfunc, &isvarlena);
	return OidOutputFunctionCall(outfunc, value);
}

/*
 * %D: SQL text of the server's deparser.  It quotes names and values
 * itself; a quoted identifier or a standard string literal that holds a
 * character of rb_special_char() is written again as rb_append_identifier()
 * and rb_append_literal() write values, so that the text carries no
 * control character either.  Anything else (an E'' literal, which the
 * deparser writes only when standard_conforming_strings is off) is copied
 * as it is, and the check of the whole text decides.
 */
static void
rb_append_deparsed(StringInfo out, const char *s)
{
	RbLexer		lx = {LX_NORMAL, 0, NULL, 0};
	int			len = strlen(s);
	int			i = 0;

	while (i < len)
	{
		int			step;

		if (lx.state == LX_NORMAL && (s[i] == '"' || s[i] == '\''))
		{
			char		q = s[i];
			StringInfoData v;
			int			j;

			initStringInfo(&v);
			for (j = i + 1; j < len; j++)
			{
				if (s[j] == q)
				{
					if (j + 1 < len && s[j + 1] == q)
					{
						appendStringInfoChar(&v, q);
						j++;
						continue;
					}
					break;
				}
				appendStringInfoChar(&v, s[j]);
			}
			if (j >= len)
			{
				/* not closed: copied, and the check refuses it */
				appendStringInfoString(out, s + i);
				return;
			}
			if (q == '"')
				rb_append_identifier(out, v.data);
			else
				rb_append_literal(out, v.data);
			pfree(v.data);
			i = j + 1;
			continue;
		}
		step = rb_lex_step(&lx, s, i, len);
		appendBinaryStringInfo(out, s + i, Min(step, len - i));
		i += step;
	}
}

/*
 * %I given an array (text[], name[]): the identifiers joined by ", ", as a
 * column list.  An empty array or a NULL element is an error of the caller.
 */
static void
rb_append_identifier_list(StringInfo out, RbTextKind kind, Datum value, Oid typid)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	Oid			elemtype = ARR_ELEMTYPE(arr);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				k;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an empty list cannot be formatted as SQL identifiers")));
	for (k = 0; k < n; k++)
	{
		char	   *v;

		if (nulls[k])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("null values cannot be formatted as an SQL identifier")));
		v = rb_value_text(elems[k], elemtype);
		if (k > 0)
			appendStringInfoString(out, ", ");
		if (kind == RB_TEXT_PROSE)
			rb_append_prose_identifier(out, v);
		else
			rb_append_identifier(out, v);
	}
}

/* rb_append_visible() into a new string (templates in messages) */
static char *
rb_visible(const char *v)
{
	StringInfoData s;

	initStringInfo(&s);
	rb_append_visible(&s, v);
	return s.data;
}

static void
rb_template_error(const char *fmt, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid runnable-text template: %s", why),
			 errdetail("Template: %s", rb_visible(fmt)),
			 errhint("Values go only through %%I, %%L, %%R, %%D, %%Q or (numbers) %%s, outside quotes and comments; see docs/security.md.")));
}

/*
 * runbook._runnable(kind text, fmt text, VARIADIC args "any") -> text
 *
 * kind 'sql': psql text; 'shell': one shell command line; 'text': prose.
 * Placeholders (outside quotes and comments of the template):
 *	%I	identifier (text or name), quoted as needed (prose too, its
 *		control characters shown);
 *		an array (text[], name[]): the identifiers joined by ", "
 *	%L	literal of any type (its output, quoted; NULL becomes NULL)
 *	%R	relation by regclass/oid, schema-qualified and quoted; a relation
 *		that is gone makes the whole result NULL
 *	%D	(sql) SQL text already built: by _runnable() itself (a statement
 *		inside a larger one) or by the server's deparser (pg_get_indexdef(),
 *		pg_get_constraintdef(), pg_get_expr()), which quote every name and
 *		value themselves; its quoted tokens are written again as %I and %L
 *		write values, and the check below still applies; NULL (the object
 *		is gone) makes the whole result NULL
 *	%s	a number (or, in prose, any value with control characters shown)
 *	%Q	(shell) one single-quoted shell word
 *	%%	a percent sign
 * with an optional argument position (%2$I).  A template used wrongly is an
 * error; a result that would not run as written is replaced by a fixed note.
 */
Datum
rb_runnable(PG_FUNCTION_ARGS)
{
	text	   *kind_t;
	char	   *kind_s;
	char	   *fmt;
	int			fmtlen;
	RbTextKind	kind;
	RbLexer		lx = {LX_NORMAL, 0, NULL, 0};
	StringInfoData out;
	int			nargs = PG_NARGS() - 2;
	int			next_arg = 0;
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("_runnable takes its values listed, not as a VARIADIC array")));
	kind_t = PG_GETARG_TEXT_PP(0);
	kind_s = text_to_cstring(kind_t);
	if (strcmp(kind_s, "sql") == 0)
		kind = RB_TEXT_SQL;
	else if (strcmp(kind_s, "shell") == 0)
		kind = RB_TEXT_SHELL;
	else if (strcmp(kind_s, "text") == 0)
		kind = RB_TEXT_PROSE;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown kind of runnable text: \"%s\"", kind_s),
				 errhint("Use sql, shell or text.")));
	fmt = text_to_cstring(PG_GETARG_TEXT_PP(1));
	fmtlen = strlen(fmt);

	initStringInfo(&out);
	i = 0;
	while (i < fmtlen)
	{
		int			argno;
		char		conv;
		Datum		value;
		bool		isnull;
		Oid			typid;

		if (fmt[i] != '%')
		{
			int			step = 1;

			/* the template's own quotes and comments (sql) */
			if (kind == RB_TEXT_SQL)
				step = rb_lex_step(&lx, fmt, i, fmtlen);
			appendBinaryStringInfo(&out, fmt + i, step);
			i += step;
			continue;
		}
		if (i + 1 < fmtlen && fmt[i + 1] == '%')
		{
			appendStringInfoChar(&out, '%');
			i += 2;
			continue;
		}
		if (kind == RB_TEXT_SQL && lx.state != LX_NORMAL)
			rb_template_error(fmt, "a placeholder inside a quoted token or a comment");

		/* %[n$]X */
		i++;
		argno = -1;
		if (i < fmtlen && isdigit((unsigned char) fmt[i]))
		{
			int			n = 0;
			int			j = i;

			while (j < fmtlen && isdigit((unsigned char) fmt[j]) && n < 1000)
				n = n * 10 + (fmt[j++] - '0');
			if (j < fmtlen && fmt[j] == '$' && n >= 1)
			{
				argno = n - 1;
				i = j + 1;
			}
		}
		if (i >= fmtlen)
			rb_template_error(fmt, "a template ends with %");
		conv = fmt[i++];
		if (argno < 0)
			argno = next_arg;
		next_arg = argno + 1;
		if (argno >= nargs)
			rb_template_error(fmt, "more placeholders than values");
		isnull = PG_ARGISNULL(argno + 2);
		value = PG_GETARG_DATUM(argno + 2);
		typid = get_fn_expr_argtype(fcinfo->flinfo, argno + 2);
		if (!OidIsValid(typid))
			elog(ERROR, "could not determine the type of argument %d", argno + 3);
		if (typid == UNKNOWNOID)
		{
			/* an untyped literal of the caller: text */
			typid = TEXTOID;
			if (!isnull)
				value = CStringGetTextDatum(DatumGetCString(value));
		}

		switch (conv)
		{
			case 'I':
				if (kind == RB_TEXT_SHELL)
					rb_template_error(fmt, "%I in a shell command (use %Q)");
				if (isnull)
					ereport(ERROR,
							(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							 errmsg("null values cannot be formatted as an SQL identifier")));
				if (OidIsValid(get_element_type(typid)))
					rb_append_identifier_list(&out, kind, value, typid);
				else if (kind == RB_TEXT_PROSE)
					rb_append_prose_identifier(&out, rb_value_text(value, typid));
				else
					rb_append_identifier(&out, rb_value_text(value, typid));
				break;
			case 'L':
				if (kind == RB_TEXT_SHELL)
					rb_template_error(fmt, "%L in a shell command (use %Q)");
				if (isnull)
					appendStringInfoString(&out, "NULL");
				else if (kind == RB_TEXT_PROSE)
				{
					appendStringInfoChar(&out, '\'');
					rb_append_visible(&out, rb_value_text(value, typid));
					appendStringInfoChar(&out, '\'');
				}
				else
					rb_append_literal(&out, rb_value_text(value, typid));
				break;
			case 'D':
				/* SQL text of the server's own deparser, checked below */
				if (kind == RB_TEXT_SHELL)
					rb_template_error(fmt, "%D in a shell command");
				if (typid != TEXTOID)
					rb_template_error(fmt, "%D takes text: SQL built by _runnable() or by the server's deparser");
				if (isnull)
					PG_RETURN_NULL();	/* the object is gone */
				if (kind == RB_TEXT_PROSE)
					rb_append_visible(&out, TextDatumGetCString(value));
				else
					rb_append_deparsed(&out, TextDatumGetCString(value));
				break;
			case 'R':
				{
					Oid			relid;
					char	   *rel;
					char	   *nsp;

					if (kind == RB_TEXT_SHELL)
						rb_template_error(fmt, "%R in a shell command");
					if (typid != REGCLASSOID && typid != OIDOID)
						rb_template_error(fmt, "%R takes a regclass or an oid");
					if (isnull)
						PG_RETURN_NULL();
					relid = DatumGetObjectId(value);
					rel = get_rel_name(relid);
					nsp = rel ? get_namespace_name(get_rel_namespace(relid)) : NULL;
					if (rel == NULL || nsp == NULL)
						PG_RETURN_NULL();	/* dropped meanwhile */
					if (kind == RB_TEXT_PROSE)
					{
						rb_append_prose_identifier(&out, nsp);
						appendStringInfoChar(&out, '.');
						rb_append_prose_identifier(&out, rel);
					}
					else
					{
						rb_append_identifier(&out, nsp);
						appendStringInfoChar(&out, '.');
						rb_append_identifier(&out, rel);
					}
					break;
				}
			case 's':
				if (isnull)
				{
					if (kind == RB_TEXT_SHELL)
						rb_template_error(fmt, "a NULL value for %s in a shell command");
					appendStringInfoString(&out, "NULL");
				}
				else if (rb_is_number_type(typid))
				{
					char	   *num = rb_value_text(value, typid);

					/* "-" then "-1" would start a comment: keep them apart */
					if (num[0] == '-' && out.len > 0 && out.data[out.len - 1] == '-')
						appendStringInfoChar(&out, ' ');
					appendStringInfoString(&out, num);
				}
				else if (kind == RB_TEXT_PROSE)
					rb_append_visible(&out, rb_value_text(value, typid));
				else
					rb_template_error(fmt, "%s takes a number here (use %I or %L)");
				break;
			case 'Q':
				if (kind != RB_TEXT_SHELL)
					rb_template_error(fmt, "%Q is for shell commands");
				if (isnull)
					rb_template_error(fmt, "a NULL value for %Q");
				rb_append_shell_word(&out, rb_value_text(value, typid));
				break;
			default:
				rb_template_error(fmt, "an unknown placeholder");
		}
	}

	/* read the result as its reader will */
	switch (kind)
	{
		case RB_TEXT_SQL:
			if (!rb_sql_text_safe(out.data, out.len))
			{
				ereport(WARNING,
						(errmsg("pg_runbook withheld a text that would not run as written"),
						 errdetail("Template: %s", rb_visible(fmt))));
				PG_RETURN_TEXT_P(cstring_to_text(RB_NOTE_SQL));
			}
			break;
		case RB_TEXT_SHELL:
			if (!rb_shell_text_safe(out.data, out.len))
				PG_RETURN_TEXT_P(cstring_to_text(RB_NOTE_SHELL));
			break;
		case RB_TEXT_PROSE:
			{
				int			j;

				for (j = 0; j < out.len; j++)
					if (!rb_plain_ascii((unsigned char) out.data[j]) &&
						!IS_HIGHBIT_SET(out.data[j]))
						rb_template_error(fmt, "a control character in a prose template");
				break;
			}
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
