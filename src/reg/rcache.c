/* SPDX-License-Identifier: MIT */
/*
 * The registration cache. docs/rcache.md has the design; the short form:
 *
 * Index: a sorted array of non-overlapping, page-aligned ranges. A request
 * covered by one entry is a hit. A request that overlaps entries without
 * being covered is MERGED: the new registration covers the union, and the
 * entries it overlaps leave the index (their holders keep them until their
 * put). So the index never overlaps and a lookup is one binary search.
 *
 * Lifetime: region->refs counts the holders plus one while the region is in
 * the index. Whoever drops refs to zero unregisters and frees it: a put on
 * an application thread, or, for a region nobody held, the thread that took
 * it out of the index (after unlocking). The monitor thread never
 * unregisters: it pushes such regions onto the `dead` stack, which
 * application threads empty (san__rcache_reap).
 *
 * Locks, in order: rc->lock (a reader-writer lock, brlock.h), then
 * nothing. Under rc->lock nobody allocates, frees, unregisters or makes a
 * system call: any of those can munmap or madvise memory the monitor
 * watches, and the thread doing so would wait for the monitor, which waits
 * for rc->lock. Allocation, mem_reg and mem_dereg all happen outside it.
 *   read side:  lookups (hits), miss preparation, stats;
 *   write side: every change of the index, the LRU list, the invalidation
 *               ring and cached_bytes; the monitor thread's event handling.
 * Its read side touches only this CPU's cache line, so hits on different
 * CPUs do not contend; it prefers writers, so that a stream of hits cannot
 * starve the monitor (readers never take it recursively).
 *
 * LRU: every indexed region is on rc->lru, sorted by lru_key. A put only
 * stores a timestamp in region->used (no list, no lock); eviction fixes up
 * lazily: a head whose `used` is newer than its key is re-inserted at its
 * sorted place, a head in use is moved to the tail, and a head whose key is
 * its `used` is the least recently used region (every other key is at
 * least as new and no key is newer than its region's `used`).
 */
#include "rcache.h"

#include "brlock.h"
#include "monitor.h"
#include "util/util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

/* Invalidations remembered for misses that are pinning while they happen. */
#define INV_RING 64

struct lru_node {
	struct lru_node *prev, *next;
};

struct san_rcache_region {
	/* Immutable once the region is returned or published. */
	uintptr_t start, end;
	void *mr;
	/* Holders, plus 1 while indexed. Incremented under the read
	 * lock (a hit) or the write lock; whoever brings it to 0 frees. */
	_Atomic unsigned long refs;
	_Atomic uint64_t used;   /* timestamp of the last put */
	_Atomic int indexed;     /* in rc->idx and on rc->lru; changed under the write lock */
	_Atomic int stale;       /* the mapping changed: set once, under the write lock */
	_Atomic int loose;       /* held, not indexed, on rc->loose (write lock) */
	_Atomic uint64_t owners; /* owner tags (san__rcache_get_tagged) */
	/* Write lock: */
	uint64_t lru_key;
	struct lru_node lru;
	/* The dead stack (monitor -> application), or a local free list of a
	 * thread that owns the last reference. */
	struct san_rcache_region *next_free;
};

struct idx_ent {
	uintptr_t start, end;
	struct san_rcache_region *r;
};

/* Counters the hit path bumps, one cache line per CPU (the read ticket of
 * rc->lock), so that hits on different CPUs share no line. */
struct rc_pcpu {
	_Atomic uint64_t hits;
} __attribute__((aligned(64)));

struct san_rcache {
	/* Immutable after create. */
	struct san_rcache_config cfg;
	struct san_rcache_ops ops;
	/* Write lock: regions that holders use but the index does not have
	 * (served uncached, or displaced by a merge). Invalidation must find
	 * them too: a live registration must never outlive its mapping. */
	struct lru_node loose;
	/* Odd while an invalidation is being processed under the write lock
	 * (monitor or san__rcache_invalidate), even otherwise. */
	_Atomic uint64_t inv_busy;
	void *ctx;
	int caching;              /* gets may hit: enabled and watched */
	struct san_monitor *mon;  /* NULL unless SAN_MONITOR_UFFD works */

