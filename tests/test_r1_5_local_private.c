/* SPDX-License-Identifier: MIT */
/*
 * R1.1 / R1.5: locally registered memory is usable only by the registering
 * process. The peer learns A's local handle values and addresses and tries
 * them: as handles of its own (deregister and posting: -EINVAL), and
 * as keys in a descriptor otherwise valid for this connection (-EACCES at
 * the peer). A's memory stays untouched. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define LEN (64 * 1024)
#define D_KEY 8

static void set_u64(struct san_rdma_desc *d, int off, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		d->bytes[off + i] = (uint8_t)(v >> (8 * i));
}

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint64_t hl = xt_recv_u64(ctl), addr = xt_recv_u64(ctl);
	struct san_rdma_desc d = xt_recv_desc(ctl), f;
	uint8_t *buf = xt_map(LEN);
	uint64_t keys[] = { hl, hl + 1, hl - 1, addr, addr + 4096, 1, 2, 3 };
	struct san_buf b = xt_buf(buf, 100, (san_handle)hl);
	san_handle h;

	/* A's handle means nothing on this side (no registration here yet). */
	CHECK_RC(san_deregister_memory(s, (san_handle)hl), -EINVAL);
	CHECK_RC(san_send(s, &b, 1, XT_CTX(1)), -EINVAL);
	CHECK_RC(san_recv(s, &b, 1, XT_CTX(2)), -EINVAL);
	xt_expect_idle(s);

	/* Handle values and addresses as memory keys. */
	h = xt_reg(s, buf, LEN, SAN_MEM_READWRITE);
	san_test_fill(buf, LEN, 91);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		f = d;
		set_u64(&f, D_KEY, keys[i]);
		xt_rdma_write(s, buf, 100, h, &f, 0, -EACCES);
		xt_rdma_read(s, buf, 100, h, &f, 0, -EACCES);
	}
	/* The genuine descriptor works (the connection is fine). */
	xt_rdma_read(s, buf, 64, h, &d, 0, 0);
	CHECK(xt_all(buf, 64, 0));
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(buf, LEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *l, *r;
	san_handle hl;
	struct san_rdma_desc d;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	l = xt_map(LEN);
	r = xt_map(4096);
	san_test_fill(l, LEN, 90);
	hl = xt_reg(s, l, LEN, SAN_MEM_READWRITE);
	d = xt_rreg(s, r, 4096, SAN_MEM_READWRITE);
	xt_send_u64(ctl, hl);
	xt_send_u64(ctl, (uint64_t)(uintptr_t)l);
	xt_send_desc(ctl, &d);

	san_test_sync(ctl, "end");
	CHECK(san_test_verify(l, LEN, 90));
	CHECK(xt_all(r, 4096, 0));
	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, hl));
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(l, LEN);
	xt_unmap(r, 4096);
	return 0;
}
