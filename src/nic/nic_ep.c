/* SPDX-License-Identifier: MIT */
/*
 * One connection of the protocol engine (nic_ep.h), under the engine lock:
 * its life from san__uring_ep_new to san__uring_ep_close, failure and the
 * reaping of what was outstanding, posting ops, and handing its CQEs to
 * transmit (nic_tx.c) or receive (nic_rx.c).
 */
#include "nic_ep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int san__uring_ep_cqe(struct uring_ep *ep, uint64_t ud, int res)
{
	if ((ud & UD_KIND_MASK) == UD_TX)
		san__uring_tx_cqe(ep, (unsigned)((ud & UD_IDX_MASK) >> UD_IDX_SHIFT), res);
	else
		san__uring_rx_cqe(ep, (unsigned)((ud & UD_IDX_MASK) >> UD_IDX_SHIFT), res);
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
void san__uring_maybe_reap(struct uring_ep *ep)
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
		san__uring_tx_item_free(it);
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
		san__uring_key_put(ep->rx_key);
		ep->rx_key = NULL;
	}
	for (unsigned i = 0; i < ep->nbuckets; i++)
		while (ep->keys[i])
			san__uring_key_unlink(ep, ep->keys[i]);
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

void san__uring_ep_fail(struct uring_ep *ep, int err)
{
	if (ep->state != SAN_NIC_EP_OPEN)
		return;
	(void)err; /* the peer sees its ops fail; ours all say ECONNRESET */
	san__uring_sync_del(ep);
	san__uring_defer_del(ep);
	ep->state = SAN_NIC_EP_FAILED;
	ep->fail_status = -ECONNRESET;
	ep_shutdown(ep);
	san__uring_maybe_reap(ep);
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
	san__uring_rx_kick(ep);
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
	san__uring_maybe_reap(ep);
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
			san__uring_rx_begin_recv(ep);
			san__uring_rx_kick(ep);
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
	san__uring_tx_enqueue(ep, it);
	san__uring_tx_flush(ep);
	return 0;
}
