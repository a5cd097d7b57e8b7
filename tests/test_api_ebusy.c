/* SPDX-License-Identifier: MIT */
/*
 * API.md: deregistering memory that an outstanding operation uses is
 * -EBUSY, and the registration stays fully usable. Outstanding here:
 * posted receives that have not completed, holding a local registration
 * named by its handle, one found through handle 0, and an RDMA registration
 * used locally; and an RDMA read (its sink) and an RDMA write (its source)
 * that the peer has not served yet. Once they complete (and are reaped)
 * deregistration succeeds.
 *
 * The peer runs with SAN_PROGRESS_THREAD=0, so it serves the RDMA
 * operations only when it calls into the library, after the -EBUSY checks.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#include <poll.h>

#define LEN (64 * 1024)
#define RLEN (1024 * 1024)

/* Drives the provider (no progress thread here) until ctl has a message. */
static void serve_until_ctl(san_socket *s, int ctl)
{
	struct pollfd pfd = { .fd = ctl, .events = POLLIN };
	struct san_completion c;

	while (poll(&pfd, 1, 0) == 0) {
		int n = san_poll(s, &c, 1, 5);

		if (n != 0) {
			fprintf(stderr, "[%d] unexpected san_poll = %d\n", (int)getpid(), n);
			exit(1);
		}
	}
}

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s;
	uint8_t *out = xt_map(LEN), *r = xt_map(2 * RLEN), *want = malloc(2 * RLEN);
	san_handle h;
	struct san_rdma_desc d;

	CHECK(want);
	CHECK(setenv("SAN_PROGRESS_THREAD", "0", 1) == 0);
	s = xt_client(&p, ctl);
	h = xt_reg(s, out, LEN, SAN_MEM_READ);
	san_test_fill(r, 2 * RLEN, 165);
	d = xt_rreg(s, r, 2 * RLEN, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &d);

	san_test_sync(ctl, "posted");
	for (int i = 1; i <= 3; i++) {
		san_test_fill(out, 100 * (size_t)i, 160 + i);
		xt_send(s, out, 100 * (size_t)i, h, XT_CTX(i));
		xt_expect(s, XT_CTX(i), SAN_OP_SEND, 0, 100 * i);
	}
	serve_until_ctl(s, ctl); /* the peer's RDMA read and write */
	san_test_sync(ctl, "end");
	san_test_fill(want, 2 * RLEN, 165);
	san_test_fill(want + RLEN + 4096, RLEN - 8192, 166);
	CHECK(xt_same("RDMA-written memory", r, want, 2 * RLEN));
	CHECK_OK(san_deregister_memory(s, h));
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	xt_teardown(p, s);
	xt_unmap(out, LEN);
	xt_unmap(r, 2 * RLEN);
	free(want);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *l1, *l2, *r, *sink, *src;
	san_handle h1, h2, hsink, hsrc;
	struct san_rdma_desc d, dpeer;
	struct san_buf b;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	dpeer = xt_recv_desc(ctl);
	l1 = xt_map(LEN);
	l2 = xt_map(LEN);
	r = xt_map(LEN);
	sink = xt_map(RLEN);
	src = xt_map(RLEN);
	h1 = xt_reg(s, l1, LEN, SAN_MEM_READWRITE);
	h2 = xt_reg(s, l2, LEN, SAN_MEM_READWRITE);
	d = xt_rreg(s, r, LEN, SAN_MEM_READWRITE);
	hsink = xt_reg(s, sink, RLEN, SAN_MEM_WRITE);
	hsrc = xt_reg(s, src, RLEN, SAN_MEM_READ);

	xt_recv(s, l1 + 100, 1000, h1, XT_CTX(1));
	xt_recv(s, l2 + 200, 1000, 0, XT_CTX(2));
	xt_recv(s, r + 300, 1000, 0, XT_CTX(3));
	b = xt_buf(sink, RLEN, hsink);
	CHECK_OK(san_rdma_read(s, &b, 1, &dpeer, 0, XT_CTX(4)));
	san_test_fill(src + 4096, RLEN - 8192, 166);
	b = xt_buf(src + 4096, RLEN - 8192, 0); /* the peer's second MiB: apart from the read */
	CHECK_OK(san_rdma_write(s, &b, 1, &dpeer, RLEN + 4096, XT_CTX(5)));

	CHECK_RC(san_deregister_memory(s, h1), -EBUSY);
	CHECK_RC(san_deregister_memory(s, h2), -EBUSY);
	CHECK_RC(san_deregister_rdma_memory(s, &d), -EBUSY);
	CHECK_RC(san_deregister_memory(s, hsink), -EBUSY);
	CHECK_RC(san_deregister_memory(s, hsrc), -EBUSY);
	/* Still registered: a second try is -EBUSY again, not -EINVAL. */
	CHECK_RC(san_deregister_memory(s, h1), -EBUSY);
	CHECK_RC(san_deregister_rdma_memory(s, &d), -EBUSY);
	CHECK_RC(san_deregister_memory(s, hsrc), -EBUSY);

	san_test_sync(ctl, "posted");
	xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, 100);
	xt_expect(s, XT_CTX(2), SAN_OP_RECV, 0, 200);
	xt_expect(s, XT_CTX(3), SAN_OP_RECV, 0, 300);
	xt_expect(s, XT_CTX(4), SAN_OP_RDMA_READ, 0, RLEN);
	xt_expect(s, XT_CTX(5), SAN_OP_RDMA_WRITE, 0, RLEN - 8192);
	CHECK(san_test_verify(l1 + 100, 100, 161));
	CHECK(san_test_verify(l2 + 200, 200, 162));
	CHECK(san_test_verify(r + 300, 300, 163));
	CHECK(xt_same_fill("RDMA-read sink", sink, RLEN, 165));
	san_test_sync(ctl, "end");

	CHECK_OK(san_deregister_memory(s, h1));
	CHECK_OK(san_deregister_memory(s, h2));
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	CHECK_OK(san_deregister_memory(s, hsink));
	CHECK_OK(san_deregister_memory(s, hsrc));
	xt_expect_idle(s);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(l1, LEN);
	xt_unmap(l2, LEN);
	xt_unmap(r, LEN);
	xt_unmap(sink, RLEN);
	xt_unmap(src, RLEN);
	return 0;
}
