/* SPDX-License-Identifier: MIT */
/*
 * Fault: a peer that stops reading (posts no receive: its receive side is
 * full). The sender keeps posting 32 KiB sends for 1.5 s, reaping what
 * completes and posting again until san_send says -EAGAIN (max_outstanding
 * posted and unreaped). Checked:
 *   - the sender is back-pressured: after the first few MiB (what the
 *     transport buffers) sends stop completing, and the number posted and
 *     unreaped reaches exactly max_outstanding, where san_send returns
 *     -EAGAIN (and keeps returning it, with nothing posted);
 *   - memory stays bounded: VmRSS of the sender and of the stopped receiver
 *     grow by less than 8 MiB over the stall (the sender's 64 MiB of
 *     messages are registered, and touched, before it starts);
 *   - then the receiver posts receives and all 2048 messages arrive, in
 *     order and intact; every send completes with 0.
 * SAN_TEST_TRANSPORTS
 */
#include "fault.h"

#define NMSG 2048
#define MSG (32 * 1024)
#define TOTAL ((size_t)NMSG * MSG)
#define STALL_MS 1500
#define RSS_BOUND_KB (8 * 1024)

struct stall_report {
	int posted, completed, eagain;
	long rss0_kb, rss_max_kb;
	unsigned max_outstanding;
};

static int sender(void *arg, int ctl)
{
	struct stall_report rep = { 0 };
	struct san_completion c[64];
	struct san_config cfg;
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *out = xt_map(TOTAL);
	san_handle h = xt_reg(s, out, TOTAL, SAN_MEM_READ);
	long long end;

	san_config_init(&cfg);
	rep.max_outstanding = cfg.max_outstanding;
	for (int i = 0; i < NMSG; i++)
		fault_fill(out + (size_t)i * MSG, MSG, 1000 + (uint64_t)i);
	rep.rss0_kb = rep.rss_max_kb = fault_status_kb(0, "VmRSS");
	san_test_sync(ctl, "start");

	end = xt_now_ms() + STALL_MS;
	while (xt_now_ms() < end) {
		int n, rc;

		while (rep.posted < NMSG) {
			rc = kill_post(s, SAN_OP_SEND, out + (size_t)rep.posted * MSG, MSG,
				       rep.posted % 2 ? h : 0, NULL, 0, XT_CTX(rep.posted + 1));
			if (rc == -EAGAIN) {
				rep.eagain++;
				break;
			}
			CHECK_RC(rc, 0);
			rep.posted++;
		}
		n = san_poll(s, c, 64, 20);
		CHECK(n >= 0);
		for (int i = 0; i < n; i++) {
			CHECK(c[i].op == SAN_OP_SEND && c[i].status == 0 && c[i].bytes == MSG);
			CHECK(c[i].ctx == XT_CTX(rep.completed + 1)); /* in order */
			rep.completed++;
		}
		{
			long rss = fault_status_kb(0, "VmRSS");

			if (rss > rep.rss_max_kb)
				rep.rss_max_kb = rss;
		}
	}
	/* Stalled: posting still refused, and refused cleanly. */
	if (rep.posted - rep.completed == (int)rep.max_outstanding)
		CHECK_RC(kill_post(s, SAN_OP_SEND, out, MSG, h, NULL, 0, XT_CTX(0xbad)), -EAGAIN);
	san_test_ctl_send(ctl, &rep, sizeof(rep));

	/* The receiver reads again: post the rest, reap everything. */
	while (rep.completed < NMSG) {
		int n;

		while (rep.posted < NMSG) {
			int rc = kill_post(s, SAN_OP_SEND, out + (size_t)rep.posted * MSG, MSG, h, NULL,
					   0, XT_CTX(rep.posted + 1));

			if (rc == -EAGAIN)
				break;
			CHECK_RC(rc, 0);
			rep.posted++;
		}
		n = san_poll(s, c, 64, XT_TIMEOUT_MS);
		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			CHECK(c[i].op == SAN_OP_SEND && c[i].status == 0 && c[i].bytes == MSG);
			CHECK(c[i].ctx == XT_CTX(rep.completed + 1));
			rep.completed++;
		}
	}
	san_test_sync(ctl, "end");
	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(out, TOTAL);
	return 0;
}

int main(void)
{
	struct stall_report rep;
	san_provider *p;
	san_socket *s;
	uint8_t *in;
	san_handle h;
	long rss0, rss1;
	int ctl, fail = 0;
	pid_t pid;

	san_test_start(100);
	pid = xt_fork(sender, NULL, &ctl);
	s = xt_server(&p, ctl);
	in = xt_map(TOTAL);
	h = xt_reg(s, in, TOTAL, SAN_MEM_WRITE);
	rss0 = fault_status_kb(0, "VmRSS");
	san_test_sync(ctl, "start");
	CHECK(san_test_ctl_recv(ctl, &rep, sizeof(rep)) == sizeof(rep));
	rss1 = fault_status_kb(0, "VmRSS");

	printf("stall of %d ms: sender posted %d, %d completed (%zu KiB left the sender), "
	       "-EAGAIN %d times at %d outstanding (max_outstanding %u)\n",
	       STALL_MS, rep.posted, rep.completed, (size_t)rep.completed * MSG / 1024, rep.eagain,
	       rep.posted - rep.completed, rep.max_outstanding);
	printf("VmRSS: sender %ld -> max %ld kB, stopped receiver %ld -> %ld kB\n", rep.rss0_kb,
	       rep.rss_max_kb, rss0, rss1);
	if (rep.completed >= NMSG / 2) {
		fprintf(stderr, "%d of %d sends completed with no receive posted: no back-pressure\n",
			rep.completed, NMSG);
		fail = 1;
	}
	if (!rep.eagain || rep.posted - rep.completed != (int)rep.max_outstanding) {
		fprintf(stderr, "want -EAGAIN at exactly %u outstanding sends; got %d outstanding, "
				"-EAGAIN %d times\n",
			rep.max_outstanding, rep.posted - rep.completed, rep.eagain);
		fail = 1;
	}
	if (rep.rss_max_kb - rep.rss0_kb > RSS_BOUND_KB || rss1 - rss0 > RSS_BOUND_KB) {
		fprintf(stderr, "memory grew during the stall beyond %d kB\n", RSS_BOUND_KB);
		fail = 1;
	}
	if (fail)
		return 1;

	for (int b = 0; b < NMSG; b += 256) {
		for (int i = b; i < b + 256; i++)
			xt_recv(s, in + (size_t)i * MSG, MSG, i % 3 ? h : 0, XT_CTX(i + 1));
		for (int i = b; i < b + 256; i++) {
			struct san_completion c = san_test_wait_one(s, XT_TIMEOUT_MS);

			/* Receives complete in the order posted, each holding the
			 * message of the same rank. */
			CHECK(c.ctx == XT_CTX(i + 1) && c.op == SAN_OP_RECV);
			CHECK_RC(c.status, 0);
			CHECK(c.bytes == MSG);
			if (!fault_verify("receiver: message", in + (size_t)i * MSG, MSG,
					  1000 + (uint64_t)i)) {
				fprintf(stderr, "receive %d does not hold message %d\n", i, i);
				return 1;
			}
		}
	}
	printf("all %d messages arrived in order and intact\n", NMSG);
	san_test_sync(ctl, "end");
	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	xt_unmap(in, TOTAL);
	san_test_check_leaks();
	return 0;
}
