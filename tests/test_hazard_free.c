/* SPDX-License-Identifier: MIT */
/*
 * Hazard, free() of a large malloc block (glibc: munmap); malloc of the same
 * size returns the same address with new pages (R2.2). The block is not
 * page aligned: the registration covers its pages.
 * Both sides (local: send / RDMA-write source and receive / RDMA-read sink;
 * remote: the peer's RDMA-write target and RDMA-read source) deregister,
 * free, malloc again: the new bytes move.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

SAN_TEST_ASAN_NO_QUARANTINE /* free() must give the block back at once */

int main(void)
{
	return hz_main(HZ_FREE, HZ_DEREG);
}
