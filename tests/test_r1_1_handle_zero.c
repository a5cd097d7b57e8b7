/* SPDX-License-Identifier: MIT */
/*
 * R1.1 / API.md: a san_buf with handle 0 finds the registration of the
 * socket that covers it (WSPSend/WSPRecv pass plain buffers): for send,
 * recv, RDMA-write source and RDMA-read sink, for buffers anywhere inside
 * the registration (including its very end) and for scatter/gather lists
 * whose elements lie in different registrations. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define BIG (1024 * 1024)
#define SMALL (16 * 1024)
#define RLEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *r = xt_map(RLEN), *io = xt_map(BIG);
	struct san_rdma_desc d = xt_rreg(s, r, RLEN, SAN_MEM_READWRITE);
	san_handle h = xt_reg(s, io, BIG, SAN_MEM_READWRITE);
	uint8_t want[60];

	xt_send_desc(ctl, &d);

	/* 1: A receives with handle 0 */
	san_test_sync(ctl, "a-recv-posted");
	san_test_fill(io, 7777, 21);
	xt_send(s, io, 7777, h, XT_CTX(1));
	xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, 7777);

	/* 2: A sends with handle 0 */
	xt_recv(s, io, BIG, h, XT_CTX(2));
	san_test_sync(ctl, "b-recv-posted");
	xt_expect(s, XT_CTX(2), SAN_OP_RECV, 0, 99999);
	CHECK(san_test_verify(io, 99999, 22));

	/* 3: A RDMA-writes from handle 0 */
	san_test_sync(ctl, "written");
	CHECK(san_test_verify(r, 10000, 23));

	/* 4: A RDMA-reads into handle 0 */
	san_test_fill(r, RLEN, 24);
	san_test_sync(ctl, "filled");

	/* 5: gather from two registrations, handle 0 */
	xt_recv(s, io, BIG, h, XT_CTX(5));
	san_test_sync(ctl, "b-recv-posted-5");
	xt_expect(s, XT_CTX(5), SAN_OP_RECV, 0, 60);
	san_test_fill(want, 10, 251);
	san_test_fill(want + 10, 20, 252);
	san_test_fill(want + 30, 30, 253);
	CHECK(memcmp(io, want, 60) == 0);

	/* 6: the last bytes of the registration */
	xt_recv(s, io, BIG, h, XT_CTX(6));
	san_test_sync(ctl, "b-recv-posted-6");
	xt_expect(s, XT_CTX(6), SAN_OP_RECV, 0, 100);
	CHECK(san_test_verify(io, 100, 26));

	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(r, RLEN);
	xt_unmap(io, BIG);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *big, *small;
	san_handle hb, hs;
	struct san_rdma_desc d;
	struct san_buf sg[3];
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	d = xt_recv_desc(ctl);

	big = xt_map(BIG);
	small = xt_map(SMALL);
	memset(big, 0xee, BIG);
	hb = xt_reg(s, big, BIG, SAN_MEM_READWRITE);
	hs = xt_reg(s, small, SMALL, SAN_MEM_READWRITE);

	/* 1 */
	xt_recv(s, big + 12345, 7777, 0, XT_CTX(1));
	san_test_sync(ctl, "a-recv-posted");
	xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, 7777);
	CHECK(san_test_verify(big + 12345, 7777, 21));
	CHECK(xt_all(big, 12345, 0xee) && big[12345 + 7777] == 0xee);

	/* 2 */
	san_test_fill(big + 500000, 99999, 22);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s, big + 500000, 99999, 0, XT_CTX(2));
	xt_expect(s, XT_CTX(2), SAN_OP_SEND, 0, 99999);

	/* 3 */
	san_test_fill(big + 3, 10000, 23);
	xt_rdma_write(s, big + 3, 10000, 0, &d, 0, 0);
	san_test_sync(ctl, "written");

	/* 4 */
	san_test_sync(ctl, "filled");
	memset(big + 700001, 0xee, 20000);
	xt_rdma_read(s, big + 700001, 20000, 0, &d, 5, 0);
	{
		uint8_t *want = malloc(RLEN);

		CHECK(want);
		san_test_fill(want, RLEN, 24);
		CHECK(memcmp(big + 700001, want + 5, 20000) == 0);
		free(want);
	}
	CHECK(big[700000] == 0xee && big[720001] == 0xee);

	/* 5 */
	san_test_fill(big + 1, 10, 251);
	san_test_fill(small + 7, 20, 252);
	san_test_fill(big + 900000, 30, 253);
	sg[0] = xt_buf(big + 1, 10, 0);
	sg[1] = xt_buf(small + 7, 20, 0);
	sg[2] = xt_buf(big + 900000, 30, 0);
	san_test_sync(ctl, "b-recv-posted-5");
	CHECK_OK(san_send(s, sg, 3, XT_CTX(5)));
	xt_expect(s, XT_CTX(5), SAN_OP_SEND, 0, 60);

	/* 6 */
	san_test_fill(big + BIG - 100, 100, 26);
	san_test_sync(ctl, "b-recv-posted-6");
	xt_send(s, big + BIG - 100, 100, 0, XT_CTX(6));
	xt_expect(s, XT_CTX(6), SAN_OP_SEND, 0, 100);

	san_test_sync(ctl, "end");
	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, hb));
	CHECK_OK(san_deregister_memory(s, hs));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(big, BIG);
	xt_unmap(small, SMALL);
	return 0;
}
