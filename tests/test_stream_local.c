/* SPDX-License-Identifier: MIT */
/*
 * The move to a Unix socket when both ends are on one host (docs/stream.md
 * §7), over TCP to 127.0.0.1:
 *  1. both ends willing: the stream moves to a Unix socket and its bytes
 *     to shared-memory rings (transport SHM on both sides), and carries
 *     data both ways;
 *  2. the connecting side has SAN_STREAM_LOCAL=0: TCP;
 *  3. the listening side has local = 0 (no Unix listener): TCP;
 *  4. a (fake) server offers a name that does not exist (as when the peer
 *     is in another network namespace): the client says STAY and the
 *     stream works over TCP;
 *  5. a (fake) client asks, gets the offer and says STAY: the server's
 *     stream works over TCP;
 *  6. a (fake) client first presents a wrong token on the Unix socket (a
 *     stranger on this host): refused, that connection closed; then the
 *     right one: the server moves (no rings: the fake did not ask);
 *  7. the connecting side has SAN_STREAM_SHM=0: a Unix socket (LOCAL), the
 *     SAN paths (copy and RDMA) over it.
 */
#include "stream_fake.h"

#define NCASE 7

static struct san_stream_config cfg(int local, int shm)
{
	struct san_stream_config c;

	san_stream_config_init(&c);
	c.local = local;
	c.shm = shm;
	return c;
}

static void xfer_check(san_stream *s, int sender)
{
	uint8_t *buf = xt_map(1 << 20);

	if (sender) {
		st_fill(buf, 1 << 20, 0, 41);
		CHECK_RC(san_stream_send(s, buf, 100, 0), 100);
		CHECK_RC(san_stream_send(s, buf + 100, (1 << 20) - 100, 0), (1 << 20) - 100);
	} else {
		size_t got = 0;

		while (got < (1u << 20)) {
			ssize_t r = san_stream_recv(s, buf + got, (1 << 20) - got, 0);

			CHECK(r > 0);
			got += (size_t)r;
		}
		CHECK(st_check(buf, got, 0, 41) == got);
	}
	xt_unmap(buf, 1 << 20);
}

/* The fake server of case 4: TCP listener, HELLO with a dead offer. */
static void fake_server(san_provider *p, int ctl)
{
	char bound[256];
	san_listener *l;
	san_socket *s;
	struct fake f;
	struct ss_msg m;

	CHECK_OK(san_listen(p, "tcp:127.0.0.1:0", &l));
	CHECK(san_listener_addr(l, bound, sizeof(bound)) > 0);
	san_test_ctl_send_str(ctl, bound);
	CHECK_OK(san_accept(l, 10000, &s));
	san_listener_close(l);
	fk_attach(&f, p, s);
	CHECK_OK(fk_recv(&f, &m, 5000));
	CHECK(m.h.type == SS_HELLO && (m.u.hello.flags & SS_HF_WANT_LOCAL));
	fk_hello(&m, SS_HF_OFFER_LOCAL);
	snprintf(m.u.hello.name, sizeof(m.u.hello.name), "@san-stream-nowhere-%d", (int)getpid());
	memset(m.u.hello.token, 0x5a, SS_TOKEN_LEN);
	CHECK_OK(fk_send(&f, &m, NULL));
	CHECK_OK(fk_recv(&f, &m, 5000));
	CHECK(m.h.type == SS_STAY);
	/* Then a stream message over TCP. */
	m = (struct ss_msg){ .h.type = SS_DATA, .h.len = 5 };
	CHECK_OK(fk_send(&f, &m, "hello"));
	san_test_sync(ctl, "read");
	fk_close(&f);
}

