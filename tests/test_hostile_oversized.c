/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, oversized frames (protocol.md §1, §5): a frame whose len is
 * larger than the max_msg the target advertised in its HELLO is a protocol
 * error -- the target closes that connection at once (it neither answers
 * nor waits for the payload); the honest connection is unaffected. A frame
 * of exactly max_msg is not oversized. The target runs with
 * SAN_MAX_MSG_MB = 1 so that the boundary can be sent for real.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static void put_hdr_only(struct hostile_conn *c, uint8_t type, uint64_t key, uint64_t off,
			 uint64_t len)
{
	struct san_wire_hdr h = hostile_mkhdr(type, 0, c->next_id++, key, off, len);

	hostile_put_hdr(c, &h);
}

/* Control: len == max_msg is a legal frame (refused by range, not closed). */
static int exactly_max(struct hostile_conn *c)
{
	printf("target max_msg = %llu\n", (unsigned long long)c->peer_max_msg);
	hostile_read_expect(c, c->d[HR_RW].key, 0, c->peer_max_msg, SAN_WIRE_ERANGE, NULL,
			    "READ_REQ of exactly max_msg bytes");
	if (c->peer_max_msg <= (8u << 20))
		hostile_write_expect(c, c->d[HR_RW].key, 0, c->peer_max_msg, hostile_fresh_seed(c),
				     SAN_WIRE_ERANGE, "WRITE of exactly max_msg bytes");
	else
		printf("max_msg %llu: not sending a WRITE that big (SAN_MAX_MSG_MB ignored?)\n",
		       (unsigned long long)c->peer_max_msg);
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static int write_over(struct hostile_conn *c)
{
	put_hdr_only(c, SAN_WIRE_WRITE, c->d[HR_RW].key, 0, c->peer_max_msg + 1);
	hostile_expect_eof(c, "WRITE of max_msg + 1 bytes");
	return HOSTILE_CLOSED;
}

/* The whole oversized payload is sent too (as far as the target reads it). */
static int write_over_with_payload(struct hostile_conn *c)
{
	if (c->peer_max_msg > (8u << 20)) {
		put_hdr_only(c, SAN_WIRE_WRITE, c->d[HR_RW].key, 0, c->peer_max_msg + 1);
	} else {
		put_hdr_only(c, SAN_WIRE_WRITE, c->d[HR_RW].key, 0, c->peer_max_msg + 1);
		hostile_send_pattern(c, c->peer_max_msg + 1, 3); /* may fail: target closed */
	}
	hostile_expect_eof(c, "WRITE of max_msg + 1 bytes, with payload");
	return HOSTILE_CLOSED;
}

static int write_over_forged(struct hostile_conn *c)
{
	put_hdr_only(c, SAN_WIRE_WRITE, hostile_random64(), 0, c->peer_max_msg + 1);
	hostile_expect_eof(c, "WRITE of max_msg + 1 bytes with a forged key");
	return HOSTILE_CLOSED;
}

static int write_huge(struct hostile_conn *c)
{
	put_hdr_only(c, SAN_WIRE_WRITE, c->d[HR_RW].key, 0, 1ull << 63);
	hostile_expect_eof(c, "WRITE of 2^63 bytes");
	return HOSTILE_CLOSED;
}

static int send_over(struct hostile_conn *c)
{
	put_hdr_only(c, SAN_WIRE_SEND, 0, 0, c->peer_max_msg + 1);
	hostile_expect_eof(c, "SEND of max_msg + 1 bytes");
	return HOSTILE_CLOSED;
}

static int send_huge(struct hostile_conn *c)
{
	put_hdr_only(c, SAN_WIRE_SEND, 0, 0, UINT64_MAX);
	hostile_expect_eof(c, "SEND of UINT64_MAX bytes");
	return HOSTILE_CLOSED;
}

static int read_over(struct hostile_conn *c)
{
	put_hdr_only(c, SAN_WIRE_READ_REQ, c->d[HR_RW].key, 0, c->peer_max_msg + 1);
	hostile_expect_eof(c, "READ_REQ of max_msg + 1 bytes");
	return HOSTILE_CLOSED;
}

/* An oversized answer to the target's own READ_REQ. */
static int read_resp_over(struct hostile_conn *c)
{
	struct san_wire_hdr h;

	hostile_get_hdr(c, &h, "the target's READ_REQ");
	CHECK(h.type == SAN_WIRE_READ_REQ);
	h = hostile_mkhdr(SAN_WIRE_READ_RESP, 0, h.id, 0, 0, c->peer_max_msg + 1);
	hostile_put_hdr(c, &h);
	hostile_expect_eof(c, "READ_RESP of max_msg + 1 bytes");
	return HOSTILE_CLOSED;
}

static const struct hostile_case cases[] = {
	{ .name = "exactly max_msg (control)", .attack = exactly_max },
	{ .name = "WRITE max_msg + 1", .attack = write_over },
	{ .name = "WRITE max_msg + 1 with payload", .attack = write_over_with_payload },
	{ .name = "WRITE max_msg + 1, forged key", .attack = write_over_forged },
	{ .name = "WRITE 2^63", .attack = write_huge },
	{ .name = "SEND max_msg + 1", .attack = send_over },
	{ .name = "SEND UINT64_MAX", .attack = send_huge },
	{ .name = "READ_REQ max_msg + 1", .attack = read_over },
	{ .name = "READ_RESP max_msg + 1", .attack = read_resp_over, .target_op = SAN_OP_RDMA_READ },
};

int main(void)
{
	struct hostile_opts o = { .max_msg_mb = 1 };

	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), &o);
}
