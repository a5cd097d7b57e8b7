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
	san__bias_init(&s->reg_lock);
	return 0;
}

void san__reg_socket_fini(san_socket *s)
{
	free(s->hslots);
}

/* The handle of slot i in its current generation. */
static san_handle handle_of(const san_socket *s, uint32_t i)
{
	return ((uint64_t)s->hslots[i].gen << 32) | (i + 1);
}

/* reg_lock held. A handle is valid while its slot's generation matches
 * and the registration is live (not parked). */
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
		for (i = s->hcap; i < ncap; i++) {
			t[i].gen = 1; /* handles have a nonzero high half */
			t[i].next_free = i + 1 < ncap ? i + 1 : UINT32_MAX;
		}
		s->hfree = s->hcap;
		s->hslots = t;
		s->hcap = ncap;
	}
	i = s->hfree;
	s->hfree = s->hslots[i].next_free;
	s->hslots[i].reg = r;
	r->handle = handle_of(s, i);
	return 0;
}

/* reg_lock held. Ends the handle's validity: a new generation each time, so
 * a stale handle never comes back to life (the slot may stay with r while
 * r is parked; its next registration gets the new generation). */
static void handle_retire(san_socket *s, struct san_reg *r)
{
	uint32_t i = (uint32_t)r->handle - 1;

	if (++s->hslots[i].gen == 0)
		s->hslots[i].gen = 1;
	r->handle = handle_of(s, i);
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
	if (!r || r->handle != h || r->parked)
		return NULL;
	return r;
}

static void list_insert(san_socket *s, struct san_reg *r)
{
	r->prev = NULL;
	r->next = s->regs;
	if (r->next)
		r->next->prev = r;
	s->regs = r;
}

