/* SPDX-License-Identifier: MIT */
/*
 * R1.8 / API.md (san_close): A closes its socket while operations are
 * outstanding on both sides and its registrations (local and RDMA) are
 * still in force. san_close returns 0; A's pins are released at once (VmPin
 * back to its value before the registrations); the peer's outstanding
 * operations, a posted receive and an RDMA read of A's memory that A never
 * served, complete with -ECONNRESET, after which the peer's san_poll
 * reports -ECONNRESET.
 *
 * A runs with SAN_PROGRESS_THREAD=0 and makes no call between the peer's
 * posts and san_close, so the RDMA read is certainly still unanswered when
 * the socket closes. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define BIG (16 * 1024 * 1024)
#define SMALL (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *sink = xt_map(BIG), *in = xt_map(SMALL);
	san_handle hs = xt_reg(s, sink, BIG, SAN_MEM_WRITE);
	san_handle hi = xt_reg(s, in, SMALL, SAN_MEM_WRITE);
	struct san_rdma_desc d = xt_recv_desc(ctl);
	struct san_buf b = xt_buf(sink, BIG, hs);
	struct san_completion c;
	long long end;
	int rc;

	san_test_sync(ctl, "a-ready");
	xt_recv(s, in, SMALL, hi, XT_CTX(1));
	CHECK_OK(san_rdma_read(s, &b, 1, &d, 0, XT_CTX(2)));
	san_test_sync(ctl, "b-posted");

	xt_expect(s, XT_CTX(1), SAN_OP_RECV, -ECONNRESET, XT_ANY);
	xt_expect(s, XT_CTX(2), SAN_OP_RDMA_READ, -ECONNRESET, XT_ANY);
	end = xt_now_ms() + 5000;
	while ((rc = san_poll(s, &c, 1, 100)) == 0 && xt_now_ms() < end)
		;
	CHECK_RC(rc, -ECONNRESET);
	san_test_sync(ctl, "closed");

	CHECK_OK(san_close(s));
	san_provider_close(p);
	xt_unmap(sink, BIG);
	xt_unmap(in, SMALL);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *r, *r2, *l;
	san_handle hl;
	struct san_rdma_desc d, d2;
	long pin0, pin1, pin2;
	long long t0, end;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	CHECK(setenv("SAN_PROGRESS_THREAD", "0", 1) == 0);
	s = xt_server(&p, ctl);
	r = xt_map(BIG);
	r2 = xt_map(SMALL);
	l = xt_map(SMALL);
	san_test_fill(r, BIG, 140);
	pin0 = san_test_vmpin_kb();

	d = xt_rreg(s, r, BIG, SAN_MEM_READWRITE);
	d2 = xt_rreg(s, r2, SMALL, SAN_MEM_WRITE);
	hl = xt_reg(s, l, SMALL, SAN_MEM_READWRITE);
	xt_recv(s, l, SMALL, hl, XT_CTX(1)); /* outstanding at close */
	(void)d2;
	pin1 = san_test_vmpin_kb();
	CHECK(pin1 >= pin0 + (BIG + 2 * SMALL) / 1024);
	xt_send_desc(ctl, &d);
	san_test_sync(ctl, "a-ready");
	san_test_sync(ctl, "b-posted");

	t0 = xt_now_ms();
	CHECK_OK(san_close(s));
	CHECK(xt_now_ms() - t0 < 2000);
	/* Unpinning may trail the close by a moment (io_uring releases a
	 * fixed buffer when the last request using it has finished). */
	end = xt_now_ms() + 2000;
	while ((pin2 = san_test_vmpin_kb()) != pin0 && xt_now_ms() < end)
		xt_sleep_ms(10);
	if (pin2 != pin0) {
		fprintf(stderr, "VmPin after san_close: %ld kB, before registering %ld kB "
				"(%ld kB with the registrations)\n", pin2, pin0, pin1);
		return 1;
	}
	san_test_sync(ctl, "closed");

	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(r, BIG);
	xt_unmap(r2, SMALL);
	xt_unmap(l, SMALL);
	return 0;
}
