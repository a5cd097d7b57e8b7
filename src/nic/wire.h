/* SPDX-License-Identifier: MIT */
/*
 * The libsan wire protocol, version 1. docs/protocol.md is the normative
 * description; this header is its C form. Every multi-byte field is little
 * endian on the wire. Decoders (san__wire_*_decode) are the only code that
 * looks at bytes from a peer; they are fuzzed (fuzz/).
 */
#ifndef SAN_WIRE_H
#define SAN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define SAN_WIRE_MAGIC 0x504e4153u      /* "SANP" */
#define SAN_WIRE_DESC_MAGIC 0x44534e53u /* "SNSD" */
#define SAN_WIRE_VERSION 1

/* Sent by both sides, first thing on a connection. */
struct san_wire_hello {
	uint32_t magic;    /* SAN_WIRE_MAGIC */
	uint16_t version;  /* SAN_WIRE_VERSION */
	uint16_t hdr_size; /* sizeof(struct san_wire_hdr) */
	uint32_t flags;    /* 0 */
	uint32_t rsvd;     /* 0 */
	uint64_t max_msg;  /* largest frame payload the sender accepts */
	uint64_t nonce;    /* random; names the connection in logs */
};
_Static_assert(sizeof(struct san_wire_hello) == 32, "hello size");
_Static_assert(offsetof(struct san_wire_hello, version) == 4, "hello layout");
_Static_assert(offsetof(struct san_wire_hello, hdr_size) == 6, "hello layout");
_Static_assert(offsetof(struct san_wire_hello, flags) == 8, "hello layout");
_Static_assert(offsetof(struct san_wire_hello, max_msg) == 16, "hello layout");
_Static_assert(offsetof(struct san_wire_hello, nonce) == 24, "hello layout");

enum san_wire_type {
	SAN_WIRE_SEND = 1,      /* payload: the message */
	SAN_WIRE_WRITE = 2,     /* payload: bytes for key at offset */
	SAN_WIRE_WRITE_ACK = 3, /* no payload; status */
	SAN_WIRE_READ_REQ = 4,  /* no payload; len bytes of key at offset */
	SAN_WIRE_READ_RESP = 5, /* payload: the bytes read (status 0) */
};

/* Statuses carried by responses; never raw errno values. */
enum san_wire_status {
	SAN_WIRE_OK = 0,
	SAN_WIRE_EACCES = 1, /* unknown/revoked key, or right missing */
	SAN_WIRE_ERANGE = 2, /* outside the registration */
	SAN_WIRE_EFAULT = 3, /* the target could not move the bytes */
};

/* Every frame starts with this header; payload (if any) follows at once. */
struct san_wire_hdr {
	uint8_t type;    /* enum san_wire_type */
	uint8_t flags;   /* 0 */
	uint16_t rsvd;   /* 0 */
	uint32_t status; /* responses: enum san_wire_status; requests: 0 */
	uint64_t id;     /* requester's id, echoed by the response */
	uint64_t key;    /* WRITE, READ_REQ: the memory key; else 0 */
	uint64_t offset; /* WRITE, READ_REQ: byte offset in the registration; else 0 */
	uint64_t len;    /* payload length (READ_REQ: length asked for) */
};
_Static_assert(sizeof(struct san_wire_hdr) == 40, "hdr size");
_Static_assert(offsetof(struct san_wire_hdr, status) == 4, "hdr layout");
_Static_assert(offsetof(struct san_wire_hdr, id) == 8, "hdr layout");
_Static_assert(offsetof(struct san_wire_hdr, key) == 16, "hdr layout");
_Static_assert(offsetof(struct san_wire_hdr, offset) == 24, "hdr layout");
_Static_assert(offsetof(struct san_wire_hdr, len) == 32, "hdr layout");

/* The contents of struct san_rdma_desc (SAN_RDMA_DESC_SIZE bytes). */
struct san_wire_desc {
	uint32_t magic;  /* SAN_WIRE_DESC_MAGIC */
	uint8_t version; /* SAN_WIRE_VERSION */
	uint8_t rights;  /* SAN_MEM_* granted to the peer */
	uint16_t rsvd;   /* 0 */
	uint64_t key;    /* random, nonzero */
	uint64_t len;    /* registered length */
	uint64_t nonce;  /* hello nonce of the registering side */
};
_Static_assert(sizeof(struct san_wire_desc) == 32, "desc size");
_Static_assert(offsetof(struct san_wire_desc, rights) == 5, "desc layout");
_Static_assert(offsetof(struct san_wire_desc, key) == 8, "desc layout");
_Static_assert(offsetof(struct san_wire_desc, len) == 16, "desc layout");
_Static_assert(offsetof(struct san_wire_desc, nonce) == 24, "desc layout");

/* Encoders write exactly sizeof(struct) bytes. Decoders return 0 or
 * -EPROTO (hello: wrong magic or fields; hdr: unknown type, nonzero
 * reserved fields, a field that the type forbids, len > max_msg) or
 * -EPROTONOSUPPORT (hello of another version) or -EINVAL (desc). */
void san__wire_hello_encode(const struct san_wire_hello *h, void *out);
int san__wire_hello_decode(const void *in, size_t len, struct san_wire_hello *h);
void san__wire_hdr_encode(const struct san_wire_hdr *h, void *out);
int san__wire_hdr_decode(const void *in, size_t len, uint64_t max_msg, struct san_wire_hdr *h);
void san__wire_desc_encode(const struct san_wire_desc *d, void *out);
int san__wire_desc_decode(const void *in, size_t len, struct san_wire_desc *d);

#endif
