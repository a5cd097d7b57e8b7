/* SPDX-License-Identifier: MIT */
/*
 * The protocol engine of one connection (docs/protocol.md), all under the
 * engine lock.
 *
 * Transmit: a queue of frames and a cursor into it. With nothing in
 * flight, a post first sends the headers at the cursor with sendmsg() (the
 * kernel copies 40 bytes of ours each; tx_sync_headers). The rest goes as
 * up to URING_TX_CHAIN SQEs in flight as one linked chain: a header with
 * SEND, payload with WRITE_FIXED straight from the pinned pages. A short
 * write breaks the chain (io_uring cancels the rest); once every SQE of the
 * chain is back we advance the cursor by what was written, in order, and
 * send the next chain from there.
 *
 * Receive: one SQE in flight, or none while an app thread spins and reads
 * the header with recv() (nic_uring.c, "Reading headers in step"). A
 * header is read into the ep, validated, and decides where the payload
 * goes: READ_FIXED into the pinned pages of a posted receive, of a key's
 * registration (peer RDMA write) or of our RDMA read's sink; refused
 * payload is read into scratch and thrown away.
 *
 * An operation completes when every part of it is done: SEND when its bytes
 * left; RDMA WRITE and READ when their frame left AND the peer answered
 * (op->pend counts the parts), so no op completes while the kernel may still
 * read its memory.
 */
#include "uring.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define HDR_LEN sizeof(struct san_wire_hdr)

/* The idx of an rx SQE: 0, or the header RECV linked behind a payload read. */
#define RX_UD_LINKED_HDR 1u

static uint64_t ud_of(struct uring_ep *ep, uint64_t kind, unsigned idx)
{
	return (uint64_t)(uintptr_t)ep | kind | ((uint64_t)idx << UD_IDX_SHIFT);
}

static void ep_fail(struct uring_ep *ep, int err);

/* ---- completion of operations ---- */

static void op_status(struct san_nic_op *op, int st)
{
	if (!op->status)
		op->status = st;
}

static void op_event(struct uring_ep *ep, struct san_nic_op *op)
{
	if (--op->pend == 0) {
		ep->nic->ncompleted++;
		op->done(op);
	}
}

static int wire_errno(uint32_t st)
{
	switch (st) {
	case SAN_WIRE_EACCES: return -EACCES;
	case SAN_WIRE_ERANGE: return -ERANGE;
	default: return -EFAULT;
	}
}

/* ---- memory keys ---- */

static unsigned bucket_of(uint64_t key, unsigned nbuckets)
{
	return (unsigned)(key ^ (key >> 32)) & (nbuckets - 1);
}

static unsigned key_bucket(const struct uring_ep *ep, uint64_t key)
{
	return bucket_of(key, ep->nbuckets);
}

static struct uring_key *key_find(struct uring_ep *ep, uint64_t key)
{
	struct uring_key *k;

	for (k = ep->keys[key_bucket(ep, key)]; k; k = k->next)
		if (k->key == key)
			return k;
	return NULL;
}

static void key_put(struct uring_key *k)
{
	if (--k->refs)
		return;
	san__uring_mr_put(k->mr);
	free(k);
}

