/* SPDX-License-Identifier: MIT */
/*
 * A fake stream peer for the local-move and hostile tests: the raw SAN API
 * plus the stream layer's message encoder (src/stream/stream_proto.h), so a
 * test can speak the protocol badly on purpose.
 *
 * The fake posts FK_SLOTS receives of FK_SLOT bytes (what its HELLO
 * announces, plus SS_CTL_SLOTS) and sends from its own area, one message
 * at a time.
 */
#ifndef SAN_STREAM_FAKE_H
#define SAN_STREAM_FAKE_H

#include "stream_test.h"
#include "stream/stream_proto.h"

#define FK_SLOTS 16
#define FK_SLOT (64u << 10)
#define FK_NRX (FK_SLOTS + SS_CTL_SLOTS)
#define FK_TX ((size_t)FK_NRX * FK_SLOT)
#define FK_LEN (FK_TX + (2u << 20)) /* receive slots, then 2 MiB to send from */

struct fake {
	san_provider *p;
	san_socket *s;
	uint8_t *mem;
	san_handle h;
	int pending_rx[FK_NRX * 4];
	size_t pending_len[FK_NRX * 4];
	int npending;
};

static inline void fk_post(struct fake *f, int slot)
{
	struct san_buf b = { f->mem + (size_t)slot * FK_SLOT, FK_SLOT, f->h };

	CHECK_OK(san_recv(f->s, &b, 1, XT_CTX(1000 + slot)));
}

/* Wraps a connected socket: registers, posts every receive. */
static inline void fk_attach(struct fake *f, san_provider *p, san_socket *s)
{
	memset(f, 0, sizeof(*f));
	f->p = p;
	f->s = s;
	f->mem = xt_map(FK_LEN);
	f->h = xt_reg(s, f->mem, FK_LEN, SAN_MEM_READWRITE);
	for (int i = 0; i < FK_NRX; i++)
		fk_post(f, i);
}

static inline void fk_close(struct fake *f)
{
	CHECK_OK(san_close(f->s));
	xt_unmap(f->mem, FK_LEN);
}

/* Polls one completion; receives are remembered for fk_recv. Returns the
 * completion. */
static inline struct san_completion fk_poll(struct fake *f, int ms)
{
	struct san_completion c = { 0 };
	int n = san_poll(f->s, &c, 1, ms);

	if (n < 0) {
		c.status = n;
		c.op = -1;
		return c;
	}
	if (n == 1 && c.op == SAN_OP_RECV && !c.status) {
		CHECK(f->npending < (int)(sizeof(f->pending_rx) / sizeof(int)));
		f->pending_rx[f->npending] = (int)((uintptr_t)c.ctx - 1000);
		f->pending_len[f->npending++] = c.bytes;
	}
	if (n == 0)
		c.op = 0;
	return c;
}

/* Sends raw bytes as one message and waits for the send. Returns its
 * status. */
static inline int fk_send_raw(struct fake *f, const void *bytes, size_t len)
{
	struct san_buf b = { f->mem + FK_TX, len, f->h };
	long long end = xt_now_ms() + 5000;

	CHECK(len <= FK_LEN - FK_TX);
	memcpy(f->mem + FK_TX, bytes, len);
	if (san_send(f->s, &b, 1, XT_CTX(7)))
		return -ECONNRESET;
	while (xt_now_ms() < end) {
		struct san_completion c = fk_poll(f, 100);

		if (c.op == SAN_OP_SEND)
			return c.status;
		if (c.op < 0)
			return c.status;
	}
	return -ETIMEDOUT;
}

/* Encodes and sends m (DATA: payload len bytes follow). */
static inline int fk_send(struct fake *f, struct ss_msg *m, const void *payload)
{
	uint8_t tmp[FK_SLOT + 256];
	size_t n = san__ss_encode(m, tmp);

	if (m->h.type == SS_DATA && payload) {
		memcpy(tmp + SS_HDR_LEN, payload, m->h.len);
		n = SS_HDR_LEN + m->h.len;
	}
	return fk_send_raw(f, tmp, n);
}

/* Waits for the next message; 0 and *m, or -ETIMEDOUT / -ECONNRESET /
 * -EPROTO. The slot is posted again. */
static inline int fk_recv(struct fake *f, struct ss_msg *m, int ms)
{
	long long end = xt_now_ms() + ms;
	static uint8_t copy[FK_SLOT];

	while (!f->npending) {
		struct san_completion c;

		if (xt_now_ms() >= end)
			return -ETIMEDOUT;
		c = fk_poll(f, 50);
		if (c.op == SAN_OP_RECV && c.status)
			return -ECONNRESET;
		if (c.op < 0)
			return c.status;
	}
	{
		int slot = f->pending_rx[0];
		size_t len = f->pending_len[0];

		memmove(f->pending_rx, f->pending_rx + 1, (size_t)--f->npending * sizeof(int));
		memmove(f->pending_len, f->pending_len + 1, (size_t)f->npending * sizeof(size_t));
		memcpy(copy, f->mem + (size_t)slot * FK_SLOT, len);
		fk_post(f, slot);
		return san__ss_parse(copy, len, m) ? -EPROTO : 0;
	}
}

static inline void fk_hello(struct ss_msg *m, uint16_t flags)
{
	memset(m, 0, sizeof(*m));
	m->h.type = SS_HELLO;
	m->u.hello.magic = SS_MAGIC;
	m->u.hello.version = SS_VERSION;
	m->u.hello.flags = flags;
	m->u.hello.slots = FK_SLOTS;
	m->u.hello.slot_size = FK_SLOT;
}

#endif
