/* SPDX-License-Identifier: MIT */
/*
 * Hazard, the heap shrinking: free of a heap block and malloc_trim(0), which
 * lowers the break (brk) and/or gives free heap pages back with madvise;
 * malloc returns the same block with new pages (R2.2). Without glibc's heap
 * (sanitizer builds) the break is moved by hand with brk().
 * Both sides (local: send / RDMA-write source and receive / RDMA-read sink;
 * remote: the peer's RDMA-write target and RDMA-read source) deregister,
 * trim, malloc again: the new bytes move.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_TRIM, HZ_DEREG);
}
