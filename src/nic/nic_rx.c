/* SPDX-License-Identifier: MIT */
/*
 * Receive of one connection, under the engine lock (nic_ep.h): one SQE in
 * flight, or none while an app thread spins and reads the header with
 * recv() (nic_uring.c, "Reading headers in step"). A header is read into
 * the ep, validated, and decides where the payload goes: READ_FIXED into
 * the pinned pages of a posted receive, of a key's registration (peer RDMA
 * write) or of our RDMA read's sink; refused payload is read into scratch
 * and thrown away.
 */
#include "nic_ep.h"

#include <errno.h>
#include <sys/socket.h>

/* The idx of an rx SQE: 0, or the header RECV linked behind a payload read. */
#define RX_UD_LINKED_HDR 1u

static void rx_flush_resps(struct uring_ep *ep);

static int wire_errno(uint32_t st)
{
	switch (st) {
	case SAN_WIRE_EACCES: return -EACCES;
	case SAN_WIRE_ERANGE: return -ERANGE;
	default: return -EFAULT;
	}
}

static void rx_frame_end(struct uring_ep *ep)
{
	struct san_nic_op *op = ep->rx_op;

	switch (ep->rx_after) {
	case RXA_RECV:
		op->bytes = ep->rx_placed;
		if (ep->rx_hdr.len > ep->rx_placed)
			op_status(op, -EMSGSIZE);
		op_event(ep, op);
		break;
	case RXA_WRITE:
		if (ep->rx_key)
			san__uring_key_put(ep->rx_key);
		san__uring_queue_resp(ep, SAN_WIRE_WRITE_ACK, ep->rx_hdr.id, ep->rx_status, NULL, 0, 0);
		break;
	case RXA_READ_RESP:
		op->bytes = ep->rx_placed;
		op_event(ep, op);
		break;
	}
	ep->rx_op = NULL;
	ep->rx_key = NULL;
	ep->rx_after = 0;
	ep->rx_state = RX_HDR;
	ep->rx_hdr_got = 0;
}

static void rx_start_drain(struct uring_ep *ep, size_t len)
{
	if (!len) {
		rx_frame_end(ep);
		return;
	}
	ep->rx_state = RX_DRAIN;
	ep->rx_drain_left = len;
}

static void rx_normalize(struct uring_ep *ep)
{
	while (ep->rx_idx < ep->rx_nsge && ep->rx_off == ep->rx_sge[ep->rx_idx].len) {
		ep->rx_idx++;
		ep->rx_off = 0;
	}
}

static void rx_payload_done(struct uring_ep *ep)
{
	if (ep->rx_after == RXA_RECV && ep->rx_hdr.len > ep->rx_placed)
		rx_start_drain(ep, ep->rx_hdr.len - ep->rx_placed);
	else
		rx_frame_end(ep);
}

/* n bytes of the payload were placed (by the ring's read or by recv()). */
static void rx_payload_got(struct uring_ep *ep, size_t n)
{
	ep->rx_off += n;
	ep->rx_left -= n;
	ep->rx_placed += n;
	rx_normalize(ep);
	if (!ep->rx_left)
		rx_payload_done(ep);
}

static void rx_start_payload(struct uring_ep *ep, struct san_nic_sge *sge, int n, size_t len)
{
	ep->rx_sge = sge;
	ep->rx_nsge = n;
	ep->rx_idx = 0;
	ep->rx_off = 0;
	ep->rx_left = len;
	ep->rx_placed = 0;
	if (!len) {
		rx_payload_done(ep);
		return;
	}
	ep->rx_state = RX_PAYLOAD;
	rx_normalize(ep);
}

void san__uring_rx_begin_recv(struct uring_ep *ep)
{
	struct san_nic_op *op = ep->recv_head;

	ep->recv_head = op->next;
	if (!ep->recv_head)
		ep->recv_tail = &ep->recv_head;
	ep->rx_op = op;
	ep->rx_after = RXA_RECV;
	rx_start_payload(ep, op->sge, op->nsge, SAN_MIN(ep->rx_hdr.len, op->len));
}

static struct san_nic_op *await_pop(struct uring_ep *ep, int opcode, uint64_t id)
{
	struct san_nic_op *op = ep->await_head;

	if (!op || op->opcode != opcode || op->id != id)
		return NULL;
	ep->await_head = op->next;
	if (!ep->await_head)
		ep->await_tail = &ep->await_head;
	return op;
}

