/* SPDX-License-Identifier: MIT */
/*
 * Fault (leak): memory the application has deregistered and freed does not
 * stay pinned. A 64 MiB buffer is registered, carries a send, and then:
 *   a. local registration: deregistered, then munmapped;
 *   b. RDMA registration: deregistered, then munmapped;
 *   c. local registration: munmapped while registered, then deregistered.
 * Then, in each case, the pins of the freed buffer must be gone once the
 * application goes on using the library (here: ten registrations and
 * deregistrations of another buffer and a send from it), and should be
 * gone within a second even with no call at all (the monitor has seen the
 * munmap; nothing can use those pages again). The test fails on the first
 * and prints a note on the second.
 *
 * Why it matters: pinned pages of freed memory are unreclaimable. If they
 * stay pinned until the socket closes, a long-lived connection that cycles
 * large buffers holds up to 64 parked registrations (of any size) per
 * socket, beyond the cache's byte limit, and an unprivileged process runs
 * into RLIMIT_MEMLOCK with nothing in use.
 * SAN_TEST_TRANSPORTS
 */
#include "fault.h"

#define LEN (64 * MIB)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *in = xt_map(LEN);
	san_handle h = xt_reg(s, in, LEN, SAN_MEM_WRITE);

	for (int i = 0; i < 3; i++) {
		xt_recv(s, in, LEN, h, XT_CTX(i + 1));
		xt_expect(s, XT_CTX(i + 1), SAN_OP_RECV, 0, LEN);
		CHECK(fault_verify("peer: message", in, LEN, 30 + (uint64_t)i));
		xt_recv(s, in, LEN, h, XT_CTX(i + 11));
		xt_expect(s, XT_CTX(i + 11), SAN_OP_RECV, 0, MIB);
	}
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(in, LEN);
	return 0;
}

/* Waits up to 1 s for VmPin to be back at want; returns what it saw. */
static long settle(long want)
{
	long long end = xt_now_ms() + 1000;
	long pin;

	while ((pin = san_test_vmpin_kb()) != want && xt_now_ms() < end)
		xt_sleep_ms(10);
	return pin;
}

int main(void)
{
	static const char *what[3] = {
		"local: deregistered, then freed",
		"RDMA: deregistered, then freed",
		"local: freed while registered, then deregistered",
	};
	san_provider *p;
	san_socket *s;
	uint8_t *other = xt_map(MIB);
	long pin0;
	int ctl, bad = 0;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	/* The other buffer's own pins (parked, cached) belong to the baseline. */
	CHECK_OK(san_deregister_memory(s, xt_reg(s, other, MIB, SAN_MEM_READ)));
	pin0 = san_test_vmpin_kb();
	for (int i = 0; i < 3; i++) {
		uint8_t *b = xt_map(LEN);
		struct san_rdma_desc d;
		san_handle h = 0;
		long pin, idle;

		fault_fill(b, LEN, 30 + (uint64_t)i);
		if (i == 1)
			d = xt_rreg(s, b, LEN, SAN_MEM_READ);
		else
			h = xt_reg(s, b, LEN, SAN_MEM_READ);
		xt_send(s, b, LEN, h, XT_CTX(i + 1));
		xt_expect(s, XT_CTX(i + 1), SAN_OP_SEND, 0, LEN);
		CHECK(san_test_vmpin_kb() >= pin0 + (long)(LEN / 1024));
		if (i == 0)
			CHECK_OK(san_deregister_memory(s, h));
		if (i == 1)
			CHECK_OK(san_deregister_rdma_memory(s, &d));
		xt_unmap(b, LEN);
		if (i == 2)
			CHECK_OK(san_deregister_memory(s, h));
		idle = settle(pin0);
		for (int k = 0; k < 10; k++) {
			san_handle ho = xt_reg(s, other, MIB, SAN_MEM_READ);

			if (k == 9) {
				xt_send(s, other, MIB, ho, XT_CTX(10 + i));
				xt_expect(s, XT_CTX(10 + i), SAN_OP_SEND, 0, MIB);
			}
			CHECK_OK(san_deregister_memory(s, ho));
		}
		pin = settle(pin0);
		printf("%s: VmPin %ld kB after 1 s idle, %ld kB after 10 more registrations; "
		       "%ld kB before\n",
		       what[i], idle, pin, pin0);
		if (pin != pin0) {
			fprintf(stderr, "%s: %ld kB of freed memory still pinned after further use "
					"of the library\n",
				what[i], pin - pin0);
			bad = 1;
			/* Let go (the stats flush stale parked registrations),
			 * so that the next case starts clean. */
			{
				struct san_stats st;

				CHECK_OK(san_get_stats(p, &st));
			}
			CHECK(settle(pin0) == pin0);
		} else if (idle != pin0) {
			printf("note: %s: the pins went only at the next call into the library, not "
			       "when the memory was freed\n",
			       what[i]);
		}
	}
	san_test_sync(ctl, "end");
	xt_teardown(p, s);
	xt_unmap(other, MIB);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return bad;
}
