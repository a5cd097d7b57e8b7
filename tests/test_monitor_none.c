/* SPDX-License-Identifier: MIT */
/*
 * SAN_MONITOR=none: nothing watches the mappings, so nothing may be cached
 * (a cached registration could go stale unseen). Every get is a miss and
 * every put unpins, even for ranges used again and again.
 */
#include "test_rcache_mock.h"

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	struct san_rcache_region *r;
	struct san_stats st;
	uint8_t *buf;

	san_test_start(30);
	rc = mock_cache(&m, 1, SAN_MONITOR_NONE, 4096, 1ull << 30);
	CHECK(!san__rcache_monitor_active(rc));
	buf = map_anon(8 * PG);

	for (int i = 0; i < 20; i++) {
		r = get_ok(rc, buf + (i % 4) * PG, PG);
		CHECK(!san__rcache_region_cached(r));
		san__rcache_put(rc, r);
		CHECK(atomic_load(&m.deregs) == atomic_load(&m.regs));
	}
	st = mock_stats(rc);
	CHECK(st.reg_hits == 0 && st.reg_misses == 20 && st.pins == 20 && st.unpins == 20);
	CHECK(st.cached_regions == 0 && st.pinned_bytes == 0);
	mock_fini(&m);
	munmap(buf, 8 * PG);
	san_test_check_leaks();
	return 0;
}
