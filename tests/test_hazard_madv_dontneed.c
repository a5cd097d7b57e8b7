/* SPDX-License-Identifier: MIT */
/*
 * Hazard, madvise(MADV_DONTNEED): the same mapping, new zero pages on the
 * next touch (R2.2).
 * Both sides (local: send / RDMA-write source and receive / RDMA-read sink;
 * remote: the peer's RDMA-write target and RDMA-read source) deregister,
 * drop the pages, fill the new ones: the new bytes move.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_MADV_DONTNEED, HZ_DEREG);
}
