/* SPDX-License-Identifier: MIT */
/*
 * One-sided transfers: RDMA read of a whole 16 MiB registration, reads and
 * writes at odd offsets with scatter/gather lists on the local side, an
 * 8 MiB write, and several reads and writes in flight at once. The target's
 * memory ends up exactly as the writes say, and every read returns what
 * the target held. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define RLEN (16 * 1024 * 1024)
#define LLEN (RLEN + 1024 * 1024)
#define NFLIGHT 8

/* Writes, in order: offset, length, seed (sent as one piece or a list). */
static const struct {
	uint64_t off;
	size_t len;
	uint32_t seed;
} writes[] = {
	{ 777, 300001, 241 },                 /* 4-piece list */
	{ 4 * 1024 * 1024 + 3, 8 * 1024 * 1024, 242 },
	{ RLEN - 1, 1, 243 },
	{ 0, 1, 244 },
};

static uint64_t flight_off(int i)
{
	return (uint64_t)i * 1999999 + 5;
}

static void apply(uint8_t *model)
{
	san_test_fill(model, RLEN, 240);
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		san_test_fill(model + writes[i].off, writes[i].len, writes[i].seed);
	for (int i = 0; i < NFLIGHT; i++)
		san_test_fill(model + flight_off(i) + 100000, 65536, 250 + (uint32_t)i);
}

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *r = xt_map(RLEN), *model = malloc(RLEN);
	struct san_rdma_desc d;

	CHECK(model);
	san_test_fill(r, RLEN, 240);
	d = xt_rreg(s, r, RLEN, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &d);
	san_test_sync(ctl, "end");
	apply(model);
	CHECK(memcmp(r, model, RLEN) == 0);
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	xt_teardown(p, s);
	xt_unmap(r, RLEN);
	free(model);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *l, *model, *tmp;
	san_handle h;
	struct san_rdma_desc d;
	struct san_buf sg[4];
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	d = xt_recv_desc(ctl);
	l = xt_map(LLEN);
	model = malloc(RLEN);
	tmp = malloc(RLEN);
	CHECK(model && tmp);
	h = xt_reg(s, l, LLEN, SAN_MEM_READWRITE);
	san_test_fill(model, RLEN, 240);

	/* Whole registration. */
	xt_rdma_read(s, l + 1, RLEN, h, &d, 0, 0);
	CHECK(memcmp(l + 1, model, RLEN) == 0);

	/* Odd offset into a 3-piece list. */
	memset(l, 0, LLEN);
	sg[0] = xt_buf(l + 5, 1, h);
	sg[1] = xt_buf(l + 100000, 49999, 0);
	sg[2] = xt_buf(l + RLEN, 50000, h);
	CHECK_OK(san_rdma_read(s, sg, 3, &d, 12345, XT_CTX(1)));
	xt_expect(s, XT_CTX(1), SAN_OP_RDMA_READ, 0, 100000);
	CHECK(l[5] == model[12345]);
	CHECK(memcmp(l + 100000, model + 12346, 49999) == 0);
	CHECK(memcmp(l + RLEN, model + 12345 + 50000, 50000) == 0);
	CHECK(l[4] == 0 && l[6] == 0 && l[100000 + 49999] == 0);

	/* Writes: the first from a 4-piece list. */
	san_test_fill(tmp, writes[0].len, writes[0].seed);
	sg[0] = xt_buf(l + 3, 100000, h);
	sg[1] = xt_buf(l + 200001, 1, 0);
	sg[2] = xt_buf(l + 300000, 99999, h);
	sg[3] = xt_buf(l + RLEN + 7, 100001, 0);
	{
		size_t off = 0;

		for (int i = 0; i < 4; i++) {
			memcpy(sg[i].buf, tmp + off, sg[i].len);
			off += sg[i].len;
		}
		CHECK(off == writes[0].len);
	}
	CHECK_OK(san_rdma_write(s, sg, 4, &d, writes[0].off, XT_CTX(2)));
	xt_expect(s, XT_CTX(2), SAN_OP_RDMA_WRITE, 0, writes[0].len);
	for (size_t i = 1; i < sizeof(writes) / sizeof(writes[0]); i++) {
		san_test_fill(l + 64, writes[i].len, writes[i].seed);
		xt_rdma_write(s, l + 64, writes[i].len, h, &d, writes[i].off, 0);
	}

	/* In flight together: NFLIGHT writes, then NFLIGHT reads of other ranges. */
	for (int i = 0; i < NFLIGHT; i++) {
		uint8_t *src = l + (size_t)i * 65536;

		san_test_fill(src, 65536, 250 + (uint32_t)i);
		sg[0] = xt_buf(src, 65536, h);
		CHECK_OK(san_rdma_write(s, sg, 1, &d, flight_off(i) + 100000, XT_CTX(10 + i)));
	}
	for (int i = 0; i < NFLIGHT; i++)
		xt_expect(s, XT_CTX(10 + i), SAN_OP_RDMA_WRITE, 0, 65536);
	apply(model);
	memset(l, 0, LLEN);
	for (int i = 0; i < NFLIGHT; i++) {
		sg[0] = xt_buf(l + (size_t)i * 100000, 99999, 0);
		CHECK_OK(san_rdma_read(s, sg, 1, &d, flight_off(i), XT_CTX(20 + i)));
	}
	for (int i = 0; i < NFLIGHT; i++) {
		xt_expect(s, XT_CTX(20 + i), SAN_OP_RDMA_READ, 0, 99999);
		CHECK(memcmp(l + (size_t)i * 100000, model + flight_off(i), 99999) == 0);
	}

	/* Read everything back. */
	xt_rdma_read(s, l, RLEN, h, &d, 0, 0);
	CHECK(memcmp(l, model, RLEN) == 0);
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(l, LLEN);
	free(model);
	free(tmp);
	return 0;
}
