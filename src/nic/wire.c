/* SPDX-License-Identifier: MIT */
/* Encoding and validation of wire structs (docs/protocol.md). Nothing here
 * trusts its input: every field a peer sends is checked before use. */
#include "wire.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

void san__wire_hello_encode(const struct san_wire_hello *h, void *out)
{
	uint8_t *p = out;

	put32(p + 0, h->magic);
	put16(p + 4, h->version);
	put16(p + 6, h->hdr_size);
	put32(p + 8, h->flags);
	put32(p + 12, h->rsvd);
	put64(p + 16, h->max_msg);
	put64(p + 24, h->nonce);
}

int san__wire_hello_decode(const void *in, size_t len, struct san_wire_hello *h)
{
	const uint8_t *p = in;
	struct san_wire_hello v;

	if (len < sizeof(v))
		return -EPROTO;
	v.magic = get32(p + 0);
	v.version = get16(p + 4);
	v.hdr_size = get16(p + 6);
	v.flags = get32(p + 8);
	v.rsvd = get32(p + 12);
	v.max_msg = get64(p + 16);
	v.nonce = get64(p + 24);
	if (v.magic != SAN_WIRE_MAGIC)
		return -EPROTO;
	if (v.version != SAN_WIRE_VERSION)
		return -EPROTONOSUPPORT;
	if (v.hdr_size != sizeof(struct san_wire_hdr) || v.flags || v.rsvd || !v.max_msg)
		return -EPROTO;
	*h = v;
	return 0;
}

void san__wire_hdr_encode(const struct san_wire_hdr *h, void *out)
{
	uint8_t *p = out;

	p[0] = h->type;
	p[1] = h->flags;
	put16(p + 2, h->rsvd);
	put32(p + 4, h->status);
	put64(p + 8, h->id);
	put64(p + 16, h->key);
	put64(p + 24, h->offset);
	put64(p + 32, h->len);
}

int san__wire_hdr_decode(const void *in, size_t len, uint64_t max_msg, struct san_wire_hdr *h)
{
	const uint8_t *p = in;
	struct san_wire_hdr v;

	if (len < sizeof(v))
		return -EPROTO;
	v.type = p[0];
	v.flags = p[1];
	v.rsvd = get16(p + 2);
	v.status = get32(p + 4);
	v.id = get64(p + 8);
	v.key = get64(p + 16);
	v.offset = get64(p + 24);
	v.len = get64(p + 32);
	if (v.flags || v.rsvd)
		return -EPROTO;
	switch (v.type) {
	case SAN_WIRE_SEND:
		if (v.status || v.key || v.offset || v.len > max_msg)
			return -EPROTO;
		break;
	case SAN_WIRE_WRITE:
		if (v.status || v.len > max_msg)
			return -EPROTO;
		break;
	case SAN_WIRE_READ_REQ:
		/* The responder bounds the reply by its own max_msg. */
		if (v.status || v.len > max_msg)
			return -EPROTO;
		break;
	case SAN_WIRE_WRITE_ACK:
		if (v.status > SAN_WIRE_EFAULT || v.key || v.offset || v.len)
			return -EPROTO;
		break;
	case SAN_WIRE_READ_RESP:
		if (v.status > SAN_WIRE_EFAULT || v.key || v.offset || v.len > max_msg ||
		    (v.status && v.len))
			return -EPROTO;
		break;
	default:
		return -EPROTO;
	}
	*h = v;
	return 0;
}

void san__wire_desc_encode(const struct san_wire_desc *d, void *out)
{
	uint8_t *p = out;

	put32(p + 0, d->magic);
	p[4] = d->version;
	p[5] = d->rights;
	put16(p + 6, d->rsvd);
	put64(p + 8, d->key);
	put64(p + 16, d->len);
	put64(p + 24, d->nonce);
}

int san__wire_desc_decode(const void *in, size_t len, struct san_wire_desc *d)
{
	const uint8_t *p = in;
	struct san_wire_desc v;

	if (len < sizeof(v))
		return -EINVAL;
	v.magic = get32(p + 0);
	v.version = p[4];
	v.rights = p[5];
	v.rsvd = get16(p + 6);
	v.key = get64(p + 8);
	v.len = get64(p + 16);
	v.nonce = get64(p + 24);
	if (v.magic != SAN_WIRE_DESC_MAGIC || v.version != SAN_WIRE_VERSION || v.rsvd ||
	    !v.key || !v.rights || (v.rights & ~3u))
		return -EINVAL;
	*d = v;
	return 0;
}