static int keys_grow(struct uring_ep *ep)
{
	unsigned nb = ep->nbuckets * 2;
	struct uring_key **t = calloc(nb, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (unsigned i = 0; i < ep->nbuckets; i++) {
		struct uring_key *k = ep->keys[i], *next;

		for (; k; k = next) {
			next = k->next;
			k->next = t[bucket_of(k->key, nb)];
			t[bucket_of(k->key, nb)] = k;
		}
	}
	free(ep->keys);
	ep->keys = t;
	ep->nbuckets = nb;
	return 0;
}

int san__uring_key_add(struct san_nic_ep *e, struct san_nic_mr *m, uintptr_t addr, size_t len,
		       int rights, uint64_t *key_out)
{
	struct uring_ep *ep = EP(e);
	struct uring_mr *mr = (struct uring_mr *)m;
	struct uring_key *k;
	uint64_t key;
	int rc;

	if (ep->state != SAN_NIC_EP_OPEN)
		return ep->state == SAN_NIC_EP_CLOSED ? -ENOTCONN : -ECONNRESET;
	if (ep->nkeys >= ep->nbuckets && (rc = keys_grow(ep)))
		return rc;
	do {
		rc = san__random64(&key);
		if (rc)
			return rc;
	} while (!key || key_find(ep, key));
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->key = key;
	k->mr = mr;
	k->addr = addr;
	k->len = len;
	k->rights = rights;
	k->refs = 1;
	san__uring_mr_get(mr);
	k->next = ep->keys[key_bucket(ep, key)];
	ep->keys[key_bucket(ep, key)] = k;
	ep->nkeys++;
	atomic_fetch_add(&ep->nic->keys_active, 1);
	*key_out = key;
	return 0;
}

static void key_unlink(struct uring_ep *ep, struct uring_key *k)
{
	struct uring_key **pp = &ep->keys[key_bucket(ep, k->key)];

	while (*pp != k)
		pp = &(*pp)->next;
	*pp = k->next;
	ep->nkeys--;
	k->revoked = true;
	atomic_fetch_sub(&ep->nic->keys_active, 1);
	key_put(k);
}

int san__uring_key_revoke(struct san_nic_ep *e, uint64_t key)
{
	struct uring_ep *ep = EP(e);
	struct uring_key *k = key_find(ep, key);

	if (!k)
		return -EINVAL;
	key_unlink(ep, k);
	return 0;
}

/* R2.4, ordered after any invalidation in progress (the monitor never
 * takes the engine lock, so waiting here cannot deadlock). */
static int mr_stale(const struct san_nic_mr *mr)
{
	return san__seq_read_flag(mr->inv_busy, &mr->stale);
}

/* The checks of protocol.md §4, in order. Returns a SAN_WIRE_* status. */
static int key_check(struct uring_ep *ep, const struct san_wire_hdr *h, int right,
		     struct uring_key **k_out)
{
	struct uring_key *k = key_find(ep, h->key);

	if (!k || !(k->rights & right) || mr_stale(&k->mr->pub))
		return SAN_WIRE_EACCES;
	if (h->offset > k->len || h->len > k->len - h->offset)
		return SAN_WIRE_ERANGE;
	*k_out = k;
	return SAN_WIRE_OK;
}

/* ---- transmit ---- */

static void rx_kick(struct uring_ep *ep);

static size_t part_len(const struct tx_item *it, int part)
{
	return part < 0 ? HDR_LEN : it->sge[part].len;
}

static void tx_item_free(struct tx_item *it)
{
	if (it->key)
		key_put(it->key);
	free(it);
}

/* Pops every item whose parts have all been written. */
static void tx_settle(struct uring_ep *ep)
{
	struct tx_item *it;

	while ((it = ep->tx_head)) {
		while (ep->tx_part < it->nsge && ep->tx_off == part_len(it, ep->tx_part)) {
			ep->tx_part++;
			ep->tx_off = 0;
		}
		if (ep->tx_part < it->nsge)
			return;
		ep->tx_head = it->next;
		if (!ep->tx_head)
			ep->tx_tail = &ep->tx_head;
		ep->tx_part = -1;
		ep->tx_off = 0;
		if (it->op) {
			if (it->op->opcode == SAN_OP_SEND)
				it->op->bytes = it->op->len;
			op_event(ep, it->op);
		}
		if (it->resp && ep->resp_queued-- == URING_MAX_RESP_QUEUED)
			ep->rx_resume = true; /* reading again: rx_resume() */
		tx_item_free(it);
	}
}

static void tx_advance(struct uring_ep *ep, size_t n)
{
	while (n && ep->tx_head) {
		size_t take = SAN_MIN(n, part_len(ep->tx_head, ep->tx_part) - ep->tx_off);

		ep->tx_off += take;
		n -= take;
		tx_settle(ep);
	}
}

/* Called where nothing of rx or tx is half done: the tx queue fell below
 * URING_MAX_RESP_QUEUED responses (tx_settle), so read again. */
static void rx_resume(struct uring_ep *ep)
{
	if (ep->rx_resume) {
		ep->rx_resume = false;
		rx_kick(ep);
	}
}

/* With no chain in flight, the frame headers at the cursor go out with one
 * sendmsg() (ours: 40 bytes each, copied by the kernel as SEND did): the
 * header-only frames (ACKs, read requests) up to the first frame with
 * payload, and that frame's header with MSG_MORE so that TCP puts it in one
 * segment with the payload's WRITE_FIXED behind it. A linked SEND +
 * WRITE_FIXED pair costs more than the extra syscall (the link runs as task
 * work), and a header-only frame needs no trip through the ring at all.
 * Returns the number of bytes that went (0: none: the socket is full, or
 * failed, which the ring's SEND then reports as it always did). */
static size_t tx_sync_headers(struct uring_ep *ep)
{
	struct iovec iov[URING_TX_CHAIN];
	struct msghdr mh = { .msg_iov = iov };
	struct tx_item *it = ep->tx_head;
	size_t off = ep->tx_off;
	int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
	ssize_t r;

	if (ep->tx_nfl || ep->tx_part >= 0 || !it || ep->state != SAN_NIC_EP_OPEN)
		return 0;
	while (it && mh.msg_iovlen < URING_TX_CHAIN) {
		iov[mh.msg_iovlen].iov_base = it->hdr + off;
		iov[mh.msg_iovlen].iov_len = HDR_LEN - off;
		mh.msg_iovlen++;
		off = 0;
		if (it->nsge) {
			flags |= MSG_MORE;
			break;
		}
		it = it->next;
	}
	r = sendmsg(ep->fd, &mh, flags);
	return r > 0 ? (size_t)r : 0;
}

static void tx_kick(struct uring_ep *ep)
{
	struct uring_nic *nic = ep->nic;
	struct io_uring_sqe *sqe = NULL;
	struct tx_item *it = ep->tx_head;
	int part = ep->tx_part, n = 0;
	size_t off = ep->tx_off;

	if (ep->tx_nfl || ep->state != SAN_NIC_EP_OPEN || !it)
		return;
	/* A chain split across two submissions would lose its ordering. */
	if (io_uring_sq_space_left(&nic->ring) < URING_TX_CHAIN)
		io_uring_submit(&nic->ring);
	while (it && n < URING_TX_CHAIN) {
		size_t plen, len;

		if (part >= it->nsge) {
			it = it->next;
			part = -1;
			off = 0;
			continue;
		}
		plen = part_len(it, part);
		if (off == plen) {
			part++;
			off = 0;
			continue;
		}
		{
			struct io_uring_sqe *next = io_uring_get_sqe(&nic->ring);

			if (!next)
				break; /* SQ full even after submitting: send less */
			sqe = next;
		}
		if (part < 0) {
			/* Payload follows in this chain: MSG_MORE lets TCP put
			 * header and payload in one segment (half the trips
			 * through the stack for a small message). The payload's
			 * write, which has no MORE, pushes both. */
			int more = it->nsge && n + 1 < URING_TX_CHAIN ? MSG_MORE : 0;

			len = plen - off;
			io_uring_prep_send(sqe, ep->fd, it->hdr + off, len,
					   MSG_NOSIGNAL | MSG_WAITALL | more);
		} else {
			const struct san_nic_sge *sg = &it->sge[part];
			unsigned slot;

			len = san__uring_mr_span((const struct uring_mr *)sg->mr, sg->addr + off,
						 plen - off, &slot);
			io_uring_prep_write_fixed(sqe, ep->fd, (void *)(sg->addr + off), (unsigned)len, 0,
						  (int)slot);
			sqe->rw_flags = nic->rw_flags;
		}
		sqe->flags |= IOSQE_IO_LINK;
		sqe->user_data = ud_of(ep, UD_TX, (unsigned)n);
		ep->tx_fl[n].len = len;
		ep->tx_fl[n].res = 0;
		n++;
		off += len;
	}
	if (!n)
		return;
	sqe->flags &= (__u8)~IOSQE_IO_LINK;
	ep->tx_nfl = n;
	ep->tx_back = 0;
	io_uring_submit_and_get_events(&nic->ring); /* runs the chain's deferred links now */
}

static void maybe_reap(struct uring_ep *ep);

static void tx_cqe(struct uring_ep *ep, unsigned idx, int res)
{
	int n;

	ep->tx_fl[idx].res = res;
	if (++ep->tx_back < ep->tx_nfl)
		return;
	n = ep->tx_nfl;
	ep->tx_nfl = 0;
	if (ep->state != SAN_NIC_EP_OPEN) {
		/* What went out before the failure was sent: a SEND whose
		 * bytes all left completes as sent (a recv() error may have
		 * failed the ep before this CQE was looked at). */
		for (int i = 0; i < n && ep->tx_fl[i].res > 0; i++) {
			tx_advance(ep, (size_t)ep->tx_fl[i].res);
			if ((size_t)ep->tx_fl[i].res != ep->tx_fl[i].len)
				break;
		}
		maybe_reap(ep);
		return;
	}
	for (int i = 0; i < n; i++) {
		int r = ep->tx_fl[i].res;

		if (r > 0) {
			tx_advance(ep, (size_t)r);
			if ((size_t)r == ep->tx_fl[i].len)
				continue;
			break; /* short: the rest of the chain was cancelled */
		}
		if (r == -ECANCELED || r == -EINTR || r == -EAGAIN)
			break; /* resend from the cursor */
		ep_fail(ep, r ? r : -ECONNRESET);
		return;
	}
	tx_kick(ep);
	rx_resume(ep);
}

/* tx_kick for an app's post: headers by sendmsg() first (tx_sync_headers).
 * Only here, at the top of the engine: what that sendmsg completes (ops
 * done, reading resumed) must not happen inside rx or tx processing. */
static void tx_kick_post(struct uring_ep *ep)
{
	size_t sent;

	while ((sent = tx_sync_headers(ep)))
		tx_advance(ep, sent);
	tx_kick(ep);
	rx_resume(ep);
}

static void tx_enqueue(struct uring_ep *ep, struct tx_item *it)
{
	it->next = NULL;
	if (!ep->tx_head) {
		ep->tx_part = -1;
		ep->tx_off = 0;
	}
	*ep->tx_tail = it;
	ep->tx_tail = &it->next;
}

/* Queues a WRITE_ACK or READ_RESP. k (READ_RESP with status OK) gains a
 * reference held until the payload is written. */
static void queue_resp(struct uring_ep *ep, uint8_t type, uint64_t id, int status,
		       struct uring_key *k, uint64_t off, uint64_t len)
{
	struct tx_item *it = calloc(1, sizeof(*it));
	struct san_wire_hdr h = { .type = type, .status = (uint32_t)status, .id = id };

	if (!it) {
		ep_fail(ep, -ENOMEM);
		return;
	}
	it->resp = true;
	ep->resp_queued++;
	if (type == SAN_WIRE_READ_RESP && status == SAN_WIRE_OK && len) {
		h.len = len;
		k->refs++;
		it->key = k;
		it->one.addr = k->addr + off;
		it->one.len = len;
		it->one.mr = &k->mr->pub;
		it->sge = &it->one;
		it->nsge = 1;
	}
	san__wire_hdr_encode(&h, it->hdr);
	tx_enqueue(ep, it);
	ep->tx_flush = true; /* sent when this rx step is over: rx_kick */
}

/* ---- receive ---- */

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
			key_put(ep->rx_key);
		queue_resp(ep, SAN_WIRE_WRITE_ACK, ep->rx_hdr.id, ep->rx_status, NULL, 0, 0);
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

static void rx_begin_recv(struct uring_ep *ep)
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
		ep_fail(ep, -EPROTO);
		return;
	}
	switch (h->type) {
	case SAN_WIRE_SEND:
		if (!ep->recv_head) {
			ep->rx_state = RX_WAIT_RECV; /* back-pressure: stop reading */
			return;
		}
		rx_begin_recv(ep);
		return;
	case SAN_WIRE_WRITE:
		ep->rx_after = RXA_WRITE;
		ep->rx_status = key_check(ep, h, SAN_MEM_WRITE, &k);
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
		st = key_check(ep, h, SAN_MEM_READ, &k);
		ep->rx_hdr_got = 0;
		ep->rx_state = RX_HDR;
		queue_resp(ep, SAN_WIRE_READ_RESP, h->id, st, k, h->offset, h->len);
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
	ep_fail(ep, -EPROTO);
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
	ep_fail(ep, r ? -errno : -ECONNRESET);
	return false;
}

