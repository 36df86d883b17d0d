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
 *		tracks the quotes, so such characters there are data.
 *
 *		A leaf module: it reads nothing of pg_runbook's and no shared state;
 *		the only catalog access is the name of a relation by OID (%R).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
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
 * (":name", ":'name'", ":\"name\""); comments likewise; the text must not
 * end inside a quote or a comment (psql would swallow what is pasted next).
 */
static bool
rb_sql_text_safe(const char *s, int len)
{
	RbLexer		lx = {LX_NORMAL, 0, NULL, 0};
	int			i = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		bool		outside = (lx.state == LX_NORMAL ||
							   lx.state == LX_LINE_COMMENT ||
							   lx.state == LX_BLOCK_COMMENT);

		if (outside)
		{
			if (!rb_plain_ascii(c) || c == '\\')
				return false;
			if (lx.state == LX_NORMAL && c == ':' && i + 1 < len &&
				(i == 0 || s[i - 1] != ':') &&
				(isalpha((unsigned char) s[i + 1]) || s[i + 1] == '_' ||
				 s[i + 1] == '\'' || s[i + 1] == '"' || s[i + 1] == '{'))
				return false;
		}
		i += rb_lex_step(&lx, s, i, len);
	}
	return lx.state == LX_NORMAL || lx.state == LX_LINE_COMMENT;
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

/* Prose: control characters of a value shown as \n, \r, \t or \xHH. */
static void
rb_append_visible(StringInfo out, const char *v)
{
	const unsigned char *p;

	for (p = (const unsigned char *) v; *p; p++)
	{
		if (*p == '\n')
			appendStringInfoString(out, "\\n");
		else if (*p == '\r')
			appendStringInfoString(out, "\\r");
		else if (*p == '\t')
			appendStringInfoString(out, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			appendStringInfo(out, "\\x%02X", *p);
		else if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
		{
			/* a C1 control character (U+0080 to U+009F) */
			appendStringInfo(out, "\\u%04X", (unsigned) p[1]);
			p++;
		}
		else if (*p == 0xE2 && ((p[1] == 0x80 && (p[2] == 0x8E || p[2] == 0x8F ||
											   (p[2] >= 0xAA && p[2] <= 0xAE))) ||
								(p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9)))
		{
			/* a direction mark or override (U+200E/F, U+202A-E, U+2066-9) */
			appendStringInfo(out, "\\u%04X",
							 (unsigned) (((p[1] & 0x0F) << 6) | (p[2] & 0x3F)) | 0x2000);
			p += 2;
		}
		else
			appendStringInfoChar(out, (char) *p);
	}
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

static void
rb_template_error(const char *fmt, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid runnable-text template: %s", why),
			 errdetail("Template: %s", fmt),
			 errhint("Values go only through %%I, %%L, %%R, %%Q or (numbers) %%s, outside quotes and comments; see docs/security.md.")));
}

/*
 * runbook._runnable(kind text, fmt text, VARIADIC args "any") -> text
 *
 * kind 'sql': psql text; 'shell': one shell command line; 'text': prose.
 * Placeholders (outside quotes and comments of the template):
 *	%I	identifier (text or name), quoted as needed (prose: always in "")
 *	%L	literal of any type (its output, quoted; NULL becomes NULL)
 *	%R	relation by regclass/oid, schema-qualified and quoted; a relation
 *		that is gone makes the whole result NULL
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
				{
					char	   *v;

					if (kind == RB_TEXT_SHELL)
						rb_template_error(fmt, "%I in a shell command (use %Q)");
					if (isnull)
						ereport(ERROR,
								(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
								 errmsg("null values cannot be formatted as an SQL identifier")));
					v = rb_value_text(value, typid);
					if (kind == RB_TEXT_PROSE)
					{
						appendStringInfoChar(&out, '"');
						rb_append_visible(&out, v);
						appendStringInfoChar(&out, '"');
					}
					else
						appendStringInfoString(&out, quote_identifier(v));
					break;
				}
			case 'L':
				if (kind == RB_TEXT_SHELL)
					rb_template_error(fmt, "%L in a shell command (use %Q)");
				if (isnull)
					appendStringInfoString(&out, "NULL");
				else if (kind == RB_TEXT_PROSE)
				{
					char	   *v = rb_value_text(value, typid);

					appendStringInfoChar(&out, '\'');
					rb_append_visible(&out, v);
					appendStringInfoChar(&out, '\'');
				}
				else
					appendStringInfoString(&out,
										   quote_literal_cstr(rb_value_text(value, typid)));
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
						appendStringInfoChar(&out, '"');
						rb_append_visible(&out, nsp);
						appendStringInfoString(&out, "\".\"");
						rb_append_visible(&out, rel);
						appendStringInfoChar(&out, '"');
					}
					else
						appendStringInfoString(&out, quote_qualified_identifier(nsp, rel));
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
					appendStringInfoString(&out, rb_value_text(value, typid));
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
						 errdetail("Template: %s", fmt)));
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
						elog(ERROR, "control character in a prose template");
				break;
			}
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
