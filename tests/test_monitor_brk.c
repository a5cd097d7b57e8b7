/* SPDX-License-Identifier: MIT */
/*
 * The heap shrinking: brk() lowering the break (what malloc_trim does to
 * the top of the main heap) unmaps the pages; malloc_trim also gives pages
 * in the middle of the heap back with madvise. Either way the cached
 * registration goes, and memory at that address later is a miss.
 */
#include "test_rcache_mock.h"

#include <malloc.h>

#define LEN (64 * PG)

static void raw_brk(struct san_rcache *rc, struct mock *m)
{
	uint8_t *top = sbrk(0), *p;
	struct mock_mr *old;

	CHECK(top != (void *)-1);
	p = (uint8_t *)(((uintptr_t)top + PG - 1) & ~(PG - 1));
	CHECK(brk(p + LEN) == 0);
	stamp(p, 1);
	old = cache_it(rc, p, LEN);
	CHECK(brk(p) == 0);     /* shrink: the pages are unmapped */
	CHECK(brk(p + LEN) == 0); /* grow again: new zero pages */
	CHECK(*(volatile uint64_t *)p == 0);
	stamp(p, 2);
	expect_fresh(rc, m, p, LEN, old, 2);
	CHECK(brk(top) == 0);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GLIBC_HEAP 0 /* the sanitizer's allocator replaces glibc's */
#else
#define GLIBC_HEAP 1
#endif

/* Free heap pages given back by malloc_trim. */
static void trim(struct san_rcache *rc, struct mock *m)
{
	uint8_t *a, *b, *guard, *pages;
	struct mock_mr *old;

	CHECK(mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024) == 1); /* keep it in the heap */
	CHECK(mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024) == 1); /* trim only when asked */
	a = malloc(4 * LEN);
	guard = malloc(64); /* keeps a from being the top chunk */
	CHECK(a && guard);
	pages = (uint8_t *)(((uintptr_t)a + 2 * PG) & ~(PG - 1));
	stamp(pages, 1);
	old = cache_it(rc, pages, LEN);
	free(a);
	CHECK(malloc_trim(0) == 1); /* madvise(MADV_DONTNEED) of the free pages */
	b = malloc(4 * LEN);      /* the same chunk again */
	CHECK(b == a);
	CHECK(*(volatile uint64_t *)pages == 0);
	stamp(pages, 2);
	expect_fresh(rc, m, pages, LEN, old, 2);
	free(b);
	free(guard);
}

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;

	san_test_start(30);
	rc = mock_cache_uffd(&m);
	raw_brk(rc, &m);
	if (GLIBC_HEAP)
		trim(rc, &m);
	else
		printf("malloc_trim part not run: the sanitizer's allocator is not glibc's\n");
	mock_fini(&m);
	san_test_check_leaks();
	return 0;
}
