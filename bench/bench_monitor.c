/* SPDX-License-Identifier: MIT */
/*
 * bench_monitor: what the memory monitor (userfaultfd) costs the memory
 * calls of an application, with a provider open against the same calls in
 * a process that has none.
 *
 * Two processes: this one opens a provider (its monitor thread watches
 * every cached range) and connects a socket to itself over loopback; a
 * child (this program exec'd again) never opens one. They take turns, round by
 * round (--rounds), so that load from elsewhere on the shared machine falls
 * on both alike.
 *
 *   munmap-cached   mmap --size (1 MiB), touch it; with the provider:
 *                   san_register_memory + san_deregister_memory (the
 *                   registration stays cached, watched); then time munmap.
 *                   The kernel holds the unmapping thread until the monitor
 *                   thread has read the event, so this pays one wake-up of
 *                   that thread (~20-25 us on this machine, see BASELINES).
 *                   Each munmap is timed on its own; median of all samples.
 *   mmap-munmap     mmap + munmap of memory the cache never saw, untouched;
 *   mmap-touch-munmap   the same with every page written between the two.
 *                   Timed in batches of --batch; median of the batch means.
 *                   Target of the issue: under 5 % over no provider.
 *
 * After the munmap-cached rounds the bench also reports what stays pinned
 * for memory already unmapped (VmPin of this process right after the last
 * munmap, and after san_get_stats), and checks with the provider's
 * counters that every munmap-cached really invalidated a cached region and
 * that the untouched memory never entered the cache.
 */
#include <san.h>

#include "bench.h"
#include "harness.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096ul
#define MAX_SIZES 8
#define MAX_SIZE (256u << 20)
#define MAX_ROUNDS 1001
#define MAX_CACHED_ITERS 1000
#define TARGET_RATIO 1.05

enum { FMT_TABLE, FMT_CSV, FMT_JSON };
enum { C_CACHED, C_UNTOUCHED, C_TOUCHED, NCASES, C_CACHED_REL = NCASES };
static const char *const case_name[NCASES + 1] = { "munmap-cached", "mmap-munmap",
						   "mmap-touch-munmap", "munmap-cached+unpin" };

static struct {
	size_t cached_size;
	size_t sizes[MAX_SIZES]; /* for the two untouched-by-the-cache cases */
	int nsizes;
	int rounds;            /* fresh-memory cases */
	int cached_rounds;
	unsigned cached_iters; /* munmap-cached samples per round */
	unsigned batch;        /* mmap+munmap pairs per batch (untouched) */
	unsigned touch_batch;  /* per batch (touched) */
	int format;
} o = {
	.cached_size = 1u << 20,
	.sizes = { 4u << 10, 1u << 20 },
	.nsizes = 2,
	.rounds = 301,
	.cached_rounds = 11,
	.cached_iters = 40,
	.batch = 200,
	.touch_batch = 4,
	.format = FMT_TABLE,
};

static char *map(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bench_die("mmap %zu bytes: %s", len, strerror(errno));
	return p;
}

/*
 * The measured mappings go to the same address in both processes, far
 * from anything else, so that neither merges them with a neighbouring
 * mapping (a merge makes the munmap split a VMA: a different, costlier
 * path). Without this the two processes' different layouts, not the
 * monitor, decide which one is faster.
 */
#define FRESH_HINT ((uintptr_t)0x3f0000000000ull)

