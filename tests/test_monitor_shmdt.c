/* SPDX-License-Identifier: MIT */
/*
 * SysV shared memory: shmdt sends no userfaultfd event at all, so such
 * memory must never be cached. A segment detached and another attached at
 * the same address gets a new registration.
 */
#include "test_rcache_mock.h"

#include <sys/ipc.h>
#include <sys/shm.h>

static uint8_t *attach(void *at)
{
	int id = shmget(IPC_PRIVATE, 8 * PG, IPC_CREAT | 0600);
	uint8_t *p;

	if (id < 0)
		san_test_skip("shmget: %s", strerror(errno));
	p = shmat(id, at, 0);
	CHECK(p != (void *)-1);
	CHECK(shmctl(id, IPC_RMID, NULL) == 0); /* freed at the last detach */
	CHECK(!at || p == at);
	return p;
}

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	struct san_rcache_region *r;
	struct mock_mr *old;
	uint8_t *p;

	san_test_start(30);
	rc = mock_cache_uffd(&m);

	p = attach(NULL);
	stamp(p, 1);
	r = get_ok(rc, p, 8 * PG);
	CHECK(!san__rcache_region_cached(r));
	old = MR(r);
	san__rcache_put(rc, r);
	CHECK(!atomic_load(&old->live));
	CHECK(touch(rc, p, 8 * PG) != old);

	CHECK(shmdt(p) == 0);
	CHECK(attach(p) == p);
	stamp(p, 2);
	expect_fresh(rc, &m, p, 8 * PG, old, 2);
	CHECK(mock_stats(rc).reg_hits == 0);
	CHECK(shmdt(p) == 0);
	mock_fini(&m);
	san_test_check_leaks();
	return 0;
}
