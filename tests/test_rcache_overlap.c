/* SPDX-License-Identifier: MIT */
/*
 * Overlap policy (docs/rcache.md): a request that overlaps cached regions
 * without being covered by one is registered as the union (a merge); the
 * regions it overlaps leave the cache, unregistered at once if unused, at
 * their holder's put otherwise. Regions that only touch are not merged.
 * If the union cannot be registered, the request alone is, and still
 * displaces what it overlaps (the cache never holds overlapping regions).
 */
#include "test_rcache_mock.h"

static size_t range_len(struct san_rcache_region *r, uintptr_t *base)
{
	size_t len;

	san__rcache_region_range(r, base, &len);
	return len;
}

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	struct san_rcache_region *a, *u;
	struct mock_mr *ma, *mb, *mu;
	struct san_stats st;
	uint8_t *buf;
	uintptr_t base;

	san_test_start(30);
	rc = mock_cache(&m, 1, SAN__MONITOR_EXTERNAL, 4096, 1ull << 30);
	buf = map_anon(32 * PG);

	/* A = pages 0-3 (held), B = pages 8-11 (unused). */
	a = get_ok(rc, buf, 4 * PG);
	ma = MR(a);
	mb = touch(rc, buf + 8 * PG, 4 * PG);
	/* Pages 2-9 overlap both: the new region is pages 0-11. */
	u = get_ok(rc, buf + 2 * PG, 8 * PG);
	mu = MR(u);
	CHECK(range_len(u, &base) == 12 * PG && base == (uintptr_t)buf);
	CHECK(mu->base == (uintptr_t)buf && mu->len == 12 * PG);
	CHECK(!atomic_load(&mb->live));          /* unused: unregistered now */
	CHECK(atomic_load(&ma->live));           /* held: still registered */
	CHECK(!san__rcache_region_cached(a));    /* ... but out of the cache */
	CHECK(san__rcache_region_cached(u));
	st = mock_stats(rc);
	CHECK(st.cached_regions == 1 && st.pinned_bytes == 16 * PG);
	san__rcache_put(rc, a);
	CHECK(!atomic_load(&ma->live));
	san__rcache_put(rc, u);
	st = mock_stats(rc);
	CHECK(st.pinned_bytes == 12 * PG && st.evictions == 0 && st.invalidations == 0);

	/* Everything inside the union hits it now. */
	CHECK(touch(rc, buf + 5 * PG, 10) == mu);
	CHECK(touch(rc, buf, 12 * PG) == mu);

	/* Touching, not overlapping: pages 12-13 get a region of their own. */
	CHECK(touch(rc, buf + 12 * PG, 2 * PG) != mu);
	CHECK(atomic_load(&mu->live));
	st = mock_stats(rc);
	CHECK(st.cached_regions == 2);

	/* The union fails (here: injected -EFAULT), the request alone works and
	 * displaces both regions it overlaps (pages 11-12). */
	atomic_store(&m.fail_err, -EFAULT);
	atomic_store(&m.fail_n, 1);
	u = get_ok(rc, buf + 11 * PG, 2 * PG);
	CHECK(range_len(u, &base) == 2 * PG && base == (uintptr_t)buf + 11 * PG);
	CHECK(san__rcache_region_cached(u));
	CHECK(!atomic_load(&mu->live));
	st = mock_stats(rc);
	CHECK(st.cached_regions == 1);
	san__rcache_put(rc, u);

	/* The same failure for the request itself is the caller's error. */
	atomic_store(&m.fail_err, -EFAULT);
	atomic_store(&m.fail_n, 2);
	CHECK_RC(san__rcache_get(rc, buf + 10 * PG, 2 * PG, &u), -EFAULT);
	mock_fini(&m);
	munmap(buf, 32 * PG);
	san_test_check_leaks();
	return 0;
}