static bool rx_may_sync(const struct uring_ep *ep)
{
	return ep->rx_state == RX_HDR && san__uring_spinning(ep->nic) &&
	       (ep->sync_pprev || ep->nic->nsync < URING_SYNC_MAX_EPS);
}

static void rx_step(struct uring_ep *ep)
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
		if (!rx_may_sync(ep))
			break;
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

static void rx_cqe(struct uring_ep *ep, unsigned idx, int res)
{
	ep->rx_inflight--;
	if (ep->state != SAN_NIC_EP_OPEN) {
		maybe_reap(ep);
		return;
	}
	if (idx == RX_UD_LINKED_HDR) {
		ep->rx_linked = false;
		if (res == -ECANCELED) { /* the payload read before it was short */
			rx_kick(ep);
			return;
		}
	}
	if (res == -ECANCELED || res == -EINTR || res == -EAGAIN) {
		rx_kick(ep);
		return;
	}
	if (res <= 0) {
		/* End of stream anywhere (mid-frame: a truncated frame) or a
		 * socket error: the peer is gone. */
		ep_fail(ep, res ? res : -ECONNRESET);
		return;
	}
	switch (ep->rx_state) {
	case RX_HDR:
		ep->rx_hdr_got += (size_t)res;
		if (ep->rx_hdr_got == HDR_LEN)
			rx_header(ep);
		break;
	case RX_PAYLOAD:
		ep->rx_off += (size_t)res;
		ep->rx_left -= (size_t)res;
		ep->rx_placed += (size_t)res;
		rx_normalize(ep);
		if (!ep->rx_left)
			rx_payload_done(ep);
		break;
	case RX_DRAIN:
		ep->rx_drain_left -= (size_t)res;
		if (!ep->rx_drain_left)
			rx_frame_end(ep);
		break;
	case RX_WAIT_RECV:
		break;
	}
	rx_kick(ep);
}

