/* SPDX-License-Identifier: MIT */
/*
 * bench_reg_hit: the cost of a registration that the cache serves, through
 * the public API, against UCX's registration cache on the same workloads,
 * in one run.
 *
 *   libsan  san_register_memory + san_deregister_memory on a connected
 *           socket (a provider talking to itself over loopback: san_listen,
 *           a thread accepts while main connects). Everything an
 *           application pays: argument checks, the socket's handle table,
 *           the cache lookup, the release.
 *   UCX     ucs_rcache_get + ucs_rcache_region_put on a ucs_rcache whose
 *           mem_reg/mem_dereg are stubs that succeed (they are never called
 *           in the timed loops; the bench checks), with UCM_EVENT_VM_UNMAPPED
 *           as UCX's transports set it, so it is UCX's own hit path that is
 *           timed. Built only when CMake finds ucx-ucs (SAN_HAVE_UCX).
 *
 * Workloads (every buffer is touched and registered once before timing, so
 * each timed call is a hit):
 *
 *   same          one thread, one --same-size buffer (1 MiB)
 *   distinct      one thread, round robin over --buffers (1000) buffers of
 *                 --buf-size (64 KiB), a guard page between neighbours
 *   2t-own-sock   two threads, each its own socket and its own 1 MiB buffer
 *   2t-one-sock   two threads on one socket, each its own 1 MiB buffer
 *   2t-same-buf   two threads, each its own socket, the same 1 MiB buffer
 *
 * UCX has no sockets: its two-thread rows with separate buffers are the same
 * workload, measured again beside each libsan row. Figures are the thread
 * CPU time per register+deregister (per get+put), of the slower thread in
 * the two-thread rows (see run_round for why CPU time); wall time is in the
 * CSV/JSON output too.
 *
 * Each case runs --rounds measured rounds after one warm-up round; libsan
 * and UCX alternate round by round (load on a shared machine falls on both)
 * and each keeps its median. The ratio is libsan / UCX; the target of the
 * issue is at most 0.5.
 */
#include <san.h>

#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifdef SAN_HAVE_UCX
#include <ucm/api/ucm.h>
#include <ucs/memory/rcache.h>
#ifndef SAN_UCX_VERSION
#define SAN_UCX_VERSION "?"
#endif
#endif

#define PAGE 4096ul
#define MAX_ROUNDS 63
#define TARGET_RATIO 0.5

enum { FMT_TABLE, FMT_CSV, FMT_JSON };

static struct {
	unsigned ms;         /* length of one round */
	unsigned rounds;
	unsigned buffers;
	size_t buf_size;
	size_t same_size;
	int format;
	int ucx;
	const char *only; /* run just this workload (profiling) */
} opt = { 40, 9, 1000, 64 << 10, 1 << 20, FMT_TABLE, 1, NULL };

static char *map_touched(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bench_die("mmap %zu bytes: %s", len, strerror(errno));
	memset(p, 0x5a, len);
	return p;
}

/* ==== the two systems behind one interface ==== */

enum { SYS_SAN, SYS_UCX };

/* Set by the main thread when a round's time is up. */
static _Atomic int stop_flag;

/* One thread's share of a round. */
struct job {
	int sys;
	san_socket *s;  /* SYS_SAN */
	void *ucx;      /* SYS_UCX: the ucs_rcache_t */
	char **bufs;    /* round robin over these */
	unsigned nbuf;
	size_t len;
	pthread_barrier_t *start;
	unsigned long ops;   /* pairs done */
	uint64_t ns, cpu_ns; /* wall and CPU time of this thread's loop */
};

/* The flag is checked once per 64 pairs: one load of a line nobody writes
 * until the end. */
#define STOP_EVERY 64

