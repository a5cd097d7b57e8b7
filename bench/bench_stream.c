/* SPDX-License-Identifier: MIT */
/*
 * bench_stream: libsan stream sockets against plain TCP and Unix sockets,
 * in one run, over loopback, two processes (the server is forked).
 *
 *   bench_stream [--sizes 64K,1M] [--bytes 512M] [--lat-iters 20000]
 *                [--systems LIST] [--quick] [--format table|csv|json]
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
 */
#include <san.h>
#include <san/stream.h>

#include "bench.h"

#include <errno.h>
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
	fprintf(f, "usage: bench_stream [--sizes 64K,1M] [--bytes 512M] [--lat-iters N] [--quick]\n"
		   "                    [--systems stream-tcp,stream-local,stream-unix,stream-copy,tcp,unix,tcp-spin]\n"
		   "                    [--format table|csv|json]\n");
}

int main(int argc, char **argv)
{
	struct result bwr[NSYS][MAXSZ], lat[NSYS];
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
	memset(bwr, 0, sizeof(bwr));
	memset(lat, 0, sizeof(lat));
	/* Size by size, every system, so drifting load falls on all alike. */
	for (int z = 0; z < nsizes; z++)
		for (int k = 0; k < NSYS; k++)
			if (want[k] && k != S_TCP_SPIN) {
				fprintf(stderr, "bw %s %s\n", sys_name[k],
					bench_size_str(sizes[z], hs, sizeof(hs)));
				bwr[k][z] = run((enum sys)k, true, sizes[z]);
			}
	for (int k = 0; k < NSYS; k++)
		if (want[k]) {
			fprintf(stderr, "lat %s\n", sys_name[k]);
			lat[k] = run((enum sys)k, false, 64);
		}

	if (!strcmp(format, "csv")) {
		printf("system,test,size,mb_s,lat_p50_us,lat_avg_us,transport\n");
		for (int k = 0; k < NSYS; k++) {
			for (int z = 0; z < nsizes; z++)
				if (bwr[k][z].ok)
					printf("%s,stream_bw,%zu,%.1f,,,%d\n", sys_name[k], sizes[z], bwr[k][z].mb_s,
					       bwr[k][z].transport);
			if (lat[k].ok)
				printf("%s,rtt_lat,64,,%.2f,%.2f,%d\n", sys_name[k], lat[k].p50_us, lat[k].avg_us,
				       lat[k].transport);
		}
		return 0;
	}
	if (!strcmp(format, "json")) {
		bool first = true;

		printf("[");
		for (int k = 0; k < NSYS; k++) {
			for (int z = 0; z < nsizes; z++)
				if (bwr[k][z].ok) {
					printf("%s\n {\"system\": \"%s\", \"test\": \"stream_bw\", \"size\": %zu, "
					       "\"mb_s\": %.1f}", first ? "" : ",", sys_name[k], sizes[z], bwr[k][z].mb_s);
					first = false;
				}
			if (lat[k].ok) {
				printf("%s\n {\"system\": \"%s\", \"test\": \"rtt_lat\", \"size\": 64, "
				       "\"lat_p50_us\": %.2f, \"lat_avg_us\": %.2f}", first ? "" : ",", sys_name[k],
				       lat[k].p50_us, lat[k].avg_us);
				first = false;
			}
		}
		printf("\n]\n");
		return 0;
	}
	printf("Streaming bandwidth, MB/s (10^6 B/s), %llu MiB per size\n%-14s",
	       (unsigned long long)(budget >> 20), "");
	for (int z = 0; z < nsizes; z++)
		printf("%12s", bench_size_str(sizes[z], hs, sizeof(hs)));
	printf("\n");
	for (int k = 0; k < NSYS; k++) {
		if (!want[k] || k == S_TCP_SPIN)
			continue;
		printf("%-14s", sys_name[k]);
		for (int z = 0; z < nsizes; z++) {
			if (bwr[k][z].ok)
				printf("%12.0f", bwr[k][z].mb_s);
			else
				printf("%12s", "n/a");
		}
		printf("\n");
	}
	printf("\n64-byte round trips, one-way us (half the RTT): median, mean; %u round trips\n", lat_iters);
	for (int k = 0; k < NSYS; k++)
		if (want[k])
			printf("%-14s %8.2f %8.2f%s\n", sys_name[k], lat[k].p50_us, lat[k].avg_us,
			       lat[k].ok ? "" : "  (failed)");
	printf("\nRatios and targets (issue 6)\n");
	for (int z = 0; z < nsizes; z++) {
		const char *zs = bench_size_str(sizes[z], hs, sizeof(hs));

		if (bwr[S_TCP][z].ok && bwr[S_STREAM_TCP][z].ok)
			printf("  %-8s stream-tcp   / tcp  %5.2fx  (target >= 1.0 for large transfers)\n",
			       zs, bwr[S_STREAM_TCP][z].mb_s / bwr[S_TCP][z].mb_s);
		if (bwr[S_TCP][z].ok && bwr[S_STREAM_LOCAL][z].ok)
			printf("  %-8s stream-local / tcp  %5.2fx  (target >= 1.5)\n", zs,
			       bwr[S_STREAM_LOCAL][z].mb_s / bwr[S_TCP][z].mb_s);
		if (bwr[S_UNIX][z].ok && bwr[S_STREAM_LOCAL][z].ok)
			printf("  %-8s stream-local / unix %5.2fx\n", zs,
			       bwr[S_STREAM_LOCAL][z].mb_s / bwr[S_UNIX][z].mb_s);
		if (bwr[S_TCP][z].ok && bwr[S_STREAM_UNIX][z].ok)
			printf("  %-8s stream-unix  / tcp  %5.2fx  (the move without the rings)\n",
			       zs, bwr[S_STREAM_UNIX][z].mb_s / bwr[S_TCP][z].mb_s);
	}
	for (int k = S_STREAM_TCP; k <= S_STREAM_COPY; k++) {
		if (!lat[k].ok)
			continue;
		if (lat[S_TCP].ok)
			printf("  64 B RTT %-12s / tcp (blocking)  %5.2fx  (target <= 1.2)\n", sys_name[k],
			       lat[k].p50_us / lat[S_TCP].p50_us);
		if (lat[S_TCP_SPIN].ok)
			printf("  64 B RTT %-12s / tcp-spin        %5.2fx\n", sys_name[k],
			       lat[k].p50_us / lat[S_TCP_SPIN].p50_us);
	}
	return 0;
}
