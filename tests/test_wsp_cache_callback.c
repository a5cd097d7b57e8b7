/* SPDX-License-Identifier: MIT */
/*
 * WSPMemoryRegistrationCacheCallback (R2.4) returns success on a range:
 * a range whose registration was released into the cache, a range never
 * registered, a page inside a cached range, and a range still registered.
 * When the cache held the range, the callback drops it: cached_regions
 * falls and the next registration of the range pins again.
 */
#include "harness.h"

#include <san/wsp.h>
#include <sys/mman.h>

#define CHECK_WSA(got, want)                                                              \
	do {                                                                              \
		int g_ = (got), w_ = (want);                                              \
		if (g_ != w_) {                                                           \
			fprintf(stderr, "%s:%d: [%d] %s = %s (%d), want %s (%d)\n", __FILE__, \
				__LINE__, (int)getpid(), #got, WSPErrorName(g_), g_,      \
				WSPErrorName(w_), w_);                                    \
			exit(1);                                                          \
		}                                                                         \
	} while (0)

#define LEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s;

	alarm(60);
	p = san_test_provider();
	s = san_test_connect_peer(p, ctl);
	san_test_sync(ctl, "end");
	san_close(s);
	san_provider_close(p);
	return 0;
}

int main(void)
{
	struct san_stats st0, st1, st2;
	san_provider *p;
	san_socket *s;
	char *buf, never[100];
	HANDLE h;
	int ctl, err = 0;
	pid_t pid;

	san_test_start(60);
	pid = san_test_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s = san_test_accept_peer(p, ctl);
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	memset(buf, 1, LEN);

	/* Registered, released into the cache, then invalidated. */
	CHECK((h = WSPRegisterMemory(s, buf, LEN, MEM_READWRITE, &err)) != NULL);
	CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);
	CHECK_OK(san_get_stats(p, &st0));
	CHECK_RC(WSPMemoryRegistrationCacheCallback(p, buf, LEN, &err), 0);
	CHECK_OK(san_get_stats(p, &st1));
	CHECK(st1.cached_regions <= st0.cached_regions);
	if (st0.cached_regions > 0) {
		CHECK(st1.cached_regions < st0.cached_regions);
		/* Dropped: registering again is a miss and pins. */
		CHECK((h = WSPRegisterMemory(s, buf, LEN, MEM_READWRITE, &err)) != NULL);
		CHECK_OK(san_get_stats(p, &st2));
		CHECK(st2.reg_misses == st1.reg_misses + 1);
		CHECK(st2.pins > st1.pins);
		CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);
	} else {
		printf("note: nothing was cached (cache off or no monitor)\n");
	}

	/* Never registered. */
	CHECK_RC(WSPMemoryRegistrationCacheCallback(p, never, sizeof(never), &err), 0);
	/* One page in the middle of a (possibly) cached range. */
	CHECK_RC(WSPMemoryRegistrationCacheCallback(p, buf + 4096, 4096, &err), 0);
	/* Still registered: success; the registration is released later. */
	CHECK((h = WSPRegisterMemory(s, buf, LEN, MEM_READ, &err)) != NULL);
	CHECK_RC(WSPMemoryRegistrationCacheCallback(p, buf, LEN, &err), 0);
	CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);

	/* No provider. */
	err = 0;
	CHECK_RC(WSPMemoryRegistrationCacheCallback(NULL, buf, LEN, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSAEINVAL);

	san_test_sync(ctl, "end");
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(buf, LEN) == 0);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
