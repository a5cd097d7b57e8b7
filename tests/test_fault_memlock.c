/* SPDX-License-Identifier: MIT */
/*
 * Fault: pinning fails. The survivor runs as an ordinary user (as root, it
 * first becomes a fresh uid 40000 + pid % 20000 with no capabilities, as
 * test_api_enomem does) with RLIMIT_MEMLOCK = what it has pinned + 1 MiB:
 * io_uring charges fixed buffers to that limit. Three cycles of:
 *   1. register 64 KiB buffers (local and RDMA, alternately) until it
 *      fails: the failure is -ENOMEM (about 16 fit), writes no output and
 *      pins nothing; every further attempt fails the same way, no crash;
 *   2. full: the socket still works (a send from a registered buffer);
 *   3. half of them deregistered (the cache may keep them pinned): 768 KiB
 *      cannot fit even after evicting them: -ENOMEM; exactly the room they
 *      leave (512 KiB) can: the registration evicts what the cache holds
 *      and succeeds;
 *   4. everything deregistered and the memory freed (munmap): the whole
 *      room (what fit in step 1) registers again in one piece, with
 *      nothing else left pinned, and carries a send; every cycle finds the
 *      same room (nothing leaks from one cycle to the next).
 * (io_uring also charges its rings to RLIMIT_MEMLOCK on recent kernels,
 * not shown in VmPin: fewer than 16 buffers of 64 KiB fit in the 1 MiB.)
 * The peer (root, no limit) checks that each message arrived intact.
 * SAN_TEST_TRANSPORTS
 */
#include "fault.h"

#include <sys/resource.h>

#define SMALL (64 * 1024)
#define NSMALL 32
#define CYCLES 3
#define NMSG (2 * CYCLES)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *in = xt_map((size_t)NMSG * SMALL);
	san_handle h = xt_reg(s, in, (size_t)NMSG * SMALL, SAN_MEM_WRITE);

	for (int i = 0; i < NMSG; i++)
		xt_recv(s, in + (size_t)i * SMALL, SMALL, h, XT_CTX(i + 1));
	san_test_sync(ctl, "recv-posted");
	for (int i = 0; i < NMSG; i++) {
		xt_expect(s, XT_CTX(i + 1), SAN_OP_RECV, 0, SMALL);
		CHECK(fault_verify("peer: message", in + (size_t)i * SMALL, SMALL, 500 + (uint64_t)i));
	}
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(in, (size_t)NMSG * SMALL);
	return 0;
}

struct reg {
	uint8_t *buf;
	int rdma;
	san_handle h;
	struct san_rdma_desc d;
};

static int reg_one(san_socket *s, struct reg *r)
{
	san_handle h = 0x5a5a;
	struct san_rdma_desc d, sent;
	int rc;

	memset(&sent, 0xa5, sizeof(sent));
	d = sent;
	if (r->rdma)
		rc = san_register_rdma_memory(s, r->buf, SMALL, SAN_MEM_READWRITE, &d);
	else
		rc = san_register_memory(s, r->buf, SMALL, SAN_MEM_READWRITE, &h);
	if (rc) {
		CHECK(h == 0x5a5a && !memcmp(&d, &sent, sizeof(d))); /* no output */
		return rc;
	}
	r->h = h;
	r->d = d;
	return 0;
}

static void dereg_one(san_socket *s, struct reg *r)
{
	if (r->rdma)
		CHECK_OK(san_deregister_rdma_memory(s, &r->d));
	else
		CHECK_OK(san_deregister_memory(s, r->h));
}

static void send_one(san_socket *s, void *buf, size_t len, int msg)
{
	fault_fill(buf, SMALL, 500 + (uint64_t)msg);
	xt_send(s, buf, SMALL, 0, XT_CTX(100 + msg)); /* found by address */
	xt_expect(s, XT_CTX(100 + msg), SAN_OP_SEND, 0, SMALL);
	(void)len;
}