/* Reads on (rx_step), then sends the responses that reading queued: here,
 * with the frame they answer fully processed, tx_kick_post may complete
 * ops and resume reading without cutting into rx or tx processing. */
/* Are only bare responses (ACKs, refusals) waiting to go, and few? */
static bool tx_bare_resps(const struct uring_ep *ep)
{
	int n = 0;

	for (const struct tx_item *it = ep->tx_head; it; it = it->next)
		if (!it->resp || it->nsge || ++n > URING_TX_CHAIN)
			return false;
	return true;
}

static void rx_kick(struct uring_ep *ep)
{
	rx_step(ep);
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
	tx_kick_post(ep);
}

void san__uring_tx_flush(struct uring_ep *ep)
{
	tx_kick_post(ep);
}

void san__uring_rx_kick(struct uring_ep *ep)
{
	rx_kick(ep);
}

int san__uring_ep_cqe(struct uring_ep *ep, uint64_t ud, int res)
{
	if ((ud & UD_KIND_MASK) == UD_TX)
		tx_cqe(ep, (unsigned)((ud & UD_IDX_MASK) >> UD_IDX_SHIFT), res);
	else
		rx_cqe(ep, (unsigned)((ud & UD_IDX_MASK) >> UD_IDX_SHIFT), res);
	return 0;
}

