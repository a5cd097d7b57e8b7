/* SPDX-License-Identifier: MIT */
/*
 * R2.4 through the explicit entry point (san_invalidate): every cached
 * region overlapping the range is dropped; unused ones are unregistered at
 * once, ones in use are marked stale (no longer found) and unregistered at
 * their last put. An invalidation that lands while a miss is pinning the
 * same range keeps that registration out of the cache. Flush (R2.5) drops
 * every unused region and keeps the ones in use.
 */
#include "test_rcache_mock.h"

static uint8_t *g_inv_at;

/* Runs inside mem_reg: an invalidation while the miss is pinning. */
static void invalidate_during_pin(struct mock *m, void *addr, size_t len)
{
	if ((uint8_t *)addr <= g_inv_at && g_inv_at < (uint8_t *)addr + len)
		CHECK_RC(san__rcache_invalidate(m->rc, g_inv_at, 1), 0);
}

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	struct san_rcache_region *hb, *r;
	struct mock_mr *a, *b, *c, *d;
	struct san_stats st;
	uint8_t *buf;

	san_test_start(30);
	rc = mock_cache(&m, 1, SAN__MONITOR_EXTERNAL, 4096, 1ull << 30);
	buf = map_anon(64 * PG);

	a = touch(rc, buf, 2 * PG);
	hb = get_ok(rc, buf + 4 * PG, 2 * PG);
	b = MR(hb);
	c = touch(rc, buf + 10 * PG, PG);
	/* One byte in A's last page to one byte in B's first page. */
	CHECK_RC(san__rcache_invalidate(rc, buf + 2 * PG - 1, 2 * PG + 2), 2);
	CHECK(!atomic_load(&a->live));
	CHECK(atomic_load(&b->live) && !san__rcache_region_cached(hb));
	CHECK(atomic_load(&c->live));
	st = mock_stats(rc);
	CHECK(st.invalidations == 2 && st.cached_regions == 1);
	/* The stale region is not found again: a new registration. */
	r = get_ok(rc, buf + 4 * PG, PG);
	CHECK(MR(r) != b);
	san__rcache_put(rc, r);
	san__rcache_put(rc, hb);
	CHECK(!atomic_load(&b->live));
	/* Nothing there. */
	CHECK_RC(san__rcache_invalidate(rc, buf + 20 * PG, 4 * PG), 0);
	CHECK_RC(san__rcache_invalidate(rc, buf + 11 * PG, 1), 0); /* touches C's end only */
	CHECK(atomic_load(&c->live));

	/* Invalidated while pinning: served, but not cached. */
	g_inv_at = buf + 30 * PG;
	m.on_reg = invalidate_during_pin;
	r = get_ok(rc, buf + 30 * PG, PG);
	m.on_reg = NULL;
	CHECK(!san__rcache_region_cached(r));
	d = MR(r);
	san__rcache_put(rc, r);
	CHECK(!atomic_load(&d->live));
	CHECK(touch(rc, buf + 30 * PG, PG) != d); /* now cached normally */
	CHECK(touch(rc, buf + 30 * PG, PG) == touch(rc, buf + 30 * PG, PG));

	/* Flush: unused regions go, the one in use stays cached. */
	r = get_ok(rc, buf + 40 * PG, PG);
	st = mock_stats(rc);
	CHECK(st.cached_regions == 4);
	CHECK_RC(san__rcache_flush(rc), 3);
	CHECK(!atomic_load(&c->live));
	CHECK(san__rcache_region_cached(r) && atomic_load(&MR(r)->live));
	san__rcache_put(rc, r);
	st = mock_stats(rc);
	CHECK(st.cached_regions == 1 && st.pinned_bytes == PG);
	CHECK_RC(san__rcache_flush(rc), 1);
	st = mock_stats(rc);
	CHECK(st.cached_regions == 0 && st.pinned_bytes == 0 && st.pins == st.unpins);
	CHECK(st.evictions == 0);
	mock_fini(&m);
	munmap(buf, 64 * PG);
	san_test_check_leaks();
	return 0;
}
