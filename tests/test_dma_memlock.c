/* SPDX-License-Identifier: MIT */
/*
 * Pools respect RLIMIT_MEMLOCK (R3.2): as an ordinary user (root first
 * becomes a fresh uid with no capabilities, as test_fault_memlock does)
 * with a limit of 3 MiB, a pool chunk that does not fit fails with -ENOMEM,
 * leaves nothing mapped or pinned, and does not crash; allocations that
 * fit still work, and once they are freed the room is there again.
 */
#include "xtest.h"

#include <sys/resource.h>

int main(void)
{
	struct san_dma a, b, big;
	struct san_dma_stats st;
	struct rlimit rl = { 3 << 20, 3 << 20 };
	san_provider *p;
	long pin0;

	san_test_start(60);
	san_test_become_unprivileged();
	CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);
	san_test_mark();
	p = san_test_provider();
	pin0 = san_test_vmpin_kb();

	for (int i = 0; i < 3; i++) {
		CHECK_RC(san_dma_alloc(p, 8 << 20, &big), -ENOMEM);
		CHECK(san_test_vmpin_kb() == pin0);
		CHECK_OK(san_dma_query(p, &st));
		CHECK(st.chunks == 0 && st.allocs == 0);
	}
	/* One 2 MiB chunk fits (the rings are charged to the limit too). */
	CHECK_OK(san_dma_alloc(p, 4096, &a));
	CHECK_OK(san_dma_alloc(p, 8192, &b));
	memset(a.addr, 1, 4096);
	CHECK_RC(san_dma_alloc(p, 2 << 20, &big), -ENOMEM);
	CHECK_OK(san_dma_query(p, &st));
	CHECK(st.chunks == 1 && st.allocs == 2);
	san_dma_free(p, &a);
	san_dma_free(p, &b);
	san_provider_close(p);
	/* The room is back: a new provider gets its chunk again. */
	p = san_test_provider();
	CHECK_OK(san_dma_alloc(p, 4096, &a));
	san_dma_free(p, &a);
	san_provider_close(p);
	san_test_check_leaks();
	return 0;
}
