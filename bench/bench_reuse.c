/* SPDX-License-Identifier: MIT */
/*
 * bench_reuse: what the registration cache buys an application that
 * registers, transfers and deregisters the same buffers over and over.
 *
 * A forked target registers an RDMA window per connection and hands the
 * descriptors to the initiator over a control socketpair. The initiator
 * opens two providers, one with the cache (SAN_RCACHE=1) and one without
 * (SAN_RCACHE=0), connects each to the target, and for every size and
 * pattern (one buffer; --nbuf buffers round robin) times three loops of
 * san_rdma_write:
 *
 *   limit      the buffers registered once, outside the loop: post a write,
 *              wait for its completion (registration costs nothing);
 *   cache on   san_register_memory, the write, wait, san_deregister_memory,
 *              on the caching provider;
 *   cache off  the same loop on the provider opened with SAN_RCACHE=0:
 *              every registration pins, every deregistration unpins.
 *
 * Depth 1 by default (register, write, wait, deregister), so the cost of a
 * registration is on the critical path of every operation; --depth 1,8
 * also runs with 8 writes in flight (each op registers before posting and
 * deregisters when its completion is reaped).
 *
 * The three loops alternate round by round (--rounds, median kept) so that
 * load from elsewhere on a shared machine falls on all three alike. The
 * number of operations per measurement is calibrated from a warm-up to
 * --seconds. Ratios are throughput relative to the limit: the limit's
 * median time per operation over the loop's (CSV/JSON also give the median
 * of the per-round ratios as a cross-check); the target: cache on
 * >= 0.95 at every size.
 *
 * Exit status 0, or 1 on any error (a failed call, a completion with a bad
 * status or byte count).
 */
#include <san.h>

#include "bench.h"
#include "harness.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define MAX_SIZES 8
#define MAX_SIZE (64u << 20)
#define MAX_DEPTHS 4
#define MAX_NBUF 256
#define MAX_DEPTH 64
#define MAX_ROUNDS 31
#define TARGET_RATIO 0.95
/* The target's window per connection: at most this many bytes, at most
 * MAX_SLOTS slots of one write each. */
#define WINDOW_BYTES (16u << 20)
#define MAX_SLOTS 64u
#define STALL_MS 20000

enum { FMT_TABLE, FMT_CSV, FMT_JSON };
enum { M_LIMIT, M_ON, M_OFF, NMODES };
static const char *const mode_name[NMODES] = { "limit", "cache on", "cache off" };
static const char *const mode_key[NMODES] = { "limit", "cache_on", "cache_off" };

static struct {
	size_t sizes[MAX_SIZES];
	int nsizes;
	unsigned depths[MAX_DEPTHS];
	int ndepths;
	unsigned nbuf; /* the round-robin pattern */
	double seconds;
	int rounds;
	long iters; /* 0: calibrated */
	const char *transport;
	int format;
} o = {
	.sizes = { 4u << 10, 64u << 10, 1u << 20 },
	.nsizes = 3,
	.depths = { 1 },
	.ndepths = 1,
	.nbuf = 64,
	.seconds = 0.04,
	.rounds = 21,
	.iters = 0,
	.transport = "tcp",
	.format = FMT_TABLE,
};

static char *map_bytes(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bench_die("mmap %zu bytes: %s", len, strerror(errno));
	return p;
}

static unsigned slots_for(size_t size)
{
	size_t n = WINDOW_BYTES / size;

	return n < 1 ? 1 : n > MAX_SLOTS ? MAX_SLOTS : (unsigned)n;
}

/* ==== control messages ==== */

enum { CMD_QUIT, CMD_WINDOW, CMD_END };

struct cmd {
	uint64_t size;
	uint32_t op;
	uint32_t pad;
};

struct window_reply {
	int32_t status;
	uint32_t slots;
	struct san_rdma_desc desc[2]; /* one per connection, in accept order */
};

/* ==== the target ==== */

/* With no progress thread the target's NIC moves bytes only while it calls
 * in, so it polls its sockets while it waits for the next command. */
