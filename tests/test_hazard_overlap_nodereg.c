/* SPDX-License-Identifier: MIT */
/*
 * Hazard, overlapping registrations still live when their memory is
 * unmapped (an application error; R2.4). The cache merged them (docs/
 * rcache.md §1): the first one's region left the index while its holder
 * kept it. Local side: A holds hX on [a, a+8p) and hY on [a+4p, a+13p),
 * unmaps [a, a+13p) and maps new memory there: posting with EITHER old
 * handle fails with -EFAULT (nothing moves from the old pages), new
 * registrations move the new bytes, deregistering the old handles unpins
 * the old pages. Remote side: B's RDMA descriptors of the same two ranges:
 * after B remaps, A's write and read through EITHER old descriptor complete
 * with -EACCES and B's new memory is untouched. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

#define TOTAL_PAGES 13

static size_t pg;

static int peer(void *arg, int ctl)
{
	size_t len = 8 * pg, total = TOTAL_PAGES * pg;
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *R = xt_map(len), *T = xt_map(len), *y, *want;
	san_handle hR = xt_reg(s, R, len, SAN_MEM_WRITE);
	struct san_rdma_desc dT = xt_rreg(s, T, len, SAN_MEM_READWRITE), d1, d2, n1;
	struct san_stats st0, st;

	(void)arg;
	hz_p_ = p;
	san_test_fill(T, len, 5);
	xt_send_desc(ctl, &dT);
	hz_step_ = "peer, local side";
	for (int i = 0; i < 2; i++) { /* the new bytes, by the new handle, then by handle 0 */
		want = hz_pattern(2, total, 0, len);
		memset(R, 0, len);
		xt_recv(s, R, len, hR, XT_CTX(1));
		san_test_sync(ctl, "recv-posted");
		xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, len);
		if (!xt_same("message after the remap", R, want, len))
			return 1;
		free(want);
	}

	hz_step_ = "peer, remote side";
	st0 = hz_stats(p);
	y = san_test_map_apart(total); /* mapped again there (harness.h) */
	san_test_fill(y, total, 10);
	d1 = xt_rreg(s, y, 8 * pg, SAN_MEM_READWRITE);
	d2 = xt_rreg(s, y + 4 * pg, 9 * pg, SAN_MEM_READWRITE); /* merges */
	xt_send_desc(ctl, &d1);
	xt_send_desc(ctl, &d2);
	san_test_sync(ctl, "r-used");
	xt_unmap(y, total); /* with both descriptors live */
	hz_map_at(y, total);
	san_test_fill(y, total, 12);
	san_test_sync(ctl, "r-remapped");
	san_test_sync(ctl, "r-refused");
	want = hz_pattern(12, total, 0, total);
	if (!xt_same("the new memory after refused RDMA writes", y, want, total))
		return 1;
	n1 = xt_rreg(s, y, 8 * pg, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &n1);
	san_test_sync(ctl, "r-wrote");
	memset(want, 0xa1, pg);
	if (!xt_same("the new memory after an RDMA write", y, want, total))
		return 1;
	free(want);
	CHECK_OK(san_deregister_rdma_memory(s, &d1));
	CHECK_OK(san_deregister_rdma_memory(s, &d2));
	CHECK_OK(san_deregister_rdma_memory(s, &n1));
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
	struct san_rdma_desc dT, d1, d2, n1;
	struct san_stats st0, st, prev;
	uint8_t *a, *S, *old, *now, *before, *want;
	san_handle hX, hY, h, hS;
	struct san_buf b;
	int ctl, cached;
	pid_t pid;
	long v0;

	san_test_start(30);
	pg = xt_page();
	len = 8 * pg;
	total = TOTAL_PAGES * pg;
	cached = hz_caching();
	printf("overlapping registrations, released while registered, caching %s, transport %s\n",
	       cached ? "on" : "off", san_test_transport());
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	hz_p_ = p;
	dT = xt_recv_desc(ctl);

	hz_step_ = "local side";
	st0 = hz_stats_pinned(p, 0);
	v0 = hz_vmpin_kb();
	a = san_test_map_apart(total); /* mapped again there (harness.h) */
	san_test_fill(a, total, 1);
	hX = xt_reg(s, a, len, SAN_MEM_READ);
	hY = xt_reg(s, a + 4 * pg, 9 * pg, SAN_MEM_READ); /* merges */
	prev = hz_stats(p);
	xt_unmap(a, total); /* with both handles live */
	hz_map_at(a, total);
	san_test_fill(a, total, 2);
	st = hz_stats(p);
	if (cached)
		HZ_GE("invalidations", st.invalidations, prev.invalidations + 1);

	/* Nothing moves through either old handle (Y's first: its region is
	 * the one in the index). */
	hz_step_ = "local side: posting with the handles of the unmapped memory";
	old = hz_pattern(1, total, 4 * pg, len);
	now = hz_pattern(2, total, 4 * pg, len);
	before = hz_pattern(5, len, 0, len);
	b = xt_buf(a + 4 * pg, len, hY);
	hz_stale_write(s, &b, &dT, old, now, before);
	free(old);
	free(now);
	old = hz_pattern(1, total, 0, len);
	now = hz_pattern(2, total, 0, len);
	b = xt_buf(a, len, hX);
	hz_stale_write(s, &b, &dT, old, now, before);
	CHECK_RC(san_send(s, &b, 1, XT_CTX(1)), -EFAULT);
	b.handle = 0;
	CHECK_RC(san_send(s, &b, 1, XT_CTX(2)), -EFAULT);
	xt_expect_idle(s);
	free(old);
	free(now);
	free(before);

	hz_step_ = "local side: a new registration";
	prev = hz_stats(p);
	h = xt_reg(s, a, len, SAN_MEM_READ);
	st = hz_stats(p);
	hz_expect_miss(&prev, &st);
	hz_a_send(s, ctl, a, len, h);
	hz_a_send(s, ctl, a, len, 0);
	CHECK_OK(san_deregister_memory(s, hX));
	CHECK_OK(san_deregister_memory(s, hY));
	st = hz_stats_pinned(p, st0.pinned_bytes + len);
	HZ_EQ("pins - unpins", st.pins - st.unpins, st0.pins - st0.unpins + 1);
	hz_vmpin_is(v0 + (long)(len / 1024));
	CHECK_OK(san_deregister_memory(s, h));
	xt_unmap(a, total);
	hz_stats_pinned(p, st0.pinned_bytes);
	hz_vmpin_is(v0);

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
	san_test_sync(ctl, "r-remapped");
	hz_step_ = "remote side: the descriptors of the unmapped memory";
	memset(S, 0xee, total);
	xt_rdma_write(s, S, pg, hS, &d2, 0, -EACCES);
	xt_rdma_write(s, S, pg, hS, &d1, 0, -EACCES);
	xt_rdma_read(s, S, len, hS, &d1, 0, -EACCES);
	xt_rdma_read(s, S, len, hS, &d2, 0, -EACCES);
	CHECK(xt_all(S, total, 0xee));
	san_test_sync(ctl, "r-refused");
	n1 = xt_recv_desc(ctl);
	memset(S, 0xa1, pg);
	xt_rdma_write(s, S, pg, hS, &n1, 0, 0);
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
