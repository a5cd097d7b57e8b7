/* SPDX-License-Identifier: MIT */
/*
 * fork() with cached, watched memory: the child can unmap that memory
 * without waiting for anybody (its VMAs are not registered with the
 * parent's userfaultfd: EVENT_FORK is not requested), and the parent's
 * registration, whose mapping did not change, stays a hit.
 */
#include "test_rcache_mock.h"

#include <sys/wait.h>

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	struct mock_mr *old;
	uint8_t *p;
	uint64_t inval;
	pid_t pid;
	int st;

	san_test_start(30);
	rc = mock_cache_uffd(&m);
	p = map_anon(8 * PG);
	stamp(p, 1);
	old = touch(rc, p, 8 * PG);
	inval = mock_stats(rc).invalidations;
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(10);
		stamp(p, 99); /* copy on write: the parent's page is not touched */
		_exit(munmap(p, 8 * PG) == 0 && madvise(p, PG, MADV_DONTNEED) != 0 ? 0 : 1);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(*(volatile uint64_t *)p == 1);
	CHECK(touch(rc, p, 8 * PG) == old);
	CHECK(mock_stats(rc).invalidations == inval);
	CHECK(munmap(p, 8 * PG) == 0);
	mock_fini(&m);
	san_test_check_leaks();
	return 0;
}
