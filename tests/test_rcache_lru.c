/* SPDX-License-Identifier: MIT */
/*
 * Limits: the cache holds at most max_regions regions and max_bytes bytes.
 * To make room it evicts unused regions, least recently used first; it
 * never evicts a region in use, and a registration that cannot fit is
 * served uncached (unpinned at its put) rather than failing.
 */
#include "test_rcache_mock.h"

static void regions_limit(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc = mock_cache(&m, 1, SAN__MONITOR_EXTERNAL, 3, 1ull << 30);
	uint8_t *buf = map_anon(16 * PG);
	struct mock_mr *a, *b, *c, *d, *e, *f;
	struct san_rcache_region *hd, *he, *hf, *g;
	struct san_stats st;

#define AT(i) (buf + (i) * 2 * PG)
	a = touch(rc, AT(0), PG);
	b = touch(rc, AT(1), PG);
	c = touch(rc, AT(2), PG);
	CHECK(touch(rc, AT(0), PG) == a); /* A is now the most recent */
	d = touch(rc, AT(3), PG);         /* evicts B */
	CHECK(!atomic_load(&b->live) && atomic_load(&a->live) && atomic_load(&c->live));
	st = mock_stats(rc);
	CHECK(st.evictions == 1 && st.cached_regions == 3);
	e = touch(rc, AT(4), PG); /* evicts C */
	CHECK(!atomic_load(&c->live) && atomic_load(&a->live));
	f = touch(rc, AT(5), PG); /* evicts A */
	CHECK(!atomic_load(&a->live) && atomic_load(&d->live));
	st = mock_stats(rc);
	CHECK(st.evictions == 3 && st.cached_regions == 3);

	/* A hit refreshes: D, E, F cached; touch D, then a new one evicts E. */
	CHECK(touch(rc, AT(3), PG) == d);
	touch(rc, AT(6), PG);
	CHECK(!atomic_load(&e->live) && atomic_load(&d->live) && atomic_load(&f->live));

	/* All three in use: a fourth cannot be cached and nothing is evicted. */
	hd = get_ok(rc, AT(3), PG);
	hf = get_ok(rc, AT(5), PG);
	he = get_ok(rc, AT(6), PG);
	st = mock_stats(rc);
	g = get_ok(rc, AT(7), PG);
	CHECK(!san__rcache_region_cached(g));
	CHECK(mock_stats(rc).evictions == st.evictions);
	e = MR(g);
	san__rcache_put(rc, g);
	CHECK(!atomic_load(&e->live)); /* uncached: unpinned at its put */
	san__rcache_put(rc, hd);
	san__rcache_put(rc, he);
	san__rcache_put(rc, hf);
	st = mock_stats(rc);
	CHECK(st.cached_regions == 3);
#undef AT
	mock_fini(&m);
	munmap(buf, 16 * PG);
}

static void bytes_limit(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc = mock_cache(&m, 1, SAN__MONITOR_EXTERNAL, 100, 4 * PG);
	uint8_t *buf = map_anon(32 * PG);
	struct mock_mr *x, *y, *z;
	struct san_rcache_region *big;
	struct san_stats st;

	x = touch(rc, buf, 2 * PG);
	y = touch(rc, buf + 4 * PG, 2 * PG);
	z = touch(rc, buf + 8 * PG, PG); /* 5 pages > 4: evicts X */
	CHECK(!atomic_load(&x->live) && atomic_load(&y->live) && atomic_load(&z->live));
	st = mock_stats(rc);
	CHECK(st.evictions == 1 && st.cached_regions == 2 && st.pinned_bytes == 3 * PG);

	/* Larger than the whole limit: served uncached, nothing evicted. */
	big = get_ok(rc, buf + 16 * PG, 5 * PG);
	CHECK(!san__rcache_region_cached(big));
	st = mock_stats(rc);
	CHECK(st.evictions == 1 && st.cached_regions == 2);
	san__rcache_put(rc, big);
	CHECK(mock_stats(rc).pinned_bytes == 3 * PG);

	/* Exactly the limit: evicts both. */
	touch(rc, buf + 20 * PG, 4 * PG);
	CHECK(!atomic_load(&y->live) && !atomic_load(&z->live));
	st = mock_stats(rc);
	CHECK(st.evictions == 3 && st.cached_regions == 1 && st.pinned_bytes == 4 * PG);
	mock_fini(&m);
	munmap(buf, 32 * PG);
}

/* Many regions, random use, against a model of exact LRU. */
static void random_order(void)
{
	enum { N = 64, LIMIT = 16 };
	struct mock m = { 0 };
	struct san_rcache *rc = mock_cache(&m, 1, SAN__MONITOR_EXTERNAL, LIMIT, 1ull << 30);
	uint8_t *buf = map_anon(2 * N * PG);
	uint64_t last[N] = { 0 }, clock = 0;
	int in[N] = { 0 }, n = 0;
	struct mock_mr *mr[N] = { 0 };
	unsigned seed = 1;

	for (int it = 0; it < 5000; it++) {
		int i = (int)(rand_r(&seed) % N), lru = -1;
		uint64_t regs = atomic_load(&m.regs);
		struct mock_mr *got = touch(rc, buf + 2 * i * PG, PG);

		if (in[i]) {
			CHECK(got == mr[i] && atomic_load(&m.regs) == regs); /* hit */
		} else {
			CHECK(atomic_load(&m.regs) == regs + 1); /* miss */
			if (n == LIMIT) {
				for (int j = 0; j < N; j++)
					if (in[j] && (lru < 0 || last[j] < last[lru]))
						lru = j;
				in[lru] = 0;
				n--;
			}
			in[i] = 1;
			n++;
			mr[i] = got;
		}
		last[i] = ++clock;
		for (int j = 0; j < N; j++)
			if (mr[j])
				CHECK(atomic_load(&mr[j]->live) == in[j]);
	}
	CHECK(mock_stats(rc).cached_regions == LIMIT);
	mock_fini(&m);
	munmap(buf, 2 * N * PG);
}

int main(void)
{
	san_test_start(30);
	regions_limit();
	bytes_limit();
	random_order();
	san_test_check_leaks();
	return 0;
}
