/* SPDX-License-Identifier: MIT */
/* Posting operations and reaping their completions. */
#include "core.h"
#include "nic/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>

/* One posted operation: the NIC op, then its SG list and the registration
 * each element uses (held "in use" until completion: -EBUSY). */
struct san_req {
	struct san_nic_op nop;
	san_socket *s;
	void *ctx;
	int nregs;
	struct san_reg **regs;
	struct san_nic_sge sge[];
};

/* Engine lock held: the NIC finished an op. */
static void req_done(struct san_nic_op *nop)
{
	struct san_req *q = san_container_of(nop, struct san_req, nop);
	san_socket *s = q->s;

	for (int i = 0; i < q->nregs; i++)
		atomic_fetch_sub_explicit(&q->regs[i]->inuse, 1, memory_order_release);
	if (s->closing) {
		s->outstanding--; /* the socket is going: nobody will poll */
	} else {
		struct san_completion *c;

		/* issue 6: the event fd says "a completion waits" (empty ->
		 * non-empty; the reader drains, see san_socket_event_fd). */
		if (s->efd >= 0 && !s->cq_count)
			eventfd_write(s->efd, 1);
		c = &s->cq[(s->cq_head + s->cq_count++) % s->p->cfg.max_outstanding];

		c->ctx = q->ctx;
		c->op = nop->opcode;
		c->status = nop->status;
		c->bytes = nop->bytes;
	}
	free(q);
}

static int post(san_socket *s, int opcode, const struct san_buf *bufs, int n,
		const struct san_rdma_desc *desc, uint64_t off, void *ctx)
{
	int right = (opcode == SAN_OP_SEND || opcode == SAN_OP_RDMA_WRITE) ? SAN_MEM_READ : SAN_MEM_WRITE;
	struct san_wire_desc d = { 0 };
	san_provider *p;
	struct san_req *q;
	int rc = 0, i;
	bool fast;

	if (!s || n < 0 || n > SAN_MAX_SGE || (n && !bufs))
		return -EINVAL;
	if (desc && san__wire_desc_decode(desc->bytes, sizeof(desc->bytes), &d))
		return -EINVAL;
	p = s->p;
	q = malloc(sizeof(*q) + (size_t)n * (sizeof(q->sge[0]) + sizeof(q->regs[0])));
	if (!q)
		return -ENOMEM;
	q->regs = (struct san_reg **)(q->sge + n);
	q->nregs = 0;
	q->s = s;
	q->ctx = ctx;
	q->nop.opcode = opcode;
	q->nop.sge = q->sge;
	q->nop.rkey = d.key;
	q->nop.roff = off;
	q->nop.done = req_done;

	p->nic_ops->lock(p->nic);
	if (s->closing)
		rc = -ENOTCONN;
	else if (s->outstanding >= p->cfg.max_outstanding)
		rc = -EAGAIN;
	fast = san__bias_lock(&s->reg_lock);
	for (i = 0; !rc && i < n; i++) {
		struct san_reg *r;

		if (!bufs[i].len)
			continue; /* an empty element moves nothing */
		rc = san__reg_resolve(s, &bufs[i], right, &r);
		if (rc)
			break;
		q->sge[q->nregs].addr = (uintptr_t)bufs[i].buf;
		q->sge[q->nregs].len = bufs[i].len;
		q->sge[q->nregs].mr = r->mr;
		q->regs[q->nregs++] = r;
		atomic_fetch_add_explicit(&r->inuse, 1, memory_order_relaxed);
	}
	san__bias_unlock(&s->reg_lock, fast);
	q->nop.nsge = q->nregs;
	if (!rc)
		rc = p->nic_ops->post(s->ep, &q->nop);
	if (rc) {
		for (i = 0; i < q->nregs; i++)
			atomic_fetch_sub_explicit(&q->regs[i]->inuse, 1, memory_order_relaxed);
		p->nic_ops->unlock(p->nic);
		free(q);
		return rc;
	}
	s->outstanding++;
	p->nic_ops->unlock(p->nic);
	return 0;
}

