/* SPDX-License-Identifier: MIT */
/*
 * The stream engine: message regions, completions, the messages the peer
 * sends, credits, the queue of control messages, waiting. docs/stream.md
 * explains the protocol; the comments here say why the code is shaped so.
 */
#include "stream/stream_int.h"
#include "util/util.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

/* ---- setup and teardown ---- */

int san__ss_new(san_provider *p, const struct san_stream_config *c, struct san_stream **s_out)
{
	struct san_stream *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->p = p;
	s->cfg = *c;
	s->efd = -1;
	s->interest = SAN_STREAM_IN;
	s->n_local = c->slots;
	s->s_local = c->slot_size + SS_SLOT_PAD;
	s->nrx = s->n_local + SS_CTL_SLOTS;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->send_mu, NULL);
	pthread_mutex_init(&s->recv_mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	/* The regions come first: no pool memory, no connection. */
	rc = san_dma_alloc(p, (size_t)s->n_local * s->s_local, &s->txm);
	if (!rc)
		rc = san_dma_alloc(p, (size_t)SS_TXC_SLOTS * SS_CTL_SLOT_SIZE, &s->txc);
	if (!rc)
		rc = san_dma_alloc(p, (size_t)s->nrx * s->s_local, &s->rxm);
	if (!rc) {
		s->txd_free = calloc(s->n_local, sizeof(*s->txd_free));
		s->txc_free = calloc(SS_TXC_SLOTS, sizeof(*s->txc_free));
		s->rx = calloc(s->nrx, sizeof(*s->rx));
		s->rxq = calloc(s->nrx, sizeof(*s->rxq));
		if (!s->txd_free || !s->txc_free || !s->rx || !s->rxq)
			rc = -ENOMEM;
	}
	if (rc) {
		san__ss_free(s);
		return rc;
	}
	for (unsigned i = 0; i < s->n_local; i++)
		s->txd_free[s->txd_n++] = (uint16_t)(s->n_local - 1 - i);
	for (unsigned i = 0; i < SS_TXC_SLOTS; i++)
		s->txc_free[s->txc_n++] = (uint16_t)(SS_TXC_SLOTS - 1 - i);
	*s_out = s;
	return 0;
}

void san__ss_free(struct san_stream *s)
{
	san__ss_shm_detach(s);
	san_dma_free(s->p, &s->stage);
	san_dma_free(s->p, &s->txm);
	san_dma_free(s->p, &s->txc);
	san_dma_free(s->p, &s->rxm);
	free(s->txd_free);
	free(s->txc_free);
	free(s->rx);
	free(s->rxq);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->send_mu);
	pthread_mutex_destroy(&s->recv_mu);
	free(s);
}

uint8_t *san__ss_rx_slot(const struct san_stream *s, unsigned idx)
{
	return (uint8_t *)s->rxm.addr + (size_t)idx * s->s_local;
}

/* A post failed. The connection failing is not an error of the stream
 * yet: what already arrived waits in the completion queue, ahead of the
 * failed completions (a FIN among it means end of stream, not reset), so
 * only posting stops; the completions then tell. */
static void post_failed(struct san_stream *s, int rc)
{
	if (rc == -ECONNRESET || rc == -ENOTCONN)
		s->post_err = -ECONNRESET;
	else
		san__ss_fail(s, rc);
}

static void post_rx(struct san_stream *s, unsigned idx)
{
	struct san_buf b = { san__ss_rx_slot(s, idx), s->s_local, s->hrx };
	int rc = san_recv(s->sock, &b, 1, CTX(CTX_RX, idx));

	if (rc)
		post_failed(s, rc);
}

/* Registers the regions on the connection the handshake chose and posts
 * every receive slot. The peer's slots and slot size come from its HELLO. */
