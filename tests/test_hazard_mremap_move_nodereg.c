/* SPDX-License-Identifier: MIT */
/*
 * Hazard, mremap moves the pages of a registered buffer away (R2.4).
 * The application releases memory that is STILL REGISTERED (local handle;
 * RDMA descriptor on the remote side),
 * and maps new memory at the old address: the old registration (the moved
 * pages) moves nothing.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_MREMAP_MOVE, HZ_NODEREG);
}
