/* SPDX-License-Identifier: MIT */
/*
 * bench_rcache_hit: the cost of a registration cache hit, get + put, in ns.
 *
 *   same      one thread, the same buffer every time
 *   distinct  one thread, round robin over --buffers distinct buffers (each
 *             one page with a free page between, so nothing merges)
 *   same-2t   two threads, the same buffer (its refcount line bounces)
 *   own-2t    two threads, each round robin over its own --buffers buffers
 *
 * For scale, one more line: a miss (get + put of a buffer just flushed out
 * of the cache; the stub "pins" for free, so this is the cache's own miss
 * work: with userfaultfd, the UFFDIO_REGISTER and the VMA check).
 *
 * The NIC is a stub (mem_reg hands back a token), so only the cache is
 * measured; every buffer is registered once before timing. The monitor is
 * the real userfaultfd one when the kernel has it (its thread is idle here),
 * else the cache runs with external invalidation; the header says which.
 * Each case runs --rounds times and reports the median; multi-threaded
 * cases report ns per get+put of one thread (wall time / its operations)
 * and the total rate.
 */
#include "bench.h"
#include "reg/rcache.h"
#include "util/util.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096

enum { FMT_TABLE, FMT_CSV, FMT_JSON };

static struct {
	unsigned long iters;
	unsigned buffers;
	unsigned rounds;
	int format;
} opt = { 2000000, 1000, 5, FMT_TABLE };

static int stub_reg(void *ctx, void *addr, size_t len, void **mr_out)
{
	(void)ctx;
	(void)len;
	*mr_out = addr; /* any non-NULL token */
	return 0;
}

static void stub_dereg(void *ctx, void *mr)
{
	(void)ctx;
	(void)mr;
}

static const struct san_rcache_ops stub_ops = { .mem_reg = stub_reg, .mem_dereg = stub_dereg };

struct job {
	struct san_rcache *rc;
	char *base;      /* first buffer */
	unsigned nbuf;   /* round robin over this many */
	unsigned long iters;
	pthread_barrier_t *start;
	uint64_t ns;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	unsigned k = 0;
	uint64_t t0;

	if (j->start)
		pthread_barrier_wait(j->start);
	t0 = san__now_ns();
	for (unsigned long i = 0; i < j->iters; i++) {
		struct san_rcache_region *r;

		if (san__rcache_get(j->rc, j->base + (size_t)k * 2 * PAGE + 64, 1024, &r)) {
			fprintf(stderr, "get failed\n");
			exit(1);
		}
		san__rcache_put(j->rc, r);
		if (++k == j->nbuf)
			k = 0;
	}
	j->ns = san__now_ns() - t0;
	return NULL;
}

/* Runs one case `rounds` times; returns the median ns per get+put per thread. */
static double run_case(struct san_rcache *rc, char *bufs, unsigned threads, unsigned nbuf,
		       int shared)
{
	double res[64];
	unsigned rounds = opt.rounds > 64 ? 64 : opt.rounds;

	for (unsigned r = 0; r < rounds; r++) {
		struct job jobs[2];
		pthread_t tid[2];
		pthread_barrier_t bar;
		uint64_t worst = 0;

		pthread_barrier_init(&bar, NULL, threads);
		for (unsigned t = 0; t < threads; t++) {
			jobs[t] = (struct job){
				.rc = rc,
				.base = shared ? bufs : bufs + (size_t)t * nbuf * 2 * PAGE,
				.nbuf = nbuf,
				.iters = opt.iters,
				.start = threads > 1 ? &bar : NULL,
			};
			if (threads == 1)
				run_job(&jobs[t]);
			else if (pthread_create(&tid[t], NULL, run_job, &jobs[t]))
				exit(1);
		}
		for (unsigned t = 0; threads > 1 && t < threads; t++)
			pthread_join(tid[t], NULL);
		pthread_barrier_destroy(&bar);
		for (unsigned t = 0; t < threads; t++)
			worst = SAN_MAX(worst, jobs[t].ns);
		res[r] = (double)worst / (double)opt.iters;
	}
	bench_sort(res, rounds);
	return res[rounds / 2];
}

/* Median ns of a miss: flush, then get+put every buffer once. */
static double run_misses(struct san_rcache *rc, char *bufs)
{
	double res[64];
	unsigned rounds = opt.rounds > 64 ? 64 : opt.rounds;

	for (unsigned r = 0; r < rounds; r++) {
		uint64_t t0;

		san__rcache_flush(rc);
		t0 = san__now_ns();
		for (unsigned k = 0; k < opt.buffers; k++) {
			struct san_rcache_region *reg;

			if (san__rcache_get(rc, bufs + (size_t)k * 2 * PAGE + 64, 1024, &reg))
				exit(1);
			san__rcache_put(rc, reg);
		}
		res[r] = (double)(san__now_ns() - t0) / opt.buffers;
	}
	bench_sort(res, rounds);
	return res[rounds / 2];
}

