/*
 * leak_client: opens new idle connections at a fixed rate and keeps them
 * open, as a connection-leaking application does (bench/85_saturation.sh).
 * Attempts are started on schedule without waiting for earlier ones
 * (non-blocking PQconnectStart / PQconnectPoll), so the rate holds even when
 * one connection takes longer than the interval.
 *
 *   leak_client <conninfo> <per_second> <seconds>
 *
 * Prints: attempts, connected, refused with SQLSTATE 53300 (too many
 * clients / slots reserved), other failures, how many of its connections
 * the server ended meanwhile, and the attempt rate achieved.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
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
				other = 0,
				ended = 0;
	PGconn	  **conns;
	int		   *state;			/* 0 connecting, 1 ok, 2 failed */
	PostgresPollingStatusType *ps;
	struct pollfd *pfd;
	int		   *pidx;

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s conninfo per_second seconds\n", argv[0]);
		return 2;
	}
	conninfo = argv[1];
	rate = atof(argv[2]);
	secs = atof(argv[3]);
	n = (int) (rate * secs);
	conns = calloc(n, sizeof(PGconn *));
	state = calloc(n, sizeof(int));
	ps = calloc(n, sizeof(PostgresPollingStatusType));
	pfd = calloc(n, sizeof(struct pollfd));
	pidx = calloc(n, sizeof(int));
	t0 = now_s();
	t_start_phase = 0;

	while (started < n || pending > 0)
	{
		double		t = now_s();
		int			np = 0,
					timeout_ms;

		/* start every attempt that is due */
		while (started < n && t0 + started / rate <= t)
		{
			PGconn	   *c = PQconnectStart(conninfo);

			conns[started] = c;
			if (c == NULL || PQstatus(c) == CONNECTION_BAD)
			{
				state[started] = 2;
				if (other == 0)
					fprintf(stderr, "failure: %s", c ? PQerrorMessage(c) : "out of memory\n");
				other++;
			}
			else
			{
				ps[started] = PGRES_POLLING_WRITING;
				pending++;
			}
			started++;
			if (started == n)
				t_start_phase = now_s() - t0;
		}
		for (i = 0; i < started; i++)
		{
			if (state[i] != 0)
				continue;
			pfd[np].fd = PQsocket(conns[i]);
			pfd[np].events = ps[i] == PGRES_POLLING_READING ? POLLIN : POLLOUT;
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

			if (pfd[i].revents == 0)
				continue;
			ps[k] = PQconnectPoll(conns[k]);
			if (ps[k] == PGRES_POLLING_OK)
			{
				state[k] = 1;
				ok++;
				pending--;
			}
			else if (ps[k] == PGRES_POLLING_FAILED)
			{
				const char *m = PQerrorMessage(conns[k]);

				state[k] = 2;
				pending--;
				if (strstr(m, "too many clients") ||
					strstr(m, "remaining connection slots are reserved"))
				{
					if (refused == 0)
						fprintf(stderr, "first 53300 at attempt %d: %s", k + 1, m);
					refused++;
				}
				else
				{
					if (other == 0)
						fprintf(stderr, "failure: %s", m);
					other++;
				}
			}
		}
	}
	/* which of ours did the server end? */
	for (i = 0; i < n; i++)
	{
		if (state[i] == 1)
		{
			PGresult   *r = PQexec(conns[i], "SELECT 1");

			if (PQresultStatus(r) != PGRES_TUPLES_OK)
				ended++;
			PQclear(r);
		}
		if (conns[i])
			PQfinish(conns[i]);
	}
	printf("attempts=%d connected=%d refused_53300=%d other_failures=%d ended_by_server=%d "
		   "started_in=%.2fs (%.0f attempts/s achieved)\n",
		   started, ok, refused, other, ended, t_start_phase,
		   t_start_phase > 0 ? started / t_start_phase : 0.0);
	return 0;
}
