/* SPDX-License-Identifier: MIT */
/*
 * san_stream_send: small data copied through the send region (one DATA
 * message per slot), large data moved by RDMA from the application's
 * buffer (read flow: SRC_AVAIL and wait for the receiver's DONE; write
 * flow: into the buffer the receiver offered, then DONE). docs/stream.md
 * §4-§5.
 */
#include "stream/stream_int.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

/* The send's answer for a dead or closed stream. */
static ssize_t tx_err(const struct san_stream *s)
{
	if (s->err && s->err != -ECONNRESET && s->err != -ENOTCONN)
		return s->err; /* -EPROTO, -ENOMEM */
	return -EPIPE; /* shut down for writing, or the connection is gone */
}

static bool tx_dead(const struct san_stream *s)
{
	return s->err || s->post_err || s->shut_wr || s->closing;
}

/* One DATA message of len bytes from buf. */
static int post_data(struct san_stream *s, const uint8_t *buf, size_t len)
{
	unsigned idx = s->txd_free[s->txd_n - 1];
	uint8_t *slot = (uint8_t *)s->txm.addr + (size_t)idx * s->s_local;
	struct ss_msg m = { .h.type = SS_DATA, .h.len = (uint32_t)len };
	int rc;

	memcpy(slot + SS_HDR_LEN, buf, len);
	rc = san__ss_send_msg(s, &m, true);
	if (rc)
		return rc;
	s->tx_seq += len;
	s->st.copy_bytes_sent += len;
	s->st.bytes_sent += len;
	return 0;
}

/* Copies through the message region. Non-blocking: what the credits allow
 * now. Returns bytes sent (> 0), or -errno with nothing sent. */
static ssize_t tx_copy(struct san_stream *s, const uint8_t *buf, size_t len, bool nb)
{
	size_t sent = 0;

	while (sent < len) {
		size_t n;

		if (tx_dead(s))
			return sent ? (ssize_t)sent : tx_err(s);
		if (!san__ss_can_send_data(s)) {
			san__ss_progress(s, 0);
			if (san__ss_can_send_data(s) || tx_dead(s))
				continue;
			if (nb)
				return sent ? (ssize_t)sent : -EAGAIN;
			s->st.credit_waits++;
			san__ss_progress(s, SS_SLICE_MS);
			continue;
		}
		/* Nothing may overtake an offer we have not answered. */
		if (s->psink_valid)
			san__ss_decline(s);
		if (!san__ss_can_send_data(s))
			continue;
		n = SAN_MIN(len - sent, s->max_payload);
		if (post_data(s, buf + sent, n))
			continue; /* failed: tx_dead now */
		sent += n;
	}
	return (ssize_t)sent;
}

/* Waits until cond holds or the stream fails (then returns its error). */
#define WAIT_UNTIL(s, cond)                                        \
	do {                                                       \
		while (!(cond) && !(s)->err)                       \
			san__ss_progress((s), SS_SLICE_MS);        \
	} while (0)
/* (A failed post alone does not end these waits: the completions that
 * follow it do, through s->err, once what arrived before is processed.) */

/* Not an errno: the buffer cannot be registered (read-only or file-backed
 * memory the NIC cannot pin), so it is copied instead. */
#define FALLBACK (-100000)

/* Read flow: exposes [buf, buf+len) for the peer to RDMA-read and waits
 * for its DONE. Returns 0, FALLBACK or -errno. */
static int tx_read_flow(struct san_stream *s, const uint8_t *buf, size_t len)
{
	struct ss_msg m = { .h.type = SS_SRC_AVAIL };
	struct san_rdma_desc d;
	int rc;

	rc = san_register_rdma_memory(s->sock, (void *)buf, len, SAN_MEM_READ, &d);
	if (rc == -EFAULT || rc == -EOPNOTSUPP)
		return FALLBACK; /* read-only or file-backed: the NIC cannot pin it */
	if (rc)
		return san__ss_reg_err(rc);
	/* SRC_AVAIL is data class (it holds a slot of the peer until read)
	 * but small: it travels in a control slot. */
	WAIT_UNTIL(s, (san__ss_credits(s) && s->txc_n && !s->ctlq_len) || tx_dead(s));
	if (tx_dead(s)) {
		san_deregister_rdma_memory(s->sock, &d);
		return (int)tx_err(s);
	}
	m.u.src.id = ++s->next_id;
	m.u.src.len = len;
	m.u.src.desc = d;
	s->src_active = true;
	s->src_done = false;
	s->src_id = m.u.src.id;
	rc = san__ss_send_msg(s, &m, true);
	if (!rc) {
		s->tx_seq += len;
		s->st.src_avail_sent++;
		/* The peer reads when its application asks for the bytes. A
		 * shutdown or close by another thread does not end the wait:
		 * the peer may be reading right now (R1.8 order: DONE first). */
		WAIT_UNTIL(s, s->src_done);
	}
	s->src_active = false;
	/* After DONE the peer no longer touches the buffer: revoke the key
	 * (the registration stays in the cache for the next send). */
	san_deregister_rdma_memory(s->sock, &d);
	if (!s->src_done)
		return (int)tx_err(s);
	s->st.bytes_sent += len;
	return 0;
}

