/* SPDX-License-Identifier: MIT */
/*
 * Hazard, mmap(MAP_FIXED) over a buffer: new memory replaces it in one call
 * (R2.2).
 * Both sides (local: send / RDMA-write source and receive / RDMA-read sink;
 * remote: the peer's RDMA-write target and RDMA-read source) deregister,
 * map over it, fill: the new bytes move.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_MMAP_FIXED, HZ_DEREG);
}
