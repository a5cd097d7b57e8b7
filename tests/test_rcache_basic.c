/* SPDX-License-Identifier: MIT */
/*
 * R2.1, R2.3: the first get of a range pins (a miss), the last put leaves
 * it pinned in the cache (lazy deregistration), a later get of it or of
 * any range inside its pages is a hit that pins nothing, and the counters
 * say so. Page granularity: the region covers whole pages.
 */
#include "test_rcache_mock.h"

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	struct san_rcache_region *r, *r2, *r3;
	struct san_stats st;
	struct mock_mr *mr;
	uint8_t *buf;
	uintptr_t base;
	size_t len;

	san_test_start(30);
	rc = mock_cache(&m, 1, SAN__MONITOR_EXTERNAL, 4096, 1ull << 30);
	CHECK(san__rcache_monitor_active(rc));
	buf = map_anon(16 * PG);
	stamp(buf, 7);

	/* Miss: [buf+100, buf+5100) is pages 0 and 1. */
	r = get_ok(rc, buf + 100, 5000);
	mr = MR(r);
	san__rcache_region_range(r, &base, &len);
	CHECK(base == (uintptr_t)buf && len == 2 * PG);
	CHECK(mr->base == base && mr->len == len && mr->word == 7);
	CHECK(san__rcache_region_cached(r));
	st = mock_stats(rc);
	CHECK(st.reg_misses == 1 && st.reg_hits == 0 && st.pins == 1 && st.unpins == 0);
	CHECK(st.cached_regions == 1 && st.pinned_bytes == 2 * PG);

	/* Lazy deregistration: the put unpins nothing. */
	san__rcache_put(rc, r);
	CHECK(atomic_load(&m.deregs) == 0 && atomic_load(&mr->live));
	st = mock_stats(rc);
	CHECK(st.cached_regions == 1 && st.pinned_bytes == 2 * PG && st.unpins == 0);

	/* Hits: the same range, the whole pages, a byte inside, held twice. */
	r = get_ok(rc, buf + 100, 5000);
	r2 = get_ok(rc, buf, 2 * PG);
	r3 = get_ok(rc, buf + PG + 17, 1);
	CHECK(MR(r) == mr && MR(r2) == mr && MR(r3) == mr);
	CHECK(atomic_load(&m.regs) == 1);
	st = mock_stats(rc);
	CHECK(st.reg_hits == 3 && st.reg_misses == 1 && st.pins == 1);
	san__rcache_put(rc, r);
	san__rcache_put(rc, r2);
	san__rcache_put(rc, r3);
	CHECK(atomic_load(&m.deregs) == 0);

	/* One byte more than the cached pages: not covered, a miss. */
	r = get_ok(rc, buf, 2 * PG + 1);
	CHECK(MR(r) != mr);
	san__rcache_put(rc, r);
	st = mock_stats(rc);
	CHECK(st.reg_misses == 2 && st.pins == 2);

	/* A separate range: its own region. */
	touch(rc, buf + 8 * PG, PG);
	st = mock_stats(rc);
	CHECK(st.cached_regions == 2 && st.reg_misses == 3);

	/* Bad arguments. */
	CHECK_RC(san__rcache_get(rc, buf, 0, &r), -EINVAL);
	CHECK_RC(san__rcache_get(rc, (void *)(UINTPTR_MAX - 10), 100, &r), -EINVAL);
	CHECK_RC(san__rcache_invalidate(rc, buf, 0), -EINVAL);
	/* Unmapped memory: mem_reg's -EFAULT comes back, nothing is counted. */
	CHECK_RC(san__rcache_get(rc, (void *)(uintptr_t)PG, PG, &r), -EFAULT);
	st = mock_stats(rc);
	CHECK(st.reg_misses == 3 && st.pins == 3);

	/* Destroy unregisters what is cached. */
	mock_fini(&m);
	munmap(buf, 16 * PG);
	san_test_check_leaks();
	return 0;
}
