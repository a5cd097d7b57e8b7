/* SPDX-License-Identifier: MIT */
/*
 * Hazard, heap shrink (free + malloc_trim, or brk) under a registered
 * heap block (R2.4).
 * The application releases memory that is STILL REGISTERED (local handle;
 * RDMA descriptor on the remote side),
 * then mallocs the block again: the old registration moves nothing.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_TRIM, HZ_NODEREG);
}
