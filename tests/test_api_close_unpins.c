/* SPDX-License-Identifier: MIT */
/*
 * R1.8 / API.md (R2.5): once the last socket that used a registration is
 * closed, the registration is unpinned, whether it was deregistered (and
 * perhaps cached), still registered, shared by two sockets of the process,
 * or exposed to the peer; VmPin returns to its value before the
 * registrations while the provider stays open, and the provider counts no
 * pinned bytes and no exposed keys. Both sides check: the side that closes
 * first, and the side whose sockets were reset.
 *
 * A first connection registers, transfers and closes before the baseline is
 * taken, so pools the provider may set up on first use are already there
 * ("less the provider's own pools"). SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define LEN (1024 * 1024)
#define HALF (LEN / 2)

static void check_unpinned(san_provider *p, long pin0, const char *who)
{
	long long end = xt_now_ms() + 2000;
	struct san_stats st;
	long pin;

	while ((pin = san_test_vmpin_kb()) != pin0 && xt_now_ms() < end)
		xt_sleep_ms(10);
	if (pin != pin0) {
		fprintf(stderr, "[%d] %s: VmPin %ld kB after closing every socket, %ld kB before "
				"registering\n", (int)getpid(), who, pin, pin0);
		exit(1);
	}
	CHECK_OK(san_get_stats(p, &st));
	if (st.pinned_bytes != 0 || st.keys_active != 0) {
		fprintf(stderr, "[%d] %s: pinned_bytes %" PRIu64 " keys_active %" PRIu64
				" with no socket open\n", (int)getpid(), who, st.pinned_bytes,
			st.keys_active);
		exit(1);
	}
}

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_socket *s0, *s1, *s2;
	uint8_t *bx = xt_map(LEN), *by = xt_map(LEN);
	san_handle h, h1, h2;
	struct san_rdma_desc d;
	long pre, pin0;

	pre = san_test_vmpin_kb();
	/* warm-up connection */
	s0 = san_test_connect_peer(p, ctl);
	h = xt_reg(s0, bx, LEN, SAN_MEM_READWRITE);
	{
		san_handle hy = xt_reg(s0, by, LEN, SAN_MEM_WRITE);

		san_test_fill(bx, LEN, 280);
		d = xt_recv_desc(ctl);
		san_test_sync(ctl, "s0-posted");
		xt_send(s0, bx, LEN, h, XT_CTX(1));
		xt_expect(s0, XT_CTX(1), SAN_OP_SEND, 0, LEN);
		xt_rdma_read(s0, by, LEN, hy, &d, 0, 0);
		CHECK(san_test_verify(by, LEN, 281));
		san_test_sync(ctl, "s0-done");
		CHECK_OK(san_deregister_memory(s0, hy));
	}
	CHECK_OK(san_deregister_memory(s0, h));
	CHECK_OK(san_close(s0));
	pin0 = san_test_vmpin_kb();
	if (pin0 != pre)
		printf("[%d] note: VmPin %ld kB before the first socket, %ld kB after it closed\n",
		       (int)getpid(), pre, pin0);

	s1 = san_test_connect_peer(p, ctl);
	s2 = san_test_connect_peer(p, ctl);
	h1 = xt_reg(s1, bx, LEN, SAN_MEM_READWRITE);
	h2 = xt_reg(s2, bx, LEN, SAN_MEM_READWRITE);
	xt_reg(s2, by, LEN, SAN_MEM_WRITE); /* never deregistered */
	d = xt_recv_desc(ctl);
	san_test_fill(bx, LEN, 282);
	san_test_sync(ctl, "posted");
	xt_send(s1, bx, HALF, h1, XT_CTX(2));
	xt_send(s2, bx + HALF, HALF, h2, XT_CTX(3));
	xt_expect(s1, XT_CTX(2), SAN_OP_SEND, 0, HALF);
	xt_expect(s2, XT_CTX(3), SAN_OP_SEND, 0, HALF);
	xt_rdma_read(s2, by, LEN, 0, &d, 0, 0);
	CHECK(san_test_verify(by, LEN, 283));
	CHECK_OK(san_deregister_memory(s1, h1));
	san_test_sync(ctl, "done");

	san_test_sync(ctl, "a-closed");
	CHECK(san_test_vmpin_kb() >= pin0 + LEN / 1024);
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2));
	check_unpinned(p, pin0, "reset side");
	san_test_sync(ctl, "end");
	san_provider_close(p);
	xt_unmap(bx, LEN);
	xt_unmap(by, LEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s0, *s1, *s2;
	uint8_t *x, *z;
	san_handle h, h1, h2;
	struct san_rdma_desc d;
	long pre, pin0, pin1;

	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	x = xt_map(LEN);
	z = xt_map(LEN);
	pre = san_test_vmpin_kb();

	/* warm-up connection */
	s0 = san_test_accept_peer(p, ctl);
	h = xt_reg(s0, x, LEN, SAN_MEM_READWRITE);
	san_test_fill(z, LEN, 281);
	d = xt_rreg(s0, z, LEN, SAN_MEM_READ);
	xt_send_desc(ctl, &d);
	xt_recv(s0, x, LEN, h, XT_CTX(1));
	san_test_sync(ctl, "s0-posted");
	xt_expect(s0, XT_CTX(1), SAN_OP_RECV, 0, LEN);
	CHECK(san_test_verify(x, LEN, 280));
	san_test_sync(ctl, "s0-done");
	CHECK_OK(san_deregister_memory(s0, h));
	CHECK_OK(san_deregister_rdma_memory(s0, &d));
	CHECK_OK(san_close(s0));
	pin0 = san_test_vmpin_kb();
	if (pin0 != pre)
		printf("[%d] note: VmPin %ld kB before the first socket, %ld kB after it closed\n",
		       (int)getpid(), pre, pin0);

	s1 = san_test_accept_peer(p, ctl);
	s2 = san_test_accept_peer(p, ctl);
	h1 = xt_reg(s1, x, LEN, SAN_MEM_READWRITE);
	h2 = xt_reg(s2, x, LEN, SAN_MEM_READWRITE); /* same buffer, other socket */
	san_test_fill(z, LEN, 283);
	d = xt_rreg(s2, z, LEN, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &d);
	xt_recv(s1, x, HALF, h1, XT_CTX(2));
	xt_recv(s2, x + HALF, HALF, h2, XT_CTX(3));
	san_test_sync(ctl, "posted");
	xt_expect(s1, XT_CTX(2), SAN_OP_RECV, 0, HALF);
	xt_expect(s2, XT_CTX(3), SAN_OP_RECV, 0, HALF);
	CHECK(san_test_verify(x, LEN, 282));
	san_test_sync(ctl, "done");

	CHECK_OK(san_deregister_memory(s1, h1)); /* cached, maybe still pinned */
	pin1 = san_test_vmpin_kb();
	CHECK(pin1 >= pin0 + 2 * LEN / 1024);
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2)); /* h2 and d still registered */
	check_unpinned(p, pin0, "closing side");
	san_test_sync(ctl, "a-closed");
	san_test_sync(ctl, "end");

	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(x, LEN);
	xt_unmap(z, LEN);
	return 0;
}