static void rx_header(struct uring_ep *ep)
{
	struct san_wire_hdr *h = &ep->rx_hdr;
	struct uring_key *k = NULL;
	struct san_nic_op *op;
	int st;

	if (san__wire_hdr_decode(ep->rx_hdr_buf, HDR_LEN, ep->nic->max_msg, h)) {
		san__log("connection %016llx: malformed frame header, closing",
			 (unsigned long long)ep->nonce);
		san__uring_ep_fail(ep, -EPROTO);
		return;
	}
	switch (h->type) {
	case SAN_WIRE_SEND:
		if (!ep->recv_head) {
			ep->rx_state = RX_WAIT_RECV; /* back-pressure: stop reading */
			return;
		}
		san__uring_rx_begin_recv(ep);
		return;
	case SAN_WIRE_WRITE:
		ep->rx_after = RXA_WRITE;
		ep->rx_status = san__uring_key_check(ep, h, SAN_MEM_WRITE, &k);
		if (ep->rx_status) {
			rx_start_drain(ep, h->len);
			return;
		}
		k->refs++;
		ep->rx_key = k;
		ep->rx_one.addr = k->addr + h->offset;
		ep->rx_one.len = h->len;
		ep->rx_one.mr = &k->mr->pub;
		rx_start_payload(ep, &ep->rx_one, 1, h->len);
		return;
	case SAN_WIRE_READ_REQ:
		st = san__uring_key_check(ep, h, SAN_MEM_READ, &k);
		ep->rx_hdr_got = 0;
		ep->rx_state = RX_HDR;
		san__uring_queue_resp(ep, SAN_WIRE_READ_RESP, h->id, st, k, h->offset, h->len);
		return;
	case SAN_WIRE_WRITE_ACK:
		op = await_pop(ep, SAN_OP_RDMA_WRITE, h->id);
		if (!op)
			break;
		if (h->status)
			op_status(op, wire_errno(h->status));
		else
			op->bytes = op->len;
		ep->rx_hdr_got = 0;
		ep->rx_state = RX_HDR;
		op_event(ep, op);
		return;
	case SAN_WIRE_READ_RESP:
		op = await_pop(ep, SAN_OP_RDMA_READ, h->id);
		if (!op)
			break;
		if (h->status) {
			op_status(op, wire_errno(h->status));
			ep->rx_hdr_got = 0;
			ep->rx_state = RX_HDR;
			op_event(ep, op);
			return;
		}
		if (h->len != op->len) {
			/* Put it back for the reaper, then fail. */
			op->next = ep->await_head;
			ep->await_head = op;
			if (ep->await_tail == &ep->await_head)
				ep->await_tail = &op->next;
			break;
		}
		ep->rx_op = op;
		ep->rx_after = RXA_READ_RESP;
		rx_start_payload(ep, op->sge, op->nsge, h->len);
		return;
	}
	san__log("connection %016llx: unexpected response, closing", (unsigned long long)ep->nonce);
	san__uring_ep_fail(ep, -EPROTO);
}

/* The payload read [len] ends the frame and nothing has to happen between
 * it and reading the next header: the header's RECV can be linked behind
 * it, one submission for both (a small message then costs one io_uring_enter
 * less). A short read breaks the link: the RECV completes -ECANCELED. */
static bool rx_can_link(const struct uring_ep *ep, size_t len)
{
	if (len != ep->rx_left || san__uring_spinning(ep->nic))
		return false;
	if (ep->rx_after == RXA_RECV && ep->rx_hdr.len > ep->rx_placed + len)
		return false; /* a drain follows */
	return ep->resp_queued + 1 < URING_MAX_RESP_QUEUED;
}

/* A large payload read should not complete once per TCP segment (at
 * 1 MiB that was 12 reads a frame, each a trip through the ring): with
 * SO_RCVLOWAT at the read's length, up to URING_LOWAT_MAX, the kernel
 * reports the socket readable only when that much is there (it clamps the
 * value to what the receive buffer can hold; EOF and errors still wake
 * it). The cap keeps sender and receiver copying side by side on very
 * large frames. Every other read, the next header's above all, goes back
 * to 1, since a smaller frame would never reach a high mark. One
 * setsockopt per change, only on TCP. */
static void rx_set_lowat(struct uring_ep *ep, size_t len)
{
	int v = ep->rx_tcp && len >= URING_LOWAT_MIN ? (int)SAN_MIN(len, (size_t)URING_LOWAT_MAX) : 1;

	if (v == ep->rx_lowat || (v == 1 && !ep->rx_lowat))
		return;
	if (setsockopt(ep->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)))
		v = 1; /* then reads take what comes */
	ep->rx_lowat = v;
}