/* ---- failure, teardown ---- */

static void fail_list(struct uring_ep *ep, struct san_nic_op **head, struct san_nic_op ***tail)
{
	struct san_nic_op *op = *head, *next;

	*head = NULL;
	*tail = head;
	for (; op; op = next) {
		next = op->next;
		op_status(op, ep->fail_status);
		op_event(ep, op);
	}
}

/* Once nothing of the ep is in the kernel, completes every outstanding op
 * with fail_status and revokes every key. */
static void maybe_reap(struct uring_ep *ep)
{
	struct tx_item *it, *next;

	if (ep->state == SAN_NIC_EP_OPEN || ep->tx_nfl || ep->rx_inflight)
		return;
	for (it = ep->tx_head; it; it = next) {
		next = it->next;
		if (it->op) {
			op_status(it->op, ep->fail_status);
			op_event(ep, it->op);
		}
		tx_item_free(it);
	}
	ep->tx_head = NULL;
	ep->tx_tail = &ep->tx_head;
	fail_list(ep, &ep->await_head, &ep->await_tail);
	fail_list(ep, &ep->recv_head, &ep->recv_tail);
	if (ep->rx_op) {
		op_status(ep->rx_op, ep->fail_status);
		op_event(ep, ep->rx_op);
		ep->rx_op = NULL;
	}
	if (ep->rx_key) {
		key_put(ep->rx_key);
		ep->rx_key = NULL;
	}
	for (unsigned i = 0; i < ep->nbuckets; i++)
		while (ep->keys[i])
			key_unlink(ep, ep->keys[i]);
	ep->rx_state = RX_HDR;
}

