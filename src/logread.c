/*-------------------------------------------------------------------------
 *
 * logread.c
 *		runbook.log_summary(since, max_bytes): the errors of the server log
 *		over a recent period, counted by severity, SQLSTATE and category
 *		(too many clients, deadlock, timeouts, out of memory, checksum
 *		failures...), with the first and last time and the latest example.
 *
 *		Which files: with logging_collector on, the current file of the
 *		richest destination (jsonlog, then csvlog, then stderr) as the
 *		syslogger records it in current_logfiles, then the older files of
 *		that destination in log_directory, newest first.  With the collector
 *		off, the server's standard error when it is a regular file (pg_ctl
 *		-l, Debian's pg_ctlcluster): the file our own fd 2 points to.
 *
 *		How much: each file is read backwards from its end in chunks; every
 *		chunk is parsed forward from its first record start, and reading
 *		stops at the first record older than the period, at max_bytes, or
 *		at the start of the oldest file.  Nothing before the period is read
 *		beyond the chunk that crosses it.
 *
 *		Who: the same rule as pg_read_file() for files outside the data
 *		directory: superuser or a member of pg_read_server_files.  The SQL
 *		function is granted to pg_monitor; the check is here.
 *
 *		Formats: stderr lines are matched against the current
 *		log_line_prefix (timestamp from %m, %t or %n; SQLSTATE from %e);
 *		continuation lines (a tab first) are skipped.  A stderr line is
 *		believed only if it reads as the server writes it (one reading only,
 *		not near a record a role or database name split with a line break,
 *		not dated in the future: scan_stderr_chunk); the others are counted
 *		in the note.  csvlog and jsonlog always carry time and SQLSTATE, in
 *		quoted fields a name cannot break out of.
 *		Messages are read in English (lc_messages = C): the categories of
 *		entries without a SQLSTATE come from their text.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "postmaster/syslogger.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/elog.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "logread.h"
#include "pg_runbook.h"

PG_FUNCTION_INFO_V1(rb_log_summary);

#define RB_LOG_CHUNK		(1024 * 1024)	/* first read size per step */
#define RB_LOG_MAX_CHUNK	(16 * 1024 * 1024)	/* one record never larger */
#define RB_LOG_MAX_FILES	200
#define RB_LOG_MAX_GROUPS	2000
#define RB_LOG_EXAMPLE_LEN	300 /* bytes of example text */
#define RB_LOG_MATCH_BUDGET 20000	/* backtracking steps per stderr line */
#define RB_LOG_FREE_MAX		1100	/* longest value of a prefix field that is
									 * not a name (a host name with its port) */
#define RB_NO_CUTOFF		PG_INT64_MIN	/* read back as far as max_bytes */
#define RB_LOG_MARGIN		4096	/* stderr: bytes looked at around a chunk */
#define RB_LOG_FUTURE_SLACK_MS	5000	/* a record this far ahead of now is
										 * not believed */

/* ---------------------------------------------------------------------
 * timestamps
 * --------------------------------------------------------------------- */

/* last (date, hour) whose offset from UTC in log_timezone was looked up */
static int	tzc_key = -1;
static int	tzc_off = 0;
static pg_tz *tzc_zone = NULL;

static inline bool
is_digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static inline int
num(const char *s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * Parse "YYYY-MM-DD HH:MM:SS[.ffffff][ ZONE]" as the server writes it for
 * %m / %t and in csvlog and jsonlog.  ZONE is log_timezone's abbreviation:
 * numeric ones (+03, -0330) and UTC/GMT are applied as written, others by
 * log_timezone's rules for that local time.  *used gets the bytes eaten.
 */
static bool
parse_ts_text(const char *s, int len, TimestampTz *out, int *used)
{
	struct pg_tm tm;
	fsec_t		fsec = 0;
	int			i = 19;
	int			zs,
				zl;
	int			tz;
	Timestamp	result;

	if (len < 19 || !is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2) ||
		s[7] != '-' || !is_digits(s + 8, 2) || s[10] != ' ' ||
		!is_digits(s + 11, 2) || s[13] != ':' || !is_digits(s + 14, 2) ||
		s[16] != ':' || !is_digits(s + 17, 2))
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = num(s, 4);
	tm.tm_mon = num(s + 5, 2);
	tm.tm_mday = num(s + 8, 2);
	tm.tm_hour = num(s + 11, 2);
	tm.tm_min = num(s + 14, 2);
	tm.tm_sec = num(s + 17, 2);
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return false;
	if (i < len && s[i] == '.')
	{
		int			scale = 100000;

		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
		{
			fsec += (s[i] - '0') * scale;
			scale /= 10;
			i++;
		}
	}
	zs = zl = 0;
	if (i < len && s[i] == ' ')
	{
		zs = i + 1;
		while (zs + zl < len &&
			   ((s[zs + zl] >= 'A' && s[zs + zl] <= 'Z') ||
				(s[zs + zl] >= 'a' && s[zs + zl] <= 'z') ||
				(s[zs + zl] >= '0' && s[zs + zl] <= '9') ||
				s[zs + zl] == '+' || s[zs + zl] == '-'))
			zl++;
		if (zl > 0)
			i = zs + zl;
	}

	if (zl > 0 && (s[zs] == '+' || s[zs] == '-'))
	{
		int			sign = s[zs] == '-' ? -1 : 1;
		int			digits = zl - 1;
		int			h,
					m = 0;

		if ((digits != 2 && digits != 4) || !is_digits(s + zs + 1, digits))
			return false;
		h = num(s + zs + 1, 2);
		if (digits == 4)
			m = num(s + zs + 3, 2);
		tz = -sign * (h * SECS_PER_HOUR + m * SECS_PER_MINUTE);
	}
	else if ((zl == 3 && (strncmp(s + zs, "UTC", 3) == 0 || strncmp(s + zs, "GMT", 3) == 0)) ||
			 (zl == 1 && s[zs] == 'Z'))
		tz = 0;
	else
	{
		/* log_timezone's rule for this local hour, cached */
		int			key = ((tm.tm_year * 13 + tm.tm_mon) * 32 + tm.tm_mday) * 24 + tm.tm_hour;

		if (key != tzc_key || tzc_zone != log_timezone)
		{
			struct pg_tm probe = tm;

			probe.tm_min = 0;
			probe.tm_sec = 0;
			tzc_off = DetermineTimeZoneOffset(&probe, log_timezone);
			tzc_key = key;
			tzc_zone = log_timezone;
		}
		tz = tzc_off;
	}
	if (tm2timestamp(&tm, fsec, &tz, &result) != 0)
		return false;
	*out = result;
	*used = i;
	return true;
}

/* Parse %n: Unix epoch seconds with milliseconds. */
static bool
parse_ts_epoch(const char *s, int len, TimestampTz *out, int *used)
{
	int			i = 0;
	int64		secs = 0;
	int64		usecs = 0;

	while (i < len && i < 12 && s[i] >= '0' && s[i] <= '9')
		secs = secs * 10 + (s[i++] - '0');
	if (i == 0)
		return false;
	if (i < len && s[i] == '.')
	{
		int64		scale = 100000;

		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
		{
			usecs += (s[i] - '0') * scale;
			scale /= 10;
			i++;
		}
	}
	*out = (secs - ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)) *
		USECS_PER_SEC + usecs;
	*used = i;
	return true;
}

/* ---------------------------------------------------------------------
 * severities
 * --------------------------------------------------------------------- */

static const char *const rb_sev_words[] = {
	"PANIC", "FATAL", "ERROR", "WARNING", "LOG", "NOTICE", "INFO", "DEBUG1",
	"DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5", "DETAIL", "HINT", "QUERY",
	"CONTEXT", "LOCATION", "STATEMENT", NULL
};

static bool
is_sev_word(const char *s, int len)
{
	for (int i = 0; rb_sev_words[i]; i++)
		if ((int) strlen(rb_sev_words[i]) == len && memcmp(rb_sev_words[i], s, len) == 0)
			return true;
	return false;
}

/*
 * Rank of a severity we report (0 = PANIC ... 3 = WARNING, 4 = LOG), -1
 * otherwise.  WARNING and LOG lines count only when they report corruption
 * (count_record): 18's I/O workers report a failed page verification at LOG.
 */
static int
sev_rank(const char *s, int len)
{
	for (int i = 0; i < 5; i++)
		if ((int) strlen(rb_sev_words[i]) == len && memcmp(rb_sev_words[i], s, len) == 0)
			return i;
	return -1;
}

