/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, malformed headers (protocol.md §5): unknown types, nonzero
 * flags / rsvd, a status in a request, a key or offset where the type has
 * none, a status outside 0-3, responses with no request, with the wrong id
 * or type, of the wrong length, or answering twice. Each one makes the
 * target close that connection: nothing is answered, the target's own
 * outstanding operation completes with -ECONNRESET, and no byte of a bad
 * answer reaches the target's memory. The honest connection is unaffected.
 * The first rounds are controls: a correct answer to the target's own
 * operations works (and error statuses map to -EACCES / -ERANGE).
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

/* A header with every field chosen (flags, rsvd included), plus payload. */
static void put_frame(struct hostile_conn *c, uint8_t type, uint8_t flags, uint16_t rsvd,
		      uint32_t status, uint64_t id, uint64_t key, uint64_t off, uint64_t len,
		      uint64_t payload)
{
	struct san_wire_hdr h = hostile_mkhdr(type, status, id, key, off, len);

	h.flags = flags;
	h.rsvd = rsvd;
	hostile_put_hdr(c, &h);
	if (payload)
		hostile_send_pattern(c, payload, 0xee); /* may fail: the target closed */
}

/* Reads the target's own request (case .target_op) and checks it. */
static struct san_wire_hdr get_target_req(struct hostile_conn *c)
{
	struct san_wire_hdr h;

	hostile_get_hdr(c, &h, "the target's own request");
	if (h.key != c->craft_key || h.offset != 0 || h.len != HOSTILE_OP_LEN ||
	    (h.type != SAN_WIRE_READ_REQ && h.type != SAN_WIRE_WRITE))
		HFAIL(c, "the target's request: type %u key %#llx off %llu len %llu", h.type,
		      (unsigned long long)h.key, (unsigned long long)h.offset,
		      (unsigned long long)h.len);
	if (h.type == SAN_WIRE_WRITE) {
		uint8_t b[HOSTILE_OP_LEN];
		ssize_t r = hostile_get(c->fd, b, sizeof(b));

		if (r != (ssize_t)sizeof(b))
			HFAIL(c, "the target's WRITE payload: %s", hostile_get_err(r));
		if (!hostile_region_pristine(HR_OPBUF, HOSTILE_OP_WSRC, b, sizeof(b)))
			HFAIL(c, "the target's WRITE payload is not its source buffer");
	}
	return h;
}

#define CLOSES(c, what) \
	do { \
		hostile_expect_eof(c, what); \
		return HOSTILE_CLOSED; \
	} while (0)

/* ---- controls ---- */

static int ok_read_resp(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, 0, h.id, 0, 0, HOSTILE_OP_LEN, 0);
	hostile_put_pattern(c, HOSTILE_OP_LEN, 0x3c);
	hostile_opdone(c, 0, 0x3c);
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static int ok_write_ack(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 0, h.id, 0, 0, 0, 0);
	hostile_opdone(c, 0, 0);
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static int eacces_write_ack(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, SAN_WIRE_EACCES, h.id, 0, 0, 0, 0);
	hostile_opdone(c, -EACCES, 0);
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static int erange_read_resp(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, SAN_WIRE_ERANGE, h.id, 0, 0, 0, 0);
	hostile_opdone(c, -ERANGE, 0);
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

/* ---- bad headers ---- */

static int type0(struct hostile_conn *c)
{
	put_frame(c, 0, 0, 0, 0, 1, 0, 0, 0, 0);
	CLOSES(c, "type 0");
}

static int type6(struct hostile_conn *c)
{
	put_frame(c, 6, 0, 0, 0, 1, 0, 0, 0, 0);
	CLOSES(c, "type 6");
}

static int type255(struct hostile_conn *c)
{
	put_frame(c, 255, 0, 0, 0, 1, c->d[HR_RW].key, 0, 16, 16);
	CLOSES(c, "type 255");
}

