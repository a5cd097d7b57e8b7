/* SPDX-License-Identifier: MIT */
/*
 * The registration cache (R2.1-R2.10): pinned, NIC-registered ranges keyed
 * by virtual address, kept after their last user lets go (lazy
 * deregistration) and dropped when the mapping under them changes.
 *
 * It sits below the NIC users (sockets) and above the NIC's mem_reg and
 * mem_dereg, which it reaches only through struct san_rcache_ops. The design,
 * the overlap policy, the lock order and the argument that a stale
 * registration is never handed out are in docs/rcache.md.
 *
 * Threads: every function may be called from any thread, concurrently,
 * except create and destroy. A hit takes only the read side of the cache's
 * per-CPU reader-writer lock and an atomic increment of the region's
 * reference count.
 */
#ifndef SAN_RCACHE_H
#define SAN_RCACHE_H

#include <san.h>
#include <stddef.h>
#include <stdint.h>

struct san_rcache;
struct san_rcache_region;

/* How the cache registers memory. addr and len are page-aligned.
 *
 * mem_reg returns 0 and *mr_out, or -ENOMEM (out of pinnable memory: the
 * cache evicts unused regions and retries), -ENOSPC (no NIC slot left: the
 * cache evicts and retries too), -EFAULT, -EOPNOTSUPP, or another -errno,
 * which the cache passes on. mem_dereg releases what mem_reg returned.
 *
 * Both are called with no cache lock held, from the threads that call the
 * cache (never from the monitor thread), so they may block, allocate and
 * take their own locks. */
struct san_rcache_ops {
	int (*mem_reg)(void *ctx, void *addr, size_t len, void **mr_out);
	void (*mem_dereg)(void *ctx, void *mr);
	/* Optional. The mapping under mr changed while it may still be in
	 * use: nothing may move through it any more. Called with the cache's
	 * write lock held, possibly on the monitor thread: it must not block,
	 * allocate or call back into the cache (an atomic store is right). */
	void (*mem_stale)(void *ctx, void *mr);
};

/* Monitor kinds: SAN_MONITOR_NONE and SAN_MONITOR_UFFD from san.h, plus one
 * internal kind. EXTERNAL caches every range without watching it: whoever
 * uses it promises to call san__rcache_invalidate() before a mapping under a
 * cached range changes (the Windows model, where the switch calls
 * WSPMemoryRegistrationCacheCallback). Tests of the cache logic use it. */
#define SAN__MONITOR_EXTERNAL 100

struct san_rcache_config {
	int enabled;          /* 0: every get pins, every put unpins */
	uint64_t max_regions; /* most regions the cache holds (in use or not) */
	uint64_t max_bytes;   /* most bytes the cache holds pinned */
	int monitor;          /* SAN_MONITOR_UFFD, SAN_MONITOR_NONE, SAN__MONITOR_EXTERNAL */
};

/* Creates a cache. ctx is passed to every op. With monitor UFFD and no
 * usable userfaultfd the cache still works, caching nothing (every get
 * pins); san__rcache_monitor_active() tells which. Returns 0, -EINVAL (NULL
 * argument, unknown monitor kind), -ENOMEM, or the -errno of starting the
 * monitor thread. */
int san__rcache_create(const struct san_rcache_config *c, const struct san_rcache_ops *ops,
		       void *ctx, struct san_rcache **rc_out);

/* Every region must have been put. Stops the monitor, unregisters every
 * cached region and frees the cache. */
void san__rcache_destroy(struct san_rcache *rc);

/* Returns a registration covering at least the pages of [addr, addr+len):
 * a cached one (a hit: no pinning), or a new one (a miss). A new one enters
 * the cache only if its range is watched by the monitor and fits the limits;
 * otherwise it is private to the caller and unpinned at its put. Returns 0,
 * -EINVAL (len 0 or the range wraps), or the error of mem_reg (-ENOMEM only
 * after the cache evicted every unused region it had). */
