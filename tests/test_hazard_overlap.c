/* SPDX-License-Identifier: MIT */
/*
 * Hazard, overlapping registrations (the cache merges them, docs/rcache.md
 * §1) and munmap, the application deregistering everything first (R2.1,
 * R2.4). Local side: A registers X = [a, a+8p) and sends it, deregisters
 * (the socket parks it, §10), registers Y = [a+4p, a+13p), whose miss
 * merges X's region into [a, a+13p), sends, deregisters; then unmaps
 * [a, a+13p), maps new memory there, fills it and registers X and Y again:
 * the NEW bytes go out (send and RDMA write), X and Y are misses, and the
 * old pages are unpinned. Remote side: the same with B's RDMA registrations
 * of X and Y, which A reads and writes: after the remap only the new
 * descriptors work and they reach the new pages. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

#define TOTAL_PAGES 13

static size_t pg;

/* B's side of one message: pattern seed at [off, off+len) of the area. */
static void b_expect(san_socket *s, int ctl, uint8_t *R, san_handle hR, size_t len, uint32_t seed,
		     uint32_t old, size_t off)
{
	uint8_t *want = hz_pattern(seed, TOTAL_PAGES * pg, off, len);
	uint8_t *was = hz_pattern(old, TOTAL_PAGES * pg, off, len);

	memset(R, 0, len);
	xt_recv(s, R, len, hR, XT_CTX(1));
	san_test_sync(ctl, "recv-posted");
	xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, len);
	if (memcmp(R, want, len)) {
		fprintf(stderr, "[%d] %s: message at offset %zu: %s\n", (int)getpid(), hz_step_, off,
			memcmp(R, was, len) ? "unexpected bytes"
					    : "the OLD bytes arrived (stale registration)");
		xt_same("message", R, want, len);
		exit(1);
	}
	free(want);
	free(was);
}

static int peer(void *arg, int ctl)
{
	size_t len = 8 * pg, total = TOTAL_PAGES * pg;
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *R = xt_map(len), *T = xt_map(len), *y, *want;
	san_handle hR = xt_reg(s, R, len, SAN_MEM_WRITE);
	struct san_rdma_desc dT = xt_rreg(s, T, len, SAN_MEM_READWRITE), d1, d2;
	struct san_stats st0, st;

	(void)arg;
	hz_p_ = p;
	xt_send_desc(ctl, &dT);
	hz_step_ = "peer, local side: before the remap";
	b_expect(s, ctl, R, hR, len, 1, 0, 0);
	b_expect(s, ctl, R, hR, len, 1, 0, 4 * pg);
	hz_step_ = "peer, local side: after the remap";
	b_expect(s, ctl, R, hR, len, 2, 1, 0);
	san_test_sync(ctl, "wrote");
	want = hz_pattern(2, total, 0, len);
	if (memcmp(T, want, len)) {
		fprintf(stderr, "[%d] RDMA write after the remap: %s\n", (int)getpid(),
			san_test_verify(T, len, 1) ? "the OLD bytes arrived" : "unexpected bytes");
		return 1;
	}
	free(want);
	b_expect(s, ctl, R, hR, len, 2, 1, 4 * pg);

	/* Remote side: B's memory merges, is remapped. */
	hz_step_ = "peer, remote side";
	st0 = hz_stats(p);
	y = san_test_map_apart(total); /* mapped again there (harness.h) */
	san_test_fill(y, total, 10);
	d1 = xt_rreg(s, y, 8 * pg, SAN_MEM_READWRITE);
	d2 = xt_rreg(s, y + 4 * pg, 9 * pg, SAN_MEM_READWRITE); /* merges */
	xt_send_desc(ctl, &d1);
	xt_send_desc(ctl, &d2);
	san_test_sync(ctl, "r-used");
	CHECK_OK(san_deregister_rdma_memory(s, &d1));
	CHECK_OK(san_deregister_rdma_memory(s, &d2));
	xt_unmap(y, total);
	hz_stats_pinned(p, st0.pinned_bytes);
	hz_map_at(y, total);
	san_test_fill(y, total, 12);
	d1 = xt_rreg(s, y, 8 * pg, SAN_MEM_READWRITE);
	d2 = xt_rreg(s, y + 4 * pg, 9 * pg, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &d1);
	xt_send_desc(ctl, &d2);
	san_test_sync(ctl, "r-wrote");
	want = hz_pattern(12, total, 0, total);
	memset(want, 0xa1, pg);
	memset(want + 12 * pg, 0xa2, pg);
	if (memcmp(y, want, total)) {
		fprintf(stderr, "[%d] the new memory does not hold what the peer wrote\n",
			(int)getpid());
		xt_same("new memory", y, want, total);
		return 1;
	}
	free(want);
	CHECK_OK(san_deregister_rdma_memory(s, &d1));
	CHECK_OK(san_deregister_rdma_memory(s, &d2));
	xt_unmap(y, total);
	st = hz_stats_pinned(p, st0.pinned_bytes);
	HZ_EQ("keys_active", st.keys_active, st0.keys_active);
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, hR));
	CHECK_OK(san_deregister_rdma_memory(s, &dT));
	xt_teardown(p, s);
	xt_unmap(R, len);
	xt_unmap(T, len);
	return 0;
}

