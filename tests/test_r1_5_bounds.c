/* SPDX-License-Identifier: MIT */
/*
 * R1.5 / API.md: a peer RDMA access outside the registered bounds completes
 * at the peer with -ERANGE and touches nothing (neither the registration
 * nor the pages around it), including offsets for which offset + len wraps
 * past UINT64_MAX. Accesses that end exactly at the end of the registration
 * work, and the target keeps serving after the refusals.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define RLEN (64 * 1024)

static const struct {
	uint64_t off;
	size_t len;
} bad[] = {
	{ RLEN - 100, 101 },
	{ RLEN, 1 },
	{ RLEN + 1, 1 },
	{ 0, RLEN + 1 },
	{ 4096, RLEN },
	{ UINT64_MAX, 16 },
	{ UINT64_MAX - 15, 16 }, /* offset + len wraps to exactly 0 */
	{ UINT64_MAX - 14, 16 }, /* wraps to 1 */
	{ UINT64_MAX - RLEN + 1, RLEN }, /* wraps to 0, len fits */
	{ 1ull << 63, 1 },
	{ 1ull << 32, 1 },
};

static int peer(void *arg, int ctl)
{
	size_t pg = xt_page(), maplen = RLEN + 2 * pg;
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *m = xt_map(maplen), *want = malloc(maplen);
	struct san_rdma_desc d;

	CHECK(want);
	san_test_fill(m, maplen, 120);
	memcpy(want, m, maplen);
	d = xt_rreg(s, m + pg, RLEN, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &d);
	san_test_sync(ctl, "refused");
	CHECK(xt_same("registration and guard pages after refused ops", m, want, maplen));
	san_test_sync(ctl, "checked");
	san_test_sync(ctl, "end");
	san_test_fill(want + pg + RLEN - 100, 100, 121);
	san_test_fill(want + pg, 50, 122);
	CHECK(memcmp(m, want, maplen) == 0);
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	xt_teardown(p, s);
	xt_unmap(m, maplen);
	free(want);
	return 0;
}

int main(void)
{
	size_t blen = 2 * RLEN;
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
	d = xt_recv_desc(ctl);
	buf = xt_map(blen);
	want = malloc(RLEN);
	CHECK(want);
	h = xt_reg(s, buf, blen, SAN_MEM_READWRITE);
	san_test_fill(buf, blen, 129);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		xt_rdma_write(s, buf, bad[i].len, h, &d, bad[i].off, -ERANGE);
		xt_rdma_read(s, buf, bad[i].len, h, &d, bad[i].off, -ERANGE);
	}
	/* A list whose total crosses the end. */
	{
		struct san_buf sg[2] = { xt_buf(buf, 60, h), xt_buf(buf + 1000, 60, h) };

		CHECK_OK(san_rdma_write(s, sg, 2, &d, RLEN - 100, XT_CTX(1)));
		xt_expect(s, XT_CTX(1), SAN_OP_RDMA_WRITE, -ERANGE, XT_ANY);
		CHECK_OK(san_rdma_read(s, sg, 2, &d, RLEN - 100, XT_CTX(2)));
		xt_expect(s, XT_CTX(2), SAN_OP_RDMA_READ, -ERANGE, XT_ANY);
	}
	san_test_sync(ctl, "refused");
	san_test_sync(ctl, "checked");

	/* Exactly up to the end, and from the very start. */
	san_test_fill(buf, 100, 121);
	xt_rdma_write(s, buf, 100, h, &d, RLEN - 100, 0);
	san_test_fill(buf, 50, 122);
	xt_rdma_write(s, buf, 50, h, &d, 0, 0);
	xt_rdma_read(s, buf, RLEN, h, &d, 0, 0);
	san_test_fill(want, RLEN, 0);
	{
		/* the registration starts one page into the peer's mapping */
		uint8_t *m = malloc(RLEN + 2 * xt_page());

		CHECK(m);
		san_test_fill(m, RLEN + 2 * xt_page(), 120);
		memcpy(want, m + xt_page(), RLEN);
		free(m);
	}
	san_test_fill(want + RLEN - 100, 100, 121);
	san_test_fill(want, 50, 122);
	CHECK(memcmp(buf, want, RLEN) == 0);
	xt_rdma_read(s, buf, 1, h, &d, RLEN - 1, 0);
	CHECK(buf[0] == want[RLEN - 1]);
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, blen);
	free(want);
	return 0;
}
