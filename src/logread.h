/*-------------------------------------------------------------------------
 *
 * logread.h
 *		The server-log reader behind runbook.log_summary(): which files
 *		hold the log, and the parsers of one record in each destination
 *		format (stderr with log_line_prefix, csvlog, jsonlog).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_RUNBOOK_LOGREAD_H
#define PG_RUNBOOK_LOGREAD_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef enum RbLogFormat
{
	RB_LOG_STDERR,
	RB_LOG_CSV,
	RB_LOG_JSON
} RbLogFormat;

/* One log record, as pointers into the buffer it was parsed from. */
typedef struct RbLogRecord
{
	bool		has_ts;
	TimestampTz ts;
	const char *sev;			/* severity word, not terminated */
	int			sevlen;
	bool		has_state;
	char		sqlstate[6];
	const char *msg;			/* message text, raw (format-escaped) */
	int			msglen;
	bool		msg_escaped;	/* JSON (\-escapes) or CSV ("" doubled) */
	bool		rejected;		/* stderr: reads as a record in more than one
								 * way (*ok is false): not believed */
} RbLogRecord;

/* A compiled log_line_prefix. */
typedef struct RbPrefix RbPrefix;

extern RbPrefix *rb_prefix_compile(const char *prefix);
extern bool rb_prefix_has_ts(const RbPrefix *p);
extern bool rb_prefix_has_state(const RbPrefix *p);
/* fields (%u, %d) whose value a role chooses, line breaks included */
extern int	rb_prefix_name_fields(const RbPrefix *p);
/* does the line at buf[pos] (up to end) start as the prefix does? */
extern bool rb_prefix_starts_line(const RbPrefix *p, const char *buf, int pos, int end);

/*
 * Parse the record starting at buf[pos] (end: one past the last byte
 * available).  Returns the offset just past the record (past its newline),
 * or -1 when no complete record starts at pos; *ok tells whether the
 * record was recognised (false: skip it, a continuation or foreign line).
 */
extern int	rb_log_parse(RbLogFormat fmt, const RbPrefix *prefix,
						 const char *buf, int pos, int end,
						 RbLogRecord *rec, bool *ok);

#endif							/* PG_RUNBOOK_LOGREAD_H */
