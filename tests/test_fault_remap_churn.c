/* SPDX-License-Identifier: MIT */
/*
 * Fault: buffers freed and reused underneath while transfers run (a short
 * soak, bench/soak.c in miniature). For 3 s the survivor cycles 8 buffers
 * of 256 KiB, adjacent in memory: register (the whole buffer, or only the
 * bytes it sends: overlapping ranges that the cache merges and displaces),
 * send a message of random length with a fresh pattern, deregister, and one
 * time in three replace the buffer underneath (munmap + mmap at the same
 * address, mmap MAP_FIXED over it, or madvise(MADV_DONTNEED)). Meanwhile
 * the userfaultfd monitor invalidates on its own thread.
 *
 * Checked: every message arrives intact at the peer (a stale registration
 * would send the old pages' bytes), every operation succeeds, and at the
 * end pinned bytes, VmPin, fds and heap are back at the baseline with the
 * socket still open. Run under TSan (scripts/sanitize.sh) this also checks
 * that the cache's threads are properly synchronised while regions die.
 * SAN_TEST_TRANSPORTS
 */
#include "fault.h"

#define NBUF 8
#define BUF (256 * 1024)
#define SECONDS 3
#define RING 32 /* receives the peer keeps posted */

struct msg_hdr {
	uint64_t seq, len;
};

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *in = xt_map((size_t)RING * BUF);
	san_handle h = xt_reg(s, in, (size_t)RING * BUF, SAN_MEM_WRITE);
	uint64_t seq = 0, bad = 0;

	for (int i = 0; i < RING; i++)
		xt_recv(s, in + (size_t)i * BUF, BUF, h, XT_CTX(i + 1));
	san_test_sync(ctl, "ready");
	for (;;) {
		struct san_completion c = san_test_wait_one(s, XT_TIMEOUT_MS);
		int i = (int)(uintptr_t)c.ctx - 1;
		uint8_t *m = in + (size_t)i * BUF;
		struct msg_hdr mh;

		CHECK(i == (int)(seq % RING)); /* in order */
		CHECK_RC(c.status, 0);
		if (c.bytes == sizeof(mh) + 1 && m[sizeof(mh)] == 0xff)
			break; /* the end */
		CHECK(c.bytes >= sizeof(mh));
		memcpy(&mh, m, sizeof(mh));
		if (mh.seq != seq || mh.len != c.bytes ||
		    !fault_verify("peer: message", m + sizeof(mh), c.bytes - sizeof(mh), 1000 + seq)) {
			fprintf(stderr, "peer: message %" PRIu64 " (%zu B) damaged (header seq %" PRIu64
					" len %" PRIu64 ")\n",
				seq, c.bytes, mh.seq, mh.len);
			bad++;
		}
		seq++;
		xt_recv(s, m, BUF, h, XT_CTX(i + 1));
	}
	san_test_ctl_send(ctl, &seq, sizeof(seq));
	san_test_ctl_send(ctl, &bad, sizeof(bad));
	san_test_sync(ctl, "end");
	xt_teardown(p, s); /* the posted receives go with the socket */
	xt_unmap(in, (size_t)RING * BUF);
	return 0;
}

static uint8_t *replace(uint8_t *b, int how)
{
	void *q;

	switch (how) {
	case 0:
		xt_unmap(b, BUF);
		return san_test_map_at(b, BUF); /* the buffers are placed apart */
	case 1:
		q = mmap(b, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0);
		CHECK(q == b);
		return b;
	default:
		CHECK(madvise(b, BUF, MADV_DONTNEED) == 0);
		return b;
	}
}

int main(void)
{
	uint8_t *area, *b[NBUF];
	struct fault_snap base;
	uint64_t seq = 0, got, bad, rng = 88172645463325252ull, remaps = 0;
	san_provider *p;
	san_socket *s;
	long long end;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	base = fault_snap(p);
	/* Adjacent buffers: one mapping, used as NBUF pieces; placed apart
	 * (harness.h), so that a buffer unmapped and mapped again comes back at
	 * the same address, not taken meanwhile by another thread's mapping
	 * (under a sanitizer, its runtime's). */
	area = san_test_map_apart((size_t)NBUF * BUF);
	for (int i = 0; i < NBUF; i++)
		b[i] = area + (size_t)i * BUF;
	san_test_sync(ctl, "ready");

	end = xt_now_ms() + SECONDS * 1000;
	while (xt_now_ms() < end) {
		for (int i = 0; i < NBUF; i++) {
			struct msg_hdr mh;
			size_t len, rlen;
			san_handle h;

			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			len = sizeof(mh) + rng % (BUF - sizeof(mh));
			rlen = (rng >> 20) % 2 ? len : BUF;
			mh.seq = seq;
			mh.len = len;
			memcpy(b[i], &mh, sizeof(mh));
			fault_fill(b[i] + sizeof(mh), len - sizeof(mh), 1000 + seq);
			h = xt_reg(s, b[i], rlen, SAN_MEM_READ);
			xt_send(s, b[i], len, (rng >> 21) % 2 ? h : 0, XT_CTX(1));
			xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, len);
			CHECK_OK(san_deregister_memory(s, h));
			seq++;
			if ((rng >> 24) % 3 == 0) {
				b[i] = replace(b[i], (int)((rng >> 30) % 3));
				remaps++;
			}
		}
	}
	{
		uint8_t *e = xt_map(xt_page());
		san_handle h = xt_reg(s, e, xt_page(), SAN_MEM_READ);

		memset(e, 0, sizeof(struct msg_hdr));
		e[sizeof(struct msg_hdr)] = 0xff;
		xt_send(s, e, sizeof(struct msg_hdr) + 1, h, XT_CTX(2));
		xt_expect(s, XT_CTX(2), SAN_OP_SEND, 0, sizeof(struct msg_hdr) + 1);
		CHECK_OK(san_deregister_memory(s, h));
		xt_unmap(e, xt_page());
	}
	CHECK(san_test_ctl_recv(ctl, &got, sizeof(got)) == sizeof(got));
	CHECK(san_test_ctl_recv(ctl, &bad, sizeof(bad)) == sizeof(bad));
	printf("%" PRIu64 " messages from buffers replaced %" PRIu64 " times underneath: %" PRIu64
	       " arrived, %" PRIu64 " damaged\n",
	       seq, remaps, got, bad);
	CHECK(got == seq && bad == 0);
	san_test_sync(ctl, "end");

	/* Everything freed: nothing of it stays pinned, the socket still open. */
	xt_unmap(area, (size_t)NBUF * BUF);
	xt_sleep_ms(200); /* the progress thread's idle hook drops stale parked entries */
	fault_expect_snap("buffers replaced underneath", p, &base);
	xt_expect_idle(s);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