static void target_wait(san_socket **s, int ctl, int drive)
{
	while (drive) {
		struct pollfd pfd = { .fd = ctl, .events = POLLIN };
		struct san_completion c[8];

		if (poll(&pfd, 1, 0) > 0)
			return;
		for (int i = 0; i < 2; i++) {
			int rc = san_poll(s[i], c, 8, 1);

			if (rc < 0)
				bench_die("target san_poll: %s", san_strerror(rc));
		}
	}
}

static int target_main(void *arg, int ctl)
{
	struct san_config cfg;
	san_provider *p;
	san_listener *l;
	san_socket *s[2];
	char addr[256];
	char *win[2] = { NULL, NULL };
	size_t winlen = 0;
	struct window_reply rep = { 0 };

	(void)arg;
	san_config_init(&cfg);
	SAN_OK(san_provider_open(&cfg, &p));
	if (!strcmp(o.transport, "unix"))
		snprintf(addr, sizeof(addr), "unix:@san-bench-reuse-%d", (int)getpid());
	else
		snprintf(addr, sizeof(addr), "tcp:127.0.0.1:0");
	SAN_OK(san_listen(p, addr, &l));
	if (san_listener_addr(l, addr, sizeof(addr)) <= 0)
		bench_die("san_listener_addr failed");
	san_test_ctl_send_str(ctl, addr);
	for (int i = 0; i < 2; i++)
		SAN_OK(san_accept(l, 10000, &s[i]));
	san_listener_close(l);

	for (;;) {
		struct cmd c;

		target_wait(s, ctl, !cfg.progress_thread);
		san_test_ctl_recv(ctl, &c, sizeof(c));
		if (c.op == CMD_QUIT)
			break;
		if (c.op == CMD_WINDOW) {
			rep.slots = slots_for(c.size);
			winlen = (size_t)c.size * rep.slots;
			rep.status = 0;
			for (int i = 0; i < 2 && !rep.status; i++) {
				win[i] = map_bytes(winlen);
				memset(win[i], 0, winlen);
				rep.status = san_register_rdma_memory(s[i], win[i], winlen,
								      SAN_MEM_WRITE, &rep.desc[i]);
			}
			san_test_ctl_send(ctl, &rep, sizeof(rep));
			if (rep.status)
				bench_die("san_register_rdma_memory %zu bytes: %s", winlen,
					  san_strerror(rep.status));
		} else if (c.op == CMD_END) {
			for (int i = 0; i < 2; i++) {
				SAN_OK(san_deregister_rdma_memory(s[i], &rep.desc[i]));
				munmap(win[i], winlen);
				win[i] = NULL;
			}
			san_test_ctl_send(ctl, &rep, sizeof(rep));
		}
	}
	SAN_OK(san_close(s[0]));
	SAN_OK(san_close(s[1]));
	san_provider_close(p);
	return 0;
}

/* ==== the initiator ==== */

struct conn {
	san_provider *p;
	san_socket *s;
	struct san_rdma_desc desc; /* this connection's window at the target */
};

struct init {
	int ctl;
	pid_t pid;
	struct conn on, off;
	unsigned slots;
};

struct cell {
	size_t size;
	unsigned nbuf, depth;
	long iters;
	double us[NMODES];      /* median time per operation */
	double ratio[NMODES];   /* limit's median time / this mode's median time */
	double paired[NMODES];  /* median over rounds of limit time / this time */
	double pins_per_op[NMODES];
};

static struct cell cells[MAX_SIZES * 2 * MAX_DEPTHS];
static int ncells;

static san_provider *open_provider(int rcache)
{
	struct san_config cfg;
	san_provider *p;

	san_config_init(&cfg);
	SAN_OK(san_config_set(&cfg, "SAN_RCACHE", rcache ? "1" : "0"));
	SAN_OK(san_provider_open(&cfg, &p));
	return p;
}

/*
 * One measurement: count writes of the buffers (round robin over nbuf,
 * depth in flight) to the target's window. mode M_LIMIT: hs[] holds the
 * registrations made outside; otherwise every write registers its buffer
 * first and deregisters it when its completion is reaped. Returns seconds.
 */
