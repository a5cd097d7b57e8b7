/* SPDX-License-Identifier: MIT */
/*
 * Fault: the peer is SIGKILLed in the middle of large RDMA writes (four of
 * 16, 32, 48 and 64 MiB in flight), in both directions: first the survivor
 * writes into the peer when it dies (its writes complete with 0 or
 * -ECONNRESET, at least one cut), then the peer writes into the survivor
 * and dies (the survivor's san_poll reports -ECONNRESET). After each kill
 * the survivor's socket refuses new work, closes cleanly, and VmPin, fds,
 * pinned bytes, RDMA keys and heap are back at their baseline; a new
 * connection on the same provider then transfers intact data. See
 * fault_kill_main() in fault.h. SAN_TEST_TRANSPORTS
 */
#include "fault.h"

int main(int argc, char **argv)
{
	return fault_kill_main(argc, argv, SAN_OP_RDMA_WRITE);
}
