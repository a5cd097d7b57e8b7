/* SPDX-License-Identifier: MIT */
/*
 * Transmit of one connection, under the engine lock (nic_ep.h): a queue of
 * frames and a cursor into it. With nothing in flight, a post first sends
 * the headers at the cursor with sendmsg() (the kernel copies 40 bytes of
 * ours each), and with them the payload of small sends and writes the app
 * just posted (inline, SAN_INLINE_MAX; tx_sync_headers). The rest goes as
 * up to URING_TX_CHAIN SQEs
 * in flight as one linked chain: a header with SEND, payload with
 * WRITE_FIXED straight from the pinned pages. A short write breaks the
 * chain (io_uring cancels the rest); once every SQE of the chain is back we
 * advance the cursor by what was written, in order, and send the next chain
 * from there.
 */
#include "nic_ep.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>

static size_t part_len(const struct tx_item *it, int part)
{
	return part < 0 ? HDR_LEN : it->sge[part].len;
}

void san__uring_tx_item_free(struct tx_item *it)
{
	if (it->key)
		san__uring_key_put(it->key);
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
		san__uring_tx_item_free(it);
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
		san__uring_rx_kick(ep);
	}
}

/* The app's own SEND or WRITE whose payload may go in the header's
 * sendmsg(), read from its mapping at post time: up to inline_max bytes
 * (as IBV_SEND_INLINE; for a valid registration the mapping is the pinned
 * pages, they differ only for one gone stale unseen), and at any size when
 * every element lies in pool memory (san_dma_alloc), whose mapping is
 * libsan's own and cannot leave the pinned pages (owned_map). Never a
 * response: what a peer reads goes from the pinned pages only. */
static bool tx_direct(const struct uring_ep *ep, const struct tx_item *it)
{
	if (!it->op || it->resp)
		return false;
	if (it->op->len <= ep->nic->inline_max)
		return true;
	for (int i = 0; i < it->nsge; i++)
		if (!it->sge[i].mr->owned_map)
			return false;
	return it->nsge > 0;
}

/* With no chain in flight, the frame headers at the cursor go out with one
 * sendmsg() (ours: 40 bytes each, copied by the kernel as SEND did): the
 * header-only frames (ACKs, read requests) and the app's direct frames
 * (tx_direct: header and payload) up to the first other frame with
 * payload, and that frame's header with MSG_MORE so that TCP puts it in
 * one segment with the payload's WRITE_FIXED behind it. A linked SEND +
 * WRITE_FIXED pair costs more than the extra syscall (the link runs as
 * task work), and a frame without payload, or with a direct one, needs no
 * trip through the ring (at 64 KiB from pool memory that was 6 % of a
 * stream's throughput). What a short sendmsg() leaves of a direct payload
 * goes by WRITE_FIXED from the pinned pages. Returns the number of bytes
 * that went (0: none: the socket is full, or failed, which the ring's SEND
 * then reports as it always did). */
static size_t tx_sync_headers(struct uring_ep *ep)
{
	struct iovec iov[URING_TX_CHAIN];
	struct msghdr mh = { .msg_iov = iov };
	struct tx_item *it = ep->tx_head;
	size_t off = ep->tx_off, at = 0, payload_at[URING_TX_CHAIN];
	int flags = MSG_DONTWAIT | MSG_NOSIGNAL, ndirect = 0;
	ssize_t r;

	if (ep->tx_nfl || ep->tx_part >= 0 || !it || ep->state != SAN_NIC_EP_OPEN)
		return 0;
	while (it && mh.msg_iovlen < URING_TX_CHAIN) {
		iov[mh.msg_iovlen].iov_base = it->hdr + off;
		iov[mh.msg_iovlen].iov_len = HDR_LEN - off;
		at += HDR_LEN - off;
		mh.msg_iovlen++;
		off = 0;
		if (it->nsge && (!tx_direct(ep, it) || mh.msg_iovlen + (size_t)it->nsge > URING_TX_CHAIN)) {
			flags |= MSG_MORE;
			break;
		}
		if (it->nsge)
			payload_at[ndirect++] = at;
		for (int i = 0; i < it->nsge; i++) {
			iov[mh.msg_iovlen].iov_base = (void *)it->sge[i].addr;
			iov[mh.msg_iovlen].iov_len = it->sge[i].len;
			at += it->sge[i].len;
			mh.msg_iovlen++;
		}
		it = it->next;
	}
	r = sendmsg(ep->fd, &mh, flags);
	if (r <= 0)
		return 0;
	/* Frames whose payload began to go this way. */
	for (int i = 0; i < ndirect && payload_at[i] < (size_t)r; i++)
		atomic_fetch_add_explicit(&ep->nic->tx_direct, 1, memory_order_relaxed);
	return (size_t)r;
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

void san__uring_tx_cqe(struct uring_ep *ep, unsigned idx, int res)
{
	int n, i;
	bool short_write = false;

	ep->tx_fl[idx].res = res;
	if (++ep->tx_back < ep->tx_nfl)
		return;
	n = ep->tx_nfl;
	ep->tx_nfl = 0;
	/* What went out, in order, up to a short write (io_uring cancelled the
	 * rest of the chain) or an SQE that wrote nothing. Also when the ep
	 * failed meanwhile: a SEND whose bytes all left completes as sent (a
	 * recv() error may have failed the ep before this CQE was looked at). */
	for (i = 0; i < n && ep->tx_fl[i].res > 0; i++) {
		tx_advance(ep, (size_t)ep->tx_fl[i].res);
		if ((size_t)ep->tx_fl[i].res != ep->tx_fl[i].len) {
			short_write = true;
			break;
		}
	}
	if (ep->state != SAN_NIC_EP_OPEN) {
		san__uring_maybe_reap(ep);
		return;
	}
	if (i < n && !short_write) {
		int r = ep->tx_fl[i].res;

		/* Cancelled or interrupted: resend from the cursor. */
		if (r != -ECANCELED && r != -EINTR && r != -EAGAIN) {
			san__uring_ep_fail(ep, r ? r : -ECONNRESET);
			return;
		}
	}
	tx_kick(ep);
	rx_resume(ep);
}

/* tx_kick for an app's post: headers by sendmsg() first (tx_sync_headers).
 * Only here, at the top of the engine: what that sendmsg completes (ops
 * done, reading resumed) must not happen inside rx or tx processing. */
void san__uring_tx_flush(struct uring_ep *ep)
{
	size_t sent;

	while ((sent = tx_sync_headers(ep)))
		tx_advance(ep, sent);
	tx_kick(ep);
	rx_resume(ep);
}

void san__uring_tx_enqueue(struct uring_ep *ep, struct tx_item *it)
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
void san__uring_queue_resp(struct uring_ep *ep, uint8_t type, uint64_t id, int status,
			   struct uring_key *k, uint64_t off, uint64_t len)
{
	struct tx_item *it = calloc(1, sizeof(*it));
	struct san_wire_hdr h = { .type = type, .status = (uint32_t)status, .id = id };

	if (!it) {
		san__uring_ep_fail(ep, -ENOMEM);
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
	san__uring_tx_enqueue(ep, it);
	ep->tx_flush = true; /* sent when this rx step is over: san__uring_rx_kick */
}
