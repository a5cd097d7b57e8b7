/* SPDX-License-Identifier: MIT */
/*
 * A hostile stream peer never crashes us (docs/stream.md §8). A fake
 * client (stream_fake.h) opens a stream to a real listener and breaks the
 * protocol, one way per connection; the real side's accept or receive
 * fails with -EPROTO (data that arrived before the bad message may come
 * first), the stream closes cleanly, and the process goes on (the next
 * connection works; pins and fds are back at the end).
 *
 * Handshake: wrong magic, an accept-side flag from the connect side,
 * garbage, a message too short. Open stream: unknown type, nonzero flags,
 * DATA longer or shorter than its header says, DATA of 0 bytes, credits
 * or acknowledgements for messages never sent, more DATA than the credits
 * allow, SRC_AVAIL with a forged descriptor and with length 0, DONE for
 * nothing, DONE for an offer never made, a second FIN, data after FIN, a
 * second SINK_AVAIL, a HELLO or TOKEN on an open stream, a message larger
 * than our slot. SAN_TEST_TRANSPORTS
 */
#include "stream_fake.h"

enum {
	H_MAGIC, H_OFFER, H_GARBAGE, H_SHORT,
	M_TYPE, M_FLAGS, M_DATA_LONG, M_DATA_SHORT, M_DATA_0, M_CREDITS, M_CACKS, M_NOCREDIT,
	M_SRC_FORGED, M_SRC_0, M_DONE_SRC, M_DONE_SINK, M_FIN2, M_DATA_FIN, M_SINK2, M_HELLO,
	M_TOKEN, M_TOO_BIG, M_OK, NCASE
};

static const char *names[NCASE] = {
	"hello magic", "hello offer flag", "hello garbage", "hello short",
	"unknown type", "flags", "data longer", "data shorter", "data 0", "credits", "cacks",
	"no credit", "src forged", "src 0", "done src", "done sink", "fin twice", "data after fin",
	"sink twice", "hello again", "token", "too big", "a good one after all that",
};

static int handshake_case(int c)
{
	return c <= H_SHORT;
}

static void hostile(struct fake *f, int c)
{
	struct ss_msg m;
	uint8_t raw[FK_SLOT + 200];
	size_t n;

	memset(&m, 0, sizeof(m));
	switch (c) {
	case H_MAGIC:
		fk_hello(&m, 0);
		m.u.hello.magic ^= 1;
		fk_send(f, &m, NULL);
		return;
	case H_OFFER:
		fk_hello(&m, SS_HF_OFFER_LOCAL);
		strcpy(m.u.hello.name, "@x");
		fk_send(f, &m, NULL);
		return;
	case H_GARBAGE:
		memset(raw, 0xab, 100);
		fk_send_raw(f, raw, 100);
		return;
	case H_SHORT:
		fk_send_raw(f, "\1", 1);
		return;
	}
	fk_hello(&m, 0);
	CHECK_OK(fk_send(f, &m, NULL));
	CHECK_OK(fk_recv(f, &m, 5000));
	CHECK(m.h.type == SS_HELLO);
	memset(&m, 0, sizeof(m));
	m.h.type = SS_DATA;
	m.h.len = 10;
	memset(raw, 'x', sizeof(raw));
	switch (c) {
	case M_TYPE:
		m.h.type = 99;
		n = san__ss_encode(&(struct ss_msg){ .h.type = SS_CREDIT }, raw);
		raw[0] = 99;
		fk_send_raw(f, raw, n);
		break;
	case M_FLAGS:
		n = san__ss_encode(&m, raw);
		raw[1] = 1;
		fk_send_raw(f, raw, n + 10);
		break;
	case M_DATA_LONG:
		n = san__ss_encode(&m, raw);
		fk_send_raw(f, raw, n + 11);
		break;
	case M_DATA_SHORT:
		n = san__ss_encode(&m, raw);
		fk_send_raw(f, raw, n + 9);
		break;
	case M_DATA_0:
		m.h.len = 0;
		n = san__ss_encode(&m, raw);
		fk_send_raw(f, raw, n);
		break;
	case M_CREDITS:
		m.h.credits = 5;
		fk_send(f, &m, raw + 100);
		break;
	case M_CACKS:
		m.h.cacks = 1;
		fk_send(f, &m, raw + 100);
		break;
	case M_NOCREDIT:
		for (int i = 0; i < 17; i++)
			fk_send(f, &m, raw + 100);
		break;
	case M_SRC_FORGED:
		m = (struct ss_msg){ .h.type = SS_SRC_AVAIL };
		m.u.src.id = 1;
		m.u.src.len = 4096;
		memset(m.u.src.desc.bytes, 0x42, sizeof(m.u.src.desc.bytes));
		fk_send(f, &m, NULL);
		break;
	case M_SRC_0:
		m = (struct ss_msg){ .h.type = SS_SRC_AVAIL };
		n = san__ss_encode(&m, raw); /* len 0 */
		fk_send_raw(f, raw, n);
		break;
	case M_DONE_SRC:
	case M_DONE_SINK:
		m = (struct ss_msg){ .h.type = SS_DONE };
		m.u.done.kind = c == M_DONE_SRC ? SS_DONE_SRC : SS_DONE_SINK;
		m.u.done.id = 1;
		fk_send(f, &m, NULL);
		break;
	case M_FIN2:
		m = (struct ss_msg){ .h.type = SS_FIN };
		fk_send(f, &m, NULL);
		fk_send(f, &m, NULL);
		break;
	case M_DATA_FIN:
		fk_send(f, &(struct ss_msg){ .h.type = SS_FIN }, NULL);
		fk_send(f, &m, raw + 100);
		break;
	case M_SINK2:
		m = (struct ss_msg){ .h.type = SS_SINK_AVAIL };
		m.u.sink.id = 1;
		m.u.sink.len = 1 << 20;
		fk_send(f, &m, NULL);
		m.u.sink.id = 2;
		fk_send(f, &m, NULL);
		break;
	case M_HELLO:
		fk_hello(&m, 0);
		fk_send(f, &m, NULL);
		break;
	case M_TOKEN:
		m = (struct ss_msg){ .h.type = SS_TOKEN };
		fk_send(f, &m, NULL);
		break;
	case M_TOO_BIG:
		m.h.len = FK_SLOT + 100; /* + header: more than our slot (64 KiB + 64) */
		fk_send(f, &m, raw);
		break;
	case M_OK:
		fk_send(f, &m, "0123456789");
		fk_send(f, &(struct ss_msg){ .h.type = SS_FIN }, NULL);
		break;
	}
}

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();

	for (int c = 0; c < NCASE; c++) {
		char addr[256];
		san_socket *s;
		struct fake f;

		san_test_ctl_recv(ctl, addr, sizeof(addr));
		CHECK_OK(san_connect(p, addr, &s));
		fk_attach(&f, p, s);
		hostile(&f, c);
		if (!handshake_case(c))
			san_test_sync(ctl, "sent");
		san_test_sync(ctl, "done");
		fk_close(&f);
	}
	san_provider_close(p);
	return 0;
}

