/* SPDX-License-Identifier: MIT */
/*
 * The RDMA threshold (SO_RDMA_THRESHOLD_SIZE analog): a blocking send of
 * threshold-1 bytes is copied through the message region, one of
 * threshold or threshold+1 bytes goes by RDMA; for 64 KiB (the default,
 * 256 KiB, is checked by getopt), one set with SAN_STREAM_RDMA_THRESHOLD in the
 * environment (the peer's 12345), one set per stream with
 * san_stream_setopt (1 byte, and 0 = never), and in both flows. Each send
 * is checked by the counters of the sending side and the content by the
 * receiver. Bad options are refused. SAN_TEST_TRANSPORTS
 */
#include "stream_test.h"

struct step {
	size_t thr; /* 0: never */
	int flow;
	size_t len;
	int rdma;   /* expected on the sending side */
};

static const struct step steps[] = {
	{ 65536, SAN_STREAM_FLOW_READ, 65535, 0 },
	{ 65536, SAN_STREAM_FLOW_READ, 65536, 1 },
	{ 65536, SAN_STREAM_FLOW_READ, 65537, 1 },
	{ 65536, SAN_STREAM_FLOW_WRITE, 65535, 0 },
	{ 65536, SAN_STREAM_FLOW_WRITE, 65536, 1 },
	{ 65536, SAN_STREAM_FLOW_WRITE, 65537, 1 },
	{ 1, SAN_STREAM_FLOW_READ, 1, 1 },
	{ 1, SAN_STREAM_FLOW_WRITE, 2, 1 },
	{ 0, SAN_STREAM_FLOW_READ, 3 << 20, 0 },
	{ 300000, SAN_STREAM_FLOW_READ, 299999, 0 },
	{ 300000, SAN_STREAM_FLOW_READ, 300000, 1 },
};
#define NSTEP (sizeof(steps) / sizeof(steps[0]))

static void apply(san_stream *s, const struct step *st)
{
	CHECK_OK(san_stream_setopt(s, SAN_STREAM_OPT_RDMA_THRESHOLD, st->thr));
	CHECK_OK(san_stream_setopt(s, SAN_STREAM_OPT_FLOW, (uint64_t)st->flow));
}

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_stream *s;
	uint8_t *buf = xt_map(3 << 20);
	uint64_t off = 0, v;

	setenv("SAN_STREAM_RDMA_THRESHOLD", "12345", 1);
	s = st_connect(p, ctl, NULL);
	CHECK_OK(san_stream_getopt(s, SAN_STREAM_OPT_RDMA_THRESHOLD, &v));
	CHECK(v == 12345);
	/* The environment's threshold, as a sender. */
	for (size_t len = 12344; len <= 12346; len++) {
		struct san_stream_stats a = st_stats(s), b;

		st_fill(buf, len, off, 31);
		CHECK_RC(san_stream_send(s, buf, len, 0), (long long)len);
		off += len;
		b = st_stats(s);
		CHECK((b.src_avail_sent - a.src_avail_sent == 1) == (len >= 12345));
	}
	/* Then receive every step (the receiver's flow matters in the write
	 * flow: it offers its buffer). */
	for (size_t i = 0; i < NSTEP; i++) {
		size_t got = 0;

		apply(s, &steps[i]);
		san_test_sync(ctl, "step");
		while (got < steps[i].len) {
			ssize_t r = san_stream_recv(s, buf + got, steps[i].len - got, 0);

			CHECK(r > 0);
			got += (size_t)r;
		}
		CHECK(st_check(buf, got, off, 31) == got);
		off += got;
	}
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	xt_unmap(buf, 3 << 20);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_stream *s;
	uint8_t *buf;
	uint64_t off = 0, v;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s = st_accept(p, ctl, NULL);
	buf = xt_map(3 << 20);
	CHECK_OK(san_stream_getopt(s, SAN_STREAM_OPT_RDMA_THRESHOLD, &v));
	CHECK(v == 256 << 10); /* the default */
	CHECK_RC(san_stream_setopt(s, 999, 1), -EINVAL);
	CHECK_RC(san_stream_setopt(s, SAN_STREAM_OPT_FLOW, 7), -EINVAL);
	CHECK_RC(san_stream_setopt(s, SAN_STREAM_OPT_NONBLOCK, 2), -EINVAL);
	CHECK_RC(san_stream_setopt(s, SAN_STREAM_OPT_RDMA_THRESHOLD, 1ull << 62), -EINVAL);
	CHECK_RC(san_stream_getopt(s, 999, &v), -EINVAL);
	for (size_t len = 12344; len <= 12346; len++) {
		CHECK_RC(san_stream_recv(s, buf, len, 0), (long long)len);
		CHECK(st_check(buf, len, off, 31) == len);
		off += len;
	}
	for (size_t i = 0; i < NSTEP; i++) {
		struct san_stream_stats a, b;

		apply(s, &steps[i]);
		san_test_sync(ctl, "step");
		if (steps[i].flow == SAN_STREAM_FLOW_WRITE && steps[i].rdma)
			xt_sleep_ms(20); /* the receiver has offered its buffer */
		a = st_stats(s);
		st_fill(buf, steps[i].len, off, 31);
		CHECK_RC(san_stream_send(s, buf, steps[i].len, 0), (long long)steps[i].len);
		off += steps[i].len;
		b = st_stats(s);
		if (steps[i].rdma)
			CHECK(b.copy_bytes_sent == a.copy_bytes_sent);
		else
			CHECK(b.copy_bytes_sent - a.copy_bytes_sent == steps[i].len);
		if (steps[i].flow == SAN_STREAM_FLOW_WRITE && steps[i].rdma)
			CHECK(b.rdma_write_bytes - a.rdma_write_bytes == steps[i].len);
		if (steps[i].flow == SAN_STREAM_FLOW_READ && steps[i].rdma)
			CHECK(b.src_avail_sent - a.src_avail_sent == 1);
	}
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, 3 << 20);
	return 0;
}
