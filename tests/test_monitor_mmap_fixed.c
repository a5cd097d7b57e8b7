/* SPDX-License-Identifier: MIT */
/*
 * mmap(MAP_FIXED) over a cached range replaces the mapping without a
 * munmap call; the registration is dropped all the same.
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
	p = map_anon(8 * PG);

	stamp(p, 1);
	old = cache_it(rc, p, 8 * PG);
	CHECK(mmap(p, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		   0) == p);
	stamp(p, 2);
	expect_fresh(rc, &m, p, 8 * PG, old, 2);

	/* Over one page in the middle. */
	old = touch(rc, p, 8 * PG);
	CHECK(mmap(p + 3 * PG, PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p + 3 * PG);
	stamp(p + 3 * PG, 3);
	expect_fresh(rc, &m, p + 3 * PG, PG, old, 3);
	mock_fini(&m);
	munmap(p, 8 * PG);
	san_test_check_leaks();
	return 0;
}