static void san_loop(struct job *j)
{
	unsigned long n = 0;
	unsigned k = 0;

	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		for (int i = 0; i < STOP_EVERY; i++) {
			san_handle h;
			int rc = san_register_memory(j->s, j->bufs[k], j->len, SAN_MEM_READWRITE, &h);

			if (rc)
				bench_die("san_register_memory: %s", san_strerror(rc));
			rc = san_deregister_memory(j->s, h);
			if (rc)
				bench_die("san_deregister_memory: %s", san_strerror(rc));
			if (++k == j->nbuf)
				k = 0;
		}
		n += STOP_EVERY;
	}
	j->ops = n;
}

#ifdef SAN_HAVE_UCX
static unsigned long ucx_regs, ucx_deregs; /* stub calls: none while timing */

static ucs_status_t ucx_stub_reg(void *context, ucs_rcache_t *rc, void *arg,
				 ucs_rcache_region_t *region, uint16_t flags)
{
	(void)context;
	(void)rc;
	(void)arg;
	(void)region;
	(void)flags;
	__atomic_fetch_add(&ucx_regs, 1, __ATOMIC_RELAXED);
	return UCS_OK;
}

static void ucx_stub_dereg(void *context, ucs_rcache_t *rc, ucs_rcache_region_t *region)
{
	(void)context;
	(void)rc;
	(void)region;
	__atomic_fetch_add(&ucx_deregs, 1, __ATOMIC_RELAXED);
}

static void ucx_stub_dump(void *context, ucs_rcache_t *rc, ucs_rcache_region_t *region,
			  char *buf, size_t max)
{
	(void)context;
	(void)rc;
	(void)region;
	if (max)
		buf[0] = '\0';
}

static const ucs_rcache_ops_t ucx_ops = {
	.mem_reg = ucx_stub_reg,
	.mem_dereg = ucx_stub_dereg,
	.dump_region = ucx_stub_dump,
};

static const char *ucx_events = "none";

/* The parameters UCX's own transports use (uct_md rcache defaults): page
 * alignment, unmap events from UCM, no limits that could evict here. */
static ucs_rcache_t *ucx_create(void)
{
	ucs_rcache_params_t p = {
		.region_struct_size = sizeof(ucs_rcache_region_t),
		.alignment = PAGE,
		.max_alignment = PAGE,
		.ucm_events = UCM_EVENT_VM_UNMAPPED,
		.ucm_event_priority = 1000,
		.ops = &ucx_ops,
		.context = NULL,
		.flags = 0,
		.max_regions = (unsigned long)-1,
		.max_size = (size_t)-1,
		.max_unreleased = (size_t)-1,
	};
	ucs_rcache_t *rc;
	ucs_status_t st = ucs_rcache_create(&p, "bench_reg_hit", NULL, &rc);

	if (st == UCS_OK) {
		ucx_events = "VM_UNMAPPED";
		return rc;
	}
	/* No UCM hooks here: the hit path is the same without events. */
	p.ucm_events = 0;
	st = ucs_rcache_create(&p, "bench_reg_hit", NULL, &rc);
	if (st != UCS_OK)
		return NULL;
	ucx_events = "none (UCM hooks unavailable)";
	return rc;
}

static void ucx_loop(struct job *j)
{
	ucs_rcache_t *rc = j->ucx;
	unsigned long n = 0;
	unsigned k = 0;

	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		for (int i = 0; i < STOP_EVERY; i++) {
			ucs_rcache_region_t *r;
			ucs_status_t st = ucs_rcache_get(rc, j->bufs[k], j->len,
							 PROT_READ | PROT_WRITE, NULL, &r);

			if (st != UCS_OK)
				bench_die("ucs_rcache_get: status %d", (int)st);
			ucs_rcache_region_put(rc, r);
			if (++k == j->nbuf)
				k = 0;
		}
		n += STOP_EVERY;
	}
	j->ops = n;
}
#endif

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *run_job(void *arg)
{
	struct job *j = arg;
	uint64_t t0, c0;

	pthread_barrier_wait(j->start);
	t0 = bench_now_ns();
	c0 = thread_cpu_ns();
	if (j->sys == SYS_SAN)
		san_loop(j);
#ifdef SAN_HAVE_UCX
	else
		ucx_loop(j);
#endif
	j->cpu_ns = thread_cpu_ns() - c0;
	j->ns = bench_now_ns() - t0;
	return NULL;
}

