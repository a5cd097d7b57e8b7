/* SPDX-License-Identifier: MIT */
/*
 * Too many overlapped operations outstanding: the native -EAGAIN reaches
 * the seed names as WSAEWOULDBLOCK (Winsock's word for exactly this), the
 * call starts nothing, and once completions are collected the same call
 * starts. SAN_MAX_OUTSTANDING=2 in the receiving process.
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

#define PG 4096

static int sender(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s;
	char *msg = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	WSABUF wb = { 1, msg };
	HANDLE h;
	DWORD n;
	int err = 0;

	alarm(60);
	CHECK(msg != MAP_FAILED);
	p = san_test_provider();
	s = san_test_connect_peer(p, ctl);
	CHECK((h = WSPRegisterMemory(s, msg, PG, MEM_READ, &err)) != NULL);
	san_test_sync(ctl, "full");
	for (int i = 0; i < 3; i++) {
		msg[0] = (char)('a' + i);
		CHECK_RC(WSPSend(s, &wb, 1, &n, 0, NULL, NULL, NULL, &err), 0);
	}
	san_test_sync(ctl, "end");
	CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(msg, PG) == 0);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	char *in;
	HANDLE h;
	WSAOVERLAPPED ov[3];
	WSABUF wb[3];
	DWORD n, flags = 0;
	int ctl, err = 0;
	pid_t pid;

	san_test_start(60);
	pid = san_test_fork(sender, NULL, &ctl);
	CHECK(setenv("SAN_MAX_OUTSTANDING", "2", 1) == 0);
	p = san_test_provider();
	s = san_test_accept_peer(p, ctl);
	in = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(in != MAP_FAILED);
	CHECK((h = WSPRegisterMemory(s, in, PG, MEM_WRITE, &err)) != NULL);
	for (int i = 0; i < 3; i++) {
		wb[i].buf = in + 64 * i;
		wb[i].len = 64;
	}

	for (int i = 0; i < 2; i++) {
		CHECK_RC(WSPRecv(s, &wb[i], 1, NULL, &flags, &ov[i], NULL, NULL, &err),
			 SOCKET_ERROR);
		CHECK_WSA(err, WSA_IO_PENDING);
	}
	err = 0;
	CHECK_RC(WSPRecv(s, &wb[2], 1, NULL, &flags, &ov[2], NULL, NULL, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSAEWOULDBLOCK);

	san_test_sync(ctl, "full");
	for (int i = 0; i < 2; i++) {
		CHECK(WSPGetOverlappedResult(s, &ov[i], &n, TRUE, &flags, &err));
		CHECK(n == 1 && wb[i].buf[0] == 'a' + i);
	}
	/* Room again. */
	CHECK_RC(WSPRecv(s, &wb[2], 1, NULL, &flags, &ov[2], NULL, NULL, &err), SOCKET_ERROR);
	CHECK_WSA(err, WSA_IO_PENDING);
	CHECK(WSPGetOverlappedResult(s, &ov[2], &n, TRUE, &flags, &err));
	CHECK(n == 1 && wb[2].buf[0] == 'c');

	san_test_sync(ctl, "end");
	CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(in, PG) == 0);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
