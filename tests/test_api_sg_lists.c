/* SPDX-License-Identifier: MIT */
/*
 * Scatter/gather lists on both sides, with splits that do not line up: a
 * message gathered from 7 odd-sized pieces in 3 registrations (explicit
 * handles and handle 0) lands scattered over 5 pieces; SAN_MAX_SGE pieces
 * on both sides; a message shorter than the receive list fills its first
 * elements in order. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define REG (1024 * 1024)

struct piece {
	int reg;     /* which of the 3 registrations */
	size_t off;  /* offset in it */
	size_t len;
	int zero_h;  /* pass handle 0 */
};

/* Builds a san_buf list from pieces. */
static int build(struct san_buf *sg, const struct piece *pc, int n, uint8_t *const *base,
		 const san_handle *h, size_t *total_out)
{
	size_t total = 0;

	for (int i = 0; i < n; i++) {
		sg[i] = xt_buf(base[pc[i].reg] + pc[i].off, pc[i].len,
			       pc[i].zero_h ? 0 : h[pc[i].reg]);
		total += pc[i].len;
	}
	*total_out = total;
	return n;
}

static void scatter(const struct san_buf *sg, int n, const uint8_t *msg, size_t len)
{
	for (int i = 0; i < n && len; i++) {
		size_t k = sg[i].len < len ? sg[i].len : len;

		memcpy(sg[i].buf, msg, k);
		msg += k;
		len -= k;
	}
}

static void gather(const struct san_buf *sg, int n, uint8_t *msg, size_t len)
{
	for (int i = 0; i < n && len; i++) {
		size_t k = sg[i].len < len ? sg[i].len : len;

		memcpy(msg, sg[i].buf, k);
		msg += k;
		len -= k;
	}
}

static const struct piece gather7[] = {
	{ 0, 1, 1, 0 },         { 1, 4097, 4095, 1 }, { 2, 3, 3, 0 },     { 0, 10000, 65536, 0 },
	{ 1, 200000, 17, 1 },   { 2, 77777, 30000, 0 }, { 0, 500001, 351, 1 },
};
static const struct piece scatter5[] = {
	{ 2, 900001, 999, 0 }, { 0, 300003, 50000, 1 }, { 1, 7, 1, 0 },
	{ 2, 400000, 48000, 0 }, { 1, 600013, 1003, 1 },
};

static void lay_out_64(struct piece *pc, uint32_t mul, int zero_every)
{
	size_t off = 5;

	for (int i = 0; i < SAN_MAX_SGE; i++) {
		pc[i].reg = i % 3;
		pc[i].len = 1 + (i * mul) % 997;
		pc[i].off = off;
		pc[i].zero_h = i % zero_every == 0;
		off += pc[i].len + 13;
	}
}

struct side {
	uint8_t *base[3];
	san_handle h[3];
};

static void side_open(struct side *sd, san_socket *s)
{
	for (int i = 0; i < 3; i++) {
		sd->base[i] = xt_map(REG);
		sd->h[i] = xt_reg(s, sd->base[i], REG, SAN_MEM_READWRITE);
	}
}

