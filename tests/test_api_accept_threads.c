/* SPDX-License-Identifier: MIT */
/*
 * san_accept from several threads on one listener, with stalled peers in
 * the way: three threads accept (timeout 100 ms, in a loop) while two
 * threads connect twelve honest peers and four raw clients connect and send
 * nothing. Every honest connection is accepted exactly once (each accepted
 * socket receives the 8-byte number its peer sends), no accept waits on a
 * silent one, and closing the listener closes those (EOF), leaking nothing.
 * Under TSan this also checks the listener's pending set for races.
 * SAN_TEST_TRANSPORTS
 */
#include "hostile.h" /* hostile_dial */
#include "util/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/time.h>

#define NHONEST 12
#define NCONNECTORS 2
#define NACCEPTORS 3
#define NSILENT 4

static san_provider *g_p;
static san_listener *g_l;
static char g_addr[256];
static _Atomic int g_accepted;
static san_socket *g_acc[NHONEST];
static san_socket *g_con[NHONEST];

static void *acceptor(void *arg)
{
	(void)arg;
	while (atomic_load(&g_accepted) < NHONEST) {
		san_socket *s;
		int rc = san_accept(g_l, 100, &s);

		if (rc == -ETIMEDOUT)
			continue;
		CHECK_OK(rc);
		{
			int i = atomic_fetch_add(&g_accepted, 1);

			CHECK(i < NHONEST);
			g_acc[i] = s;
		}
	}
	return NULL;
}

static void *connector(void *arg)
{
	int first = (int)(intptr_t)arg;

	for (int i = first; i < NHONEST; i += NCONNECTORS)
		CHECK_OK(san_connect(g_p, g_addr, &g_con[i]));
	return NULL;
}

/* Each connecting socket sends its index; the accepted ones must hold
 * every index once. */
static void check_pairs(void)
{
	uint64_t vals[NHONEST], bufs[NHONEST];
	san_handle hs[NHONEST], hr[NHONEST];
	int seen[NHONEST] = { 0 };

	for (int i = 0; i < NHONEST; i++) {
		struct san_buf rb = { &bufs[i], sizeof(bufs[i]), 0 };

		CHECK_OK(san_register_memory(g_acc[i], &bufs[i], sizeof(bufs[i]), SAN_MEM_WRITE, &hr[i]));
		rb.handle = hr[i];
		CHECK_OK(san_recv(g_acc[i], &rb, 1, NULL));
	}
	for (int i = 0; i < NHONEST; i++) {
		struct san_buf sb = { &vals[i], sizeof(vals[i]), 0 };

		vals[i] = (uint64_t)i;
		CHECK_OK(san_register_memory(g_con[i], &vals[i], sizeof(vals[i]), SAN_MEM_READ, &hs[i]));
		sb.handle = hs[i];
		CHECK_OK(san_send(g_con[i], &sb, 1, NULL));
	}
	for (int i = 0; i < NHONEST; i++) {
		struct san_completion c;

		CHECK(san_poll(g_con[i], &c, 1, 10000) == 1 && c.status == 0);
		CHECK(san_poll(g_acc[i], &c, 1, 10000) == 1 && c.status == 0 && c.bytes == 8);
		CHECK(bufs[i] < NHONEST && !seen[bufs[i]]);
		seen[bufs[i]] = 1;
		CHECK_OK(san_deregister_memory(g_con[i], hs[i]));
		CHECK_OK(san_deregister_memory(g_acc[i], hr[i]));
	}
}

int main(void)
{
	pthread_t acc[NACCEPTORS], con[NCONNECTORS];
	int silent[NSILENT];
	char buf[256], b;

	san_test_start(60);
	g_p = san_test_provider();
	CHECK_OK(san_listen(g_p, san_test_listen_addr(buf, sizeof(buf)), &g_l));
	CHECK(san_listener_addr(g_l, g_addr, sizeof(g_addr)) > 0);
	for (int i = 0; i < NSILENT; i++)
		silent[i] = hostile_dial(g_addr);
	for (int i = 0; i < NACCEPTORS; i++)
		CHECK(pthread_create(&acc[i], NULL, acceptor, NULL) == 0);
	for (int i = 0; i < NCONNECTORS; i++)
		CHECK(pthread_create(&con[i], NULL, connector, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < NCONNECTORS; i++)
		CHECK(pthread_join(con[i], NULL) == 0);
	for (int i = 0; i < NACCEPTORS; i++)
		CHECK(pthread_join(acc[i], NULL) == 0);
	CHECK(atomic_load(&g_accepted) == NHONEST);
	check_pairs();

	san_listener_close(g_l);
	for (int i = 0; i < NSILENT; i++) {
		CHECK(recv(silent[i], &b, 1, 0) == 0);
		close(silent[i]);
	}
	for (int i = 0; i < NHONEST; i++) {
		CHECK_OK(san_close(g_acc[i]));
		CHECK_OK(san_close(g_con[i]));
	}
	san_provider_close(g_p);
	san_test_check_leaks();
	return 0;
}
