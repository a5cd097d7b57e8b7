/* SPDX-License-Identifier: MIT */
/*
 * Out of pinnable memory: when mem_reg says -ENOMEM the cache evicts
 * unused regions (LRU first) and retries; it returns -ENOMEM only when it
 * has nothing left to evict. -ENOSPC (no NIC slot) is handled the same
 * way. Other errors are returned as they are, evicting nothing.
 */
#include "test_rcache_mock.h"

int main(void)
{
	struct mock m = { .limit_bytes = 4 * PG };
	struct san_rcache *rc;
	struct san_rcache_region *hb, *hc, *r;
	struct mock_mr *a, *b, *c;
	struct san_stats st;
	uint8_t *buf;

	san_test_start(30);
	rc = mock_cache(&m, 1, SAN__MONITOR_EXTERNAL, 4096, 1ull << 30);
	buf = map_anon(32 * PG);

	a = touch(rc, buf, 2 * PG);
	b = touch(rc, buf + 4 * PG, 2 * PG);
	/* 6 pages > 4: ENOMEM, evict A (least recent), retry. */
	c = touch(rc, buf + 8 * PG, 2 * PG);
	CHECK(!atomic_load(&a->live) && atomic_load(&b->live) && atomic_load(&c->live));
	st = mock_stats(rc);
	CHECK(st.evictions == 1 && st.pins == 3 && st.cached_regions == 2);

	/* Both in use: nothing to evict, so -ENOMEM. */
	hb = get_ok(rc, buf + 4 * PG, PG);
	hc = get_ok(rc, buf + 8 * PG, PG);
	CHECK_RC(san__rcache_get(rc, buf + 12 * PG, PG, &r), -ENOMEM);
	CHECK(atomic_load(&b->live) && atomic_load(&c->live));
	san__rcache_put(rc, hb);
	san__rcache_put(rc, hc);

	/* Needs more than the whole limit: evicts everything, then -ENOMEM. */
	CHECK_RC(san__rcache_get(rc, buf + 16 * PG, 5 * PG, &r), -ENOMEM);
	CHECK(!atomic_load(&b->live) && !atomic_load(&c->live));
	st = mock_stats(rc);
	CHECK(st.evictions == 3 && st.cached_regions == 0 && st.pinned_bytes == 0);

	/* -ENOSPC: evict one region and retry. */
	a = touch(rc, buf, PG);
	b = touch(rc, buf + 2 * PG, PG);
	atomic_store(&m.fail_err, -ENOSPC);
	atomic_store(&m.fail_n, 1);
	c = touch(rc, buf + 4 * PG, PG);
	CHECK(!atomic_load(&a->live) && atomic_load(&b->live) && atomic_load(&c->live));
	CHECK(mock_stats(rc).evictions == 4);

	/* -EFAULT, -EOPNOTSUPP: returned, nothing evicted. */
	atomic_store(&m.fail_err, -EOPNOTSUPP);
	atomic_store(&m.fail_n, 1);
	CHECK_RC(san__rcache_get(rc, buf + 20 * PG, PG, &r), -EOPNOTSUPP);
	CHECK(atomic_load(&b->live) && atomic_load(&c->live));
	CHECK(mock_stats(rc).evictions == 4);

	/* Without a cache there is nothing to evict: -ENOMEM at once. */
	mock_fini(&m);
	m = (struct mock){ .limit_bytes = PG };
	rc = mock_cache(&m, 0, SAN__MONITOR_EXTERNAL, 4096, 1ull << 30);
	r = get_ok(rc, buf, PG);
	CHECK_RC(san__rcache_get(rc, buf + 2 * PG, PG, &hb), -ENOMEM);
	san__rcache_put(rc, r);
	mock_fini(&m);
	munmap(buf, 32 * PG);
	san_test_check_leaks();
	return 0;
}
