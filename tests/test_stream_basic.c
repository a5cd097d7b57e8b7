/* SPDX-License-Identifier: MIT */
/*
 * Stream sockets, the basics: connect/accept, a few messages each way
 * (1 byte, 100 bytes, a slot's worth, a slot and a byte, 300000 bytes and
 * 1 MiB by RDMA: the default threshold is 256 KiB),
 * partial reads (a 10-byte receive of a 100-byte message), the stream's
 * counters, orderly shutdown and EOF (0, then 0 again), a send after
 * SHUT_WR (-EPIPE), close. Both ends check VmPin and fds. SAN_TEST_TRANSPORTS
 */
#include "stream_test.h"

#define BIG (1 << 20)

static const size_t sizes[] = { 1, 100, 65536, 65537, 300000, BIG };

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_stream *s = st_connect(p, ctl, NULL);
	uint8_t *buf = xt_map(BIG);
	uint64_t off = 0;

	/* Echo: receive each message exactly, send it back. */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t got = 0;

		while (got < sizes[i]) {
			ssize_t r = san_stream_recv(s, buf + got, sizes[i] - got, 0);

			CHECK(r > 0);
			got += (size_t)r;
		}
		CHECK(st_check(buf, sizes[i], off, 5) == sizes[i]);
		off += sizes[i];
		CHECK_RC(san_stream_send(s, buf, sizes[i], 0), (long long)sizes[i]);
	}
	/* EOF after the parent's shutdown. */
	CHECK_RC(san_stream_recv(s, buf, 10, 0), 0);
	CHECK_RC(san_stream_recv(s, buf, 10, 0), 0);
	CHECK_RC(san_stream_send(s, "bye", 3, 0), 3); /* half-closed: still sends */
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	xt_unmap(buf, BIG);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_stream *s;
	struct san_stream_stats st;
	uint8_t *buf;
	uint64_t off = 0;
	int ctl;
	pid_t pid;
	char bye[8];

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s = st_accept(p, ctl, NULL);
	buf = xt_map(BIG);
	st = st_stats(s);
	printf("transport %d\n", st.transport);

	CHECK_RC(san_stream_send(NULL, buf, 1, 0), -EINVAL);
	CHECK_RC(san_stream_send(s, NULL, 1, 0), -EINVAL);
	CHECK_RC(san_stream_recv(s, buf, 1, 77), -EINVAL);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t got = 0;

		st_fill(buf, sizes[i], off, 5);
		CHECK_RC(san_stream_send(s, buf, sizes[i], 0), (long long)sizes[i]);
		memset(buf, 0, sizes[i]);
		if (sizes[i] == 100) { /* partial reads */
			CHECK_RC(san_stream_recv(s, buf, 10, 0), 10);
			got = 10;
		}
		while (got < sizes[i]) {
			ssize_t r = san_stream_recv(s, buf + got, sizes[i] - got, 0);

			CHECK(r > 0);
			got += (size_t)r;
		}
		CHECK(st_check(buf, sizes[i], off, 5) == sizes[i]);
		off += sizes[i];
	}
	st = st_stats(s);
	CHECK(st.bytes_sent == off && st.bytes_received == off);
	CHECK(st.src_avail_sent == 2 && st.rdma_read_bytes == 300000 + BIG);
	CHECK(st.copy_bytes_sent == 1 + 100 + 65536 + 65537);
	CHECK(st.msgs_sent >= 1 + 1 + 1 + 2 + 1 + 1); /* 64 KiB fits one slot */
	CHECK_OK(san_stream_shutdown(s, SHUT_WR));
	CHECK_RC(san_stream_send(s, buf, 1, 0), -EPIPE);
	CHECK_RC(san_stream_recv(s, bye, sizeof(bye), 0), 3);
	CHECK(!memcmp(bye, "bye", 3));
	CHECK_RC(san_stream_recv(s, bye, sizeof(bye), 0), 0);
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, BIG);
	return 0;
}
