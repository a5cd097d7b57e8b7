/* SPDX-License-Identifier: MIT */
/*
 * API.md / san.h: registering a range that is not wholly mapped, writable
 * user memory is -EFAULT, for local and RDMA registration: a hole punched
 * with munmap (in the middle, at the end), a PROT_NONE page, a read-only
 * mapping, a range that was unmapped, a kernel address. A failed
 * registration pins nothing (VmPin and the pin counters unchanged), and the
 * mapped parts can still be registered.
 */
#include "xtest.h"

static void both_efault(int line, san_socket *s, void *buf, size_t len)
{
	san_handle h = 0;
	struct san_rdma_desc d;
	int rc1 = san_register_memory(s, buf, len, SAN_MEM_READWRITE, &h);
	int rc2 = san_register_rdma_memory(s, buf, len, SAN_MEM_READWRITE, &d);
	int rc3 = san_register_memory(s, buf, len, SAN_MEM_READ, &h);

	if (rc1 != -EFAULT || rc2 != -EFAULT || rc3 != -EFAULT) {
		fprintf(stderr,
			"line %d: registering %p+%zu = %d (%s) / rdma %d (%s) / read-only %d (%s), "
			"want -EFAULT\n",
			line, buf, len, rc1, san_strerror(rc1), rc2, san_strerror(rc2), rc3,
			san_strerror(rc3));
		exit(1);
	}
}

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);

	san_test_sync(ctl, "end");
	xt_teardown(p, s);
	return 0;
}

int main(void)
{
	size_t pg = xt_page();
	san_provider *p;
	san_socket *s;
	uint8_t *hole, *tail, *none, *ro, *gone;
	san_handle h;
	struct san_rdma_desc d;
	struct san_stats st0, st1;
	long pin0;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);

	/* The holes must stay holes: placed apart, no other mapping (a
	 * sanitizer runtime's) lands in them (harness.h). */
	hole = san_test_map_apart(4 * pg);
	memset(hole, 1, 4 * pg);
	xt_unmap(hole + pg, pg);
	tail = san_test_map_apart(3 * pg);
	memset(tail, 1, 3 * pg);
	xt_unmap(tail + 2 * pg, pg);
	none = xt_map(3 * pg);
	memset(none, 1, 3 * pg);
	CHECK(mprotect(none + 2 * pg, pg, PROT_NONE) == 0);
	ro = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	gone = san_test_map_apart(2 * pg);
	xt_unmap(gone, 2 * pg);

	pin0 = san_test_vmpin_kb();
	CHECK_OK(san_get_stats(p, &st0));
	both_efault(__LINE__, s, hole, 4 * pg);
	both_efault(__LINE__, s, hole + pg - 1, 2);
	both_efault(__LINE__, s, tail, 3 * pg);
	both_efault(__LINE__, s, tail + 2 * pg - 10, 20);
	both_efault(__LINE__, s, none, 3 * pg);
	both_efault(__LINE__, s, none + 2 * pg, 1);
	both_efault(__LINE__, s, ro, 2 * pg);
	both_efault(__LINE__, s, gone, 2 * pg);
	both_efault(__LINE__, s, gone + 100, 100);
	both_efault(__LINE__, s, (void *)(uintptr_t)0xffff800000000000ull, pg);
	both_efault(__LINE__, s, (void *)(uintptr_t)0xffffffffff600000ull, pg); /* vsyscall */
	CHECK(san_test_vmpin_kb() == pin0);
	CHECK_OK(san_get_stats(p, &st1));
	CHECK(st1.pinned_bytes == st0.pinned_bytes && st1.keys_active == st0.keys_active);
	CHECK(st1.pins - st1.unpins == st0.pins - st0.unpins);

	/* The mapped parts register fine. */
	h = xt_reg(s, hole, pg, SAN_MEM_READWRITE);
	CHECK_OK(san_deregister_memory(s, h));
	h = xt_reg(s, hole + 2 * pg, 2 * pg, SAN_MEM_READWRITE);
	CHECK_OK(san_deregister_memory(s, h));
	d = xt_rreg(s, tail, 2 * pg, SAN_MEM_READWRITE);
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	h = xt_reg(s, none, 2 * pg, SAN_MEM_READWRITE);
	CHECK_OK(san_deregister_memory(s, h));
	san_test_sync(ctl, "end");

	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(hole, pg);
	xt_unmap(hole + 2 * pg, 2 * pg);
	xt_unmap(tail, 2 * pg);
	xt_unmap(none, 3 * pg);
	xt_unmap(ro, 2 * pg);
	return 0;
}
