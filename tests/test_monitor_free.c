/* SPDX-License-Identifier: MIT */
/*
 * free() of a large malloc block: glibc returns it with munmap. A block
 * of the same size mapped again at that address is a new registration.
 */
#include "test_rcache_mock.h"

#include <malloc.h>

#define LEN (1024 * 1024)

SAN_TEST_ASAN_NO_QUARANTINE /* free() must give the block back at once */

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	struct mock_mr *old;
	uint8_t *blk, *pages;

	san_test_start(30);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	CHECK(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1); /* sanitizers: harness.h */
#endif
	if (!san_test_free_unmaps(LEN))
		san_test_skip("free() keeps a freed 1 MiB block mapped here (ASan's quarantine "
			      "set by ASAN_OPTIONS?): nothing to observe");
	rc = mock_cache_uffd(&m);
	blk = malloc(LEN);
	CHECK(blk);
	pages = (uint8_t *)(((uintptr_t)blk + PG - 1) & ~(PG - 1));
	stamp(pages, 1);
	old = cache_it(rc, blk, LEN);
	free(blk);
	/* The block's own pages are gone: the address is free again. */
	map_at(pages, LEN - PG);
	stamp(pages, 2);
	expect_fresh(rc, &m, pages, LEN - PG, old, 2);
	CHECK(munmap(pages, LEN - PG) == 0);
	mock_fini(&m);
	san_test_check_leaks();
	return 0;
}
