/* SPDX-License-Identifier: MIT */
/*
 * Short receives of a large send (read flow): the peer sends 16 MiB with
 * one blocking send (RDMA); this side takes it 1000 bytes at a time, then
 * in 70 KiB pieces, then the rest at once. Short receives are served from
 * a staging area filled 256 KiB per RDMA read, not one read per receive
 * (the counter of reads says so), every byte in order; then a DATA message
 * sent after the large one comes after it. SAN_TEST_TRANSPORTS
 */
#include "stream_test.h"

#define BIG (16u << 20)

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_stream *s = st_connect(p, ctl, NULL);
	uint8_t *buf = xt_map(BIG);

	st_fill(buf, BIG, 0, 71);
	CHECK_RC(san_stream_send(s, buf, BIG, 0), BIG);
	st_fill(buf, 100, BIG, 71);
	CHECK_RC(san_stream_send(s, buf, 100, 0), 100);
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	xt_unmap(buf, BIG);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_stream *s;
	uint8_t *buf;
	uint64_t off = 0;
	long long t0;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s = st_accept(p, ctl, NULL);
	buf = xt_map(BIG);
	t0 = xt_now_ms();
	while (off < BIG + 100) {
		size_t want = off < (4u << 20) ? 1000 : off < (8u << 20) ? 70000 : BIG;
		ssize_t r = san_stream_recv(s, buf, want, 0);

		CHECK(r > 0 && (size_t)r <= want);
		CHECK(st_check(buf, (size_t)r, off, 71) == (size_t)r);
		off += (size_t)r;
	}
	CHECK_RC(san_stream_recv(s, buf, 1, 0), 0);
	printf("16 MiB in short receives: %lld ms, %llu RDMA reads\n", xt_now_ms() - t0,
	       (unsigned long long)st_stats(s).rdma_read_ops);
	/* 4 MiB / 256 KiB staged + 4 MiB / 70 KiB direct + one for the rest */
	CHECK(st_stats(s).rdma_read_ops <= 16 + 60 + 2);
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, BIG);
	return 0;
}
