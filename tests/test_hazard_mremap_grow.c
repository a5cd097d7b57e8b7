/* SPDX-License-Identifier: MIT */
/*
 * Hazard, mremap growing a buffer to twice its size; a guard page behind it
 * makes the kernel move it (R2.2).
 * Both sides (local: send / RDMA-write source and receive / RDMA-read sink;
 * remote: the peer's RDMA-write target and RDMA-read source) deregister,
 * grow (moves), map new memory at the old address: the new bytes move.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_MREMAP_GROW, HZ_DEREG);
}