static double measure(struct conn *c, int mode, char **bufs, unsigned nbuf, size_t size,
		      unsigned depth, unsigned slots, const san_handle *hs, long count)
{
	san_handle inflight_h[MAX_DEPTH];
	unsigned free_ctx[MAX_DEPTH], nfree = depth;
	struct san_completion comp[MAX_DEPTH];
	long posted = 0, done = 0;
	unsigned k = 0;
	int idle_ms = 0;
	double t0;

	for (unsigned i = 0; i < depth; i++)
		free_ctx[i] = i;
	t0 = bench_now_s();
	while (done < count) {
		while (posted < count && nfree) {
			unsigned ctx = free_ctx[--nfree];
			struct san_buf b = { .buf = bufs[k], .len = size };
			int rc;

			if (mode == M_LIMIT) {
				b.handle = hs[k];
			} else {
				rc = san_register_memory(c->s, bufs[k], size, SAN_MEM_READ, &b.handle);
				if (rc)
					bench_die("san_register_memory %zu bytes: %s", size,
					  san_strerror(rc));
			}
			inflight_h[ctx] = b.handle;
			rc = san_rdma_write(c->s, &b, 1, &c->desc,
					    (uint64_t)(posted % slots) * size, (void *)(uintptr_t)ctx);
			if (rc)
				bench_die("san_rdma_write %zu bytes: %s", size, san_strerror(rc));
			posted++;
			if (++k == nbuf)
				k = 0;
		}
		int n = san_poll(c->s, comp, MAX_DEPTH, 100);

		if (n < 0)
			bench_die("san_poll: %s", san_strerror(n));
		if (n == 0) {
			idle_ms += 100;
			if (idle_ms >= STALL_MS)
				bench_die("stalled: no completion for %d s (%zu bytes, %s)",
					  STALL_MS / 1000, size, mode_name[mode]);
			continue;
		}
		idle_ms = 0;
		for (int i = 0; i < n; i++) {
			unsigned ctx = (unsigned)(uintptr_t)comp[i].ctx;

			if (comp[i].op != SAN_OP_RDMA_WRITE || comp[i].status || comp[i].bytes != size)
				bench_die("completion: op %d status %d (%s) bytes %zu, "
					  "want a write of %zu",
					  comp[i].op, comp[i].status, san_strerror(comp[i].status),
					  comp[i].bytes, size);
			if (mode != M_LIMIT)
				SAN_OK(san_deregister_memory(c->s, inflight_h[ctx]));
			free_ctx[nfree++] = ctx;
			done++;
		}
	}
	return bench_now_s() - t0;
}

static uint64_t pins(san_provider *p)
{
	struct san_stats st;

	SAN_OK(san_get_stats(p, &st));
	return st.pins;
}

/* One mode, once: the limit registers its buffers outside the timing. */
static double run_mode(struct init *in, int mode, char **bufs, unsigned nbuf, size_t size,
		       unsigned depth, long count, uint64_t *pins_out)
{
	struct conn *c = mode == M_OFF ? &in->off : &in->on;
	san_handle hs[MAX_NBUF];
	uint64_t p0;
	double t;

	if (mode == M_LIMIT)
		for (unsigned k = 0; k < nbuf; k++)
			SAN_OK(san_register_memory(c->s, bufs[k], size, SAN_MEM_READ, &hs[k]));
	p0 = pins(c->p);
	t = measure(c, mode, bufs, nbuf, size, depth, in->slots, hs, count);
	*pins_out = pins(c->p) - p0;
	if (mode == M_LIMIT)
		for (unsigned k = 0; k < nbuf; k++)
			SAN_OK(san_deregister_memory(c->s, hs[k]));
	return t;
}

