/* SPDX-License-Identifier: MIT */
/*
 * Errors the peer reports come back through the table as the result of the
 * overlapped operation (SAN_TEST_TRANSPORTS: TCP and Unix sockets):
 *   RDMA write into a read-only descriptor        -> WSAEACCES
 *   RDMA outside the descriptor's buffer (-ERANGE)-> WSAEFAULT
 *   RDMA with a revoked descriptor                -> WSAEACCES
 *   an operation outstanding when the peer leaves -> WSAECONNRESET
 * The refused writes leave the target's memory untouched, and the target
 * keeps serving the operations that are allowed.
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

#define LEN (16 * 1024)
#define D SAN_RDMA_DESC_SIZE

static char *pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	memset(p, 0, len);
	return p;
}

/* Runs one RDMA operation to its end; returns 0 or its WSA error. */
static int rdma(SOCKET s, int write, char *local, HANDLE h, ULONG len, unsigned char *desc,
		DWORD off, DWORD *n_out)
{
	WSABUFEX x = { len, local, h };
	WSAOVERLAPPED ov;
	DWORD flags;
	int rc, err = 0;

	if (write)
		rc = WSPRdmaWrite(s, &x, 1, desc, D, off, NULL, 0, &ov, NULL, NULL, &err);
	else
		rc = WSPRdmaRead(s, &x, 1, desc, D, off, NULL, 0, &ov, NULL, NULL, &err);
	CHECK_RC(rc, SOCKET_ERROR);
	CHECK_WSA(err, WSA_IO_PENDING);
	*n_out = 0;
	err = 0;
	return WSPGetOverlappedResult(s, &ov, n_out, TRUE, &flags, &err) ? 0 : err;
}

static int initiator(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s;
	char *src = pages(LEN), *sink = pages(LEN), *msg = pages(4096);
	unsigned char *ro = (unsigned char *)msg, *rw = (unsigned char *)msg + D;
	HANDLE h_src, h_sink, h_msg;
	WSABUF wb = { 4096, msg };
	DWORD n, flags = 0;
	int err = 0;

	alarm(60);
	p = san_test_provider();
	s = san_test_connect_peer(p, ctl);
	CHECK((h_src = WSPRegisterMemory(s, src, LEN, MEM_READ, &err)) != NULL);
	CHECK((h_sink = WSPRegisterMemory(s, sink, LEN, MEM_WRITE, &err)) != NULL);
	CHECK((h_msg = WSPRegisterMemory(s, msg, 4096, MEM_WRITE, &err)) != NULL);
	CHECK_RC(WSPRecv(s, &wb, 1, &n, &flags, NULL, NULL, NULL, &err), 0);
	CHECK(n == 2 * D);
	memset(src, 'X', LEN);

	/* Read-only target: writing is refused, reading works. */
	CHECK_WSA(rdma(s, 1, src, h_src, 16, ro, 0, &n), WSAEACCES);
	CHECK_WSA(rdma(s, 0, sink, h_sink, 64, ro, 0, &n), 0);
	CHECK(n == 64 && san_test_verify(sink, 64, 7));

	/* Bounds. */
	CHECK_WSA(rdma(s, 1, src, h_src, 16, rw, LEN - 8, &n), WSAEFAULT);
	CHECK_WSA(rdma(s, 0, sink, h_sink, 1, rw, LEN, &n), WSAEFAULT);
	memset(src, 'W', 16);
	CHECK_WSA(rdma(s, 1, src, h_src, 16, rw, 0, &n), 0);
	CHECK(n == 16);

	/* Revoked. */
	san_test_sync(ctl, "revoke");
	san_test_sync(ctl, "revoked");
	memset(src, 'R', LEN);
	CHECK_WSA(rdma(s, 1, src, h_src, 16, rw, 100, &n), WSAEACCES);

	/* The target still serves what is allowed. */
	memset(sink, 0, LEN);
	CHECK_WSA(rdma(s, 0, sink, h_sink, LEN, ro, 0, &n), 0);
	CHECK(n == LEN && san_test_verify(sink, LEN, 7));

	CHECK_RC(WSPDeregisterMemory(s, h_src, &err), 0);
	CHECK_RC(WSPDeregisterMemory(s, h_sink, &err), 0);
	CHECK_RC(WSPDeregisterMemory(s, h_msg, &err), 0);
	san_test_sync(ctl, "end"); /* the target has a receive outstanding */
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(src, LEN) == 0 && munmap(sink, LEN) == 0 && munmap(msg, 4096) == 0);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	char *ro, *rw, *msg;
	unsigned char rw_desc[D];
	HANDLE h_msg;
	WSAOVERLAPPED ov;
	WSABUF wb;
	DWORD n, len, flags = 0;
	int ctl, err = 0;
	pid_t pid;

	san_test_start(60);
	pid = san_test_fork(initiator, NULL, &ctl);
	p = san_test_provider();
	s = san_test_accept_peer(p, ctl);
	ro = pages(LEN);
	rw = pages(LEN);
	msg = pages(4096);
	san_test_fill(ro, LEN, 7);
	CHECK((h_msg = WSPRegisterMemory(s, msg, 4096, MEM_READWRITE, &err)) != NULL);
	len = D;
	CHECK_RC(WSPRegisterRdmaMemory(s, ro, LEN, MEM_READ, msg, &len, &err), 0);
	len = D;
	CHECK_RC(WSPRegisterRdmaMemory(s, rw, LEN, MEM_READWRITE, msg + D, &len, &err), 0);
	memcpy(rw_desc, msg + D, D);
	wb.buf = msg;
	wb.len = 2 * D;
	CHECK_RC(WSPSend(s, &wb, 1, &n, 0, NULL, NULL, NULL, &err), 0);

	san_test_sync(ctl, "revoke");
	CHECK_RC(WSPDeregisterRdmaMemory(s, rw_desc, D, &err), 0);
	san_test_sync(ctl, "revoked");

	/* A receive outstanding when the initiator closes. */
	wb.len = 4096;
	err = 0;
	CHECK_RC(WSPRecv(s, &wb, 1, NULL, &flags, &ov, NULL, NULL, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSA_IO_PENDING);
	san_test_sync(ctl, "end");
	err = 0;
	CHECK(!WSPGetOverlappedResult(s, &ov, &n, TRUE, &flags, &err));
	CHECK_WSA(err, WSAECONNRESET);

	/* Refused writes left nothing behind. */
	CHECK(san_test_verify(ro, LEN, 7));
	for (int i = 0; i < LEN; i++)
		CHECK(rw[i] == (i < 16 ? 'W' : 0));

	san_close(s); /* releases the read-only descriptor and h_msg too */
	san_provider_close(p);
	CHECK(munmap(ro, LEN) == 0 && munmap(rw, LEN) == 0 && munmap(msg, 4096) == 0);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