int main(void)
{
	struct reg r[NSMALL];
	san_provider *p;
	san_socket *s;
	struct rlimit rl;
	long pin0;
	int ctl, msg = 0, n0 = -1;
	pid_t pid;

	san_test_start(100);
	pid = xt_fork(peer, NULL, &ctl);
	san_test_become_unprivileged();
	s = xt_server(&p, ctl);
	pin0 = san_test_vmpin_kb();
	CHECK(pin0 >= 0);
	rl.rlim_cur = rl.rlim_max = (rlim_t)pin0 * 1024 + MIB;
	CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);
	printf("uid %d, RLIMIT_MEMLOCK %ld kB, VmPin %ld kB, cache %s\n", (int)getuid(),
	       (long)(rl.rlim_cur / 1024), pin0, getenv("SAN_RCACHE") ? getenv("SAN_RCACHE") : "on");
	san_test_sync(ctl, "recv-posted");

	for (int cyc = 0; cyc < CYCLES; cyc++) {
		int n = 0, first_fail = -1;
		uint8_t *big, *big2;
		san_handle hb, hx = 0;
		long pin;

		for (int i = 0; i < NSMALL; i++) {
			r[i].buf = xt_map(SMALL);
			memset(r[i].buf, i, SMALL);
			r[i].rdma = i % 2;
		}
		/* 1. Until it fails. */
		for (int i = 0; i < NSMALL; i++) {
			int rc;

			pin = san_test_vmpin_kb();
			rc = reg_one(s, &r[i]);
			if (rc == 0 && first_fail < 0) {
				n++;
				continue;
			}
			if (rc == 0) {
				fprintf(stderr, "registration %d succeeded after %d failed\n", i,
					first_fail);
				return 1;
			}
			CHECK_RC(rc, -ENOMEM);
			CHECK(san_test_vmpin_kb() <= pin);
			if (first_fail < 0)
				first_fail = i;
		}
		printf("cycle %d: %d registrations of 64 KiB fit, then -ENOMEM (VmPin %ld kB)\n", cyc,
		       n, san_test_vmpin_kb());
		CHECK(n >= 8 && n <= 16);

		/* 2. Full, and working. */
		send_one(s, r[0].buf, SMALL, msg++);

		/* 3. Half deregistered: what does not fit after eviction fails,
		 * what fits after eviction succeeds. */
		for (int i = n / 2; i < n; i++)
			dereg_one(s, &r[i]);
		big = xt_map(768 * 1024);
		CHECK_RC(san_register_memory(s, big, 768 * 1024, SAN_MEM_READ, &hx), -ENOMEM);
		CHECK(hx == 0);
		xt_unmap(big, 768 * 1024);
		/* Exactly the room the deregistered half leaves. */
		big = xt_map((size_t)(n - n / 2) * SMALL);
		CHECK_RC(san_register_memory(s, big, (size_t)(n - n / 2) * SMALL, SAN_MEM_READ, &hb),
			 0);
		CHECK_OK(san_deregister_memory(s, hb));
		for (int i = 0; i < n / 2; i++)
			dereg_one(s, &r[i]);

		/* 4. Everything freed: the whole room can be registered in one
		 * piece again (the pins of freed memory are gone by then), and
		 * it works. */
		for (int i = 0; i < NSMALL; i++)
			xt_unmap(r[i].buf, SMALL);
		xt_unmap(big, (size_t)(n - n / 2) * SMALL);
		big2 = xt_map((size_t)n * SMALL);
		hb = xt_reg(s, big2, (size_t)n * SMALL, SAN_MEM_READWRITE);
		CHECK(san_test_vmpin_kb() == pin0 + n * (long)(SMALL / 1024));
		send_one(s, big2, SMALL, msg++);
		CHECK_OK(san_deregister_memory(s, hb));
		xt_unmap(big2, (size_t)n * SMALL);
		printf("cycle %d: recovered: %d KiB registered in one piece and used\n", cyc,
		       n * (int)(SMALL / 1024));
		if (n0 < 0)
			n0 = n;
		CHECK(n == n0); /* every cycle finds the same room */
	}
	san_test_sync(ctl, "end");
	xt_expect_idle(s);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
