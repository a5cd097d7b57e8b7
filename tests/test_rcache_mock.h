/* SPDX-License-Identifier: MIT */
/*
 * A mock NIC for the registration cache tests (test_rcache_*.c,
 * test_monitor_*.c).
 *
 * mem_reg "pins" by reading the first 8 bytes of the range through
 * process_vm_readv: unmapped memory gives -EFAULT as the kernel would, and
 * the mr remembers what it saw there. Tests write a generation number at the
 * start of every mapping they make, so an mr whose `word` is not the current
 * generation was registered for an earlier mapping: a stale registration.
 * Every mr stays allocated (dead or alive) until mock_fini, so a test can
 * look at old ones. Fault injection: the next fail_n calls fail with
 * fail_err; limit_bytes makes mem_reg fail with -ENOMEM past that many
 * live bytes (an RLIMIT_MEMLOCK); on_reg runs inside mem_reg (no cache lock
 * is held there), e.g. to invalidate while a miss is pinning.
 */
#ifndef SAN_TEST_RCACHE_MOCK_H
#define SAN_TEST_RCACHE_MOCK_H

#include "harness.h"
#include "reg/rcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/uio.h>

#define PG ((size_t)4096)

struct mock_mr {
	uintptr_t base;
	size_t len;
	uint64_t id;   /* 1, 2, ... in registration order */
	uint64_t word; /* the first 8 bytes of the range when it was registered */
	_Atomic int live;
	struct mock_mr *next_all;
};

struct mock {
	_Atomic uint64_t regs, deregs, live_bytes, ids;
	uint64_t limit_bytes; /* 0: no limit */
	_Atomic int fail_err, fail_n;
	void (*on_reg)(struct mock *m, void *addr, size_t len);
	void *user;
	struct san_rcache *rc;
	_Atomic(struct mock_mr *) all;
};

static inline int mock_reg(void *ctx, void *addr, size_t len, void **mr_out)
{
	struct mock *m = ctx;
	struct mock_mr *mr;
	uint64_t word = 0;
	struct iovec local = { &word, sizeof(word) }, remote = { addr, sizeof(word) };

	CHECK((uintptr_t)addr % PG == 0 && len % PG == 0 && len);
	if (m->on_reg)
		m->on_reg(m, addr, len);
	if (atomic_load(&m->fail_n) > 0 && atomic_fetch_sub(&m->fail_n, 1) > 0)
		return atomic_load(&m->fail_err);
	if (m->limit_bytes && atomic_load(&m->live_bytes) + len > m->limit_bytes)
		return -ENOMEM;
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof(word))
		return -EFAULT;
	mr = calloc(1, sizeof(*mr));
	CHECK(mr);
	mr->base = (uintptr_t)addr;
	mr->len = len;
	mr->word = word;
	mr->id = atomic_fetch_add(&m->ids, 1) + 1;
	atomic_init(&mr->live, 1);
	mr->next_all = atomic_load(&m->all);
	while (!atomic_compare_exchange_weak(&m->all, &mr->next_all, mr))
		;
	atomic_fetch_add(&m->regs, 1);
	atomic_fetch_add(&m->live_bytes, len);
	*mr_out = mr;
	return 0;
}

static inline void mock_dereg(void *ctx, void *p)
{
	struct mock *m = ctx;
	struct mock_mr *mr = p;

	CHECK(atomic_exchange(&mr->live, 0) == 1); /* exactly once */
	atomic_fetch_add(&m->deregs, 1);
	atomic_fetch_sub(&m->live_bytes, mr->len);
}

static const struct san_rcache_ops mock_ops = { .mem_reg = mock_reg, .mem_dereg = mock_dereg };

static inline struct san_rcache *mock_cache(struct mock *m, int enabled, int monitor,
					    uint64_t max_regions, uint64_t max_bytes)
{
	struct san_rcache_config c = { enabled, max_regions, max_bytes, monitor };

	CHECK_OK(san__rcache_create(&c, &mock_ops, m, &m->rc));
	return m->rc;
}

static inline struct san_stats mock_stats(struct san_rcache *rc);

/* The tests unmap memory and map new memory at the same address, so no
 * other thread may map anything meanwhile. The monitor thread itself does
 * not, but under a sanitizer its runtime sets the thread up (with mmap) the
 * first time it wakes: one event here gets that done before the test. */