static void run_cell(struct init *in, struct cell *cl, char **bufs)
{
	double t[NMODES][MAX_ROUNDS];
	uint64_t pn[NMODES] = { 0 };
	long count = o.iters;
	char sz[32];

	bench_size_str(cl->size, sz, sizeof(sz));
	/* Warm-up of all three (the cache's first miss, TCP windows, page
	 * tables); the limit's also calibrates the count. */
	for (int m = 0; m < NMODES; m++) {
		long w = 0;
		double tw;
		uint64_t pw;

		bench_progress("%s x%u depth %u: warm-up %s", sz, cl->nbuf, cl->depth, mode_name[m]);
		/* Grow the warm-up until it lasts a few ms. */
		for (w = 2 * cl->nbuf;; w *= 4) {
			tw = run_mode(in, m, bufs, cl->nbuf, cl->size, cl->depth, w, &pw);
			if (tw > o.seconds / 4 || w > 1000000)
				break;
		}
		if (m == M_LIMIT && !count) {
			count = (long)(o.seconds * (double)w / tw);
			if (count < 2 * (long)cl->nbuf)
				count = 2 * (long)cl->nbuf;
			if (count < 64)
				count = 64;
		}
	}
	for (int r = 0; r < o.rounds; r++)
		for (int m = 0; m < NMODES; m++) {
			uint64_t p;

			bench_progress("%s x%u depth %u: %s, round %d/%d", sz, cl->nbuf, cl->depth,
				 mode_name[m], r + 1, o.rounds);
			t[m][r] = run_mode(in, m, bufs, cl->nbuf, cl->size, cl->depth, count, &p);
			pn[m] += p;
		}
	cl->iters = count;
	for (int m = 0; m < NMODES; m++) {
		double rr[MAX_ROUNDS];

		/* Also paired within a round (a cross-check: slow drift of the
		 * machine cancels, bursts do not). */
		for (int r = 0; r < o.rounds; r++)
			rr[r] = t[M_LIMIT][r] / t[m][r];
		cl->paired[m] = bench_median(rr, o.rounds);
		cl->us[m] = bench_median(t[m], o.rounds) * 1e6 / (double)count;
		cl->pins_per_op[m] = (double)pn[m] / ((double)count * o.rounds);
	}
	for (int m = 0; m < NMODES; m++)
		cl->ratio[m] = cl->us[M_LIMIT] / cl->us[m];
}

static void run(void)
{
	struct init in = { .ctl = -1 };
	char addr[256];

	/* The target is forked before this process opens any provider. */
	in.pid = san_test_fork(target_main, NULL, &in.ctl);
	in.on.p = open_provider(1);
	in.off.p = open_provider(0);
	san_test_ctl_recv(in.ctl, addr, sizeof(addr));
	/* The target accepts in this order: window desc[0] is "on". */
	SAN_OK(san_connect(in.on.p, addr, &in.on.s));
	SAN_OK(san_connect(in.off.p, addr, &in.off.s));

	for (int si = 0; si < o.nsizes; si++) {
		size_t size = o.sizes[si];
		size_t stride = (size + PAGE - 1) / PAGE * PAGE + PAGE; /* a guard page between */
		size_t span = stride * o.nbuf;
		char *base = map_bytes(span);
		char *bufs[MAX_NBUF];
		struct cmd c = { .size = size, .op = CMD_WINDOW };
		struct window_reply rep;

		for (unsigned k = 0; k < o.nbuf; k++) {
			bufs[k] = base + k * stride;
			san_test_fill(bufs[k], size, (uint32_t)(size + k));
		}
		san_test_ctl_send(in.ctl, &c, sizeof(c));
		san_test_ctl_recv(in.ctl, &rep, sizeof(rep));
		if (rep.status)
			bench_die("target window: %s", san_strerror(rep.status));
		in.slots = rep.slots;
		in.on.desc = rep.desc[0];
		in.off.desc = rep.desc[1];

		for (int di = 0; di < o.ndepths; di++)
			for (int pat = 0; pat < 2; pat++) {
				struct cell *cl = &cells[ncells++];

				*cl = (struct cell){ .size = size, .nbuf = pat ? o.nbuf : 1,
						     .depth = o.depths[di] };
				run_cell(&in, cl, bufs);
			}

		c.op = CMD_END;
		san_test_ctl_send(in.ctl, &c, sizeof(c));
		san_test_ctl_recv(in.ctl, &rep, sizeof(rep));
		munmap(base, span);
	}
	bench_progress_done();

	{
		struct cmd q = { .op = CMD_QUIT };

		san_test_ctl_send(in.ctl, &q, sizeof(q));
	}
	SAN_OK(san_close(in.on.s));
	SAN_OK(san_close(in.off.s));
	san_provider_close(in.on.p);
	san_provider_close(in.off.p);
	san_test_wait(in.pid, in.ctl);
}

