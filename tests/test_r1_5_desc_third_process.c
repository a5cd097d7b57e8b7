/* SPDX-License-Identifier: MIT */
/*
 * R1.5: RDMA-registered memory is usable only by the registering process
 * and the peer connected on that socket. A registers memory for its peer B;
 * a third process C, connected to A on its own socket and handed the very
 * same descriptor, is refused (-EACCES at C) and A's memory is untouched,
 * while B uses the descriptor normally. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define RLEN (64 * 1024)

static int peer_b(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *buf = xt_map(RLEN);
	san_handle h = xt_reg(s, buf, RLEN, SAN_MEM_READWRITE);
	struct san_rdma_desc d = xt_recv_desc(ctl);

	san_test_sync(ctl, "c-refused");
	xt_rdma_read(s, buf, RLEN, h, &d, 0, 0);
	CHECK(san_test_verify(buf, RLEN, 70));
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(buf, RLEN);
	return 0;
}

static int peer_c(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *buf = xt_map(RLEN);
	san_handle h = xt_reg(s, buf, RLEN, SAN_MEM_READWRITE);
	struct san_rdma_desc d = xt_recv_desc(ctl);

	san_test_fill(buf, RLEN, 71);
	xt_rdma_write(s, buf, RLEN, h, &d, 0, -EACCES);
	xt_rdma_write(s, buf, 1, h, &d, 0, -EACCES);
	xt_rdma_read(s, buf, RLEN, h, &d, 0, -EACCES);
	CHECK(san_test_verify(buf, RLEN, 71));
	san_test_sync(ctl, "c-refused");
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(buf, RLEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *sb, *sc;
	uint8_t *r;
	struct san_rdma_desc d;
	int ctlb, ctlc;
	pid_t pidb, pidc;

	san_test_start(60);
	pidb = xt_fork(peer_b, NULL, &ctlb);
	pidc = xt_fork(peer_c, NULL, &ctlc);
	p = san_test_provider();
	sb = san_test_accept_peer(p, ctlb);
	sc = san_test_accept_peer(p, ctlc);
	r = xt_map(RLEN);
	san_test_fill(r, RLEN, 70);
	d = xt_rreg(sb, r, RLEN, SAN_MEM_READWRITE);
	xt_send_desc(ctlb, &d);
	xt_send_desc(ctlc, &d);

	san_test_sync(ctlc, "c-refused");
	CHECK(san_test_verify(r, RLEN, 70));
	san_test_sync(ctlb, "c-refused");
	san_test_sync(ctlb, "end");
	san_test_sync(ctlc, "end");

	CHECK_OK(san_deregister_rdma_memory(sb, &d));
	CHECK_OK(san_close(sb));
	CHECK_OK(san_close(sc));
	san_provider_close(p);
	san_test_wait(pidb, ctlb);
	san_test_wait(pidc, ctlc);
	san_test_check_leaks();
	xt_unmap(r, RLEN);
	return 0;
}
