/* SPDX-License-Identifier: MIT */
/*
 * Pinned memory pools (issue 6, R3.2, R3.3): the "proxy driver" memory of
 * the seed, for message regions and other memory that lives as long as a
 * connection or longer.
 *
 * A pool is a list of *chunks*. A chunk is one mapping, pinned and
 * registered with the NIC once (mem_reg: io_uring fixed buffers), backed
 * by the best pages the system gives (hugetlb pages when the administrator
 * reserved some, else transparent huge pages on 2 MiB-aligned memory, else
 * ordinary pages). Allocations are carved out of chunks page by page (a
 * bitmap per chunk); an allocation of more than half a chunk gets a chunk of
 * its own. So a connection's two message regions cost no pin of their own,
 * and every registration of pool memory on any socket is found here by
 * mem.c before the registration cache is asked: no second pin, with or
 * without the cache.
 *
 * Lifetime: a chunk holds one reference for the pool's table and one per
 * registration (san_reg) inside it. The pool drops its reference when the
 * chunk has no allocation left (it keeps one spare chunk against churn);
 * the last reference unregisters and unmaps. Registrations that outlive
 * san_dma_free of their memory keep the pages pinned *and mapped* (nobody
 * else can be given that address), so they never go stale.
 *
 * Locking: pool->lock (a mutex) protects the table, the bitmaps and the
 * counters. The registration path takes it only when a chunk exists
 * (p->dma_nchunks != 0). mem_reg/mem_dereg, mmap and munmap are called with
 * no lock held.
 *
 * Physical addresses: the seed allocates "below 4 GB" for NICs with 32-bit
 * DMA. User space on Linux cannot choose physical addresses and the software
 * NIC has no such limit (the kernel copies between sockets and the pinned
 * pages), so that part of R3.3 has no meaning here; what remains is pinned,
 * registered, physically contiguous per huge page where the system allows.
 */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define HUGE_SZ (2u << 20)
#define PAGE_SZ 4096u
#define DMA_MAX_LEN (1ull << 40)

enum { KIND_AUTO = 0 };

struct san_dma_chunk {
	uintptr_t base;
	size_t len;
	int kind;                /* SAN_DMA_* */
	struct san_nic_mr *mr;
	_Atomic long refs;       /* the table's + one per registration */
	bool in_table;           /* pool lock */
	size_t npages, nfree;    /* pool lock */
	unsigned allocs;         /* pool lock: live allocations */
	uint64_t map[];          /* pool lock: 1 = page allocated */
};

struct san_dma_pool {
	pthread_mutex_t lock;
	struct san_dma_chunk **tab; /* sorted by base */
	unsigned n, cap;
	int want;                   /* KIND_AUTO or a forced SAN_DMA_* */
	size_t chunk_len;
	int hugetlb_ok, thp_ok;     /* -1 unknown, 0 failed, 1 worked */
	uint64_t allocs, alloc_bytes, chunk_pins;
	_Atomic uint64_t reg_hits;
};

static int env_kind(void)
{
	const char *v = getenv("SAN_DMA_KIND");

	if (!v || !*v || !strcasecmp(v, "auto"))
		return KIND_AUTO;
	if (!strcasecmp(v, "hugetlb"))
		return SAN_DMA_HUGETLB;
	if (!strcasecmp(v, "thp"))
		return SAN_DMA_THP;
	if (!strcasecmp(v, "pages"))
		return SAN_DMA_PAGES;
	san__log("SAN_DMA_KIND=%s: not auto|hugetlb|thp|pages, using auto", v);
	return KIND_AUTO;
}

static size_t env_chunk(void)
{
	const char *v = getenv("SAN_DMA_CHUNK");
	uint64_t x;

	if (!v || !*v)
		return HUGE_SZ;
	if (san__parse_size(v, &x) || x < HUGE_SZ || x > (1ull << 30) || x % HUGE_SZ) {
		san__log("SAN_DMA_CHUNK=%s: not a multiple of 2M in 2M..1G, using 2M", v);
		return HUGE_SZ;
	}
	return (size_t)x;
}

static struct san_dma_pool *pool_get(san_provider *p)
{
	struct san_dma_pool *d;

	pthread_mutex_lock(&p->ctl_lock);
	d = p->dma;
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (d) {
			pthread_mutex_init(&d->lock, NULL);
			d->want = env_kind();
			d->chunk_len = env_chunk();
			d->hugetlb_ok = d->thp_ok = -1;
			p->dma = d;
		}
	}
	pthread_mutex_unlock(&p->ctl_lock);
	return d;
}

/* ---- mappings ---- */

static void *map_hugetlb(size_t len)
{
	/* No MAP_NORESERVE: the mmap fails now (ENOMEM) unless enough huge
	 * pages are reserved, instead of a SIGBUS at the first touch. */
	void *a = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);

	return a == MAP_FAILED ? NULL : a;
}