/* ==== output ==== */

static double mbps(size_t size, double us)
{
	return (double)size / us; /* bytes per us = MB/s */
}

static void print_results(void)
{
	char sz[32];

	if (o.format == FMT_CSV) {
		printf("transport,size,buffers,depth,iters");
		for (int m = 0; m < NMODES; m++)
			printf(",%s_us_per_op,%s_mbps,%s_pins_per_op", mode_key[m], mode_key[m],
			       mode_key[m]);
		printf(",cache_on_vs_limit,cache_off_vs_limit,target,met,cache_on_vs_limit_paired,"
		       "cache_off_vs_limit_paired\n");
		for (int i = 0; i < ncells; i++) {
			const struct cell *c = &cells[i];
			double on = c->ratio[M_ON], off = c->ratio[M_OFF];

			printf("%s,%zu,%u,%u,%ld", o.transport, c->size, c->nbuf, c->depth, c->iters);
			for (int m = 0; m < NMODES; m++)
				printf(",%.2f,%.1f,%.3f", c->us[m], mbps(c->size, c->us[m]),
				       c->pins_per_op[m]);
			printf(",%.3f,%.3f,%.2f,%s,%.3f,%.3f\n", on, off, TARGET_RATIO,
			       on >= TARGET_RATIO ? "yes" : "no", c->paired[M_ON], c->paired[M_OFF]);
		}
		return;
	}
	if (o.format == FMT_JSON) {
		printf("{\"transport\":\"%s\",\"rounds\":%d,\"target_ratio\":%.2f,\"cells\":[",
		       o.transport, o.rounds, TARGET_RATIO);
		for (int i = 0; i < ncells; i++) {
			const struct cell *c = &cells[i];
			double on = c->ratio[M_ON], off = c->ratio[M_OFF];

			printf("%s{\"size\":%zu,\"buffers\":%u,\"depth\":%u,\"iters\":%ld", i ? "," : "",
			       c->size, c->nbuf, c->depth, c->iters);
			for (int m = 0; m < NMODES; m++)
				printf(",\"%s\":{\"us_per_op\":%.2f,\"mbps\":%.1f,\"pins_per_op\":%.3f}",
				       mode_key[m], c->us[m], mbps(c->size, c->us[m]), c->pins_per_op[m]);
			printf(",\"cache_on_vs_limit\":%.3f,\"cache_off_vs_limit\":%.3f,\"met\":%s,"
			       "\"cache_on_vs_limit_paired\":%.3f,\"cache_off_vs_limit_paired\":%.3f}",
			       on, off, on >= TARGET_RATIO ? "true" : "false", c->paired[M_ON],
			       c->paired[M_OFF]);
		}
		printf("]}\n");
		return;
	}
	printf("register + RDMA write + deregister over reused buffers vs registered once "
	       "(%s loopback; medians of %d alternating rounds;\n ratios = limit us / loop us: "
	       "throughput relative to registration costing nothing)\n",
	       o.transport, o.rounds);
	printf("%-7s %4s %5s %6s | %9s %9s %9s | %10s %8s %8s | %7s %7s %6s\n", "size", "bufs",
	       "depth", "ops", "limit us", "on us", "off us", "limit MB/s", "on MB/s", "off MB/s",
	       "on/lim", "off/lim", ">=0.95");
	for (int i = 0; i < ncells; i++) {
		const struct cell *c = &cells[i];
		double on = c->ratio[M_ON], off = c->ratio[M_OFF];

		printf("%-7s %4u %5u %6ld | %9.2f %9.2f %9.2f | %10.0f %8.0f %8.0f | %7.3f %7.3f %6s\n",
		       bench_size_str(c->size, sz, sizeof(sz)), c->nbuf, c->depth, c->iters,
		       c->us[M_LIMIT], c->us[M_ON], c->us[M_OFF], mbps(c->size, c->us[M_LIMIT]),
		       mbps(c->size, c->us[M_ON]), mbps(c->size, c->us[M_OFF]), on, off,
		       on >= TARGET_RATIO ? "yes" : "NO");
	}
	printf("pins per operation while timed (cache on / cache off):");
	for (int i = 0; i < ncells; i++)
		printf("%s %s x%u d%u %.3f/%.3f", i ? "," : "",
		       bench_size_str(cells[i].size, sz, sizeof(sz)), cells[i].nbuf,
		       cells[i].depth, cells[i].pins_per_op[M_ON], cells[i].pins_per_op[M_OFF]);
	printf("\n");
}

