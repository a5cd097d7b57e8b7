/* SPDX-License-Identifier: MIT */
/*
 * R2.2/R2.4 through the userfaultfd monitor: munmap of a cached range,
 * whole or in part, drops the registration. New memory mapped at the same
 * address afterwards gets a new registration (a miss), never the old one,
 * and the old one is unregistered.
 */
#include "test_rcache_mock.h"

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	struct mock_mr *old;
	uint8_t *p;

	san_test_start(30);
	rc = mock_cache_uffd(&m);

	/* Whole. */
	p = map_anon(16 * PG);
	stamp(p, 1);
	old = cache_it(rc, p, 16 * PG);
	CHECK(munmap(p, 16 * PG) == 0);
	map_at(p, 16 * PG);
	stamp(p, 2);
	expect_fresh(rc, &m, p, 16 * PG, old, 2);

	/* Two pages in the middle: the whole region goes. */
	old = cache_it(rc, p, 16 * PG);
	CHECK(munmap(p + 4 * PG, 2 * PG) == 0);
	map_at(p + 4 * PG, 2 * PG);
	stamp(p + 4 * PG, 3);
	expect_fresh(rc, &m, p + 4 * PG, 2 * PG, old, 3);

	/* Only the last page of a region. */
	old = cache_it(rc, p + 8 * PG, 8 * PG);
	stamp(p + 15 * PG, 4);
	CHECK(munmap(p + 15 * PG, PG) == 0);
	map_at(p + 15 * PG, PG);
	stamp(p + 15 * PG, 5);
	expect_fresh(rc, &m, p + 15 * PG, PG, old, 5);

	/* A munmap wider than the region. */
	old = cache_it(rc, p + 2 * PG, PG);
	CHECK(munmap(p, 16 * PG) == 0);
	map_at(p, 16 * PG);
	stamp(p + 2 * PG, 6);
	expect_fresh(rc, &m, p + 2 * PG, PG, old, 6);

	/* Unmapped and not mapped again: the registration fails. */
	old = cache_it(rc, p, PG);
	CHECK(munmap(p, 16 * PG) == 0);
	{
		struct san_rcache_region *r;

		CHECK_RC(san__rcache_get(rc, p, PG, &r), -EFAULT);
	}
	CHECK(!atomic_load(&old->live));
	CHECK(mock_stats(rc).invalidations >= 5);
	mock_fini(&m);
	san_test_check_leaks();
	return 0;
}
