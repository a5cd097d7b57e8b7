/* SPDX-License-Identifier: MIT */
/*
 * R1.3: san_register_rdma_memory gives a descriptor that the registering
 * side hands to its peer (here inside a san_send message); the peer then
 * RDMA-reads and RDMA-writes the registered memory through it, and the
 * registering process may still use the range in its own operations.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define RLEN (256 * 1024)
#define WOFF (4096 + 7)
#define WLEN 10000

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *r = xt_map(RLEN), *msg = xt_map(4096);
	uint8_t *want = malloc(RLEN);
	struct san_rdma_desc d;
	san_handle hm;

	CHECK(want);
	san_test_fill(r, RLEN, 41);
	d = xt_rreg(s, r, RLEN, SAN_MEM_READWRITE);
	hm = xt_reg(s, msg, 4096, SAN_MEM_READ);

	/* The descriptor travels inside a message. */
	memcpy(msg, &d, sizeof(d));
	san_test_sync(ctl, "a-recv-posted");
	xt_send(s, msg, sizeof(d), hm, XT_CTX(1));
	xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, sizeof(d));

	/* The registering side uses the range too (handle 0). */
	san_test_sync(ctl, "a-recv-posted-2");
	xt_send(s, r + 100, 500, 0, XT_CTX(2));
	xt_expect(s, XT_CTX(2), SAN_OP_SEND, 0, 500);

	san_test_sync(ctl, "written");
	san_test_fill(want, RLEN, 41);
	san_test_fill(want + WOFF, WLEN, 42);
	CHECK(memcmp(r, want, RLEN) == 0);

	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	CHECK_OK(san_deregister_memory(s, hm));
	xt_teardown(p, s);
	xt_unmap(r, RLEN);
	xt_unmap(msg, 4096);
	free(want);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *buf, *want;
	san_handle h;
	struct san_rdma_desc d;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	buf = xt_map(RLEN);
	want = malloc(RLEN);
	CHECK(want);
	h = xt_reg(s, buf, RLEN, SAN_MEM_READWRITE);

	xt_recv(s, buf, RLEN, h, XT_CTX(1));
	san_test_sync(ctl, "a-recv-posted");
	xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, sizeof(d));
	memcpy(&d, buf, sizeof(d));

	xt_recv(s, buf, RLEN, h, XT_CTX(2));
	san_test_sync(ctl, "a-recv-posted-2");
	xt_expect(s, XT_CTX(2), SAN_OP_RECV, 0, 500);
	san_test_fill(want, RLEN, 41);
	CHECK(memcmp(buf, want + 100, 500) == 0);

	/* RDMA read of the whole registration. */
	memset(buf, 0, RLEN);
	xt_rdma_read(s, buf, RLEN, h, &d, 0, 0);
	CHECK(memcmp(buf, want, RLEN) == 0);

	/* RDMA write into it, then read it back. */
	san_test_fill(buf, WLEN, 42);
	xt_rdma_write(s, buf, WLEN, h, &d, WOFF, 0);
	memset(buf, 0, RLEN);
	xt_rdma_read(s, buf, RLEN, h, &d, 0, 0);
	san_test_fill(want + WOFF, WLEN, 42);
	CHECK(memcmp(buf, want, RLEN) == 0);
	san_test_sync(ctl, "written");

	san_test_sync(ctl, "end");
	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, RLEN);
	free(want);
	return 0;
}
