/* SPDX-License-Identifier: MIT */
/*
 * san_stream_accept never waits on one peer (docs/stream.md §2): stalled
 * peers sit in the listener's table of handshakes under way while the
 * honest ones behind them are accepted.
 *
 * Stalled, before any honest peer connects: SAN connections that never
 * send the stream HELLO, and (where the listener can move) fakes
 * (stream_fake.h) that send a HELLO asking for the local move and, once
 * offered it, neither move nor say STAY. Then
 *  1. san_stream_accept(l, 0) returns -ETIMEDOUT at once;
 *  2. san_stream_accept(l, 150) returns -ETIMEDOUT, not after the 10-15 s
 *     a stalled handshake may last;
 *  3. two threads accept (150 ms at a time, in a loop) while two threads
 *     connect eight honest streams: every one is accepted exactly once
 *     (each accepted stream receives the number its peer sends), and no
 *     call takes longer than its timeout allows (a generous 2 s: a wait on
 *     a stalled peer would take 10 s);
 *  4. closing the listener closes the stalled connections (the fakes see
 *     the end) and leaks nothing.
 * Over the test transport without the move (SAN_TEST_TRANSPORTS), and over TCP
 * loopback with the move: the honest streams end on shared-memory rings
 * while the fakes hold their offers.
 */
#include "stream_fake.h"

#include <pthread.h>
#include <stdatomic.h>

#define NHONEST 8
#define NCONNECTORS 2
#define NACCEPTORS 2
#define NSILENT 3
#define NOFFERED 2
#define SLICE_MS 150

static san_provider *g_p;
static san_stream_listener *g_l;
static struct san_stream_config g_cfg;
static char g_addr[256];
static _Atomic int g_accepted;
static _Atomic long long g_longest_ms;
static san_stream *g_acc[NHONEST], *g_con[NHONEST];

