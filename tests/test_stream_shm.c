/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory rings of a local move (docs/stream.md §7), with small
 * rings (64 KiB) so that every path runs: wrapping, a sender sleeping for
 * room, a receiver sleeping for bytes, DOORBELLs.
 *  1. echo of 1 B .. 1 MiB, partial reads, transport SHM on both sides;
 *  2. non-blocking epoll loops, 8 MiB each way at once (the fd wakes on
 *     DOORBELLs: nothing but the rings changes);
 *  3. SHUT_WR: the peer reads everything, then EOF;
 *  4. a hostile peer publishes a tail beyond the ring: -EPROTO, no crash;
 *  5. the peer dies (SIGKILL) while this side sleeps in a receive:
 *     -ECONNRESET, and a send: -EPIPE.
 * Pins and fds back at the end (the memfd and its mappings are gone).
 */
#include "stream_test.h"
#include "stream/stream_int.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>

#define RING (64u << 10)
#define NB_TOTAL (8u << 20)

static struct san_stream_config cfg(void)
{
	struct san_stream_config c;

	san_stream_config_init(&c);
	c.local = 1;
	c.shm = 1;
	c.shm_ring = RING;
	return c;
}

static void recv_exact(san_stream *s, uint8_t *b, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = san_stream_recv(s, b + got, n - got, 0);

		CHECK(r > 0);
		got += (size_t)r;
	}
}