/* ---------------------------------------------------------------------
 * stderr: log_line_prefix
 * --------------------------------------------------------------------- */

typedef enum PtKind
{
	PT_LIT,						/* literal text */
	PT_TS_TEXT,					/* %m or %t */
	PT_TS_EPOCH,				/* %n */
	PT_STATE,					/* %e */
	PT_FREE,					/* any other escape: any text, maybe empty */
	PT_NAME,					/* %u, %d, %a: a name, at most NAMEDATALEN - 1
								 * bytes, maybe empty */
	PT_DIGITS,					/* %p, %l, %x: digits */
	PT_DIGITS_OPT,				/* %P: digits or nothing */
	PT_SESSION,					/* %c: hex.hex */
	PT_Q						/* %q: non-session processes stop here */
} PtKind;

typedef struct PrefixTok
{
	PtKind		kind;
	bool		padded;
	int			litlen;
	char	   *lit;
} PrefixTok;

struct RbPrefix
{
	int			ntok;
	bool		has_ts;
	bool		has_state;
	int			nnames;			/* %u and %d: names a role can choose, with
								 * line breaks in them */
	PrefixTok	tok[FLEXIBLE_ARRAY_MEMBER];
};

RbPrefix *
rb_prefix_compile(const char *prefix)
{
	int			n = prefix ? strlen(prefix) : 0;
	RbPrefix   *p = palloc0(offsetof(RbPrefix, tok) + sizeof(PrefixTok) * (n + 1));
	StringInfoData lit;

	initStringInfo(&lit);
	for (int i = 0; i < n; i++)
	{
		PtKind		kind;
		bool		padded = false;

		if (prefix[i] != '%' || i + 1 >= n)
		{
			appendStringInfoChar(&lit, prefix[i]);
			continue;
		}
		i++;
		if (prefix[i] == '%')
		{
			appendStringInfoChar(&lit, '%');
			continue;
		}
		/* padding, as process_log_prefix_padding() reads it */
		if (prefix[i] == '-' || (prefix[i] >= '0' && prefix[i] <= '9'))
		{
			padded = true;
			if (prefix[i] == '-')
				i++;
			while (i < n && prefix[i] >= '0' && prefix[i] <= '9')
				i++;
			if (i >= n)
				break;
		}
		switch (prefix[i])
		{
			case 'm':
			case 't':
				kind = PT_TS_TEXT;
				p->has_ts = true;
				break;
			case 'n':
				kind = PT_TS_EPOCH;
				p->has_ts = true;
				break;
			case 'e':
				kind = PT_STATE;
				p->has_state = true;
				break;
			case 'q':
				kind = PT_Q;
				break;
			case 'u':
			case 'd':
				p->nnames++;
				/* FALLTHROUGH */
			case 'a':
				kind = PT_NAME;
				break;
			case 'p':
			case 'l':
			case 'x':
				kind = PT_DIGITS;
				break;
			case 'P':
				kind = PT_DIGITS_OPT;
				break;
			case 'c':
				kind = PT_SESSION;
				break;
			case 'r':
			case 'h':
			case 'b':
			case 'i':
			case 's':
			case 'v':
			case 'Q':
			case 'L':			/* 18: local address */
				kind = PT_FREE;
				break;
			default:
				continue;		/* unknown escapes print nothing */
		}
		if (lit.len > 0)
		{
			p->tok[p->ntok].kind = PT_LIT;
			p->tok[p->ntok].lit = pnstrdup(lit.data, lit.len);
			p->tok[p->ntok].litlen = lit.len;
			p->ntok++;
			resetStringInfo(&lit);
		}
		/* a padded field has spaces around its value: any text */
		if (padded && kind != PT_TS_TEXT && kind != PT_TS_EPOCH &&
			kind != PT_STATE && kind != PT_Q)
			kind = PT_FREE;
		p->tok[p->ntok].kind = kind;
		p->tok[p->ntok].padded = padded;
		p->ntok++;
	}
	if (lit.len > 0)
	{
		p->tok[p->ntok].kind = PT_LIT;
		p->tok[p->ntok].lit = pnstrdup(lit.data, lit.len);
		p->tok[p->ntok].litlen = lit.len;
		p->ntok++;
	}
	pfree(lit.data);
	return p;
}

bool
rb_prefix_has_ts(const RbPrefix *p)
{
	return p->has_ts;
}

bool
rb_prefix_has_state(const RbPrefix *p)
{
	return p->has_state;
}

int
rb_prefix_name_fields(const RbPrefix *p)
{
	return p->nnames;
}

/*
 * Matching a line against the prefix looks for every way it can be read:
 * the server writes exactly one, so a line that reads two ways (a name
 * field holding "PANIC:  ", say) is not believed.  pmatch() returns true to
 * stop the search (a second reading found, or the budget spent).
 */
typedef struct MatchCx
{
	const RbPrefix *p;
	const char *b;
	int			end;			/* end of the line */
	int			budget;
	RbLogRecord *rec;			/* the reading being built */
	RbLogRecord first;			/* the first complete reading */
	int			sevpos;			/* its severity's position, -1 = none yet */
	bool		ambiguous;		/* a reading with another severity position */
} MatchCx;

/* "WORD:  " with a known severity word at pos?  Fills rec's severity and message. */
static bool
sev_at(MatchCx *cx, int pos)
{
	int			i = pos;

	while (i < cx->end && ((cx->b[i] >= 'A' && cx->b[i] <= 'Z') || (cx->b[i] >= '0' && cx->b[i] <= '9')))
		i++;
	if (i == pos || i + 3 > cx->end || cx->b[i] != ':' || cx->b[i + 1] != ' ' || cx->b[i + 2] != ' ')
		return false;
	if (!is_sev_word(cx->b + pos, i - pos))
		return false;
	cx->rec->sev = cx->b + pos;
	cx->rec->sevlen = i - pos;
	cx->rec->msg = cx->b + i + 3;
	cx->rec->msglen = cx->end - (i + 3);
	return true;
}

/* A complete reading ends at pos: note it.  True to stop searching. */
static bool
reading_at(MatchCx *cx, int pos)
{
	if (!sev_at(cx, pos))
		return false;
	if (cx->sevpos < 0)
	{
		cx->sevpos = pos;
		cx->first = *cx->rec;
		return false;
	}
	if (pos != cx->sevpos)
	{
		cx->ambiguous = true;
		return true;
	}
	return false;
}

static inline int
skip_spaces(MatchCx *cx, int pos)
{
	while (pos < cx->end && cx->b[pos] == ' ')
		pos++;
	return pos;
}

/*
 * Match prefix tokens ti.. at pos, then the severity, every way there is
 * (backtracking over the fields of variable length).  True to stop.
 */
static bool
pmatch(MatchCx *cx, int ti, int pos)
{
	const PrefixTok *t;
	int			used;

	if (--cx->budget < 0)
		return true;
	if (ti == cx->p->ntok)
		return reading_at(cx, pos);
	t = &cx->p->tok[ti];
	switch (t->kind)
	{
		case PT_LIT:
			if (pos + t->litlen > cx->end || memcmp(cx->b + pos, t->lit, t->litlen) != 0)
				return false;
			return pmatch(cx, ti + 1, pos + t->litlen);
		case PT_TS_TEXT:
			if (t->padded)
				pos = skip_spaces(cx, pos);
			if (!parse_ts_text(cx->b + pos, cx->end - pos, &cx->rec->ts, &used))
				return false;
			cx->rec->has_ts = true;
			return pmatch(cx, ti + 1, t->padded ? skip_spaces(cx, pos + used) : pos + used);
		case PT_TS_EPOCH:
			if (t->padded)
				pos = skip_spaces(cx, pos);
			if (!parse_ts_epoch(cx->b + pos, cx->end - pos, &cx->rec->ts, &used))
				return false;
			cx->rec->has_ts = true;
			return pmatch(cx, ti + 1, t->padded ? skip_spaces(cx, pos + used) : pos + used);
		case PT_STATE:
			if (t->padded)
				pos = skip_spaces(cx, pos);
			if (pos + 5 > cx->end)
				return false;
			for (int i = 0; i < 5; i++)
			{
				char		c = cx->b[pos + i];

				if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')))
					return false;
			}
			memcpy(cx->rec->sqlstate, cx->b + pos, 5);
			cx->rec->sqlstate[5] = '\0';
			cx->rec->has_state = true;
			return pmatch(cx, ti + 1, t->padded ? skip_spaces(cx, pos + 5) : pos + 5);
		case PT_Q:
			if (reading_at(cx, pos))
				return true;
			return pmatch(cx, ti + 1, pos);
		case PT_DIGITS:
		case PT_DIGITS_OPT:
			{
				int			e = pos;

				while (e < cx->end && cx->b[e] >= '0' && cx->b[e] <= '9')
					e++;
				if (e == pos && t->kind == PT_DIGITS)
					return false;
				return pmatch(cx, ti + 1, e);
			}
		case PT_SESSION:
			{
				int			e = pos;
				int			dots = 0;

				while (e < cx->end && ((cx->b[e] >= '0' && cx->b[e] <= '9') ||
									   (cx->b[e] >= 'a' && cx->b[e] <= 'f') ||
									   (cx->b[e] == '.' && dots++ == 0)))
					e++;
				return pmatch(cx, ti + 1, e);
			}
		case PT_FREE:
		case PT_NAME:
			{
				const PrefixTok *next = ti + 1 < cx->p->ntok ? &cx->p->tok[ti + 1] : NULL;
				int			last = cx->end;

				if (t->kind == PT_NAME)
					last = Min(cx->end, pos + NAMEDATALEN - 1);
				else
					last = Min(cx->end, pos + RB_LOG_FREE_MAX);
				for (int e = pos; e <= last; e++)
				{
					/* cheap filters before recursing */
					if (next && next->kind == PT_LIT && (e >= cx->end || cx->b[e] != next->lit[0]))
						continue;
					if (next == NULL && (e >= cx->end || cx->b[e] < 'A' || cx->b[e] > 'Z'))
						continue;
					if (pmatch(cx, ti + 1, e))
						return true;
				}
				return false;
			}
	}
	return false;
}