/* What one round measured. */
struct sample {
	double cpu_ns;  /* CPU time per pair of the slower thread: the figure */
	double wall_ns; /* wall time per pair of the slower thread */
	double share;   /* the smallest CPU share (CPU / wall) of the threads */
};

/*
 * Runs the jobs (1 or 2 threads) for --ms milliseconds: the main thread
 * releases them together, sleeps, raises the stop flag.
 *
 * Why CPU time: on 2 vCPUs shared with other work a thread is often not
 * running, and wall time per pair then measures the neighbours. A thread's
 * CPU time still counts everything it does, spinning and cache-line
 * transfers included. The share tells whether two threads really ran side
 * by side (contention shows only while they do).
 */
static struct sample run_round(struct job *jobs, unsigned n)
{
	struct timespec nap = { .tv_sec = opt.ms / 1000, .tv_nsec = (long)(opt.ms % 1000) * 1000000 };
	struct sample sm = { 0, 0, 1 };
	pthread_barrier_t bar;
	pthread_t tid[2];

	atomic_store(&stop_flag, 0);
	pthread_barrier_init(&bar, NULL, n + 1);
	for (unsigned t = 0; t < n; t++) {
		jobs[t].start = &bar;
		if (pthread_create(&tid[t], NULL, run_job, &jobs[t]))
			bench_die("pthread_create failed");
	}
	pthread_barrier_wait(&bar);
	nanosleep(&nap, NULL);
	atomic_store(&stop_flag, 1);
	for (unsigned t = 0; t < n; t++)
		pthread_join(tid[t], NULL);
	pthread_barrier_destroy(&bar);
	for (unsigned t = 0; t < n; t++) {
		double cpu = (double)jobs[t].cpu_ns / (double)jobs[t].ops;
		double wall = (double)jobs[t].ns / (double)jobs[t].ops;
		double sh = (double)jobs[t].cpu_ns / (double)jobs[t].ns;

		sm.cpu_ns = cpu > sm.cpu_ns ? cpu : sm.cpu_ns;
		sm.wall_ns = wall > sm.wall_ns ? wall : sm.wall_ns;
		sm.share = sh < sm.share ? sh : sm.share;
	}
	return sm;
}

/* ==== the cases ==== */

struct ucase {
	const char *name;
	const char *what;
	unsigned threads;
	int distinct;    /* round robin over the distinct buffers */
	int one_socket;  /* both threads on socket 0 */
	int same_buffer; /* both threads on buffer 0 */
	double san_ns, ucx_ns;
	double san_wall, ucx_wall;   /* medians of wall time per pair */
	double san_share, ucx_share; /* medians of the rounds' CPU shares */
	uint64_t san_pins; /* pins during the timed rounds: must be 0 */
	unsigned long ucx_regs;
};

static struct ucase cases[] = {
	{ .name = "same", .what = "1 thread, one 1 MiB buffer", .threads = 1 },
	{ .name = "distinct", .what = "1 thread, round robin over the distinct buffers",
	  .threads = 1, .distinct = 1 },
	{ .name = "2t-own-sock", .what = "2 threads, own socket, own 1 MiB buffer", .threads = 2 },
	{ .name = "2t-one-sock", .what = "2 threads, one socket, own 1 MiB buffer", .threads = 2,
	  .one_socket = 1 },
	{ .name = "2t-same-buf", .what = "2 threads, own socket, the same 1 MiB buffer",
	  .threads = 2, .same_buffer = 1 },
};

static size_t ncases = sizeof(cases) / sizeof(cases[0]);

struct world {
	san_provider *p;
	san_socket *s[2];
	char *big[2];   /* the two 1 MiB buffers */
	char **small;   /* the distinct buffers */
	char *small_base;
	size_t small_span;
	void *ucx;
};