static char *map_fresh(size_t len)
{
	char *p = mmap((void *)FRESH_HINT, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return map(len); /* taken or refused: anywhere */
	return p;
}

static void touch(char *p, size_t len)
{
	for (size_t i = 0; i < len; i += PAGE)
		((volatile char *)p)[i] = 1;
}

/* ==== the measured work, the same code in both processes ==== */

/* munmap of a touched region: s != NULL registers and deregisters it first
 * (it stays cached). Writes iters samples, ns each. With s, rel_out gets
 * munmap + the san_get_stats() after it: the pages are still pinned when
 * munmap returns (the socket holds the stale registration) and that call
 * is the one that lets go of them at once. */
static void run_cached(san_socket *s, size_t size, unsigned iters, double *ns_out,
		       double *rel_out)
{
	for (unsigned i = 0; i < iters; i++) {
		char *p = map_fresh(size);
		uint64_t t0;

		touch(p, size);
		if (s) {
			san_handle h;

			SAN_OK(san_register_memory(s, p, size, SAN_MEM_READWRITE, &h));
			SAN_OK(san_deregister_memory(s, h));
		}
		t0 = bench_now_ns();
		if (munmap(p, size))
			bench_die("munmap: %s", strerror(errno));
		ns_out[i] = (double)(bench_now_ns() - t0);
		if (s && rel_out) {
			struct san_stats st;

			SAN_OK(san_get_stats(san_socket_provider(s), &st));
			rel_out[i] = (double)(bench_now_ns() - t0);
		}
	}
}

/* count mmap + (touch) + munmap pairs of fresh memory; returns ns per pair. */
static double run_fresh(size_t size, unsigned count, int do_touch)
{
	uint64_t t0 = bench_now_ns();

	for (unsigned i = 0; i < count; i++) {
		char *p = map_fresh(size);

		if (do_touch)
			touch(p, size);
		if (munmap(p, size))
			bench_die("munmap: %s", strerror(errno));
	}
	return (double)(bench_now_ns() - t0) / count;
}

/* ==== the child: no provider, ever ==== */

struct cmd {
	uint32_t op; /* a case, or NCASES = quit */
	uint32_t count;
	uint64_t size;
};

static int bare_main(void *arg, int ctl)
{
	static double samples[MAX_CACHED_ITERS];

	(void)arg;
	for (;;) {
		struct cmd c;
		double v;

		san_test_ctl_recv(ctl, &c, sizeof(c));
		switch (c.op) {
		case C_CACHED:
			run_cached(NULL, c.size, c.count, samples, NULL);
			san_test_ctl_send(ctl, samples, c.count * sizeof(double));
			break;
		case C_UNTOUCHED:
		case C_TOUCHED:
			v = run_fresh(c.size, c.count, c.op == C_TOUCHED);
			san_test_ctl_send(ctl, &v, sizeof(v));
			break;
		default:
			return 0;
		}
	}
}

/*
 * The baseline process: this program again, exec'd, so that it starts as
 * a fresh process (a forked child would inherit our anonymous mappings and
 * their reverse-map chains, and a new mapping merged next to one of those
 * costs more to fault and unmap: the baseline would be slower than a real
 * process without a provider).
 */
static pid_t spawn_bare(int *ctl_out)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		bench_die("socketpair: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		char fd[16];

		close(sv[0]);
		snprintf(fd, sizeof(fd), "%d", sv[1]);
		execl("/proc/self/exe", "bench_monitor", "--bare-child", fd, (char *)NULL);
		fprintf(stderr, "bench_monitor: exec /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	*ctl_out = sv[0];
	return pid;
}

/* ==== this process: a provider with a socket to itself ==== */

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

struct row {
	int kind;
	size_t size;
	double with_ns, without_ns; /* medians */
	double q1, q3;              /* quartiles of the per-round ratios (fresh cases) */
	double inval_per_op;        /* cache invalidations per timed call */
};

static struct row rows[1 + 2 * MAX_SIZES];
static int nrows;
static long pin_after_munmap_kb = -1, pin_after_stats_kb = -1, pin_base_kb = -1;

static void run(void)
{
	static double with_s[64 * MAX_CACHED_ITERS], without_s[64 * MAX_CACHED_ITERS],
		rel_s[64 * MAX_CACHED_ITERS];
	san_provider *p;
	san_socket *s;
	struct acc a = { 0 };
	struct san_stats st0, st1;
	char addr[256];
	pthread_t t;
	int ctl;
	pid_t pid;
	char *keep;
	san_handle h;

	pid = spawn_bare(&ctl);

	SAN_OK(san_provider_open(NULL, &p));
	SAN_OK(san_listen(p, "tcp:127.0.0.1:0", &a.l));
	if (san_listener_addr(a.l, addr, sizeof(addr)) <= 0)
		bench_die("san_listener_addr failed");
	if (pthread_create(&t, NULL, accept_thread, &a))
		bench_die("pthread_create failed");
	SAN_OK(san_connect(p, addr, &s));
	pthread_join(t, NULL);
	SAN_OK(a.rc);
	san_listener_close(a.l);
	/* Something cached for the whole run, as in an application. */
	keep = map(o.cached_size);
	touch(keep, o.cached_size);
	SAN_OK(san_register_memory(s, keep, o.cached_size, SAN_MEM_READWRITE, &h));
	SAN_OK(san_deregister_memory(s, h));

	/* (a) munmap of a cached region. */
	{
		struct row *r = &rows[nrows++];
		struct cmd c = { .op = C_CACHED, .count = o.cached_iters, .size = o.cached_size };
		size_t n = 0, nrel = 0;

		r->kind = C_CACHED;
		r->size = o.cached_size;
		run_cached(s, o.cached_size, 4, with_s, NULL); /* warm-up */
		SAN_OK(san_get_stats(p, &st0));
		pin_base_kb = san_test_vmpin_kb();
		for (int rd = 0; rd < o.cached_rounds; rd++) {
			san_test_ctl_send(ctl, &c, sizeof(c));
			san_test_ctl_recv(ctl, without_s + n, c.count * sizeof(double));
			/* Every other round also times the release. */
			run_cached(s, o.cached_size, c.count, with_s + n, rd % 2 ? rel_s + nrel : NULL);
			n += c.count;
			nrel += rd % 2 ? c.count : 0;
		}
		pin_after_munmap_kb = san_test_vmpin_kb();
		SAN_OK(san_get_stats(p, &st1));
		pin_after_stats_kb = san_test_vmpin_kb();
		r->inval_per_op = (double)(st1.invalidations - st0.invalidations) / (double)n;
		rows[nrows] = *r;
		rows[nrows].kind = C_CACHED_REL;
		rows[nrows].with_ns = nrel ? bench_median(rel_s, nrel) : -1;
		rows[nrows].without_ns = bench_median(without_s, n); /* before the sort below */
		nrows++;
		r->with_ns = bench_median(with_s, n);
		r->without_ns = bench_median(without_s, n);
	}

	/* (b) memory the cache never saw. */
	for (int kind = C_UNTOUCHED; kind <= C_TOUCHED; kind++)
		for (int si = 0; si < o.nsizes; si++) {
			struct row *r = &rows[nrows++];
			unsigned count = kind == C_TOUCHED ? o.touch_batch : o.batch;
			struct cmd c = { .op = (uint32_t)kind, .count = count, .size = o.sizes[si] };
			static double w[MAX_ROUNDS], wo[MAX_ROUNDS], ratio[MAX_ROUNDS];

			/* Small touched sizes: more per batch, about the same time. */
			if (kind == C_TOUCHED && o.sizes[si] <= (64u << 10))
				c.count = count * 16;
			r->kind = kind;
			r->size = o.sizes[si];
			run_fresh(r->size, c.count / 4 + 1, kind == C_TOUCHED); /* warm-up */
			SAN_OK(san_get_stats(p, &st0));
			for (int rd = 0; rd < o.rounds; rd++) {
				san_test_ctl_send(ctl, &c, sizeof(c));
				san_test_ctl_recv(ctl, &wo[rd], sizeof(double));
				w[rd] = run_fresh(r->size, c.count, kind == C_TOUCHED);
				ratio[rd] = w[rd] / wo[rd];
			}
			bench_sort(ratio, (size_t)o.rounds);
			r->q1 = ratio[o.rounds / 4];
			r->q3 = ratio[(3 * o.rounds) / 4];
			SAN_OK(san_get_stats(p, &st1));
			r->with_ns = bench_median(w, (size_t)o.rounds);
			r->without_ns = bench_median(wo, (size_t)o.rounds);
			r->inval_per_op = (double)(st1.invalidations - st0.invalidations) /
					  ((double)c.count * o.rounds);
		}

	{
		struct cmd q = { .op = NCASES };

		san_test_ctl_send(ctl, &q, sizeof(q));
	}
	san_test_wait(pid, ctl);
	SAN_OK(san_close(s));
	san_provider_close(p);
	munmap(keep, o.cached_size);
}

/* ==== output ==== */

/* The fresh-memory cases have the target; the cached ones are
 * reported for what they cost. */
static int has_target(int kind)
{
	return kind == C_UNTOUCHED || kind == C_TOUCHED;
}

static void print_results(void)
{
	char sz[32];

	if (o.format == FMT_CSV) {
		printf("case,size,with_provider_us,without_provider_us,ratio,target,met,"
		       "invalidations_per_op,round_ratio_q1,round_ratio_q3\n");
		for (int i = 0; i < nrows; i++) {
			const struct row *r = &rows[i];
			double ratio = r->with_ns / r->without_ns;

			printf("%s,%zu,%.3f,%.3f,%.3f,", case_name[r->kind], r->size, r->with_ns / 1e3,
			       r->without_ns / 1e3, ratio);
			if (has_target(r->kind))
				printf("%.2f,%s,%.3f,%.3f,%.3f\n", TARGET_RATIO,
				       ratio < TARGET_RATIO ? "yes" : "no", r->inval_per_op, r->q1, r->q3);
			else
				printf(",,%.3f,,\n", r->inval_per_op);
		}
		return;
	}
	if (o.format == FMT_JSON) {
		printf("{\"rounds\":%d,\"cached_rounds\":%d,\"target_ratio\":%.2f,"
		       "\"vmpin_kb\":{\"before\":%ld,\"after_munmap\":%ld,\"after_stats\":%ld},"
		       "\"cases\":[",
		       o.rounds, o.cached_rounds, TARGET_RATIO, pin_base_kb, pin_after_munmap_kb,
		       pin_after_stats_kb);
		for (int i = 0; i < nrows; i++) {
			const struct row *r = &rows[i];
			double ratio = r->with_ns / r->without_ns;

			printf("%s{\"case\":\"%s\",\"size\":%zu,\"with_provider_us\":%.3f,"
			       "\"without_provider_us\":%.3f,\"ratio\":%.3f,\"invalidations_per_op\":%.3f",
			       i ? "," : "", case_name[r->kind], r->size, r->with_ns / 1e3,
			       r->without_ns / 1e3, ratio, r->inval_per_op);
			if (has_target(r->kind))
				printf(",\"met\":%s,\"round_ratio_q1\":%.3f,\"round_ratio_q3\":%.3f}",
				       ratio < TARGET_RATIO ? "true" : "false", r->q1, r->q3);
			else
				printf(",\"met\":null,\"round_ratio_q1\":null,\"round_ratio_q3\":null}");
		}
		printf("]}\n");
		return;
	}
	printf("memory monitor overhead: the same calls with a provider open (userfaultfd "
	       "monitor) and without\n(medians; munmap-cached: of %u x %d samples; others: of %d "
	       "alternating batches, with the quartiles of the per-round ratios)\n",
	       o.cached_iters, o.cached_rounds, o.rounds);
	printf("%-20s %8s %11s %11s %8s %6s %9s %13s\n", "case", "size", "with us", "without us",
	       "ratio", "<1.05", "inval/op", "ratio q1..q3");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		double ratio = r->with_ns / r->without_ns;

		printf("%-20s %8s %11.2f %11.2f %8.3f ", case_name[r->kind],
		       bench_size_str(r->size, sz, sizeof(sz)), r->with_ns / 1e3,
		       r->without_ns / 1e3, ratio);
		if (has_target(r->kind))
			printf("%6s %9.3f  %5.3f..%5.3f\n", ratio < TARGET_RATIO ? "yes" : "NO",
			       r->inval_per_op, r->q1, r->q3);
		else
			printf("%6s %9.3f %13s\n", "-", r->inval_per_op, "-");
	}
	printf("munmap-cached: the unmapping thread waits until the monitor thread has read the "
	       "event (a wake-up), but the pages are still pinned, so it does not free them;\n"
	       "munmap-cached+unpin adds the san_get_stats() after it, which drops the stale "
	       "registration the socket kept and unpins (frees) them. No target for either.\n");
	printf("VmPin: %ld kB before the munmap-cached rounds, %ld kB right after the last "
	       "munmap, %ld kB after san_get_stats\n",
	       pin_base_kb, pin_after_munmap_kb, pin_after_stats_kb);
	if (pin_after_munmap_kb > pin_after_stats_kb)
		printf("note: %ld kB stayed pinned for memory already unmapped, until a later "
		       "call released it\n",
		       pin_after_munmap_kb - pin_after_stats_kb);
}

/* ==== options ==== */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_monitor [options]\n"
		"  -S, --cached-size N   size of the cached region (default 1M)\n"
		"  -s, --sizes LIST      sizes for fresh memory, comma-separated (default 4K,1M)\n"
		"  -r, --rounds N        alternating rounds of fresh memory (default 301)\n"
		"  -R, --cached-rounds N alternating rounds of munmap-cached (default 11, 2..64)\n"
		"  -c, --cached-iters N  munmap-cached samples per round (default 40, max %d)\n"
		"  -b, --batch N         mmap+munmap pairs per batch, untouched (default 200)\n"
		"  -B, --touch-batch N   per batch, touched, sizes > 64K (x16 below; default 4)\n"
		"  -f, --format F        table (default), csv or json\n",
		MAX_CACHED_ITERS);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cached-size", 1, NULL, 'S' }, { "sizes", 1, NULL, 's' },
		{ "rounds", 1, NULL, 'r' },      { "cached-iters", 1, NULL, 'c' },
		{ "cached-rounds", 1, NULL, 'R' },
		{ "batch", 1, NULL, 'b' },       { "touch-batch", 1, NULL, 'B' },
		{ "format", 1, NULL, 'f' },      { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "S:s:r:R:c:b:B:f:h", lo, NULL)) != -1) {
		switch (c) {
		case 'S': o.cached_size = bench_size_arg(optarg, MAX_SIZE); break;
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
		case 'r': o.rounds = atoi(optarg); break;
		case 'R': o.cached_rounds = atoi(optarg); break;
		case 'c': o.cached_iters = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'b': o.batch = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'B': o.touch_batch = (unsigned)strtoul(optarg, NULL, 0); break;
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
	/* The release (munmap-cached+unpin) is timed in every other round. */
	if (o.cached_rounds < 2 || o.cached_rounds > 64)
		bench_die("bad --cached-rounds (2..64: the release is timed every other round)");
	if (o.rounds < 1 || o.rounds > MAX_ROUNDS || !o.cached_iters ||
	    o.cached_iters > MAX_CACHED_ITERS || !o.batch || !o.touch_batch)
		bench_die("bad --rounds (1..%d), --cached-iters (1..%d), --batch or --touch-batch",
			  MAX_ROUNDS, MAX_CACHED_ITERS);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--bare-child"))
		return bare_main(NULL, atoi(argv[2]));
	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	run();
	print_results();
	return 0;
}
