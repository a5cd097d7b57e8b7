/* SPDX-License-Identifier: MIT */
/*
 * peer.h: what the peer programs of bench/compare share. Each peer is one
 * program that is a server without a host argument and a client with one,
 * as ucx_perftest is:
 *
 *   server:  PROG -p PORT
 *   client:  PROG 127.0.0.1 -p PORT --test T --size S --iters N [--warmup W]
 *                 [--depth D] [--block]
 *
 * The server accepts one control connection on 127.0.0.1:PORT, reads the
 * client's struct peer_hdr (so only the client is told what to run), serves
 * that one run and exits. The client prints one CSV result with the columns
 * of san-perf that apply (PEER_CSV_HEADER); latencies are one-way, half of
 * a round trip; MB/s are 10^6 bytes per second.
 *
 * These programs are not linked with libsan and use no code of the systems
 * they are compared with; every function here is static inline so each
 * program takes only what it uses.
 */
#ifndef SAN_BENCH_PEER_H
#define SAN_BENCH_PEER_H

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../size.h"

#define PEER_CSV_HEADER "test,size,iters,bytes,seconds,mb_s,ops_s,lat_avg_us,lat_p50_us,lat_p99_us"

/* Sent by the client on the control connection, in host byte order (both
 * ends are on one machine). */
struct peer_hdr {
	char test[24];
	uint64_t size;
	uint64_t iters;
	uint64_t warmup;
	uint32_t depth;
	uint32_t spin;
};

struct peer_opts {
	const char *prog;
	const char *host; /* NULL: server */
	int port;
	struct peer_hdr h;
	const char *extra; /* a program's own option (--prov for fi_rma) */
};

static const char *peer_prog = "peer";

static inline void peer_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void peer_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s[%d]: ", peer_prog, (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline double peer_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void peer_usage(FILE *f, const char *tests)
{
	fprintf(f,
		"Usage: %s -p PORT                         (server: serves one run)\n"
		"       %s HOST -p PORT --test T --size S --iters N [options]   (client)\n"
		"  --test T      %s\n"
		"  --size S      message size (8, 4K, 1M ...)\n"
		"  --iters N     measured operations\n"
		"  --warmup N    operations before timing (default iters/10, at least 2)\n"
		"  --depth D     operations in flight for bandwidth tests (default 8)\n"
		"  --block       sleep in the kernel while waiting instead of busy-polling\n"
		"  --prov P      libfabric provider (fi_rma only; default tcp)\n",
		peer_prog, peer_prog, tests);
}

static inline void peer_parse(int argc, char **argv, const char *tests, struct peer_opts *o)
{
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "test", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "iters", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "depth", required_argument, NULL, 'd' },
		{ "block", no_argument, NULL, 'b' },
		{ "prov", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	long warmup = -1;
	int c;

	memset(o, 0, sizeof(*o));
	peer_prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	o->prog = peer_prog;
	o->h.size = 8;
	o->h.iters = 1000;
	o->h.depth = 8;
	o->h.spin = 1;
	while ((c = getopt_long(argc, argv, "p:t:s:n:w:d:bP:h", lo, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'p':
			o->port = (int)strtol(optarg, &end, 10);
			if (*end || o->port < 1 || o->port > 65535)
				peer_die("bad port '%s'", optarg);
			break;
		case 't':
			if (strlen(optarg) >= sizeof(o->h.test))
				peer_die("bad --test '%s' (%s)", optarg, tests);
			strcpy(o->h.test, optarg);
			break;
		case 's':
			if (bench_parse_size(optarg, 1ull << 30, &o->h.size))
				peer_die("bad --size '%s' (1 B .. 1 GiB)", optarg);
			break;
		case 'n':
			o->h.iters = strtoull(optarg, &end, 10);
			if (*end || o->h.iters < 1 || o->h.iters > 100000000)
				peer_die("bad --iters '%s'", optarg);
			break;
		case 'w':
			warmup = strtol(optarg, &end, 10);
			if (*end || warmup < 0 || warmup > 100000000)
				peer_die("bad --warmup '%s'", optarg);
			break;
		case 'd':
			o->h.depth = (uint32_t)strtoul(optarg, &end, 10);
			if (*end || o->h.depth < 1 || o->h.depth > 256)
				peer_die("bad --depth '%s' (1..256)", optarg);
			break;
		case 'b':
			o->h.spin = 0;
			break;
		case 'P':
			o->extra = optarg;
			break;
		case 'h':
			peer_usage(stdout, tests);
			exit(0);
		default:
			peer_usage(stderr, tests);
			exit(2);
		}
	}
	if (optind < argc)
		o->host = argv[optind++];
	if (optind < argc)
		peer_die("unexpected argument '%s' (see --help)", argv[optind]);
	o->h.warmup = warmup >= 0 ? (uint64_t)warmup
				  : (o->h.iters / 10 > 2 ? o->h.iters / 10 : 2);
}

/* ---- control connection ---- */

static inline void peer_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t r = send(fd, p, len, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			peer_die("send: %s", r < 0 ? strerror(errno) : "short");
		p += r;
		len -= (size_t)r;
	}
}

