/* SPDX-License-Identifier: MIT */
/*
 * Hazard, madvise(MADV_DONTNEED) of a registered buffer (R2.4).
 * The application releases memory that is STILL REGISTERED (local handle;
 * RDMA descriptor on the remote side),
 * then writes into the new zero pages: the old registration moves nothing.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_MADV_DONTNEED, HZ_NODEREG);
}
