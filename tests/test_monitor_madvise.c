/* SPDX-License-Identifier: MIT */
/*
 * madvise(MADV_DONTNEED) and madvise(MADV_FREE) on part of a cached range
 * drop the registration (the process gets fresh pages at that address);
 * the next get is a miss that sees the new contents.
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
	CHECK(madvise(p, PG, MADV_DONTNEED) == 0);
	CHECK(*(volatile uint64_t *)p == 0); /* a new zero page */
	stamp(p, 2);
	expect_fresh(rc, &m, p, 8 * PG, old, 2);

	/* DONTNEED of a page that is not the first one. */
	old = touch(rc, p, 8 * PG);
	CHECK(madvise(p + 5 * PG, PG, MADV_DONTNEED) == 0);
	stamp(p + 5 * PG, 3);
	expect_fresh(rc, &m, p + 5 * PG, PG, old, 3);

	/* MADV_FREE. */
	old = touch(rc, p, 8 * PG);
	if (madvise(p, 8 * PG, MADV_FREE) == 0) {
		stamp(p, 4);
		expect_fresh(rc, &m, p, 8 * PG, old, 4);
	} else {
		CHECK(errno == EINVAL); /* a kernel before 4.5 */
	}
	mock_fini(&m);
	munmap(p, 8 * PG);
	san_test_check_leaks();
	return 0;
}
