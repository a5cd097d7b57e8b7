/* SPDX-License-Identifier: MIT */
/*
 * Remote revocation with the cache (R1.4, R2.7, R2.9). B registers Y for
 * RDMA; A reads and writes it. After san_deregister_rdma_memory:
 *   - A's write and read through the old descriptor complete with -EACCES
 *     (whole buffer and a piece of it), and Y is unchanged;
 *   - the pages stay pinned in the cache (pinned_bytes unchanged: R2.7),
 *     but no key is exposed (keys_active back);
 *   - registering the same range for RDMA again is a hit (reg_hits + 1,
 *     pins unchanged: R2.9) with a NEW descriptor; the old one stays
 *     refused (a re-exposure does not bring it back), the new one works
 *     both ways; deregistered, it is refused in turn.
 * Caching off (SAN_RCACHE=0): the same, except that nothing stays pinned
 * and the re-registration pins (the hit assertions are skipped).
 * SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

#define LEN (256 * 1024)

static int peer(void *arg, int ctl)
{
	int cached = hz_caching();
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *y = xt_map(LEN);
	struct san_rdma_desc d1, d2;
	struct san_stats st0, st, prev;
	long v0 = hz_vmpin_kb();

	(void)arg;
	hz_p_ = p;
	hz_step_ = "registered";
	st0 = hz_stats(p);
	san_test_fill(y, LEN, 60);
	d1 = xt_rreg(s, y, LEN, SAN_MEM_READWRITE);
	st = hz_stats(p);
	hz_expect_miss(&st0, &st);
	HZ_EQ("keys_active", st.keys_active, st0.keys_active + 1);
	xt_send_desc(ctl, &d1);
	san_test_sync(ctl, "wrote-1");
	hz_verify("the target after an RDMA write", y, LEN, 61, 60);

	hz_step_ = "deregistered";
	CHECK_OK(san_deregister_rdma_memory(s, &d1));
	/* The key may outlive the call a moment (a read response the NIC
	 * is still sending holds it), never the refusal. */
	st = hz_stats_pinned(p, st0.pinned_bytes + (cached ? LEN : 0));
	HZ_EQ("keys_active", st.keys_active, st0.keys_active);
	if (cached)
		HZ_EQ("cached_regions", st.cached_regions, st0.cached_regions + 1);
	hz_vmpin_is(v0 + (cached ? LEN / 1024 : 0));
	san_test_sync(ctl, "revoked");
	san_test_sync(ctl, "refused");
	hz_verify("the target after refused RDMA writes", y, LEN, 61, 61);

	hz_step_ = "registered again";
	prev = hz_stats(p);
	d2 = xt_rreg(s, y, LEN, SAN_MEM_READWRITE);
	st = hz_stats(p);
	CHECK(memcmp(&d1, &d2, sizeof(d1)) != 0);
	HZ_EQ("keys_active", st.keys_active, prev.keys_active + 1);
	if (cached) { /* R2.9: a re-exposure, no pinning */
		HZ_EQ("reg_hits", st.reg_hits, prev.reg_hits + 1);
		HZ_EQ("reg_misses", st.reg_misses, prev.reg_misses);
		HZ_EQ("pins", st.pins, prev.pins);
		HZ_EQ("pinned_bytes", st.pinned_bytes, prev.pinned_bytes);
	} else {
		hz_expect_miss(&prev, &st);
	}
	xt_send_desc(ctl, &d2);
	san_test_sync(ctl, "wrote-2");
	hz_verify("the target after an RDMA write through the new descriptor", y, LEN, 63, 61);

	hz_step_ = "deregistered again";
	CHECK_OK(san_deregister_rdma_memory(s, &d2));
	st = hz_stats_pinned(p, st0.pinned_bytes + (cached ? LEN : 0));
	HZ_EQ("keys_active", st.keys_active, st0.keys_active);
	san_test_sync(ctl, "revoked-2");
	san_test_sync(ctl, "end");
	hz_verify("the target after refused RDMA writes", y, LEN, 63, 63);
	xt_teardown(p, s);
	xt_unmap(y, LEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	struct san_rdma_desc d1, d2;
	uint8_t *S;
	san_handle hS;
	int ctl;
	pid_t pid;

	san_test_start(30);
	printf("remote revocation, caching %s, transport %s\n", hz_caching() ? "on" : "off",
	       san_test_transport());
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	hz_p_ = p;
	S = xt_map(LEN);
	hS = xt_reg(s, S, LEN, SAN_MEM_READWRITE);

	hz_step_ = "the first descriptor";
	d1 = xt_recv_desc(ctl);
	xt_rdma_read(s, S, LEN, hS, &d1, 0, 0);
	hz_verify("RDMA read", S, LEN, 60, 0);
	san_test_fill(S, LEN, 61);
	xt_rdma_write(s, S, LEN, hS, &d1, 0, 0);
	san_test_sync(ctl, "wrote-1");

	hz_step_ = "the deregistered descriptor";
	san_test_sync(ctl, "revoked");
	san_test_fill(S, LEN, 62);
	xt_rdma_write(s, S, LEN, hS, &d1, 0, -EACCES);
	xt_rdma_write(s, S, 4096, hS, &d1, 8192, -EACCES);
	xt_rdma_read(s, S, LEN, hS, &d1, 0, -EACCES);
	xt_rdma_read(s, S, 100, hS, &d1, 5000, -EACCES);
	hz_verify("the sink of refused RDMA reads", S, LEN, 62, 62);
	san_test_sync(ctl, "refused");

	hz_step_ = "the new descriptor";
	d2 = xt_recv_desc(ctl);
	xt_rdma_write(s, S, LEN, hS, &d1, 0, -EACCES); /* still refused */
	xt_rdma_read(s, S, LEN, hS, &d1, 0, -EACCES);
	memset(S, 0, LEN);
	xt_rdma_read(s, S, LEN, hS, &d2, 0, 0);
	hz_verify("RDMA read through the new descriptor", S, LEN, 61, 62);
	san_test_fill(S, LEN, 63);
	xt_rdma_write(s, S, LEN, hS, &d2, 0, 0);
	san_test_sync(ctl, "wrote-2");

	hz_step_ = "the second descriptor deregistered";
	san_test_sync(ctl, "revoked-2");
	san_test_fill(S, LEN, 64);
	xt_rdma_write(s, S, LEN, hS, &d2, 0, -EACCES);
	xt_rdma_read(s, S, LEN, hS, &d2, 0, -EACCES);
	xt_rdma_write(s, S, LEN, hS, &d1, 0, -EACCES);
	hz_verify("the sink of a refused RDMA read", S, LEN, 64, 64);
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, hS));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(S, LEN);
	return 0;
}
