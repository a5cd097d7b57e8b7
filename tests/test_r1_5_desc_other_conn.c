/* SPDX-License-Identifier: MIT */
/*
 * R1.3 / R1.5: a descriptor is valid only on the connection it was
 * registered on. The same two processes hold two connections; a descriptor
 * of connection 1 used over connection 2 (and the other way round)
 * completes at the peer with -EACCES and leaves the memory untouched, while
 * each descriptor works on its own connection. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define RLEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_socket *s1 = san_test_connect_peer(p, ctl);
	san_socket *s2 = san_test_connect_peer(p, ctl);
	uint8_t *r1 = xt_map(RLEN), *r2 = xt_map(RLEN);
	struct san_rdma_desc d1 = xt_rreg(s1, r1, RLEN, SAN_MEM_READWRITE);
	struct san_rdma_desc d2 = xt_rreg(s2, r2, RLEN, SAN_MEM_READWRITE);

	xt_send_desc(ctl, &d1);
	xt_send_desc(ctl, &d2);
	san_test_sync(ctl, "refused");
	CHECK(xt_same_byte("connection 1 memory", r1, RLEN, 0));
	CHECK(xt_same_byte("connection 2 memory", r2, RLEN, 0));
	san_test_sync(ctl, "checked");
	san_test_sync(ctl, "end");
	CHECK(san_test_verify(r1, 1000, 61) && xt_all(r1 + 1000, RLEN - 1000, 0));
	CHECK(san_test_verify(r2, 2000, 62) && xt_all(r2 + 2000, RLEN - 2000, 0));

	CHECK_OK(san_deregister_rdma_memory(s1, &d1));
	CHECK_OK(san_deregister_rdma_memory(s2, &d2));
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2));
	san_provider_close(p);
	xt_unmap(r1, RLEN);
	xt_unmap(r2, RLEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s1, *s2;
	uint8_t *b1, *b2;
	san_handle h1, h2;
	struct san_rdma_desc d1, d2;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s1 = san_test_accept_peer(p, ctl);
	s2 = san_test_accept_peer(p, ctl);
	d1 = xt_recv_desc(ctl);
	d2 = xt_recv_desc(ctl);
	b1 = xt_map(RLEN);
	b2 = xt_map(RLEN);
	h1 = xt_reg(s1, b1, RLEN, SAN_MEM_READWRITE);
	h2 = xt_reg(s2, b2, RLEN, SAN_MEM_READWRITE);
	san_test_fill(b1, RLEN, 60);
	san_test_fill(b2, RLEN, 60);

	/* The wrong connection: refused, both ways. */
	xt_rdma_write(s2, b2, 1000, h2, &d1, 0, -EACCES);
	xt_rdma_read(s2, b2, 1000, h2, &d1, 0, -EACCES);
	xt_rdma_write(s1, b1, 2000, h1, &d2, 0, -EACCES);
	xt_rdma_read(s1, b1, 2000, h1, &d2, 0, -EACCES);
	CHECK(san_test_verify(b1, RLEN, 60) && san_test_verify(b2, RLEN, 60));
	san_test_sync(ctl, "refused");
	san_test_sync(ctl, "checked");

	/* The right connection: works (each connection kept serving). */
	san_test_fill(b1, 1000, 61);
	xt_rdma_write(s1, b1, 1000, h1, &d1, 0, 0);
	san_test_fill(b2, 2000, 62);
	xt_rdma_write(s2, b2, 2000, h2, &d2, 0, 0);
	memset(b1, 0xee, RLEN);
	xt_rdma_read(s1, b1, 1000, h1, &d1, 0, 0);
	CHECK(san_test_verify(b1, 1000, 61));
	san_test_sync(ctl, "end");

	xt_expect_idle(s1);
	xt_expect_idle(s2);
	CHECK_OK(san_deregister_memory(s1, h1));
	CHECK_OK(san_deregister_memory(s2, h2));
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(b1, RLEN);
	xt_unmap(b2, RLEN);
	return 0;
}