/* Write flow: RDMA-writes up to the offered length into the peer's buffer,
 * then DONE{len}. Returns bytes written, FALLBACK, or -errno. */
static ssize_t tx_write_flow(struct san_stream *s, const uint8_t *buf, size_t len)
{
	size_t n = SAN_MIN(len, s->psink_len);
	struct ss_msg m = { .h.type = SS_DONE };
	struct san_buf b;
	san_handle h;
	int rc;

	rc = san_register_memory(s->sock, (void *)buf, n, SAN_MEM_READ, &h);
	if (rc == -EFAULT || rc == -EOPNOTSUPP)
		return FALLBACK;
	if (rc)
		return san__ss_reg_err(rc);
	b = (struct san_buf){ (void *)buf, n, h };
	rc = san_rdma_write(s->sock, &b, 1, &s->psink_desc, 0, CTX(CTX_WRITE, 0));
	if (!rc) {
		s->wr_state = 1;
		/* DONE goes now, not after the write's acknowledgement: the
		 * peer's NIC handles one connection's frames in order, so the
		 * payload is placed before DONE is received; the receiver
		 * returns a hop earlier. (If the write were refused, the peer
		 * revoked its own offer: only it reads the wrong bytes, and
		 * the stream fails below.) */
		s->psink_valid = false;
		m.u.done.kind = SS_DONE_SINK;
		m.u.done.id = s->psink_id;
		m.u.done.len = n;
		san__ss_ctl(s, &m);
		/* Bounded: the peer's NIC places it without its application;
		 * the buffer is ours again once it acknowledged. */
		WAIT_UNTIL(s, s->wr_state == 2);
		if (s->wr_state != 2)
			rc = s->err; /* the connection failed first */
		else
			rc = s->wr_status;
		s->wr_state = 0;
	}
	san_deregister_memory(s->sock, h);
	if (rc) {
		/* The peer refused a write into the buffer it offered, or the
		 * connection is gone: either way the stream is over. */
		if (rc != -ECONNRESET && rc != -ENOTCONN && rc != -ECANCELED)
			san__ss_fail(s, -EPROTO);
		else
			san__ss_fail(s, -ECONNRESET);
		return tx_err(s);
	}
	s->tx_seq += n;
	s->st.sinks_used++;
	s->st.rdma_write_bytes += n;
	s->st.bytes_sent += n;
	return (ssize_t)n;
}

/* Write flow: waits up to sink_wait_us for the receiver's offer (it makes
 * one when its application blocks in recv with a large buffer). Spins:
 * the offer is usually a few microseconds away, and a sleep costs more. */
static void wait_sink(struct san_stream *s)
{
	uint64_t end = san__now_ns() + (uint64_t)s->cfg.sink_wait_us * 1000;

	for (;;) {
		san__ss_progress(s, 0);
		if (s->psink_valid || tx_dead(s) || san__now_ns() >= end)
			return;
		/* Let a receiving thread of ours at the stream meanwhile. */
		pthread_mutex_unlock(&s->mu);
		san__cpu_relax();
		pthread_mutex_lock(&s->mu);
	}
}

static ssize_t tx_large(struct san_stream *s, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= s->cfg.rdma_threshold) {
		ssize_t n;

		if (tx_dead(s))
			return off ? (ssize_t)off : tx_err(s);
		if (s->cfg.flow == SAN_STREAM_FLOW_WRITE) {
			if (!s->psink_valid)
				wait_sink(s);
			if (s->psink_valid && s->psink_seq == s->tx_seq && !s->ctlq_len) {
				n = tx_write_flow(s, buf + off, len - off);
				if (n == FALLBACK)
					break;
				if (n < 0)
					return off ? (ssize_t)off : n;
				off += (size_t)n;
				continue;
			}
		}
		if (s->psink_valid)
			san__ss_decline(s);
		n = tx_read_flow(s, buf + off, len - off);
		if (n == FALLBACK)
			break;
		if (n < 0)
			return off ? (ssize_t)off : n;
		return (ssize_t)len;
	}
	if (off < len) {
		ssize_t n = tx_copy(s, buf + off, len - off, false);

		if (n < 0)
			return off ? (ssize_t)off : n;
		off += (size_t)n;
	}
	return (ssize_t)off;
}

ssize_t san__ss_tx(struct san_stream *s, const uint8_t *buf, size_t len, bool nb)
{
	if (s->shm)
		return san__ss_shm_tx(s, buf, len, nb);
	if (tx_dead(s))
		return tx_err(s);
	if (!len)
		return 0;
	if (!nb && s->cfg.rdma_threshold && len >= s->cfg.rdma_threshold)
		return tx_large(s, buf, len);
	return tx_copy(s, buf, len, nb);
}