/* A header by recv() (an app thread spins, see nic_uring.c). Returns true
 * when it read something (go on reading), false when the ep waits: on the
 * sync list if nothing was there, failed if the peer is gone. */
static bool rx_sync_hdr(struct uring_ep *ep)
{
	ssize_t r;

	rx_set_lowat(ep, 0);
	r = recv(ep->fd, ep->rx_hdr_buf + ep->rx_hdr_got, HDR_LEN - ep->rx_hdr_got, MSG_DONTWAIT);
	if (r > 0) {
		ep->rx_hdr_got += (size_t)r;
		if (ep->rx_hdr_got == HDR_LEN)
			rx_header(ep);
		return true;
	}
	if (r < 0 && errno == EINTR)
		return true;
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		san__uring_sync_add(ep);
		return false;
	}
	san__uring_ep_fail(ep, r ? -errno : -ECONNRESET);
	return false;
}

static bool rx_may_sync(const struct uring_ep *ep)
{
	return ep->rx_state == RX_HDR && san__uring_spinning(ep->nic) &&
	       (ep->sync_pprev || ep->nic->nsync < URING_SYNC_MAX_EPS);
}

/* A payload whose place is pool memory (owned_map: its mapping is the
 * pinned pages, as for tx_direct) by recv() into its address, while an app
 * thread spins, as the header before it: the READ_FIXED's trip through the
 * ring saved. Up to URING_LOWAT_MIN bytes (larger payloads are read behind
 * a high mark). */
static bool rx_may_sync_payload(const struct uring_ep *ep)
{
	return ep->rx_state == RX_PAYLOAD && ep->rx_left <= URING_LOWAT_MIN &&
	       ep->rx_sge[ep->rx_idx].mr->owned_map && san__uring_spinning(ep->nic);
}

/* Returns true when it read something; else (nothing there yet, end of
 * stream, an error) the ring's READ_FIXED takes over and reports it. */
static bool rx_sync_payload(struct uring_ep *ep)
{
	const struct san_nic_sge *sg = &ep->rx_sge[ep->rx_idx];
	size_t len = SAN_MIN(sg->len - ep->rx_off, ep->rx_left);
	ssize_t r;

	rx_set_lowat(ep, 0);
	r = recv(ep->fd, (void *)(sg->addr + ep->rx_off), len, MSG_DONTWAIT);
	if (r <= 0)
		return false;
	if (!ep->rx_placed)
		atomic_fetch_add_explicit(&ep->nic->rx_direct, 1, memory_order_relaxed);
	rx_payload_got(ep, (size_t)r);
	return true;
}

/* lazy: a frame just ended (rx_cqe). Its peer most likely waits for our
 * answer rather than sending more, so a recv() now would find nothing and
 * only delay handing the completion to the app: the next pass looks. */