int san_send(san_socket *s, const struct san_buf *bufs, int n, void *ctx)
{
	return post(s, SAN_OP_SEND, bufs, n, NULL, 0, ctx);
}

int san_recv(san_socket *s, const struct san_buf *bufs, int n, void *ctx)
{
	return post(s, SAN_OP_RECV, bufs, n, NULL, 0, ctx);
}

int san_rdma_write(san_socket *s, const struct san_buf *src, int n,
		   const struct san_rdma_desc *dst, uint64_t dst_offset, void *ctx)
{
	if (!dst)
		return -EINVAL;
	return post(s, SAN_OP_RDMA_WRITE, src, n, dst, dst_offset, ctx);
}

int san_rdma_read(san_socket *s, const struct san_buf *dst, int n,
		  const struct san_rdma_desc *src, uint64_t src_offset, void *ctx)
{
	if (!src)
		return -EINVAL;
	return post(s, SAN_OP_RDMA_READ, dst, n, src, src_offset, ctx);
}

static int reap(san_socket *s, struct san_completion *out, int max)
{
	unsigned cap = s->p->cfg.max_outstanding;
	int n = 0;

	while (n < max && s->cq_count) {
		out[n++] = s->cq[s->cq_head];
		s->cq_head = (s->cq_head + 1) % cap;
		s->cq_count--;
		s->outstanding--;
	}
	return n;
}

int san_poll(san_socket *s, struct san_completion *out, int max, int timeout_ms)
{
	const struct san_nic_ops *ops;
	uint64_t start, spin_ns, now;
	san_provider *p;
	int n;

	if (!s || !out || max <= 0)
		return -EINVAL;
	p = s->p;
	ops = p->nic_ops;
	spin_ns = (uint64_t)p->cfg.poll_spin_us * 1000;
	/* san_poll(0), a spinner's call, needs no start time: one clock
	 * read (vDSO) fewer per turn of its loop. */
	start = timeout_ms ? san__now_ns() : 0;
	ops->lock(p->nic);
	if (s->closing) {
		ops->unlock(p->nic);
		return -ENOTCONN;
	}
	s->pollers++;
	ops->poll_enter(p->nic);
	for (;;) {
		n = reap(s, out, max);
		if (n)
			break;
		if (s->closing) { /* san_close from another thread */
			n = -ENOTCONN;
			break;
		}
		ops->progress(p->nic);
		n = reap(s, out, max);
		if (n)
			break;
		if (!s->outstanding && ops->ep_state(s->ep) != SAN_NIC_EP_OPEN) {
			n = -ECONNRESET;
			break;
		}
		if (!timeout_ms)
			break;
		now = san__now_ns();
		if (timeout_ms > 0 && now - start >= (uint64_t)timeout_ms * 1000000)
			break;
		if (now - start < spin_ns) {
			ops->unlock(p->nic);
			san__cpu_relax();
			ops->lock(p->nic);
			continue;
		}
		{
			int slice = 100;

			if (timeout_ms > 0) {
				uint64_t left = (uint64_t)timeout_ms * 1000000 - (now - start);

				slice = (int)SAN_MIN((uint64_t)slice, left / 1000000 + 1);
			}
			ops->wait(p->nic, slice);
		}
	}
	ops->poll_leave(p->nic);
	s->pollers--;
	ops->unlock(p->nic);
	return n;
}

/* ---- issue 6: readiness for event loops ---- */
int san_socket_event_fd(san_socket *s)
{
	san_provider *p;
	int fd;

	if (!s)
		return -EINVAL;
	p = s->p;
	p->nic_ops->lock(p->nic);
	if (s->closing) {
		fd = -ENOTCONN;
	} else if (s->efd >= 0) {
		fd = s->efd;
	} else {
		fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0) {
			fd = -errno;
		} else {
			s->efd = fd;
			/* Completions already wait, or the connection is
			 * already gone (san_poll will say so). */
			if (s->cq_count || p->nic_ops->ep_state(s->ep) != SAN_NIC_EP_OPEN)
				eventfd_write(fd, 1);
		}
	}
	p->nic_ops->unlock(p->nic);
	return fd;
}
/* ---- end issue 6 ---- */