struct acc {
	san_listener *l;
	san_socket *s;
	int rc;
};

static void *accept_thread(void *arg)
{
	struct acc *a = arg;

	a->rc = san_accept(a->l, 10000, &a->s);
	return NULL;
}

static void world_open(struct world *w)
{
	char addr[256];
	struct acc a = { 0 };
	pthread_t t;

	SAN_OK(san_provider_open(NULL, &w->p));
	SAN_OK(san_listen(w->p, "tcp:127.0.0.1:0", &a.l));
	if (san_listener_addr(a.l, addr, sizeof(addr)) <= 0)
		bench_die("san_listener_addr failed");
	if (pthread_create(&t, NULL, accept_thread, &a))
		bench_die("pthread_create failed");
	SAN_OK(san_connect(w->p, addr, &w->s[0]));
	pthread_join(t, NULL);
	SAN_OK(a.rc);
	w->s[1] = a.s;
	san_listener_close(a.l);

	w->big[0] = map_touched(opt.same_size);
	w->big[1] = map_touched(opt.same_size);
	/* A guard page between neighbours: no two buffers touch, so neither
	 * cache can merge them. */
	w->small_span = (size_t)opt.buffers * (opt.buf_size + PAGE);
	w->small_base = map_touched(w->small_span);
	w->small = calloc(opt.buffers, sizeof(*w->small));
	if (!w->small)
		bench_die("out of memory");
	for (unsigned k = 0; k < opt.buffers; k++)
		w->small[k] = w->small_base + (size_t)k * (opt.buf_size + PAGE);
}

/* The first registration of each buffer (a miss) on each socket. */
static void warm(struct world *w)
{
	for (int si = 0; si < 2; si++) {
		san_handle h;

		for (int b = 0; b < 2; b++) {
			SAN_OK(san_register_memory(w->s[si], w->big[b], opt.same_size,
						   SAN_MEM_READWRITE, &h));
			SAN_OK(san_deregister_memory(w->s[si], h));
		}
	}
	for (unsigned k = 0; k < opt.buffers; k++) {
		san_handle h;

		SAN_OK(san_register_memory(w->s[0], w->small[k], opt.buf_size, SAN_MEM_READWRITE,
					   &h));
		SAN_OK(san_deregister_memory(w->s[0], h));
	}
#ifdef SAN_HAVE_UCX
	if (w->ucx) {
		ucs_rcache_region_t *r;

		for (int b = 0; b < 2; b++) {
			if (ucs_rcache_get(w->ucx, w->big[b], opt.same_size, PROT_READ | PROT_WRITE,
					   NULL, &r) != UCS_OK)
				bench_die("ucs_rcache_get failed");
			ucs_rcache_region_put(w->ucx, r);
		}
		for (unsigned k = 0; k < opt.buffers; k++) {
			if (ucs_rcache_get(w->ucx, w->small[k], opt.buf_size,
					   PROT_READ | PROT_WRITE, NULL, &r) != UCS_OK)
				bench_die("ucs_rcache_get failed");
			ucs_rcache_region_put(w->ucx, r);
		}
	}
#endif
}

static void make_jobs(struct world *w, const struct ucase *c, int sys, struct job *jobs)
{
	for (unsigned t = 0; t < c->threads; t++) {
		jobs[t] = (struct job){
			.sys = sys,
			.s = w->s[c->one_socket ? 0 : t],
			.ucx = w->ucx,
		};
		if (c->distinct) {
			jobs[t].bufs = w->small;
			jobs[t].nbuf = opt.buffers;
			jobs[t].len = opt.buf_size;
		} else {
			jobs[t].bufs = &w->big[c->same_buffer ? 0 : t];
			jobs[t].nbuf = 1;
			jobs[t].len = opt.same_size;
		}
	}
}

