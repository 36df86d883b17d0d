/*
 * leak_client: opens new idle connections at a fixed rate and keeps them
 * open, as a connection-leaking application does (bench/85_saturation.sh).
 * Attempts are started on schedule without waiting for earlier ones
 * (non-blocking PQconnectStart / PQconnectPoll), so the rate holds even when
 * one connection takes longer than the interval.
 *
 *   leak_client <conninfo> <per_second> <seconds>
 *
 * Prints on stdout one summary line: attempts, connected, refused with
 * SQLSTATE 53300 (too many clients / slots reserved), failures with another
 * SQLSTATE, failures without any message from the server (the connection
 * closed or reset during set-up), how many of its established connections
 * the server ended meanwhile (by SQLSTATE), the attempt rate achieved and
 * the file-descriptor limit.
 *
 * Prints on stderr one line per failed attempt, so that every failure can
 * be matched with the server log (log_connections shows the client port):
 *   at=HH:MM:SS.mmm failed attempt=N start=S.SSSs after=S.SSSs phase=P port=N sqlstate=X message=...
 * ('at' is UTC wall-clock time, 'start' is relative to the first line,
 * "started at=...", and 'port' is the local port of the attempt's socket
 * when it failed).
 * 'phase' is the libpq connection state in which the attempt failed:
 *   connecting (TCP connect), ssl_startup (SSLRequest sent), made (startup
 *   packet being sent), awaiting_response (startup packet sent, waiting for
 *   authentication), auth_ok (authenticated, waiting for the backend to
 *   finish starting), ...; 'sqlstate' is '-' when the server sent nothing.
 * The messages are libpq's verbose ones (they carry the SQLSTATE).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <libpq-fe.h>

typedef struct Attempt
{
	PGconn	   *conn;
	int			state;			/* 0 connecting, 1 ok, 2 failed */
	PostgresPollingStatusType ps;
	ConnStatusType phase;		/* libpq status before the last poll */
	int			port;			/* local port, 0 unknown */
	double		started;
} Attempt;

