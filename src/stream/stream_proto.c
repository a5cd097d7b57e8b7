/* SPDX-License-Identifier: MIT */
/* Encoding and defensive parsing of the stream messages (stream_proto.h).
 * Pure functions of bytes: the fuzz target fuzz/fuzz_smsg.c drives them. */
#include "stream/stream_proto.h"

#include <errno.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static size_t body_len(uint8_t type)
{
	switch (type) {
	case SS_HELLO: return SS_HELLO_LEN;
	case SS_SRC_AVAIL: return SS_SRC_LEN;
	case SS_SINK_AVAIL: return SS_SINK_LEN;
	case SS_DONE: return SS_DONE_LEN;
	case SS_TOKEN: return SS_TOKEN_MSG_LEN;
	case SS_TOKEN_ACK: return SS_ACK_LEN;
	default: return 0; /* DATA (payload apart), CREDIT, FIN, STAY, SHM_OK, DOORBELL */
	}
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static int parse_hello(const uint8_t *b, struct ss_hello *h)
{
	h->magic = get32(b);
	h->version = get16(b + 4);
	h->flags = get16(b + 6);
	h->slots = get32(b + 8);
	h->slot_size = get32(b + 12);
	memcpy(h->token, b + 16, SS_TOKEN_LEN);
	memcpy(h->name, b + 16 + SS_TOKEN_LEN, SS_NAME_MAX);
	if (h->magic != SS_MAGIC || h->version != SS_VERSION)
		return -EPROTO;
	if (h->flags & ~(SS_HF_WANT_LOCAL | SS_HF_OFFER_LOCAL | SS_HF_SHM))
		return -EPROTO;
	if ((h->flags & SS_HF_SHM) && !(h->flags & SS_HF_WANT_LOCAL))
		return -EPROTO;
	if (h->slots < SS_MIN_SLOTS || h->slots > SS_MAX_SLOTS)
		return -EPROTO;
	if (h->slot_size < SS_MIN_SLOT_SIZE || h->slot_size > SS_MAX_SLOT_SIZE)
		return -EPROTO;
	if (!memchr(h->name, 0, SS_NAME_MAX))
		return -EPROTO;
	if (h->flags & SS_HF_OFFER_LOCAL) {
		/* "@" then printable characters: an abstract unix name only,
		 * never a path the peer could make us connect to. */
		size_t n = strlen(h->name);

		if (n < 2 || h->name[0] != '@')
			return -EPROTO;
		for (size_t i = 1; i < n; i++)
			if (h->name[i] <= ' ' || h->name[i] > '~')
				return -EPROTO;
	} else if (h->name[0] || !all_zero(h->token, SS_TOKEN_LEN)) {
		return -EPROTO;
	}
	return 0;
}

int san__ss_parse(const uint8_t *buf, size_t n, struct ss_msg *m)
{
	const uint8_t *b = buf + SS_HDR_LEN;
	size_t want;

	if (!buf || n < SS_HDR_LEN)
		return -EPROTO;
	memset(m, 0, sizeof(*m));
	m->h.type = buf[0];
	m->h.flags = buf[1];
	m->h.rsvd = get16(buf + 2);
	m->h.len = get32(buf + 4);
	m->h.credits = get32(buf + 8);
	m->h.cacks = get32(buf + 12);
	if (m->h.type < SS_HELLO || m->h.type > SS_TYPE_MAX || m->h.flags || m->h.rsvd)
		return -EPROTO;
	want = SS_HDR_LEN + body_len(m->h.type);
	if (m->h.type == SS_DATA) {
		if (!m->h.len || m->h.len > SS_MAX_SLOT_SIZE)
			return -EPROTO;
		want += m->h.len;
		m->payload = b;
	} else if (m->h.len) {
		return -EPROTO;
	}
	if (n != want)
		return -EPROTO;
	switch (m->h.type) {
	case SS_HELLO:
		return parse_hello(b, &m->u.hello);
	case SS_SRC_AVAIL:
		m->u.src.id = get64(b);
		m->u.src.len = get64(b + 8);
		memcpy(m->u.src.desc.bytes, b + 16, SAN_RDMA_DESC_SIZE);
		if (!m->u.src.len || m->u.src.len > SS_MAX_XFER)
			return -EPROTO;
		return 0;
	case SS_SINK_AVAIL:
		m->u.sink.id = get64(b);
		m->u.sink.seq = get64(b + 8);
		m->u.sink.len = get64(b + 16);
		memcpy(m->u.sink.desc.bytes, b + 24, SAN_RDMA_DESC_SIZE);
		if (!m->u.sink.len || m->u.sink.len > SS_MAX_XFER)
			return -EPROTO;
		return 0;
	case SS_DONE:
		m->u.done.id = get64(b);
		m->u.done.len = get64(b + 8);
		m->u.done.kind = b[16];
		if (!all_zero(b + 17, 7))
			return -EPROTO;
		if (m->u.done.kind == SS_DONE_SRC)
			return m->u.done.len ? -EPROTO : 0;
		if (m->u.done.kind == SS_DONE_SINK)
			return m->u.done.len > SS_MAX_XFER ? -EPROTO : 0;
		return -EPROTO;
	case SS_TOKEN:
		memcpy(m->u.token.token, b, SS_TOKEN_LEN);
		return 0;
	case SS_TOKEN_ACK:
		m->u.ack.flags = get32(b);
		if ((m->u.ack.flags & ~SS_AF_SHM) || get32(b + 4))
			return -EPROTO;
		return 0;
	default:
		return 0;
	}
}

size_t san__ss_encode(const struct ss_msg *m, uint8_t *buf)
{
	uint8_t *b = buf + SS_HDR_LEN;
	size_t n = SS_HDR_LEN + body_len(m->h.type);

	buf[0] = m->h.type;
	buf[1] = 0;
	put16(buf + 2, 0);
	put32(buf + 4, m->h.type == SS_DATA ? m->h.len : 0);
	put32(buf + 8, m->h.credits);
	put32(buf + 12, m->h.cacks);
	switch (m->h.type) {
	case SS_HELLO:
		put32(b, m->u.hello.magic);
		put16(b + 4, m->u.hello.version);
		put16(b + 6, m->u.hello.flags);
		put32(b + 8, m->u.hello.slots);
		put32(b + 12, m->u.hello.slot_size);
		memcpy(b + 16, m->u.hello.token, SS_TOKEN_LEN);
		memcpy(b + 16 + SS_TOKEN_LEN, m->u.hello.name, SS_NAME_MAX);
		break;
	case SS_SRC_AVAIL:
		put64(b, m->u.src.id);
		put64(b + 8, m->u.src.len);
		memcpy(b + 16, m->u.src.desc.bytes, SAN_RDMA_DESC_SIZE);
		break;
	case SS_SINK_AVAIL:
		put64(b, m->u.sink.id);
		put64(b + 8, m->u.sink.seq);
		put64(b + 16, m->u.sink.len);
		memcpy(b + 24, m->u.sink.desc.bytes, SAN_RDMA_DESC_SIZE);
		break;
	case SS_DONE:
		put64(b, m->u.done.id);
		put64(b + 8, m->u.done.len);
		memset(b + 16, 0, 8);
		b[16] = m->u.done.kind;
		break;
	case SS_TOKEN:
		memcpy(b, m->u.token.token, SS_TOKEN_LEN);
		break;
	case SS_TOKEN_ACK:
		put32(b, m->u.ack.flags);
		put32(b + 4, 0);
		break;
	default:
		break;
	}
	return n;
}
