/* SPDX-License-Identifier: MIT */
/*
 * API.md: a buffer that no live registration of the socket covers fails at
 * post time with -EFAULT, with no completion: never-registered memory
 * (mapped, heap, stack), a buffer that runs one byte past its registration
 * (handle 0 or the registration's own handle), memory registered only on
 * another socket, and a list with one such element. For send, recv, and the
 * local side of RDMA write and read. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define LEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_socket *s1 = san_test_connect_peer(p, ctl);
	san_socket *s2 = san_test_connect_peer(p, ctl);
	uint8_t *r = xt_map(LEN), *in = xt_map(LEN);
	struct san_rdma_desc d = xt_rreg(s1, r, LEN, SAN_MEM_READWRITE);
	san_handle h = xt_reg(s1, in, LEN, SAN_MEM_WRITE);

	xt_send_desc(ctl, &d);
	xt_recv(s1, in, LEN, h, XT_CTX(1));
	san_test_sync(ctl, "b-recv-posted");
	xt_expect(s1, XT_CTX(1), SAN_OP_RECV, 0, 1000);
	CHECK(san_test_verify(in, 1000, 150));
	CHECK(xt_all(r, LEN, 0));
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_rdma_memory(s1, &d));
	CHECK_OK(san_deregister_memory(s1, h));
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2));
	san_provider_close(p);
	xt_unmap(r, LEN);
	xt_unmap(in, LEN);
	return 0;
}

/* Every kind of post with this list must fail with -EFAULT. */
static void all_efault(int line, san_socket *s, const struct san_buf *b, int n,
		       const struct san_rdma_desc *d)
{
	int rc[4];

	rc[0] = san_send(s, b, n, XT_CTX(100));
	rc[1] = san_recv(s, b, n, XT_CTX(101));
	rc[2] = san_rdma_write(s, b, n, d, 0, XT_CTX(102));
	rc[3] = san_rdma_read(s, b, n, d, 0, XT_CTX(103));
	for (int i = 0; i < 4; i++) {
		if (rc[i] != -EFAULT) {
			fprintf(stderr, "line %d: %s with an uncovered buffer = %d (%s), want -EFAULT\n",
				line, xt_opname(i + 1), rc[i], san_strerror(rc[i]));
			exit(1);
		}
	}
}

int main(void)
{
	san_provider *p;
	san_socket *s1, *s2;
	uint8_t *x, *u, *y, *heap, stack[256];
	san_handle hx, hy;
	struct san_rdma_desc d;
	struct san_buf b, sg[3];
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s1 = san_test_accept_peer(p, ctl);
	s2 = san_test_accept_peer(p, ctl);
	d = xt_recv_desc(ctl);
	x = xt_map(3 * LEN);
	u = x + 2 * LEN; /* mapped, never registered */
	y = xt_map(LEN);
	heap = malloc(4096);
	CHECK(heap);
	memset(stack, 0, sizeof(stack));
	hx = xt_reg(s1, x + LEN, LEN, SAN_MEM_READWRITE); /* middle third only */
	hy = xt_reg(s2, y, LEN, SAN_MEM_READWRITE);

	b = xt_buf(u, 100, 0);
	all_efault(__LINE__, s1, &b, 1, &d);
	b = xt_buf(x, 100, 0);
	all_efault(__LINE__, s1, &b, 1, &d);
	b = xt_buf(heap, 100, 0);
	all_efault(__LINE__, s1, &b, 1, &d);
	b = xt_buf(stack, sizeof(stack), 0);
	all_efault(__LINE__, s1, &b, 1, &d);

	/* One byte past either end of the registration. */
	b = xt_buf(x + 2 * LEN - 10, 11, 0);
	all_efault(__LINE__, s1, &b, 1, &d);
	b.handle = hx;
	all_efault(__LINE__, s1, &b, 1, &d);
	b = xt_buf(x + LEN - 1, 2, 0);
	all_efault(__LINE__, s1, &b, 1, &d);
	b.handle = hx;
	all_efault(__LINE__, s1, &b, 1, &d);

	/* Registered, but on the other socket. */
	b = xt_buf(y, 100, 0);
	all_efault(__LINE__, s1, &b, 1, &d);

	/* One bad element in a list. */
	sg[0] = xt_buf(x + LEN, 100, hx);
	sg[1] = xt_buf(x + LEN + 200, 100, 0);
	sg[2] = xt_buf(u + 7, 100, 0);
	all_efault(__LINE__, s1, sg, 3, &d);
	xt_expect_idle(s1);
	xt_expect_idle(s2);

	/* The covered part works. */
	san_test_fill(x + LEN, 1000, 150);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s1, x + LEN, 1000, 0, XT_CTX(1));
	xt_expect(s1, XT_CTX(1), SAN_OP_SEND, 0, 1000);
	san_test_sync(ctl, "end");

	CHECK_OK(san_deregister_memory(s1, hx));
	CHECK_OK(san_deregister_memory(s2, hy));
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(x, 3 * LEN);
	xt_unmap(y, LEN);
	free(heap);
	return 0;
}
