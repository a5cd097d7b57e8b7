/* SPDX-License-Identifier: MIT */
/*
 * The socket layer: what san.h promises, on top of a NIC (nic/nic.h) and
 * the registration path (mem.c, where the cache slots in).
 *
 * Locking, in the order taken:
 *   ctl_lock     the provider's lists of sockets and listeners;
 *   engine lock  the NIC's: every socket's operation state and completions;
 *   reg_lock     one socket's registrations: its handle table and list.
 * Registering and deregistering local memory take only reg_lock (the hit
 * path of the cache must stay cheap); posting takes the engine lock, then
 * reg_lock to resolve buffers. Pinning and unpinning (mem.c) hold no lock.
 */
#ifndef SAN_CORE_H
#define SAN_CORE_H

#include <san.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "nic/nic.h"
#include "util/biaslock.h"
#include "util/util.h"

struct san_mem; /* a pinned range from mem.c */

#define SAN_PARK_BITS 12
#define SAN_PARK_SLOTS (1u << SAN_PARK_BITS) /* direct-mapped: 32 KiB per socket */

enum { REG_LOCAL = 1, REG_RDMA = 2 };

/* One registration the application made on a socket. */
struct san_reg {
	/* What a cache hit and a deregistration read: the first cache line. */
	uintptr_t addr;
	size_t len;
	san_handle handle;          /* REG_LOCAL */
	uint64_t vgen;              /* reg_lock: an invalidation sequence (even) under which
				     * mr was seen not stale; odd: not known (docs/rcache.md §10) */
	int flags;                  /* SAN_MEM_* */
	int kind;                   /* REG_LOCAL, REG_RDMA */
	_Atomic int inuse;          /* outstanding local ops using it (-EBUSY) */
	unsigned park_idx;          /* its slot in s->parked */
	bool cacheable;             /* may be parked: mem is cached and watched */
	bool parked;                /* reg_lock: deregistered, kept in s->parked */
	/* The rest. */
	struct san_reg *next, *prev; /* reg_lock: the socket's list (RDMA ones) */
	struct san_socket *s;
	uint64_t key;               /* REG_RDMA */
	struct san_mem *mem;
	struct san_nic_mr *mr;      /* mem's NIC registration */
} __attribute__((aligned(64)));

struct san_socket {
	/* First line: what the registration path writes under reg_lock, so
	 * two threads registering on one socket move one line, not four. */
	_Alignas(64) san_biaslock reg_lock; /* short sections only, never blocks */
	_Atomic uint64_t park_hits;      /* written under reg_lock, read without */
	struct hslot *hslots;            /* reg_lock: the handle table */
	uint32_t hcap, hfree;            /* reg_lock; hfree UINT32_MAX = none */
	/* Read-mostly: */
	san_provider *p;
	struct san_nic_ep *ep;
	const _Atomic int *ep_state;     /* the NIC's state of ep (nic_ops->ep_state_ptr) */
	const _Atomic uint64_t *inv_busy; /* san__mem_inv_busy: read on the hit path */
	struct san_socket *next, *prev;  /* ctl_lock */
	uint64_t tag;                    /* owner tag for the cache (R2.5) */
	bool closing;                    /* engine lock (set once; read on the hit path) */
	struct san_reg *regs;            /* reg_lock: RDMA registrations (local ones: hslots) */
	/* reg_lock: deregistered local registrations kept for a fast
	 * re-registration of the same buffer (docs/rcache.md §10). */
	struct san_reg *parked[SAN_PARK_SLOTS];
	/* engine lock: */
	_Alignas(64) struct san_completion *cq; /* ring of max_outstanding */
	unsigned cq_head, cq_count;
	unsigned outstanding;            /* posted and not yet returned by san_poll */
	int pollers;                     /* engine lock: threads inside san_poll */
	/* issue 6: san_socket_event_fd; -1 until asked for. Engine lock
	 * (created under it, signalled by req_done under it). */
	int efd;
};

struct san_listener {
	san_provider *p;
	struct san_nic_listener *nl;
	struct san_listener *next, *prev; /* ctl_lock */
};

struct hslot {
	struct san_reg *reg;
	uint32_t gen;
	uint32_t next_free;
};