/* Reads exactly len bytes; spin: MSG_DONTWAIT in a loop instead of sleeping. */
static inline void peer_read_all(int fd, void *buf, size_t len, int spin)
{
	char *p = buf;

	while (len) {
		ssize_t r = recv(fd, p, len, spin ? MSG_DONTWAIT : 0);

		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r == 0)
			peer_die("the peer closed the connection");
		if (r < 0)
			peer_die("recv: %s", strerror(errno));
		p += r;
		len -= (size_t)r;
	}
}

static inline void peer_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Server: one connection on 127.0.0.1:port, then the listener is closed. */
static inline int peer_accept(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, lfd, fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		peer_die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(lfd, 1))
		peer_die("listen on 127.0.0.1:%d: %s", port, strerror(errno));
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		peer_die("accept: %s", strerror(errno));
	close(lfd);
	peer_nodelay(fd);
	return fd;
}

/* Client: retries for 10 s while the server is still starting. */
static inline int peer_connect(const char *host, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	double t0 = peer_now();

	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		peer_die("bad host '%s' (an IPv4 literal, e.g. 127.0.0.1)", host);
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			peer_die("socket: %s", strerror(errno));
		if (!connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
			peer_nodelay(fd);
			return fd;
		}
		if (errno != ECONNREFUSED || peer_now() - t0 > 10)
			peer_die("connect %s:%d: %s", host, port, strerror(errno));
		close(fd);
		usleep(10000);
	}
}

/* The client half of the start: connect and say what to run. */
static inline int peer_client_start(const struct peer_opts *o)
{
	int fd;

	if (!o->h.test[0])
		peer_die("the client needs --test");
	if (!o->port)
		peer_die("-p PORT is required");
	fd = peer_connect(o->host, o->port);
	peer_write_all(fd, &o->h, sizeof(o->h));
	return fd;
}

/* The server half: accept and learn what to run. */
static inline int peer_server_start(const struct peer_opts *o, struct peer_hdr *h)
{
	int fd;

	if (!o->port)
		peer_die("-p PORT is required");
	fd = peer_accept(o->port);
	peer_read_all(fd, h, sizeof(*h), 0);
	h->test[sizeof(h->test) - 1] = '\0';
	return fd;
}

/* ---- results ---- */

static inline int peer_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * One CSV result. seconds: the timed part; ops: operations in it; lat: ops
 * one-way latencies in seconds (sorted here), or NULL for a bandwidth test.
 */
static inline void peer_report(const struct peer_hdr *h, uint64_t ops, double seconds,
			       double *lat)
{
	double bytes = (double)ops * (double)h->size;

	printf("%s\n%s,%" PRIu64 ",%" PRIu64 ",%.0f,%.6f,%.3f,%.1f,", PEER_CSV_HEADER, h->test,
	       h->size, ops, bytes, seconds, bytes / seconds / 1e6, (double)ops / seconds);
	if (lat && ops) {
		double sum = 0;

		qsort(lat, ops, sizeof(*lat), peer_cmp_double);
		for (uint64_t i = 0; i < ops; i++)
			sum += lat[i];
		printf("%.3f,%.3f,%.3f\n", sum / (double)ops * 1e6, lat[ops / 2] * 1e6,
		       lat[(ops * 99) / 100] * 1e6);
	} else {
		printf(",,\n");
	}
	fflush(stdout);
}

static inline double *peer_lat_array(uint64_t n)
{
	double *v = calloc(n ? n : 1, sizeof(double));

	if (!v)
		peer_die("out of memory for %" PRIu64 " samples", n);
	return v;
}

static inline void *peer_alloc(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len ? len : 1))
		peer_die("out of memory for %zu bytes", len);
	memset(p, 0x5a, len); /* touched: no page faults inside the timing */
	return p;
}

#endif /* SAN_BENCH_PEER_H */