/*
 * Does the line at pos start as the prefix does (its first field: a time, a
 * literal)?  A broken line that does is the head of a record whose prefix a
 * name split; one that does not is the rest of such a record, or foreign.
 */
bool
rb_prefix_starts_line(const RbPrefix *p, const char *buf, int pos, int end)
{
	TimestampTz ts;
	int			used;

	if (p->ntok == 0)
		return false;
	switch (p->tok[0].kind)
	{
		case PT_LIT:
			return end - pos >= p->tok[0].litlen &&
				memcmp(buf + pos, p->tok[0].lit, p->tok[0].litlen) == 0;
		case PT_TS_TEXT:
			return parse_ts_text(buf + pos, end - pos, &ts, &used);
		case PT_TS_EPOCH:
			return parse_ts_epoch(buf + pos, end - pos, &ts, &used);
		default:
			return true;
	}
}

static int
parse_stderr(const RbPrefix *prefix, const char *buf, int pos, int end,
			 RbLogRecord *rec, bool *ok)
{
	const char *nl = memchr(buf + pos, '\n', end - pos);
	int			lend;
	MatchCx		cx;

	if (nl == NULL)
		return -1;
	lend = nl - buf;
	*ok = false;
	if (buf[pos] == '\t' || lend == pos)
		return lend + 1;		/* continuation of a multi-line message */
	if (lend > pos && buf[lend - 1] == '\r')
		lend--;
	cx.p = prefix;
	cx.b = buf;
	cx.end = lend;
	cx.budget = RB_LOG_MATCH_BUDGET;
	cx.rec = rec;
	cx.sevpos = -1;
	cx.ambiguous = false;
	(void) pmatch(&cx, 0, pos);
	if (cx.sevpos < 0)
		return (nl - buf) + 1;	/* not a record of this prefix */
	if (cx.ambiguous || cx.budget < 0)
	{
		/* reads as a record, more than one way (or too many to tell) */
		memset(rec, 0, sizeof(*rec));
		rec->rejected = true;
		return (nl - buf) + 1;
	}
	*rec = cx.first;
	*ok = true;
	return (nl - buf) + 1;
}

/* ---------------------------------------------------------------------
 * csvlog
 * --------------------------------------------------------------------- */

/* csvlog columns we read (PostgreSQL 15-18 keep these positions) */
#define CSV_LOG_TIME	0
#define CSV_SEVERITY	11
#define CSV_STATE		12
#define CSV_MESSAGE		13

static int
parse_csv(const char *buf, int pos, int end, RbLogRecord *rec, bool *ok)
{
	int			p = pos;
	int			field = 0;
	const char *fs[CSV_MESSAGE + 1];
	int			fl[CSV_MESSAGE + 1];
	bool		fq[CSV_MESSAGE + 1];
	int			used;

	*ok = false;
	for (;;)
	{
		int			start;
		int			len;
		bool		quoted = false;

		if (p >= end)
			return -1;
		if (buf[p] == '"')
		{
			quoted = true;
			start = ++p;
			for (;;)
			{
				const char *q = memchr(buf + p, '"', end - p);

				if (q == NULL)
					return -1;
				p = q - buf;
				if (p + 1 < end && buf[p + 1] == '"')
				{
					p += 2;
					continue;
				}
				if (p + 1 >= end)
					return -1;
				break;
			}
			len = p - start;
			p++;
		}
		else
		{
			start = p;
			while (p < end && buf[p] != ',' && buf[p] != '\n')
				p++;
			if (p >= end)
				return -1;
			len = p - start;
		}
		if (field <= CSV_MESSAGE)
		{
			fs[field] = buf + start;
			fl[field] = len;
			fq[field] = quoted;
		}
		if (buf[p] == ',')
		{
			p++;
			field++;
			continue;
		}
		if (buf[p] == '\n')
		{
			p++;
			break;
		}
		/* garbage after a quoted field: not a record, skip the line */
		{
			const char *nl = memchr(buf + p, '\n', end - p);

			return nl ? (nl - buf) + 1 : -1;
		}
	}
	if (field < CSV_MESSAGE)
		return p;
	if (!parse_ts_text(fs[CSV_LOG_TIME], fl[CSV_LOG_TIME], &rec->ts, &used))
		return p;
	if (!is_sev_word(fs[CSV_SEVERITY], fl[CSV_SEVERITY]))
		return p;
	rec->has_ts = true;
	rec->sev = fs[CSV_SEVERITY];
	rec->sevlen = fl[CSV_SEVERITY];
	if (fl[CSV_STATE] == 5)
	{
		memcpy(rec->sqlstate, fs[CSV_STATE], 5);
		rec->sqlstate[5] = '\0';
		rec->has_state = true;
	}
	rec->msg = fs[CSV_MESSAGE];
	rec->msglen = fl[CSV_MESSAGE];
	rec->msg_escaped = fq[CSV_MESSAGE];
	*ok = true;
	return p;
}

/* ---------------------------------------------------------------------
 * jsonlog: one object per line, flat, as the server writes it
 * --------------------------------------------------------------------- */

/* Scan a JSON string at buf[p] == '"'; returns the index past its closing quote. */
static int
json_string(const char *buf, int p, int end, int *start, int *len)
{
	p++;
	*start = p;
	while (p < end && buf[p] != '"')
	{
		if (buf[p] == '\\')
			p++;
		p++;
	}
	if (p >= end)
		return -1;
	*len = p - *start;
	return p + 1;
}

static int
parse_json(const char *buf, int pos, int end, RbLogRecord *rec, bool *ok)
{
	const char *nl = memchr(buf + pos, '\n', end - pos);
	int			lend;
	int			p = pos;
	bool		got_ts = false,
				got_sev = false;

	if (nl == NULL)
		return -1;
	lend = nl - buf;
	*ok = false;
	if (buf[p] != '{')
		return lend + 1;
	p++;
	while (p < lend)
	{
		int			ks,
					kl,
					vs = 0,
					vl = 0;
		bool		vstr = false;

		while (p < lend && (buf[p] == ' ' || buf[p] == ','))
			p++;
		if (p >= lend || buf[p] == '}')
			break;
		if (buf[p] != '"' || (p = json_string(buf, p, lend, &ks, &kl)) < 0)
			return lend + 1;
		while (p < lend && buf[p] == ' ')
			p++;
		if (p >= lend || buf[p] != ':')
			return lend + 1;
		p++;
		while (p < lend && buf[p] == ' ')
			p++;
		if (p < lend && buf[p] == '"')
		{
			if ((p = json_string(buf, p, lend, &vs, &vl)) < 0)
				return lend + 1;
			vstr = true;
		}
		else
		{
			vs = p;
			while (p < lend && buf[p] != ',' && buf[p] != '}')
				p++;
			vl = p - vs;
		}
		if (!vstr)
			continue;
		if (kl == 9 && memcmp(buf + ks, "timestamp", 9) == 0)
		{
			int			used;

			got_ts = parse_ts_text(buf + vs, vl, &rec->ts, &used);
		}
		else if (kl == 14 && memcmp(buf + ks, "error_severity", 14) == 0)
		{
			rec->sev = buf + vs;
			rec->sevlen = vl;
			got_sev = is_sev_word(buf + vs, vl);
		}
		else if (kl == 10 && memcmp(buf + ks, "state_code", 10) == 0 && vl == 5)
		{
			memcpy(rec->sqlstate, buf + vs, 5);
			rec->sqlstate[5] = '\0';
			rec->has_state = true;
		}
		else if (kl == 7 && memcmp(buf + ks, "message", 7) == 0)
		{
			rec->msg = buf + vs;
			rec->msglen = vl;
			rec->msg_escaped = true;
		}
	}
	rec->has_ts = got_ts;
	*ok = got_ts && got_sev && rec->msg != NULL;
	return lend + 1;
}

