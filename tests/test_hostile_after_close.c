/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, operations after the target closed the connection (R1.5:
 * memory is accessible only while the connection is established): once the
 * target has called san_close, the attacker's next WRITE, READ_REQ or SEND
 * -- with a key that worked a moment before -- gets only the end of the
 * stream; the memory does not change; the target keeps serving the honest
 * connection.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static int write_after_close(struct hostile_conn *c)
{
	struct san_wire_hdr h;

	hostile_alive(c); /* the key works */
	hostile_close_target(c);
	h = hostile_mkhdr(SAN_WIRE_WRITE, 0, c->next_id++, c->d[HR_RW].key, 0, 256);
	{
		uint8_t b[sizeof(h)];

		san__wire_hdr_encode(&h, b);
		if (hostile_send_raw(c, b, sizeof(b)) == 0)
			hostile_send_pattern(c, 256, hostile_fresh_seed(c));
	}
	hostile_expect_eof(c, "WRITE after the target closed the connection");
	return HOSTILE_TARGET_CLOSED;
}

static int read_after_close(struct hostile_conn *c)
{
	struct san_wire_hdr h = hostile_mkhdr(SAN_WIRE_READ_REQ, 0, 1, c->d[HR_RO].key, 0, 64);
	uint8_t b[sizeof(h)];

	hostile_close_target(c);
	san__wire_hdr_encode(&h, b);
	hostile_send_raw(c, b, sizeof(b));
	hostile_expect_eof(c, "READ_REQ after the target closed the connection");
	return HOSTILE_TARGET_CLOSED;
}

static int send_after_close(struct hostile_conn *c)
{
	struct san_wire_hdr h = hostile_mkhdr(SAN_WIRE_SEND, 0, 0, 0, 0, 64);
	uint8_t b[sizeof(h)];

	hostile_close_target(c);
	san__wire_hdr_encode(&h, b);
	if (hostile_send_raw(c, b, sizeof(b)) == 0)
		hostile_send_pattern(c, 64, 9);
	hostile_expect_eof(c, "SEND after the target closed the connection");
	return HOSTILE_TARGET_CLOSED;
}

/* The key of the connection the target closed does not work on the next one. */
static int old_key_next_conn(struct hostile_conn *c)
{
	uint8_t got[64];

	CHECK(c->have_prev);
	hostile_write_expect(c, c->prev_rw.key, HOSTILE_ALIVE_OFF, 64, hostile_fresh_seed(c),
			     SAN_WIRE_EACCES, "WRITE with the key of the closed connection");
	hostile_read_expect(c, c->prev_rw.key, HOSTILE_ALIVE_OFF, 64, SAN_WIRE_EACCES, got,
			    "READ_REQ with the key of the closed connection");
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static const struct hostile_case cases[] = {
	{ .name = "WRITE after close", .attack = write_after_close },
	{ .name = "READ_REQ after close", .attack = read_after_close },
	{ .name = "SEND after close", .attack = send_after_close },
	{ .name = "old key on a new connection", .attack = old_key_next_conn },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
