/* SPDX-License-Identifier: MIT */
/*
 * A buffer freed and reused between two large sends arrives correctly: the
 * registration cache keeps the first send's registration, the memory
 * monitor drops it when the buffer is unmapped, and the second send, from
 * new pages at the same address, carries the new bytes (not the old pages'
 * ones). Three ways of reusing, each in the read flow and the write flow:
 *   - munmap, then mmap(MAP_FIXED) at the same address;
 *   - free, then malloc of the same size (glibc maps large blocks: same
 *     address, new pages);
 *   - madvise(MADV_DONTNEED) (same mapping, pages dropped and zeroed).
 * The receiving side reuses its receive buffer the same way between its
 * two receives (in the write flow that buffer is the RDMA sink).
 * SAN_TEST_TRANSPORTS
 */
#include "stream_test.h"

#define LEN (8u << 20)

enum { R_MMAP, R_MALLOC, R_DONTNEED, R_WAYS };

static uint8_t *buf_new(int way, uint8_t *old)
{
	uint8_t *b;

	switch (way) {
	case R_MMAP:
		if (old) {
			xt_unmap(old, LEN);
			b = mmap(old, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				 -1, 0);
			CHECK(b == old);
			return b;
		}
		return xt_map(LEN);
	case R_MALLOC:
		if (old)
			free(old);
		b = malloc(LEN);
		CHECK(b);
		return b;
	default:
		if (old) {
			CHECK(madvise(old, LEN, MADV_DONTNEED) == 0);
			return old;
		}
		return xt_map(LEN);
	}
}

static void buf_del(int way, uint8_t *b)
{
	if (way == R_MALLOC)
		free(b);
	else
		xt_unmap(b, LEN);
}

static void set_flow(san_stream *s, int flow)
{
	CHECK_OK(san_stream_setopt(s, SAN_STREAM_OPT_FLOW, (uint64_t)flow));
}

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_stream *s = st_connect(p, ctl, NULL);
	uint64_t off = 0;

	for (int flow = 0; flow < 2; flow++) {
		set_flow(s, flow);
		for (int way = 0; way < R_WAYS; way++) {
			uint8_t *b = NULL, *first = NULL;

			san_test_sync(ctl, "phase");
			for (int k = 0; k < 2; k++) {
				size_t got = 0;

				b = buf_new(way, b);
				if (!k)
					first = b;
				else if (way != R_MALLOC)
					CHECK(b == first);
				if (flow == SAN_STREAM_FLOW_WRITE)
					san_test_sync(ctl, "recv");
				while (got < LEN) {
					ssize_t r = san_stream_recv(s, b + got, LEN - got, 0);

					CHECK(r > 0);
					got += (size_t)r;
				}
				CHECK(st_check(b, LEN, off, 9) == LEN);
				off += LEN;
			}
			buf_del(way, b);
		}
	}
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	return 0;
}

int main(void)
{
	struct san_stream_stats st;
	struct san_stats ps;
	san_provider *p;
	san_stream *s;
	uint64_t off = 0;
	int ctl, same = 0;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s = st_accept(p, ctl, NULL);
	for (int flow = 0; flow < 2; flow++) {
		set_flow(s, flow);
		for (int way = 0; way < R_WAYS; way++) {
			uint8_t *b = NULL, *first = NULL;

			san_test_sync(ctl, "phase");
			for (int k = 0; k < 2; k++) {
				b = buf_new(way, b);
				if (!k)
					first = b;
				else
					same += b == first;
				st_fill(b, LEN, off, 9);
				/* Write flow: the receiver offers its buffer only if
				 * its receive finds nothing queued; give it the time
				 * to get there (it offers in well under 50 ms). */
				if (flow == SAN_STREAM_FLOW_WRITE) {
					san_test_sync(ctl, "recv");
					usleep(50000);
				}
				CHECK_RC(san_stream_send(s, b, LEN, 0), LEN);
				off += LEN;
			}
			buf_del(way, b);
		}
	}
	st = st_stats(s);
	CHECK(st.bytes_sent == off);
	CHECK(st.copy_bytes_sent == 0); /* every send went by RDMA */
	CHECK(st.rdma_write_bytes > 0); /* the write flow wrote into sinks */
	CHECK_OK(san_get_stats(p, &ps));
	printf("same address reused %d of %d times; invalidations %llu, pins %llu\n", same, 2 * R_WAYS,
	       (unsigned long long)ps.invalidations, (unsigned long long)ps.pins);
	CHECK(same >= 2 * (R_WAYS - 1)); /* mmap and DONTNEED always */
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
