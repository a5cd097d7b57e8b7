/* SPDX-License-Identifier: MIT */
/*
 * Overlapped completion through WSPGetOverlappedResult, over a real
 * connection (SAN_TEST_TRANSPORTS: TCP and Unix sockets):
 * - a started operation reports WSA_IO_PENDING; looking (fWait FALSE) before
 *   it finished gives FALSE + WSA_IO_INCOMPLETE, without blocking;
 * - waiting for one operation also finishes the others it reaps: the first
 *   of two receives is then done without waiting;
 * - a receive too small finishes FALSE with WSAEMSGSIZE and the bytes that
 *   fitted;
 * - with no WSAOVERLAPPED the call blocks and returns 0 with the byte count;
 * - asking again about a finished operation gives the same answer.
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

#define MSG 4096

static char *pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

/* Sends text (without its NUL) and waits, no WSAOVERLAPPED. */
static void send_text(SOCKET s, char *msg, const char *text)
{
	WSABUF wb = { (ULONG)strlen(text), msg };
	DWORD n = 0;
	int err = 0;

	memcpy(msg, text, wb.len);
	CHECK_RC(WSPSend(s, &wb, 1, &n, 0, NULL, NULL, NULL, &err), 0);
	CHECK(n == wb.len);
}

static int sender(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s;
	char *msg = pages(MSG);
	HANDLE h;
	int err = 0;

	alarm(60);
	p = san_test_provider();
	s = san_test_connect_peer(p, ctl);
	CHECK((h = WSPRegisterMemory(s, msg, MSG, MEM_READ, &err)) != NULL);
	san_test_sync(ctl, "posted");
	send_text(s, msg, "first");
	send_text(s, msg, "second!");
	send_text(s, msg, "0123456789");
	send_text(s, msg, "blocking");
	san_test_sync(ctl, "end");
	CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(msg, MSG) == 0);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	char *in;
	HANDLE h;
	WSAOVERLAPPED ov1, ov2, ov3;
	WSABUF b1, b2, b3;
	DWORD n, flags, f1 = 0, f2 = 0, f3 = 0;
	int ctl, err = 0;
	pid_t pid;

	san_test_start(60);
	pid = san_test_fork(sender, NULL, &ctl);
	p = san_test_provider();
	s = san_test_accept_peer(p, ctl);
	in = pages(MSG);
	CHECK((h = WSPRegisterMemory(s, in, MSG, MEM_WRITE, &err)) != NULL);
	b1.buf = in;
	b1.len = 1024;
	b2.buf = in + 1024;
	b2.len = 1024;
	b3.buf = in + 2048;
	b3.len = 4; /* smaller than "0123456789" */

	/* Two receives, started; nothing sent yet. */
	CHECK_RC(WSPRecv(s, &b1, 1, NULL, &f1, &ov1, NULL, NULL, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSA_IO_PENDING);
	CHECK(ov1.Internal == WSA_IO_PENDING);
	CHECK_RC(WSPRecv(s, &b2, 1, NULL, &f2, &ov2, NULL, NULL, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSA_IO_PENDING);
	err = 0;
	CHECK(!WSPGetOverlappedResult(s, &ov1, &n, FALSE, &flags, &err));
	CHECK_WSA(err, WSA_IO_INCOMPLETE);
	err = 0;
	CHECK(!WSPGetOverlappedResult(s, &ov2, &n, FALSE, &flags, &err));
	CHECK_WSA(err, WSA_IO_INCOMPLETE);

	/* The sender sends "first", "second!": waiting for the second receive
	 * finishes the first one too (messages land in posting order). */
	san_test_sync(ctl, "posted");
	n = 0;
	flags = 77;
	CHECK(WSPGetOverlappedResult(s, &ov2, &n, TRUE, &flags, &err));
	CHECK(n == 7 && !memcmp(b2.buf, "second!", 7) && flags == 0);
	n = 0;
	CHECK(WSPGetOverlappedResult(s, &ov1, &n, FALSE, &flags, &err));
	CHECK(n == 5 && !memcmp(b1.buf, "first", 5));
	/* Asking again: same answer. */
	n = 0;
	CHECK(WSPGetOverlappedResult(s, &ov1, &n, TRUE, NULL, &err));
	CHECK(n == 5);

	/* Too small for "0123456789". */
	CHECK_RC(WSPRecv(s, &b3, 1, NULL, &f3, &ov3, NULL, NULL, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSA_IO_PENDING);
	n = 0;
	err = 0;
	CHECK(!WSPGetOverlappedResult(s, &ov3, &n, TRUE, &flags, &err));
	CHECK_WSA(err, WSAEMSGSIZE);
	CHECK(n == 4 && !memcmp(b3.buf, "0123", 4));

	/* No WSAOVERLAPPED: the call waits and returns 0. */
	n = 0;
	f1 = 0;
	CHECK_RC(WSPRecv(s, &b1, 1, &n, &f1, NULL, NULL, NULL, &err), 0);
	CHECK(n == 8 && !memcmp(b1.buf, "blocking", 8) && f1 == 0);

	san_test_sync(ctl, "end");
	CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(in, MSG) == 0);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