/* Non-blocking both ways from one thread. */
static void nb_loop(san_stream *s, uint32_t txseed, uint32_t rxseed)
{
	uint8_t *tx = xt_map(1 << 20), *rx = xt_map(1 << 20);
	uint64_t sent = 0, rcvd = 0, rng = txseed * 77 + 1;
	int fd = san_stream_fd(s), ep = epoll_create1(EPOLL_CLOEXEC), idle = 0;
	struct epoll_event ev = { .events = EPOLLIN };

	CHECK(fd >= 0 && ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	CHECK_OK(san_stream_setopt(s, SAN_STREAM_OPT_NONBLOCK, 1));
	while (sent < NB_TOTAL || rcvd < NB_TOTAL) {
		bool progress = false;
		ssize_t r;

		while (rcvd < NB_TOTAL &&
		       (r = san_stream_recv(s, rx, SAN_TEST_MIN(1 << 20, NB_TOTAL - rcvd), 0)) != -EAGAIN) {
			CHECK(r > 0);
			CHECK(st_check(rx, (size_t)r, rcvd, rxseed) == (size_t)r);
			rcvd += (size_t)r;
			progress = true;
		}
		while (sent < NB_TOTAL) {
			size_t n = st_chunk(&rng, SAN_TEST_MIN(1 << 20, NB_TOTAL - sent), 0);

			st_fill(tx, n, sent, txseed);
			r = san_stream_send(s, tx, n, 0);
			if (r == -EAGAIN)
				break;
			CHECK(r > 0);
			sent += (size_t)r;
			progress = true;
		}
		if (progress) {
			idle = 0;
			continue;
		}
		CHECK(san_stream_poll(s, SAN_STREAM_IN | (sent < NB_TOTAL ? SAN_STREAM_OUT : 0)) >= 0);
		if (!ep_wait(ep, 100))
			CHECK(++idle < 20);
	}
	CHECK_OK(san_stream_setopt(s, SAN_STREAM_OPT_NONBLOCK, 0));
	close(ep);
	xt_unmap(tx, 1 << 20);
	xt_unmap(rx, 1 << 20);
}

static int peer(void *arg, int ctl)
{
	struct san_stream_config c = cfg();
	san_provider *p = san_test_provider();
	san_stream *s = st_connect(p, ctl, &c);
	uint8_t *buf = xt_map(1 << 20);
	uint64_t off = 0;

	CHECK(st_stats(s).transport == SAN_STREAM_TRANSPORT_SHM);
	/* 1: echo */
	for (size_t n = 1; n <= (1u << 20); n *= 4) {
		recv_exact(s, buf, n);
		CHECK(st_check(buf, n, off, 61) == n);
		off += n;
		CHECK_RC(san_stream_send(s, buf, n, 0), (long long)n);
	}
	/* 2 */
	nb_loop(s, 63, 62);
	/* 3: the parent shut down writing after 3 MiB */
	recv_exact(s, buf, 1 << 20);
	recv_exact(s, buf, 1 << 20);
	recv_exact(s, buf, 1 << 20);
	CHECK_RC(san_stream_recv(s, buf, 10, 0), 0);
	CHECK_OK(san_stream_close(s));
	/* 4: a lie in the ring */
	s = st_connect(p, ctl, &c);
	san_test_sync(ctl, "lie");
	CHECK_RC(san_stream_send(s, "x", 1, SAN_STREAM_DONTWAIT), 1);
	/* tail is the first word of the direction (stream_shm.c) */
	atomic_store((_Atomic uint64_t *)(void *)((struct san_stream *)s)->txd, (uint64_t)RING + 5);
	san_test_sync(ctl, "lied");
	san_test_sync(ctl, "seen");
	CHECK_OK(san_stream_close(s));
	/* 5: the parent kills us while it waits */
	s = st_connect(p, ctl, &c);
	san_test_sync(ctl, "kill-me");
	for (;;)
		pause();
	return 0;
}

int main(void)
{
	struct san_stream_config c = cfg();
	san_provider *p;
	san_stream *s;
	uint8_t *buf;
	uint64_t off = 0;
	int ctl;
	pid_t pid;

	san_test_start(60);
	if (getenv("SAN_TEST_LISTEN") || strcmp(san_test_transport(), "tcp"))
		san_test_skip("the shared rings follow a local move over TCP loopback");
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s = st_accept(p, ctl, &c);
	buf = xt_map(1 << 20);
	CHECK(st_stats(s).transport == SAN_STREAM_TRANSPORT_SHM);
	for (size_t n = 1; n <= (1u << 20); n *= 4) {
		st_fill(buf, n, off, 61);
		CHECK_RC(san_stream_send(s, buf, n, 0), (long long)n);
		memset(buf, 0, n);
		if (n > 1) {
			CHECK(san_stream_recv(s, buf, 1, 0) == 1);
			recv_exact(s, buf + 1, n - 1);
		} else {
			recv_exact(s, buf, n);
		}
		CHECK(st_check(buf, n, off, 61) == n);
		off += n;
	}
	nb_loop(s, 62, 63);
	for (int i = 0; i < 3; i++)
		CHECK_RC(san_stream_send(s, buf, 1 << 20, 0), 1 << 20);
	CHECK_OK(san_stream_shutdown(s, SHUT_WR));
	CHECK_RC(san_stream_send(s, buf, 1, 0), -EPIPE);
	CHECK_RC(san_stream_recv(s, buf, 10, 0), 0);
	CHECK_OK(san_stream_close(s));

	s = st_accept(p, ctl, &c);
	san_test_sync(ctl, "lie");
	san_test_sync(ctl, "lied");
	CHECK_RC(san_stream_recv(s, buf, 10, 0), -EPROTO);
	san_test_sync(ctl, "seen");
	CHECK_OK(san_stream_close(s));

	s = st_accept(p, ctl, &c);
	san_test_sync(ctl, "kill-me");
	if (!fork()) {
		xt_sleep_ms(100);
		kill(pid, SIGKILL);
		_exit(0);
	}
	CHECK_RC(san_stream_recv(s, buf, 10, 0), -ECONNRESET);
	CHECK_RC(san_stream_send(s, buf, 10, 0), -EPIPE);
	CHECK(waitpid(pid, NULL, 0) == pid);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	close(ctl);
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	xt_unmap(buf, 1 << 20);
	san_test_check_leaks();
	return 0;
}
