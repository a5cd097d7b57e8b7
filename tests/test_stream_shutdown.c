/* SPDX-License-Identifier: MIT */
/*
 * Orderly shutdown and close, and their races, on fresh streams:
 *  1. send-then-close: the peer sends 3 MiB (copied and by RDMA) and
 *     closes at once; every byte arrives, then EOF (0, and 0 again);
 *  2. a receive blocked in another thread wakes with 0 when this side
 *     shuts down reading (SHUT_RD); later receives return 0; data the peer
 *     sends meanwhile is dropped by those calls and its credits returned,
 *     so the peer's 4 MiB of small sends and a 1 MiB RDMA send complete;
 *  3. a send blocked for credit (the peer does not read) wakes when this
 *     side shuts down writing from another thread: it returns what it had
 *     sent, or -EPIPE; later sends -EPIPE;
 *  4. both sides close at the same moment, after sending to each other;
 *  5. the peer closes while this side is blocked in a receive: 0 (the
 *     close sends FIN first).
 * SAN_TEST_TRANSPORTS
 */
#include "stream_test.h"

#include <poll.h>
#include <pthread.h>

#define NCASE 5

struct bg {
	san_stream *s;
	uint8_t *buf;
	size_t len;
	int op; /* 0 recv, 1 send */
	ssize_t rc;
	long long ms;
};

static void *bg_main(void *arg)
{
	struct bg *b = arg;
	long long t0 = xt_now_ms();

	if (b->op)
		b->rc = san_stream_send(b->s, b->buf, b->len, 0);
	else
		b->rc = san_stream_recv(b->s, b->buf, b->len, 0);
	b->ms = xt_now_ms() - t0;
	return NULL;
}

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	uint8_t *buf = xt_map(4 << 20);

	for (int c = 1; c <= NCASE; c++) {
		san_stream *s = st_connect(p, ctl, NULL);
		size_t off;

		switch (c) {
		case 1:
			st_fill(buf, 3 << 20, 0, 11);
			CHECK_RC(san_stream_send(s, buf, 1000, 0), 1000);
			CHECK_RC(san_stream_send(s, buf + 1000, (3 << 20) - 1000, 0), (3 << 20) - 1000);
			break;
		case 2:
			san_test_sync(ctl, "shut-rd");
			for (off = 0; off < (4u << 20); off += 1000)
				CHECK_RC(san_stream_send(s, buf, 1000, 0), 1000);
			CHECK_RC(san_stream_send(s, buf, 1 << 20, 0), 1 << 20); /* RDMA: "read" unread */
			san_test_ctl_send_str(ctl, "sent");
			break;
		case 3:
			/* Never reads; waits for the parent's verdict. */
			san_test_sync(ctl, "shut-wr-done");
			CHECK_RC(san_stream_recv(s, buf, 1, SAN_STREAM_DONTWAIT) >= 0 ? 0 : 0, 0);
			break;
		case 4:
			CHECK_RC(san_stream_send(s, "abc", 3, 0), 3);
			CHECK_RC(san_stream_recv(s, buf, 3, 0), 3);
			san_test_sync(ctl, "close-both");
			break;
		case 5:
			san_test_sync(ctl, "blocked");
			xt_sleep_ms(50);
			break;
		}
		CHECK_OK(san_stream_close(s));
	}
	san_provider_close(p);
	xt_unmap(buf, 4 << 20);
	return 0;
}

int main(void)
{
	san_provider *p;
	uint8_t *buf;
	pthread_t th;
	struct bg b;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	buf = xt_map(8 << 20);
	for (int c = 1; c <= NCASE; c++) {
		san_stream *s = st_accept(p, ctl, NULL);
		size_t got = 0;
		ssize_t r;

		switch (c) {
		case 1:
			while ((r = san_stream_recv(s, buf + got, (8 << 20) - got, 0)) > 0)
				got += (size_t)r;
			if (r) fprintf(stderr, "got %zu\n", got);
			CHECK_RC(r, 0);
			CHECK(got == 3u << 20);
			CHECK(st_check(buf, got, 0, 11) == got);
			CHECK_RC(san_stream_recv(s, buf, 1, 0), 0);
			break;
		case 2:
			b = (struct bg){ s, buf, 100, 0, 99, 0 };
			CHECK(pthread_create(&th, NULL, bg_main, &b) == 0);
			xt_sleep_ms(50);
			CHECK_OK(san_stream_shutdown(s, SHUT_RD));
			CHECK(pthread_join(th, NULL) == 0);
			CHECK_RC(b.rc, 0);
			CHECK(b.ms < 2000);
			san_test_sync(ctl, "shut-rd");
			/* The peer's sends complete although nobody reads them:
			 * each call into the stream drops what arrived and returns
			 * the credits (there is no thread of the stream's own). */
			for (;;) {
				struct pollfd pf = { ctl, POLLIN, 0 };

				CHECK_RC(san_stream_recv(s, buf, 100, 0), 0);
				if (poll(&pf, 1, 1) == 1)
					break;
			}
			{
				char m[16];

				san_test_ctl_recv(ctl, m, sizeof(m));
				CHECK(!strcmp(m, "sent"));
			}
			break;
		case 3:
			/* Fill the peer's window (it does not read), then block. */
			st_fill(buf, 4 << 20, 0, 3);
			b = (struct bg){ s, buf, 4 << 20, 1, 99, 0 };
			CHECK_OK(san_stream_setopt(s, SAN_STREAM_OPT_RDMA_THRESHOLD, 0)); /* copy only */
			CHECK(pthread_create(&th, NULL, bg_main, &b) == 0);
			xt_sleep_ms(100);
			CHECK_OK(san_stream_shutdown(s, SHUT_WR));
			CHECK(pthread_join(th, NULL) == 0);
			CHECK(b.rc == -EPIPE || (b.rc > 0 && b.rc < (4 << 20)));
			CHECK(b.ms < 2000);
			CHECK_RC(san_stream_send(s, buf, 1, 0), -EPIPE);
			san_test_sync(ctl, "shut-wr-done");
			break;
		case 4:
			CHECK_RC(san_stream_send(s, "xyz", 3, 0), 3);
			CHECK_RC(san_stream_recv(s, buf, 3, 0), 3);
			san_test_sync(ctl, "close-both");
			break;
		case 5:
			b = (struct bg){ s, buf, 100, 0, 99, 0 };
			CHECK(pthread_create(&th, NULL, bg_main, &b) == 0);
			san_test_sync(ctl, "blocked");
			CHECK(pthread_join(th, NULL) == 0);
			CHECK_RC(b.rc, 0);
			break;
		}
		CHECK_OK(san_stream_close(s));
	}
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, 8 << 20);
	return 0;
}
