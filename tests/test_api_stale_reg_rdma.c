/* SPDX-License-Identifier: MIT */
/*
 * The stale-registration hazard for RDMA memory, cache off (SAN_RCACHE=0):
 * the target registers a buffer for its peer, deregisters it, unmaps it,
 * maps fresh memory at the same address with new bytes and registers it
 * again. The peer's RDMA read through the new descriptor returns the NEW
 * bytes, its RDMA write lands in the new pages, and the old descriptor is
 * refused (-EACCES). SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define LEN (256 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *x = san_test_map_apart(LEN), *x2, *want = malloc(LEN); /* harness.h */
	struct san_rdma_desc d1, d2;

	CHECK(want);
	san_test_fill(x, LEN, 270);
	d1 = xt_rreg(s, x, LEN, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &d1);
	san_test_sync(ctl, "read-1");
	CHECK_OK(san_deregister_rdma_memory(s, &d1));
	xt_unmap(x, LEN);
	x2 = san_test_map_at(x, LEN);
	CHECK(x2 == x);
	san_test_fill(x, LEN, 271);
	d2 = xt_rreg(s, x, LEN, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &d2);
	san_test_sync(ctl, "end");
	san_test_fill(want, LEN, 271);
	san_test_fill(want + 4096, 1000, 272);
	if (memcmp(x, want, LEN) != 0) {
		fprintf(stderr, "the new pages at %p do not hold what the peer wrote\n", (void *)x);
		return 1;
	}
	CHECK_OK(san_deregister_rdma_memory(s, &d2));
	xt_teardown(p, s);
	xt_unmap(x, LEN);
	free(want);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *buf;
	san_handle h;
	struct san_rdma_desc d1, d2;
	int ctl;
	pid_t pid;

	san_test_start(60);
	CHECK(setenv("SAN_RCACHE", "0", 1) == 0); /* before the fork: both sides */
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	buf = xt_map(LEN);
	h = xt_reg(s, buf, LEN, SAN_MEM_READWRITE);

	d1 = xt_recv_desc(ctl);
	xt_rdma_read(s, buf, LEN, h, &d1, 0, 0);
	CHECK(san_test_verify(buf, LEN, 270));
	san_test_sync(ctl, "read-1");

	d2 = xt_recv_desc(ctl);
	memset(buf, 0, LEN);
	xt_rdma_read(s, buf, LEN, h, &d2, 0, 0);
	if (!san_test_verify(buf, LEN, 271)) {
		fprintf(stderr, "RDMA read through the new descriptor returned %s bytes\n",
			san_test_verify(buf, LEN, 270) ? "the OLD (stale)" : "unexpected");
		return 1;
	}
	san_test_fill(buf, 1000, 272);
	xt_rdma_write(s, buf, 1000, h, &d2, 4096, 0);
	xt_rdma_write(s, buf, 1000, h, &d1, 0, -EACCES);
	xt_rdma_read(s, buf, 1000, h, &d1, 0, -EACCES);
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, LEN);
	return 0;
}