static void usage(void)
{
	printf("usage: bench_rcache_hit [options]\n"
	       "  -n, --iters N      get+put pairs per thread and round (default 2000000)\n"
	       "  -b, --buffers N    distinct buffers per thread (default 1000)\n"
	       "  -r, --rounds N     rounds per case, the median is reported (default 5)\n"
	       "  -f, --format F     table (default), csv or json\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "iters", 1, NULL, 'n' }, { "buffers", 1, NULL, 'b' },
		{ "rounds", 1, NULL, 'r' }, { "format", 1, NULL, 'f' },
		{ "help", 0, NULL, 'h' },  { NULL, 0, NULL, 0 },
	};
	struct san_rcache_config cfg = { 1, 1 << 20, 1ull << 40, SAN_MONITOR_UFFD };
	struct {
		const char *name;
		unsigned threads, nbuf;
		int shared;
		double ns;
	} cases[] = {
		{ "same", 1, 1, 1, 0 },
		{ "distinct", 1, 0, 1, 0 },
		{ "same-2t", 2, 1, 1, 0 },
		{ "own-2t", 2, 0, 0, 0 },
	};
	struct san_rcache *rc;
	const char *monitor = "uffd";
	double miss_ns;
	size_t span;
	char *bufs;
	int c;

	while ((c = getopt_long(argc, argv, "n:b:r:f:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': opt.iters = strtoul(optarg, NULL, 0); break;
		case 'b': opt.buffers = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': opt.rounds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'f':
			if (!strcmp(optarg, "table"))
				opt.format = FMT_TABLE;
			else if (!strcmp(optarg, "csv"))
				opt.format = FMT_CSV;
			else if (!strcmp(optarg, "json"))
				opt.format = FMT_JSON;
			else {
				fprintf(stderr, "bad --format '%s'\n", optarg);
				return 2;
			}
			break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (!opt.iters || !opt.buffers || !opt.rounds) {
		usage();
		return 2;
	}
	if (san__rcache_create(&cfg, &stub_ops, NULL, &rc))
		return 1;
	if (!san__rcache_monitor_active(rc)) {
		san__rcache_destroy(rc);
		cfg.monitor = SAN__MONITOR_EXTERNAL;
		monitor = "external (no userfaultfd)";
		if (san__rcache_create(&cfg, &stub_ops, NULL, &rc))
			return 1;
	}
	span = (size_t)2 * opt.buffers * 2 * PAGE;
	bufs = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bufs == MAP_FAILED)
		return 1;
	memset(bufs, 1, span);
	/* Warm: register every buffer once. */
	for (unsigned k = 0; k < 2 * opt.buffers; k++) {
		struct san_rcache_region *r;

		if (san__rcache_get(rc, bufs + (size_t)k * 2 * PAGE + 64, 1024, &r))
			return 1;
		san__rcache_put(rc, r);
	}
	for (size_t i = 0; i < SAN_ARRAY_SIZE(cases); i++) {
		unsigned nbuf = cases[i].nbuf ? cases[i].nbuf : opt.buffers;

		cases[i].ns = run_case(rc, bufs, cases[i].threads, nbuf, cases[i].shared);
	}
	miss_ns = run_misses(rc, bufs);

	if (opt.format == FMT_TABLE) {
		printf("registration cache hit, get+put (monitor: %s; %lu pairs per thread, "
		       "median of %u rounds, %u buffers)\n",
		       monitor, opt.iters, opt.rounds, opt.buffers);
		printf("%-10s %8s %14s %12s\n", "case", "threads", "ns/get+put", "Mpairs/s");
		for (size_t i = 0; i < SAN_ARRAY_SIZE(cases); i++)
			printf("%-10s %8u %14.1f %12.2f\n", cases[i].name, cases[i].threads,
			       cases[i].ns, cases[i].threads * 1e3 / cases[i].ns);
		printf("%-10s %8u %14.1f %12.2f   (for scale: the cache's own miss work)\n",
		       "miss", 1u, miss_ns, 1e3 / miss_ns);
	} else if (opt.format == FMT_CSV) {
		printf("case,threads,ns_per_get_put,mpairs_per_s\n");
		for (size_t i = 0; i < SAN_ARRAY_SIZE(cases); i++)
			printf("%s,%u,%.1f,%.2f\n", cases[i].name, cases[i].threads, cases[i].ns,
			       cases[i].threads * 1e3 / cases[i].ns);
		printf("miss,1,%.1f,%.2f\n", miss_ns, 1e3 / miss_ns);
	} else {
		printf("{\"monitor\":\"%s\",\"iters\":%lu,\"rounds\":%u,\"buffers\":%u,\"cases\":[",
		       monitor, opt.iters, opt.rounds, opt.buffers);
		for (size_t i = 0; i < SAN_ARRAY_SIZE(cases); i++)
			printf("%s{\"case\":\"%s\",\"threads\":%u,\"ns_per_get_put\":%.1f}",
			       i ? "," : "", cases[i].name, cases[i].threads, cases[i].ns);
		printf(",{\"case\":\"miss\",\"threads\":1,\"ns_per_get_put\":%.1f}]}\n", miss_ns);
	}
	munmap(bufs, span);
	san__rcache_destroy(rc);
	return 0;
}
