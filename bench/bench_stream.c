/* SPDX-License-Identifier: MIT */
/*
 * bench_stream: libsan stream sockets against plain TCP and Unix sockets,
 * in one run, over loopback, two processes (the server is forked).
 *
 *   bench_stream [--sizes 64K,1M] [--bytes 512M] [--lat-iters 20000]
 *                [--reps N] [--systems LIST] [--quick] [--format table|csv|json]
 *
 * Systems:
 *   stream-tcp    san_stream over the TCP transport (SAN_STREAM_LOCAL off):
 *                 RDMA at or above the threshold, copies below
 *   stream-local  san_stream to 127.0.0.1 as an application would open it:
 *                 it moves itself to a Unix socket and its bytes to shared
 *                 memory rings (docs/stream.md §7)
 *   stream-unix   the same move without the rings (SAN_STREAM_SHM off): the
 *                 SAN paths over a Unix socket
 *   stream-copy   stream-tcp with the threshold at 0 (every byte copied
 *                 through the message regions), for reference
 *   tcp, unix     plain sockets: blocking send/recv
 *   tcp-spin      plain TCP, the receiver busy-polls (MSG_DONTWAIT), only
 *                 for the round trips (san_stream's receive spins 50 us
 *                 before it sleeps; a sleeping recv pays a wake-up)
 * Tests: streaming bandwidth (one direction, blocking sends of SIZE bytes,
 * the receiver reads SIZE at a time, timed until it has every byte) and
 * 64-byte round trips (median and mean of the RTT, reported one-way).
 * The same byte budget for every system. Ratios and the issue's targets
 * are printed after the table.
 *
 * This host's throughput drifts by +-30 % from one second to the next
 * (TCP alone: 2.2 to 3.4 GB/s at 64 KiB in consecutive runs), so one run
 * per system proves little. --reps N measures every (size, system) N times,
 * interleaved, the systems in a rotated order each repetition; the table
 * gives medians, and each ratio is the median of the N ratios taken within
 * one repetition (seconds apart), with their range. CSV and JSON give every
 * repetition, a row each.
 */
#include <san.h>
#include <san/stream.h>

#include "bench.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXSZ 8
#define SANMAX(a, b) ((a) > (b) ? (a) : (b))

enum sys { S_STREAM_TCP, S_STREAM_LOCAL, S_STREAM_UNIX, S_STREAM_COPY, S_TCP, S_UNIX, S_TCP_SPIN, NSYS };
static const char *sys_name[NSYS] = { "stream-tcp", "stream-local", "stream-unix", "stream-copy",
				      "tcp", "unix", "tcp-spin" };

static size_t sizes[MAXSZ] = { 64 << 10, 1 << 20 };
static int nsizes = 2;
static uint64_t budget = 512ull << 20;
static unsigned lat_iters = 20000;
static int reps = 1;
static bool want[NSYS] = { true, true, true, false, true, true, true };
static const char *format = "table";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, long rc)
{
	fprintf(stderr, "bench_stream: %s: %ld (%s)\n", what, rc, rc < 0 ? san_strerror((int)rc) : "");
	exit(1);
}

static void *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", -errno);
	memset(p, 0x5a, n);
	return p;
}

/* ---- one endpoint, whatever the system ---- */

struct ep {
	enum sys sys;
	san_provider *p;
	san_stream *s;
	int fd;
};

