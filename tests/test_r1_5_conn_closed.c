/* SPDX-License-Identifier: MIT */
/*
 * R1.5: registered memory is accessible only while the connection is
 * established. Once the registering side has closed its socket (without
 * deregistering first), the peer's RDMA write and read with the descriptor
 * fail with -ECONNRESET (as a posting error or as the completion), the
 * memory is untouched, san_poll then reports -ECONNRESET, and registering
 * on the reset socket fails with -ENOTCONN. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define RLEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *r = xt_map(RLEN);
	struct san_rdma_desc d;

	san_test_fill(r, RLEN, 130);
	d = xt_rreg(s, r, RLEN, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &d);
	san_test_sync(ctl, "read-ok");
	CHECK_OK(san_close(s)); /* registration still in force: close drops it */
	san_test_sync(ctl, "closed");
	san_test_sync(ctl, "end");
	CHECK(san_test_verify(r, RLEN, 130));
	san_provider_close(p);
	xt_unmap(r, RLEN);
	return 0;
}

static void expect_reset(san_socket *s, int op, void *buf, size_t len, san_handle h,
			 const struct san_rdma_desc *d, void *ctx)
{
	struct san_buf b = xt_buf(buf, len, h);
	int rc = op == SAN_OP_RDMA_WRITE ? san_rdma_write(s, &b, 1, d, 0, ctx)
					 : san_rdma_read(s, &b, 1, d, 0, ctx);

	if (rc == -ECONNRESET)
		return;
	if (rc != 0) {
		fprintf(stderr, "%s after the peer closed: post = %d (%s), want 0 or -ECONNRESET\n",
			xt_opname(op), rc, san_strerror(rc));
		exit(1);
	}
	xt_expect(s, ctx, op, -ECONNRESET, XT_ANY);
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *buf, *other;
	san_handle h, h2;
	struct san_rdma_desc d, d2;
	struct san_completion c;
	long long end;
	int ctl, rc;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	d = xt_recv_desc(ctl);
	buf = xt_map(RLEN);
	other = xt_map(RLEN);
	h = xt_reg(s, buf, RLEN, SAN_MEM_READWRITE);

	xt_rdma_read(s, buf, RLEN, h, &d, 0, 0);
	CHECK(san_test_verify(buf, RLEN, 130));
	san_test_sync(ctl, "read-ok");
	san_test_sync(ctl, "closed");

	san_test_fill(buf, RLEN, 131);
	expect_reset(s, SAN_OP_RDMA_WRITE, buf, RLEN, h, &d, XT_CTX(1));
	expect_reset(s, SAN_OP_RDMA_READ, buf, RLEN, h, &d, XT_CTX(2));
	CHECK(san_test_verify(buf, RLEN, 131));

	/* Nothing outstanding any more: san_poll reports the reset. */
	end = xt_now_ms() + 5000;
	while ((rc = san_poll(s, &c, 1, 100)) == 0 && xt_now_ms() < end)
		;
	CHECK_RC(rc, -ECONNRESET);
	CHECK_RC(san_register_memory(s, other, RLEN, SAN_MEM_READWRITE, &h2), -ENOTCONN);
	CHECK_RC(san_register_rdma_memory(s, other, RLEN, SAN_MEM_READWRITE, &d2), -ENOTCONN);
	san_test_sync(ctl, "end");

	CHECK_OK(san_close(s)); /* also releases h (R1.8) */
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, RLEN);
	xt_unmap(other, RLEN);
	return 0;
}
