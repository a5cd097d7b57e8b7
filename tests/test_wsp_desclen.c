/* SPDX-License-Identifier: MIT */
/*
 * WSPRegisterRdmaMemory's descriptor length is in/out (R1.3, the seed
 * signature): a block too small (or NULL) fails with WSAEFAULT, stores the
 * size needed and registers nothing; a block of exactly that size works and
 * the length comes back unchanged; a larger block works, the length comes
 * back as the size stored and the bytes past it are untouched. The
 * descriptor length given back to WSPDeregisterRdmaMemory must be that size.
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
#define NEED ((DWORD)SAN_RDMA_DESC_SIZE)

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

static int all_bytes(const unsigned char *b, size_t len, unsigned char c)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != c)
			return 0;
	return 1;
}

int main(void)
{
	unsigned char block[SAN_RDMA_DESC_SIZE + 16];
	struct san_stats st0, st1, st2;
	san_provider *p;
	san_socket *s;
	DWORD len;
	char *buf;
	int ctl, err;
	pid_t pid;

	san_test_start(60);
	pid = san_test_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s = san_test_accept_peer(p, ctl);
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	memset(buf, 1, LEN);
	CHECK_OK(san_get_stats(p, &st0));

	/* No length at all. */
	err = 0;
	CHECK_RC(WSPRegisterRdmaMemory(s, buf, LEN, MEM_READWRITE, block, NULL, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSAEFAULT);

	/* Asking for the size: NULL block, length 0. */
	len = 0;
	err = 0;
	CHECK_RC(WSPRegisterRdmaMemory(s, buf, LEN, MEM_READWRITE, NULL, &len, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSAEFAULT);
	CHECK(len == NEED);

	/* NULL block with a large length: still no block. */
	len = 4096;
	err = 0;
	CHECK_RC(WSPRegisterRdmaMemory(s, buf, LEN, MEM_READWRITE, NULL, &len, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSAEFAULT);
	CHECK(len == NEED);

	/* One byte short: nothing written into the block. */
	memset(block, 0xAA, sizeof(block));
	len = NEED - 1;
	err = 0;
	CHECK_RC(WSPRegisterRdmaMemory(s, buf, LEN, MEM_READWRITE, block, &len, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSAEFAULT);
	CHECK(len == NEED);
	CHECK(all_bytes(block, sizeof(block), 0xAA));

	/* None of that registered or exposed anything. */
	CHECK_OK(san_get_stats(p, &st1));
	CHECK(st1.keys_active == st0.keys_active);
	CHECK(st1.reg_hits == st0.reg_hits && st1.reg_misses == st0.reg_misses);
	CHECK(st1.pins == st0.pins);

	/* Exactly the size: works, length unchanged. */
	len = NEED;
	CHECK_RC(WSPRegisterRdmaMemory(s, buf, LEN, MEM_READWRITE, block, &len, &err), 0);
	CHECK(len == NEED);
	CHECK(!all_bytes(block, NEED, 0xAA));
	CHECK(all_bytes(block + NEED, sizeof(block) - NEED, 0xAA));
	CHECK_OK(san_get_stats(p, &st2));
	CHECK(st2.keys_active == st0.keys_active + 1);

	/* Deregistering wants the stored size back, nothing else. */
	err = 0;
	CHECK_RC(WSPDeregisterRdmaMemory(s, block, NEED + 1, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSAEINVAL);
	err = 0;
	CHECK_RC(WSPDeregisterRdmaMemory(s, block, NEED - 1, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSAEINVAL);
	err = 0;
	CHECK_RC(WSPDeregisterRdmaMemory(s, NULL, NEED, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSAEFAULT);
	CHECK_RC(WSPDeregisterRdmaMemory(s, block, NEED, &err), 0);
	CHECK_OK(san_get_stats(p, &st2));
	CHECK(st2.keys_active == st0.keys_active);
	/* Gone now. */
	err = 0;
	CHECK_RC(WSPDeregisterRdmaMemory(s, block, NEED, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSAEINVAL);

	/* A larger block: length comes back as the size stored; the rest of
	 * the block is not touched. */
	memset(block, 0xAA, sizeof(block));
	len = sizeof(block);
	CHECK_RC(WSPRegisterRdmaMemory(s, buf, LEN, MEM_READWRITE, block, &len, &err), 0);
	CHECK(len == NEED);
	CHECK(all_bytes(block + NEED, sizeof(block) - NEED, 0xAA));
	CHECK_RC(WSPDeregisterRdmaMemory(s, block, len, &err), 0);

	san_test_sync(ctl, "end");
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(buf, LEN) == 0);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
