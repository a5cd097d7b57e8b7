/* SPDX-License-Identifier: MIT */
/*
 * Shared memory is never cached: its pages can change without any event
 * the monitor sees (another process punches a hole in or truncates the
 * file). So MAP_SHARED anonymous memory and memfd mappings are registered
 * privately on every get, and after madvise(MADV_REMOVE) frees the pages
 * the next get registers the new ones.
 */
#include "test_rcache_mock.h"

#include <sys/mman.h>

static void check_shared(struct san_rcache *rc, struct mock *m, uint8_t *p, size_t len)
{
	struct san_rcache_region *r;
	struct mock_mr *old;
	struct san_stats st0 = mock_stats(rc), st;

	stamp(p, 1);
	r = get_ok(rc, p, len);
	CHECK(!san__rcache_region_cached(r));
	old = MR(r);
	CHECK(old->word == 1);
	san__rcache_put(rc, r);
	CHECK(!atomic_load(&old->live)); /* unpinned at its put */
	st = mock_stats(rc);
	CHECK(st.reg_misses == st0.reg_misses + 1 && st.cached_regions == st0.cached_regions);

	/* Still not cached the second time. */
	old = touch(rc, p, len);
	CHECK(!atomic_load(&old->live));
	CHECK(madvise(p, len, MADV_REMOVE) == 0);
	CHECK(*(volatile uint64_t *)p == 0);
	stamp(p, 2);
	expect_fresh(rc, m, p, len, old, 2);
	st = mock_stats(rc);
	CHECK(st.reg_hits == st0.reg_hits && st.reg_misses == st0.reg_misses + 3);
}

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	uint8_t *p;
	int fd;

	san_test_start(30);
	rc = mock_cache_uffd(&m);

	p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	check_shared(rc, &m, p, 8 * PG);
	CHECK(munmap(p, 8 * PG) == 0);

	fd = memfd_create("san-test", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, 8 * PG) == 0);
	p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	check_shared(rc, &m, p, 8 * PG);
	CHECK(munmap(p, 8 * PG) == 0);
	close(fd);

	/* A private range next to a shared one: the union is not cacheable. */
	p = map_anon(16 * PG);
	CHECK(mmap(p + 8 * PG, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
		   -1, 0) == p + 8 * PG);
	{
		struct san_rcache_region *r = get_ok(rc, p, 16 * PG);

		CHECK(!san__rcache_region_cached(r));
		san__rcache_put(rc, r);
		r = get_ok(rc, p, 8 * PG); /* the private half alone is */
		CHECK(san__rcache_region_cached(r));
		san__rcache_put(rc, r);
	}
	CHECK(munmap(p, 16 * PG) == 0);
	mock_fini(&m);
	san_test_check_leaks();
	return 0;
}
