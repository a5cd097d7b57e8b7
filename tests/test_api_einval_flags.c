/* SPDX-License-Identifier: MIT */
/*
 * API.md / san.h: bad arguments are -EINVAL and change nothing. Flags with
 * bits other than SAN_MEM_READ|SAN_MEM_WRITE, or no bit at all; length 0;
 * NULL buffer (both registration calls, the output untouched, nothing
 * pinned). Posting with n < 0 or n > SAN_MAX_SGE, NULL bufs with n > 0, or
 * a malformed descriptor (wrong magic or version, protocol.md §3): -EINVAL,
 * no completion.
 */
#include "xtest.h"

#define LEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *r = xt_map(LEN);
	struct san_rdma_desc d = xt_rreg(s, r, LEN, SAN_MEM_READWRITE);

	xt_send_desc(ctl, &d);
	san_test_sync(ctl, "end");
	CHECK(xt_all(r, LEN, 0));
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	xt_teardown(p, s);
	xt_unmap(r, LEN);
	return 0;
}

int main(void)
{
	static const int bad_flags[] = { 0, 4, 8, 0x100, -1, SAN_MEM_READ | 4,
					 SAN_MEM_READWRITE | 0x40000000, (int)0x80000000u };
	san_provider *p;
	san_socket *s;
	uint8_t *buf;
	san_handle h, hgood;
	struct san_rdma_desc d, dout, dsent, f;
	struct san_stats st0, st1;
	struct san_buf b, sg[SAN_MAX_SGE + 1];
	long pin0;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	d = xt_recv_desc(ctl);
	buf = xt_map(LEN);
	pin0 = san_test_vmpin_kb();
	CHECK_OK(san_get_stats(p, &st0));

	memset(&dsent, 0xa5, sizeof(dsent));
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		h = 0x5a5a5a5a;
		dout = dsent;
		CHECK_RC(san_register_memory(s, buf, LEN, bad_flags[i], &h), -EINVAL);
		CHECK(h == 0x5a5a5a5a);
		CHECK_RC(san_register_rdma_memory(s, buf, LEN, bad_flags[i], &dout), -EINVAL);
		CHECK(memcmp(&dout, &dsent, sizeof(dout)) == 0);
	}
	h = 0x5a5a5a5a;
	dout = dsent;
	CHECK_RC(san_register_memory(s, buf, 0, SAN_MEM_READ, &h), -EINVAL);
	CHECK_RC(san_register_memory(s, NULL, LEN, SAN_MEM_READ, &h), -EINVAL);
	CHECK_RC(san_register_rdma_memory(s, buf, 0, SAN_MEM_READ, &dout), -EINVAL);
	CHECK_RC(san_register_rdma_memory(s, NULL, LEN, SAN_MEM_READ, &dout), -EINVAL);
	CHECK(h == 0x5a5a5a5a && memcmp(&dout, &dsent, sizeof(dout)) == 0);
	CHECK(san_test_vmpin_kb() == pin0);
	CHECK_OK(san_get_stats(p, &st1));
	CHECK(st1.pins == st0.pins && st1.pinned_bytes == st0.pinned_bytes);
	CHECK(st1.keys_active == st0.keys_active);

	/* Posting arguments. */
	hgood = xt_reg(s, buf, LEN, SAN_MEM_READWRITE);
	for (int i = 0; i <= SAN_MAX_SGE; i++)
		sg[i] = xt_buf(buf + 16 * i, 16, hgood);
	CHECK_RC(san_send(s, sg, -1, XT_CTX(1)), -EINVAL);
	CHECK_RC(san_recv(s, sg, -1, XT_CTX(2)), -EINVAL);
	CHECK_RC(san_rdma_write(s, sg, -1, &d, 0, XT_CTX(3)), -EINVAL);
	CHECK_RC(san_rdma_read(s, sg, -1, &d, 0, XT_CTX(4)), -EINVAL);
	CHECK_RC(san_send(s, sg, SAN_MAX_SGE + 1, XT_CTX(5)), -EINVAL);
	CHECK_RC(san_recv(s, sg, SAN_MAX_SGE + 1, XT_CTX(6)), -EINVAL);
	CHECK_RC(san_rdma_write(s, sg, SAN_MAX_SGE + 1, &d, 0, XT_CTX(7)), -EINVAL);
	CHECK_RC(san_rdma_read(s, sg, SAN_MAX_SGE + 1, &d, 0, XT_CTX(8)), -EINVAL);
	CHECK_RC(san_send(s, NULL, 1, XT_CTX(9)), -EINVAL);
	CHECK_RC(san_recv(s, NULL, 1, XT_CTX(10)), -EINVAL);
	CHECK_RC(san_rdma_write(s, NULL, 1, &d, 0, XT_CTX(11)), -EINVAL);
	CHECK_RC(san_rdma_read(s, NULL, 1, &d, 0, XT_CTX(12)), -EINVAL);

	/* Malformed descriptors: magic, version. */
	b = xt_buf(buf, 100, hgood);
	f = d;
	f.bytes[0] ^= 0xff;
	CHECK_RC(san_rdma_write(s, &b, 1, &f, 0, XT_CTX(13)), -EINVAL);
	CHECK_RC(san_rdma_read(s, &b, 1, &f, 0, XT_CTX(14)), -EINVAL);
	f = d;
	f.bytes[4] = 2;
	CHECK_RC(san_rdma_write(s, &b, 1, &f, 0, XT_CTX(15)), -EINVAL);
	CHECK_RC(san_rdma_read(s, &b, 1, &f, 0, XT_CTX(16)), -EINVAL);
	memset(&f, 0, sizeof(f));
	CHECK_RC(san_rdma_write(s, &b, 1, &f, 0, XT_CTX(17)), -EINVAL);
	CHECK_RC(san_rdma_read(s, &b, 1, &f, 0, XT_CTX(18)), -EINVAL);
	xt_expect_idle(s);
	san_test_sync(ctl, "end");

	CHECK_OK(san_deregister_memory(s, hgood));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, LEN);
	return 0;
}