/* The fake clients of cases 5 and 6. */
static void fake_client(san_provider *p, int ctl, int c)
{
	char addr[256], uaddr[128];
	san_socket *s;
	struct fake f, u;
	struct ss_msg m;

	san_test_ctl_recv(ctl, addr, sizeof(addr));
	CHECK_OK(san_connect(p, addr, &s));
	fk_attach(&f, p, s);
	fk_hello(&m, SS_HF_WANT_LOCAL);
	CHECK_OK(fk_send(&f, &m, NULL));
	CHECK_OK(fk_recv(&f, &m, 5000));
	CHECK(m.h.type == SS_HELLO && (m.u.hello.flags & SS_HF_OFFER_LOCAL));
	CHECK(m.u.hello.name[0] == '@');
	if (c == 5) {
		struct ss_msg stay = { .h.type = SS_STAY };

		CHECK_OK(fk_send(&f, &stay, NULL));
		m = (struct ss_msg){ .h.type = SS_DATA, .h.len = 5 };
		CHECK_OK(fk_send(&f, &m, "hello"));
		san_test_sync(ctl, "read");
		fk_close(&f);
		return;
	}
	snprintf(uaddr, sizeof(uaddr), "unix:%s", m.u.hello.name);
	{
		struct ss_msg t = { .h.type = SS_TOKEN };
		uint8_t good[SS_TOKEN_LEN];

		memcpy(good, m.u.hello.token, SS_TOKEN_LEN);
		/* A stranger: wrong token. */
		CHECK_OK(san_connect(p, uaddr, &s));
		fk_attach(&u, p, s);
		memcpy(t.u.token.token, good, SS_TOKEN_LEN);
		t.u.token.token[3] ^= 1;
		fk_send(&u, &t, NULL);
		CHECK_RC(fk_recv(&u, &m, 5000), -ECONNRESET);
		fk_close(&u);
		/* The right one. */
		CHECK_OK(san_connect(p, uaddr, &s));
		fk_attach(&u, p, s);
		memcpy(t.u.token.token, good, SS_TOKEN_LEN);
		CHECK_OK(fk_send(&u, &t, NULL));
		CHECK_OK(fk_recv(&u, &m, 5000));
		CHECK(m.h.type == SS_TOKEN_ACK);
		fk_close(&f); /* the TCP connection goes, as a real client does */
		m = (struct ss_msg){ .h.type = SS_DATA, .h.len = 5 };
		CHECK_OK(fk_send(&u, &m, "hello"));
		san_test_sync(ctl, "read");
		fk_close(&u);
	}
}

/* Cases 1, 7 (moved: shared rings, a plain local socket) and 2, 3 (stayed
 * on TCP), the same on both sides: the transport, then the transfers;
 * first = 1 on the side that sends first (the connecting one). */
static void check_case(san_stream *s, int c, int first)
{
	if (c == 1 || c == 7) {
		CHECK(st_stats(s).transport ==
		      (c == 1 ? SAN_STREAM_TRANSPORT_SHM : SAN_STREAM_TRANSPORT_LOCAL));
		xfer_check(s, first);
		xfer_check(s, !first);
	} else {
		CHECK(st_stats(s).transport == SAN_STREAM_TRANSPORT_TCP);
		xfer_check(s, first);
	}
}

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();

	for (int c = 1; c <= NCASE; c++) {
		struct san_stream_config cc = cfg(c != 2, c != 7);
		san_stream *s;
		char buf[8];

		if (c == 5 || c == 6) {
			fake_client(p, ctl, c);
			continue;
		}
		s = st_connect(p, ctl, &cc);
		switch (c) {
		case 1:
		case 2:
		case 3:
		case 7:
			check_case(s, c, 1);
			break;
		case 4:
			CHECK(st_stats(s).transport == SAN_STREAM_TRANSPORT_TCP);
			CHECK_RC(san_stream_recv(s, buf, sizeof(buf), 0), 5);
			CHECK(!memcmp(buf, "hello", 5));
			san_test_sync(ctl, "read");
			break;
		}
		CHECK_OK(san_stream_close(s));
	}
	san_provider_close(p);
	return 0;
}

int main(void)
{
	san_provider *p;
	int ctl;
	pid_t pid;

	san_test_start(60);
	if (getenv("SAN_TEST_LISTEN") || strcmp(san_test_transport(), "tcp"))
		san_test_skip("the local move is a TCP loopback matter");
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	for (int c = 1; c <= NCASE; c++) {
		struct san_stream_config cc = cfg(c != 3, 1);
		san_stream *s;
		char buf[8];

		if (c == 4) {
			fake_server(p, ctl);
			continue;
		}
		s = st_accept(p, ctl, &cc);
		switch (c) {
		case 1:
		case 2:
		case 3:
		case 7:
			check_case(s, c, 0);
			break;
		case 5:
		case 6:
			CHECK(st_stats(s).transport ==
			      (c == 5 ? SAN_STREAM_TRANSPORT_TCP : SAN_STREAM_TRANSPORT_LOCAL));
			CHECK_RC(san_stream_recv(s, buf, sizeof(buf), 0), 5);
			CHECK(!memcmp(buf, "hello", 5));
			san_test_sync(ctl, "read");
			break;
		}
		CHECK_OK(san_stream_close(s));
	}
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