int
rb_log_parse(RbLogFormat fmt, const RbPrefix *prefix, const char *buf, int pos,
			 int end, RbLogRecord *rec, bool *ok)
{
	memset(rec, 0, sizeof(*rec));
	switch (fmt)
	{
		case RB_LOG_STDERR:
			return parse_stderr(prefix, buf, pos, end, rec, ok);
		case RB_LOG_CSV:
			return parse_csv(buf, pos, end, rec, ok);
		case RB_LOG_JSON:
			return parse_json(buf, pos, end, rec, ok);
	}
	*ok = false;
	return -1;
}

/* Could a record of this format start at buf[pos] (a line start)? */
static bool
record_start(RbLogFormat fmt, const char *buf, int pos, int end)
{
	switch (fmt)
	{
		case RB_LOG_STDERR:
			return pos < end && buf[pos] != '\t' && buf[pos] != '\n';
		case RB_LOG_CSV:
			return end - pos >= 20 && is_digits(buf + pos, 4) && buf[pos + 4] == '-' &&
				buf[pos + 10] == ' ' && buf[pos + 13] == ':';
		case RB_LOG_JSON:
			return pos < end && buf[pos] == '{';
	}
	return false;
}

/* First record start at or after a line start >= from; -1 if none. */
static int
next_sync(RbLogFormat fmt, const char *buf, int from, int end)
{
	int			p = from;

	while (p < end)
	{
		const char *nl;

		if (record_start(fmt, buf, p, end))
			return p;
		nl = memchr(buf + p, '\n', end - p);
		if (nl == NULL)
			return -1;
		p = (nl - buf) + 1;
	}
	return -1;
}

/* ---------------------------------------------------------------------
 * categories
 * --------------------------------------------------------------------- */

typedef struct StateName
{
	const char *code;
	const char *name;
} StateName;

/* SQLSTATEs the runbooks name (checked before the class names) */
static const StateName rb_state_names[] = {
	{"53300", "too_many_connections"},
	{"40P01", "deadlock"},
	{"25P03", "idle_in_transaction_timeout"},
	{"57P05", "idle_session_timeout"},
	{"25P04", "transaction_timeout"},
	{"57P01", "terminated_by_administrator"},
	{"57P02", "crash_shutdown"},
	{"57P03", "cannot_connect_now"},
	{"53200", "out_of_memory"},
	{"53100", "disk_full"},
	{"53400", "configuration_limit_exceeded"},
	{"XX002", "index_corrupted"},
	{"28P01", "authentication_failed"},
	{"28000", "authentication_failed"},
	{"3D000", "database_does_not_exist"},
	{"40001", "serialization_failure"},
	{"22012", "division_by_zero"},
	{"23505", "unique_violation"},
	{"23503", "foreign_key_violation"},
	{"23502", "not_null_violation"},
	{"42P01", "undefined_table"},
	{"42703", "undefined_column"},
	{"42883", "undefined_function"},
	{"42601", "syntax_error"},
	{"42501", "insufficient_privilege"},
	{"58P01", "undefined_file"},
	{"08P01", "protocol_violation"},
	{"08006", "connection_failure"},
	{"54001", "statement_too_complex"},
	{NULL, NULL}
};

/* SQLSTATE classes (errcodes.txt) */
static const StateName rb_class_names[] = {
	{"03", "sql_statement_not_yet_complete"}, {"08", "connection_exception"},
	{"09", "triggered_action_exception"}, {"0A", "feature_not_supported"},
	{"0B", "invalid_transaction_initiation"}, {"0F", "locator_exception"},
	{"0L", "invalid_grantor"}, {"0P", "invalid_role_specification"},
	{"0Z", "diagnostics_exception"}, {"20", "case_not_found"},
	{"21", "cardinality_violation"}, {"22", "data_exception"},
	{"23", "integrity_constraint_violation"}, {"24", "invalid_cursor_state"},
	{"25", "invalid_transaction_state"}, {"26", "invalid_sql_statement_name"},
	{"27", "triggered_data_change_violation"}, {"28", "invalid_authorization_specification"},
	{"2B", "dependent_privilege_descriptors_still_exist"}, {"2D", "invalid_transaction_termination"},
	{"2F", "sql_routine_exception"}, {"34", "invalid_cursor_name"},
	{"38", "external_routine_exception"}, {"39", "external_routine_invocation_exception"},
	{"3B", "savepoint_exception"}, {"3D", "invalid_catalog_name"},
	{"3F", "invalid_schema_name"}, {"40", "transaction_rollback"},
	{"42", "syntax_error_or_access_rule_violation"}, {"44", "with_check_option_violation"},
	{"53", "insufficient_resources"}, {"54", "program_limit_exceeded"},
	{"55", "object_not_in_prerequisite_state"}, {"57", "operator_intervention"},
	{"58", "system_error"}, {"72", "snapshot_too_old"}, {"F0", "config_file_error"},
	{"HV", "fdw_error"}, {"P0", "plpgsql_error"}, {"XX", "internal_error"},
	{NULL, NULL}
};

/* Message texts (English) of the categories, for entries without SQLSTATE */
static const StateName rb_text_names[] = {
	{"too many clients already", "too_many_connections"},
	{"remaining connection slots are reserved", "too_many_connections"},
	{"deadlock detected", "deadlock"},
	{"due to statement timeout", "statement_timeout"},
	{"due to lock timeout", "lock_timeout"},
	{"due to user request", "canceled_by_user"},
	{"due to idle-in-transaction timeout", "idle_in_transaction_timeout"},
	{"due to idle-session timeout", "idle_session_timeout"},
	{"due to transaction timeout", "transaction_timeout"},
	{"due to administrator command", "terminated_by_administrator"},
	{"out of memory", "out_of_memory"},
	{"No space left on device", "disk_full"},
	{"page verification failed", "checksum_failure"},
	{"invalid page in block", "checksum_failure"},
	{"password authentication failed", "authentication_failed"},
	{"no pg_hba.conf entry", "authentication_failed"},
	{"could not serialize access", "serialization_failure"},
	{"division by zero", "division_by_zero"},
	{"duplicate key value violates unique constraint", "unique_violation"},
	{NULL, NULL}
};

static bool
contains(const char *s, int len, const char *needle)
{
	int			nl = strlen(needle);

	for (int i = 0; i + nl <= len; i++)
		if (s[i] == needle[0] && memcmp(s + i, needle, nl) == 0)
			return true;
	return false;
}

static const char *
categorize(const RbLogRecord *rec)
{
	if (rec->has_state)
	{
		const char *st = rec->sqlstate;

		/* one SQLSTATE, several runbook causes: the text tells them apart */
		if (strcmp(st, "57014") == 0)
			return contains(rec->msg, rec->msglen, "statement timeout") ? "statement_timeout" :
				contains(rec->msg, rec->msglen, "user request") ? "canceled_by_user" : "query_canceled";
		if (strcmp(st, "55P03") == 0)
			return contains(rec->msg, rec->msglen, "lock timeout") ? "lock_timeout" : "lock_not_available";
		if (strcmp(st, "XX001") == 0)
			return (contains(rec->msg, rec->msglen, "invalid page") ||
					contains(rec->msg, rec->msglen, "checksum")) ? "checksum_failure" : "data_corrupted";
		for (int i = 0; rb_state_names[i].code; i++)
			if (strcmp(st, rb_state_names[i].code) == 0)
				return rb_state_names[i].name;
		for (int i = 0; rb_class_names[i].code; i++)
			if (st[0] == rb_class_names[i].code[0] && st[1] == rb_class_names[i].code[1])
				return rb_class_names[i].name;
		return NULL;
	}
	for (int i = 0; rb_text_names[i].code; i++)
		if (contains(rec->msg, rec->msglen, rb_text_names[i].code))
			return rb_text_names[i].name;
	return NULL;
}