static ssize_t ep_send(struct ep *e, const void *b, size_t n)
{
	size_t off = 0;

	if (e->s)
		return san_stream_send(e->s, b, n, 0);
	while (off < n) {
		ssize_t r = send(e->fd, (const char *)b + off, n - off, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EPIPE;
		off += (size_t)r;
	}
	return (ssize_t)n;
}

static ssize_t ep_recv(struct ep *e, void *b, size_t n)
{
	if (e->s)
		return san_stream_recv(e->s, b, n, 0);
	for (;;) {
		ssize_t r = recv(e->fd, b, n, e->sys == S_TCP_SPIN ? MSG_DONTWAIT : 0);

		if (r >= 0)
			return r;
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
}

static void ep_recv_all(struct ep *e, void *b, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = ep_recv(e, (char *)b + got, n - got);

		if (r <= 0)
			die("recv", r);
		got += (size_t)r;
	}
}

static struct san_stream_config stream_cfg(enum sys s)
{
	struct san_stream_config c;

	san_stream_config_init(&c);
	c.local = s == S_STREAM_LOCAL || s == S_STREAM_UNIX;
	c.shm = s == S_STREAM_LOCAL;
	if (s == S_STREAM_COPY)
		c.rdma_threshold = 0;
	return c;
}

static bool is_stream(enum sys s)
{
	return s <= S_STREAM_COPY;
}

/* Server side: listens, reports the address on `out`, accepts. */
static void ep_serve(struct ep *e, enum sys s, int out)
{
	char addr[256];
	int one = 1;

	memset(e, 0, sizeof(*e));
	e->sys = s;
	e->fd = -1;
	if (is_stream(s)) {
		struct san_stream_config c = stream_cfg(s);
		san_stream_listener *l;
		int rc = san_provider_open(NULL, &e->p);

		if (rc)
			die("san_provider_open", rc);
		rc = san_stream_listen(e->p, "tcp:127.0.0.1:0", &c, &l);
		if (rc)
			die("san_stream_listen", rc);
		san_stream_listener_addr(l, addr, sizeof(addr));
		if (write(out, addr, strlen(addr) + 1) < 0)
			die("write", -errno);
		rc = san_stream_accept(l, 30000, &e->s);
		if (rc)
			die("san_stream_accept", rc);
		san_stream_listener_close(l);
		return;
	}
	{
		int lfd;

		if (s == S_UNIX) {
			struct sockaddr_un un = { .sun_family = AF_UNIX };
			int n = snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "bench-stream-%d",
					 (int)getpid());

			lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (lfd < 0 || bind(lfd, (struct sockaddr *)&un,
					    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)))
				die("unix bind", -errno);
			snprintf(addr, sizeof(addr), "unix:@%s", un.sun_path + 1);
		} else {
			struct sockaddr_in in = { .sin_family = AF_INET };
			socklen_t sl = sizeof(in);

			in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (lfd < 0 || bind(lfd, (struct sockaddr *)&in, sizeof(in)) ||
			    getsockname(lfd, (struct sockaddr *)&in, &sl))
				die("tcp bind", -errno);
			snprintf(addr, sizeof(addr), "tcp:%d", ntohs(in.sin_port));
		}
		if (listen(lfd, 4))
			die("listen", -errno);
		if (write(out, addr, strlen(addr) + 1) < 0)
			die("write", -errno);
		e->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (e->fd < 0)
			die("accept", -errno);
		close(lfd);
		if (s != S_UNIX)
			setsockopt(e->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
}

static void ep_connect(struct ep *e, enum sys s, const char *addr)
{
	int one = 1;

	memset(e, 0, sizeof(*e));
	e->sys = s;
	e->fd = -1;
	if (is_stream(s)) {
		struct san_stream_config c = stream_cfg(s);
		int rc = san_provider_open(NULL, &e->p);

		if (rc)
			die("san_provider_open", rc);
		rc = san_stream_connect(e->p, addr, &c, &e->s);
		if (rc)
			die("san_stream_connect", rc);
		return;
	}
	if (!strncmp(addr, "unix:@", 6)) {
		struct sockaddr_un un = { .sun_family = AF_UNIX };
		size_t n = strlen(addr + 6);

		memcpy(un.sun_path + 1, addr + 6, n);
		e->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (e->fd < 0 || connect(e->fd, (struct sockaddr *)&un,
					 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)))
			die("unix connect", -errno);
	} else {
		struct sockaddr_in in = { .sin_family = AF_INET };

		in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		in.sin_port = htons((uint16_t)atoi(addr + 4));
		e->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (e->fd < 0 || connect(e->fd, (struct sockaddr *)&in, sizeof(in)))
			die("tcp connect", -errno);
		setsockopt(e->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
}

static int ep_transport(struct ep *e)
{
	struct san_stream_stats st;

	if (!e->s || san_stream_get_stats(e->s, &st))
		return 0;
	return st.transport;
}

static void ep_close(struct ep *e)
{
	if (e->s) {
		san_stream_close(e->s);
		san_provider_close(e->p);
	} else if (e->fd >= 0) {
		close(e->fd);
	}
}

/* ---- the tests ---- */

struct result {
	double mb_s, p50_us, avg_us;
	int transport;
	bool ok;
};

/* Server of the bandwidth test: receive n bytes (warm-up, then the
 * measured part) in pieces of size, acknowledge each part with one byte. */
static void bw_server(struct ep *e, size_t size, uint64_t warm, uint64_t n)
{
	uint8_t *b = map(size);
	uint64_t parts[2] = { warm, n };

	for (int k = 0; k < 2; k++) {
		uint64_t got = 0;

		while (got < parts[k]) {
			ssize_t r = ep_recv(e, b, size);

			if (r <= 0)
				die("bw recv", r);
			got += (uint64_t)r;
		}
		if (ep_send(e, "k", 1) != 1)
			die("bw ack", -EPIPE);
	}
	munmap(b, size);
}

static struct result bw_client(struct ep *e, size_t size, uint64_t warm, uint64_t n)
{
	uint8_t *b = map(size);
	uint64_t parts[2] = { warm, n };
	struct result r = { 0 };
	double t0 = 0;
	char ack;

	for (int k = 0; k < 2; k++) {
		if (k)
			t0 = now_s();
		for (uint64_t sent = 0; sent < parts[k]; sent += size) {
			ssize_t x = ep_send(e, b, size);

			if (x != (ssize_t)size)
				die("bw send", x);
		}
		ep_recv_all(e, &ack, 1);
	}
	r.mb_s = (double)n / (now_s() - t0) / 1e6;
	r.ok = true;
	munmap(b, size);
	return r;
}

static void lat_server(struct ep *e, unsigned iters)
{
	char b[64];

	for (unsigned i = 0; i < iters; i++) {
		ep_recv_all(e, b, sizeof(b));
		if (ep_send(e, b, sizeof(b)) != (ssize_t)sizeof(b))
			die("lat send", -EPIPE);
	}
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct result lat_client(struct ep *e, unsigned iters, unsigned warm)
{
	double *rtt = calloc(iters, sizeof(double)), sum = 0;
	struct result r = { 0 };
	char b[64] = { 1 };

	for (unsigned i = 0; i < warm + iters; i++) {
		double t = now_s();

		if (ep_send(e, b, sizeof(b)) != (ssize_t)sizeof(b))
			die("lat send", -EPIPE);
		ep_recv_all(e, b, sizeof(b));
		if (i >= warm) {
			rtt[i - warm] = (now_s() - t) * 1e6;
			sum += rtt[i - warm];
		}
	}
	qsort(rtt, iters, sizeof(double), cmp_d);
	r.p50_us = rtt[iters / 2] / 2;
	r.avg_us = sum / iters / 2;
	r.ok = true;
	free(rtt);
	return r;
}

/* Runs one measurement: forks the server, connects, runs, reaps. */
static struct result run(enum sys s, bool bw, size_t size)
{
	int pfd[2];
	pid_t pid;
	struct ep e;
	struct result r;
	char addr[256];
	uint64_t n = bw ? SANMAX(budget / size, 10) * size : 0, warm = n / 10 / size * size;
	unsigned warm_lat = lat_iters / 10 + 10;
	ssize_t got;
	int st;

	if (pipe(pfd))
		die("pipe", -errno);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork", -errno);
	if (!pid) {
		close(pfd[0]);
		ep_serve(&e, s, pfd[1]);
		close(pfd[1]);
		if (bw)
			bw_server(&e, size, warm, n);
		else
			lat_server(&e, warm_lat + lat_iters);
		ep_close(&e);
		_exit(0);
	}
	close(pfd[1]);
	got = read(pfd[0], addr, sizeof(addr));
	close(pfd[0]);
	if (got <= 0)
		die("server address", -EPIPE);
	ep_connect(&e, s, addr);
	r = bw ? bw_client(&e, size, warm, n) : lat_client(&e, lat_iters, warm_lat);
	r.transport = ep_transport(&e);
	ep_close(&e);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		r.ok = false;
	return r;
}

/* ---- options and output ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_stream [--sizes 64K,1M] [--bytes 512M] [--lat-iters N] [--reps N] [--quick]\n"
		   "                    [--systems stream-tcp,stream-local,stream-unix,stream-copy,tcp,unix,tcp-spin]\n"
		   "                    [--format table|csv|json]\n");
}

/* ---- output ---- */

#define MAXREPS 64

static struct result (*bwr)[NSYS][MAXSZ]; /* [rep][system][size] */
static struct result (*lat)[NSYS];        /* [rep][system] */

static void print_csv(void)
{
	printf("system,test,size,mb_s,lat_p50_us,lat_avg_us,transport,rep\n");
	for (int r = 0; r < reps; r++)
		for (int k = 0; k < NSYS; k++) {
			for (int z = 0; z < nsizes; z++)
				if (bwr[r][k][z].ok)
					printf("%s,stream_bw,%zu,%.1f,,,%d,%d\n", sys_name[k], sizes[z],
					       bwr[r][k][z].mb_s, bwr[r][k][z].transport, r + 1);
			if (lat[r][k].ok)
				printf("%s,rtt_lat,64,,%.2f,%.2f,%d,%d\n", sys_name[k], lat[r][k].p50_us,
				       lat[r][k].avg_us, lat[r][k].transport, r + 1);
		}
}

static void print_json(void)
{
	bool first = true;

	printf("[");
	for (int r = 0; r < reps; r++)
		for (int k = 0; k < NSYS; k++) {
			for (int z = 0; z < nsizes; z++)
				if (bwr[r][k][z].ok) {
					printf("%s\n {\"system\": \"%s\", \"test\": \"stream_bw\", \"size\": %zu, "
					       "\"mb_s\": %.1f, \"rep\": %d}", first ? "" : ",", sys_name[k], sizes[z],
					       bwr[r][k][z].mb_s, r + 1);
					first = false;
				}
			if (lat[r][k].ok) {
				printf("%s\n {\"system\": \"%s\", \"test\": \"rtt_lat\", \"size\": 64, "
				       "\"lat_p50_us\": %.2f, \"lat_avg_us\": %.2f, \"rep\": %d}", first ? "" : ",",
				       sys_name[k], lat[r][k].p50_us, lat[r][k].avg_us, r + 1);
				first = false;
			}
		}
	printf("\n]\n");
}

/* Median of the n values v[] (sorted in place); NAN when n == 0. */
static double median(double *v, int n)
{
	if (!n)
		return NAN;
	qsort(v, (size_t)n, sizeof(double), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Bandwidth of system k at size z (lat: z < 0, the 64 B median), in rep r;
 * NAN if that run failed or was not made. */
static double value(int r, int k, int z)
{
	const struct result *x = z < 0 ? &lat[r][k] : &bwr[r][k][z];

	return !x->ok ? NAN : z < 0 ? x->p50_us : x->mb_s;
}

static double median_of(int k, int z)
{
	double v[MAXREPS];
	int n = 0;

	for (int r = 0; r < reps; r++)
		if (!isnan(value(r, k, z)))
			v[n++] = value(r, k, z);
	return median(v, n);
}

/* Prints the median and range of the per-repetition ratios a/b. */
static void print_ratio(const char *what, int a, int b, int z, const char *target)
{
	double v[MAXREPS], lo, hi;
	int n = 0;

	for (int r = 0; r < reps; r++) {
		double x = value(r, a, z), y = value(r, b, z);

		if (!isnan(x) && !isnan(y) && y > 0)
			v[n++] = x / y;
	}
	if (!n)
		return;
	lo = hi = v[0];
	for (int i = 1; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	printf("  %-40s %5.2fx", what, median(v, n));
	if (n > 1)
		printf("  (%d reps: %.2f-%.2f)", n, lo, hi);
	printf("  %s\n", target);
}

static void print_table(void)
{
	char hs[32], what[96];

	printf("Streaming bandwidth, MB/s (10^6 B/s), %llu MiB per size and run, median of %d run%s\n%-14s",
	       (unsigned long long)(budget >> 20), reps, reps > 1 ? "s" : "", "");
	for (int z = 0; z < nsizes; z++)
		printf("%12s", bench_size_str(sizes[z], hs, sizeof(hs)));
	printf("\n");
	for (int k = 0; k < NSYS; k++) {
		if (!want[k] || k == S_TCP_SPIN)
			continue;
		printf("%-14s", sys_name[k]);
		for (int z = 0; z < nsizes; z++) {
			double m = median_of(k, z);

			if (isnan(m))
				printf("%12s", "n/a");
			else
				printf("%12.0f", m);
		}
		printf("\n");
	}
	printf("\n64-byte round trips, one-way us (half the RTT), median of %u round trips, median of %d run%s\n",
	       lat_iters, reps, reps > 1 ? "s" : "");
	for (int k = 0; k < NSYS; k++)
		if (want[k]) {
			double m = median_of(k, -1);

			if (isnan(m))
				printf("%-14s %8s\n", sys_name[k], "(failed)");
			else
				printf("%-14s %8.2f\n", sys_name[k], m);
		}
	printf("\nRatios and targets (issue 6), median of the ratios within each run\n");
	for (int z = 0; z < nsizes; z++) {
		const char *zs = bench_size_str(sizes[z], hs, sizeof(hs));

		snprintf(what, sizeof(what), "%-8s stream-tcp   / tcp", zs);
		print_ratio(what, S_STREAM_TCP, S_TCP, z, "(target >= 1.0 for large transfers)");
		snprintf(what, sizeof(what), "%-8s stream-local / tcp", zs);
		print_ratio(what, S_STREAM_LOCAL, S_TCP, z, "(target >= 1.5)");
		snprintf(what, sizeof(what), "%-8s stream-local / unix", zs);
		print_ratio(what, S_STREAM_LOCAL, S_UNIX, z, "");
		snprintf(what, sizeof(what), "%-8s stream-unix  / tcp", zs);
		print_ratio(what, S_STREAM_UNIX, S_TCP, z, "(the move without the rings)");
	}
	for (int k = S_STREAM_TCP; k <= S_STREAM_COPY; k++) {
		snprintf(what, sizeof(what), "64 B RTT %-12s / tcp (blocking)", sys_name[k]);
		print_ratio(what, k, S_TCP, -1, "(target <= 1.2)");
		snprintf(what, sizeof(what), "64 B RTT %-12s / tcp-spin", sys_name[k]);
		print_ratio(what, k, S_TCP_SPIN, -1, "");
	}
}

int main(int argc, char **argv)
{
	char hs[32];

	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--quick")) {
			budget = 64ull << 20;
			lat_iters = 3000;
		} else if (!strcmp(a, "--sizes") && v) {
			char *dup = strdup(v), *tok, *save;

			nsizes = 0;
			for (tok = strtok_r(dup, ",", &save); tok && nsizes < MAXSZ; tok = strtok_r(NULL, ",", &save)) {
				uint64_t x;

				if (bench_parse_size(tok, SIZE_MAX, &x))
					die("bad size", -EINVAL);
				sizes[nsizes++] = x;
			}
			free(dup);
			i++;
		} else if (!strcmp(a, "--bytes") && v) {
			if (bench_parse_size(v, SIZE_MAX, &budget))
				die("bad --bytes", -EINVAL);
			i++;
		} else if (!strcmp(a, "--lat-iters") && v) {
			lat_iters = (unsigned)atoi(v);
			if (lat_iters < 10)
				die("bad --lat-iters", -EINVAL);
			i++;
		} else if (!strcmp(a, "--reps") && v) {
			reps = atoi(v);
			if (reps < 1 || reps > MAXREPS)
				die("bad --reps (1..64)", -EINVAL);
			i++;
		} else if (!strcmp(a, "--systems") && v) {
			char *dup = strdup(v), *tok, *save;

			memset(want, 0, sizeof(want));
			for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				int k;

				for (k = 0; k < NSYS && strcmp(tok, sys_name[k]); k++)
					;
				if (k == NSYS) {
					fprintf(stderr, "bench_stream: unknown system %s\n", tok);
					return 2;
				}
				want[k] = true;
			}
			free(dup);
			i++;
		} else if (!strcmp(a, "--format") && v) {
			format = v;
			i++;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	bwr = calloc((size_t)reps, sizeof(*bwr));
	lat = calloc((size_t)reps, sizeof(*lat));
	if (!bwr || !lat)
		die("calloc", -ENOMEM);
	/* Repetition by repetition, size by size, every system, in an order
	 * rotated each repetition: drifting load falls on all alike. */
	for (int r = 0; r < reps; r++) {
		for (int z = 0; z < nsizes; z++)
			for (int j = 0; j < NSYS; j++) {
				int k = (j + r) % NSYS;

				if (!want[k] || k == S_TCP_SPIN)
					continue;
				fprintf(stderr, "rep %d: bw %s %s\n", r + 1, sys_name[k],
					bench_size_str(sizes[z], hs, sizeof(hs)));
				bwr[r][k][z] = run((enum sys)k, true, sizes[z]);
			}
		for (int j = 0; j < NSYS; j++) {
			int k = (j + r) % NSYS;

			if (!want[k])
				continue;
			fprintf(stderr, "rep %d: lat %s\n", r + 1, sys_name[k]);
			lat[r][k] = run((enum sys)k, false, 64);
		}
	}
	if (!strcmp(format, "csv"))
		print_csv();
	else if (!strcmp(format, "json"))
		print_json();
	else
		print_table();
	free(bwr);
	free(lat);
	return 0;
}
