/* SPDX-License-Identifier: MIT */
/*
 * The protocol engine of one connection (docs/protocol.md), all under the
 * engine lock, shared by its files (the rest of the NIC uses uring.h):
 *   nic_key.c  memory keys exposed to the peer
 *   nic_tx.c   transmit: a queue of frames and a cursor into it
 *   nic_rx.c   receive: the frame reader
 *   nic_ep.c   lifecycle, failure and teardown, post, CQE dispatch
 */
#ifndef SAN_NIC_EP_H
#define SAN_NIC_EP_H

#include "uring.h"

#define HDR_LEN sizeof(struct san_wire_hdr)

static inline uint64_t ud_of(struct uring_ep *ep, uint64_t kind, unsigned idx)
{
	return (uint64_t)(uintptr_t)ep | kind | ((uint64_t)idx << UD_IDX_SHIFT);
}

/* ---- completion of operations ---- */

/*
 * An operation completes when every part of it is done: SEND when its bytes
 * left; RDMA WRITE and READ when their frame left AND the peer answered
 * (op->pend counts the parts), so no op completes while the kernel may still
 * read its memory.
 */
static inline void op_status(struct san_nic_op *op, int st)
{
	if (!op->status)
		op->status = st;
}

static inline void op_event(struct uring_ep *ep, struct san_nic_op *op)
{
	if (--op->pend == 0) {
		ep->nic->ncompleted++;
		op->done(op);
	}
}

/* nic_key.c */
/* Drops a reference; the last one drops the key's on its registration. */
void san__uring_key_put(struct uring_key *k);
/* Takes k out of the ep's table (revoked) and drops the table's reference. */
void san__uring_key_unlink(struct uring_ep *ep, struct uring_key *k);
/* The checks of protocol.md §4, in order. Returns a SAN_WIRE_* status. */
int san__uring_key_check(struct uring_ep *ep, const struct san_wire_hdr *h, int right,
			 struct uring_key **k_out);

/* nic_tx.c */
/* Frees a transmit item and drops the key reference it holds. */
void san__uring_tx_item_free(struct tx_item *it);
/* Appends a frame to the transmit queue; the caller kicks. */
void san__uring_tx_enqueue(struct uring_ep *ep, struct tx_item *it);
/* Queues a WRITE_ACK or READ_RESP, sent when the rx step is over. */
void san__uring_queue_resp(struct uring_ep *ep, uint8_t type, uint64_t id, int status,
			   struct uring_key *k, uint64_t off, uint64_t len);
/* One CQE of the transmit chain (idx: its place in the chain). */
void san__uring_tx_cqe(struct uring_ep *ep, unsigned idx, int res);

/* nic_rx.c */
/* A SEND's payload goes to the oldest posted receive (there must be one). */
void san__uring_rx_begin_recv(struct uring_ep *ep);
/* One CQE of the receive side (idx: 0, or RX_UD_LINKED_HDR). */
void san__uring_rx_cqe(struct uring_ep *ep, unsigned idx, int res);

/* nic_ep.c */
/* Fails an open ep: shuts it down, reaps what it can, tells the owner. */
void san__uring_ep_fail(struct uring_ep *ep, int err);
/* Completes what is outstanding once nothing of the ep is in the kernel. */
void san__uring_maybe_reap(struct uring_ep *ep);

#endif
