/* SPDX-License-Identifier: MIT */
/*
 * Registrations the application makes (R1.1-R1.5): local handles, RDMA
 * descriptors, and the checks every operation's buffers go through.
 *
 * A handle is (generation << 32 | slot + 1) in the provider's handle table:
 * meaningful only in this process, and a stale or forged handle is simply
 * not found. A descriptor names a key in the NIC's table of one connection.
 */
#include "core.h"
#include "nic/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NIC_LOCK(p) (p)->nic_ops->lock((p)->nic)
#define NIC_UNLOCK(p) (p)->nic_ops->unlock((p)->nic)

int san__reg_socket_init(san_socket *s)
{
	s->hfree = UINT32_MAX;
	return -pthread_mutex_init(&s->reg_lock, NULL);
}

void san__reg_socket_fini(san_socket *s)
{
	pthread_mutex_destroy(&s->reg_lock);
	free(s->hslots);
}

/* reg_lock held. */
static int handle_alloc(san_socket *s, struct san_reg *r)
{
	uint32_t i;

	if (s->hfree == UINT32_MAX) {
		uint32_t ncap = s->hcap ? s->hcap * 2 : 64;
		struct hslot *t;

		if (ncap > (1u << 30))
			return -ENOMEM;
		t = realloc(s->hslots, ncap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		memset(t + s->hcap, 0, (ncap - s->hcap) * sizeof(*t));
		for (i = s->hcap; i < ncap; i++)
			t[i].next_free = i + 1 < ncap ? i + 1 : UINT32_MAX;
		s->hfree = s->hcap;
		s->hslots = t;
		s->hcap = ncap;
	}
	i = s->hfree;
	s->hfree = s->hslots[i].next_free;
	s->hslots[i].reg = r;
	/* A new generation each time: a stale handle never comes back to life. */
	if (++s->hslots[i].gen == 0)
		s->hslots[i].gen = 1;
	r->handle = ((uint64_t)s->hslots[i].gen << 32) | (i + 1);
	return 0;
}

static void handle_free(san_socket *s, san_handle h)
{
	uint32_t i = (uint32_t)h - 1;

	s->hslots[i].reg = NULL;
	s->hslots[i].next_free = s->hfree;
	s->hfree = i;
}

/* reg_lock held. */
static struct san_reg *find_handle(san_socket *s, san_handle h)
{
	uint32_t i = (uint32_t)h - 1;
	struct san_reg *r;

	if ((uint32_t)h == 0 || i >= s->hcap)
		return NULL;
	r = s->hslots[i].reg;
	if (!r || r->handle != h)
		return NULL;
	return r;
}

static void list_remove(san_socket *s, struct san_reg *r)
{
	struct san_reg **pp = &s->regs;

	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
}

static int check_args(san_socket *s, void *buf, size_t len, int flags)
{
	if (!s || !buf || !len)
		return -EINVAL;
	if (flags <= 0 || (flags & ~SAN_MEM_READWRITE))
		return -EINVAL;
	return 0;
}

/* Pins the range and builds a registration (not yet published). */
static int reg_new(san_socket *s, void *buf, size_t len, int flags, int kind, struct san_reg **r_out)
{
	struct san_reg *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	rc = san__mem_get(s->p, buf, len, s->tag, &r->mem);
	if (rc) {
		free(r);
		return rc;
	}
	r->s = s;
	r->addr = (uintptr_t)buf;
	r->len = len;
	r->flags = flags;
	r->kind = kind;
	*r_out = r;
	return 0;
}

static void reg_drop(san_provider *p, struct san_reg *r)
{
	san__mem_put(p, r->mem);
	free(r);
}

/* Registration needs a live connection (R1.5: memory is reachable only
 * while the connection is established); closed or reset: -ENOTCONN. */
static int sock_state(san_socket *s)
{
	if (s->closing || s->p->nic_ops->ep_state(s->ep) != SAN_NIC_EP_OPEN)
		return -ENOTCONN;
	return 0;
}

int san_register_memory(san_socket *s, void *buf, size_t len, int flags, san_handle *h_out)
{
	san_provider *p;
	struct san_reg *r;
	int rc = check_args(s, buf, len, flags);

	if (rc)
		return rc;
	if (!h_out)
		return -EINVAL;
	p = s->p;
	rc = reg_new(s, buf, len, flags, REG_LOCAL, &r);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->reg_lock);
	rc = sock_state(s);
	if (!rc)
		rc = handle_alloc(s, r);
	if (!rc) {
		r->next = s->regs;
		s->regs = r;
		*h_out = r->handle;
	}
	pthread_mutex_unlock(&s->reg_lock);
	if (rc)
		reg_drop(p, r);
	return rc;
}

