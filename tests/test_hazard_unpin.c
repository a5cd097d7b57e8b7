/* SPDX-License-Identifier: MIT */
/*
 * Released memory is unpinned without the application asking (R2.4: the
 * provider "releases its hold on the range"; docs/rcache.md §2: the
 * monitor never unpins, the next miss, put, invalidate, flush or stats of
 * an application thread does). A buffer registered, used and deregistered
 * (so cached, and parked by its socket, §10) is unmapped; the application
 * then registers and deregisters OTHER memory (a miss) and never calls
 * san_get_stats: VmPin must drop by the released buffer's size. The same
 * for a buffer whose RDMA registration was deregistered (not parked).
 * VmPin is read from /proc only; the counters are looked at last, since
 * san_get_stats itself drops stale parked registrations.
 * SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

#define LEN (1024 * 1024)
#define OTHER (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *r = xt_map(LEN);
	san_handle h = xt_reg(s, r, LEN, SAN_MEM_WRITE);

	(void)arg;
	for (int i = 0; i < 2; i++) {
		xt_recv(s, r, LEN, h, XT_CTX(1));
		san_test_sync(ctl, "recv-posted");
		xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, LEN);
		hz_verify("message", r, LEN, 70 + (uint32_t)i, 0);
	}
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(r, LEN);
	return 0;
}

/* x: registered (local or RDMA), used, deregistered; then unmapped, and a
 * miss on other memory. VmPin: only `other` stays pinned (cached). */
static void one(san_socket *s, int ctl, int rdma, long v0)
{
	uint8_t *x = xt_map(LEN), *other = xt_map(OTHER);
	struct san_rdma_desc d;
	san_handle h;

	san_test_fill(x, LEN, 70 + (uint32_t)rdma);
	if (rdma) { /* sent by address through the RDMA registration */
		d = xt_rreg(s, x, LEN, SAN_MEM_READ);
		hz_a_send(s, ctl, x, LEN, 0);
		CHECK_OK(san_deregister_rdma_memory(s, &d));
	} else {
		h = xt_reg(s, x, LEN, SAN_MEM_READ);
		hz_a_send(s, ctl, x, LEN, h);
		CHECK_OK(san_deregister_memory(s, h));
	}
	xt_unmap(x, LEN);
	h = xt_reg(s, other, OTHER, SAN_MEM_READ); /* a miss: reaps (docs §2) */
	CHECK_OK(san_deregister_memory(s, h));
	hz_vmpin_is(v0 + (hz_caching() ? OTHER / 1024 : 0));
	xt_unmap(other, OTHER);
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	int ctl;
	pid_t pid;
	long v0;

	san_test_start(30);
	printf("unpinning released memory, caching %s, transport %s\n",
	       hz_caching() ? "on" : "off", san_test_transport());
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	hz_p_ = p;
	v0 = hz_vmpin_kb();
	hz_step_ = "a deregistered (parked) local registration, then munmap";
	one(s, ctl, 0, v0);
	hz_stats_pinned(p, 0);
	v0 = hz_vmpin_kb();
	hz_step_ = "a deregistered RDMA registration, then munmap";
	one(s, ctl, 1, v0);
	hz_stats_pinned(p, 0);
	san_test_sync(ctl, "end");
	xt_expect_idle(s);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
