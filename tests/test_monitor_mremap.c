/* SPDX-License-Identifier: MIT */
/*
 * mremap under a cached range: a move (explicit, or forced by growing
 * where there is no room), a shrink, and MREMAP_DONTUNMAP each drop the
 * registration of the old address; new memory there is a miss. Growing in
 * place changes nothing under the cached pages, and they stay a hit.
 */
#include "test_rcache_mock.h"

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	struct mock_mr *old;
	uint8_t *p, *q, *area;

	san_test_start(30);
	rc = mock_cache_uffd(&m);
	/* A playground: p at its start, free room behind it for growth. */
	area = map_anon(64 * PG);
	CHECK(munmap(area, 64 * PG) == 0);
	p = area;

	/* Move to another address. */
	map_at(p, 8 * PG);
	stamp(p, 1);
	old = cache_it(rc, p, 8 * PG);
	q = mremap(p, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, area + 32 * PG);
	CHECK(q == area + 32 * PG);
	map_at(p, 8 * PG);
	stamp(p, 2);
	expect_fresh(rc, &m, p, 8 * PG, old, 2);
	/* The moved pages keep their contents; their new address is new to us. */
	expect_fresh(rc, &m, q, 8 * PG, old, 1);
	CHECK(munmap(q, 8 * PG) == 0);

	/* Grow with no room (a guard page behind): the kernel moves it. */
	map_at(p + 8 * PG, PG);
	old = cache_it(rc, p, 8 * PG);
	q = mremap(p, 8 * PG, 16 * PG, MREMAP_MAYMOVE);
	CHECK(q != MAP_FAILED && q != p);
	map_at(p, 8 * PG);
	stamp(p, 3);
	expect_fresh(rc, &m, p, 8 * PG, old, 3);
	CHECK(munmap(q, 16 * PG) == 0);
	CHECK(munmap(p + 8 * PG, PG) == 0);

	/* Grow in place: the cached pages did not change; still a hit. */
	old = cache_it(rc, p, 8 * PG);
	CHECK(mremap(p, 8 * PG, 16 * PG, 0) == p);
	CHECK(touch(rc, p, 8 * PG) == old);

	/* Shrink: the tail is unmapped. */
	old = cache_it(rc, p, 16 * PG);
	CHECK(mremap(p, 16 * PG, 8 * PG, 0) == p);
	map_at(p + 8 * PG, 8 * PG);
	stamp(p + 8 * PG, 4);
	expect_fresh(rc, &m, p + 8 * PG, 8 * PG, old, 4);
	CHECK(munmap(p, 16 * PG) == 0);

	/* MREMAP_DONTUNMAP: the pages move away, the old range stays mapped
	 * but empty. */
	map_at(p, 8 * PG);
	stamp(p, 5);
	old = cache_it(rc, p, 8 * PG);
	q = mremap(p, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
	if (q == MAP_FAILED) {
		CHECK(errno == EINVAL); /* a kernel before 5.7 */
	} else {
		CHECK(*(volatile uint64_t *)p == 0);
		stamp(p, 6);
		expect_fresh(rc, &m, p, 8 * PG, old, 6);
		CHECK(munmap(q, 8 * PG) == 0);
	}
	CHECK(munmap(p, 8 * PG) == 0);
	mock_fini(&m);
	san_test_check_leaks();
	return 0;
}
