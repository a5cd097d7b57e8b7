/* SPDX-License-Identifier: MIT */
/*
 * R1.4: after san_deregister_rdma_memory the descriptor stops working: the
 * peer's next RDMA write or read with it completes with -EACCES and the
 * memory is untouched; deregistering it again is -EINVAL; the connection
 * keeps serving, and registering the range again gives a new descriptor
 * that works while the old one stays dead. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define RLEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *r = xt_map(RLEN);
	struct san_rdma_desc d = xt_rreg(s, r, RLEN, SAN_MEM_READWRITE), d2;

	xt_send_desc(ctl, &d);
	san_test_sync(ctl, "written");
	CHECK(san_test_verify(r, 4096, 51) && xt_all(r + 4096, RLEN - 4096, 0));

	CHECK_OK(san_deregister_rdma_memory(s, &d));
	san_test_sync(ctl, "revoked");
	san_test_sync(ctl, "refused");
	CHECK(san_test_verify(r, 4096, 51) && xt_all(r + 4096, RLEN - 4096, 0));
	CHECK_RC(san_deregister_rdma_memory(s, &d), -EINVAL);

	d2 = xt_rreg(s, r, RLEN, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &d2);
	san_test_sync(ctl, "end");
	CHECK(san_test_verify(r, 4096, 51) && xt_all(r + 4096, RLEN - 4096, 0));
	CHECK_OK(san_deregister_rdma_memory(s, &d2));
	CHECK_RC(san_deregister_rdma_memory(s, &d2), -EINVAL);
	xt_teardown(p, s);
	xt_unmap(r, RLEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *buf;
	san_handle h;
	struct san_rdma_desc d, d2;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	d = xt_recv_desc(ctl);
	buf = xt_map(RLEN);
	h = xt_reg(s, buf, RLEN, SAN_MEM_READWRITE);

	san_test_fill(buf, 4096, 51);
	xt_rdma_write(s, buf, 4096, h, &d, 0, 0);
	san_test_sync(ctl, "written");

	san_test_sync(ctl, "revoked");
	san_test_fill(buf, RLEN, 52);
	xt_rdma_write(s, buf, 4096, h, &d, 0, -EACCES);
	xt_rdma_write(s, buf, 100, h, &d, 8192, -EACCES);
	xt_rdma_read(s, buf, 4096, h, &d, 0, -EACCES);
	san_test_sync(ctl, "refused");

	d2 = xt_recv_desc(ctl);
	memset(buf, 0, RLEN);
	xt_rdma_read(s, buf, RLEN, h, &d2, 0, 0);
	CHECK(san_test_verify(buf, 4096, 51) && xt_all(buf + 4096, RLEN - 4096, 0));
	san_test_fill(buf, RLEN, 53);
	xt_rdma_write(s, buf, RLEN, h, &d, 0, -EACCES);
	xt_rdma_read(s, buf, 10, h, &d, 0, -EACCES);
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, RLEN);
	return 0;
}