int san__ss_attach(struct san_stream *s, san_socket *sock, unsigned n_peer, size_t s_peer)
{
	int rc;

	s->sock = sock;
	s->n_peer = n_peer;
	s->max_payload = (s_peer < s->s_local ? s_peer : s->s_local) - SS_HDR_LEN;
	rc = san_register_memory(sock, s->txm.addr, s->txm.len, SAN_MEM_READ, &s->htx);
	if (!rc)
		rc = san_register_memory(sock, s->txc.addr, s->txc.len, SAN_MEM_READ, &s->htxc);
	if (!rc)
		rc = san_register_memory(sock, s->rxm.addr, s->rxm.len, SAN_MEM_WRITE, &s->hrx);
	if (rc)
		return rc; /* san_close of the socket releases what was registered */
	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < s->nrx; i++)
		post_rx(s, i);
	rc = s->err;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ---- state ---- */

void san__ss_fail(struct san_stream *s, int err)
{
	if (!s->err)
		s->err = err;
	if (s->waiters)
		pthread_cond_broadcast(&s->cv);
}

uint32_t san__ss_credits(const struct san_stream *s)
{
	uint32_t used = s->tx_data_sent - s->peer_freed;

	return used >= s->n_peer ? 0 : s->n_peer - used;
}

/* A data-class message may go now: credit, a slot, and no control message
 * waiting before it (a decline must reach the peer before data). */
bool san__ss_can_send_data(const struct san_stream *s)
{
	return san__ss_credits(s) && s->txd_n && !s->ctlq_len;
}

int san__ss_reg_err(int rc)
{
	switch (rc) {
	case -ENOMEM:
	case -ENOSPC:
		return -ENOBUFS; /* WSAENOBUFS: out of pinnable memory or NIC slots */
	case -ENOTCONN:
	case -ECONNRESET:
		return -EPIPE;
	default:
		return rc;
	}
}

/* ---- sending messages ---- */

/* Posts m from a slot: data-class messages (DATA, SRC_AVAIL) take a
 * credit; DATA uses a data slot (its payload is already in place after the
 * header), everything else a control slot. Fills in the credit fields: every
 * message carries our counters, so rx_announced moves with it. Caller
 * checked that the slot (and credit) is there. */
int san__ss_send_msg(struct san_stream *s, struct ss_msg *m, bool data_class)
{
	struct san_buf b;
	unsigned idx;
	uint8_t *slot;
	int rc;

	m->h.credits = s->rx_freed;
	m->h.cacks = s->cmsg_rcvd;
	if (m->h.type == SS_DATA) {
		idx = s->txd_free[--s->txd_n];
		slot = (uint8_t *)s->txm.addr + (size_t)idx * s->s_local;
		san__ss_encode(m, slot);
		b = (struct san_buf){ slot, SS_HDR_LEN + m->h.len, s->htx };
		rc = san_send(s->sock, &b, 1, CTX(CTX_TXD, idx));
		if (rc)
			s->txd_free[s->txd_n++] = (uint16_t)idx;
	} else {
		idx = s->txc_free[--s->txc_n];
		slot = (uint8_t *)s->txc.addr + (size_t)idx * SS_CTL_SLOT_SIZE;
		b = (struct san_buf){ slot, san__ss_encode(m, slot), s->htxc };
		rc = san_send(s->sock, &b, 1, CTX(CTX_TXC, idx));
		if (rc)
			s->txc_free[s->txc_n++] = (uint16_t)idx;
	}
	if (rc) {
		post_failed(s, rc);
		return rc;
	}
	s->rx_announced = s->rx_freed;
	if (data_class)
		s->tx_data_sent++;
	s->st.msgs_sent++;
	return 0;
}

/* Queues a control message behind those already waiting (their order is
 * the wire order) and sends what the control slots allow. */
int san__ss_ctl(struct san_stream *s, const struct ss_msg *m)
{
	if (s->ctlq_len == SS_CTLQ) {
		/* The protocol bounds what can wait (docs/stream.md §3) as long
		 * as the peer takes our messages; one that keeps provoking
		 * answers (offers, doorbell requests) and does not read them
		 * gets here. */
		if (!s->err)
			san__log("stream: control messages pile up (the peer does not take them), closing");
		san__ss_fail(s, -EPROTO);
		return -EPROTO;
	}
	s->ctlq[(s->ctlq_head + s->ctlq_len++) % SS_CTLQ] = *m;
	san__ss_flush(s);
	return 0;
}

/* Sends queued control messages while control slots are free, then a
 * CREDIT if enough freed slots wait to be announced and nothing else
 * carried them. */