static void run_case(struct world *w, struct ucase *c)
{
	double sr[MAX_ROUNDS], ur[MAX_ROUNDS], sw[MAX_ROUNDS], uw[MAX_ROUNDS];
	double ss[MAX_ROUNDS], us[MAX_ROUNDS];
	struct san_stats st0, st1;
	unsigned long ucx0 = 0;

	SAN_OK(san_get_stats(w->p, &st0));
#ifdef SAN_HAVE_UCX
	ucx0 = ucx_regs;
#endif
	/* Round 0 is the warm-up (caches, branch predictors, the thread's
	 * first touch of the handle table); it is not kept. */
	for (unsigned r = 0; r <= opt.rounds; r++) {
		struct job jobs[2];
		struct sample sm;

		make_jobs(w, c, SYS_SAN, jobs);
		sm = run_round(jobs, c->threads);
		if (r) {
			sr[r - 1] = sm.cpu_ns;
			sw[r - 1] = sm.wall_ns;
			ss[r - 1] = sm.share;
		}
		if (w->ucx) {
			make_jobs(w, c, SYS_UCX, jobs);
			sm = run_round(jobs, c->threads);
			if (r) {
				ur[r - 1] = sm.cpu_ns;
				uw[r - 1] = sm.wall_ns;
				us[r - 1] = sm.share;
			}
		}
	}
	SAN_OK(san_get_stats(w->p, &st1));
	c->san_pins = st1.pins - st0.pins;
	c->san_ns = bench_median(sr, opt.rounds);
	c->san_wall = bench_median(sw, opt.rounds);
	c->san_share = bench_median(ss, opt.rounds);
	c->ucx_ns = c->ucx_wall = -1;
	c->ucx_share = 1;
	if (w->ucx) {
		c->ucx_ns = bench_median(ur, opt.rounds);
		c->ucx_wall = bench_median(uw, opt.rounds);
		c->ucx_share = bench_median(us, opt.rounds);
	}
#ifdef SAN_HAVE_UCX
	c->ucx_regs = ucx_regs - ucx0;
#else
	(void)ucx0;
#endif
}

/* ==== output ==== */

