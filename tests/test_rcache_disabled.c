/* SPDX-License-Identifier: MIT */
/*
 * SAN_RCACHE=0: nothing is cached. Every get pins, every put unpins at
 * once, and it all still works (also with several holders of one range).
 */
#include "test_rcache_mock.h"

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	struct san_rcache_region *a, *b;
	struct san_stats st;
	uint8_t *buf;

	san_test_start(30);
	rc = mock_cache(&m, 0, SAN__MONITOR_EXTERNAL, 4096, 1ull << 30);
	CHECK(!san__rcache_monitor_active(rc));
	buf = map_anon(4 * PG);

	for (int i = 0; i < 10; i++) {
		a = get_ok(rc, buf, 4 * PG);
		CHECK(!san__rcache_region_cached(a));
		CHECK(atomic_load(&m.regs) == (uint64_t)i + 1);
		san__rcache_put(rc, a);
		CHECK(atomic_load(&m.deregs) == (uint64_t)i + 1);
	}
	a = get_ok(rc, buf, PG);
	b = get_ok(rc, buf, PG);
	CHECK(MR(a) != MR(b));
	san__rcache_put(rc, a);
	CHECK(atomic_load(&MR(b)->live));
	san__rcache_put(rc, b);

	st = mock_stats(rc);
	CHECK(st.reg_hits == 0 && st.reg_misses == 12 && st.pins == 12 && st.unpins == 12);
	CHECK(st.cached_regions == 0 && st.pinned_bytes == 0);
	CHECK_RC(san__rcache_flush(rc), 0);
	CHECK_RC(san__rcache_invalidate(rc, buf, PG), 0);
	mock_fini(&m);
	munmap(buf, 4 * PG);
	san_test_check_leaks();
	return 0;
}