static void ep_shutdown(struct uring_ep *ep)
{
	struct io_uring_sqe *sqe;

	shutdown(ep->fd, SHUT_RDWR);
	/* Anything of ours still parked in the kernel comes back now. */
	sqe = san__uring_sqe(ep->nic);
	io_uring_prep_cancel_fd(sqe, ep->fd, IORING_ASYNC_CANCEL_ALL);
	sqe->user_data = 0;
	io_uring_submit(&ep->nic->ring);
}

static void ep_fail(struct uring_ep *ep, int err)
{
	if (ep->state != SAN_NIC_EP_OPEN)
		return;
	(void)err; /* the peer sees its ops fail; ours all say ECONNRESET */
	san__uring_sync_del(ep);
	san__uring_defer_del(ep);
	ep->state = SAN_NIC_EP_FAILED;
	ep->fail_status = -ECONNRESET;
	ep_shutdown(ep);
	maybe_reap(ep);
	if (ep->notify_fn)
		ep->notify_fn(ep->notify_arg);
}

struct uring_ep *san__uring_ep_new(struct uring_nic *nic, int fd, uint64_t nonce,
				   uint64_t peer_max_msg)
{
	struct uring_ep *ep = aligned_alloc(64, sizeof(*ep));

	if (!ep)
		return NULL;
	memset(ep, 0, sizeof(*ep));
	ep->nbuckets = 16;
	ep->keys = calloc(ep->nbuckets, sizeof(*ep->keys));
	if (!ep->keys) {
		free(ep);
		return NULL;
	}
	ep->nic = nic;
	ep->fd = fd;
	{
		int dom = 0;
		socklen_t dl = sizeof(dom);

		ep->rx_tcp = !getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) &&
			     (dom == AF_INET || dom == AF_INET6);
	}
	ep->nonce = nonce;
	ep->peer_max_msg = peer_max_msg;
	ep->tx_tail = &ep->tx_head;
	ep->await_tail = &ep->await_head;
	ep->recv_tail = &ep->recv_head;
	ep->tx_part = -1;
	pthread_mutex_lock(&nic->lock);
	nic->neps++;
	rx_kick(ep);
	pthread_mutex_unlock(&nic->lock);
	return ep;
}

