/* SPDX-License-Identifier: MIT */
/*
 * R1.5: memory RDMA-registered read-only cannot be written through the
 * registration, memory registered write-only cannot be read: the peer's
 * RDMA write to a READ registration and its RDMA read of a WRITE
 * registration complete at the peer with -EACCES, the memory untouched; the
 * granted direction works. Rights are checked before bounds (protocol.md
 * §4), so an out-of-bounds access without the right is -EACCES too.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define RLEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *ro = xt_map(RLEN), *wo = xt_map(RLEN);
	struct san_rdma_desc dro, dwo;

	san_test_fill(ro, RLEN, 100);
	san_test_fill(wo, RLEN, 102);
	dro = xt_rreg(s, ro, RLEN, SAN_MEM_READ);
	dwo = xt_rreg(s, wo, RLEN, SAN_MEM_WRITE);
	xt_send_desc(ctl, &dro);
	xt_send_desc(ctl, &dwo);
	san_test_sync(ctl, "end");
	CHECK(san_test_verify(ro, RLEN, 100));
	CHECK(san_test_verify(wo, 10, 102));
	CHECK(san_test_verify(wo + 10, 5000, 101));
	{
		uint8_t *want = malloc(RLEN);

		CHECK(want);
		san_test_fill(want, RLEN, 102);
		CHECK(memcmp(wo + 5010, want + 5010, RLEN - 5010) == 0);
		free(want);
	}
	CHECK_OK(san_deregister_rdma_memory(s, &dro));
	CHECK_OK(san_deregister_rdma_memory(s, &dwo));
	xt_teardown(p, s);
	xt_unmap(ro, RLEN);
	xt_unmap(wo, RLEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *buf;
	san_handle h;
	struct san_rdma_desc dro, dwo;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	dro = xt_recv_desc(ctl);
	dwo = xt_recv_desc(ctl);
	buf = xt_map(RLEN);
	h = xt_reg(s, buf, RLEN, SAN_MEM_READWRITE);

	/* READ registration: readable, not writable. */
	xt_rdma_read(s, buf, RLEN, h, &dro, 0, 0);
	CHECK(san_test_verify(buf, RLEN, 100));
	san_test_fill(buf, RLEN, 109);
	xt_rdma_write(s, buf, RLEN, h, &dro, 0, -EACCES);
	xt_rdma_write(s, buf, 1, h, &dro, 77, -EACCES);
	xt_rdma_write(s, buf, 100, h, &dro, RLEN, -EACCES); /* rights before bounds */

	/* WRITE registration: writable, not readable. */
	xt_rdma_read(s, buf, 100, h, &dwo, 0, -EACCES);
	xt_rdma_read(s, buf, 1, h, &dwo, RLEN - 1, -EACCES);
	xt_rdma_read(s, buf, 100, h, &dwo, RLEN, -EACCES); /* rights before bounds */
	CHECK(san_test_verify(buf, RLEN, 109));
	san_test_fill(buf, 5000, 101);
	xt_rdma_write(s, buf, 5000, h, &dwo, 10, 0);

	/* Still serving after the refusals. */
	xt_rdma_read(s, buf, 4096, h, &dro, 4096, 0);
	{
		uint8_t *want = malloc(RLEN);

		CHECK(want);
		san_test_fill(want, RLEN, 100);
		CHECK(memcmp(buf, want + 4096, 4096) == 0);
		free(want);
	}
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, RLEN);
	return 0;
}