/* ---------------------------------------------------------------------
 * example text: unescaped, control characters escaped, valid in the
 * database encoding, at most RB_LOG_EXAMPLE_LEN bytes
 * --------------------------------------------------------------------- */

static char *
example_text(RbLogFormat fmt, const RbLogRecord *rec)
{
	StringInfoData raw;
	StringInfoData out;
	int			enc = GetDatabaseEncoding();
	int			i;
	bool		more;

	initStringInfo(&raw);
	for (i = 0; i < rec->msglen && raw.len < RB_LOG_EXAMPLE_LEN * 2; i++)
	{
		char		c = rec->msg[i];

		if (rec->msg_escaped && fmt == RB_LOG_CSV && c == '"' && i + 1 < rec->msglen && rec->msg[i + 1] == '"')
			i++;
		else if (rec->msg_escaped && fmt == RB_LOG_JSON && c == '\\' && i + 1 < rec->msglen)
		{
			c = rec->msg[++i];
			switch (c)
			{
				case 'n':
					c = '\n';
					break;
				case 't':
					c = '\t';
					break;
				case 'r':
					c = '\r';
					break;
				case 'b':
					c = '\b';
					break;
				case 'f':
					c = '\f';
					break;
				case 'u':
					if (i + 4 < rec->msglen)
					{
						char		hex[5];
						long		v;

						memcpy(hex, rec->msg + i + 1, 4);
						hex[4] = '\0';
						v = strtol(hex, NULL, 16);
						c = (v > 0 && v < 0x80) ? (char) v : '?';
						i += 4;
					}
					break;
				default:
					break;		/* \" \\ \/ */
			}
		}
		appendStringInfoChar(&raw, c);
	}
	more = i < rec->msglen;

	initStringInfo(&out);
	for (i = 0; i < raw.len && out.len < RB_LOG_EXAMPLE_LEN;)
	{
		unsigned char c = (unsigned char) raw.data[i];

		if (c == '\n')
			appendStringInfoString(&out, "\\n");
		else if (c == '\r')
			appendStringInfoString(&out, "\\r");
		else if (c == '\t')
			appendStringInfoString(&out, "\\t");
		else if (c < 0x20 || c == 0x7f)
			appendStringInfo(&out, "\\x%02x", c);
		else if (c < 0x80)
			appendStringInfoChar(&out, (char) c);
		else
		{
			int			l = pg_encoding_verifymbchar(enc, raw.data + i, raw.len - i);

			if (l <= 0)
			{
				appendStringInfoChar(&out, '?');
				i++;
				continue;
			}
			if (out.len + l > RB_LOG_EXAMPLE_LEN)
				break;
			appendBinaryStringInfo(&out, raw.data + i, l);
			i += l;
			continue;
		}
		i++;
	}
	if (more || i < raw.len)
		appendStringInfoString(&out, "...");
	pfree(raw.data);
	return out.data;
}

/* ---------------------------------------------------------------------
 * the files
 * --------------------------------------------------------------------- */

typedef struct LogFile
{
	char	   *path;			/* to open */
	char	   *shown;			/* to name in notes */
	time_t		mtime;
	bool		current;
} LogFile;