static void side_close(struct side *sd, san_socket *s)
{
	for (int i = 0; i < 3; i++) {
		CHECK_OK(san_deregister_memory(s, sd->h[i]));
		xt_unmap(sd->base[i], REG);
	}
}

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	struct side sd;
	struct san_buf sg[SAN_MAX_SGE];
	struct piece pc[SAN_MAX_SGE];
	uint8_t *msg = malloc(REG);
	size_t total;
	int n;

	CHECK(msg);
	side_open(&sd, s);

	/* 1: 7 pieces out */
	n = build(sg, gather7, 7, sd.base, sd.h, &total);
	CHECK(total == 100003);
	san_test_fill(msg, total, 230);
	scatter(sg, n, msg, total);
	san_test_sync(ctl, "a-recv-posted-1");
	CHECK_OK(san_send(s, sg, n, XT_CTX(1)));
	xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, total);

	/* 2: 64 pieces out */
	lay_out_64(pc, 37, 5);
	n = build(sg, pc, SAN_MAX_SGE, sd.base, sd.h, &total);
	san_test_fill(msg, total, 231);
	scatter(sg, n, msg, total);
	xt_send_u64(ctl, total);
	san_test_sync(ctl, "a-recv-posted-2");
	CHECK_OK(san_send(s, sg, n, XT_CTX(2)));
	xt_expect(s, XT_CTX(2), SAN_OP_SEND, 0, total);

	/* 3: 70001 bytes into two 50000-byte pieces */
	sg[0] = xt_buf(sd.base[1] + 11, 50000, sd.h[1]);
	sg[1] = xt_buf(sd.base[0] + 700000, 50000, 0);
	memset(sd.base[0] + 700000, 0xee, 50000);
	CHECK_OK(san_recv(s, sg, 2, XT_CTX(3)));
	san_test_sync(ctl, "b-recv-posted-3");
	xt_expect(s, XT_CTX(3), SAN_OP_RECV, 0, 70001);
	gather(sg, 2, msg, 70001);
	CHECK(san_test_verify(msg, 70001, 232));
	CHECK(xt_all(sd.base[0] + 700000 + 20001, 50000 - 20001, 0xee));

	san_test_sync(ctl, "end");
	side_close(&sd, s);
	xt_teardown(p, s);
	free(msg);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	struct side sd;
	struct san_buf sg[SAN_MAX_SGE];
	struct piece pc[SAN_MAX_SGE];
	uint8_t *msg = malloc(REG);
	size_t total, want;
	int n, ctl;
	pid_t pid;

	san_test_start(60);
	CHECK(msg);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	side_open(&sd, s);

	/* 1: into 5 pieces */
	n = build(sg, scatter5, 5, sd.base, sd.h, &total);
	CHECK(total == 100003);
	CHECK_OK(san_recv(s, sg, n, XT_CTX(1)));
	san_test_sync(ctl, "a-recv-posted-1");
	xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, 100003);
	gather(sg, n, msg, total);
	CHECK(san_test_verify(msg, total, 230));

	/* 2: 64 pieces in, split differently */
	want = xt_recv_u64(ctl);
	lay_out_64(pc, 53, 3);
	n = build(sg, pc, SAN_MAX_SGE, sd.base, sd.h, &total);
	CHECK(total >= want);
	/* trim the list so that it is exactly the message */
	{
		size_t acc = 0;

		for (int i = 0; i < n; i++) {
			if (acc + sg[i].len >= want) {
				sg[i].len = want - acc;
				n = i + 1;
				break;
			}
			acc += sg[i].len;
		}
	}
	CHECK_OK(san_recv(s, sg, n, XT_CTX(2)));
	san_test_sync(ctl, "a-recv-posted-2");
	xt_expect(s, XT_CTX(2), SAN_OP_RECV, 0, want);
	gather(sg, n, msg, want);
	CHECK(san_test_verify(msg, want, 231));

	/* 3: 3 pieces out */
	sg[0] = xt_buf(sd.base[2] + 1, 20000, sd.h[2]);
	sg[1] = xt_buf(sd.base[0] + 99, 1, 0);
	sg[2] = xt_buf(sd.base[1] + 123457, 50000, sd.h[1]);
	san_test_fill(msg, 70001, 232);
	scatter(sg, 3, msg, 70001);
	san_test_sync(ctl, "b-recv-posted-3");
	CHECK_OK(san_send(s, sg, 3, XT_CTX(3)));
	xt_expect(s, XT_CTX(3), SAN_OP_SEND, 0, 70001);

	san_test_sync(ctl, "end");
	xt_expect_idle(s);
	side_close(&sd, s);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	free(msg);
	return 0;
}
