/* SPDX-License-Identifier: MIT */
/*
 * The stale-registration hazard (REQUIREMENTS "How this maps onto Linux",
 * R2.4, API.md last bullet), with the cache off (SAN_RCACHE=0): register a
 * buffer, send from it, deregister, munmap, map fresh memory at the same
 * address (MAP_FIXED_NOREPLACE), fill it with new bytes, register again and
 * send: the NEW bytes arrive (by the new handle and by handle 0), and a
 * message received there lands in the new pages, never in the old ones.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define LEN (256 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *in = xt_map(LEN), *out = xt_map(LEN);
	san_handle hi = xt_reg(s, in, LEN, SAN_MEM_WRITE);
	san_handle ho = xt_reg(s, out, LEN, SAN_MEM_READ);
	static const uint32_t seeds[] = { 260, 261, 261 };

	for (int i = 0; i < 3; i++) {
		memset(in, 0, LEN);
		xt_recv(s, in, LEN, hi, XT_CTX(i + 1));
		san_test_sync(ctl, "b-recv-posted");
		xt_expect(s, XT_CTX(i + 1), SAN_OP_RECV, 0, LEN);
		if (!san_test_verify(in, LEN, seeds[i])) {
			fprintf(stderr, "message %d: %s bytes arrived\n", i + 1,
				san_test_verify(in, LEN, 260) ? "the OLD (stale)" : "unexpected");
			return 1;
		}
	}
	san_test_fill(out, LEN, 262);
	san_test_sync(ctl, "a-recv-posted");
	xt_send(s, out, LEN, ho, XT_CTX(9));
	xt_expect(s, XT_CTX(9), SAN_OP_SEND, 0, LEN);
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, hi));
	CHECK_OK(san_deregister_memory(s, ho));
	xt_teardown(p, s);
	xt_unmap(in, LEN);
	xt_unmap(out, LEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *x, *x2, *oldcopy;
	san_handle h, h2;
	int ctl;
	pid_t pid;

	san_test_start(60);
	CHECK(setenv("SAN_RCACHE", "0", 1) == 0); /* before the fork: both sides */
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);

	x = san_test_map_apart(LEN); /* nothing else lands in its hole (harness.h) */
	san_test_fill(x, LEN, 260);
	h = xt_reg(s, x, LEN, SAN_MEM_READWRITE);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s, x, LEN, h, XT_CTX(1));
	xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, LEN);
	CHECK_OK(san_deregister_memory(s, h));

	/* Fresh pages at the same address (MAP_FIXED_NOREPLACE fails rather
	 * than clobber whatever another thread might have mapped there). */
	xt_unmap(x, LEN);
	x2 = san_test_map_at(x, LEN);
	CHECK(x2 == x);
	oldcopy = malloc(LEN);
	CHECK(oldcopy);
	san_test_fill(oldcopy, LEN, 260);
	CHECK(memcmp(x, oldcopy, 64) != 0); /* really new pages (zeroed) */
	san_test_fill(x, LEN, 261);
	h2 = xt_reg(s, x, LEN, SAN_MEM_READWRITE);

	san_test_sync(ctl, "b-recv-posted");
	xt_send(s, x, LEN, h2, XT_CTX(2));
	xt_expect(s, XT_CTX(2), SAN_OP_SEND, 0, LEN);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s, x, LEN, 0, XT_CTX(3));
	xt_expect(s, XT_CTX(3), SAN_OP_SEND, 0, LEN);

	/* Into the new pages. */
	memset(x, 0, LEN);
	xt_recv(s, x, LEN, 0, XT_CTX(4));
	san_test_sync(ctl, "a-recv-posted");
	xt_expect(s, XT_CTX(4), SAN_OP_RECV, 0, LEN);
	if (!san_test_verify(x, LEN, 262)) {
		fprintf(stderr, "the received message is not in the pages now mapped at %p\n",
			(void *)x);
		return 1;
	}
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h2));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(x, LEN);
	free(oldcopy);
	return 0;
}
