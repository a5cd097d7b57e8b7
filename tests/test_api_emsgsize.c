/* SPDX-License-Identifier: MIT */
/*
 * API.md: a receive smaller than the incoming message completes with
 * -EMSGSIZE and bytes = what fitted; the part that fitted is the head of the
 * message, nothing lands beyond the buffers, the rest is discarded, and the
 * next message arrives intact in the next receive. Single buffers, lists,
 * an empty receive (n = 0) and a 1 MiB message into 100 bytes. The sender's
 * sends all succeed. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define OUT (2 * 1024 * 1024)
#define IN (64 * 1024)

static const size_t msg_len[] = { 5000, 3000, 1000, 1000, 10, 64, 1024 * 1024, 100 };
#define NMSG (sizeof(msg_len) / sizeof(msg_len[0]))

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *out = xt_map(OUT);
	san_handle h = xt_reg(s, out, OUT, SAN_MEM_READ);
	size_t off = 0;

	san_test_sync(ctl, "a-recv-posted");
	for (size_t i = 0; i < NMSG; i++) {
		san_test_fill(out + off, msg_len[i], 181 + (uint32_t)i);
		xt_send(s, out + off, msg_len[i], h, XT_CTX(i + 1));
		off += msg_len[i];
	}
	for (size_t i = 0; i < NMSG; i++)
		xt_expect(s, XT_CTX(i + 1), SAN_OP_SEND, 0, msg_len[i]);
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(out, OUT);
	return 0;
}

/* [buf, buf+len) holds the first len bytes of message seed. */
static int head_of(const uint8_t *buf, size_t len, uint32_t seed)
{
	return san_test_verify(buf, len, seed);
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *in, *want;
	san_handle h;
	struct san_buf sg[2];
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	in = xt_map(IN);
	want = malloc(1000);
	CHECK(want);
	memset(in, 0xee, IN);
	h = xt_reg(s, in, IN, SAN_MEM_WRITE);

	xt_recv(s, in + 100, 1000, h, XT_CTX(1));   /* 5000 -> 1000 */
	xt_recv(s, in + 2000, 4096, h, XT_CTX(2));  /* 3000 fits */
	sg[0] = xt_buf(in + 8000, 300, h);           /* 1000 -> 300 + 200 */
	sg[1] = xt_buf(in + 9000, 200, 0);
	CHECK_OK(san_recv(s, sg, 2, XT_CTX(3)));
	xt_recv(s, in + 10000, 1000, h, XT_CTX(4));  /* 1000 exactly */
	CHECK_OK(san_recv(s, NULL, 0, XT_CTX(5)));   /* 10 -> nothing */
	xt_recv(s, in + 12000, 64, h, XT_CTX(6));    /* 64 exactly */
	xt_recv(s, in + 13000, 100, h, XT_CTX(7));   /* 1 MiB -> 100 */
	xt_recv(s, in + 14000, 1000, h, XT_CTX(8));  /* 100 fits */
	san_test_sync(ctl, "a-recv-posted");

	xt_expect(s, XT_CTX(1), SAN_OP_RECV, -EMSGSIZE, 1000);
	xt_expect(s, XT_CTX(2), SAN_OP_RECV, 0, 3000);
	xt_expect(s, XT_CTX(3), SAN_OP_RECV, -EMSGSIZE, 500);
	xt_expect(s, XT_CTX(4), SAN_OP_RECV, 0, 1000);
	xt_expect(s, XT_CTX(5), SAN_OP_RECV, -EMSGSIZE, 0);
	xt_expect(s, XT_CTX(6), SAN_OP_RECV, 0, 64);
	xt_expect(s, XT_CTX(7), SAN_OP_RECV, -EMSGSIZE, 100);
	xt_expect(s, XT_CTX(8), SAN_OP_RECV, 0, 100);

	CHECK(xt_all(in, 100, 0xee));
	CHECK(head_of(in + 100, 1000, 181));
	CHECK(xt_all(in + 1100, 900, 0xee));
	CHECK(head_of(in + 2000, 3000, 182));
	CHECK(xt_all(in + 5000, 3000, 0xee));
	san_test_fill(want, 500, 183);
	CHECK(memcmp(in + 8000, want, 300) == 0);
	CHECK(xt_all(in + 8300, 700, 0xee));
	CHECK(memcmp(in + 9000, want + 300, 200) == 0);
	CHECK(xt_all(in + 9200, 800, 0xee));
	CHECK(head_of(in + 10000, 1000, 184));
	CHECK(xt_all(in + 11000, 1000, 0xee));
	CHECK(head_of(in + 12000, 64, 186));
	CHECK(xt_all(in + 12064, 936, 0xee));
	CHECK(head_of(in + 13000, 100, 187));
	CHECK(xt_all(in + 13100, 900, 0xee));
	CHECK(head_of(in + 14000, 100, 188));
	CHECK(xt_all(in + 14100, IN - 14100, 0xee));
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(in, IN);
	free(want);
	return 0;
}