int main(void)
{
	struct san_stream_config cfg;
	san_provider *p;
	uint8_t *buf;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	buf = xt_map(1 << 20);
	san_stream_config_init(&cfg);
	cfg.local = 0;
	for (int c = 0; c < NCASE; c++) {
		char addr[256], bound[256];
		san_stream_listener *l;
		san_stream *s;
		ssize_t r, total = 0;
		int rc;

		cfg.flow = c == M_SINK2 ? SAN_STREAM_FLOW_WRITE : SAN_STREAM_FLOW_READ;
		CHECK_OK(san_stream_listen(p, san_test_listen_addr(addr, sizeof(addr)), &cfg, &l));
		CHECK(san_stream_listener_addr(l, bound, sizeof(bound)) > 0);
		san_test_ctl_send_str(ctl, bound);
		rc = san_stream_accept(l, 10000, &s);
		san_stream_listener_close(l);
		if (handshake_case(c)) {
			if (rc != -EPROTO) {
				fprintf(stderr, "case %s: accept = %d\n", names[c], rc);
				exit(1);
			}
			san_test_sync(ctl, "done");
			continue;
		}
		CHECK_OK(rc);
		/* Everything the fake sends is in before we look (after an end
		 * of stream nothing more would be looked at). */
		san_test_sync(ctl, "sent");
		xt_sleep_ms(20);
		if (getenv("V"))
			fprintf(stderr, "case %s\n", names[c]);
		while ((r = san_stream_recv(s, buf, 1 << 20, 0)) > 0)
			total += r;
		if (c == M_OK) {
			CHECK(r == 0 && total == 10 && !memcmp(buf, "0123456789", 10));
		} else if (r != -EPROTO) {
			fprintf(stderr, "case %s: recv = %zd after %zd bytes\n", names[c], r, total);
			exit(1);
		}
		if (c == M_NOCREDIT)
			CHECK(total <= 16 * 10);
		CHECK(san_stream_send(s, buf, 10, 0) == (c == M_OK ? 10 : -EPROTO));
		san_test_sync(ctl, "done");
		CHECK_OK(san_stream_close(s));
	}
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, 1 << 20);
	return 0;
}
