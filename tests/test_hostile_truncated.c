/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, truncated frames (protocol.md §5: end of stream in the middle
 * of a frame): the attacker cuts a header or a payload short and hangs up
 * (politely or with a TCP RST), or asks for a lot and hangs up without
 * reading the answers. The target fails that connection (its outstanding
 * operations complete with -ECONNRESET), leaks nothing (every process checks
 * VmPin, fds and active keys), changes no byte outside what a valid WRITE was
 * allowed to place, and keeps serving the honest connection.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static void put_partial_hdr(struct hostile_conn *c, uint8_t type, uint64_t key, uint64_t off,
			    uint64_t len, size_t cut)
{
	struct san_wire_hdr h = hostile_mkhdr(type, 0, c->next_id++, key, off, len);
	uint8_t b[sizeof(h)];

	san__wire_hdr_encode(&h, b);
	hostile_put_raw(c, b, cut);
}

static int cut_hdr_20(struct hostile_conn *c)
{
	put_partial_hdr(c, SAN_WIRE_WRITE, c->d[HR_RW].key, 0, 64, 20);
	hostile_hangup(c, 0);
	return HOSTILE_CLOSED;
}

static int cut_hdr_1(struct hostile_conn *c)
{
	put_partial_hdr(c, SAN_WIRE_READ_REQ, c->d[HR_RW].key, 0, 64, 1);
	hostile_hangup(c, 0);
	return HOSTILE_CLOSED;
}

static int cut_hdr_39_rst(struct hostile_conn *c)
{
	put_partial_hdr(c, SAN_WIRE_WRITE, c->d[HR_RW].key, 0, 64, 39);
	hostile_hangup(c, 1);
	return HOSTILE_CLOSED;
}

/* A refused WRITE (forged key) whose payload stops halfway. */
static int cut_refused_payload(struct hostile_conn *c)
{
	uint64_t key = hostile_random64();

	put_partial_hdr(c, SAN_WIRE_WRITE, key, 0, 1000, sizeof(struct san_wire_hdr));
	hostile_put_pattern(c, 500, hostile_fresh_seed(c));
	hostile_hangup(c, 0);
	return HOSTILE_CLOSED;
}

/* An out-of-range WRITE whose payload stops halfway. */
static int cut_erange_payload(struct hostile_conn *c)
{
	put_partial_hdr(c, SAN_WIRE_WRITE, c->d[HR_RW].key, HOSTILE_LEN - 100, 1000,
			sizeof(struct san_wire_hdr));
	hostile_put_pattern(c, 500, hostile_fresh_seed(c));
	hostile_hangup(c, 0);
	return HOSTILE_CLOSED;
}

/* A valid WRITE whose payload stops halfway: what arrived may have been
 * placed (inside the range only). */
static int cut_valid_payload(struct hostile_conn *c)
{
	uint32_t seed = hostile_fresh_seed(c);

	put_partial_hdr(c, SAN_WIRE_WRITE, c->d[HR_RW].key, 2000, 3000, sizeof(struct san_wire_hdr));
	hostile_put_pattern(c, 1500, seed);
	hostile_maybe(c, HR_RW, 2000, 3000, seed);
	hostile_hangup(c, 0);
	return HOSTILE_CLOSED;
}

/* A valid WRITE header, then nothing, then a reset. */
static int cut_valid_no_payload_rst(struct hostile_conn *c)
{
	uint32_t seed = hostile_fresh_seed(c);

	put_partial_hdr(c, SAN_WIRE_WRITE, c->d[HR_WO].key, 0, 4000, sizeof(struct san_wire_hdr));
	hostile_maybe(c, HR_WO, 0, 4000, seed);
	hostile_hangup(c, 1);
	return HOSTILE_CLOSED;
}

/* A SEND cut short, into the target's posted receive. */
static int cut_send(struct hostile_conn *c)
{
	put_partial_hdr(c, SAN_WIRE_SEND, 0, 0, 1000, sizeof(struct san_wire_hdr));
	hostile_put_pattern(c, 500, hostile_fresh_seed(c));
	hostile_hangup(c, 0);
	return HOSTILE_CLOSED;
}

/* The answer to the target's own READ_REQ, cut short: the read fails. */
static int cut_read_resp(struct hostile_conn *c)
{
	struct san_wire_hdr h;

	hostile_get_hdr(c, &h, "the target's READ_REQ");
	CHECK(h.type == SAN_WIRE_READ_REQ && h.key == c->craft_key && h.len == HOSTILE_OP_LEN);
	h = hostile_mkhdr(SAN_WIRE_READ_RESP, 0, h.id, 0, 0, HOSTILE_OP_LEN);
	hostile_put_hdr(c, &h);
	hostile_put_pattern(c, HOSTILE_OP_LEN / 2, 0xee);
	/* The read failed: its sink may hold part of the answer (the
	 * application's own buffer), never more. */
	hostile_maybe(c, HR_OPBUF, 0, HOSTILE_OP_LEN, 0xee);
	hostile_hangup(c, 0);
	return HOSTILE_CLOSED;
}

/* Ask for 2 MB of answers, read none, hang up: the target's sends fail
 * (EPIPE / ECONNRESET) and must not kill the process (SIGPIPE). */
static int hangup_unread(struct hostile_conn *c)
{
	for (int i = 0; i < 256; i++)
		hostile_send_read(c, c->d[HR_RW].key, 0, HOSTILE_LEN);
	usleep(20000);
	hostile_hangup(c, 0);
	return HOSTILE_CLOSED;
}

static int hangup_unread_rst(struct hostile_conn *c)
{
	for (int i = 0; i < 256; i++)
		hostile_send_read(c, c->d[HR_RO].key, 0, HOSTILE_LEN);
	usleep(20000);
	hostile_hangup(c, 1);
	return HOSTILE_CLOSED;
}

static const struct hostile_case cases[] = {
	{ .name = "header cut at 20 bytes", .attack = cut_hdr_20 },
	{ .name = "header cut at 1 byte", .attack = cut_hdr_1 },
	{ .name = "header cut at 39 bytes, RST", .attack = cut_hdr_39_rst },
	{ .name = "refused WRITE, payload cut", .attack = cut_refused_payload },
	{ .name = "out-of-range WRITE, payload cut", .attack = cut_erange_payload },
	{ .name = "valid WRITE, payload cut", .attack = cut_valid_payload },
	{ .name = "valid WRITE, no payload, RST", .attack = cut_valid_no_payload_rst },
	{ .name = "SEND, payload cut", .attack = cut_send },
	{ .name = "READ_RESP payload cut", .attack = cut_read_resp, .target_op = SAN_OP_RDMA_READ },
	{ .name = "hang up with 2 MB of answers unread", .attack = hangup_unread },
	{ .name = "reset with 2 MB of answers unread", .attack = hangup_unread_rst },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
