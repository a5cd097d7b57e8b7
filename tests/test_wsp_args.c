/* SPDX-License-Identifier: MIT */
/*
 * The checks the seed-name layer makes itself, before the native API sees
 * anything: NULL socket -> WSAENOTSOCK, a completion routine or operation
 * flags -> WSAEOPNOTSUPP (no APCs, no MSG_* here), NULL lpFlags of WSPRecv
 * or a NULL buffer array -> WSAEFAULT, too many buffers -> WSAEINVAL, NULL
 * overlapped -> WSAEFAULT, NULL provider -> WSAEINVAL; and a missing lpErrno
 * is tolerated. None of these starts an operation.
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

/* call must fail with SOCKET_ERROR and *(&err) == want. */
#define CHECK_FAILS(call, want)                                                           \
	do {                                                                              \
		err = 0;                                                                  \
		CHECK_RC(call, SOCKET_ERROR);                                             \
		CHECK_WSA(err, want);                                                     \
	} while (0)

static void never_called(DWORD e, DWORD n, LPWSAOVERLAPPED ov, DWORD f)
{
	(void)e, (void)n, (void)ov, (void)f;
	abort();
}

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
	unsigned char desc[SAN_RDMA_DESC_SIZE] = { 0 };
	WSABUFEX x[SAN_MAX_SGE + 1];
	WSABUF b[SAN_MAX_SGE + 1];
	WSAOVERLAPPED ov;
	san_provider *p;
	san_socket *s;
	DWORD n, len = sizeof(desc), flags = 0;
	HANDLE h;
	char *buf;
	int ctl, err;
	pid_t pid;

	san_test_start(60);
	pid = san_test_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s = san_test_accept_peer(p, ctl);
	buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	CHECK((h = WSPRegisterMemory(s, buf, 4096, MEM_READWRITE, &err)) != NULL);
	for (int i = 0; i <= SAN_MAX_SGE; i++) {
		b[i].buf = buf;
		b[i].len = 1;
		x[i].buf = buf;
		x[i].len = 1;
		x[i].handle = h;
	}

	/* NULL socket. */
	err = 0;
	CHECK(WSPRegisterMemory(NULL, buf, 4096, MEM_READ, &err) == NULL);
	CHECK_WSA(err, WSAENOTSOCK);
	CHECK_FAILS(WSPDeregisterMemory(NULL, h, &err), WSAENOTSOCK);
	CHECK_FAILS(WSPRegisterRdmaMemory(NULL, buf, 4096, MEM_READ, desc, &len, &err),
		    WSAENOTSOCK);
	CHECK_FAILS(WSPDeregisterRdmaMemory(NULL, desc, sizeof(desc), &err), WSAENOTSOCK);
	CHECK_FAILS(WSPSend(NULL, b, 1, &n, 0, &ov, NULL, NULL, &err), WSAENOTSOCK);
	CHECK_FAILS(WSPRecv(NULL, b, 1, &n, &flags, &ov, NULL, NULL, &err), WSAENOTSOCK);
	CHECK_FAILS(WSPRdmaWrite(NULL, x, 1, desc, sizeof(desc), 0, &n, 0, &ov, NULL, NULL, &err),
		    WSAENOTSOCK);
	CHECK_FAILS(WSPRdmaRead(NULL, x, 1, desc, sizeof(desc), 0, &n, 0, &ov, NULL, NULL, &err),
		    WSAENOTSOCK);
	err = 0;
	CHECK(!WSPGetOverlappedResult(NULL, &ov, &n, FALSE, &flags, &err));
	CHECK_WSA(err, WSAENOTSOCK);

	/* Completion routines: not supported, and never called. */
	CHECK_FAILS(WSPSend(s, b, 1, &n, 0, &ov, never_called, NULL, &err), WSAEOPNOTSUPP);
	CHECK_FAILS(WSPRecv(s, b, 1, &n, &flags, &ov, never_called, NULL, &err), WSAEOPNOTSUPP);
	CHECK_FAILS(WSPRdmaWrite(s, x, 1, desc, sizeof(desc), 0, &n, 0, &ov, never_called, NULL,
				 &err),
		    WSAEOPNOTSUPP);
	CHECK_FAILS(WSPRdmaRead(s, x, 1, desc, sizeof(desc), 0, &n, 0, &ov, never_called, NULL,
				&err),
		    WSAEOPNOTSUPP);

	/* Operation flags. */
	CHECK_FAILS(WSPSend(s, b, 1, &n, 1, &ov, NULL, NULL, &err), WSAEOPNOTSUPP);
	flags = 2;
	CHECK_FAILS(WSPRecv(s, b, 1, &n, &flags, &ov, NULL, NULL, &err), WSAEOPNOTSUPP);
	CHECK(flags == 2);
	flags = 0;
	CHECK_FAILS(WSPRdmaWrite(s, x, 1, desc, sizeof(desc), 0, &n, 4, &ov, NULL, NULL, &err),
		    WSAEOPNOTSUPP);
	CHECK_FAILS(WSPRdmaRead(s, x, 1, desc, sizeof(desc), 0, &n, 4, &ov, NULL, NULL, &err),
		    WSAEOPNOTSUPP);

	/* Pointers. */
	CHECK_FAILS(WSPRecv(s, b, 1, &n, NULL, &ov, NULL, NULL, &err), WSAEFAULT);
	CHECK_FAILS(WSPSend(s, NULL, 1, &n, 0, &ov, NULL, NULL, &err), WSAEFAULT);
	CHECK_FAILS(WSPRecv(s, NULL, 1, &n, &flags, &ov, NULL, NULL, &err), WSAEFAULT);
	CHECK_FAILS(WSPRdmaWrite(s, NULL, 1, desc, sizeof(desc), 0, &n, 0, &ov, NULL, NULL, &err),
		    WSAEFAULT);
	CHECK_FAILS(WSPRdmaWrite(s, x, 1, NULL, sizeof(desc), 0, &n, 0, &ov, NULL, NULL, &err),
		    WSAEFAULT);
	CHECK_FAILS(WSPRdmaRead(s, x, 1, NULL, sizeof(desc), 0, &n, 0, &ov, NULL, NULL, &err),
		    WSAEFAULT);
	err = 0;
	CHECK(!WSPGetOverlappedResult(s, NULL, &n, TRUE, &flags, &err));
	CHECK_WSA(err, WSAEFAULT);

	/* Counts and descriptor lengths. */
	CHECK_FAILS(WSPSend(s, b, SAN_MAX_SGE + 1, &n, 0, &ov, NULL, NULL, &err), WSAEINVAL);
	CHECK_FAILS(WSPRecv(s, b, SAN_MAX_SGE + 1, &n, &flags, &ov, NULL, NULL, &err), WSAEINVAL);
	CHECK_FAILS(WSPRdmaWrite(s, x, SAN_MAX_SGE + 1, desc, sizeof(desc), 0, &n, 0, &ov, NULL,
				 NULL, &err),
		    WSAEINVAL);
	CHECK_FAILS(WSPRdmaWrite(s, x, 1, desc, sizeof(desc) - 1, 0, &n, 0, &ov, NULL, NULL, &err),
		    WSAEINVAL);
	CHECK_FAILS(WSPRdmaRead(s, x, 1, desc, sizeof(desc) + 1, 0, &n, 0, &ov, NULL, NULL, &err),
		    WSAEINVAL);

	/* Provider. */
	CHECK_FAILS(WSPMemoryRegistrationCacheCallback(NULL, buf, 4096, &err), WSAEINVAL);

	/* lpErrno may be NULL: the call still fails, nothing is written. */
	CHECK_RC(WSPSend(NULL, b, 1, &n, 0, &ov, NULL, NULL, NULL), SOCKET_ERROR);
	CHECK(WSPRegisterMemory(s, buf, 4096, 0, NULL) == NULL);

	/* Nothing was started. */
	{
		struct san_completion c;

		CHECK_RC(san_poll(s, &c, 1, 0), 0);
	}
	CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);
	san_test_sync(ctl, "end");
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(buf, 4096) == 0);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
