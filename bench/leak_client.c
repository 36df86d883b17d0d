/*
 * leak_client: opens new idle connections at a fixed rate and keeps them
 * open, as a connection-leaking application does (bench/85_saturation.sh).
 *
 *   leak_client <conninfo> <per_second> <seconds>
 *
 * Prints: attempts, connected, refused with SQLSTATE 53300 (too many
 * clients / slots reserved), other failures, and how many of its
 * connections the server ended meanwhile.
 */
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
				t_connect;
	int			n,
				i,
				attempts = 0,
				ok = 0,
				refused = 0,
				other = 0,
				ended = 0;
	PGconn	  **conns;

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
	t0 = now_s();
	for (i = 0; i < n; i++)
	{
		double		due = t0 + i / rate;
		double		t = now_s();
		PGconn	   *c;

		if (due > t)
		{
			struct timespec ts;

			ts.tv_sec = (time_t) (due - t);
			ts.tv_nsec = (long) (((due - t) - ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
		}
		attempts++;
		c = PQconnectdb(conninfo);
		if (PQstatus(c) == CONNECTION_OK)
		{
			conns[ok++] = c;
			continue;
		}
		if (strstr(PQerrorMessage(c), "too many clients") ||
			strstr(PQerrorMessage(c), "remaining connection slots are reserved"))
		{
			if (refused == 0)
				fprintf(stderr, "first 53300 at attempt %d: %s", attempts, PQerrorMessage(c));
			refused++;
		}
		else
		{
			if (other == 0)
				fprintf(stderr, "failure: %s", PQerrorMessage(c));
			other++;
		}
		PQfinish(c);
	}
	t_connect = now_s() - t0;
	/* which of ours did the server end? */
	for (i = 0; i < ok; i++)
	{
		PGresult   *r = PQexec(conns[i], "SELECT 1");

		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			ended++;
		PQclear(r);
		PQfinish(conns[i]);
	}
	printf("attempts=%d connected=%d refused_53300=%d other_failures=%d ended_by_server=%d connect_phase=%.2fs (%.0f attempts/s achieved)\n",
		   attempts, ok, refused, other, ended, t_connect, attempts / t_connect);
	return 0;
}
