/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, bad HELLOs (protocol.md §1): a wrong magic, version,
 * hdr_size, nonzero flags / rsvd, zero max_msg, garbage, an HTTP request,
 * half a HELLO then close, nothing then close. san_accept fails (-EPROTO for
 * content; -ECONNRESET, -EPROTO or -ETIMEDOUT for a peer that hangs up), the
 * target sends nothing to such a peer (it reads the HELLO before answering),
 * and the listener keeps accepting: a correct raw peer right after, and a new
 * honest libsan peer at the end, are served.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static struct san_wire_hello good_hello(void)
{
	struct san_wire_hello h;

	memset(&h, 0, sizeof(h));
	h.magic = SAN_WIRE_MAGIC;
	h.version = SAN_WIRE_VERSION;
	h.hdr_size = sizeof(struct san_wire_hdr);
	h.max_msg = HOSTILE_MY_MAX_MSG;
	h.nonce = hostile_random64();
	return h;
}

/* Sends b and checks that the target closes without a byte of its own. */
static int refused(struct hostile_conn *c, const void *b, size_t n, const char *what)
{
	uint8_t got[64];
	ssize_t r;

	c->fd = hostile_dial(c->addr);
	hostile_put_raw(c, b, n);
	r = recv(c->fd, got, sizeof(got), 0);
	if (r > 0)
		HFAIL(c, "%s: the target sent %zd bytes (magic %#x) to a peer whose HELLO was bad",
		      what, r, r >= 4 ? got[0] | got[1] << 8 | got[2] << 16 | (unsigned)got[3] << 24 : 0);
	if (r < 0 && errno != ECONNRESET)
		HFAIL(c, "%s: want the connection closed, got %s", what,
		      errno == EAGAIN ? "nothing within 5 s" : strerror(errno));
	hostile_hangup(c, 0);
	return HOSTILE_REFUSED;
}

static int refused_hello(struct hostile_conn *c, const struct san_wire_hello *h, const char *what)
{
	uint8_t b[sizeof(*h)];

	san__wire_hello_encode(h, b);
	return refused(c, b, sizeof(b), what);
}

static int bad_magic(struct hostile_conn *c)
{
	struct san_wire_hello h = good_hello();

	h.magic = 0x534e4150; /* byte-swapped "SANP" */
	return refused_hello(c, &h, "wrong magic");
}

static int version2(struct hostile_conn *c)
{
	struct san_wire_hello h = good_hello();

	h.version = 2;
	return refused_hello(c, &h, "version 2");
}

static int version0(struct hostile_conn *c)
{
	struct san_wire_hello h = good_hello();

	h.version = 0;
	return refused_hello(c, &h, "version 0");
}

static int version_ffff(struct hostile_conn *c)
{
	struct san_wire_hello h = good_hello();

	h.version = 0xffff;
	return refused_hello(c, &h, "version 0xffff");
}

static int hdr_size(struct hostile_conn *c)
{
	struct san_wire_hello h = good_hello();

	h.hdr_size = 32;
	return refused_hello(c, &h, "hdr_size 32");
}

static int flags(struct hostile_conn *c)
{
	struct san_wire_hello h = good_hello();

	h.flags = 1;
	return refused_hello(c, &h, "flags 1");
}

static int rsvd(struct hostile_conn *c)
{
	struct san_wire_hello h = good_hello();

	h.rsvd = 0x80000000u;
	return refused_hello(c, &h, "rsvd nonzero");
}

static int max_msg0(struct hostile_conn *c)
{
	struct san_wire_hello h = good_hello();

	h.max_msg = 0;
	return refused_hello(c, &h, "max_msg 0");
}

static int garbage(struct hostile_conn *c)
{
	uint8_t b[sizeof(struct san_wire_hello)];

	CHECK(getrandom(b, sizeof(b), 0) == sizeof(b));
	b[0] = 'X'; /* never the magic by chance */
	return refused(c, b, sizeof(b), "32 bytes of garbage");
}

static int http(struct hostile_conn *c)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";

	return refused(c, req, sizeof(req) - 1, "an HTTP request");
}

static int half_then_close(struct hostile_conn *c)
{
	struct san_wire_hello h = good_hello();
	uint8_t b[sizeof(h)];

	san__wire_hello_encode(&h, b);
	c->fd = hostile_dial(c->addr);
	hostile_put_raw(c, b, 16);
	usleep(100000);
	hostile_hangup(c, 0);
	return HOSTILE_REFUSED;
}

static int nothing_then_close(struct hostile_conn *c)
{
	c->fd = hostile_dial(c->addr);
	usleep(100000);
	hostile_hangup(c, 0);
	return HOSTILE_REFUSED;
}

static int nothing_then_rst(struct hostile_conn *c)
{
	c->fd = hostile_dial(c->addr);
	usleep(100000);
	hostile_hangup(c, 1);
	return HOSTILE_REFUSED;
}

/* After all that, a correct raw peer is accepted and served. */
static int good(struct hostile_conn *c)
{
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

#define PROTO .handshake = 1, .accept_err = { -EPROTO }
#define HUNG .handshake = 1, .accept_err = { -ECONNRESET, -EPROTO, -ETIMEDOUT }
static const struct hostile_case cases[] = {
	{ .name = "wrong magic", .attack = bad_magic, PROTO },
	{ .name = "version 2", .attack = version2, PROTO },
	{ .name = "version 0", .attack = version0, PROTO },
	{ .name = "version 0xffff", .attack = version_ffff, PROTO },
	{ .name = "hdr_size 32", .attack = hdr_size, PROTO },
	{ .name = "flags 1", .attack = flags, PROTO },
	{ .name = "rsvd nonzero", .attack = rsvd, PROTO },
	{ .name = "max_msg 0", .attack = max_msg0, PROTO },
	{ .name = "garbage", .attack = garbage, PROTO },
	{ .name = "HTTP request", .attack = http, PROTO },
	{ .name = "half a HELLO, then close", .attack = half_then_close, HUNG },
	{ .name = "nothing, then close", .attack = nothing_then_close, HUNG },
	{ .name = "nothing, then RST", .attack = nothing_then_rst, HUNG },
	{ .name = "a correct raw peer afterwards", .attack = good },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