static void list_remove(san_socket *s, struct san_reg *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		s->regs = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

static unsigned park_slot(uintptr_t addr, size_t len, int flags)
{
	uint64_t h = ((uint64_t)addr ^ ((uint64_t)len << 17) ^ (uint64_t)flags) * 0x9e3779b97f4a7c15ull;

	return (unsigned)(h >> (64 - SAN_PARK_BITS)); /* top bits: every input bit mixed in */
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
	struct san_reg *r = aligned_alloc(64, sizeof(*r)); /* the hot fields in one line */
	int rc;

	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	rc = san__mem_get(s->p, buf, len, s->tag, &r->mem);
	if (rc == -ENOMEM && san__reg_unpark(s->p, UNPARK_ALL, 0, 0))
		rc = san__mem_get(s->p, buf, len, s->tag, &r->mem); /* parked pins let go */
	if (rc) {
		free(r);
		return rc;
	}
	r->s = s;
	r->mr = san__mem_mr(r->mem);
	r->cacheable = san__mem_cached(r->mem) && r->mr->inv_busy && r->mr->inv_busy == s->inv_busy;
	r->vgen = 1; /* not known yet: reg_fresh checks the flag */
	r->addr = (uintptr_t)buf;
	r->len = len;
	r->flags = flags;
	r->kind = kind;
	r->park_idx = park_slot(r->addr, len, flags);
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
	if (s->closing ||
	    atomic_load_explicit(s->ep_state, memory_order_relaxed) != SAN_NIC_EP_OPEN)
		return -ENOTCONN;
	return 0;
}

/* reg_lock held: r leaves the park (it keeps its handle slot while parked;
 * the slot goes with it now). */
static void park_evict(san_socket *s, struct san_reg *r)
{
	handle_free(s, r->handle);
}

/* r's mapping has not changed: the cache has processed no invalidation
 * since r->vgen, when r was seen not stale, or (slow path) none is in
 * progress and r's NIC registration is not marked. The cache marks stale
 * only while its sequence is odd (or before handing out a region, which
 * reg_new sees), so an unchanged even sequence proves nothing was marked.
 * On success r->vgen is brought up to date. reg_lock held. This is the
 * hit path: no call, and in the steady state no read of the NIC
 * registration's line. */
static inline bool reg_fresh(const san_socket *s, struct san_reg *r)
{
	const _Atomic uint64_t *busy = s->inv_busy; /* == r->mr->inv_busy (cacheable) */
	uint64_t g = atomic_load_explicit(busy, memory_order_acquire);

	if (g == r->vgen)
		return true;
	if (g & 1)
		return false;
	if (atomic_load_explicit(&r->mr->stale, memory_order_acquire))
		return false;
	if (atomic_load_explicit(busy, memory_order_relaxed) != g)
		return false;
	r->vgen = g;
	return true;
}

/* Takes back the registration of this very buffer that the socket parked
 * at its deregistration. reg_lock held. Returns it, or NULL; a parked entry
 * that is no longer usable goes to *drop, or stays where it is when drop is
 * NULL (the hit path: the slow path will find it and drop it). */
static inline struct san_reg *unpark(san_socket *s, void *buf, size_t len, int flags,
				     struct san_reg **drop)
{
	unsigned i = park_slot((uintptr_t)buf, len, flags);
	struct san_reg *r = s->parked[i];

	if (!r || r->addr != (uintptr_t)buf || r->len != len || r->flags != flags)
		return NULL;
	if (!reg_fresh(s, r)) {
		if (drop) {
			s->parked[i] = NULL;
			park_evict(s, r);
			*drop = r;
		}
		return NULL;
	}
	s->parked[i] = NULL;
	r->parked = false;
	atomic_store_explicit(&s->park_hits,
			      atomic_load_explicit(&s->park_hits, memory_order_relaxed) + 1,
			      memory_order_relaxed); /* one writer: reg_lock */
	return r;
}

/* The miss, another thread, or a parked entry gone stale: the cache's
 * path (it looks in the park again, under the lock). */
static __attribute__((noinline)) int register_slow(san_socket *s, void *buf, size_t len,
						  int flags, san_handle *h_out)
{
	bool fast;
	struct san_reg *r, *drop = NULL;
	san_provider *p = s->p;
	int rc;

	fast = san__bias_lock(&s->reg_lock);
	rc = sock_state(s);
	r = rc ? NULL : unpark(s, buf, len, flags, &drop);
	if (r)
		*h_out = r->handle;
	san__bias_unlock(&s->reg_lock, fast);
	if (r)
		return 0;
	if (rc)
		return rc;
	if (drop)
		reg_drop(p, drop);
	/* Let go of parked registrations whose memory was released, so their
	 * pages do not stay pinned: only when an invalidation happened since
	 * the last sweep (a sweep visits every socket). */
	{
		uint64_t g = san__mem_inv_gen(p);

		if (atomic_exchange_explicit(&p->swept_gen, g, memory_order_relaxed) != g)
			san__reg_unpark(p, UNPARK_STALE, 0, 0);
	}
	rc = reg_new(s, buf, len, flags, REG_LOCAL, &r);
	if (rc)
		return rc;
	fast = san__bias_lock(&s->reg_lock);
	rc = sock_state(s);
	if (!rc)
		rc = handle_alloc(s, r);
	if (!rc)
		*h_out = r->handle;
	san__bias_unlock(&s->reg_lock, fast);
	if (rc)
		reg_drop(p, r);
	return rc;
}

/* The hit path: the thread that holds the socket's bias takes back the
 * parked registration of this very buffer (unpark). Everything else
 * (another thread, a miss, a stale entry) goes to register_slow. No call
 * on this path but that tail call, so it needs no stack frame. */
int san_register_memory(san_socket *s, void *buf, size_t len, int flags, san_handle *h_out)
{
	int rc = check_args(s, buf, len, flags);

	if (rc)
		return rc;
	if (!h_out)
		return -EINVAL;
	if (san__bias_try_fast(&s->reg_lock)) {
		struct san_reg *r = sock_state(s) ? NULL : unpark(s, buf, len, flags, NULL);

		if (r)
			*h_out = r->handle;
		san__bias_unlock(&s->reg_lock, true);
		if (r)
			return 0;
	}
	return register_slow(s, buf, len, flags, h_out);
}

/* reg_lock held: the local registration that handle h names and that may
 * be deregistered now, or NULL with *rc = -EINVAL (no such handle) or
 * -EBUSY (operations in flight use it). */
static inline struct san_reg *dereg_target(san_socket *s, san_handle h, int *rc)
{
	struct san_reg *r = find_handle(s, h);

	if (!r || r->kind != REG_LOCAL) {
		*rc = -EINVAL;
		return NULL;
	}
	/* inuse only grows under reg_lock (posting), so 0 here stays 0. */
	if (atomic_load_explicit(&r->inuse, memory_order_acquire)) {
		*rc = -EBUSY;
		return NULL;
	}
	return r;
}

static __attribute__((noinline)) int deregister_slow(san_socket *s, san_handle h)
{
	bool fast;
	struct san_reg *r, *drop;
	int rc = 0;

	fast = san__bias_lock(&s->reg_lock);
	r = dereg_target(s, h, &rc);
	if (!r) {
		san__bias_unlock(&s->reg_lock, fast);
		return rc;
	}
	handle_retire(s, r);
	drop = r;
	/* Lazy deregistration (R2.1) at the socket: a cached region stays
	 * held here, with its handle slot, ready for the same buffer's next
	 * registration. One whose mapping already changed goes now. */
	if (r->cacheable && reg_fresh(s, r)) {
		unsigned i = r->park_idx;

		drop = s->parked[i];
		s->parked[i] = r;
		r->parked = true;
	}
	if (drop)
		park_evict(s, drop);
	san__bias_unlock(&s->reg_lock, fast);
	if (drop)
		reg_drop(s->p, drop);
	return 0;
}

/* The hit path of deregistration: the bias holder parks a registration
 * whose mapping did not change in a free park slot. Anything else
 * (another thread, an error, a slot to empty first) is deregister_slow's. */
int san_deregister_memory(san_socket *s, san_handle h)
{
	if (!s)
		return -EINVAL;
	if (san__bias_try_fast(&s->reg_lock)) {
		int rc = 0;
		struct san_reg *r = dereg_target(s, h, &rc);

		if (r && r->cacheable && !s->parked[r->park_idx] && reg_fresh(s, r)) {
			handle_retire(s, r);
			s->parked[r->park_idx] = r;
			r->parked = true;
			san__bias_unlock(&s->reg_lock, true);
			return 0;
		}
		san__bias_unlock(&s->reg_lock, true);
		if (!r)
			return rc; /* dereg_target said why */
	}
	return deregister_slow(s, h);
}

int san_register_rdma_memory(san_socket *s, void *buf, size_t len, int flags,
			     struct san_rdma_desc *d_out)
{
	bool fast;
	struct san_wire_desc d = { .magic = SAN_WIRE_DESC_MAGIC, .version = SAN_WIRE_VERSION };
	san_provider *p;
	struct san_reg *r;
	int rc = check_args(s, buf, len, flags);

	if (rc)
		return rc;
	if (!d_out)
		return -EINVAL;
	p = s->p;
	if (sock_state(s)) /* no pin for a dead socket (checked again below) */
		return -ENOTCONN;
	rc = reg_new(s, buf, len, flags, REG_RDMA, &r);
	if (rc)
		return rc;
	NIC_LOCK(p);
	rc = sock_state(s);
	if (!rc)
		rc = p->nic_ops->key_add(s->ep, r->mr, (uintptr_t)buf, len, flags, &r->key);
	if (!rc) {
		fast = san__bias_lock(&s->reg_lock);
		list_insert(s, r);
		san__bias_unlock(&s->reg_lock, fast);
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
	bool fast;
	struct san_wire_desc d;
	san_provider *p;
	struct san_reg *r;

	if (!s || !desc || san__wire_desc_decode(desc->bytes, sizeof(desc->bytes), &d))
		return -EINVAL;
	p = s->p;
	NIC_LOCK(p);
	fast = san__bias_lock(&s->reg_lock);
	for (r = s->regs; r; r = r->next)
		if (r->kind == REG_RDMA && r->key == d.key)
			break;
	if (!r || atomic_load_explicit(&r->inuse, memory_order_acquire)) {
		san__bias_unlock(&s->reg_lock, fast);
		NIC_UNLOCK(p);
		return r ? -EBUSY : -EINVAL;
	}
	/* The key goes first: from here the peer is refused (R1.4, R2.7). */
	if (p->nic_ops->ep_state(s->ep) != SAN_NIC_EP_CLOSED)
		p->nic_ops->key_revoke(s->ep, r->key);
	list_remove(s, r);
	san__bias_unlock(&s->reg_lock, fast);
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
	return san__mem_stale_sync(r->s->p, r->mem);
}

/* r covers [a, a+len) with a live mapping: true if it has the right too;
 * otherwise it may be what *denied reports (-EACCES over -EFAULT). */
static bool usable_by_address(struct san_reg *r, uintptr_t a, size_t len, int right,
			      struct san_reg **denied)
{
	if (!covers(r, a, len) || reg_stale(r))
		return false;
	if (r->flags & right)
		return true;
	*denied = r;
	return false;
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
	/* By address: the live local registrations (handle table), then the
	 * RDMA ones (list). A linear search: pass handles where it matters. */
	for (uint32_t i = 0; i < s->hcap; i++) {
		r = s->hslots[i].reg;
		if (r && !r->parked && usable_by_address(r, a, b->len, right, &denied)) {
			*r_out = r;
			return 0;
		}
	}
	for (r = s->regs; r; r = r->next) {
		if (usable_by_address(r, a, b->len, right, &denied)) {
			*r_out = r;
			return 0;
		}
	}
	return denied ? -EACCES : -EFAULT;
}

void san__reg_release_all(san_socket *s, struct san_reg **list_out)
{
	struct san_reg *r, *list;

	san__bias_lock_visit(&s->reg_lock);
	list = s->regs; /* RDMA registrations */
	s->regs = NULL;
	/* Local ones, live and parked, are all in the handle table. */
	for (uint32_t i = 0; i < s->hcap; i++) {
		r = s->hslots[i].reg;
		if (!r)
			continue;
		if (r->parked)
			s->parked[r->park_idx] = NULL;
		handle_free(s, r->handle);
		r->next = list;
		list = r;
	}
	atomic_fetch_add(&s->p->park_hits_closed, atomic_load(&s->park_hits));
	atomic_store(&s->park_hits, 0);
	san__bias_unlock_visit(&s->reg_lock);
	*list_out = list;
}

int san__reg_unpark(san_provider *p, enum san_unpark how, uintptr_t addr, size_t len)
{
	struct san_reg *drop = NULL, *r;
	int n = 0;

	pthread_mutex_lock(&p->ctl_lock);
	for (san_socket *s = p->sockets; s; s = s->next) {
		san__bias_lock_visit(&s->reg_lock);
		for (unsigned i = 0; i < SAN_PARK_SLOTS; i++) {
			r = s->parked[i];
			if (!r)
				continue;
			int hit = how == UNPARK_ALL ||
				  (how == UNPARK_RANGE && r->addr < addr + len && addr < r->addr + r->len);

			if (!hit && !san__mem_stale(r->mem))
				continue;
			s->parked[i] = NULL;
			park_evict(s, r);
			r->next = drop;
			drop = r;
			n++;
		}
		san__bias_unlock_visit(&s->reg_lock);
	}
	pthread_mutex_unlock(&p->ctl_lock);
	while ((r = drop)) {
		drop = r->next;
		reg_drop(p, r);
	}
	return n;
}

uint64_t san__reg_park_hits(san_provider *p)
{
	uint64_t n = atomic_load(&p->park_hits_closed);

	pthread_mutex_lock(&p->ctl_lock);
	for (san_socket *s = p->sockets; s; s = s->next)
		n += atomic_load_explicit(&s->park_hits, memory_order_relaxed);
	pthread_mutex_unlock(&p->ctl_lock);
	return n;
}
