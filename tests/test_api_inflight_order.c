/* SPDX-License-Identifier: MIT */
/*
 * Many messages in flight at once, both directions together: each side
 * posts 200 receives, then 200 sends of different sizes without waiting.
 * Message i lands in receive i (the oldest posted), whole and in order,
 * every send completes with success, nothing is lost or duplicated.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define NMSG 200
#define SLOT (20 * 1024)

static size_t msg_size(int i)
{
	return (size_t)i * 97 + 1;
}

static void exchange(san_socket *s, int ctl, uint32_t seed_out, uint32_t seed_in)
{
	size_t total = (size_t)NMSG * SLOT;
	uint8_t *out = xt_map(total), *in = xt_map(total);
	san_handle ho = xt_reg(s, out, total, SAN_MEM_READ);
	san_handle hi = xt_reg(s, in, total, SAN_MEM_WRITE);

	for (int i = 0; i < NMSG; i++) {
		san_test_fill(out + (size_t)i * SLOT, msg_size(i), seed_out + (uint32_t)i);
		xt_recv(s, in + (size_t)i * SLOT, SLOT, i % 3 ? hi : 0, XT_CTX(1000 + i));
	}
	san_test_sync(ctl, "recv-posted");
	for (int i = 0; i < NMSG; i++)
		xt_send(s, out + (size_t)i * SLOT, msg_size(i), i % 2 ? ho : 0, XT_CTX(2000 + i));
	for (int i = 0; i < NMSG; i++) {
		xt_expect(s, XT_CTX(1000 + i), SAN_OP_RECV, 0, msg_size(i));
		if (!san_test_verify(in + (size_t)i * SLOT, msg_size(i), seed_in + (uint32_t)i)) {
			fprintf(stderr, "[%d] receive %d does not hold message %d\n", (int)getpid(),
				i, i);
			exit(1);
		}
	}
	for (int i = 0; i < NMSG; i++)
		xt_expect(s, XT_CTX(2000 + i), SAN_OP_SEND, 0, msg_size(i));
	san_test_sync(ctl, "end");
	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, ho));
	CHECK_OK(san_deregister_memory(s, hi));
	xt_unmap(out, total);
	xt_unmap(in, total);
}

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);

	exchange(s, ctl, 5000, 3000);
	xt_teardown(p, s);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	exchange(s, ctl, 3000, 5000);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
