/* SPDX-License-Identifier: MIT */
/*
 * Several threads get and put at once: one range all of them share, one
 * range each, and a pool they pick from at random. Without invalidations
 * every range is pinned exactly once and everything else is a hit. With a
 * thread invalidating pool ranges meanwhile, every get still returns a live
 * registration covering its range, and every registration is unregistered
 * exactly once (the mock checks) by the end.
 */
#include "test_rcache_mock.h"

#include "util/util.h"

enum { THREADS = 4, POOL = 32, ITERS = 100000 };

static struct mock g_m;
static struct san_rcache *g_rc;
static uint8_t *g_buf; /* shared page 0, own pages 2.., pool after */
static _Atomic int g_stop;

static uint8_t *own(int t)
{
	return g_buf + (size_t)(2 + 2 * t) * PG;
}

static uint8_t *pool(int i)
{
	return g_buf + (size_t)(2 + 2 * THREADS + 2 * i) * PG;
}

static void *worker(void *arg)
{
	int t = (int)(uintptr_t)arg;
	unsigned seed = (unsigned)t + 1;

	for (int i = 0; i < ITERS; i++) {
		struct san_rcache_region *a = get_ok(g_rc, g_buf + (unsigned)i % PG, 100);
		struct san_rcache_region *b = get_ok(g_rc, own(t), PG);
		struct san_rcache_region *c = get_ok(g_rc, pool((int)(rand_r(&seed) % POOL)), PG);

		san__rcache_put(g_rc, c);
		san__rcache_put(g_rc, b);
		san__rcache_put(g_rc, a);
	}
	return NULL;
}

static void *invalidator(void *arg)
{
	unsigned seed = 99;

	(void)arg;
	while (!atomic_load(&g_stop)) {
		CHECK(san__rcache_invalidate(g_rc, pool((int)(rand_r(&seed) % POOL)), PG) >= 0);
		if (rand_r(&seed) % 8 == 0)
			CHECK(san__rcache_flush(g_rc) >= 0);
		usleep(50);
	}
	return NULL;
}

static void run(int with_invalidator)
{
	pthread_t t[THREADS], inv;
	struct san_stats st;

	g_m = (struct mock){ 0 };
	g_rc = mock_cache(&g_m, 1, SAN__MONITOR_EXTERNAL, 4096, 1ull << 30);
	atomic_store(&g_stop, 0);
	if (with_invalidator)
		CHECK(pthread_create(&inv, NULL, invalidator, NULL) == 0);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) == 0);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	atomic_store(&g_stop, 1);
	if (with_invalidator)
		CHECK(pthread_join(inv, NULL) == 0);

	st = mock_stats(g_rc);
	CHECK(st.reg_hits + st.reg_misses == 3ull * THREADS * ITERS);
	CHECK(st.pins == st.reg_misses && st.pins == atomic_load(&g_m.regs));
	if (!with_invalidator) {
		/* Only first gets miss: a range's first get can race in every
		 * thread that uses it (the shared one and each pool range: all
		 * THREADS; an own range: one), and nothing is ever evicted. The
		 * old bound (37 + 8) assumed little racing; under ASan and load
		 * in CI the threads raced more. */
		CHECK(st.reg_misses <= (uint64_t)THREADS * (1 + POOL) + THREADS);
		CHECK(st.cached_regions == 1 + THREADS + POOL);
		CHECK(st.unpins == st.pins - st.cached_regions);
	} else {
		CHECK(st.invalidations > 0);
	}
	printf("%s: hits %llu misses %llu invalidations %llu\n",
	       with_invalidator ? "with invalidations" : "hits only",
	       (unsigned long long)st.reg_hits, (unsigned long long)st.reg_misses,
	       (unsigned long long)st.invalidations);
	mock_fini(&g_m);
}

int main(void)
{
	san_test_start(120);
	g_buf = map_anon((size_t)(2 + 2 * THREADS + 2 * POOL) * PG);
	run(0);
	run(1);
	munmap(g_buf, (size_t)(2 + 2 * THREADS + 2 * POOL) * PG);
	san_test_check_leaks();
	return 0;
}