static int
logfile_cmp(const void *a, const void *b)
{
	const LogFile *x = a;
	const LogFile *y = b;

	if (x->current != y->current)
		return x->current ? -1 : 1;
	if (x->mtime != y->mtime)
		return x->mtime > y->mtime ? -1 : 1;
	return strcmp(y->path, x->path);
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		a = strlen(s),
				b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The current file of each destination, from the syslogger's current_logfiles. */
static void
read_current_logfiles(char **stderr_file, char **csv_file, char **json_file)
{
	FILE	   *fd;
	char		line[MAXPGPATH + 32];

	*stderr_file = *csv_file = *json_file = NULL;
	fd = AllocateFile(LOG_METAINFO_DATAFILE, "r");
	if (fd == NULL)
		return;
	while (fgets(line, sizeof(line), fd) != NULL)
	{
		char	   *sp = strchr(line, ' ');
		char	   *nl = strchr(line, '\n');

		if (sp == NULL || nl == NULL)
			continue;
		*nl = '\0';
		*sp = '\0';
		if (strcmp(line, "stderr") == 0)
			*stderr_file = pstrdup(sp + 1);
		else if (strcmp(line, "csvlog") == 0)
			*csv_file = pstrdup(sp + 1);
		else if (strcmp(line, "jsonlog") == 0)
			*json_file = pstrdup(sp + 1);
	}
	FreeFile(fd);
}

/*
 * The files to read, newest first, for logging_collector = on: the current
 * one and the older ones of the same destination in log_directory (same
 * literal start of log_filename, same suffix), modified at or after
 * cutoff_secs.
 */
static List *
collector_files(RbLogFormat fmt, const char *current, time_t cutoff_secs)
{
	List	   *files = NIL;
	DIR		   *dir;
	struct dirent *de;
	const char *pct = strchr(Log_filename, '%');
	int			stem_len = pct ? pct - Log_filename : strlen(Log_filename);
	const char *suffix;
	const char *cur_base = current ? last_dir_separator(current) : NULL;
	LogFile    *arr;
	int			n,
				i;
	ListCell   *lc;

	/* csvlog and jsonlog replace a ".log" suffix: compare only what precedes it */
	if (!pct && stem_len >= 4 && strcmp(Log_filename + stem_len - 4, ".log") == 0)
		stem_len -= 4;
	cur_base = cur_base ? cur_base + 1 : current;
	if (fmt == RB_LOG_CSV)
		suffix = ".csv";
	else if (fmt == RB_LOG_JSON)
		suffix = ".json";
	else
	{
		/* the current file's suffix, if it has one */
		const char *dot = cur_base ? strrchr(cur_base, '.') : NULL;

		suffix = dot ? dot : "";
	}

	dir = AllocateDir(Log_directory);
	if (dir == NULL)
	{
		if (current)
		{
			LogFile    *f = palloc0(sizeof(LogFile));

			f->path = f->shown = pstrdup(current);
			f->current = true;
			files = lappend(files, f);
		}
		return files;
	}
	while ((de = ReadDir(dir, Log_directory)) != NULL)
	{
		char		path[MAXPGPATH];
		struct stat st;
		LogFile    *f;
		bool		is_current;

		is_current = cur_base != NULL && strcmp(de->d_name, cur_base) == 0;
		if (!is_current)
		{
			if (strncmp(de->d_name, Log_filename, stem_len) != 0 || !ends_with(de->d_name, suffix))
				continue;
			if (fmt == RB_LOG_STDERR && (ends_with(de->d_name, ".csv") || ends_with(de->d_name, ".json")))
				continue;
		}
		snprintf(path, sizeof(path), "%s/%s", Log_directory, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (!is_current && st.st_mtime < cutoff_secs)
			continue;
		f = palloc0(sizeof(LogFile));
		f->path = f->shown = pstrdup(path);
		f->mtime = st.st_mtime;
		f->current = is_current;
		files = lappend(files, f);
	}
	FreeDir(dir);

	/* newest first, the current file before all */
	n = list_length(files);
	if (n == 0)
		return NIL;
	arr = palloc(sizeof(LogFile) * n);
	i = 0;
	foreach(lc, files)
		arr[i++] = *(LogFile *) lfirst(lc);
	qsort(arr, n, sizeof(LogFile), logfile_cmp);
	files = NIL;
	for (i = 0; i < n && i < RB_LOG_MAX_FILES; i++)
		files = lappend(files, &arr[i]);
	return files;
}

/* ---------------------------------------------------------------------
 * groups
 * --------------------------------------------------------------------- */

typedef struct LogGroup
{
	char		severity[12];
	int			sevrank;
	bool		has_state;
	char		sqlstate[6];
	const char *category;
	int64		count;
	bool		has_ts;
	TimestampTz first_at;
	TimestampTz last_at;
	char	   *example;
	int64		ex_rank;		/* smaller: newer */
} LogGroup;

typedef struct LogScan
{
	RbLogFormat fmt;
	RbPrefix   *prefix;
	TimestampTz cutoff;			/* records older are not counted */
	bool		use_cutoff;
	int64		budget;			/* bytes still allowed */
	int64		bytes_read;
	int			chunk_seq;
	bool		reached_cutoff; /* a record older than the period was seen */
	bool		truncated;		/* stopped by the byte budget */
	bool		unparsable;		/* stopped at a chunk with no record */
	bool		oldest_set;
	TimestampTz oldest_read;	/* oldest record timestamp parsed */
	TimestampTz now;			/* records after now + RB_LOG_FUTURE_SLACK
								 * are not believed */
	int			maxinj;			/* stderr: bytes a name can inject (0: no
								 * name in the prefix) */
	List	   *danger;			/* names of roles and databases with a line
								 * break (char *) */
	int64		unparsed;		/* stderr lines that do not read as the
								 * server writes them */
	int64		future;			/* records dated in the future */
	int			ngroups;
	bool		groups_full;
	LogGroup	groups[RB_LOG_MAX_GROUPS];
} LogScan;

static void
count_record(LogScan *sc, const RbLogRecord *rec, int offset)
{
	int			rank = sev_rank(rec->sev, rec->sevlen);
	const char *cat;
	LogGroup   *g = NULL;
	int64		exrank;

	if (rank < 0)
		return;
	cat = categorize(rec);
	/* warnings (and LOG lines) only when they tell of corruption or a system error */
	if (rank >= 3 &&
		!(cat && (strcmp(cat, "checksum_failure") == 0 || strcmp(cat, "data_corrupted") == 0 ||
				  strcmp(cat, "index_corrupted") == 0)) &&
		!(rec->has_state && (strncmp(rec->sqlstate, "XX", 2) == 0 || strncmp(rec->sqlstate, "58", 2) == 0)))
		return;

	for (int i = 0; i < sc->ngroups; i++)
	{
		LogGroup   *x = &sc->groups[i];

		if (x->sevrank == rank && x->has_state == rec->has_state &&
			(!rec->has_state || strcmp(x->sqlstate, rec->sqlstate) == 0) &&
			(x->category == cat || (x->category && cat && strcmp(x->category, cat) == 0)))
		{
			g = x;
			break;
		}
	}
	if (g == NULL)
	{
		if (sc->ngroups >= RB_LOG_MAX_GROUPS)
		{
			sc->groups_full = true;
			return;
		}
		g = &sc->groups[sc->ngroups++];
		memset(g, 0, sizeof(*g));
		memcpy(g->severity, rec->sev, Min(rec->sevlen, (int) sizeof(g->severity) - 1));
		g->sevrank = rank;
		g->has_state = rec->has_state;
		if (rec->has_state)
			strlcpy(g->sqlstate, rec->sqlstate, sizeof(g->sqlstate));
		g->category = cat;
		g->ex_rank = PG_INT64_MAX;
	}
	g->count++;
	if (rec->has_ts)
	{
		if (!g->has_ts || rec->ts < g->first_at)
			g->first_at = rec->ts;
		if (!g->has_ts || rec->ts > g->last_at)
			g->last_at = rec->ts;
		g->has_ts = true;
	}
	exrank = ((int64) sc->chunk_seq << 32) | (uint32) (PG_INT32_MAX - offset);
	if (exrank < g->ex_rank)
	{
		if (g->example)
			pfree(g->example);
		g->example = example_text(sc->fmt, rec);
		g->ex_rank = exrank;
	}
}

/* A record dated after now (and a little slack) is not believed. */
static bool
in_future(LogScan *sc, const RbLogRecord *rec)
{
	return rec->has_ts &&
		rec->ts > TimestampTzPlusMilliseconds(sc->now, RB_LOG_FUTURE_SLACK_MS);
}

/* Count a believed record (and see whether it reached the period's start). */
static void
take_record(LogScan *sc, const RbLogRecord *rec, int offset)
{
	if (rec->has_ts)
	{
		if (!sc->oldest_set || rec->ts < sc->oldest_read)
			sc->oldest_read = rec->ts;
		sc->oldest_set = true;
	}
	if (sc->use_cutoff && rec->has_ts && rec->ts < sc->cutoff)
		sc->reached_cutoff = true;
	else
		count_record(sc, rec, offset);
}

/*
 * stderr lines of one chunk.  The server writes each record as one line
 * (its prefix, "SEVERITY:  ", the message) and every further line of it
 * after a tab; but it writes the prefix's %u and %d as they are, so a role
 * or database name with a line break splits the line, and what follows the
 * break is whatever the name says, a forged "PANIC:  " record included.
 * So a line is believed only if
 *	- it reads as a record of log_line_prefix exactly one way (parse_stderr),
 *	  dated no later than now;
 *	- it is not within sc->maxinj bytes (what the name fields of one record
 *	  can hold) of a broken line: one that is neither a record, nor a
 *	  continuation, nor empty (the part of a record before a name's line
 *	  break, or a line that is all name);
 *	- it does not overlap the text of a role or database name that has a
 *	  line break (sc->danger).
 * Lines are classified over the whole buffer (with margins before and after
 * the chunk, so that a broken line in a neighbouring chunk counts); records
 * starting in [from, to) are counted, the others only looked at.  Returns
 * the number of lines in [from, to) that read as records.
 */
#define LN_OTHER	0			/* continuation, empty */
#define LN_RECORD	1
#define LN_REJECTED	2			/* reads as a record more than one way */
#define LN_BROKEN	3			/* starts as the prefix does, no severity:
								 * the head of a record a name split */
#define LN_FUTURE	4			/* a record dated in the future */
#define LN_TAIL		5			/* broken, and does not start as the prefix
								 * does: the rest of a split record, or a
								 * foreign line */

static int
scan_stderr_chunk(LogScan *sc, const char *buf, int len, int lstart, int from, int to)
{
	int			cap = 64;
	int			n = 0;
	int		   *ls = palloc(sizeof(int) * cap);	/* line starts */
	int		   *le = palloc(sizeof(int) * cap);	/* line ends (the '\n') */
	char	   *cls = palloc(sizeof(char) * cap);
	bool	   *taint = palloc(sizeof(bool) * cap);
	RbLogRecord *recs = palloc(sizeof(RbLogRecord) * cap);
	int			p = lstart;
	int			nrec = 0;
	ListCell   *lc;

	while (p < len)
	{
		RbLogRecord rec;
		bool		ok;
		int			next = rb_log_parse(RB_LOG_STDERR, sc->prefix, buf, p, len, &rec, &ok);

		if (next < 0)
			break;				/* the last line, incomplete */
		if (n >= cap)
		{
			cap *= 2;
			ls = repalloc(ls, sizeof(int) * cap);
			le = repalloc(le, sizeof(int) * cap);
			cls = repalloc(cls, sizeof(char) * cap);
			taint = repalloc(taint, sizeof(bool) * cap);
			recs = repalloc(recs, sizeof(RbLogRecord) * cap);
		}
		ls[n] = p;
		le[n] = next - 1;
		taint[n] = false;
		if (ok && in_future(sc, &rec))
			cls[n] = LN_FUTURE;
		else if (ok)
		{
			cls[n] = LN_RECORD;
			recs[n] = rec;
		}
		else if (rec.rejected)
			cls[n] = LN_REJECTED;
		else if (buf[p] == '\t' || buf[p] == '\n' || buf[p] == '\r')
			cls[n] = LN_OTHER;
		else if (rb_prefix_starts_line(sc->prefix, buf, p, next - 1))
			cls[n] = LN_BROKEN;
		else
			cls[n] = LN_TAIL;
		n++;
		p = next;
	}

	/*
	 * Near a broken line: what a name put after the line break is at most
	 * sc->maxinj bytes, so every line it made starts within that many bytes
	 * after the head of the split record, and ends within that many before
	 * the rest of it (when that rest does not read as a record either).
	 */
	if (sc->maxinj > 0)
	{
		int			last_head_end = -1;
		int			next_tail_start = -1;

		for (int i = 0; i < n; i++)
		{
			if (cls[i] == LN_BROKEN)
				last_head_end = le[i];
			else if (last_head_end >= 0 && ls[i] - last_head_end - 1 <= sc->maxinj)
				taint[i] = true;
		}
		for (int i = n - 1; i >= 0; i--)
		{
			if (cls[i] == LN_TAIL)
				next_tail_start = ls[i];
			else if (next_tail_start >= 0 && next_tail_start - le[i] - 1 <= sc->maxinj)
				taint[i] = true;
		}
	}

	/* in the text of a name with a line break */
	foreach(lc, sc->danger)
	{
		const char *name = (const char *) lfirst(lc);
		int			nl = strlen(name);
		int			at = 0;
		int			i = 0;

		while (nl > 0 && at + nl <= len)
		{
			const char *hit = memmem(buf + at, len - at, name, nl);
			int			h;

			if (hit == NULL)
				break;
			h = hit - buf;
			/* the lines [h, h + nl) touches */
			while (i < n && le[i] < h)
				i++;
			for (int k = i; k < n && ls[k] < h + nl; k++)
				taint[k] = true;
			at = h + 1;
		}
	}

	for (int i = 0; i < n; i++)
	{
		if (ls[i] < from || ls[i] >= to)
			continue;
		if (cls[i] == LN_RECORD || cls[i] == LN_REJECTED || cls[i] == LN_FUTURE)
			nrec++;
		if (cls[i] == LN_RECORD && !taint[i])
			take_record(sc, &recs[i], ls[i]);
		else if (cls[i] == LN_FUTURE && !taint[i])
			sc->future++;
		else if (cls[i] != LN_OTHER)
			sc->unparsed++;
	}
	pfree(ls);
	pfree(le);
	pfree(cls);
	pfree(taint);
	pfree(recs);
	return nrec;
}

/*
 * Read one file backwards from its end.  Returns false when reading should
 * stop (the period, the budget or unreadable content was reached).
 */
static bool
scan_file(LogScan *sc, const LogFile *f)
{
	int			fd;
	struct stat st;
	off_t		end;
	int			chunk = RB_LOG_CHUNK;
	char	   *buf = NULL;
	int			bufsize = 0;
	bool		go_on = true;

	fd = OpenTransientFile(f->path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (!f->current && errno == ENOENT)
			return true;		/* rotated away meanwhile */
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open server log file \"%s\": %m", f->shown)));
	}
	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat server log file \"%s\": %m", f->shown)));
	end = st.st_size;

	while (end > 0)
	{
		off_t		start;
		off_t		rstart;
		off_t		rend;
		int			s0;			/* the chunk [start, end) in buf: [s0, e0) */
		int			e0;
		int			len;
		int			got;
		int			p;
		int			first;
		int			nrec = 0;

		CHECK_FOR_INTERRUPTS();
		if (sc->budget <= 0)
		{
			sc->truncated = true;
			go_on = false;
			break;
		}
		start = end - Min((int64) chunk, sc->budget);
		if (start < 0)
			start = 0;
		/* stderr: margins around the chunk, only looked at (scan_stderr_chunk) */
		if (sc->fmt == RB_LOG_STDERR)
		{
			rstart = Max(start - RB_LOG_MARGIN, 0);
			rend = Min(end + RB_LOG_MARGIN, st.st_size);
		}
		else
		{
			rstart = start;
			rend = end;
		}
		len = (int) (rend - rstart);
		if (len > bufsize)
		{
			if (buf)
				pfree(buf);
			buf = palloc(len);
			bufsize = len;
		}
		got = pg_pread(fd, buf, len, rstart);
		if (got < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read server log file \"%s\": %m", f->shown)));
		if (got < len)
			len = got;			/* truncated meanwhile */
		sc->budget -= (int) (end - start);
		sc->bytes_read += (int) (end - start);
		sc->chunk_seq++;
		s0 = (int) (start - rstart);
		e0 = Min((int) (end - rstart), len);

		/*
		 * A file cut shorter meanwhile (copytruncate, a truncating rotation)
		 * can end before the chunk starts: then nothing of it is read here,
		 * and e0 - s0 must not go negative (it is a length below).
		 */
		if (e0 < s0)
			e0 = s0;

		/* first record start: after the first newline unless at the file start */
		if (start == 0)
			first = next_sync(sc->fmt, buf, 0, e0);
		else
		{
			const char *nl = memchr(buf + s0, '\n', e0 - s0);

			first = nl ? next_sync(sc->fmt, buf, (nl - buf) + 1, e0) : -1;
		}
		if (first < 0)
		{
			/* one record longer than the chunk: read more at once */
			if (start > 0 && chunk < RB_LOG_MAX_CHUNK && sc->budget > 0)
			{
				chunk *= 2;
				continue;
			}
			if (start == 0)
				break;
			end = start;		/* give up on this stretch */
			continue;
		}

		if (sc->fmt == RB_LOG_STDERR)
		{
			int			lstart = 0;

			if (rstart > 0)
			{
				const char *nl = memchr(buf, '\n', len);

				lstart = nl ? (nl - buf) + 1 : len;
			}
			nrec = scan_stderr_chunk(sc, buf, len, Min(lstart, first), first, e0);
		}
		p = sc->fmt == RB_LOG_STDERR ? e0 : first;
		while (p < e0)
		{
			RbLogRecord rec;
			bool		ok;
			int			next = rb_log_parse(sc->fmt, sc->prefix, buf, p, e0, &rec, &ok);

			if (next < 0)
			{
				/* incomplete (the file's last line being written, or a bad start) */
				const char *nl = memchr(buf + p, '\n', e0 - p);

				if (nl == NULL)
					break;
				next = next_sync(sc->fmt, buf, (nl - buf) + 1, e0);
				if (next < 0)
					break;
				p = next;
				continue;
			}
			if (ok && in_future(sc, &rec))
			{
				nrec++;
				sc->future++;
			}
			else if (ok)
			{
				nrec++;
				take_record(sc, &rec, p);
			}
			p = next;
		}
		if (nrec == 0 && e0 - s0 > 0)
		{
			/* nothing here matches the format (an older log_line_prefix?) */
			sc->unparsable = true;
			go_on = false;
			break;
		}
		if (sc->reached_cutoff)
		{
			go_on = false;
			break;
		}
		end = start + (first - s0);
		chunk = RB_LOG_CHUNK;
	}
	if (buf)
		pfree(buf);
	CloseTransientFile(fd);
	return go_on;
}