/* ==== options ==== */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_reuse [options]\n"
		"  -s, --sizes LIST    comma-separated sizes, K/M suffix (default 4K,64K,1M)\n"
		"  -b, --buffers N     buffers of the round-robin pattern (default 64, max %d)\n"
		"  -d, --depth LIST    writes in flight, comma-separated (default 1; e.g. 1,8)\n"
		"  -t, --seconds S     time per measurement (default 0.04)\n"
		"  -r, --rounds N      alternating rounds, median reported (default 21)\n"
		"  -n, --iters N       operations per measurement (default: calibrated)\n"
		"  -T, --transport T   tcp (default) or unix\n"
		"  -f, --format F      table (default), csv or json\n",
		MAX_NBUF);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "sizes", 1, NULL, 's' },   { "buffers", 1, NULL, 'b' },
		{ "depth", 1, NULL, 'd' },   { "seconds", 1, NULL, 't' },
		{ "rounds", 1, NULL, 'r' },  { "iters", 1, NULL, 'n' },
		{ "transport", 1, NULL, 'T' }, { "format", 1, NULL, 'f' },
		{ "help", 0, NULL, 'h' },    { NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:b:d:t:r:n:T:f:h", lo, NULL)) != -1) {
		switch (c) {
		case 's': {
			char *save, *tok, *list = strdup(optarg);

			o.nsizes = 0;
			for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (o.nsizes == MAX_SIZES)
					bench_die("at most %d sizes", MAX_SIZES);
				o.sizes[o.nsizes++] = bench_size_arg(tok, MAX_SIZE);
			}
			free(list);
			break;
		}
		case 'd': {
			char *save, *tok, *list = strdup(optarg);

			o.ndepths = 0;
			for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				unsigned long d = strtoul(tok, NULL, 0);

				if (o.ndepths == MAX_DEPTHS || d < 1 || d > MAX_DEPTH)
					bench_die("bad --depth (at most %d values, 1..%d)", MAX_DEPTHS,
						  MAX_DEPTH);
				o.depths[o.ndepths++] = (unsigned)d;
			}
			free(list);
			break;
		}
		case 'b':
			o.nbuf = (unsigned)strtoul(optarg, NULL, 0);
			if (o.nbuf < 1 || o.nbuf > MAX_NBUF)
				bench_die("bad --buffers (1..%d)", MAX_NBUF);
			break;
		case 't': o.seconds = strtod(optarg, NULL); break;
		case 'r':
			o.rounds = atoi(optarg);
			if (o.rounds < 1 || o.rounds > MAX_ROUNDS)
				bench_die("bad --rounds (1..%d)", MAX_ROUNDS);
			break;
		case 'n': o.iters = strtol(optarg, NULL, 0); break;
		case 'T':
			if (strcmp(optarg, "tcp") && strcmp(optarg, "unix"))
				bench_die("bad --transport '%s' (tcp or unix)", optarg);
			o.transport = optarg;
			break;
		case 'f':
			if (!strcmp(optarg, "table"))
				o.format = FMT_TABLE;
			else if (!strcmp(optarg, "csv"))
				o.format = FMT_CSV;
			else if (!strcmp(optarg, "json"))
				o.format = FMT_JSON;
			else
				bench_die("bad --format '%s' (table, csv or json)", optarg);
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (o.seconds <= 0 || o.iters < 0)
		bench_die("bad --seconds / --iters");
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	run();
	print_results();
	return 0;
}
