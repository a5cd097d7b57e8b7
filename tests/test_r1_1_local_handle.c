/* SPDX-License-Identifier: MIT */
/*
 * R1.1: a local registration's handle is usable, by the registering process,
 * as a send source, a posted receive's sink, the local source of an RDMA
 * write and the local sink of an RDMA read, also for a buffer that is only
 * part of the registered range. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define RLEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *rbuf = xt_map(RLEN), *sbuf = xt_map(RLEN), *in = xt_map(RLEN);
	struct san_rdma_desc d = xt_rreg(s, rbuf, RLEN, SAN_MEM_READWRITE);
	san_handle hs = xt_reg(s, sbuf, RLEN, SAN_MEM_READ);
	san_handle hi = xt_reg(s, in, RLEN, SAN_MEM_WRITE);

	memset(rbuf, 0, RLEN);
	xt_send_desc(ctl, &d);

	/* 1: A receives into its handle */
	san_test_sync(ctl, "recv-posted");
	san_test_fill(sbuf, 5000, 11);
	xt_send(s, sbuf, 5000, hs, XT_CTX(1));
	xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, 5000);

	/* 2: A sends from its handle */
	xt_recv(s, in, RLEN, hi, XT_CTX(2));
	san_test_sync(ctl, "b-recv-posted");
	xt_expect(s, XT_CTX(2), SAN_OP_RECV, 0, 5000);
	CHECK(san_test_verify(in, 5000, 12));

	/* 3: A RDMA-writes from its handle */
	san_test_sync(ctl, "written");
	CHECK(san_test_verify(rbuf + 64, 6000, 13));
	CHECK(xt_all(rbuf, 64, 0) && xt_all(rbuf + 64 + 6000, RLEN - 64 - 6000, 0));

	/* 4: A RDMA-reads into its handle */
	san_test_fill(rbuf, RLEN, 14);
	san_test_sync(ctl, "filled");
	san_test_sync(ctl, "end");

	CHECK_OK(san_deregister_rdma_memory(s, &d));
	CHECK_OK(san_deregister_memory(s, hs));
	CHECK_OK(san_deregister_memory(s, hi));
	xt_teardown(p, s);
	xt_unmap(rbuf, RLEN);
	xt_unmap(sbuf, RLEN);
	xt_unmap(in, RLEN);
	return 0;
}

int main(void)
{
	size_t pg = xt_page(), len = RLEN + pg;
	san_provider *p;
	san_socket *s;
	uint8_t *src, *sink, *wsrc, *rsink;
	san_handle hsrc, hsink, hwsrc, hrsink;
	struct san_rdma_desc d;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	d = xt_recv_desc(ctl);

	src = xt_map(len);
	sink = xt_map(len);
	wsrc = xt_map(len);
	rsink = xt_map(len);
	hsrc = xt_reg(s, src, len, SAN_MEM_READ);
	hsink = xt_reg(s, sink, len, SAN_MEM_WRITE);
	hwsrc = xt_reg(s, wsrc, len, SAN_MEM_READ);
	hrsink = xt_reg(s, rsink, len, SAN_MEM_WRITE);
	CHECK(hsrc != hsink && hsrc != hwsrc && hsrc != hrsink && hsink != hwsrc &&
	      hsink != hrsink && hwsrc != hrsink);

	/* 1: receive sink, buffer starts 100 bytes into the registration */
	memset(sink, 0xee, len);
	xt_recv(s, sink + 100, 5000, hsink, XT_CTX(1));
	san_test_sync(ctl, "recv-posted");
	xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, 5000);
	CHECK(san_test_verify(sink + 100, 5000, 11));
	CHECK(xt_all(sink, 100, 0xee) && xt_all(sink + 5100, len - 5100, 0xee));

	/* 2: send source, buffer in the middle of the registration */
	san_test_fill(src + 333, 5000, 12);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s, src + 333, 5000, hsrc, XT_CTX(2));
	xt_expect(s, XT_CTX(2), SAN_OP_SEND, 0, 5000);

	/* 3: RDMA write source */
	san_test_fill(wsrc + pg, 6000, 13);
	xt_rdma_write(s, wsrc + pg, 6000, hwsrc, &d, 64, 0);
	san_test_sync(ctl, "written");

	/* 4: RDMA read sink */
	san_test_sync(ctl, "filled");
	memset(rsink, 0xee, len);
	xt_rdma_read(s, rsink + 7, RLEN - pg, hrsink, &d, pg, 0);
	{
		uint8_t *want = malloc(RLEN);

		CHECK(want);
		san_test_fill(want, RLEN, 14);
		CHECK(memcmp(rsink + 7, want + pg, RLEN - pg) == 0);
		free(want);
	}
	CHECK(xt_all(rsink, 7, 0xee));
	san_test_sync(ctl, "end");

	CHECK_OK(san_deregister_memory(s, hsrc));
	CHECK_OK(san_deregister_memory(s, hsink));
	CHECK_OK(san_deregister_memory(s, hwsrc));
	CHECK_OK(san_deregister_memory(s, hrsink));
	xt_expect_idle(s);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(src, len);
	xt_unmap(sink, len);
	xt_unmap(wsrc, len);
	xt_unmap(rsink, len);
	return 0;
}