static inline void warm_monitor(struct san_rcache *rc)
{
	struct san_rcache_region *r;
	void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	CHECK_OK(san__rcache_get(rc, p, PG, &r));
	CHECK(san__rcache_region_cached(r));
	san__rcache_put(rc, r);
	CHECK(munmap(p, PG) == 0); /* returns once the monitor has read the event */
	CHECK(san__rcache_flush(rc) == 0);
}

/* A cache watched by userfaultfd, or a loud skip when the kernel has none. */
static inline struct san_rcache *mock_cache_uffd(struct mock *m)
{
	struct san_rcache *rc = mock_cache(m, 1, SAN_MONITOR_UFFD, 4096, 1ull << 30);

	if (!san__rcache_monitor_active(rc)) {
		san__rcache_destroy(rc);
		san_test_skip("userfaultfd (UFFD_USER_MODE_ONLY, WP mode) is not available");
	}
	warm_monitor(rc);
	CHECK(atomic_load(&m->deregs) == 1 && mock_stats(rc).invalidations == 1);
	return rc;
}

/* Destroys the cache and checks that every registration was released. */
static inline void mock_fini(struct mock *m)
{
	struct mock_mr *mr = atomic_load(&m->all);

	san__rcache_destroy(m->rc);
	m->rc = NULL;
	CHECK(atomic_load(&m->regs) == atomic_load(&m->deregs));
	CHECK(atomic_load(&m->live_bytes) == 0);
	while (mr) {
		struct mock_mr *next = mr->next_all;

		CHECK(!atomic_load(&mr->live));
		free(mr);
		mr = next;
	}
}

static inline struct mock_mr *MR(struct san_rcache_region *r)
{
	return san__rcache_region_mr(r);
}

static inline struct san_stats mock_stats(struct san_rcache *rc)
{
	struct san_stats st;

	memset(&st, 0, sizeof(st));
	san__rcache_stats(rc, &st);
	return st;
}

static inline struct san_rcache_region *get_ok(struct san_rcache *rc, void *addr, size_t len)
{
	struct san_rcache_region *r = NULL;
	uintptr_t base;
	size_t rlen;

	CHECK_OK(san__rcache_get(rc, addr, len, &r));
	san__rcache_region_range(r, &base, &rlen);
	CHECK(base <= (uintptr_t)addr && base + rlen >= (uintptr_t)addr + len);
	CHECK(atomic_load(&MR(r)->live));
	return r;
}

/* get + put; returns the mr it saw. */
static inline struct mock_mr *touch(struct san_rcache *rc, void *addr, size_t len)
{
	struct san_rcache_region *r = get_ok(rc, addr, len);
	struct mock_mr *mr = MR(r);

	san__rcache_put(rc, r);
	return mr;
}

/* Registers [p, p+len) twice, a miss then a hit; returns the mr. */
static inline struct mock_mr *cache_it(struct san_rcache *rc, void *p, size_t len)
{
	struct mock_mr *mr = touch(rc, p, len);

	CHECK(touch(rc, p, len) == mr);
	return mr;
}

/* Private anonymous memory, placed apart (harness.h): the monitor tests
 * release it and map new memory at the same address, and no other mapping
 * (a sanitizer runtime's) may take the address in between. */
static inline void *map_anon(size_t len)
{
	return san_test_map_apart(len);
}

/* New private anonymous memory exactly at addr, which the test released
 * (fails, saying what is there, if something else took it). */
static inline void *map_at(void *addr, size_t len)
{
	return san_test_map_at(addr, len);
}

/* Stamps the first word of a mapping with its generation. */
static inline void stamp(void *addr, uint64_t gen)
{
	*(volatile uint64_t *)addr = gen;
}

/*
 * The check every monitor test ends with: addr held generation `old_gen`
 * registered as `old`; the mapping was then released some way and new
 * memory with generation `new_gen` is at addr now. A get must miss (a new
 * mem_reg that saw the new memory), and the old registration must be gone.
 */
static inline void expect_fresh(struct san_rcache *rc, struct mock *m, void *addr, size_t len,
				struct mock_mr *old, uint64_t new_gen)
{
	uint64_t regs = atomic_load(&m->regs);
	struct san_stats st0 = mock_stats(rc), st;
	struct san_rcache_region *r = get_ok(rc, addr, len);

	st = mock_stats(rc);
	CHECK(MR(r) != old);
	CHECK(MR(r)->word == new_gen);
	CHECK(atomic_load(&m->regs) == regs + 1);
	CHECK(st.reg_misses == st0.reg_misses + 1);
	CHECK(st.reg_hits == st0.reg_hits);
	CHECK(!atomic_load(&old->live));
	san__rcache_put(rc, r);
}

#endif
