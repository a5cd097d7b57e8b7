/* SPDX-License-Identifier: MIT */
/*
 * A full round trip through the seed names only, in two processes
 * (SAN_TEST_TRANSPORTS: runs over TCP and over Unix sockets).
 *
 * The target registers an RDMA buffer (WSPRegisterRdmaMemory) and sends its
 * descriptor (WSPSend, overlapped). The initiator receives it (WSPRecv,
 * overlapped), RDMA-writes the first half from two WSABUFEX entries (one with
 * its handle, one with a NULL handle the provider resolves), RDMA-reads the
 * second half, and sends "done". The target checks the first half, revokes
 * the descriptor and deregisters; everything is collected with
 * WSPGetOverlappedResult.
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

#define LEN (256 * 1024) /* the target's RDMA buffer */
#define HALF (LEN / 2)
#define MSG 4096

static void *pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

/* An overlapped call must have started (SOCKET_ERROR + WSA_IO_PENDING);
 * waits for it and returns the byte count. */
static DWORD finish(SOCKET s, WSAOVERLAPPED *ov, int rc, int err)
{
	DWORD n = 0, flags = 77;

	CHECK_RC(rc, SOCKET_ERROR);
	CHECK_WSA(err, WSA_IO_PENDING);
	err = 0;
	if (!WSPGetOverlappedResult(s, ov, &n, TRUE, &flags, &err))
		CHECK_WSA(err, 0);
	CHECK(flags == 0);
	return n;
}

static int initiator(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s;
	char *mem = pages(LEN), *msg = pages(MSG);
	char *src = mem, *sink = mem + HALF;
	unsigned char desc[SAN_RDMA_DESC_SIZE];
	HANDLE h_src, h_sink, h_msg;
	WSAOVERLAPPED ov;
	WSABUFEX x[2];
	WSABUF wb;
	DWORD n, flags = 0;
	int rc, err = 0;

	alarm(60);
	p = san_test_provider();
	s = san_test_connect_peer(p, ctl);
	san_test_fill(src, HALF, 2);
	memset(sink, 0, HALF);
	CHECK((h_src = WSPRegisterMemory(s, src, HALF, MEM_READ, &err)) != NULL);
	CHECK((h_sink = WSPRegisterMemory(s, sink, HALF, MEM_WRITE, &err)) != NULL);
	CHECK((h_msg = WSPRegisterMemory(s, msg, MSG, MEM_READWRITE, &err)) != NULL);

	/* The descriptor. */
	wb.buf = msg;
	wb.len = MSG;
	rc = WSPRecv(s, &wb, 1, NULL, &flags, &ov, NULL, NULL, &err);
	n = finish(s, &ov, rc, err);
	CHECK(n == SAN_RDMA_DESC_SIZE);
	memcpy(desc, msg, n);

	/* RDMA write: the first half of the target, from two pieces. */
	x[0].buf = src;
	x[0].len = HALF / 2;
	x[0].handle = h_src;
	x[1].buf = src + HALF / 2;
	x[1].len = HALF / 2;
	x[1].handle = NULL; /* the provider finds h_src's registration */
	rc = WSPRdmaWrite(s, x, 2, desc, sizeof(desc), 0, NULL, 0, &ov, NULL, NULL, &err);
	n = finish(s, &ov, rc, err);
	CHECK(n == HALF);

	/* RDMA read: the second half of the target. */
	x[0].buf = sink;
	x[0].len = HALF;
	x[0].handle = h_sink;
	rc = WSPRdmaRead(s, x, 1, desc, sizeof(desc), HALF, NULL, 0, &ov, NULL, NULL, &err);
	n = finish(s, &ov, rc, err);
	CHECK(n == HALF);
	CHECK(san_test_verify(sink, HALF, 3));

	/* "done". */
	memcpy(msg, "done", 5);
	wb.len = 5;
	rc = WSPSend(s, &wb, 1, NULL, 0, &ov, NULL, NULL, &err);
	n = finish(s, &ov, rc, err);
	CHECK(n == 5);

	san_test_sync(ctl, "end");
	CHECK_RC(WSPDeregisterMemory(s, h_src, &err), 0);
	CHECK_RC(WSPDeregisterMemory(s, h_sink, &err), 0);
	CHECK_RC(WSPDeregisterMemory(s, h_msg, &err), 0);
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(mem, LEN) == 0 && munmap(msg, MSG) == 0);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	char *buf, *msg;
	unsigned char desc[SAN_RDMA_DESC_SIZE];
	HANDLE h_msg;
	WSAOVERLAPPED ov;
	WSABUF wb;
	DWORD n, dlen, flags = 0;
	int rc, ctl, err = 0;
	pid_t pid;

	san_test_start(60);
	pid = san_test_fork(initiator, NULL, &ctl);
	p = san_test_provider();
	s = san_test_accept_peer(p, ctl);
	buf = pages(LEN);
	msg = pages(MSG);
	san_test_fill(buf, HALF, 1);
	san_test_fill(buf + HALF, HALF, 3);

	CHECK((h_msg = WSPRegisterMemory(s, msg, MSG, MEM_READWRITE, &err)) != NULL);
	dlen = MSG; /* the descriptor goes straight into the message buffer */
	CHECK_RC(WSPRegisterRdmaMemory(s, buf, LEN, MEM_READWRITE, msg, &dlen, &err), 0);
	CHECK(dlen == SAN_RDMA_DESC_SIZE);
	memcpy(desc, msg, dlen);

	wb.buf = msg;
	wb.len = dlen;
	rc = WSPSend(s, &wb, 1, NULL, 0, &ov, NULL, NULL, &err);
	n = finish(s, &ov, rc, err);
	CHECK(n == dlen);

	wb.len = MSG;
	rc = WSPRecv(s, &wb, 1, NULL, &flags, &ov, NULL, NULL, &err);
	n = finish(s, &ov, rc, err);
	CHECK(n == 5 && !memcmp(msg, "done", 5));
	CHECK(san_test_verify(buf, HALF, 2));
	CHECK(san_test_verify(buf + HALF, HALF, 3));

	CHECK_RC(WSPDeregisterRdmaMemory(s, desc, sizeof(desc), &err), 0);
	CHECK_RC(WSPDeregisterMemory(s, h_msg, &err), 0);
	san_test_sync(ctl, "end");
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(buf, LEN) == 0 && munmap(msg, MSG) == 0);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
