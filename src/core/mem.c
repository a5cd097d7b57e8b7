/* SPDX-License-Identifier: MIT */
/*
 * The registration path: the one place that turns "this range" into pinned,
 * NIC-registered pages. Every request goes through the registration cache
 * (reg/rcache.h), whose mem_reg/mem_dereg are the NIC's. With the cache off
 * (SAN_RCACHE=0) or no monitor, the cache serves every get uncached: it
 * pins, and the put unpins.
 *
 * R2.5: each socket carries an owner tag (one of 64 bits; sockets beyond 64
 * share bits). When the last live socket with a bit closes, cached regions
 * whose every owner is gone are unpinned at once.
 */
#include "core.h"
#include "reg/rcache.h"

#include <errno.h>
#include <stdlib.h>

#define RC(p) ((struct san_rcache *)(p)->rcache)

/* issue 6: a san_mem is either a cache region or, with the low bit set, a
 * pool chunk of dma.c (both are at least 8-byte aligned). Pool chunks are
 * found before the cache is asked, so that memory from san_dma_alloc is
 * never pinned twice, with or without the cache. They never go stale (the
 * pool owns their mapping) and are not parked (a lookup is cheap). */
#define MEM_DMA 1u
static inline int mem_dma(const struct san_mem *m)
{
	return san_unlikely((uintptr_t)m & MEM_DMA);
}

static inline struct san_dma_chunk *mem_chunk(struct san_mem *m)
{
	return (struct san_dma_chunk *)((uintptr_t)m & ~(uintptr_t)MEM_DMA);
}

static int nic_reg(void *ctx, void *addr, size_t len, void **mr_out)
{
	san_provider *p = ctx;
	struct san_nic_mr *mr;
	int rc = p->nic_ops->mem_reg(p->nic, addr, len, &mr);

	if (!rc) {
		mr->inv_busy = san__rcache_inv_busy_ptr(p->rcache);
		*mr_out = mr;
	}
	return rc;
}

static void nic_dereg(void *ctx, void *mr)
{
	san_provider *p = ctx;

	p->nic_ops->mem_dereg(p->nic, mr);
}

/* Monitor thread, cache write lock held: only an atomic store. */
static void nic_stale(void *ctx, void *mr)
{
	(void)ctx;
	atomic_store_explicit(&((struct san_nic_mr *)mr)->stale, 1, memory_order_release);
}

static const struct san_rcache_ops nic_ops = {
	.mem_reg = nic_reg,
	.mem_dereg = nic_dereg,
	.mem_stale = nic_stale,
};

int san__mem_open(san_provider *p)
{
	struct san_rcache_config c = {
		.enabled = p->cfg.rcache_enabled,
		.max_regions = p->cfg.rcache_max_regions,
		.max_bytes = p->cfg.rcache_max_bytes,
		.monitor = p->cfg.monitor,
	};
	struct san_rcache *rc;
	int ret = san__rcache_create(&c, &nic_ops, p, &rc);

	if (ret)
		return ret;
	p->rcache = rc;
	return 0;
}

void san__mem_close(san_provider *p)
{
	if (p->rcache)
		san__rcache_destroy(RC(p));
	p->rcache = NULL;
}

int san__mem_get(san_provider *p, void *addr, size_t len, uint64_t tag, struct san_mem **m_out)
{
	struct san_rcache_region *r;
	int ret;

	if (san_unlikely(atomic_load_explicit(&p->dma_nchunks, memory_order_acquire))) {
		struct san_dma_chunk *c;

		if (!san__dma_find(p, addr, len, &c)) {
			*m_out = (struct san_mem *)((uintptr_t)c | MEM_DMA);
			return 0;
		}
	}
	ret = san__rcache_get_tagged(RC(p), addr, len, tag, &r);

	if (ret)
		return ret == -EINVAL ? -EFAULT : ret; /* a range that wraps */
	*m_out = (struct san_mem *)r;
	return 0;
}

void san__mem_put(san_provider *p, struct san_mem *m)
{
	if (mem_dma(m)) {
		san__dma_put(p, mem_chunk(m));
		return;
	}
	san__rcache_put(RC(p), (struct san_rcache_region *)m);
}

struct san_nic_mr *san__mem_mr(struct san_mem *m)
{
	if (mem_dma(m))
		return san__dma_mr(mem_chunk(m));
	return san__rcache_region_mr((struct san_rcache_region *)m);
}

int san__mem_cached(struct san_mem *m)
{
	if (mem_dma(m))
		return 0;
	return san__rcache_region_cached((struct san_rcache_region *)m);
}

const _Atomic uint64_t *san__mem_inv_busy(san_provider *p)
{
	return san__rcache_inv_busy_ptr(RC(p));
}

uint64_t san__mem_inv_gen(san_provider *p)
{
	return san__rcache_inv_gen(RC(p));
}

void san__mem_reap(san_provider *p)
{
	san__rcache_reap(RC(p));
}

int san__mem_stale(struct san_mem *m)
{
	if (mem_dma(m))
		return 0;
	return san__rcache_region_stale((struct san_rcache_region *)m);
}

int san__mem_stale_sync(san_provider *p, struct san_mem *m)
{
	if (mem_dma(m))
		return 0;
	return san__rcache_region_stale_sync(RC(p), (struct san_rcache_region *)m);
}

int san__mem_invalidate(san_provider *p, void *addr, size_t len)
{
	if (!len)
		return 0;
	return san__rcache_invalidate(RC(p), addr, len);
}

uint64_t san__mem_socket_opened(san_provider *p)
{
	unsigned best = 0;

	pthread_mutex_lock(&p->ctl_lock);
	for (unsigned i = 1; i < 64; i++)
		if (p->tag_users[i] < p->tag_users[best])
			best = i;
	p->tag_users[best]++;
	pthread_mutex_unlock(&p->ctl_lock);
	return 1ull << best;
}

void san__mem_socket_closed(san_provider *p, uint64_t tag)
{
	unsigned bit = (unsigned)__builtin_ctzll(tag);
	int last;

	pthread_mutex_lock(&p->ctl_lock);
	last = --p->tag_users[bit] == 0;
	pthread_mutex_unlock(&p->ctl_lock);
	if (last)
		san__rcache_drop_owner(RC(p), tag);
}

void san__mem_stats(san_provider *p, struct san_stats *st)
{
	san__rcache_stats(RC(p), st);
}