void san__uring_ep_close(struct san_nic_ep *e)
{
	struct uring_ep *ep = EP(e);
	struct uring_nic *nic = ep->nic;

	san__uring_sync_del(ep);
	san__uring_defer_del(ep);
	if (ep->state == SAN_NIC_EP_OPEN) {
		ep->state = SAN_NIC_EP_CLOSED;
		ep->fail_status = -ECANCELED;
		ep_shutdown(ep);
	}
	ep->state = SAN_NIC_EP_CLOSED;
	while (ep->tx_nfl || ep->rx_inflight) {
		if (!san__uring_progress(nic) && (ep->tx_nfl || ep->rx_inflight))
			san__uring_wait(nic, 10, false);
	}
	maybe_reap(ep);
	close(ep->fd);
	free(ep->keys);
	nic->neps--;
	free(ep);
}

int san__uring_ep_state(struct san_nic_ep *e)
{
	return EP(e)->state;
}

const _Atomic int *san__uring_ep_state_ptr(struct san_nic_ep *e)
{
	return &EP(e)->state;
}

uint64_t san__uring_ep_nonce(struct san_nic_ep *e)
{
	return EP(e)->nonce;
}

void san__uring_ep_set_notify(struct san_nic_ep *e, void (*fn)(void *), void *arg)
{
	EP(e)->notify_fn = fn;
	EP(e)->notify_arg = arg;
}

int san__uring_post(struct san_nic_ep *e, struct san_nic_op *op)
{
	struct uring_ep *ep = EP(e);
	struct san_wire_hdr h = { 0 };
	struct tx_item *it;
	size_t len = 0;

	if (ep->state != SAN_NIC_EP_OPEN)
		return ep->state == SAN_NIC_EP_CLOSED ? -ENOTCONN : -ECONNRESET;
	for (int i = 0; i < op->nsge; i++)
		len += op->sge[i].len;
	if ((op->opcode == SAN_OP_SEND || op->opcode == SAN_OP_RDMA_WRITE) && len > ep->peer_max_msg)
		return -EMSGSIZE;
	if (op->opcode == SAN_OP_RDMA_READ && len > ep->nic->max_msg)
		return -EMSGSIZE;
	op->len = len;
	op->status = 0;
	op->bytes = 0;
	op->next = NULL;
	op->id = ++ep->next_id;
	if (op->opcode == SAN_OP_RECV) {
		op->pend = 1;
		*ep->recv_tail = op;
		ep->recv_tail = &op->next;
		if (ep->rx_state == RX_WAIT_RECV) {
			rx_begin_recv(ep);
			rx_kick(ep);
		}
		return 0;
	}
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->op = op;
	h.id = op->id;
	h.len = len;
	switch (op->opcode) {
	case SAN_OP_SEND:
		h.type = SAN_WIRE_SEND;
		op->pend = 1;
		break;
	case SAN_OP_RDMA_WRITE:
		h.type = SAN_WIRE_WRITE;
		h.key = op->rkey;
		h.offset = op->roff;
		op->pend = 2;
		break;
	case SAN_OP_RDMA_READ:
		h.type = SAN_WIRE_READ_REQ;
		h.key = op->rkey;
		h.offset = op->roff;
		op->pend = 2;
		break;
	default:
		free(it);
		return -EINVAL;
	}
	if (op->opcode != SAN_OP_RDMA_READ) {
		it->sge = op->sge;
		it->nsge = op->nsge;
	}
	if (op->pend == 2) {
		*ep->await_tail = op;
		ep->await_tail = &op->next;
	}
	san__wire_hdr_encode(&h, it->hdr);
	tx_enqueue(ep, it);
	tx_kick_post(ep);
	return 0;
}