static void rx_step(struct uring_ep *ep, bool lazy)
{
	struct uring_nic *nic = ep->nic;
	struct io_uring_sqe *sqe;

	for (;;) {
		if (ep->rx_inflight || ep->state != SAN_NIC_EP_OPEN ||
		    ep->rx_state == RX_WAIT_RECV)
			return;
		/* A peer that sends requests and never reads our responses:
		 * stop reading (back-pressure) instead of queueing without
		 * bound. */
		if (ep->resp_queued >= URING_MAX_RESP_QUEUED)
			return;
		if (rx_may_sync_payload(ep) && rx_sync_payload(ep)) {
			lazy = ep->rx_state == RX_HDR; /* the frame ended */
			continue;
		}
		if (!rx_may_sync(ep))
			break;
		if (lazy) {
			san__uring_sync_add(ep);
			return;
		}
		if (!rx_sync_hdr(ep))
			return;
	}
	san__uring_sync_del(ep); /* its header is read in the ring from now */
	sqe = san__uring_sqe(nic);
	ep->rx_inflight = 1;
	if (ep->rx_state != RX_PAYLOAD)
		rx_set_lowat(ep, 0);
	switch (ep->rx_state) {
	case RX_HDR:
		io_uring_prep_recv(sqe, ep->fd, ep->rx_hdr_buf + ep->rx_hdr_got,
				   HDR_LEN - ep->rx_hdr_got, MSG_WAITALL);
		break;
	case RX_PAYLOAD: {
		const struct san_nic_sge *sg = &ep->rx_sge[ep->rx_idx];
		unsigned slot;
		size_t len = SAN_MIN(sg->len - ep->rx_off, ep->rx_left);

		len = san__uring_mr_span((const struct uring_mr *)sg->mr, sg->addr + ep->rx_off, len,
					 &slot);
		rx_set_lowat(ep, len);
		io_uring_prep_read_fixed(sqe, ep->fd, (void *)(sg->addr + ep->rx_off), (unsigned)len, 0,
					 (int)slot);
		/* Not behind a high mark: the header's RECV would wait for it. */
		if (ep->rx_lowat <= 1 && rx_can_link(ep, len)) {
			struct io_uring_sqe *h;

			sqe->flags |= IOSQE_IO_LINK;
			sqe->user_data = ud_of(ep, UD_RX, 0);
			h = san__uring_sqe(nic);
			io_uring_prep_recv(h, ep->fd, ep->rx_hdr_buf, HDR_LEN, MSG_WAITALL);
			sqe = h;
			ep->rx_linked = true;
			ep->rx_inflight = 2;
			sqe->user_data = ud_of(ep, UD_RX, RX_UD_LINKED_HDR);
			io_uring_submit_and_get_events(&nic->ring);
			return;
		}
		break;
	}
	case RX_DRAIN:
		io_uring_prep_recv(sqe, ep->fd, nic->scratch,
				   SAN_MIN(ep->rx_drain_left, (size_t)URING_SCRATCH), 0);
		break;
	case RX_WAIT_RECV:
		break;
	}
	sqe->user_data = ud_of(ep, UD_RX, 0);
	io_uring_submit_and_get_events(&nic->ring);
}

void san__uring_rx_cqe(struct uring_ep *ep, unsigned idx, int res)
{
	ep->rx_inflight--;
	if (ep->state != SAN_NIC_EP_OPEN) {
		san__uring_maybe_reap(ep);
		return;
	}
	if (idx == RX_UD_LINKED_HDR) {
		ep->rx_linked = false;
		if (res == -ECANCELED) { /* the payload read before it was short */
			san__uring_rx_kick(ep);
			return;
		}
	}
	if (res == -ECANCELED || res == -EINTR || res == -EAGAIN) {
		san__uring_rx_kick(ep);
		return;
	}
	if (res <= 0) {
		/* End of stream anywhere (mid-frame: a truncated frame) or a
		 * socket error: the peer is gone. */
		san__uring_ep_fail(ep, res ? res : -ECONNRESET);
		return;
	}
	switch (ep->rx_state) {
	case RX_HDR:
		ep->rx_hdr_got += (size_t)res;
		if (ep->rx_hdr_got == HDR_LEN)
			rx_header(ep);
		break;
	case RX_PAYLOAD:
		rx_payload_got(ep, (size_t)res);
		break;
	case RX_DRAIN:
		ep->rx_drain_left -= (size_t)res;
		if (!ep->rx_drain_left)
			rx_frame_end(ep);
		break;
	case RX_WAIT_RECV:
		break;
	}
	rx_step(ep, true);
	rx_flush_resps(ep);
}

/* Are only bare responses (ACKs, refusals) waiting to go, and few? */
static bool tx_bare_resps(const struct uring_ep *ep)
{
	int n = 0;

	for (const struct tx_item *it = ep->tx_head; it; it = it->next)
		if (!it->resp || it->nsge || ++n > URING_TX_CHAIN)
			return false;
	return true;
}

void san__uring_rx_kick(struct uring_ep *ep)
{
	rx_step(ep, false);
	rx_flush_resps(ep);
}

/* After rx_step: sends the responses that reading queued. Here, with the
 * frame they answer fully processed, san__uring_tx_flush may complete ops
 * and resume reading without cutting into rx or tx processing. */
static void rx_flush_resps(struct uring_ep *ep)
{
	if (!ep->tx_flush)
		return;
	ep->tx_flush = false;
	/* An app thread that spins is likely to post next (a ping-pong
	 * answers the write it just saw): its post takes the ACKs along in
	 * the same sendmsg() and TCP segment. If it does not, its next pass
	 * sends them (san__uring_progress). */
	if (!ep->tx_nfl && san__uring_spinning(ep->nic) && tx_bare_resps(ep)) {
		san__uring_defer(ep);
		return;
	}
	san__uring_tx_flush(ep);
}