	struct san_brlock lock;
	/* rc->lock: read to look up, write to change. */
	struct idx_ent *idx;      /* sorted by start, non-overlapping */
	size_t n, cap;
	uint64_t cached_bytes;
	struct lru_node lru;      /* head.next = least recently placed */
	uint64_t inv_seq;         /* invalidated ranges so far */
	struct {
		uintptr_t start, end;
	} inv_ring[INV_RING];     /* the last INV_RING of them */

	/* Lock-free. */
	struct rc_pcpu *pcpu;     /* per lock shard (lock.mask + 1): the hit path's counters */
	_Atomic(struct san_rcache_region *) dead;
	_Atomic uint64_t misses, pins, unpins, evictions, invalidations, pinned_bytes;
};

/* ---- small helpers ---- */

static uint64_t stamp_now(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __rdtsc(); /* invariant TSC: cheaper than a shared counter */
#elif defined(__aarch64__)
	uint64_t v;

	__asm__ volatile("mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
	return san__now_ns();
#endif
}

static void lru_del(struct lru_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

static void lru_insert_after(struct lru_node *pos, struct lru_node *n);

/* Write lock held. */
static void loose_add(struct san_rcache *rc, struct san_rcache_region *r)
{
	lru_insert_after(&rc->loose, &r->lru);
	atomic_store_explicit(&r->loose, 1, memory_order_relaxed);
}

static void loose_del(struct san_rcache_region *r)
{
	lru_del(&r->lru);
	/* Release: a put that sees 0 without the lock also sees everything
	 * the invalidation wrote into r and its mr before, and may free. */
	atomic_store_explicit(&r->loose, 0, memory_order_release);
}

static void lru_insert_after(struct lru_node *pos, struct lru_node *n)
{
	n->prev = pos;
	n->next = pos->next;
	pos->next->prev = n;
	pos->next = n;
}

static struct san_rcache_region *lru_region(struct lru_node *n)
{
	return san_container_of(n, struct san_rcache_region, lru);
}

/* Places r by lru_key, searching from the tail (keys are mostly recent). */
static void lru_place(struct san_rcache *rc, struct san_rcache_region *r, uint64_t key)
{
	struct lru_node *pos = rc->lru.prev;

	r->lru_key = key;
	while (pos != &rc->lru && lru_region(pos)->lru_key > key)
		pos = pos->prev;
	lru_insert_after(pos, &r->lru);
}

static unsigned long region_refs(const struct san_rcache_region *r)
{
	return atomic_load_explicit(&r->refs, memory_order_acquire);
}

static size_t region_len(const struct san_rcache_region *r)
{
	return r->end - r->start;
}

/* Number of entries with start <= addr. Lock held (either side). */
static size_t idx_upper(const struct san_rcache *rc, uintptr_t addr)
{
	size_t lo = 0, hi = rc->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rc->idx[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First entry that ends after addr (entries are disjoint, so ends are
 * sorted too). */
static size_t idx_first_overlap(const struct san_rcache *rc, uintptr_t addr)
{
	size_t i = idx_upper(rc, addr);

	return i && rc->idx[i - 1].end > addr ? i - 1 : i;
}

static struct san_rcache_region *idx_lookup(const struct san_rcache *rc, uintptr_t s, uintptr_t e)
{
	size_t i = idx_upper(rc, s);

	if (i && rc->idx[i - 1].end >= e)
		return rc->idx[i - 1].r;
	return NULL;
}

/* Takes the entry at pos out of the index (write lock). Returns 1 if that
 * dropped the last reference: the caller must unregister it, unlocked. */
static int idx_remove(struct san_rcache *rc, size_t pos)
{
	struct san_rcache_region *r = rc->idx[pos].r;

	memmove(&rc->idx[pos], &rc->idx[pos + 1], (rc->n - pos - 1) * sizeof(rc->idx[0]));
	rc->n--;
	rc->cached_bytes -= region_len(r);
	lru_del(&r->lru);
	atomic_store_explicit(&r->indexed, 0, memory_order_relaxed);
	return atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1;
}

static size_t idx_pos(const struct san_rcache *rc, const struct san_rcache_region *r)
{
	return idx_upper(rc, r->start) - 1;
}

static void push_free(struct san_rcache_region **list, struct san_rcache_region *r)
{
	r->next_free = *list;
	*list = r;
}

/* Unregisters and frees a region nobody references. No lock held. */
static void region_destroy(struct san_rcache *rc, struct san_rcache_region *r)
{
	rc->ops.mem_dereg(rc->ctx, r->mr);
	atomic_fetch_add_explicit(&rc->unpins, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&rc->pinned_bytes, region_len(r), memory_order_relaxed);
	free(r);
}

static int destroy_list(struct san_rcache *rc, struct san_rcache_region *list)
{
	int n = 0;

	while (list) {
		struct san_rcache_region *next = list->next_free;

		region_destroy(rc, list);
		list = next;
		n++;
	}
	return n;
}

int san__rcache_reap(struct san_rcache *rc)
{
	if (!atomic_load_explicit(&rc->dead, memory_order_relaxed))
		return 0;
	return destroy_list(rc, atomic_exchange_explicit(&rc->dead, NULL, memory_order_acquire));
}

/* ---- eviction (write lock) ---- */

/* The least recently used region nobody holds, or NULL. */
static struct san_rcache_region *lru_pick(struct san_rcache *rc)
{
	/* Each region is moved at most twice before the scan has seen all of
	 * them: once to its sorted place, once to the tail if in use. */
	for (size_t budget = 2 * rc->n + 1; budget && rc->lru.next != &rc->lru; budget--) {
		struct san_rcache_region *h = lru_region(rc->lru.next);
		uint64_t used = atomic_load_explicit(&h->used, memory_order_relaxed);

		lru_del(&h->lru);
		if (region_refs(h) > 1)
			lru_place(rc, h, SAN_MAX(stamp_now(), used)); /* in use: newest */
		else if (used > h->lru_key)
			lru_place(rc, h, used);
		else {
			lru_insert_after(&rc->lru, &h->lru); /* back at the head */
			return h;
		}
	}
	return NULL;
}

/* Evicts one unused region onto *freed. Returns its length, 0 if there is
 * none. */
static size_t evict_one(struct san_rcache *rc, struct san_rcache_region **freed)
{
	struct san_rcache_region *r = lru_pick(rc);

	if (!r)
		return 0;
	idx_remove(rc, idx_pos(rc, r)); /* unused: that was the last reference */
	push_free(freed, r);
	atomic_fetch_add_explicit(&rc->evictions, 1, memory_order_relaxed);
	return region_len(r);
}

/* Evicts unused regions, LRU first, until `bytes` are freed (at least one
 * region). Takes the lock. Returns how many were unregistered. */
static int evict_bytes(struct san_rcache *rc, size_t bytes)
{
	struct san_rcache_region *freed = NULL;
	size_t got = 0, one;

	san__brlock_wrlock(&rc->lock);
	do {
		one = evict_one(rc, &freed);
		got += one;
	} while (one && got < bytes);
	san__brlock_wrunlock(&rc->lock);
	return destroy_list(rc, freed);
}

/* ---- invalidation (write lock) ---- */

static int inv_conflict(const struct san_rcache *rc, uint64_t seq0, uintptr_t s, uintptr_t e)
{
	if (rc->inv_seq - seq0 > INV_RING)
		return 1; /* forgotten: assume the worst */
	for (uint64_t q = seq0; q < rc->inv_seq; q++) {
		unsigned i = (unsigned)(q % INV_RING);

		if (rc->inv_ring[i].start < e && rc->inv_ring[i].end > s)
			return 1;
	}
	return 0;
}

/* Drops every indexed region overlapping [s, e); the ones nobody holds go
 * onto *freed. Returns how many regions were dropped. */
static int invalidate_locked(struct san_rcache *rc, uintptr_t s, uintptr_t e,
			     struct san_rcache_region **freed)
{
	unsigned slot = (unsigned)(rc->inv_seq % INV_RING);
	size_t i;
	int n = 0;

	rc->inv_ring[slot].start = s;
	rc->inv_ring[slot].end = e;
	rc->inv_seq++;
	i = idx_first_overlap(rc, s);
	while (i < rc->n && rc->idx[i].start < e) {
		struct san_rcache_region *r = rc->idx[i].r;

		atomic_store_explicit(&r->stale, 1, memory_order_release);
		if (rc->ops.mem_stale)
			rc->ops.mem_stale(rc->ctx, r->mr);
		if (idx_remove(rc, i))
			push_free(freed, r);
		n++;
	}
	if (n)
		atomic_fetch_add_explicit(&rc->invalidations, (uint64_t)n, memory_order_relaxed);
	/* Live registrations outside the index: stale too. */
	for (struct lru_node *q = rc->loose.next, *nx; q != &rc->loose; q = nx) {
		struct san_rcache_region *r = san_container_of(q, struct san_rcache_region, lru);

		nx = q->next;
		if (r->start >= e || r->end <= s)
			continue;
		atomic_store_explicit(&r->stale, 1, memory_order_release);
		if (rc->ops.mem_stale)
			rc->ops.mem_stale(rc->ctx, r->mr);
		loose_del(r);
		n++;
	}
	return n;
}

/* Monitor callbacks: run on the monitor thread. */
/* The monitor brackets its read-and-invalidate with these: inv_busy turns
 * odd BEFORE the events are read, so once a munmap has returned (its event
 * read), a parked-registration check sees either odd (wait: slow path) or
 * the stale flag that the processing set before inv_busy turned even. */
static void inv_begin(struct san_rcache *rc)
{
	san__brlock_wrlock(&rc->lock);
	atomic_fetch_add_explicit(&rc->inv_busy, 1, memory_order_seq_cst);
}

static void inv_end(struct san_rcache *rc)
{
	atomic_fetch_add_explicit(&rc->inv_busy, 1, memory_order_release);
	san__brlock_wrunlock(&rc->lock);
}

static void mon_lock(void *arg)
{
	inv_begin(arg);
}

static void mon_unlock(void *arg)
{
	inv_end(arg);
}

static void mon_invalidate(void *arg, uintptr_t start, uintptr_t end)
{
	struct san_rcache *rc = arg;
	struct san_rcache_region *freed = NULL;
	size_t pg = san__page_size();

	start &= ~(uintptr_t)(pg - 1);
	end = (end + pg - 1) & ~(uintptr_t)(pg - 1);
	if (!invalidate_locked(rc, start, end, &freed))
		return;
	/* Nobody holds these: hand them to the application's threads. */
	while (freed) {
		struct san_rcache_region *r = freed, *head;

		freed = r->next_free;
		head = atomic_load_explicit(&rc->dead, memory_order_relaxed);
		do
			r->next_free = head;
		while (!atomic_compare_exchange_weak_explicit(&rc->dead, &head, r,
							      memory_order_release,
							      memory_order_relaxed));
	}
}

/* ---- get / put ---- */

/* Page-aligns [addr, addr+len). Returns 0 or -EINVAL. */
static int page_range(void *addr, size_t len, uintptr_t *s, uintptr_t *e)
{
	uintptr_t a = (uintptr_t)addr, pg = san__page_size();

	if (!len || a + len < a || a + len > UINTPTR_MAX - pg + 1)
		return -EINVAL;
	*s = a & ~(pg - 1);
	*e = (a + len + pg - 1) & ~(pg - 1);
	return 0;
}

/* mem_reg, evicting unused regions and retrying while the NIC is out of
 * pinnable memory (-ENOMEM) or slots (-ENOSPC). */
static int pin(struct san_rcache *rc, uintptr_t s, uintptr_t e, void **mr)
{
	for (;;) {
		int ret = rc->ops.mem_reg(rc->ctx, (void *)s, e - s, mr);

		if (!ret) {
			atomic_fetch_add_explicit(&rc->pins, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&rc->pinned_bytes, e - s, memory_order_relaxed);
			return 0;
		}
		if (ret != -ENOMEM && ret != -ENOSPC)
			return ret;
		if (!rc->caching || !evict_bytes(rc, ret == -ENOMEM ? e - s : 1))
			return ret;
	}
}

/* What a miss learned under the read lock. */
struct miss_plan {
	uintptr_t s, e;    /* the pages asked for */
	uintptr_t ms, me;  /* the range to register: s..e merged with overlaps */
	uint64_t seq0;     /* rc->inv_seq before anything was registered */
	size_t want_cap;   /* grow the index to this (0: no need) */
};

/* Publishes r (refs 1: the caller's) in the index, or leaves it private.
 * Returns the region the caller gets: r, or an indexed region that another
 * thread published meanwhile and that covers r (then r is unregistered). */
static struct san_rcache_region *publish(struct san_rcache *rc, struct san_rcache_region *r,
					 const struct miss_plan *p)
{
	struct san_rcache_region *freed = NULL, *got = r, *other;
	struct idx_ent *grown = NULL, *old = NULL;
	size_t len = region_len(r), i;

	if (p->want_cap) {
		grown = malloc(p->want_cap * sizeof(*grown));
		if (!grown)
			return r; /* stays private */
	}
	san__brlock_wrlock(&rc->lock);
	/* Was some of it unmapped while we pinned? Then what we pinned may be
	 * the old pages: keep it out of the cache, and out of use (only an
	 * application racing its own munmap against this registration gets
	 * here; it gets -EFAULT rather than the old pages). */
	if (inv_conflict(rc, p->seq0, r->start, r->end)) {
		atomic_store_explicit(&r->stale, 1, memory_order_release);
		if (rc->ops.mem_stale)
			rc->ops.mem_stale(rc->ctx, r->mr);
		goto out_unlock;
	}
	other = idx_lookup(rc, r->start, r->end);
	if (other) { /* a concurrent miss won: share its region */
		atomic_fetch_add_explicit(&other->refs, 1, memory_order_relaxed);
		got = other;
		push_free(&freed, r);
		goto out_unlock;
	}
	if (len > rc->cfg.max_bytes || !rc->cfg.max_regions)
		goto out_unlock;
	if (grown && p->want_cap > rc->cap) {
		memcpy(grown, rc->idx, rc->n * sizeof(*grown));
		old = rc->idx;
		rc->idx = grown;
		rc->cap = p->want_cap;
		grown = NULL;
	}
	/* Merge: what r overlaps leaves the index (holders keep theirs). */
	i = idx_first_overlap(rc, r->start);
	while (i < rc->n && rc->idx[i].start < r->end) {
		struct san_rcache_region *o = rc->idx[i].r;

		if (idx_remove(rc, i))
			push_free(&freed, o);
		else
			loose_add(rc, o); /* still held: keep it findable */
	}
	while (rc->n + 1 > rc->cfg.max_regions || rc->cached_bytes + len > rc->cfg.max_bytes)
		if (!evict_one(rc, &freed))
			break;
	if (rc->n + 1 > rc->cfg.max_regions || rc->cached_bytes + len > rc->cfg.max_bytes ||
	    rc->n + 1 > rc->cap)
		goto out_unlock; /* everything cached is in use: r stays private */
	i = idx_upper(rc, r->start);
	memmove(&rc->idx[i + 1], &rc->idx[i], (rc->n - i) * sizeof(rc->idx[0]));
	rc->idx[i] = (struct idx_ent){ r->start, r->end, r };
	rc->n++;
	rc->cached_bytes += len;
	atomic_store_explicit(&r->refs, 2, memory_order_relaxed);
	atomic_store_explicit(&r->indexed, 1, memory_order_relaxed);
	lru_place(rc, r, atomic_load_explicit(&r->used, memory_order_relaxed));
out_unlock:
	if (got == r && !atomic_load_explicit(&r->indexed, memory_order_relaxed) &&
	    !atomic_load_explicit(&r->stale, memory_order_relaxed))
		loose_add(rc, r); /* served uncached: still watched */
	san__brlock_wrunlock(&rc->lock);
	free(grown);
	free(old);
	destroy_list(rc, freed);
	return got;
}

static int miss(struct san_rcache *rc, struct miss_plan *p, struct san_rcache_region **r_out)
{
	struct san_rcache_region *r;
	int cache = rc->caching, ret;
	void *mr;

	/* Unpin what the monitor dropped before pinning more; again at the
	 * end, for what it dropped while we waited for the lock. */
	san__rcache_reap(rc);
	r = aligned_alloc(64, (sizeof(*r) + 63) & ~(size_t)63);
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	if (rc->mon) {
		/* Watch before pinning: a change after this point reaches the
		 * invalidation ring, which publish() checks. */
		ret = san__monitor_watch(rc->mon, p->ms, p->me);
		if (ret && (p->ms != p->s || p->me != p->e)) {
			p->ms = p->s;
			p->me = p->e;
			ret = san__monitor_watch(rc->mon, p->ms, p->me);
		}
		if (ret)
			cache = 0;
	}
	ret = pin(rc, p->ms, p->me, &mr);
	if (ret && (p->ms != p->s || p->me != p->e)) {
		p->ms = p->s;
		p->me = p->e;
		ret = pin(rc, p->ms, p->me, &mr);
	}
	if (ret) {
		free(r);
		return ret;
	}
	atomic_fetch_add_explicit(&rc->misses, 1, memory_order_relaxed);
	r->start = p->ms;
	r->end = p->me;
	r->mr = mr;
	r->lru.prev = r->lru.next = &r->lru;
	atomic_init(&r->refs, 1);
	atomic_init(&r->used, stamp_now());
	if (cache && rc->caching) {
		*r_out = publish(rc, r, p);
	} else {
		san__brlock_wrlock(&rc->lock);
		if (rc->mon && inv_conflict(rc, p->seq0, r->start, r->end)) {
			atomic_store_explicit(&r->stale, 1, memory_order_release);
			if (rc->ops.mem_stale)
				rc->ops.mem_stale(rc->ctx, r->mr);
		} else if (rc->mon) {
			loose_add(rc, r);
		}
		san__brlock_wrunlock(&rc->lock);
		*r_out = r;
	}
	san__rcache_reap(rc);
	return 0;
}

int san__rcache_get(struct san_rcache *rc, void *addr, size_t len,
		    struct san_rcache_region **r_out)
{
	return san__rcache_get_tagged(rc, addr, len, 0, r_out);
}

int san__rcache_get_tagged(struct san_rcache *rc, void *addr, size_t len, uint64_t tag,
			   struct san_rcache_region **r_out)
{
	struct miss_plan p;
	int ret = page_range(addr, len, &p.s, &p.e);

	if (ret)
		return ret;
	p.ms = p.s;
	p.me = p.e;
	p.seq0 = 0;
	p.want_cap = 0;
	if (rc->caching) {
		struct san_rcache_region *r;
		unsigned t;
		size_t i;

		t = san__brlock_rdlock(&rc->lock);
		r = idx_lookup(rc, p.s, p.e);
		if (san_likely(r != NULL)) {
			/* The index's reference keeps r alive until we unlock;
			 * taking it out of the index needs the write lock. */
			atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&rc->pcpu[t].hits, 1, memory_order_relaxed);
			/* Usually set already: a load, not a shared write. */
			if ((atomic_load_explicit(&r->owners, memory_order_relaxed) & tag) != tag)
				atomic_fetch_or_explicit(&r->owners, tag, memory_order_relaxed);
			san__brlock_rdunlock(&rc->lock, t);
			*r_out = r;
			return 0;
		}
		p.seq0 = rc->inv_seq;
		for (i = idx_first_overlap(rc, p.s); i < rc->n && rc->idx[i].start < p.e; i++) {
			p.ms = SAN_MIN(p.ms, rc->idx[i].start);
			p.me = SAN_MAX(p.me, rc->idx[i].end);
		}
		if (rc->n + 1 > rc->cap && rc->cap < rc->cfg.max_regions)
			p.want_cap = (size_t)SAN_MIN((uint64_t)rc->cap * 2, rc->cfg.max_regions);
		san__brlock_rdunlock(&rc->lock, t);
	} else if (rc->mon) {
		/* Uncached but watched: the pin window check needs it too. */
		unsigned t = san__brlock_rdlock(&rc->lock);

		p.seq0 = rc->inv_seq;
		san__brlock_rdunlock(&rc->lock, t);
	}
	ret = miss(rc, &p, r_out);
	if (!ret && tag)
		atomic_fetch_or_explicit(&(*r_out)->owners, tag, memory_order_relaxed);
	return ret;
}

void san__rcache_put(struct san_rcache *rc, struct san_rcache_region *r)
{
	if (!r)
		return;
	atomic_store_explicit(&r->used, stamp_now(), memory_order_relaxed);
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
		if (atomic_load_explicit(&r->loose, memory_order_acquire)) {
			san__brlock_wrlock(&rc->lock);
			if (atomic_load_explicit(&r->loose, memory_order_relaxed))
				loose_del(r);
			san__brlock_wrunlock(&rc->lock);
		}
		region_destroy(rc, r); /* left the index (or never entered it) */
	}
	san__rcache_reap(rc);
}

void *san__rcache_region_mr(const struct san_rcache_region *r)
{
	return r->mr;
}

void san__rcache_region_range(const struct san_rcache_region *r, uintptr_t *base, size_t *len)
{
	*base = r->start;
	*len = region_len(r);
}

int san__rcache_region_stale(const struct san_rcache_region *r)
{
	return atomic_load_explicit(&r->stale, memory_order_acquire);
}

const _Atomic uint64_t *san__rcache_inv_busy_ptr(struct san_rcache *rc)
{
	return rc ? &rc->inv_busy : NULL;
}

uint64_t san__rcache_inv_gen(struct san_rcache *rc)
{
	return atomic_load_explicit(&rc->inv_busy, memory_order_acquire);
}

int san__rcache_region_stale_sync(struct san_rcache *rc, const struct san_rcache_region *r)
{
	return san__seq_read_flag(&rc->inv_busy, &r->stale);
}

int san__rcache_region_cached(const struct san_rcache_region *r)
{
	return atomic_load_explicit(&r->indexed, memory_order_relaxed);
}

int san__rcache_invalidate(struct san_rcache *rc, void *addr, size_t len)
{
	struct san_rcache_region *freed = NULL;
	uintptr_t s, e;
	int n;

	if (page_range(addr, len, &s, &e))
		return -EINVAL;
	inv_begin(rc);
	n = invalidate_locked(rc, s, e, &freed);
	inv_end(rc);
	destroy_list(rc, freed);
	san__rcache_reap(rc);
	return n;
}

int san__rcache_drop_owner(struct san_rcache *rc, uint64_t tag)
{
	struct san_rcache_region *freed = NULL;
	size_t i = 0;
	int n = 0;

	if (!tag)
		return 0;
	san__brlock_wrlock(&rc->lock);
	while (i < rc->n) {
		struct san_rcache_region *r = rc->idx[i].r;
		uint64_t o = atomic_load_explicit(&r->owners, memory_order_relaxed);

		if (!(o & tag)) {
			i++;
			continue;
		}
		/* Holders re-tag on their next hit; clearing is safe. */
		o = atomic_fetch_and_explicit(&r->owners, ~tag, memory_order_relaxed) & ~tag;
		if (o || region_refs(r) > 1) {
			i++;
			continue;
		}
		if (idx_remove(rc, i))
			push_free(&freed, r);
		n++;
	}
	san__brlock_wrunlock(&rc->lock);
	destroy_list(rc, freed);
	san__rcache_reap(rc);
	return n;
}

int san__rcache_flush(struct san_rcache *rc)
{
	struct san_rcache_region *freed = NULL;
	size_t i = 0;
	int n = 0;

	san__brlock_wrlock(&rc->lock);
	while (i < rc->n) {
		struct san_rcache_region *r = rc->idx[i].r;

		if (region_refs(r) > 1) {
			i++;
			continue;
		}
		if (idx_remove(rc, i))
			push_free(&freed, r);
		n++;
	}
	san__brlock_wrunlock(&rc->lock);
	destroy_list(rc, freed);
	san__rcache_reap(rc);
	return n;
}

void san__rcache_stats(struct san_rcache *rc, struct san_stats *st)
{
	unsigned t;

	san__rcache_reap(rc);
	t = san__brlock_rdlock(&rc->lock);
	st->cached_regions = rc->n;
	san__brlock_rdunlock(&rc->lock, t);
	st->reg_hits = 0;
	for (unsigned i = 0; i <= rc->lock.mask; i++)
		st->reg_hits += atomic_load_explicit(&rc->pcpu[i].hits, memory_order_relaxed);
	st->reg_misses = atomic_load_explicit(&rc->misses, memory_order_relaxed);
	st->pins = atomic_load_explicit(&rc->pins, memory_order_relaxed);
	st->unpins = atomic_load_explicit(&rc->unpins, memory_order_relaxed);
	st->evictions = atomic_load_explicit(&rc->evictions, memory_order_relaxed);
	st->invalidations = atomic_load_explicit(&rc->invalidations, memory_order_relaxed);
	st->pinned_bytes = atomic_load_explicit(&rc->pinned_bytes, memory_order_relaxed);
}

int san__rcache_monitor_active(const struct san_rcache *rc)
{
	return rc->caching;
}

/* ---- create / destroy ---- */

int san__rcache_create(const struct san_rcache_config *c, const struct san_rcache_ops *ops,
		       void *ctx, struct san_rcache **rc_out)
{
	static const struct san_monitor_cb cb = {
		.lock = mon_lock,
		.invalidate = mon_invalidate,
		.unlock = mon_unlock,
	};
	struct san_rcache *rc;
	int ret;

	if (!c || !ops || !ops->mem_reg || !ops->mem_dereg || !rc_out)
		return -EINVAL;
	if (c->monitor != SAN_MONITOR_NONE && c->monitor != SAN_MONITOR_UFFD &&
	    c->monitor != SAN__MONITOR_EXTERNAL)
		return -EINVAL;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->cfg = *c;
	rc->ops = *ops;
	rc->ctx = ctx;
	rc->lru.prev = rc->lru.next = &rc->lru;
	rc->loose.prev = rc->loose.next = &rc->loose;
	rc->cap = (size_t)SAN_MAX(SAN_MIN(c->max_regions, (uint64_t)1024), (uint64_t)1);
	rc->idx = malloc(rc->cap * sizeof(*rc->idx));
	if (!rc->idx) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = san__brlock_init(&rc->lock);
	if (ret)
		goto out_free_idx;
	rc->pcpu = aligned_alloc(64, (rc->lock.mask + 1) * sizeof(*rc->pcpu));
	if (!rc->pcpu) {
		ret = -ENOMEM;
		goto out_lock;
	}
	for (unsigned i = 0; i <= rc->lock.mask; i++)
		atomic_init(&rc->pcpu[i].hits, 0);

	if (c->enabled && c->monitor == SAN__MONITOR_EXTERNAL) {
		rc->caching = 1;
	} else if (c->monitor == SAN_MONITOR_UFFD) {
		/* With caching off too: the monitor still guards live
		 * registrations (a release without deregistration makes them
		 * stale instead of leaving them on the old pages). */
		ret = san__monitor_uffd_open(&cb, rc, &rc->mon);
		if (ret == -ENOMEM)
			goto out_lock;
		if (ret) {
			san__log("userfaultfd monitor unavailable (%s): registrations are not cached",
				 strerror(-ret));
			rc->mon = NULL;
		}
		rc->caching = c->enabled && rc->mon != NULL;
	}
	*rc_out = rc;
	return 0;

out_lock:
	free(rc->pcpu);
	san__brlock_destroy(&rc->lock);
out_free_idx:
	free(rc->idx);
out_free:
	free(rc);
	return ret;
}

void san__rcache_destroy(struct san_rcache *rc)
{
	struct san_rcache_region *freed = NULL;
	size_t busy = 0;

	if (!rc)
		return;
	/* The thread first: it takes rc->lock. */
	san__monitor_close(rc->mon);
	san__brlock_wrlock(&rc->lock);
	while (rc->n > busy) {
		struct san_rcache_region *r = rc->idx[busy].r;

		if (region_refs(r) > 1) {
			busy++; /* a caller bug: leave it to its holder */
			continue;
		}
		if (idx_remove(rc, busy))
			push_free(&freed, r);
	}
	san__brlock_wrunlock(&rc->lock);
	destroy_list(rc, freed);
	san__rcache_reap(rc);
	if (busy)
		san__log("registration cache destroyed with %zu regions still in use", busy);
	free(rc->pcpu);
	san__brlock_destroy(&rc->lock);
	free(rc->idx);
	free(rc);
}