static int write_flags(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_WRITE, 1, 0, 0, 1, c->d[HR_RW].key, 0, 16, 16);
	CLOSES(c, "WRITE with flags 1");
}

static int write_flags_high(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_WRITE, 0x80, 0, 0, 1, c->d[HR_RW].key, 0, 16, 16);
	CLOSES(c, "WRITE with flags 0x80");
}

static int read_rsvd(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_READ_REQ, 0, 1, 0, 1, c->d[HR_RW].key, 0, 16, 0);
	CLOSES(c, "READ_REQ with rsvd 1");
}

static int send_rsvd(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_SEND, 0, 0x8000, 0, 0, 0, 0, 16, 16);
	CLOSES(c, "SEND with rsvd 0x8000");
}

static int write_status(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_WRITE, 0, 0, 1, 1, c->d[HR_RW].key, 0, 16, 16);
	CLOSES(c, "WRITE with a status");
}

static int read_status(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_READ_REQ, 0, 0, 2, 1, c->d[HR_RW].key, 0, 16, 0);
	CLOSES(c, "READ_REQ with a status");
}

static int send_key(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_SEND, 0, 0, 0, 0, c->d[HR_RW].key, 0, 16, 16);
	CLOSES(c, "SEND with a key");
}

static int send_offset(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_SEND, 0, 0, 0, 0, 0, 8, 16, 16);
	CLOSES(c, "SEND with an offset");
}

/* ---- responses with no request ---- */

static int stray_ack(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 0, 1, 0, 0, 0, 0);
	CLOSES(c, "WRITE_ACK with no request");
}

static int stray_resp(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, 0, 1, 0, 0, 0, 0);
	CLOSES(c, "READ_RESP with no request");
}

static int stray_resp_payload(struct hostile_conn *c)
{
	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, 0, 1, 0, 0, 64, 64);
	CLOSES(c, "READ_RESP with a payload and no request");
}

/* ---- wrong answers to the target's own operations ---- */

static int stray_ack_read_outstanding(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 0, h.id + 7, 0, 0, 0, 0);
	CLOSES(c, "WRITE_ACK with another id while a READ_REQ is outstanding");
}

static int resp_wrong_id(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, 0, h.id + 1, 0, 0, HOSTILE_OP_LEN, HOSTILE_OP_LEN);
	CLOSES(c, "READ_RESP with the wrong id");
}

static int resp_wrong_id_zero(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, 0, h.id ^ (1ull << 63), 0, 0, HOSTILE_OP_LEN,
		  HOSTILE_OP_LEN);
	CLOSES(c, "READ_RESP with the wrong id (high bit)");
}

static int ack_for_read(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 0, h.id, 0, 0, 0, 0);
	CLOSES(c, "WRITE_ACK answering a READ_REQ");
}

static int resp_short(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, 0, h.id, 0, 0, HOSTILE_OP_LEN / 2, HOSTILE_OP_LEN / 2);
	CLOSES(c, "READ_RESP shorter than asked");
}

static int resp_long(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	/* Would run past the 64-byte sink into the rest of the registration. */
	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, 0, h.id, 0, 0, 4 * HOSTILE_OP_LEN,
		  4 * HOSTILE_OP_LEN);
	CLOSES(c, "READ_RESP longer than asked");
}

static int resp_status_and_payload(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, SAN_WIRE_EACCES, h.id, 0, 0, HOSTILE_OP_LEN,
		  HOSTILE_OP_LEN);
	CLOSES(c, "READ_RESP with an error status and a payload");
}

static int resp_with_key(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, 0, h.id, c->craft_key, 0, HOSTILE_OP_LEN,
		  HOSTILE_OP_LEN);
	CLOSES(c, "READ_RESP with a key");
}

static int ack_wrong_id(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 0, h.id - 1, 0, 0, 0, 0);
	CLOSES(c, "WRITE_ACK with the wrong id");
}

static int resp_for_write(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_READ_RESP, 0, 0, 0, h.id, 0, 0, 0, 0);
	CLOSES(c, "READ_RESP answering a WRITE");
}

