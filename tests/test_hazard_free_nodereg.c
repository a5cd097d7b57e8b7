/* SPDX-License-Identifier: MIT */
/*
 * Hazard, free() of a registered large malloc block (R2.4).
 * The application releases memory that is STILL REGISTERED (local handle;
 * RDMA descriptor on the remote side),
 * then mallocs the block again: the old registration moves nothing.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

SAN_TEST_ASAN_NO_QUARANTINE /* free() must give the block back at once */

int main(void)
{
	return hz_main(HZ_FREE, HZ_NODEREG);
}
