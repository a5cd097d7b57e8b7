/* SPDX-License-Identifier: MIT */
/*
 * Hazard, shmdt of a SysV segment, another segment attached at the same
 * address (R2.2). SysV memory is registered uncached (docs/rcache.md §5).
 * Both sides (local: send / RDMA-write source and receive / RDMA-read sink;
 * remote: the peer's RDMA-write target and RDMA-read source) deregister,
 * detach, attach a new segment there: the new bytes move.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_SHMDT, HZ_DEREG);
}