static int ack_status4(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 4, h.id, 0, 0, 0, 0);
	CLOSES(c, "WRITE_ACK with status 4");
}

static int ack_status_huge(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 0x80000001u, h.id, 0, 0, 0, 0);
	CLOSES(c, "WRITE_ACK with status 0x80000001");
}

static int ack_len(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 0, h.id, 0, 0, 8, 8);
	CLOSES(c, "WRITE_ACK with a length");
}

static int ack_offset(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 0, h.id, 0, 4, 0, 0);
	CLOSES(c, "WRITE_ACK with an offset");
}

static int ack_twice(struct hostile_conn *c)
{
	struct san_wire_hdr h = get_target_req(c);

	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 0, h.id, 0, 0, 0, 0);
	hostile_opdone(c, 0, 0);
	put_frame(c, SAN_WIRE_WRITE_ACK, 0, 0, 0, h.id, 0, 0, 0, 0);
	CLOSES(c, "a second WRITE_ACK for one WRITE");
}

#define R SAN_OP_RDMA_READ
#define W SAN_OP_RDMA_WRITE
static const struct hostile_case cases[] = {
	{ .name = "correct READ_RESP (control)", .attack = ok_read_resp, .target_op = R },
	{ .name = "correct WRITE_ACK (control)", .attack = ok_write_ack, .target_op = W },
	{ .name = "WRITE_ACK EACCES (control)", .attack = eacces_write_ack, .target_op = W },
	{ .name = "READ_RESP ERANGE (control)", .attack = erange_read_resp, .target_op = R },
	{ .name = "type 0", .attack = type0 },
	{ .name = "type 6", .attack = type6 },
	{ .name = "type 255", .attack = type255 },
	{ .name = "WRITE flags 1", .attack = write_flags },
	{ .name = "WRITE flags 0x80", .attack = write_flags_high },
	{ .name = "READ_REQ rsvd 1", .attack = read_rsvd },
	{ .name = "SEND rsvd 0x8000", .attack = send_rsvd },
	{ .name = "WRITE with status", .attack = write_status },
	{ .name = "READ_REQ with status", .attack = read_status },
	{ .name = "SEND with key", .attack = send_key },
	{ .name = "SEND with offset", .attack = send_offset },
	{ .name = "stray WRITE_ACK", .attack = stray_ack },
	{ .name = "stray READ_RESP", .attack = stray_resp },
	{ .name = "stray READ_RESP with payload", .attack = stray_resp_payload },
	{ .name = "stray WRITE_ACK, read outstanding", .attack = stray_ack_read_outstanding,
	  .target_op = R },
	{ .name = "READ_RESP wrong id", .attack = resp_wrong_id, .target_op = R },
	{ .name = "READ_RESP wrong id (high bit)", .attack = resp_wrong_id_zero, .target_op = R },
	{ .name = "WRITE_ACK for a READ_REQ", .attack = ack_for_read, .target_op = R },
	{ .name = "READ_RESP short", .attack = resp_short, .target_op = R },
	{ .name = "READ_RESP long", .attack = resp_long, .target_op = R },
	{ .name = "READ_RESP status + payload", .attack = resp_status_and_payload, .target_op = R },
	{ .name = "READ_RESP with key", .attack = resp_with_key, .target_op = R },
	{ .name = "WRITE_ACK wrong id", .attack = ack_wrong_id, .target_op = W },
	{ .name = "READ_RESP for a WRITE", .attack = resp_for_write, .target_op = W },
	{ .name = "WRITE_ACK status 4", .attack = ack_status4, .target_op = W },
	{ .name = "WRITE_ACK status 0x80000001", .attack = ack_status_huge, .target_op = W },
	{ .name = "WRITE_ACK with len", .attack = ack_len, .target_op = W },
	{ .name = "WRITE_ACK with offset", .attack = ack_offset, .target_op = W },
	{ .name = "WRITE_ACK twice", .attack = ack_twice, .target_op = W },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