int main(void)
{
	size_t len, total;
	san_provider *p;
	san_socket *s;
	struct san_rdma_desc dT, d1, d2, o1, o2;
	struct san_stats st0, st, prev;
	uint8_t *a, *S, *want;
	san_handle h, hS;
	int ctl, cached;
	pid_t pid;
	long v0;

	san_test_start(30);
	pg = xt_page();
	len = 8 * pg;
	total = TOTAL_PAGES * pg;
	cached = hz_caching();
	printf("overlapping registrations, deregistered first, caching %s, transport %s\n",
	       cached ? "on" : "off", san_test_transport());
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	hz_p_ = p;
	dT = xt_recv_desc(ctl);

	hz_step_ = "local side: before the remap";
	st0 = hz_stats_pinned(p, 0);
	v0 = hz_vmpin_kb();
	a = san_test_map_apart(total); /* mapped again there (harness.h) */
	san_test_fill(a, total, 1);
	h = xt_reg(s, a, len, SAN_MEM_READ);
	hz_a_send(s, ctl, a, len, h);
	CHECK_OK(san_deregister_memory(s, h)); /* parked, still in the index */
	prev = hz_stats(p);
	h = xt_reg(s, a + 4 * pg, 9 * pg, SAN_MEM_READWRITE); /* a miss that merges */
	st = hz_stats(p);
	hz_expect_miss(&prev, &st);
	hz_a_send(s, ctl, a + 4 * pg, len, h);
	CHECK_OK(san_deregister_memory(s, h));

	/* Data first, counters after: a failure then says what moved. No
	 * san_get_stats in between: it would drop stale parked entries. */
	hz_step_ = "local side: after the remap";
	prev = hz_stats(p);
	xt_unmap(a, total);
	hz_map_at(a, total);
	san_test_fill(a, total, 2);
	h = xt_reg(s, a, len, SAN_MEM_READ);
	hz_a_send(s, ctl, a, len, h);
	xt_rdma_write(s, a, len, h, &dT, 0, 0);
	san_test_sync(ctl, "wrote");
	st = hz_stats(p);
	HZ_EQ("reg_hits (a stale registration was returned)", st.reg_hits, prev.reg_hits);
	HZ_EQ("pins", st.pins, prev.pins + 1);
	if (cached)
		HZ_GE("invalidations", st.invalidations, prev.invalidations + 1);
	/* The old pages: unpinned; pinned now is X's new registration. */
	st = hz_stats_pinned(p, st0.pinned_bytes + len);
	HZ_EQ("pins - unpins", st.pins - st.unpins, st0.pins - st0.unpins + 1);
	hz_vmpin_is(v0 + (long)(len / 1024));
	CHECK_OK(san_deregister_memory(s, h));
	prev = hz_stats(p);
	h = xt_reg(s, a + 4 * pg, 9 * pg, SAN_MEM_READWRITE);
	st = hz_stats(p);
	hz_expect_miss(&prev, &st);
	hz_a_send(s, ctl, a + 4 * pg, len, h);
	CHECK_OK(san_deregister_memory(s, h));
	xt_unmap(a, total);
	hz_stats_pinned(p, st0.pinned_bytes);
	hz_vmpin_is(v0);

	/* Remote side. */
	hz_step_ = "remote side";
	S = xt_map(total);
	hS = xt_reg(s, S, total, SAN_MEM_READWRITE);
	d1 = xt_recv_desc(ctl);
	d2 = xt_recv_desc(ctl);
	xt_rdma_read(s, S, len, hS, &d1, 0, 0);
	xt_rdma_read(s, S + 4 * pg, 9 * pg, hS, &d2, 0, 0);
	want = hz_pattern(10, total, 0, total);
	if (!xt_same("RDMA reads of the peer's memory", S, want, total))
		return 1;
	free(want);
	san_test_sync(ctl, "r-used");
	o1 = d1;
	o2 = d2;
	d1 = xt_recv_desc(ctl);
	d2 = xt_recv_desc(ctl);
	memset(S, 0, total);
	xt_rdma_read(s, S, len, hS, &d1, 0, 0);
	xt_rdma_read(s, S + 4 * pg, 9 * pg, hS, &d2, 0, 0);
	want = hz_pattern(12, total, 0, total);
	if (memcmp(S, want, total)) {
		fprintf(stderr, "RDMA reads after the remap: %s\n",
			san_test_verify(S, total, 10) ? "the OLD bytes" : "unexpected bytes");
		xt_same("RDMA reads after the remap", S, want, total);
		return 1;
	}
	free(want);
	memset(S, 0xa1, pg);
	memset(S + pg, 0xa2, pg);
	xt_rdma_write(s, S, pg, hS, &d1, 0, 0);
	xt_rdma_write(s, S + pg, pg, hS, &d2, 8 * pg, 0);
	xt_rdma_write(s, S + 2 * pg, pg, hS, &o1, 0, -EACCES); /* deregistered */
	xt_rdma_write(s, S + 2 * pg, pg, hS, &o2, 0, -EACCES);
	san_test_sync(ctl, "r-wrote");
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, hS));
	xt_unmap(S, total);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
