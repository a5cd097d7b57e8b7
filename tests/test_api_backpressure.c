/* SPDX-License-Identifier: MIT */
/*
 * Back-pressure (san.h san_recv, protocol.md §2): the sender posts 512
 * sends of 128 KiB (64 MiB, more than the transport can buffer) while the
 * receiver has no receive posted for a second. The sends must not all
 * complete meanwhile (the receiver stops reading instead of buffering
 * without bound). Then the receiver posts receives in batches of 32, and
 * every message arrives, in order, intact; every send completes with
 * success. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define NMSG 512
#define MSG (128 * 1024)
#define TOTAL ((size_t)NMSG * MSG)
#define BATCH 32

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *out = xt_map(TOTAL);
	san_handle h = xt_reg(s, out, TOTAL, SAN_MEM_READ);
	struct san_completion c[64];
	int done = 0, stalled;
	long long end;

	for (int i = 0; i < NMSG; i++)
		san_test_fill(out + (size_t)i * MSG, MSG, 400 + (uint32_t)i);
	san_test_sync(ctl, "start");
	for (int i = 0; i < NMSG; i++)
		xt_send(s, out + (size_t)i * MSG, MSG, h, XT_CTX(i + 1));

	/* The receiver sleeps 1 s; count what completes in the first 700 ms. */
	end = xt_now_ms() + 700;
	while (xt_now_ms() < end) {
		int n = san_poll(s, c, 64, 50);

		CHECK(n >= 0);
		for (int i = 0; i < n; i++) {
			CHECK(c[i].op == SAN_OP_SEND && c[i].status == 0 && c[i].bytes == MSG);
			done++;
		}
	}
	stalled = done;
	xt_send_u64(ctl, (uint64_t)stalled);
	while (done < NMSG) {
		int n = san_poll(s, c, 64, XT_TIMEOUT_MS);

		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			CHECK(c[i].op == SAN_OP_SEND && c[i].status == 0 && c[i].bytes == MSG);
			done++;
		}
	}
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(out, TOTAL);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *in;
	san_handle h;
	uint64_t stalled;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	in = xt_map(TOTAL);
	h = xt_reg(s, in, TOTAL, SAN_MEM_WRITE);

	san_test_sync(ctl, "start");
	xt_sleep_ms(1000);
	stalled = xt_recv_u64(ctl);
	printf("sends completed while no receive was posted: %" PRIu64 " of %d\n", stalled,
	       NMSG);
	if (stalled >= NMSG) {
		fprintf(stderr, "all %d sends (%zu MiB) completed with no receive posted: the "
				"receiver buffered them instead of applying back-pressure\n",
			NMSG, TOTAL >> 20);
		return 1;
	}

	for (int b = 0; b < NMSG; b += BATCH) {
		for (int i = b; i < b + BATCH; i++)
			xt_recv(s, in + (size_t)i * MSG, MSG, i % 2 ? h : 0, XT_CTX(i + 1));
		for (int i = b; i < b + BATCH; i++) {
			xt_expect(s, XT_CTX(i + 1), SAN_OP_RECV, 0, MSG);
			if (!san_test_verify(in + (size_t)i * MSG, MSG, 400 + (uint32_t)i)) {
				fprintf(stderr, "receive %d does not hold message %d\n", i, i);
				return 1;
			}
		}
	}
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(in, TOTAL);
	return 0;
}
