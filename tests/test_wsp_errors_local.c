/* SPDX-License-Identifier: MIT */
/*
 * Native errors reach the seed names through the table, on a live
 * connection, for what the caller does locally:
 *   registration flags 0 or unknown bits, length 0  -> WSAEINVAL
 *   a range not wholly mapped                       -> WSAEFAULT
 *   an unknown handle / descriptor                  -> WSAEINVAL
 *   memory an outstanding operation uses (-EBUSY)   -> WSAEINVAL (the seeds' word)
 *   a send from unregistered memory                 -> WSAEFAULT, at once; the
 *     WSAOVERLAPPED is not left pending
 *   a send from a write-only registration           -> WSAEACCES
 *   a receive into a read-only registration         -> WSAEACCES
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

#define CHECK_FAILS(call, want)                                                           \
	do {                                                                              \
		err = 0;                                                                  \
		CHECK_RC(call, SOCKET_ERROR);                                             \
		CHECK_WSA(err, want);                                                     \
	} while (0)

#define CHECK_NO_HANDLE(call, want)                                                       \
	do {                                                                              \
		err = 0;                                                                  \
		CHECK((call) == NULL);                                                    \
		CHECK_WSA(err, want);                                                     \
	} while (0)

#define PG 4096

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s;
	char *msg = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	WSABUF wb = { 3, msg };
	HANDLE h;
	DWORD n;
	int err = 0;

	alarm(60);
	CHECK(msg != MAP_FAILED);
	p = san_test_provider();
	s = san_test_connect_peer(p, ctl);
	CHECK((h = WSPRegisterMemory(s, msg, PG, MEM_READ, &err)) != NULL);
	san_test_sync(ctl, "send");
	memcpy(msg, "msg", 3);
	CHECK_RC(WSPSend(s, &wb, 1, &n, 0, NULL, NULL, NULL, &err), 0);
	san_test_sync(ctl, "end");
	CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(msg, PG) == 0);
	return 0;
}

int main(void)
{
	unsigned char desc[SAN_RDMA_DESC_SIZE];
	san_provider *p;
	san_socket *s;
	char *mem, *hole;
	HANDLE h_ro, h_wo;
	WSAOVERLAPPED ov;
	WSABUF wb;
	DWORD n, len, flags = 0;
	int ctl, err = 0;
	pid_t pid;

	san_test_start(60);
	pid = san_test_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s = san_test_accept_peer(p, ctl);
	mem = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED);
	memset(mem, 0, 4 * PG);
	hole = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(hole != MAP_FAILED);
	CHECK(munmap(hole + PG, PG) == 0); /* [hole, hole+2PG) is half unmapped */

	/* Registration arguments. */
	CHECK_NO_HANDLE(WSPRegisterMemory(s, mem, PG, 0, &err), WSAEINVAL);
	CHECK_NO_HANDLE(WSPRegisterMemory(s, mem, PG, 4, &err), WSAEINVAL);
	CHECK_NO_HANDLE(WSPRegisterMemory(s, mem, PG, 0x80000001u, &err), WSAEINVAL);
	CHECK_NO_HANDLE(WSPRegisterMemory(s, mem, 0, MEM_READ, &err), WSAEINVAL);
	CHECK_NO_HANDLE(WSPRegisterMemory(s, hole, 2 * PG, MEM_READ, &err), WSAEFAULT);
	len = sizeof(desc);
	CHECK_FAILS(WSPRegisterRdmaMemory(s, mem, PG, 0, desc, &len, &err), WSAEINVAL);
	CHECK_FAILS(WSPRegisterRdmaMemory(s, hole, 2 * PG, MEM_READ, desc, &len, &err), WSAEFAULT);

	/* Unknown handle and descriptor. */
	CHECK_FAILS(WSPDeregisterMemory(s, (HANDLE)(uintptr_t)0x5a5a5a5a, &err), WSAEINVAL);
	memset(desc, 0, sizeof(desc));
	CHECK_FAILS(WSPDeregisterRdmaMemory(s, desc, sizeof(desc), &err), WSAEINVAL);

	/* Rights: page 0 read-only, page 1 write-only, page 2 nothing. */
	CHECK((h_ro = WSPRegisterMemory(s, mem, PG, MEM_READ, &err)) != NULL);
	CHECK((h_wo = WSPRegisterMemory(s, mem + PG, PG, MEM_WRITE, &err)) != NULL);
	wb.buf = mem + PG;
	wb.len = 16;
	CHECK_FAILS(WSPSend(s, &wb, 1, &n, 0, &ov, NULL, NULL, &err), WSAEACCES);
	wb.buf = mem;
	CHECK_FAILS(WSPRecv(s, &wb, 1, &n, &flags, &ov, NULL, NULL, &err), WSAEACCES);

	/* Unregistered: fails at once, and ov is not left pending. */
	wb.buf = mem + 2 * PG;
	CHECK_FAILS(WSPSend(s, &wb, 1, &n, 0, &ov, NULL, NULL, &err), WSAEFAULT);
	err = 0;
	CHECK(!WSPGetOverlappedResult(s, &ov, &n, FALSE, &flags, &err));
	CHECK_WSA(err, WSAEFAULT);

	/* In use: a receive outstanding in the write-only page. */
	wb.buf = mem + PG;
	wb.len = PG;
	CHECK_FAILS(WSPRecv(s, &wb, 1, NULL, &flags, &ov, NULL, NULL, &err), WSA_IO_PENDING);
	CHECK_FAILS(WSPDeregisterMemory(s, h_wo, &err), WSAEINVAL);
	san_test_sync(ctl, "send");
	n = 0;
	CHECK(WSPGetOverlappedResult(s, &ov, &n, TRUE, &flags, &err));
	CHECK(n == 3 && !memcmp(mem + PG, "msg", 3));
	CHECK_RC(WSPDeregisterMemory(s, h_wo, &err), 0);
	CHECK_RC(WSPDeregisterMemory(s, h_ro, &err), 0);
	/* Twice: no longer a live handle. */
	CHECK_FAILS(WSPDeregisterMemory(s, h_ro, &err), WSAEINVAL);

	san_test_sync(ctl, "end");
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(mem, 4 * PG) == 0 && munmap(hole, PG) == 0);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
