/* SPDX-License-Identifier: MIT */
/*
 * The peer process dies (SIGKILL) in the middle:
 *  1. while a large send waits for the peer to read its buffer (read
 *     flow): the send returns -EPIPE promptly, the buffer's key is revoked
 *     and its registration released; later sends -EPIPE;
 *  2. while this side is blocked in a receive after some data: the data
 *     first, then -ECONNRESET (no FIN came: not an end of stream);
 *  3. while a copying send is blocked for credit (the peer stopped
 *     reading): -EPIPE or the partial count, promptly.
 * No pinned page or fd is left once the streams are closed. SAN_TEST_TRANSPORTS
 */
#include "stream_test.h"

#include <pthread.h>

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_stream *s = st_connect(p, ctl, NULL);
	int c = (int)(intptr_t)arg;
	uint8_t buf[100];

	if (c == 2) {
		memset(buf, 7, sizeof(buf));
		CHECK_RC(san_stream_send(s, buf, sizeof(buf), 0), sizeof(buf));
	}
	san_test_sync(ctl, "ready");
	for (;;)
		pause(); /* killed here */
	return 0;
}

static pid_t start(int c, int *ctl)
{
	return xt_fork(peer, (void *)(intptr_t)c, ctl);
}

static void kill_peer(pid_t pid, int ctl)
{
	int st;

	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, &st, 0) == pid);
	close(ctl);
}

int main(void)
{
	san_provider *p;
	uint8_t *buf;
	int ctl;
	pid_t pid;

	san_test_start(60);
	buf = xt_map(8 << 20);
	for (int c = 1; c <= 3; c++) {
		san_stream *s;
		long long t0;
		ssize_t r;

		pid = start(c, &ctl);
		p = san_test_provider();
		s = st_accept(p, ctl, NULL);
		san_test_sync(ctl, "ready");
		if (c == 2) {
			CHECK_RC(san_stream_recv(s, buf, 1000, 0), 100);
			CHECK(xt_all(buf, 100, 7));
		}
		t0 = xt_now_ms();
		switch (c) {
		case 1: {
			struct san_stats ps;

			/* The send blocks until the peer reads: kill it first,
			 * from the control channel's point of view, a bit later. */
			if (!fork()) {
				xt_sleep_ms(100);
				kill(pid, SIGKILL);
				_exit(0);
			}
			r = san_stream_send(s, buf, 8 << 20, 0);
			CHECK_RC(r, -EPIPE);
			CHECK_OK(san_get_stats(p, &ps));
			CHECK(ps.keys_active == 0);
			CHECK_RC(san_stream_send(s, buf, 10, 0), -EPIPE);
			break;
		}
		case 2:
			kill(pid, SIGKILL);
			CHECK_RC(san_stream_recv(s, buf, 1000, 0), -ECONNRESET);
			CHECK_RC(san_stream_recv(s, buf, 1000, 0), -ECONNRESET);
			break;
		case 3:
			CHECK_OK(san_stream_setopt(s, SAN_STREAM_OPT_RDMA_THRESHOLD, 0));
			if (!fork()) {
				xt_sleep_ms(100);
				kill(pid, SIGKILL);
				_exit(0);
			}
			r = san_stream_send(s, buf, 8 << 20, 0);
			CHECK(r == -EPIPE || (r > 0 && r < (8 << 20)));
			break;
		}
		printf("case %d: %lld ms\n", c, xt_now_ms() - t0);
		CHECK(xt_now_ms() - t0 < 3000);
		kill_peer(pid, ctl);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		CHECK_OK(san_stream_close(s));
		san_provider_close(p);
	}
	xt_unmap(buf, 8 << 20);
	san_test_check_leaks();
	return 0;
}
