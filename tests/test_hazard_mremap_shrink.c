/* SPDX-License-Identifier: MIT */
/*
 * Hazard, mremap shrinking a buffer to half: the tail is unmapped (R2.2).
 * Both sides (local: send / RDMA-write source and receive / RDMA-read sink;
 * remote: the peer's RDMA-write target and RDMA-read source) deregister,
 * shrink, map new memory over the old tail and register the whole buffer
 * again: the new bytes move.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_MREMAP_SHRINK, HZ_DEREG);
}
