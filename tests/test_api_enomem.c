/* SPDX-License-Identifier: MIT */
/*
 * API.md: out of pinnable memory after the cache has evicted what it can,
 * registration fails with -ENOMEM (local and RDMA), pins nothing, writes no
 * output, and leaves the socket working. Memory that was deregistered (and
 * may sit in the cache) does not count against a new registration: the
 * cache gives it up.
 *
 * The limit is RLIMIT_MEMLOCK, which io_uring charges fixed buffers to
 * unless the ring's creator has CAP_IPC_LOCK. Run as root, the test first
 * becomes a fresh unprivileged uid, so that it has neither that capability
 * nor other processes' pins on its account. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#include <sys/resource.h>

#define MIB (1024 * 1024)
#define ROOM (4 * MIB) /* pinnable beyond what the provider holds at start */

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *in = xt_map(MIB);
	san_handle h = xt_reg(s, in, MIB, SAN_MEM_WRITE);

	xt_recv(s, in, MIB, h, XT_CTX(1));
	san_test_sync(ctl, "b-recv-posted");
	xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, 1000);
	CHECK(san_test_verify(in, 1000, 290));
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(in, MIB);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *r1, *r2, *r3;
	san_handle h1, h2, hx;
	struct san_rdma_desc dx, dsent;
	struct rlimit rl;
	long pin_start, pin;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	san_test_become_unprivileged();
	s = xt_server(&p, ctl);
	pin_start = san_test_vmpin_kb();
	CHECK(pin_start >= 0);
	rl.rlim_cur = rl.rlim_max = (rlim_t)pin_start * 1024 + ROOM;
	CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);

	r1 = xt_map(3 * MIB);
	r2 = xt_map(3 * MIB);
	r3 = xt_map(5 * MIB);
	h1 = xt_reg(s, r1, 3 * MIB, SAN_MEM_READWRITE);

	/* 3 + 3 MiB > 4 MiB, and r1 is in use: nothing to evict. */
	pin = san_test_vmpin_kb();
	hx = 0x5a5a;
	memset(&dsent, 0xa5, sizeof(dsent));
	dx = dsent;
	CHECK_RC(san_register_memory(s, r2, 3 * MIB, SAN_MEM_READWRITE, &hx), -ENOMEM);
	CHECK_RC(san_register_rdma_memory(s, r2, 3 * MIB, SAN_MEM_READWRITE, &dx), -ENOMEM);
	CHECK(hx == 0x5a5a && memcmp(&dx, &dsent, sizeof(dx)) == 0);
	CHECK(san_test_vmpin_kb() == pin);

	/* r1 deregistered: whether cached or not, it must make room. */
	CHECK_OK(san_deregister_memory(s, h1));
	h2 = xt_reg(s, r2, 3 * MIB, SAN_MEM_READWRITE);

	/* More than the whole room. */
	CHECK_RC(san_register_memory(s, r3, 5 * MIB, SAN_MEM_READ, &hx), -ENOMEM);
	CHECK_RC(san_register_rdma_memory(s, r3, 5 * MIB, SAN_MEM_READ, &dx), -ENOMEM);

	/* The socket still works. */
	san_test_fill(r2, 1000, 290);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s, r2, 1000, h2, XT_CTX(1));
	xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, 1000);
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h2));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(r1, 3 * MIB);
	xt_unmap(r2, 3 * MIB);
	xt_unmap(r3, 5 * MIB);
	return 0;
}