struct san_provider {
	struct san_config cfg;
	const struct san_nic_ops *nic_ops;
	struct san_nic *nic;
	void *rcache;                    /* mem.c's cache, NULL when off */
	pthread_mutex_t ctl_lock;
	struct san_socket *sockets;      /* ctl_lock */
	struct san_listener *listeners;  /* ctl_lock */
	unsigned tag_users[64];          /* ctl_lock: live sockets per owner tag */
	_Atomic uint64_t park_hits_closed; /* park hits of sockets gone */
	_Atomic uint64_t swept_gen;      /* san__mem_inv_gen at the last stale sweep */
	/* issue 6: pinned pools (dma.c). dma is created once (ctl_lock) and
	 * lives until san_provider_close; dma_nchunks != 0 tells mem.c to
	 * look there first (0: the registration path pays one load). */
	struct san_dma_pool *dma;
	_Atomic unsigned dma_nchunks;
};

/* mem.c: the registration path. Returns a pinned range covering the pages
 * of [addr, addr+len) (a cache hit or a fresh pin). */
int san__mem_open(san_provider *p);
void san__mem_close(san_provider *p);
int san__mem_get(san_provider *p, void *addr, size_t len, uint64_t tag, struct san_mem **m_out);
void san__mem_put(san_provider *p, struct san_mem *m);
struct san_nic_mr *san__mem_mr(struct san_mem *m);
/* 1 if m is in the cache (parking it is worthwhile). */
int san__mem_cached(struct san_mem *m);
/* 1 if the mapping under m changed (R2.4). _sync: ordered after an
 * invalidation in progress (use before moving data). */
int san__mem_stale(struct san_mem *m);
int san__mem_stale_sync(san_provider *p, struct san_mem *m);
int san__mem_invalidate(san_provider *p, void *addr, size_t len);
/* Changes whenever the cache processed an invalidation. */
uint64_t san__mem_inv_gen(san_provider *p);
/* The cache's invalidation sequence (odd while one runs), or NULL. */
const _Atomic uint64_t *san__mem_inv_busy(san_provider *p);
/* Unpins what the monitor invalidated while nobody held it. */
void san__mem_reap(san_provider *p);
/* R2.5: a socket's owner tag, and its release when the socket is gone. */
uint64_t san__mem_socket_opened(san_provider *p);
void san__mem_socket_closed(san_provider *p, uint64_t tag);
void san__mem_stats(san_provider *p, struct san_stats *st);

/* reg.c */
int san__reg_socket_init(san_socket *s);
void san__reg_socket_fini(san_socket *s);
/* reg_lock held. Resolves one buffer of an operation: coverage, rights. */
int san__reg_resolve(san_socket *s, const struct san_buf *b, int right, struct san_reg **r_out);
enum san_unpark { UNPARK_STALE, UNPARK_RANGE, UNPARK_ALL };
/* Drops parked registrations of every socket: the stale ones, plus those
 * overlapping [addr, addr+len) (UNPARK_RANGE) or all (UNPARK_ALL). Takes
 * ctl_lock, then each reg_lock; unpins with no lock held. Returns how many. */
int san__reg_unpark(san_provider *p, enum san_unpark how, uintptr_t addr, size_t len);
/* Sum of fast re-registrations, for the stats. */
uint64_t san__reg_park_hits(san_provider *p);
/* Detaches every registration of a closing socket (takes reg_lock). */
void san__reg_release_all(san_socket *s, struct san_reg **list_out);

/* config.c */
int san__config_check(const struct san_config *c);

/* ---- issue 6: pinned pools (dma.c) ---- */
struct san_dma_chunk;
/* A chunk holding all of [addr, addr+len), with a reference taken: 0, or
 * -ENOENT (no pool memory there). */
int san__dma_find(san_provider *p, const void *addr, size_t len, struct san_dma_chunk **c_out);
void san__dma_put(san_provider *p, struct san_dma_chunk *c);
struct san_nic_mr *san__dma_mr(struct san_dma_chunk *c);
/* At provider close, after every socket is gone: unpins every chunk. */
void san__dma_close(san_provider *p);
/* ---- end issue 6 ---- */

#endif
