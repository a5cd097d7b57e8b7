/* SPDX-License-Identifier: MIT */
/*
 * WSPGetOverlappedResult from several threads at once on one socket: each
 * thread waits (fWait TRUE) for its own receive, and every one returns with
 * its own message, even when another thread's san_poll reaped its
 * completion. Also run under TSan in CI (the status word is atomic).
 */
#include "harness.h"

#include <pthread.h>
#include <san/wsp.h>
#include <sys/mman.h>

#define NT 4
#define ROUNDS 50
#define PG 4096

static int sender(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s;
	char *msg = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	WSABUF wb = { 4, msg };
	HANDLE h;
	DWORD n;
	int err = 0;

	alarm(60);
	CHECK(msg != MAP_FAILED);
	p = san_test_provider();
	s = san_test_connect_peer(p, ctl);
	CHECK((h = WSPRegisterMemory(s, msg, PG, MEM_READ, &err)) != NULL);
	for (int r = 0; r < ROUNDS; r++) {
		san_test_sync(ctl, "posted");
		for (int i = 0; i < NT; i++) {
			memcpy(msg, &i, 4);
			CHECK_RC(WSPSend(s, &wb, 1, &n, 0, NULL, NULL, NULL, &err), 0);
		}
	}
	san_test_sync(ctl, "end");
	CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(msg, PG) == 0);
	return 0;
}

struct waiter {
	pthread_t t;
	SOCKET s;
	WSAOVERLAPPED ov;
	DWORD n;
	int ok, err;
};

static void *wait_one(void *arg)
{
	struct waiter *w = arg;
	DWORD flags;

	w->ok = WSPGetOverlappedResult(w->s, &w->ov, &w->n, TRUE, &flags, &w->err);
	return NULL;
}

int main(void)
{
	struct waiter w[NT];
	san_provider *p;
	san_socket *s;
	char *in;
	HANDLE h;
	WSABUF wb;
	DWORD flags = 0;
	int ctl, err = 0;
	pid_t pid;

	san_test_start(60);
	pid = san_test_fork(sender, NULL, &ctl);
	p = san_test_provider();
	s = san_test_accept_peer(p, ctl);
	in = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(in != MAP_FAILED);
	CHECK((h = WSPRegisterMemory(s, in, PG, MEM_WRITE, &err)) != NULL);

	for (int r = 0; r < ROUNDS; r++) {
		unsigned seen = 0;

		for (int i = 0; i < NT; i++) {
			w[i].s = s;
			wb.buf = in + 64 * i;
			wb.len = 64;
			err = 0;
			CHECK_RC(WSPRecv(s, &wb, 1, NULL, &flags, &w[i].ov, NULL, NULL, &err),
				 SOCKET_ERROR);
			CHECK(err == WSA_IO_PENDING);
			CHECK(pthread_create(&w[i].t, NULL, wait_one, &w[i]) == 0);
		}
		san_test_sync(ctl, "posted");
		for (int i = 0; i < NT; i++) {
			int v;

			CHECK(pthread_join(w[i].t, NULL) == 0);
			if (!w[i].ok) {
				fprintf(stderr, "waiter %d: %s\n", i, WSPErrorName(w[i].err));
				return 1;
			}
			CHECK(w[i].n == 4);
			memcpy(&v, in + 64 * i, 4);
			CHECK(v >= 0 && v < NT);
			seen |= 1u << v;
		}
		CHECK(seen == (1u << NT) - 1);
	}

	san_test_sync(ctl, "end");
	CHECK_RC(WSPDeregisterMemory(s, h, &err), 0);
	san_close(s);
	san_provider_close(p);
	CHECK(munmap(in, PG) == 0);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
