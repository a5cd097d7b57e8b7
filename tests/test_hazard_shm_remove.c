/* SPDX-License-Identifier: MIT */
/*
 * Hazard, madvise(MADV_REMOVE) on shared memory (MAP_SHARED | MAP_ANONYMOUS):
 * a hole is punched, new pages appear on the next touch (R2.2). Shared
 * memory is registered uncached (docs/rcache.md §5): unpinned at once.
 * Both sides (local: send / RDMA-write source and receive / RDMA-read sink;
 * remote: the peer's RDMA-write target and RDMA-read source) deregister,
 * punch the hole, fill the new pages: the new bytes move.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_SHM_REMOVE, HZ_DEREG);
}