void san__ss_flush(struct san_stream *s)
{
	uint32_t unannounced;

	while (s->ctlq_len && s->txc_n && !s->err && !s->post_err) {
		struct ss_msg m = s->ctlq[s->ctlq_head];

		s->ctlq_head = (s->ctlq_head + 1) % SS_CTLQ;
		s->ctlq_len--;
		san__ss_send_msg(s, &m, false);
	}
	unannounced = s->rx_freed - s->rx_announced;
	/* Half the window at a time: a receiver that keeps up announces
	 * every n/2 messages, not after each (each CREDIT is a message too).
	 * A CREDIT needs no credit itself (the peer keeps SS_CTL_SLOTS extra
	 * receives), but at most SS_CREDIT_UNACKED may be unprocessed. */
	if (unannounced && unannounced >= (s->n_local + 1) / 2 && s->txc_n && !s->err && !s->post_err &&
	    s->cmsg_sent - s->peer_cacks < SS_CREDIT_UNACKED) {
		struct ss_msg m = { .h.type = SS_CREDIT };

		if (!san__ss_send_msg(s, &m, false)) {
			s->cmsg_sent++;
			s->st.credit_msgs_sent++;
		}
	}
}

/* Write flow, as sender: tells the peer we will not write into its
 * buffer (it may then reuse it). */
void san__ss_decline(struct san_stream *s)
{
	struct ss_msg m = { .h.type = SS_DONE };

	if (!s->psink_valid)
		return;
	s->psink_valid = false;
	m.u.done.kind = SS_DONE_SINK;
	m.u.done.id = s->psink_id;
	m.u.done.len = 0;
	s->st.sinks_declined++;
	san__ss_ctl(s, &m);
}

/* ---- receive slots ---- */

void san__ss_free_rx(struct san_stream *s, unsigned idx, bool data_class)
{
	if (data_class)
		s->rx_freed++;
	if (!s->err && !s->post_err)
		post_rx(s, idx);
}

static void rxq_pop(struct san_stream *s)
{
	s->rxq_head = (s->rxq_head + 1) % s->nrx;
	s->rxq_len--;
}

/* SHUT_RD: drops what waits. A buffer offered for reading is "taken"
 * unread: DONE lets its owner go on. */
void san__ss_drop_rx(struct san_stream *s)
{
	s->stage_len = 0;
	while (s->rxq_len) {
		unsigned idx = s->rxq[s->rxq_head];
		struct ss_rx *r = &s->rx[idx];

		if (r->type == SS_SRC_AVAIL) {
			struct ss_msg m = { .h.type = SS_DONE };

			m.u.done.kind = SS_DONE_SRC;
			m.u.done.id = r->src_id;
			san__ss_ctl(s, &m);
		}
		rxq_pop(s);
		san__ss_free_rx(s, idx, true);
	}
}

/* ---- what the peer sends ---- */

static void violation(struct san_stream *s, const char *what)
{
	if (!s->err)
		san__log("stream: peer broke the protocol (%s), closing", what);
	san__ss_fail(s, -EPROTO);
}

/* The counters every header carries. They only grow (mod 2^32), never
 * past what we sent. */
static int take_counters(struct san_stream *s, const struct ss_hdr *h)
{
	if (h->credits - s->peer_freed > s->tx_data_sent - s->peer_freed)
		return -EPROTO;
	if (h->cacks - s->peer_cacks > s->cmsg_sent - s->peer_cacks)
		return -EPROTO;
	s->peer_freed = h->credits;
	s->peer_cacks = h->cacks;
	return 0;
}

/* Data arrived while our buffer was offered for the write flow: the sender
 * sent it before it saw the offer (or after declining it), so it will not
 * write: revoking now cannot cut a write short (docs/stream.md §5). */
static void sink_revoke(struct san_stream *s)
{
	if (s->sink_state != SINK_OFFERED || s->sink_done)
		return;
	san_deregister_rdma_memory(s->sock, &s->sink_desc);
	s->sink_state = SINK_REVOKED;
}

