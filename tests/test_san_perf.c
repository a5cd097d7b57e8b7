/* SPDX-License-Identifier: MIT */
/*
 * san-perf, the benchmark tool, runs end to end: the built binary
 * (build/san-perf, next to build/tests/, found through /proc/self/exe) with
 * a tiny configuration, over TCP and over Unix sockets, exits 0 and writes
 * the CSV header and one row per test and size (reg: one per cache
 * setting, on and off); a usage error exits 2, --config exits 0.
 */
#include "harness.h"

#include <limits.h>

static char perf[PATH_MAX];

static void find_perf(void)
{
	ssize_t n = readlink("/proc/self/exe", perf, sizeof(perf) - 32);
	char *slash;

	CHECK(n > 0);
	perf[n] = 0;
	slash = strrchr(perf, '/');
	CHECK(slash);
	strcpy(slash, "/../san-perf");
	if (access(perf, X_OK)) {
		/* Built with everything else (tools/san-perf.c): its absence is a
		 * build problem, not a reason to skip. */
		fprintf(stderr, "%s: %s (build the san-perf target)\n", perf, strerror(errno));
		exit(1);
	}
}

/* Runs san-perf with args (NULL-terminated, argv[0] excluded); its stdout
 * goes into out (NUL-terminated), its stderr stays ours. Returns the exit
 * status, or 128 + the signal. */
static int run_perf(const char *const *args, char *out, size_t cap)
{
	const char *argv[32];
	size_t got = 0;
	int pfd[2], st, n = 0;
	pid_t pid;

	argv[n++] = perf;
	for (; *args && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	CHECK(pipe(pfd) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[1]);
		execv(perf, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t r = read(pfd[0], out + got, cap - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		CHECK(got < cap - 1); /* output larger than expected */
	}
	out[got] = 0;
	close(pfd[0]);
	CHECK(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char header[] = "test,size,iters,bytes,seconds,mb_s,ops_s,lat_avg_us,lat_p50_us,"
			     "lat_p99_us,transport,cache,reuse";

/* One tiny run over transport tr: 8 rows in the expected order. */
static void check_run(const char *tr)
{
	static const char *const want[][3] = {
		{ "rdma_write_bw", "8", "" },   { "rdma_write_bw", "65536", "" },
		{ "send_lat", "8", "" },        { "send_lat", "65536", "" },
		{ "reg", "8", "on" },           { "reg", "8", "off" },
		{ "reg", "65536", "on" },       { "reg", "65536", "off" },
	};
	const char *args[] = { "--sizes", "8,64K", "--iters", "50", "--warmup", "5",
			       "--format", "csv", "--test", "rdma_write_bw,send_lat,reg",
			       "--transport", tr, "--quiet", NULL };
	static char out[1 << 16];
	char *line, *save = NULL;
	int rc = run_perf(args, out, sizeof(out)), nrows = 0;

	if (rc != 0) {
		fprintf(stderr, "san-perf --transport %s exited with %d; stdout:\n%s\n", tr, rc, out);
		exit(1);
	}
	line = strtok_r(out, "\n", &save);
	CHECK(line && !strcmp(line, header));
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *f[16], *fs = NULL, *tok;
		int nf = 0;

		CHECK(nrows < 8);
		/* strtok would merge the empty fields: split by hand. */
		for (tok = line; nf < 16; nf++) {
			f[nf] = tok;
			fs = strchr(tok, ',');
			if (!fs) {
				nf++;
				break;
			}
			*fs = 0;
			tok = fs + 1;
		}
		if (nf != 13 || strcmp(f[0], want[nrows][0]) || strcmp(f[1], want[nrows][1]) ||
		    strcmp(f[2], "50") || strcmp(f[10], tr) || strcmp(f[12], "one") ||
		    (*want[nrows][2] && strcmp(f[11], want[nrows][2])) || !*f[6] ||
		    atof(f[6]) <= 0) {
			fprintf(stderr, "row %d over %s is wrong (%d fields): %s,%s,%s ... %s,%s,%s\n",
				nrows + 1, tr, nf, f[0], nf > 1 ? f[1] : "", nf > 2 ? f[2] : "",
				nf > 10 ? f[10] : "", nf > 11 ? f[11] : "", nf > 12 ? f[12] : "");
			exit(1);
		}
		/* latency and reg rows carry latencies, bandwidth rows MB/s */
		if (!strcmp(f[0], "rdma_write_bw"))
			CHECK(*f[5] && !*f[7]);
		else
			CHECK(!*f[5] && *f[7] && *f[8] && *f[9]);
		nrows++;
	}
	CHECK(nrows == 8);
	printf("san-perf over %s: exit 0, header and %d rows\n", tr, nrows);
}

int main(void)
{
	static char out[1 << 16];
	const char *bad[] = { "--test", "no_such_test", NULL };
	const char *cfg[] = { "--config", "--cache", "off", NULL };

	san_test_start(110);
	find_perf();
	check_run("tcp");
	check_run("unix");
	CHECK_RC(run_perf(bad, out, sizeof(out)), 2);
	CHECK_RC(run_perf(cfg, out, sizeof(out)), 0);
	CHECK(strstr(out, "rcache_enabled") && strstr(out, "cache                = off"));
	printf("usage error exits 2, --config exits 0\n");
	return 0;
}
