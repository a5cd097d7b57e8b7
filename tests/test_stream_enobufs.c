/* SPDX-License-Identifier: MIT */
/*
 * Registration failure in the switch is -ENOBUFS (WSAENOBUFS), and only
 * that call fails: the stream goes on. This side runs as an ordinary user
 * (root first becomes a fresh uid, as test_fault_memlock does) and, once
 * its stream is up, lowers RLIMIT_MEMLOCK to what it has pinned + 2 MiB:
 *  - a blocking 8 MiB send (RDMA: its buffer must be registered) fails
 *    with -ENOBUFS and sends nothing; a 100 KiB one (copied) works; so does
 *    an 8 MiB send from the same buffer with the threshold at 0 (copied);
 *  - an 8 MiB receive of the peer's 8 MiB RDMA send (the receive buffer
 *    must be registered for the read) fails with -ENOBUFS; receives of
 *    256 KiB then take the whole 8 MiB, intact.
 * The peer (root, no limit) checks every byte it got. SAN_TEST_TRANSPORTS
 */
#include "stream_test.h"

#include <sys/resource.h>

#define BIG (8u << 20)
#define SMALL (100u << 10)

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_stream *s = st_connect(p, ctl, NULL);
	uint8_t *buf = xt_map(BIG);
	size_t got = 0;

	while (got < SMALL + BIG) {
		ssize_t r = san_stream_recv(s, buf + (got % BIG), SAN_TEST_MIN(BIG - got % BIG, SMALL + BIG - got), 0);

		CHECK(r > 0);
		CHECK(st_check(buf + (got % BIG), (size_t)r, got, 51) == (size_t)r);
		got += (size_t)r;
	}
	st_fill(buf, BIG, 0, 52);
	CHECK_RC(san_stream_send(s, buf, BIG, 0), BIG); /* RDMA */
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	xt_unmap(buf, BIG);
	return 0;
}

int main(void)
{
	struct rlimit rl;
	san_provider *p;
	san_stream *s;
	uint8_t *buf;
	size_t got = 0;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	san_test_become_unprivileged();
	p = san_test_provider();
	s = st_accept(p, ctl, NULL);
	buf = xt_map(BIG);
	st_fill(buf, BIG, 0, 51);
	rl.rlim_cur = rl.rlim_max = (rlim_t)san_test_vmpin_kb() * 1024 + (2u << 20);
	CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);

	CHECK_RC(san_stream_send(s, buf, BIG, 0), -ENOBUFS);
	CHECK_RC(san_stream_send(s, buf, BIG, 0), -ENOBUFS);
	CHECK(st_stats(s).bytes_sent == 0);
	CHECK_RC(san_stream_send(s, buf, SMALL, 0), SMALL);
	CHECK_OK(san_stream_setopt(s, SAN_STREAM_OPT_RDMA_THRESHOLD, 0));
	st_fill(buf, BIG, SMALL, 51);
	CHECK_RC(san_stream_send(s, buf, BIG, 0), BIG);

	CHECK_RC(san_stream_recv(s, buf, BIG, 0), -ENOBUFS);
	while (got < BIG) {
		ssize_t r = san_stream_recv(s, buf + got, SAN_TEST_MIN(256u << 10, BIG - got), 0);

		CHECK(r > 0);
		got += (size_t)r;
	}
	CHECK(st_check(buf, BIG, 0, 52) == BIG);
	CHECK_RC(san_stream_recv(s, buf, 1, 0), 0);
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, BIG);
	return 0;
}
