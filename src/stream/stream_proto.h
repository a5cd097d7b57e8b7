/* SPDX-License-Identifier: MIT */
/*
 * The stream layer's wire messages (docs/stream.md §2). Every message is
 * one SAN message (san_send) from a slot of the sender's send region into a
 * posted receive slot of the peer: a 16-byte header, then a body whose
 * size the type fixes (DATA: the payload, hdr.len bytes). All integers are
 * little-endian. Nothing here trusts the peer: san__ss_parse() checks every
 * length and field it can check without the connection's state; the state
 * machine (stream_core.c) checks the rest (credits, ids, descriptors).
 */
#ifndef SAN_STREAM_PROTO_H
#define SAN_STREAM_PROTO_H

#include <san.h>
#include <stddef.h>
#include <stdint.h>

#define SS_MAGIC 0x4d525453u /* "STRM" */
#define SS_VERSION 1

/* Receive slots each side posts beyond its data slots, for control
 * messages: at most 2 CREDIT (a sender keeps at most 2 unacknowledged),
 * 2 DONE (one per direction of a large transfer), 1 SINK_AVAIL, 1 FIN can
 * be unprocessed at once; 8 leaves room. */
#define SS_CTL_SLOTS 8
#define SS_CREDIT_UNACKED 2
/* Bytes of a control message slot on the sending side (largest message:
 * the HELLO reply). */
#define SS_CTL_SLOT_SIZE 256
#define SS_NAME_MAX 64   /* abstract unix name, NUL-terminated */
#define SS_TOKEN_LEN 16

#define SS_MIN_SLOTS 2
#define SS_MAX_SLOTS 1024
/* A slot holds the configured payload (slot_size) plus room for the
 * header: a send of exactly slot_size bytes is one message. HELLO's
 * slot_size is the whole message capacity. */
#define SS_SLOT_PAD 64
#define SS_MIN_SLOT_SIZE 4096
#define SS_MAX_SLOT_SIZE ((16u << 20) + SS_SLOT_PAD)
/* Longest large transfer one SRC_AVAIL / SINK_AVAIL may announce. */
#define SS_MAX_XFER (1ull << 40)

enum ss_type {
	SS_HELLO = 1,  /* connect -> accept, and the reply: slots, slot size, local offer */
	SS_DATA,       /* payload copied through the slot (data class) */
	SS_CREDIT,     /* credits only (control) */
	SS_SRC_AVAIL,  /* read flow: a buffer of the sender to RDMA-read (data class) */
	SS_SINK_AVAIL, /* write flow: a receive buffer to RDMA-write (control) */
	SS_DONE,       /* a large transfer is finished (control) */
	SS_FIN,        /* end of stream (control) */
	SS_STAY,       /* local move failed: stay on this connection (handshake) */
	SS_TOKEN,      /* local move: first message on the Unix socket (handshake) */
	SS_TOKEN_ACK,  /* local move accepted; says whether shared memory follows (handshake) */
	SS_SHM_OK,     /* the connect side mapped the shared rings (handshake) */
	SS_DOORBELL,   /* shared-memory mode: look at the rings (control) */
	SS_TYPE_MAX = SS_DOORBELL,
};

/* HELLO flags */
#define SS_HF_WANT_LOCAL 1  /* connect side: we are on the same host */
#define SS_HF_OFFER_LOCAL 2 /* accept side: name + token follow */
#define SS_HF_SHM 4         /* connect side, with WANT_LOCAL: we can map shared rings */

/* TOKEN_ACK flags */
#define SS_AF_SHM 1         /* the rings' memfd waits at <name>.fd */

/* DONE kinds */
#define SS_DONE_SRC 1  /* the receiver finished reading the sender's buffer */
#define SS_DONE_SINK 2 /* the sender wrote len bytes into the receiver's buffer (0: declined) */

struct ss_hdr {
	uint8_t type;
	uint8_t flags;    /* 0 */
	uint16_t rsvd;    /* 0 */
	uint32_t len;     /* DATA: payload bytes; others 0 */
	uint32_t credits; /* data slots the sender of this message freed, since the start (mod 2^32) */
	uint32_t cacks;   /* CREDIT messages it processed, since the start (mod 2^32) */
};
#define SS_HDR_LEN 16

struct ss_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;
	uint32_t slots;     /* data slots = the credits the peer starts with */
	uint32_t slot_size; /* largest message the peer may send us */
	uint8_t token[SS_TOKEN_LEN];
	char name[SS_NAME_MAX];
};
#define SS_HELLO_LEN (16 + SS_TOKEN_LEN + SS_NAME_MAX)

struct ss_src {
	uint64_t id;
	uint64_t len;
	struct san_rdma_desc desc;
};
#define SS_SRC_LEN (16 + SAN_RDMA_DESC_SIZE)

struct ss_sink {
	uint64_t id;
	uint64_t seq; /* bytes the receiver had received when it offered this */
	uint64_t len;
	struct san_rdma_desc desc;
};
#define SS_SINK_LEN (24 + SAN_RDMA_DESC_SIZE)

struct ss_done {
	uint64_t id;
	uint64_t len;
	uint8_t kind;
};
#define SS_DONE_LEN 24 /* kind + 7 reserved bytes */

struct ss_token {
	uint8_t token[SS_TOKEN_LEN];
};
#define SS_TOKEN_MSG_LEN SS_TOKEN_LEN

struct ss_ack {
	uint32_t flags; /* SS_AF_* */
};
#define SS_ACK_LEN 8 /* flags + 4 reserved bytes */

_Static_assert(SS_HDR_LEN == 16, "header is 16 bytes");
_Static_assert(SS_HDR_LEN + SS_HELLO_LEN <= SS_CTL_SLOT_SIZE, "HELLO fits a control slot");
_Static_assert(SS_HDR_LEN + SS_SINK_LEN <= SS_CTL_SLOT_SIZE, "SINK_AVAIL fits a control slot");
_Static_assert(SS_HDR_LEN + SS_SRC_LEN <= SS_CTL_SLOT_SIZE, "SRC_AVAIL fits a control slot");
_Static_assert(SS_HDR_LEN + SS_DONE_LEN <= SS_CTL_SLOT_SIZE, "DONE fits a control slot");
_Static_assert(SS_HDR_LEN + SS_HELLO_LEN <= SS_MIN_SLOT_SIZE, "every message fits the smallest slot");
_Static_assert(SAN_RDMA_DESC_SIZE == 32, "descriptor size as on the wire");

/* One parsed message. payload points into the parsed buffer. */
struct ss_msg {
	struct ss_hdr h;
	const uint8_t *payload; /* DATA */
	union {
		struct ss_hello hello;
		struct ss_src src;
		struct ss_sink sink;
		struct ss_done done;
		struct ss_token token;
		struct ss_ack ack;
	} u;
};

/* Parses one received message of n bytes (n = what the receive got).
 * Checks: n covers the header; type known; flags and reserved bytes 0;
 * the size is exactly the header plus the body of that type (DATA: plus
 * hdr.len, with hdr.len >= 1); HELLO magic, version, slot counts and sizes
 * in range, the name NUL-terminated and a valid abstract name when
 * offered; SRC/SINK lengths in 1..SS_MAX_XFER; DONE kind known.
 * Returns 0 or -EPROTO. */
int san__ss_parse(const uint8_t *buf, size_t n, struct ss_msg *out);

/* Writes the header and the body of m into buf (at least SS_HDR_LEN +
 * body; DATA: the header only, the caller places the payload after it).
 * Returns the message length. */
size_t san__ss_encode(const struct ss_msg *m, uint8_t *buf);

#endif