/* 2 MiB-aligned anonymous memory. */
static void *map_aligned(size_t len)
{
	size_t over = len + HUGE_SZ;
	char *a = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t start;
	size_t head;

	if (a == MAP_FAILED)
		return NULL;
	start = ((uintptr_t)a + HUGE_SZ - 1) & ~(uintptr_t)(HUGE_SZ - 1);
	head = start - (uintptr_t)a;
	if (head)
		munmap(a, head);
	if (over - head - len)
		munmap((char *)start + len, over - head - len);
	return (void *)start;
}

/* Asks for transparent huge pages and checks that the kernel gave them:
 * MADV_COLLAPSE (Linux 6.1) succeeds only if the whole range is backed by
 * huge pages afterwards, whatever the THP "enabled" policy. */
static int make_thp(void *a, size_t len)
{
	if (madvise(a, len, MADV_HUGEPAGE))
		return -errno;
	/* One write per huge page: with MADV_HUGEPAGE the fault itself
	 * allocates a huge page when one is free. */
	for (size_t off = 0; off < len; off += HUGE_SZ)
		((volatile char *)a)[off] = 0;
	if (madvise(a, len, MADV_COLLAPSE))
		return -errno;
	return 0;
}

/* Maps len bytes (a multiple of 2 MiB) of the best kind allowed. */
static void *chunk_map(struct san_dma_pool *d, size_t len, int *kind_out)
{
	void *a;
	int want;

	pthread_mutex_lock(&d->lock);
	want = d->want;
	pthread_mutex_unlock(&d->lock);
	if (want == KIND_AUTO || want == SAN_DMA_HUGETLB) {
		a = map_hugetlb(len);
		pthread_mutex_lock(&d->lock);
		d->hugetlb_ok = a != NULL;
		pthread_mutex_unlock(&d->lock);
		if (a) {
			*kind_out = SAN_DMA_HUGETLB;
			return a;
		}
		if (want == SAN_DMA_HUGETLB)
			return NULL;
	}
	a = map_aligned(len);
	if (!a)
		return NULL;
	if (want == KIND_AUTO || want == SAN_DMA_THP) {
		int rc = make_thp(a, len);

		pthread_mutex_lock(&d->lock);
		d->thp_ok = rc == 0;
		pthread_mutex_unlock(&d->lock);
		if (!rc) {
			*kind_out = SAN_DMA_THP;
			return a;
		}
		if (want == SAN_DMA_THP) {
			munmap(a, len);
			return NULL;
		}
		madvise(a, len, MADV_NOHUGEPAGE);
	}
	*kind_out = SAN_DMA_PAGES;
	return a;
}

/* Maps, pins and registers a chunk of len bytes. */
static int chunk_new(san_provider *p, struct san_dma_pool *d, size_t len, struct san_dma_chunk **c_out)
{
	size_t npages = len / PAGE_SZ, words = (npages + 63) / 64;
	struct san_dma_chunk *c = calloc(1, sizeof(*c) + words * sizeof(uint64_t));
	int kind = SAN_DMA_PAGES, rc;
	void *a;

	if (!c)
		return -ENOMEM;
	a = chunk_map(d, len, &kind);
	if (!a) {
		free(c);
		return -ENOMEM;
	}
	/* Pool memory belongs to this process's provider: a child must not
	 * share pinned pages with it (and would copy them at fork). */
	madvise(a, len, MADV_DONTFORK);
	rc = p->nic_ops->mem_reg(p->nic, a, len, &c->mr);
	if (rc) {
		munmap(a, len);
		free(c);
		/* RLIMIT_MEMLOCK or no pinnable memory: both are -ENOMEM to
		 * the caller; -ENOSPC (no NIC slot) too. */
		return rc == -EFAULT ? rc : -ENOMEM;
	}
	c->mr->owned_map = true; /* before anyone can see the chunk */
	c->base = (uintptr_t)a;
	c->len = len;
	c->kind = kind;
	c->npages = c->nfree = npages;
	atomic_init(&c->refs, 1);
	*c_out = c;
	return 0;
}

static void chunk_release(san_provider *p, struct san_dma_chunk *c)
{
	/* The NIC keeps the pages pinned while a transfer still uses them;
	 * unmapping then only drops our mapping. */
	p->nic_ops->mem_dereg(p->nic, c->mr);
	munmap((void *)c->base, c->len);
	free(c);
}

static void chunk_unref(san_provider *p, struct san_dma_chunk *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		chunk_release(p, c);
}

/* ---- the table (pool lock held) ---- */

