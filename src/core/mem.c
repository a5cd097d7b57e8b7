/* SPDX-License-Identifier: MIT */
/*
 * The registration path: the one place that turns "this range" into pinned,
 * NIC-registered pages. With the cache on, a request goes through the
 * registration cache (reg/rcache.h), whose mem_reg/mem_dereg ops are the
 * NIC's; with it off, every get pins and every put unpins.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>

struct san_mem {
	struct san_nic_mr *mr; /* direct path */
};

int san__mem_open(san_provider *p)
{
	p->rcache = NULL;
	return 0;
}

void san__mem_close(san_provider *p)
{
	(void)p;
}

int san__mem_get(san_provider *p, void *addr, size_t len, struct san_mem **m_out)
{
	uintptr_t pg = san__page_size();
	uintptr_t base = (uintptr_t)addr & ~(pg - 1);
	uintptr_t end;
	struct san_mem *m;
	int rc;

	if (__builtin_add_overflow((uintptr_t)addr, len, &end) || end > UINTPTR_MAX - pg)
		return -EFAULT;
	end = (end + pg - 1) & ~(pg - 1);
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = p->nic_ops->mem_reg(p->nic, (void *)base, end - base, &m->mr);
	if (rc) {
		free(m);
		return rc;
	}
	atomic_fetch_add(&p->reg_misses, 1);
	*m_out = m;
	return 0;
}

void san__mem_put(san_provider *p, struct san_mem *m)
{
	p->nic_ops->mem_dereg(p->nic, m->mr);
	free(m);
}

struct san_nic_mr *san__mem_mr(struct san_mem *m)
{
	return m->mr;
}

int san__mem_invalidate(san_provider *p, void *addr, size_t len)
{
	(void)p;
	(void)addr;
	(void)len;
	return 0; /* nothing is cached */
}

void san__mem_socket_closed(san_provider *p)
{
	(void)p;
}

void san__mem_stats(san_provider *p, struct san_stats *st)
{
	st->reg_hits = atomic_load(&p->reg_hits);
	st->reg_misses = atomic_load(&p->reg_misses);
}
