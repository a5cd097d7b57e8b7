/* SPDX-License-Identifier: MIT */
/*
 * san_stream_recv: copies DATA out of the receive slots, RDMA-reads the
 * buffers the sender offered (read flow), or offers the application's
 * buffer for the sender to write into (write flow). docs/stream.md §4-§5.
 */
#include "stream/stream_int.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

static void rxq_pop(struct san_stream *s)
{
	s->rxq_head = (s->rxq_head + 1) % s->nrx;
	s->rxq_len--;
}

/* Reads up to len bytes of the source at the head of the queue straight
 * into the application's buffer. Waits for the read even in non-blocking
 * mode: the bytes are there, the peer's NIC serves them without its
 * application. Returns bytes read or -errno. */
static ssize_t rx_read(struct san_stream *s, struct ss_rx *r, unsigned idx, uint8_t *buf, size_t len)
{
	size_t n = SAN_MIN(len, r->src_len - r->src_off);
	struct san_buf b;
	san_handle h;
	int rc;

	rc = san_register_memory(s->sock, buf, n, SAN_MEM_WRITE, &h);
	if (rc)
		return san__ss_reg_err(rc) == -EPIPE ? -ECONNRESET : san__ss_reg_err(rc);
	b = (struct san_buf){ buf, n, h };
	rc = san_rdma_read(s->sock, &b, 1, &r->desc, r->src_off, CTX(CTX_READ, 0));
	if (!rc) {
		s->rd_state = 1;
		while (s->rd_state != 2 && !s->err)
			san__ss_progress(s, SS_SLICE_MS);
		rc = s->rd_state == 2 ? s->rd_status : s->err;
		s->rd_state = 0;
	}
	san_deregister_memory(s->sock, h);
	if (rc) {
		/* The sender revoked or never had what it offered: broken. */
		san__ss_fail(s, rc == -ECONNRESET || rc == -ENOTCONN || rc == -ECANCELED ? -ECONNRESET
											  : -EPROTO);
		return s->err;
	}
	r->src_off += n;
	s->st.rdma_read_ops++;
	s->st.rdma_read_bytes += n;
	s->st.bytes_received += n;
	if (r->src_off == r->src_len) {
		struct ss_msg m = { .h.type = SS_DONE };

		/* Only now may the sender deregister and reuse its buffer. */
		m.u.done.kind = SS_DONE_SRC;
		m.u.done.id = r->src_id;
		san__ss_ctl(s, &m);
		rxq_pop(s);
		san__ss_free_rx(s, idx, true);
		san__ss_flush(s);
	}
	return (ssize_t)n;
}

/* A receive much shorter than the source at the head: one RDMA read of up
 * to SS_STAGE bytes into the staging area, handed out by this receive and
 * the next ones (one round trip per 256 KiB instead of one per receive).
 * Returns 0, or -errno if the area could not be set up (then the caller
 * reads straight into the short buffer). */
static int stage_fill(struct san_stream *s, struct ss_rx *r, unsigned idx)
{
	ssize_t n;

	/* Pool memory: registering it (in rx_read) is a lookup, no pin. */
	if (!s->stage.addr && san_dma_alloc(s->p, SS_STAGE, &s->stage))
		return -ENOMEM;
	n = rx_read(s, r, idx, s->stage.addr, SS_STAGE);
	if (n < 0)
		return (int)n;
	s->stage_off = 0;
	s->stage_len = (size_t)n;
	/* rx_read counted these as received; they are, once handed out. */
	s->st.bytes_received -= (uint64_t)n;
	return 0;
}

static size_t stage_take(struct san_stream *s, uint8_t *buf, size_t len)
{
	size_t n = SAN_MIN(len, s->stage_len);

	memcpy(buf, (uint8_t *)s->stage.addr + s->stage_off, n);
	s->stage_off += n;
	s->stage_len -= n;
	s->st.bytes_received += n;
	return n;
}

/* Takes what waits: staged bytes first (they come before the queue), then
 * DATA while it fits, or one RDMA read. */
