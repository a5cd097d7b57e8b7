/* SPDX-License-Identifier: MIT */
/*
 * R1.5 / API.md: local rights are checked when an operation is posted. A
 * send or RDMA-write source needs READ, a receive or RDMA-read sink needs
 * WRITE; without it the post fails with -EACCES (explicit handle or handle
 * 0, single buffer or one bad element of a list) and no completion follows.
 * The granted directions work. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define LEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *r = xt_map(LEN), *io = xt_map(LEN);
	struct san_rdma_desc d = xt_rreg(s, r, LEN, SAN_MEM_READWRITE);
	san_handle h = xt_reg(s, io, LEN, SAN_MEM_READWRITE);

	san_test_fill(r, LEN, 110);
	xt_send_desc(ctl, &d);

	xt_recv(s, io, LEN, h, XT_CTX(1));
	san_test_sync(ctl, "b-recv-posted");
	xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, 1000);
	CHECK(san_test_verify(io, 1000, 111));

	san_test_sync(ctl, "a-recv-posted");
	san_test_fill(io, 2000, 112);
	xt_send(s, io, 2000, h, XT_CTX(2));
	xt_expect(s, XT_CTX(2), SAN_OP_SEND, 0, 2000);

	san_test_sync(ctl, "end");
	CHECK(san_test_verify(r, 3000, 113));
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(r, LEN);
	xt_unmap(io, LEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *ro, *wo;
	san_handle hr, hw;
	struct san_rdma_desc d;
	struct san_buf b, sg[2];
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	d = xt_recv_desc(ctl);
	ro = xt_map(LEN);
	wo = xt_map(LEN);
	hr = xt_reg(s, ro, LEN, SAN_MEM_READ);
	hw = xt_reg(s, wo, LEN, SAN_MEM_WRITE);
	san_test_fill(ro, LEN, 119);
	san_test_fill(wo, LEN, 118);

	/* Send / RDMA-write source from WRITE-only memory. */
	b = xt_buf(wo, 100, hw);
	CHECK_RC(san_send(s, &b, 1, XT_CTX(10)), -EACCES);
	CHECK_RC(san_rdma_write(s, &b, 1, &d, 0, XT_CTX(11)), -EACCES);
	b.handle = 0;
	CHECK_RC(san_send(s, &b, 1, XT_CTX(12)), -EACCES);
	CHECK_RC(san_rdma_write(s, &b, 1, &d, 0, XT_CTX(13)), -EACCES);

	/* Receive / RDMA-read sink into READ-only memory. */
	b = xt_buf(ro, 100, hr);
	CHECK_RC(san_recv(s, &b, 1, XT_CTX(20)), -EACCES);
	CHECK_RC(san_rdma_read(s, &b, 1, &d, 0, XT_CTX(21)), -EACCES);
	b.handle = 0;
	CHECK_RC(san_recv(s, &b, 1, XT_CTX(22)), -EACCES);
	CHECK_RC(san_rdma_read(s, &b, 1, &d, 0, XT_CTX(23)), -EACCES);

	/* One element without the right spoils the list. */
	sg[0] = xt_buf(ro, 100, hr);
	sg[1] = xt_buf(wo, 100, hw);
	CHECK_RC(san_send(s, sg, 2, XT_CTX(30)), -EACCES);
	CHECK_RC(san_rdma_write(s, sg, 2, &d, 0, XT_CTX(31)), -EACCES);
	sg[0] = xt_buf(wo, 100, hw);
	sg[1] = xt_buf(ro, 100, hr);
	CHECK_RC(san_recv(s, sg, 2, XT_CTX(32)), -EACCES);
	CHECK_RC(san_rdma_read(s, sg, 2, &d, 0, XT_CTX(33)), -EACCES);
	xt_expect_idle(s);
	CHECK(san_test_verify(ro, LEN, 119) && san_test_verify(wo, LEN, 118));

	/* The granted directions. */
	san_test_fill(ro, 1000, 111);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s, ro, 1000, hr, XT_CTX(1));
	xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, 1000);

	xt_recv(s, wo, LEN, hw, XT_CTX(2));
	san_test_sync(ctl, "a-recv-posted");
	xt_expect(s, XT_CTX(2), SAN_OP_RECV, 0, 2000);
	CHECK(san_test_verify(wo, 2000, 112));

	xt_rdma_read(s, wo, LEN, 0, &d, 0, 0);
	CHECK(san_test_verify(wo, LEN, 110));
	san_test_fill(ro, 3000, 113);
	xt_rdma_write(s, ro, 3000, 0, &d, 0, 0);
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, hr));
	CHECK_OK(san_deregister_memory(s, hw));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(ro, LEN);
	xt_unmap(wo, LEN);
	return 0;
}
