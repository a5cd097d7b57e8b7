/* SPDX-License-Identifier: MIT */
/*
 * API.md: deregistering an unknown handle or descriptor is -EINVAL: 0, made
 * up values, a handle or descriptor of another socket of the same process,
 * the peer's descriptor, a descriptor with its key changed, one already
 * deregistered. None of these disturbs the real registrations, which keep
 * working on their own socket. Posting with another socket's handle is
 * -EINVAL too. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define LEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_socket *s1 = san_test_connect_peer(p, ctl);
	san_socket *s2 = san_test_connect_peer(p, ctl);
	uint8_t *r = xt_map(LEN), *in = xt_map(LEN);
	struct san_rdma_desc db = xt_rreg(s1, r, LEN, SAN_MEM_READWRITE), da;
	san_handle h = xt_reg(s1, in, LEN, SAN_MEM_READWRITE);

	xt_send_desc(ctl, &db);
	da = xt_recv_desc(ctl);
	xt_recv(s1, in, LEN, h, XT_CTX(1));
	san_test_sync(ctl, "b-recv-posted");
	xt_expect(s1, XT_CTX(1), SAN_OP_RECV, 0, 1000);
	CHECK(san_test_verify(in, 1000, 170));
	xt_rdma_read(s1, in, LEN, h, &da, 0, 0);
	CHECK(san_test_verify(in, LEN, 171));
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_rdma_memory(s1, &db));
	CHECK_OK(san_deregister_memory(s1, h));
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2));
	san_provider_close(p);
	xt_unmap(r, LEN);
	xt_unmap(in, LEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s1, *s2;
	uint8_t *l, *r;
	san_handle h1;
	struct san_rdma_desc d1, db, f;
	struct san_buf b;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s1 = san_test_accept_peer(p, ctl);
	s2 = san_test_accept_peer(p, ctl);
	db = xt_recv_desc(ctl);
	l = xt_map(LEN);
	r = xt_map(LEN);
	san_test_fill(r, LEN, 171);
	h1 = xt_reg(s1, l, LEN, SAN_MEM_READWRITE);
	d1 = xt_rreg(s1, r, LEN, SAN_MEM_READ);
	xt_send_desc(ctl, &d1);

	/* Handles. */
	CHECK_RC(san_deregister_memory(s2, h1), -EINVAL);
	CHECK_RC(san_deregister_memory(s1, 0), -EINVAL);
	CHECK_RC(san_deregister_memory(s1, h1 ^ 0xdead000000000000ull), -EINVAL);
	CHECK_RC(san_deregister_memory(s1, UINT64_MAX), -EINVAL);
	b = xt_buf(l, 100, h1);
	CHECK_RC(san_send(s2, &b, 1, XT_CTX(50)), -EINVAL);

	/* Descriptors. */
	CHECK_RC(san_deregister_rdma_memory(s2, &d1), -EINVAL);
	CHECK_RC(san_deregister_rdma_memory(s1, &db), -EINVAL); /* the peer's */
	f = d1;
	f.bytes[8] ^= 1; /* key, protocol.md §3 */
	CHECK_RC(san_deregister_rdma_memory(s1, &f), -EINVAL);
	memset(&f, 0, sizeof(f));
	CHECK_RC(san_deregister_rdma_memory(s1, &f), -EINVAL);
	xt_expect_idle(s1);
	xt_expect_idle(s2);

	/* The real registrations were not disturbed. */
	san_test_fill(l, 1000, 170);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s1, l, 1000, h1, XT_CTX(1));
	xt_expect(s1, XT_CTX(1), SAN_OP_SEND, 0, 1000);
	san_test_sync(ctl, "end");

	CHECK_OK(san_deregister_memory(s1, h1));
	CHECK_RC(san_deregister_memory(s1, h1), -EINVAL);
	CHECK_OK(san_deregister_rdma_memory(s1, &d1));
	CHECK_RC(san_deregister_rdma_memory(s1, &d1), -EINVAL);
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(l, LEN);
	xt_unmap(r, LEN);
	return 0;
}