static void on_msg(struct san_stream *s, unsigned idx, size_t bytes)
{
	const uint8_t *slot = san__ss_rx_slot(s, idx);
	struct ss_rx *r = &s->rx[idx];
	struct ss_msg m;

	if (san__ss_parse(slot, bytes, &m)) {
		violation(s, "malformed message");
		return;
	}
	if (take_counters(s, &m.h)) {
		violation(s, "credit counters");
		return;
	}
	s->st.msgs_received++;
	switch (m.h.type) {
	case SS_DATA:
	case SS_SRC_AVAIL:
		/* data class: holds its slot until the application took it.
		 * The peer may have sent n_local plus every credit we ever
		 * announced (some may still be on their way to it), no more. */
		if (s->rx_data_rcvd - s->rx_announced >= s->n_local) {
			violation(s, "sent without credit");
			return;
		}
		if (s->fin_rcvd) {
			violation(s, "data after end of stream");
			return;
		}
		s->rx_data_rcvd++;
		memset(r, 0, sizeof(*r));
		r->type = m.h.type;
		if (m.h.type == SS_DATA) {
			r->off = SS_HDR_LEN;
			r->len = SS_HDR_LEN + m.h.len;
			s->rx_seq += m.h.len;
		} else {
			r->src_id = m.u.src.id;
			r->src_len = m.u.src.len;
			r->desc = m.u.src.desc;
			s->rx_seq += m.u.src.len;
		}
		sink_revoke(s);
		s->rxq[(s->rxq_head + s->rxq_len++) % s->nrx] = (uint16_t)idx;
		if (s->shut_rd)
			san__ss_drop_rx(s);
		return;
	case SS_CREDIT:
		s->cmsg_rcvd++;
		break;
	case SS_SINK_AVAIL:
		if (s->psink_valid) {
			violation(s, "second SINK_AVAIL");
			return;
		}
		s->psink_valid = true;
		s->psink_id = m.u.sink.id;
		s->psink_seq = m.u.sink.seq;
		s->psink_len = m.u.sink.len;
		s->psink_desc = m.u.sink.desc;
		/* Useless unless we would write exactly at its position, in the
		 * write flow, with the stream open: decline at once, so the
		 * receiver need not wait. */
		if (s->cfg.flow != SAN_STREAM_FLOW_WRITE || m.u.sink.seq != s->tx_seq || s->shut_wr ||
		    s->fin_sent)
			san__ss_decline(s);
		break;
	case SS_DONE:
		if (m.u.done.kind == SS_DONE_SRC) {
			if (!s->src_active || s->src_done || m.u.done.id != s->src_id) {
				violation(s, "DONE for no buffer of ours");
				return;
			}
			s->src_done = true;
		} else {
			if (s->sink_state == SINK_NONE || s->sink_done || m.u.done.id != s->sink_id ||
			    m.u.done.len > s->sink_len ||
			    (s->sink_state == SINK_REVOKED && m.u.done.len)) {
				violation(s, "DONE for no offer of ours");
				return;
			}
			if (!m.u.done.len) {
				/* Declined (or, once revoked, the answer we waited
				 * for): the buffer is the receiver's again. */
				s->sink_state = SINK_NONE;
			} else {
				s->sink_done = true;
				s->sink_got = m.u.done.len;
				s->rx_seq += m.u.done.len;
			}
		}
		break;
	case SS_DOORBELL:
		if (!s->shm) {
			violation(s, "DOORBELL without shared rings");
			return;
		}
		break; /* its arrival woke us: the rings say the rest */
	case SS_FIN:
		if (s->fin_rcvd) {
			violation(s, "second FIN");
			return;
		}
		s->fin_rcvd = true;
		break;
	default:
		violation(s, "handshake message on an open stream");
		return;
	}
	san__ss_free_rx(s, idx, false);
}

