/* SPDX-License-Identifier: MIT */
/*
 * Hazard, munmap of part of a buffer: the middle half (R2.2, R2.4).
 * Both sides (local: send / RDMA-write source and receive / RDMA-read sink;
 * remote: the peer's RDMA-write target and RDMA-read source) deregister,
 * unmap the middle half, map new memory there and register the whole
 * buffer again: the new bytes move (the whole old registration is gone).
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_MUNMAP_PARTIAL, HZ_DEREG);
}