int san__rcache_get(struct san_rcache *rc, void *addr, size_t len,
		    struct san_rcache_region **r_out);

/* As san__rcache_get, and records tag (a bit of an owner mask: the
 * sockets layer gives each socket one) on the region, for
 * san__rcache_drop_owner. */
int san__rcache_get_tagged(struct san_rcache *rc, void *addr, size_t len, uint64_t tag,
			   struct san_rcache_region **r_out);

/* R2.5: clears tag from every cached region; a region left with no owner
 * tag and no holder is unregistered now. Returns how many were. */
int san__rcache_drop_owner(struct san_rcache *rc, uint64_t tag);

/* 1 if the mapping under r changed since it was registered (R2.4): r must
 * not be used for new transfers. */
int san__rcache_region_stale(const struct san_rcache_region *r);

/* As san__rcache_region_stale, but ordered after any invalidation being
 * processed right now (waits for it: the monitor's work is short and never
 * waits for the application). A holder about to move data through r calls
 * this: after a munmap returned, it answers 1 for the regions it hit. */
int san__rcache_region_stale_sync(struct san_rcache *rc, const struct san_rcache_region *r);

/* A number that changes whenever an invalidation has been processed: a
 * holder that sweeps its own stale regions does so only when it moved. */
uint64_t san__rcache_inv_gen(struct san_rcache *rc);
/* The counter itself (odd while an invalidation is processed), for a NIC
 * that checks staleness without calling back (rc may be NULL: NULL). */
const _Atomic uint64_t *san__rcache_inv_busy_ptr(struct san_rcache *rc);

/* Releases one get. The last put of a cached region leaves it pinned on the
 * LRU list; the last put of a region that left the cache (invalidated,
 * displaced, never cached) unregisters it. */
void san__rcache_put(struct san_rcache *rc, struct san_rcache_region *r);

/* The mr returned by mem_reg. Valid until the put. */
void *san__rcache_region_mr(const struct san_rcache_region *r);

/* The page-aligned range the region registers (it may be larger than what
 * was asked for: a hit on a bigger region, or a merge). */
void san__rcache_region_range(const struct san_rcache_region *r, uintptr_t *base, size_t *len);

/* 1 if the region is in the cache now (not invalidated, displaced or
 * private). For tests and diagnostics: the answer may change at once. */
int san__rcache_region_cached(const struct san_rcache_region *r);

/* R2.4: drops every cached region overlapping the pages of [addr,
 * addr+len). Regions in use are marked stale and unregistered at their last
 * put; the others are unregistered now. Also makes a get that is pinning an
 * overlapping range right now keep its result out of the cache. Returns the
 * number of regions dropped or marked, or -EINVAL (len 0 or wraps). */
int san__rcache_invalidate(struct san_rcache *rc, void *addr, size_t len);

/* Unregisters every cached region nobody uses (R2.5). Returns how many. */
int san__rcache_flush(struct san_rcache *rc);

/* Fills reg_hits, reg_misses, pins, unpins, evictions, invalidations,
 * cached_regions and pinned_bytes; leaves the other fields alone. Also
 * unregisters what the monitor invalidated since the last call into the
 * cache, so pinned_bytes is current. */
void san__rcache_stats(struct san_rcache *rc, struct san_stats *st);

/* 1 if a monitor watches cached ranges (UFFD running, or EXTERNAL), so that
 * gets can hit; 0 if every get pins (disabled, NONE, no userfaultfd). */
int san__rcache_monitor_active(const struct san_rcache *rc);

/* Unregisters the regions the monitor thread invalidated while nobody used
 * them. The monitor never calls mem_dereg itself (it must not wait for the
 * application, see docs/rcache.md), so it leaves them on a list that every
 * miss, put, invalidate, flush and stats also empties; a progress thread
 * may call this to release them sooner. Returns how many. */
int san__rcache_reap(struct san_rcache *rc);

#endif