int san_deregister_memory(san_socket *s, san_handle h)
{
	san_provider *p;
	struct san_reg *r;

	if (!s)
		return -EINVAL;
	p = s->p;
	pthread_mutex_lock(&s->reg_lock);
	r = find_handle(s, h);
	if (!r || r->kind != REG_LOCAL) {
		pthread_mutex_unlock(&s->reg_lock);
		return -EINVAL;
	}
	/* inuse only grows under reg_lock (posting), so 0 here stays 0. */
	if (atomic_load_explicit(&r->inuse, memory_order_acquire)) {
		pthread_mutex_unlock(&s->reg_lock);
		return -EBUSY;
	}
	handle_free(s, h);
	list_remove(s, r);
	pthread_mutex_unlock(&s->reg_lock);
	reg_drop(p, r);
	return 0;
}

int san_register_rdma_memory(san_socket *s, void *buf, size_t len, int flags,
			     struct san_rdma_desc *d_out)
{
	struct san_wire_desc d = { .magic = SAN_WIRE_DESC_MAGIC, .version = SAN_WIRE_VERSION };
	san_provider *p;
	struct san_reg *r;
	int rc = check_args(s, buf, len, flags);

	if (rc)
		return rc;
	if (!d_out)
		return -EINVAL;
	p = s->p;
	rc = reg_new(s, buf, len, flags, REG_RDMA, &r);
	if (rc)
		return rc;
	NIC_LOCK(p);
	rc = sock_state(s);
	if (!rc)
		rc = p->nic_ops->key_add(s->ep, san__mem_mr(r->mem), (uintptr_t)buf, len, flags, &r->key);
	if (!rc) {
		pthread_mutex_lock(&s->reg_lock);
		r->next = s->regs;
		s->regs = r;
		pthread_mutex_unlock(&s->reg_lock);
		d.rights = (uint8_t)flags;
		d.key = r->key;
		d.len = len;
		d.nonce = p->nic_ops->ep_nonce(s->ep);
	}
	NIC_UNLOCK(p);
	if (rc) {
		reg_drop(p, r);
		return rc;
	}
	_Static_assert(sizeof(struct san_wire_desc) <= SAN_RDMA_DESC_SIZE, "descriptor fits");
	memset(d_out, 0, sizeof(*d_out));
	san__wire_desc_encode(&d, d_out->bytes);
	return 0;
}

int san_deregister_rdma_memory(san_socket *s, const struct san_rdma_desc *desc)
{
	struct san_wire_desc d;
	san_provider *p;
	struct san_reg *r;

	if (!s || !desc || san__wire_desc_decode(desc->bytes, sizeof(desc->bytes), &d))
		return -EINVAL;
	p = s->p;
	NIC_LOCK(p);
	pthread_mutex_lock(&s->reg_lock);
	for (r = s->regs; r; r = r->next)
		if (r->kind == REG_RDMA && r->key == d.key)
			break;
	if (!r || atomic_load_explicit(&r->inuse, memory_order_acquire)) {
		pthread_mutex_unlock(&s->reg_lock);
		NIC_UNLOCK(p);
		return r ? -EBUSY : -EINVAL;
	}
	/* The key goes first: from here the peer is refused (R1.4, R2.7). */
	if (p->nic_ops->ep_state(s->ep) != SAN_NIC_EP_CLOSED)
		p->nic_ops->key_revoke(s->ep, r->key);
	list_remove(s, r);
	pthread_mutex_unlock(&s->reg_lock);
	NIC_UNLOCK(p);
	reg_drop(p, r);
	return 0;
}

static int covers(const struct san_reg *r, uintptr_t a, size_t len)
{
	return a >= r->addr && len <= r->len && a - r->addr <= r->len - len;
}

/* R2.4: the mapping under the registration changed (the application
 * released the memory without deregistering): nothing moves through it. */
static int reg_stale(const struct san_reg *r)
{
	return atomic_load_explicit(&san__mem_mr(r->mem)->stale, memory_order_acquire);
}

int san__reg_resolve(san_socket *s, const struct san_buf *b, int right, struct san_reg **r_out)
{
	uintptr_t a = (uintptr_t)b->buf;
	struct san_reg *r, *denied = NULL;

	if (b->handle) {
		r = find_handle(s, b->handle);
		if (!r)
			return -EINVAL;
		if (!covers(r, a, b->len) || reg_stale(r))
			return -EFAULT;
		if (!(r->flags & right))
			return -EACCES;
		*r_out = r;
		return 0;
	}
	for (r = s->regs; r; r = r->next) {
		if (!covers(r, a, b->len) || reg_stale(r))
			continue;
		if (r->flags & right) {
			*r_out = r;
			return 0;
		}
		denied = r;
	}
	return denied ? -EACCES : -EFAULT;
}

void san__reg_release_all(san_socket *s, struct san_reg **list_out)
{
	struct san_reg *r;

	pthread_mutex_lock(&s->reg_lock);
	for (r = s->regs; r; r = r->next)
		if (r->kind == REG_LOCAL)
			handle_free(s, r->handle);
	*list_out = s->regs;
	s->regs = NULL;
	pthread_mutex_unlock(&s->reg_lock);
}