static void *acceptor(void *arg)
{
	(void)arg;
	while (atomic_load(&g_accepted) < NHONEST) {
		long long t0 = xt_now_ms(), dt;
		san_stream *s;
		int rc = san_stream_accept(g_l, SLICE_MS, &s);

		dt = xt_now_ms() - t0;
		if (dt > atomic_load(&g_longest_ms))
			atomic_store(&g_longest_ms, dt);
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
	for (int i = (int)(intptr_t)arg; i < NHONEST; i += NCONNECTORS) {
		uint64_t v = (uint64_t)i;

		CHECK_OK(san_stream_connect(g_p, g_addr, &g_cfg, &g_con[i]));
		CHECK_RC(san_stream_send(g_con[i], &v, sizeof(v), 0), (ssize_t)sizeof(v));
	}
	return NULL;
}

static san_socket *g_silent[NSILENT];
static struct fake g_offered[NOFFERED];
static int g_local;
static _Atomic int g_stalled;

/* Connects the stalled peers: NSILENT that never send the stream HELLO,
 * and where the listener can move, NOFFERED fakes that ask for the move
 * and stop once they got the offer. (Without an offer our side of the
 * handshake ends with our HELLO: such a fake is a stream.) */
static void *staller(void *arg)
{
	(void)arg;
	for (int i = 0; i < NSILENT; i++)
		CHECK_OK(san_connect(g_p, g_addr, &g_silent[i]));
	for (int i = 0; i < NOFFERED && g_local; i++) {
		san_socket *s;
		struct ss_msg m;

		CHECK_OK(san_connect(g_p, g_addr, &s));
		fk_attach(&g_offered[i], g_p, s);
		fk_hello(&m, SS_HF_WANT_LOCAL | SS_HF_SHM);
		CHECK_OK(fk_send(&g_offered[i], &m, NULL));
		CHECK_OK(fk_recv(&g_offered[i], &m, 5000));
		CHECK(m.h.type == SS_HELLO);
		CHECK(m.u.hello.flags & SS_HF_OFFER_LOCAL);
	}
	atomic_store(&g_stalled, 1);
	return NULL;
}

static void run(int local)
{
	pthread_t acc[NACCEPTORS], con[NCONNECTORS], stall;
	int seen[NHONEST] = { 0 };
	char buf[256];
	long long t0;

	san_stream_config_init(&g_cfg);
	g_cfg.local = local;
	atomic_store(&g_accepted, 0);
	atomic_store(&g_longest_ms, 0);
	if (local)
		snprintf(buf, sizeof(buf), "tcp:127.0.0.1:0");
	else
		san_test_listen_addr(buf, sizeof(buf));
	CHECK_OK(san_stream_listen(g_p, buf, &g_cfg, &g_l));
	CHECK(san_stream_listener_addr(g_l, g_addr, sizeof(g_addr)) > 0);

	/* The stalled peers come first (a thread: the SAN handshake needs
	 * our accepts meanwhile, all of which must find nothing ready). */
	g_local = local;
	atomic_store(&g_stalled, 0);
	CHECK(pthread_create(&stall, NULL, staller, NULL) == 0);
	while (!atomic_load(&g_stalled))
		CHECK_RC(san_stream_accept(g_l, 20, &g_acc[0]), -ETIMEDOUT);
	CHECK(pthread_join(stall, NULL) == 0);
	/* 1, 2: nothing ready, and the calls say so in their time. */
	t0 = xt_now_ms();
	CHECK_RC(san_stream_accept(g_l, 0, &g_acc[0]), -ETIMEDOUT);
	CHECK_RC(san_stream_accept(g_l, SLICE_MS, &g_acc[0]), -ETIMEDOUT);
	CHECK(xt_now_ms() - t0 < 2000);

	/* 3: honest peers behind them. */
	for (int i = 0; i < NACCEPTORS; i++)
		CHECK(pthread_create(&acc[i], NULL, acceptor, NULL) == 0);
	for (int i = 0; i < NCONNECTORS; i++)
		CHECK(pthread_create(&con[i], NULL, connector, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < NCONNECTORS; i++)
		CHECK(pthread_join(con[i], NULL) == 0);
	for (int i = 0; i < NACCEPTORS; i++)
		CHECK(pthread_join(acc[i], NULL) == 0);
	CHECK(atomic_load(&g_accepted) == NHONEST);
	if (atomic_load(&g_longest_ms) >= 2000) {
		fprintf(stderr, "a san_stream_accept(%d ms) took %lld ms\n", SLICE_MS,
			atomic_load(&g_longest_ms));
		exit(1);
	}
	for (int i = 0; i < NHONEST; i++) {
		struct san_stream_stats st;
		uint64_t v;
		size_t got = 0;

		while (got < sizeof(v)) {
			ssize_t r = san_stream_recv(g_acc[i], (char *)&v + got, sizeof(v) - got, 0);

			CHECK(r > 0);
			got += (size_t)r;
		}
		CHECK(v < NHONEST && !seen[v]);
		seen[v] = 1;
		CHECK_OK(san_stream_get_stats(g_acc[i], &st));
		if (getenv("V"))
			fprintf(stderr, "local %d: stream %d transport %d\n", local, i, st.transport);
		CHECK(st.transport == (local ? SAN_STREAM_TRANSPORT_SHM
					     : !strcmp(san_test_transport(), "unix") ? SAN_STREAM_TRANSPORT_UNIX
									    : SAN_STREAM_TRANSPORT_TCP));
	}

	/* 4: the listener takes the stalled ones with it. */
	san_stream_listener_close(g_l);
	for (int i = 0; i < NOFFERED && local; i++) {
		struct ss_msg m;
		int rc = fk_recv(&g_offered[i], &m, 5000);

		CHECK(rc == -ECONNRESET || rc == -ENOTCONN);
		fk_close(&g_offered[i]);
	}
	for (int i = 0; i < NSILENT; i++) {
		struct san_completion c;
		int rc = san_poll(g_silent[i], &c, 1, 5000);

		CHECK(rc == -ECONNRESET || rc == -ENOTCONN);
		CHECK_OK(san_close(g_silent[i]));
	}
	for (int i = 0; i < NHONEST; i++) {
		CHECK_OK(san_stream_close(g_acc[i]));
		CHECK_OK(san_stream_close(g_con[i]));
	}
}

int main(void)
{
	san_test_start(60);
	g_p = san_test_provider();
	run(0);
	if (!!strcmp(san_test_transport(), "unix"))
		run(1);
	san_provider_close(g_p);
	san_test_check_leaks();
	return 0;
}