static ssize_t rx_consume(struct san_stream *s, uint8_t *buf, size_t len)
{
	size_t got = 0;

	if (s->stage_len)
		return (ssize_t)stage_take(s, buf, len);
	while (got < len && s->rxq_len) {
		unsigned idx = s->rxq[s->rxq_head];
		struct ss_rx *r = &s->rx[idx];
		size_t n;

		if (r->type == SS_SRC_AVAIL) {
			ssize_t rn;

			if (got)
				break; /* return what we have; the read comes next */
			if (len < SS_STAGE_BELOW && r->src_len - r->src_off > len &&
			    !stage_fill(s, r, idx))
				return s->stage_len ? (ssize_t)stage_take(s, buf, len) : s->err;
			if (s->err)
				return s->err;
			rn = rx_read(s, r, idx, buf, len);
			return rn;
		}
		n = SAN_MIN(len - got, (size_t)(r->len - r->off));
		memcpy(buf + got, san__ss_rx_slot(s, idx) + r->off, n);
		r->off += (uint32_t)n;
		got += n;
		if (r->off == r->len) {
			rxq_pop(s);
			san__ss_free_rx(s, idx, true);
		}
	}
	s->st.copy_bytes_received += got;
	s->st.bytes_received += got;
	san__ss_flush(s); /* credits */
	return (ssize_t)got;
}

/* Write flow: offers [buf, buf+len) to the sender. Returns 0 or -errno
 * (then nothing was offered). */
static int rx_offer(struct san_stream *s, uint8_t *buf, size_t len)
{
	struct ss_msg m = { .h.type = SS_SINK_AVAIL };
	struct san_rdma_desc d;
	int rc;

	rc = san_register_rdma_memory(s->sock, buf, len, SAN_MEM_WRITE, &d);
	if (rc)
		return rc;
	s->sink_state = SINK_OFFERED;
	s->sink_id = ++s->next_id;
	s->sink_len = len;
	s->sink_got = 0;
	s->sink_done = false;
	s->sink_desc = d;
	m.u.sink.id = s->sink_id;
	m.u.sink.seq = s->rx_seq;
	m.u.sink.len = len;
	m.u.sink.desc = d;
	s->st.sink_avail_sent++;
	return san__ss_ctl(s, &m);
}

/* The offer is answered with data (DONE{len}): the bytes are in the
 * buffer. Deregister (the sender no longer touches it) and return them. */
static ssize_t rx_sink_done(struct san_stream *s)
{
	ssize_t n = (ssize_t)s->sink_got;

	san_deregister_rdma_memory(s->sock, &s->sink_desc);
	s->sink_state = SINK_NONE;
	s->sink_done = false;
	s->st.bytes_received += (uint64_t)n;
	return n;
}

ssize_t san__ss_rx(struct san_stream *s, uint8_t *buf, size_t len, bool nb)
{
	bool offered = false, tried = false;

	if (s->shm) {
		san__ss_progress(s, 0);
		return san__ss_shm_rx(s, buf, len, nb);
	}
	for (;;) {
		san__ss_progress(s, 0);
		if (offered) {
			if (s->sink_state == SINK_OFFERED && s->sink_done)
				return rx_sink_done(s);
			if (s->sink_state == SINK_NONE) {
				/* Declined: the buffer is ours again. */
				san_deregister_rdma_memory(s->sock, &s->sink_desc);
				offered = false;
			} else if (s->sink_state == SINK_OFFERED && s->err) {
				/* Nothing lands on a failed connection any more. */
				san_deregister_rdma_memory(s->sock, &s->sink_desc);
				s->sink_state = SINK_NONE;
				offered = false;
			} else if (s->sink_state == SINK_REVOKED) {
				offered = false; /* data came first: revoked, safe */
			}
		}
		/* While the offer stands the sender may be writing into buf:
		 * return nothing else until it answered. */
		if (!offered) {
			if ((s->rxq_len || s->stage_len) && !s->shut_rd)
				return rx_consume(s, buf, len);
			if (s->shut_rd)
				return 0;
			/* A reset after FIN is the peer closing: end of stream.
			 * Anything else (a broken protocol) is reported. */
			if (s->err && s->err != -ECONNRESET)
				return s->err;
			if (s->fin_rcvd)
				return 0;
			if (s->err)
				return s->err;
			if (!len)
				return 0;
			if (nb)
				return -EAGAIN;
			if (s->cfg.flow == SAN_STREAM_FLOW_WRITE && s->cfg.rdma_threshold &&
			    len >= s->cfg.rdma_threshold && !tried && s->sink_state == SINK_NONE &&
			    !s->closing) {
				tried = true;
				if (!rx_offer(s, buf, len))
					offered = true;
				continue;
			}
		}
		san__ss_progress(s, SS_SLICE_MS);
	}
}