static void print_results(const char *ucx_state)
{
	size_t n = ncases;

	if (opt.format == FMT_CSV) {
		printf("workload,threads,libsan_ns_per_hit,ucx_ns_per_hit,ratio,target,met,"
		       "libsan_wall_ns_per_hit,ucx_wall_ns_per_hit,libsan_cpu_share,ucx_cpu_share,"
		       "libsan_pins_while_timed,ucx_regs_while_timed\n");
		for (size_t i = 0; i < n; i++) {
			const struct ucase *c = &cases[i];

			printf("%s,%u,%.1f,", c->name, c->threads, c->san_ns);
			if (c->ucx_ns > 0)
				printf("%.1f,%.3f,%.2f,%s", c->ucx_ns, c->san_ns / c->ucx_ns,
				       TARGET_RATIO, c->san_ns / c->ucx_ns <= TARGET_RATIO ? "yes" : "no");
			else
				printf(",,%.2f,", TARGET_RATIO);
			printf(",%.1f,", c->san_wall);
			if (c->ucx_wall > 0)
				printf("%.1f", c->ucx_wall);
			printf(",%.2f,%.2f,%llu,%lu\n", c->san_share, c->ucx_share,
			       (unsigned long long)c->san_pins, c->ucx_regs);
		}
		return;
	}
	if (opt.format == FMT_JSON) {
		printf("{\"round_ms\":%u,\"rounds\":%u,\"buffers\":%u,\"buf_size\":%zu,"
		       "\"same_size\":%zu,\"ucx\":\"%s\",\"target_ratio\":%.2f,\"cases\":[",
		       opt.ms, opt.rounds, opt.buffers, opt.buf_size, opt.same_size, ucx_state,
		       TARGET_RATIO);
		for (size_t i = 0; i < n; i++) {
			const struct ucase *c = &cases[i];

			printf("%s{\"workload\":\"%s\",\"threads\":%u,\"libsan_ns\":%.1f", i ? "," : "",
			       c->name, c->threads, c->san_ns);
			if (c->ucx_ns > 0)
				printf(",\"ucx_ns\":%.1f,\"ratio\":%.3f,\"met\":%s", c->ucx_ns,
				       c->san_ns / c->ucx_ns,
				       c->san_ns / c->ucx_ns <= TARGET_RATIO ? "true" : "false");
			else
				printf(",\"ucx_ns\":null,\"ratio\":null,\"met\":null");
			printf(",\"libsan_wall_ns\":%.1f,\"ucx_wall_ns\":", c->san_wall);
			if (c->ucx_wall > 0)
				printf("%.1f", c->ucx_wall);
			else
				printf("null");
			printf(",\"libsan_cpu_share\":%.2f,\"ucx_cpu_share\":%.2f,"
			       "\"libsan_pins_while_timed\":%llu,\"ucx_regs_while_timed\":%lu}",
			       c->san_share, c->ucx_share, (unsigned long long)c->san_pins,
			       c->ucx_regs);
		}
		printf("]}\n");
		return;
	}
	printf("registration hit: libsan san_register_memory+san_deregister_memory vs UCX "
	       "ucs_rcache_get+ucs_rcache_region_put\n");
	printf("(ns = thread CPU time per register+deregister (get+put), of the slower thread; "
	       "rounds of %u ms, median of %u rounds after 1 warm-up;\n distinct = %u x %zu KiB; "
	       "UCX: %s)\n",
	       opt.ms, opt.rounds, opt.buffers, opt.buf_size >> 10, ucx_state);
	printf("%-12s %7s %14s %12s %8s %7s %17s\n", "workload", "threads", "libsan ns/hit",
	       "UCX ns/hit", "ratio", "<=0.5", "CPU share san/ucx");
	for (size_t i = 0; i < n; i++) {
		const struct ucase *c = &cases[i];

		printf("%-12s %7u %14.1f ", c->name, c->threads, c->san_ns);
		if (c->ucx_ns > 0)
			printf("%12.1f %8.3f %7s %10.2f/%.2f\n", c->ucx_ns, c->san_ns / c->ucx_ns,
			       c->san_ns / c->ucx_ns <= TARGET_RATIO ? "yes" : "NO", c->san_share,
			       c->ucx_share);
		else
			printf("%12s %8s %7s %10.2f/-\n", "n/a", "-", "-", c->san_share);
	}
	for (size_t i = 0; i < n; i++)
		if (cases[i].threads > 1 &&
		    (cases[i].san_share < 0.8 || (cases[i].ucx_ns > 0 && cases[i].ucx_share < 0.8)))
			printf("note: %s: a thread had the CPU only %.0f%% (libsan) / %.0f%% (UCX) of "
			       "the time (median): the two threads did not always run side by side\n",
			       cases[i].name, 100 * cases[i].san_share, 100 * cases[i].ucx_share);
	for (size_t i = 0; i < n; i++)
		if (cases[i].san_pins || cases[i].ucx_regs)
			printf("warning: %s: %llu libsan pins / %lu UCX registrations while timed: "
			       "not all calls were hits\n",
			       cases[i].name, (unsigned long long)cases[i].san_pins, cases[i].ucx_regs);
	printf("workloads: ");
	for (size_t i = 0; i < n; i++)
		printf("%s%s = %s", i ? "; " : "", cases[i].name, cases[i].what);
	printf("\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_reg_hit [options]\n"
		"  -t, --ms N          length of one round, ms (default 40)\n"
		"  -r, --rounds N      measured rounds per case, median reported (default 9)\n"
		"  -b, --buffers N     distinct buffers (default 1000)\n"
		"  -s, --buf-size N    size of each distinct buffer, bytes, K/M suffix (default 64K)\n"
		"  -S, --same-size N   size of the single buffer (default 1M)\n"
		"      --no-ucx        skip UCX\n"
		"      --only NAME     run only this workload (same, distinct, 2t-own-sock, ...)\n"
		"  -f, --format F      table (default), csv or json\n"
		"  -c, --config        print libsan's configuration and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ms", 1, NULL, 't' },    { "rounds", 1, NULL, 'r' },
		{ "buffers", 1, NULL, 'b' },  { "buf-size", 1, NULL, 's' },
		{ "same-size", 1, NULL, 'S' }, { "no-ucx", 0, NULL, 'U' },
		{ "only", 1, NULL, 'O' },
		{ "format", 1, NULL, 'f' },   { "config", 0, NULL, 'c' },
		{ "help", 0, NULL, 'h' },     { NULL, 0, NULL, 0 },
	};
	struct world w = { 0 };
	const char *ucx_state = "not available (built without UCX)";
	int c;

	while ((c = getopt_long(argc, argv, "t:r:b:s:S:f:ch", lo, NULL)) != -1) {
		switch (c) {
		case 't': opt.ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': opt.rounds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'b': opt.buffers = (unsigned)strtoul(optarg, NULL, 0); break;
		case 's': opt.buf_size = bench_size_arg(optarg, SIZE_MAX); break;
		case 'S': opt.same_size = bench_size_arg(optarg, SIZE_MAX); break;
		case 'U': opt.ucx = 0; break;
		case 'O': opt.only = optarg; break;
		case 'f':
			if (!strcmp(optarg, "table"))
				opt.format = FMT_TABLE;
			else if (!strcmp(optarg, "csv"))
				opt.format = FMT_CSV;
			else if (!strcmp(optarg, "json"))
				opt.format = FMT_JSON;
			else
				bench_die("bad --format '%s' (table, csv or json)", optarg);
			break;
		case 'c': {
			struct san_config cfg;
			char buf[4096];

			san_config_init(&cfg);
			san_config_format(&cfg, buf, sizeof(buf));
			fputs(buf, stdout);
			return 0;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!opt.ms || !opt.buffers || !opt.rounds || opt.rounds > MAX_ROUNDS)
		bench_die("--ms, --buffers must be > 0 and --rounds 1..%d", MAX_ROUNDS);
	setvbuf(stdout, NULL, _IOLBF, 0);

#ifdef SAN_HAVE_UCX
	if (opt.ucx) {
		w.ucx = ucx_create();
		if (!w.ucx)
			ucx_state = "ucs_rcache_create failed";
	} else {
		ucx_state = "skipped (--no-ucx)";
	}
#else
	if (opt.format == FMT_TABLE)
		printf("UCX not available: built without ucx-ucs, the UCX column is empty\n");
#endif
	world_open(&w);
	warm(&w);
#ifdef SAN_HAVE_UCX
	if (w.ucx) {
		static char state[96];

		snprintf(state, sizeof(state), "ucx-ucs %s, unmap events %s", SAN_UCX_VERSION,
			 ucx_events);
		ucx_state = state;
	}
#endif
	if (opt.only) {
		size_t i;

		for (i = 0; i < ncases && strcmp(cases[i].name, opt.only); i++)
			;
		if (i == ncases)
			bench_die("no workload '%s'", opt.only);
		cases[0] = cases[i];
		ncases = 1;
	}
	for (size_t i = 0; i < ncases; i++) {
		if (isatty(STDERR_FILENO))
			fprintf(stderr, "\r\033[K%s ...", cases[i].name);
		run_case(&w, &cases[i]);
	}
	if (isatty(STDERR_FILENO))
		fputs("\r\033[K", stderr);
	print_results(ucx_state);

	SAN_OK(san_close(w.s[0]));
	SAN_OK(san_close(w.s[1]));
	san_provider_close(w.p);
#ifdef SAN_HAVE_UCX
	if (w.ucx)
		ucs_rcache_destroy(w.ucx);
#endif
	munmap(w.big[0], opt.same_size);
	munmap(w.big[1], opt.same_size);
	munmap(w.small_base, w.small_span);
	free(w.small);
	return 0;
}