static void on_comp(struct san_stream *s, const struct san_completion *c)
{
	unsigned kind = (unsigned)((uintptr_t)c->ctx & 7), idx = (unsigned)((uintptr_t)c->ctx >> 3);

	switch (kind) {
	case CTX_TXD:
		s->txd_free[s->txd_n++] = (uint16_t)idx;
		break;
	case CTX_TXC:
		s->txc_free[s->txc_n++] = (uint16_t)idx;
		break;
	case CTX_RX:
		if (!c->status) {
			if (!s->err)
				on_msg(s, idx, c->bytes);
			return;
		}
		if (c->status == -EMSGSIZE)
			violation(s, "message larger than a slot");
		else
			san__ss_fail(s, c->status == -ECANCELED ? -ECONNRESET : c->status);
		return;
	case CTX_READ:
		s->rd_state = 2;
		s->rd_status = c->status;
		return;
	case CTX_WRITE:
		s->wr_state = 2;
		s->wr_status = c->status;
		return;
	}
	if (c->status && c->status != -ECANCELED)
		san__ss_fail(s, c->status);
}

/* ---- waiting ---- */

static void reap(struct san_stream *s, int n, const struct san_completion *c)
{
	for (int i = 0; i < n; i++)
		on_comp(s, &c[i]);
	if (n < 0 && n != -ENOTCONN)
		san__ss_fail(s, n);
}

/* Processes the completions that wait; with timeout_ms > 0 and none
 * waiting, first waits up to that long for one. One thread polls the
 * socket at a time (san_poll would split completions between threads);
 * the others sleep on cv until it has processed what it got. */
void san__ss_progress(struct san_stream *s, int timeout_ms)
{
	struct san_completion c[32];
	int n;

	if (s->polling) {
		if (timeout_ms > 0) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += (long)timeout_ms * 1000000;
			while (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			s->waiters++;
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
			s->waiters--;
		}
		return;
	}
	s->polling = true;
	if (timeout_ms > 0) {
		uint64_t t0 = san__now_ns(), end = t0 + (uint64_t)s->cfg.spin_us * 1000;

		/* Anything to announce goes out before we wait. */
		san__ss_flush(s);
		pthread_mutex_unlock(&s->mu);
		/* Spin first (san_poll's own spin never yields): after a few
		 * microseconds, yield at each turn, so that a peer sharing our
		 * CPU runs; a sleep and its wake-up cost 20-25 us here. */
		do {
			n = san_poll(s->sock, c, 32, 0);
			if (n)
				break;
			if (san__now_ns() - t0 > 5000)
				sched_yield();
			else
				san__cpu_relax();
		} while (san__now_ns() < end);
		if (!n)
			n = san_poll(s->sock, c, 32, timeout_ms);
		pthread_mutex_lock(&s->mu);
	} else {
		n = san_poll(s->sock, c, 32, 0);
	}
	reap(s, n, c);
	while (n == 32) {
		n = san_poll(s->sock, c, 32, 0);
		reap(s, n, c);
	}
	s->polling = false;
	san__ss_flush(s);
	if (s->waiters)
		pthread_cond_broadcast(&s->cv);
}

/* ---- readiness ---- */

int san__ss_ready(struct san_stream *s)
{
	int r = 0;

	if (s->shm)
		return san__ss_shm_ready(s);

	if (s->rxq_len || s->stage_len || s->fin_rcvd || s->shut_rd || s->err || s->sink_done)
		r |= SAN_STREAM_IN;
	if (s->err || s->post_err || s->shut_wr || san__ss_can_send_data(s))
		r |= SAN_STREAM_OUT;
	if (s->err)
		r |= SAN_STREAM_ERR;
	if (s->fin_rcvd)
		r |= SAN_STREAM_HUP;
	return r;
}

/* The end of every call: make the fd tell the truth. Read (clear) it
 * first, then drain the completions (san_socket_event_fd's protocol: one
 * that arrives after the drain signals it again), then signal it ourselves
 * if the stream is ready for what the application waits for. */
void san__ss_fd_update(struct san_stream *s)
{
	eventfd_t v;

	if (s->efd < 0 || s->polling)
		return;
	eventfd_read(s->efd, &v);
	san__ss_progress(s, 0);
	/* Shared rings change without a completion: ask the peer for a
	 * DOORBELL first, then look (§7; the order matters). */
	if (s->shm && !(san__ss_ready(s) & s->interest))
		san__ss_shm_arm(s, s->interest);
	if (san__ss_ready(s) & s->interest)
		eventfd_write(s->efd, 1);
}
