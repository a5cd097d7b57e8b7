/* SPDX-License-Identifier: MIT */
/*
 * Hazard, munmap of the whole buffer (R2.2, R2.4, R2.8).
 * Both sides (local: send / RDMA-write source and receive / RDMA-read sink;
 * remote: the peer's RDMA-write target and RDMA-read source) deregister,
 * munmap, map new memory at the same address (MAP_FIXED_NOREPLACE), fill it
 * and register again: only the new bytes move, the old pages are unpinned.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_MUNMAP, HZ_DEREG);
}
