/* SPDX-License-Identifier: MIT */
/*
 * Non-blocking streams in an epoll loop (san_stream_fd, san_stream_poll):
 *  1. both processes run one thread each, an event loop that sends 24 MiB
 *     in random pieces and receives the other's 24 MiB, sleeping in
 *     epoll_wait on the stream's fd between tries (interest IN, plus OUT
 *     while it has bytes to send). Non-blocking sends return partial
 *     counts and -EAGAIN, never block, and never use RDMA (the counters
 *     say so); every byte is checked;
 *  2. the peer sends 4 x 4 MiB with blocking sends (RDMA, read flow) while
 *     this side receives non-blocking from its loop: the reads of the
 *     peer's buffers run inside non-blocking receives;
 *  3. after everything, the fd is quiet (epoll reports nothing within
 *     50 ms), recv says -EAGAIN, san_stream_poll says OUT only; after the
 *     peer's shutdown the fd becomes readable and recv returns 0.
 * A sleeping loop must be woken: a loop that timed out 20 times in a row
 * (2 s) without progress fails the test. SAN_TEST_TRANSPORTS
 */
#include "stream_test.h"

#include <stdbool.h>
#include <sys/epoll.h>

#define TOTAL (24u << 20)
#define BIG (4u << 20)

/* The event loop: sends tx_total bytes of stream tx_seed (unless 0) and
 * receives rx_total of rx_seed. */
static void loop(san_stream *s, uint64_t tx_total, uint32_t tx_seed, uint64_t rx_total,
		 uint32_t rx_seed, uint64_t rng)
{
	uint8_t *tx = xt_map(1 << 20), *rx = xt_map(BIG);
	uint64_t sent = 0, rcvd = 0, txrng = rng * 3 + 1, rxrng = rng * 5 + 7;
	size_t pend = 0, pend_off = 0; /* the piece being sent */
	int fd = san_stream_fd(s), ep = epoll_create1(EPOLL_CLOEXEC), idle = 0;
	struct epoll_event ev = { .events = EPOLLIN };

	CHECK(fd >= 0 && ep >= 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	while (sent < tx_total || rcvd < rx_total) {
		bool progress = false;

		/* receive until -EAGAIN */
		while (rcvd < rx_total) {
			size_t n = st_chunk(&rxrng, SAN_TEST_MIN(BIG, rx_total - rcvd), 0);
			ssize_t r = san_stream_recv(s, rx, n, 0);

			if (r == -EAGAIN)
				break;
			CHECK(r > 0 && (size_t)r <= n);
			CHECK(st_check(rx, (size_t)r, rcvd, rx_seed) == (size_t)r);
			rcvd += (size_t)r;
			progress = true;
		}
		/* send until -EAGAIN */
		while (sent < tx_total) {
			ssize_t r;

			if (!pend) {
				pend = st_chunk(&txrng, SAN_TEST_MIN(1 << 20, tx_total - sent), 0);
				pend_off = 0;
				st_fill(tx, pend, sent, tx_seed);
			}
			r = san_stream_send(s, tx + pend_off, pend - pend_off, 0);
			if (r == -EAGAIN)
				break;
			CHECK(r > 0 && (size_t)r <= pend - pend_off);
			pend_off += (size_t)r;
			sent += (size_t)r;
			if (pend_off == pend)
				pend = 0;
			progress = true;
		}
		if (progress) {
			idle = 0;
			continue;
		}
		CHECK(san_stream_poll(s, SAN_STREAM_IN | (sent < tx_total ? SAN_STREAM_OUT : 0)) >= 0);
		if (!ep_wait(ep, 100))
			CHECK(++idle < 20);
	}
	close(ep);
	xt_unmap(tx, 1 << 20);
	xt_unmap(rx, BIG);
}

static int peer(void *arg, int ctl)
{
	struct san_stream_config c;
	san_provider *p = san_test_provider();
	san_stream *s;
	uint8_t *buf = xt_map(BIG);

	c = st_config();
	c.nonblock = 1;
	s = st_connect(p, ctl, &c);
	loop(s, TOTAL, 21, TOTAL, 20, 5);
	CHECK(st_stats(s).src_avail_sent == 0);
	/* Phase 2: blocking RDMA sends. */
	CHECK_OK(san_stream_setopt(s, SAN_STREAM_OPT_NONBLOCK, 0));
	for (int i = 0; i < 4; i++) {
		st_fill(buf, BIG, (uint64_t)i * BIG, 22);
		CHECK_RC(san_stream_send(s, buf, BIG, 0), BIG);
	}
	CHECK(st_stats(s).src_avail_sent == 4);
	san_test_sync(ctl, "quiet");
	san_test_sync(ctl, "checked");
	CHECK_OK(san_stream_shutdown(s, SHUT_WR));
	san_test_sync(ctl, "end");
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	xt_unmap(buf, BIG);
	return 0;
}

int main(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct san_stream_config c;
	san_provider *p;
	san_stream *s;
	uint8_t b[16];
	int ctl, fd, ep;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	c = st_config();
	c.nonblock = 1;
	s = st_accept(p, ctl, &c);
	loop(s, TOTAL, 20, TOTAL, 21, 9);
	CHECK(st_stats(s).src_avail_sent == 0);
	loop(s, 0, 0, 4ull * BIG, 22, 11);
	CHECK(st_stats(s).rdma_read_bytes == 4ull * BIG);

	san_test_sync(ctl, "quiet");
	fd = san_stream_fd(s);
	ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	CHECK_RC(san_stream_recv(s, b, sizeof(b), 0), -EAGAIN);
	CHECK_RC(san_stream_poll(s, SAN_STREAM_IN), SAN_STREAM_OUT);
	CHECK(ep_wait(ep, 50) == 0);
	CHECK_RC(san_stream_recv(s, b, sizeof(b), 0), -EAGAIN);
	san_test_sync(ctl, "checked"); /* now the peer shuts down writing */
	CHECK(ep_wait(ep, 5000) == 1);
	CHECK_RC(san_stream_recv(s, b, sizeof(b), 0), 0);
	CHECK(san_stream_poll(s, 0) & SAN_STREAM_HUP);
	san_test_sync(ctl, "end");
	close(ep);
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
