/* SPDX-License-Identifier: MIT */
/*
 * Hostile peers that connect and then stall the handshake (protocol.md §1):
 * eight that send nothing, one that sends half a HELLO. They must not
 * hold the listener: san_accept keeps their half-done handshakes aside and
 * serves the rest.
 *   - san_accept(0) returns -ETIMEDOUT at once, and san_accept(200) after
 *     about 200 ms, not after the 10 s handshake limit;
 *   - an honest libsan peer that connects behind them is accepted;
 *   - the half HELLO, completed later, is accepted then (our HELLO goes
 *     back to it);
 *   - a peer sending garbage after them gets -EPROTO and a close, with
 *     nothing sent to it;
 *   - san_listener_close closes the stalled connections (they see EOF) and
 *     leaks nothing.
 * Time bounds are generous (sanitizers): they tell "returns by its own
 * timeout" from "waits for a stalled peer" (10 s).
 * SAN_TEST_TRANSPORTS
 */
#include "hostile.h" /* hostile_dial */
#include "nic/wire.h"
#include "util/util.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/time.h>

#define NSILENT 8

static char g_addr[256];
static san_provider *g_p;
static san_socket *g_cs;
static int g_crc;

/* A raw stream to addr, with 5 s receive time limit. */
static void put(int fd, const void *b, size_t n)
{
	CHECK(send(fd, b, n, MSG_NOSIGNAL) == (ssize_t)n);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *honest(void *arg)
{
	(void)arg;
	g_crc = san_connect(g_p, g_addr, &g_cs);
	return NULL;
}

/* san_accept(timeout) must fail with -ETIMEDOUT within max_s. */
static void accept_times_out(san_listener *l, int timeout_ms, double max_s)
{
	san_socket *s = NULL;
	double t0 = now_s(), dt;
	int rc = san_accept(l, timeout_ms, &s);

	dt = now_s() - t0;
	if (rc != -ETIMEDOUT || dt > max_s) {
		fprintf(stderr, "san_accept(%d) with stalled peers: %d (%s) after %.3f s; want "
				"-ETIMEDOUT within %.1f s\n",
			timeout_ms, rc, san_strerror(rc), dt, max_s);
		exit(1);
	}
}

int main(void)
{
	struct san_wire_hello h = { .magic = SAN_WIRE_MAGIC,
				    .version = SAN_WIRE_VERSION,
				    .hdr_size = sizeof(struct san_wire_hdr),
				    .max_msg = 1u << 20,
				    .nonce = 42 };
	uint8_t hello[sizeof(h)], got[sizeof(h)], junk[sizeof(h)];
	int silent[NSILENT], half, bad;
	char buf[256];
	san_listener *l;
	san_socket *s;
	pthread_t t;
	double t0;

	san_test_start(60);
	g_p = san_test_provider();
	CHECK_OK(san_listen(g_p, san_test_listen_addr(buf, sizeof(buf)), &l));
	CHECK(san_listener_addr(l, g_addr, sizeof(g_addr)) > 0);

	for (int i = 0; i < NSILENT; i++)
		silent[i] = hostile_dial(g_addr);
	san__wire_hello_encode(&h, hello);
	half = hostile_dial(g_addr);
	put(half, hello, 16);

	accept_times_out(l, 0, 1.0);
	accept_times_out(l, 200, 2.0);

	/* An honest peer behind them. */
	CHECK(pthread_create(&t, NULL, honest, NULL) == 0);
	t0 = now_s();
	CHECK_OK(san_accept(l, 8000, &s));
	CHECK(now_s() - t0 < 5.0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_OK(g_crc);
	CHECK_OK(san_close(g_cs));
	CHECK_OK(san_close(s));

	/* The half HELLO completed: accepted, and answered with ours. */
	put(half, hello + 16, sizeof(hello) - 16);
	CHECK_OK(san_accept(l, 8000, &s));
	CHECK(recv(half, got, sizeof(got), MSG_WAITALL) == (ssize_t)sizeof(got));
	{
		struct san_wire_hello ours;

		CHECK_OK(san__wire_hello_decode(got, sizeof(got), &ours));
	}
	CHECK_OK(san_close(s));
	close(half);

	/* Garbage: refused, closed, nothing sent back. */
	memset(junk, 0x5a, sizeof(junk));
	bad = hostile_dial(g_addr);
	put(bad, junk, sizeof(junk));
	CHECK(san_accept(l, 8000, &s) == -EPROTO);
	CHECK(recv(bad, got, sizeof(got), 0) == 0);
	close(bad);

	accept_times_out(l, 0, 1.0); /* the silent ones are still there */
	san_listener_close(l);
	for (int i = 0; i < NSILENT; i++) {
		CHECK(recv(silent[i], got, sizeof(got), 0) == 0); /* closed by the listener */
		close(silent[i]);
	}
	san_provider_close(g_p);
	san_test_check_leaks();
	return 0;
}