/* Index of the first chunk with base > a. */
static unsigned tab_upper(const struct san_dma_pool *d, uintptr_t a)
{
	unsigned lo = 0, hi = d->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (d->tab[mid]->base <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct san_dma_chunk *tab_find(const struct san_dma_pool *d, uintptr_t a)
{
	unsigned i = tab_upper(d, a);
	struct san_dma_chunk *c;

	if (!i)
		return NULL;
	c = d->tab[i - 1];
	return a - c->base < c->len ? c : NULL;
}

static int tab_insert(san_provider *p, struct san_dma_pool *d, struct san_dma_chunk *c)
{
	unsigned i;

	if (d->n == d->cap) {
		unsigned ncap = d->cap ? d->cap * 2 : 16;
		struct san_dma_chunk **t = realloc(d->tab, ncap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		d->tab = t;
		d->cap = ncap;
	}
	i = tab_upper(d, c->base);
	memmove(d->tab + i + 1, d->tab + i, (d->n - i) * sizeof(*d->tab));
	d->tab[i] = c;
	d->n++;
	c->in_table = true;
	atomic_store_explicit(&p->dma_nchunks, d->n, memory_order_release);
	return 0;
}

static void tab_remove(san_provider *p, struct san_dma_pool *d, struct san_dma_chunk *c)
{
	unsigned i = tab_upper(d, c->base) - 1;

	memmove(d->tab + i, d->tab + i + 1, (d->n - i - 1) * sizeof(*d->tab));
	d->n--;
	c->in_table = false;
	atomic_store_explicit(&p->dma_nchunks, d->n, memory_order_release);
}

/* ---- page bitmap (pool lock held) ---- */

static int bit(const struct san_dma_chunk *c, size_t i)
{
	return (c->map[i / 64] >> (i % 64)) & 1;
}

static void set_bits(struct san_dma_chunk *c, size_t first, size_t n, int v)
{
	for (size_t i = first; i < first + n; i++) {
		if (v)
			c->map[i / 64] |= 1ull << (i % 64);
		else
			c->map[i / 64] &= ~(1ull << (i % 64));
	}
}

/* First fit of n free pages; returns the first page or SIZE_MAX. */
static size_t find_run(const struct san_dma_chunk *c, size_t n)
{
	size_t run = 0;

	if (c->nfree < n)
		return SIZE_MAX;
	for (size_t i = 0; i < c->npages; i++) {
		if (!(i % 64) && c->map[i / 64] == ~0ull) {
			run = 0;
			i += 63;
			continue;
		}
		if (bit(c, i)) {
			run = 0;
			continue;
		}
		if (++run == n)
			return i + 1 - n;
	}
	return SIZE_MAX;
}

static void carve(struct san_dma_pool *d, struct san_dma_chunk *c, size_t first, size_t n,
		  size_t len, struct san_dma *out)
{
	set_bits(c, first, n, 1);
	c->nfree -= n;
	c->allocs++;
	d->allocs++;
	d->alloc_bytes += n * PAGE_SZ;
	out->addr = (void *)(c->base + first * PAGE_SZ);
	out->len = len;
	out->kind = c->kind;
}

int san_dma_alloc(san_provider *p, size_t len, struct san_dma *d_out)
{
	struct san_dma_pool *d;
	struct san_dma_chunk *c;
	size_t n, clen;
	int rc;

	if (!p || !d_out || !len || len > DMA_MAX_LEN)
		return -EINVAL;
	d = pool_get(p);
	if (!d)
		return -ENOMEM;
	n = (len + PAGE_SZ - 1) / PAGE_SZ;
	if (len <= d->chunk_len / 2) {
		pthread_mutex_lock(&d->lock);
		for (unsigned i = 0; i < d->n; i++) {
			size_t first;

			c = d->tab[i];
			first = find_run(c, n);
			if (first != SIZE_MAX) {
				carve(d, c, first, n, len, d_out);
				pthread_mutex_unlock(&d->lock);
				memset(d_out->addr, 0, n * PAGE_SZ);
				return 0;
			}
		}
		pthread_mutex_unlock(&d->lock);
		clen = d->chunk_len;
	} else {
		clen = (len + HUGE_SZ - 1) & ~(size_t)(HUGE_SZ - 1);
	}
	/* A new chunk (fresh mappings are zeroed by the kernel). Two threads
	 * may both get here; each uses its own chunk, the table takes both. */
	rc = chunk_new(p, d, clen, &c);
	if (rc)
		return rc;
	pthread_mutex_lock(&d->lock);
	rc = tab_insert(p, d, c);
	if (!rc) {
		d->chunk_pins++;
		carve(d, c, 0, n, len, d_out);
	}
	pthread_mutex_unlock(&d->lock);
	if (rc)
		chunk_unref(p, c);
	return rc;
}

/* Pool lock held: a chunk with no allocation left leaves the table, unless
 * it is the only empty one of the standard size (a spare against churn).
 * Returns it if it left: the caller drops the table's reference after
 * unlocking. */
static struct san_dma_chunk *maybe_retire(san_provider *p, struct san_dma_pool *d,
					  struct san_dma_chunk *c)
{
	if (c->allocs)
		return NULL;
	if (c->len == d->chunk_len) {
		/* Keep it if it is the only empty standard chunk. */
		bool other_empty = false;

		for (unsigned i = 0; i < d->n; i++)
			if (d->tab[i] != c && !d->tab[i]->allocs && d->tab[i]->len == d->chunk_len)
				other_empty = true;
		if (!other_empty)
			return NULL;
	}
	tab_remove(p, d, c);
	return c;
}

void san_dma_free(san_provider *p, struct san_dma *m)
{
	struct san_dma_pool *d;
	struct san_dma_chunk *c, *drop = NULL;
	size_t first, n;
	uintptr_t a;

	if (!p || !m || !m->addr)
		return;
	d = p->dma;
	if (!d) {
		san__log("san_dma_free(%p): no pool memory in this provider", m->addr);
		return;
	}
	a = (uintptr_t)m->addr;
	pthread_mutex_lock(&d->lock);
	c = tab_find(d, a);
	n = (m->len + PAGE_SZ - 1) / PAGE_SZ;
	first = c ? (a - c->base) / PAGE_SZ : 0;
	if (!c || a % PAGE_SZ || !n || first + n > c->npages) {
		pthread_mutex_unlock(&d->lock);
		san__log("san_dma_free(%p, %zu): not an allocation of this pool", m->addr, m->len);
		return;
	}
	for (size_t i = first; i < first + n; i++) {
		if (!bit(c, i)) {
			pthread_mutex_unlock(&d->lock);
			san__log("san_dma_free(%p, %zu): freed twice or not allocated", m->addr, m->len);
			return;
		}
	}
	set_bits(c, first, n, 0);
	c->nfree += n;
	c->allocs--;
	d->allocs--;
	d->alloc_bytes -= n * PAGE_SZ;
	drop = maybe_retire(p, d, c);
	pthread_mutex_unlock(&d->lock);
	if (drop)
		chunk_unref(p, drop);
	memset(m, 0, sizeof(*m));
}

int san_dma_query(san_provider *p, struct san_dma_stats *st_out)
{
	struct san_dma_stats st = { 0 };
	struct san_dma_pool *d;

	if (!p || !st_out)
		return -EINVAL;
	st.hugetlb_ok = st.thp_ok = -1;
	d = p->dma;
	if (d) {
		pthread_mutex_lock(&d->lock);
		for (unsigned i = 0; i < d->n; i++) {
			const struct san_dma_chunk *c = d->tab[i];

			st.chunks++;
			st.chunk_bytes += c->len;
			if (c->kind == SAN_DMA_HUGETLB)
				st.hugetlb_bytes += c->len;
			else if (c->kind == SAN_DMA_THP)
				st.thp_bytes += c->len;
			else
				st.pages_bytes += c->len;
		}
		st.allocs = d->allocs;
		st.alloc_bytes = d->alloc_bytes;
		st.chunk_pins = d->chunk_pins;
		st.hugetlb_ok = d->hugetlb_ok;
		st.thp_ok = d->thp_ok;
		pthread_mutex_unlock(&d->lock);
		st.reg_hits = atomic_load_explicit(&d->reg_hits, memory_order_relaxed);
	}
	*st_out = st;
	return 0;
}

/* ---- the registration path's side (mem.c) ---- */

int san__dma_find(san_provider *p, const void *addr, size_t len, struct san_dma_chunk **c_out)
{
	struct san_dma_pool *d = p->dma;
	struct san_dma_chunk *c;
	uintptr_t a = (uintptr_t)addr;

	if (!d || !len)
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	c = tab_find(d, a);
	if (!c || len > c->len - (a - c->base)) {
		pthread_mutex_unlock(&d->lock);
		return -ENOENT;
	}
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&d->lock);
	atomic_fetch_add_explicit(&d->reg_hits, 1, memory_order_relaxed);
	*c_out = c;
	return 0;
}

void san__dma_put(san_provider *p, struct san_dma_chunk *c)
{
	chunk_unref(p, c);
}

struct san_nic_mr *san__dma_mr(struct san_dma_chunk *c)
{
	return c->mr;
}

void san__dma_close(san_provider *p)
{
	struct san_dma_pool *d = p->dma;

	if (!d)
		return;
	/* Every socket is closed: registrations are gone, only the table's
	 * references are left. Allocations still live are released too. */
	pthread_mutex_lock(&d->lock);
	while (d->n) {
		struct san_dma_chunk *c = d->tab[d->n - 1];

		tab_remove(p, d, c);
		pthread_mutex_unlock(&d->lock);
		chunk_unref(p, c);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_destroy(&d->lock);
	free(d->tab);
	free(d);
	p->dma = NULL;
}