static int
group_cmp(const void *a, const void *b)
{
	const LogGroup *x = a;
	const LogGroup *y = b;

	if (x->sevrank != y->sevrank)
		return x->sevrank - y->sevrank;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->has_state ? x->sqlstate : "", y->has_state ? y->sqlstate : "");
}

/* Has the name a line break (so that it can split a stderr log line)? */
static bool
name_breaks_lines(const char *name)
{
	return strchr(name, '\n') != NULL || strchr(name, '\r') != NULL;
}

/*
 * The names of databases and roles that have a line break: the server
 * writes them as they are into a stderr line's prefix (%d, %u).
 */
static List *
names_with_line_breaks(void)
{
	List	   *names = NIL;
	Oid			cats[2] = {DatabaseRelationId, AuthIdRelationId};

	for (int c = 0; c < 2; c++)
	{
		Relation	rel = table_open(cats[c], AccessShareLock);
		SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		HeapTuple	tup;

		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			const char *name = c == 0 ?
				NameStr(((Form_pg_database) GETSTRUCT(tup))->datname) :
				NameStr(((Form_pg_authid) GETSTRUCT(tup))->rolname);

			if (name_breaks_lines(name))
				names = lappend(names, pstrdup(name));
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	return names;
}

static const char *
format_name(RbLogFormat fmt)
{
	return fmt == RB_LOG_CSV ? "csvlog" : fmt == RB_LOG_JSON ? "jsonlog" : "stderr";
}

/*
 * log_summary(since interval, max_bytes bigint)
 *	 returns setof (severity, sqlstate, count, first_at, last_at, example,
 *	 category, log_format, note)
 */
Datum
rb_log_summary(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Interval   *since;
	int64		max_bytes;
	double		total;
	TimestampTz now = GetCurrentTimestamp();
	LogScan    *sc;
	List	   *files = NIL;
	ListCell   *lc;
	StringInfoData notes;

	/* the server's file-read rule (as pg_read_file() outside the data directory) */
	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read the server log"),
				 errdetail("Reading server log files takes the rights of pg_read_file() on files outside the data directory."),
				 errhint("GRANT pg_read_server_files TO the role, or call as a superuser.")));

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("since must not be NULL"),
				 errhint("Pass the period to look back over, such as '1 hour'.")));
	since = PG_GETARG_INTERVAL_P(0);
	/* in double: infinite and huge intervals just mean "all of it" */
	total = (double) since->month * DAYS_PER_MONTH * USECS_PER_DAY +
		(double) since->day * USECS_PER_DAY + (double) since->time;
	if (total < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since must not be negative"),
				 errdetail("A negative period starts in the future: %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(since)))),
				 errhint("Pass how far back to look, such as '1 hour'.")));
	if (PG_ARGISNULL(1) || PG_GETARG_INT64(1) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_bytes must be a positive number of bytes"),
				 errhint("It bounds how much of the log is read, from its end (default 64 MB).")));
	max_bytes = PG_GETARG_INT64(1);

	InitMaterializedSRF(fcinfo, 0);

	sc = palloc0(sizeof(LogScan));
	sc->budget = max_bytes;
	sc->use_cutoff = true;
	sc->now = now;
	if (total >= (double) (now - MIN_TIMESTAMP))
		sc->cutoff = RB_NO_CUTOFF;
	else
		sc->cutoff = now - (int64) total;

	/* where the log is */
	if (Logging_collector)
	{
		char	   *f_stderr,
				   *f_csv,
				   *f_json;
		const char *current = NULL;

		read_current_logfiles(&f_stderr, &f_csv, &f_json);
		if ((Log_destination & LOG_DESTINATION_JSONLOG) && (f_json || !(Log_destination & (LOG_DESTINATION_CSVLOG | LOG_DESTINATION_STDERR))))
		{
			sc->fmt = RB_LOG_JSON;
			current = f_json;
		}
		else if ((Log_destination & LOG_DESTINATION_CSVLOG) && (f_csv || !(Log_destination & LOG_DESTINATION_STDERR)))
		{
			sc->fmt = RB_LOG_CSV;
			current = f_csv;
		}
		else if (Log_destination & LOG_DESTINATION_STDERR)
		{
			sc->fmt = RB_LOG_STDERR;
			current = f_stderr;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the server log is not written to a file"),
					 errdetail("log_destination is \"%s\".", Log_destination_string),
					 errhint("Add stderr, csvlog or jsonlog to log_destination (and reload) to read the log from SQL.")));
		files = collector_files(sc->fmt, current,
								sc->cutoff == RB_NO_CUTOFF ? (time_t) 0 :
								timestamptz_to_time_t(sc->cutoff) - 1);
		if (files == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("no server log file found"),
					 errdetail("logging_collector is on but neither current_logfiles nor log_directory \"%s\" names a %s file.",
							   Log_directory, format_name(sc->fmt)),
					 errhint("Check log_directory and log_filename; the collector writes current_logfiles in the data directory.")));
	}
	else
	{
		struct stat st;
		char		target[MAXPGPATH];
		ssize_t		tl;
		LogFile    *f;

		if (!(Log_destination & (LOG_DESTINATION_STDERR | LOG_DESTINATION_CSVLOG | LOG_DESTINATION_JSONLOG)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the server log is not written to a file"),
					 errdetail("log_destination is \"%s\" and logging_collector is off.", Log_destination_string),
					 errhint("Set logging_collector = on (restart) and log_destination = 'jsonlog' or 'csvlog' to read the log from SQL.")));
		if (fstat(STDERR_FILENO, &st) != 0 || !S_ISREG(st.st_mode))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the server log is not readable from SQL"),
					 errdetail("logging_collector is off and the server's standard error is not a file (a pipe to a journal, a terminal or /dev/null)."),
					 errhint("Set logging_collector = on (restart), or start the server with its standard error in a file (pg_ctl -l).")));
		f = palloc0(sizeof(LogFile));
		f->path = pstrdup("/proc/self/fd/2");
		tl = readlink(f->path, target, sizeof(target) - 1);
		if (tl > 0)
		{
			target[tl] = '\0';
			f->shown = pstrdup(target);
		}
		else
			f->shown = f->path;
		f->current = true;
		f->mtime = st.st_mtime;
		files = list_make1(f);
		sc->fmt = RB_LOG_STDERR;	/* without the collector every destination writes stderr lines */
	}
	if (sc->fmt == RB_LOG_STDERR)
	{
		sc->prefix = rb_prefix_compile(Log_line_prefix);
		if (!rb_prefix_has_ts(sc->prefix))
			sc->use_cutoff = false;
		sc->maxinj = rb_prefix_name_fields(sc->prefix) * (NAMEDATALEN - 1);
		if (sc->maxinj > 0)
			sc->danger = names_with_line_breaks();
	}

	foreach(lc, files)
	{
		if (!scan_file(sc, (LogFile *) lfirst(lc)))
			break;
	}

	/* notes shared by every row */
	initStringInfo(&notes);
	if (sc->fmt == RB_LOG_STDERR && !rb_prefix_has_state(sc->prefix))
		appendStringInfoString(&notes, "SQLSTATE not in the log: log_line_prefix has no %e (csvlog and jsonlog always carry it); the category comes from the message text");
	if (sc->fmt == RB_LOG_STDERR && !rb_prefix_has_ts(sc->prefix))
		appendStringInfo(&notes, "%slog_line_prefix has no %%m, %%t or %%n: entries cannot be dated, the last " INT64_FORMAT " bytes were counted",
						 notes.len ? "; " : "", sc->bytes_read);
	if (sc->truncated && !sc->reached_cutoff)
		appendStringInfo(&notes, "%sread limit of " INT64_FORMAT " bytes reached: entries before %s were not read",
						 notes.len ? "; " : "", max_bytes,
						 sc->oldest_set ? timestamptz_to_str(sc->oldest_read) : "the last bytes read");
	if (sc->unparsable)
		appendStringInfo(&notes, "%sentries before %s do not match the current log format (an older log_line_prefix?) and were not read",
						 notes.len ? "; " : "",
						 sc->oldest_set ? timestamptz_to_str(sc->oldest_read) : "the end of the log");
	if (sc->groups_full)
		appendStringInfo(&notes, "%smore than %d groups: the rest were not counted", notes.len ? "; " : "", RB_LOG_MAX_GROUPS);
	if (sc->unparsed > 0)
		appendStringInfo(&notes, "%s" INT64_FORMAT " stderr line%s not counted: not read as the server writes them (another format, a line next to a role or database name with a line break, a name that reads as a severity, a time in the future); csvlog and jsonlog cannot be forged by names",
						 notes.len ? "; " : "", sc->unparsed, sc->unparsed == 1 ? "" : "s");
	if (sc->danger != NIL)
		appendStringInfo(&notes, "%s%d role or database name%s contain%s a line break: stderr lines can be forged through log_line_prefix's %%u and %%d; log to csvlog or jsonlog",
						 notes.len ? "; " : "", list_length(sc->danger),
						 list_length(sc->danger) == 1 ? "" : "s", list_length(sc->danger) == 1 ? "s" : "");
	if (sc->future > 0)
		appendStringInfo(&notes, "%s" INT64_FORMAT " entr%s dated in the future not counted",
						 notes.len ? "; " : "", sc->future, sc->future == 1 ? "y" : "ies");

	/*
	 * Nothing counted but the read did not cover the period: say so in one
	 * row (count 0, severity NULL) rather than return a silent empty set.
	 */
	if (sc->ngroups == 0 &&
		((sc->truncated && !sc->reached_cutoff) || sc->unparsable || !sc->use_cutoff ||
		 sc->unparsed > 0 || sc->future > 0 || sc->danger != NIL))
	{
		Datum		values[9];
		bool		nulls[9];

		memset(nulls, true, sizeof(nulls));
		values[2] = Int64GetDatum(0);
		nulls[2] = false;
		values[7] = CStringGetTextDatum(format_name(sc->fmt));
		nulls[7] = false;
		values[8] = CStringGetTextDatum(notes.data);
		nulls[8] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	qsort(sc->groups, sc->ngroups, sizeof(LogGroup), group_cmp);
	for (int i = 0; i < sc->ngroups; i++)
	{
		LogGroup   *g = &sc->groups[i];
		Datum		values[9];
		bool		nulls[9];

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(g->severity);
		if (g->has_state)
			values[1] = CStringGetTextDatum(g->sqlstate);
		else
			nulls[1] = true;
		values[2] = Int64GetDatum(g->count);
		if (g->has_ts)
		{
			values[3] = TimestampTzGetDatum(g->first_at);
			values[4] = TimestampTzGetDatum(g->last_at);
		}
		else
			nulls[3] = nulls[4] = true;
		values[5] = CStringGetTextDatum(g->example ? g->example : "");
		if (g->category)
			values[6] = CStringGetTextDatum(g->category);
		else
			nulls[6] = true;
		values[7] = CStringGetTextDatum(format_name(sc->fmt));
		if (notes.len > 0)
			values[8] = CStringGetTextDatum(notes.data);
		else
			nulls[8] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
