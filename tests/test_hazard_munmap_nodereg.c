/* SPDX-License-Identifier: MIT */
/*
 * Hazard, munmap of a registered buffer (R2.4, R2.8).
 * The application releases memory that is STILL REGISTERED (local handle;
 * RDMA descriptor on the remote side),
 * then maps new memory there: the old registration moves nothing (-EFAULT
 * locally, -EACCES for the peer), a new one moves the new bytes.
 * See tests/hazard.h for the steps and checks. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

int main(void)
{
	return hz_main(HZ_MUNMAP, HZ_NODEREG);
}