/* wall-clock time, as the server log shows it */
static void
print_wall(FILE *f)
{
	struct timespec ts;
	struct tm	tm;
	char		buf[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
	fprintf(f, "%s.%03ld", buf, ts.tv_nsec / 1000000);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *
phase_name(ConnStatusType s)
{
	switch (s)
	{
		case CONNECTION_STARTED:
			return "connecting";
		case CONNECTION_MADE:
			return "made";
		case CONNECTION_AWAITING_RESPONSE:
			return "awaiting_response";
		case CONNECTION_AUTH_OK:
			return "auth_ok";
		case CONNECTION_SETENV:
			return "setenv";
		case CONNECTION_SSL_STARTUP:
			return "ssl_startup";
		case CONNECTION_NEEDED:
			return "needed";
		case CONNECTION_CHECK_WRITABLE:
			return "check_writable";
		case CONNECTION_CONSUME:
			return "consume";
		case CONNECTION_GSS_STARTUP:
			return "gss_startup";
		case CONNECTION_CHECK_TARGET:
			return "check_target";
		case CONNECTION_OK:
			return "ok";
		case CONNECTION_BAD:
			return "bad";
		default:
			return "other";
	}
}

/* the local port of a connection's socket (0 if none yet) */
static int
local_port(PGconn *c)
{
	struct sockaddr_storage ss;
	socklen_t	len = sizeof(ss);
	int			fd = PQsocket(c);

	if (fd < 0 || getsockname(fd, (struct sockaddr *) &ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *) &ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
	return 0;
}

/*
 * The SQLSTATE in a verbose libpq message ("FATAL:  53300: sorry, ..."),
 * or "-" when the server sent no message.
 */
static void
sqlstate_of(const char *m, char *out)
{
	static const char *sev[] = {"FATAL:  ", "ERROR:  ", "PANIC:  "};
	int			i;

	for (i = 0; i < 3; i++)
	{
		const char *p = strstr(m, sev[i]);

		if (p && strlen(p) >= 8 + 6 && p[8 + 5] == ':')
		{
			memcpy(out, p + 8, 5);
			out[5] = '\0';
			return;
		}
	}
	strcpy(out, "-");
}

/* one line: newlines and tabs of a message become " | " and " " */
static void
print_oneline(FILE *f, const char *m)
{
	size_t		len = strlen(m);

	while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == ' '))
		len--;
	for (size_t i = 0; i < len; i++)
	{
		if (m[i] == '\n')
			fputs(" | ", f);
		else if (m[i] == '\t')
			fputc(' ', f);
		else
			fputc(m[i], f);
	}
	fputc('\n', f);
}

int
main(int argc, char **argv)
{
	const char *conninfo;
	double		rate,
				secs,
				t0,
				t_start_phase;
	int			n,
				i,
				started = 0,
				pending = 0,
				ok = 0,
				refused = 0,
				other_sqlstate = 0,
				no_message = 0,
				ended = 0,
				ended_57p01 = 0;
	Attempt    *at;
	struct pollfd *pfd;
	int		   *pidx;
	struct rlimit rl = {0, 0};

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s conninfo per_second seconds\n", argv[0]);
		return 2;
	}
	conninfo = argv[1];
	rate = atof(argv[2]);
	secs = atof(argv[3]);
	n = (int) (rate * secs);

	/*
	 * Every connection is a file descriptor kept open: raise the soft limit
	 * to the hard one, and refuse to run if it still cannot hold them all
	 * (failures would then be ours, not the server's).
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
	{
		if (rl.rlim_cur < rl.rlim_max)
		{
			rl.rlim_cur = rl.rlim_max;
			(void) setrlimit(RLIMIT_NOFILE, &rl);
			(void) getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t) n + 16)
		{
			fprintf(stderr, "open-file limit %lu cannot hold %d connections\n",
					(unsigned long) rl.rlim_cur, n);
			return 2;
		}
	}

	at = calloc(n, sizeof(Attempt));
	pfd = calloc(n, sizeof(struct pollfd));
	pidx = calloc(n, sizeof(int));
	t0 = now_s();
	t_start_phase = 0;
	fputs("started at=", stderr);
	print_wall(stderr);
	fputc('\n', stderr);

	while (started < n || pending > 0)
	{
		double		t = now_s();
		int			np = 0,
					timeout_ms;

		/* start every attempt that is due */
		while (started < n && t0 + started / rate <= t)
		{
			Attempt    *a = &at[started];
			PGconn	   *c = PQconnectStart(conninfo);

			a->conn = c;
			a->started = now_s() - t0;
			if (c)
				PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
			if (c == NULL || PQstatus(c) == CONNECTION_BAD)
			{
				a->state = 2;
				no_message++;
				fputs("at=", stderr);
				print_wall(stderr);
				fprintf(stderr, " failed attempt=%d start=%.3fs after=0.000s phase=start port=0 sqlstate=- message=",
						started + 1, a->started);
				print_oneline(stderr, c ? PQerrorMessage(c) : "out of memory");
			}
			else
			{
				a->ps = PGRES_POLLING_WRITING;
				a->port = local_port(c);
				pending++;
			}
			started++;
			if (started == n)
				t_start_phase = now_s() - t0;
		}
		for (i = 0; i < started; i++)
		{
			if (at[i].state != 0)
				continue;
			pfd[np].fd = PQsocket(at[i].conn);
			pfd[np].events = at[i].ps == PGRES_POLLING_READING ? POLLIN : POLLOUT;
			pfd[np].revents = 0;
			pidx[np++] = i;
		}
		timeout_ms = started < n ? (int) ((t0 + started / rate - now_s()) * 1000) : 100;
		if (timeout_ms < 0)
			timeout_ms = 0;
		if (np > 0)
			poll(pfd, np, timeout_ms);
		else if (timeout_ms > 0)
		{
			struct timespec ts = {0, timeout_ms * 1000000L};

			nanosleep(&ts, NULL);
		}
		for (i = 0; i < np; i++)
		{
			int			k = pidx[i];
			Attempt    *a = &at[k];

			if (pfd[i].revents == 0)
				continue;
			a->phase = PQstatus(a->conn);
			a->port = local_port(a->conn);
			a->ps = PQconnectPoll(a->conn);
			if (a->ps == PGRES_POLLING_OK)
			{
				a->state = 1;
				ok++;
				pending--;
			}
			else if (a->ps == PGRES_POLLING_FAILED)
			{
				const char *m = PQerrorMessage(a->conn);
				char		code[8];

				a->state = 2;
				pending--;
				sqlstate_of(m, code);
				if (strcmp(code, "53300") == 0)
					refused++;
				else if (strcmp(code, "-") == 0)
					no_message++;
				else
					other_sqlstate++;
				fputs("at=", stderr);
				print_wall(stderr);
				fprintf(stderr, " failed attempt=%d start=%.3fs after=%.3fs phase=%s port=%d sqlstate=%s message=",
						k + 1, a->started, now_s() - t0 - a->started,
						phase_name(a->phase), a->port, code);
				print_oneline(stderr, m);
			}
		}
	}
	/* which of ours did the server end? */
	for (i = 0; i < n; i++)
	{
		if (at[i].state == 1)
		{
			PGresult   *r = PQexec(at[i].conn, "SELECT 1");

			if (PQresultStatus(r) != PGRES_TUPLES_OK)
			{
				const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
				char		fromtext[8];

				/* the FATAL arrived before the query: it is in the message */
				if (code == NULL)
				{
					sqlstate_of(PQerrorMessage(at[i].conn), fromtext);
					code = fromtext;
				}
				ended++;
				if (strcmp(code, "57P01") == 0)
					ended_57p01++;
			}
			PQclear(r);
		}
		if (at[i].conn)
			PQfinish(at[i].conn);
	}
	printf("attempts=%d connected=%d refused_53300=%d other_failures=%d "
		   "(closed_without_message=%d with_other_sqlstate=%d) "
		   "ended_by_server=%d (57P01: %d) started_in=%.2fs (%.0f attempts/s achieved) fd_limit=%lu\n",
		   started, ok, refused, no_message + other_sqlstate, no_message,
		   other_sqlstate, ended, ended_57p01, t_start_phase,
		   t_start_phase > 0 ? started / t_start_phase : 0.0,
		   (unsigned long) rl.rlim_cur);
	return 0;
}
