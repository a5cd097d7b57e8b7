/* SPDX-License-Identifier: MIT */
/*
 * The registration-cache hazard suite (R2.2, R2.4, R2.7-R2.10; API.md,
 * last bullet): shared code of the tests/test_hazard_*.c programs. Each
 * program runs ONE way of releasing memory in ONE variant, in its own
 * process pair (the test "A" and its forked peer "B").
 *
 * The hazard: a registration is a set of pinned pages (io_uring fixed
 * buffers); I/O goes to those pages even after the process mapped
 * something else at the address. So after any release of a buffer and new
 * memory at the same address, the NEW bytes must move, never the old ones.
 *
 * Variant HZ_DEREG (the application deregisters before releasing):
 *   local side   A registers X, sends it and RDMA-writes it to B (ok),
 *                deregisters (the cache keeps X pinned), re-registers once
 *                (a hit: no pin), deregisters, releases X, maps new memory
 *                at the same address, fills it with new bytes, registers
 *                (a miss: the stale entry is not returned) and sends /
 *                RDMA-writes again: B receives the NEW bytes. Into X too: a
 *                message B sends and an RDMA read from B land in the new
 *                pages.
 *   remote side  B registers Y for RDMA, A reads and writes it (ok), B
 *                deregisters, releases Y, maps new memory there with new
 *                bytes and registers again (new descriptor): A's read
 *                returns the NEW bytes, A's write lands in the NEW pages
 *                (B reads them through its pointer), the old descriptor is
 *                refused (-EACCES).
 * Variant HZ_NODEREG (an application error: released while registered):
 *   local side   posting with the old handle (send, RDMA-write source,
 *                receive, RDMA-read sink, and handle 0) fails with -EFAULT
 *                and moves nothing; a new registration works and moves the
 *                NEW bytes; deregistering the old handle unpins the old
 *                pages.
 *   remote side  A's write and read with the old descriptor complete with
 *                -EACCES and the new mapping is untouched; a new
 *                descriptor works.
 *
 * Pins: at every step the counters of san_get_stats (pins, unpins,
 * pinned_bytes, reg_hits, reg_misses, invalidations) and VmPin say the old
 * pages were unpinned. Assertions that need the cache (a hit, a cached
 * region kept pinned after deregistration, an invalidation) are made only
 * when caching is on (not SAN_RCACHE=0, not SAN_MONITOR=none, userfaultfd
 * usable) and the memory is private anonymous (shared memory is registered
 * uncached). All data checks are made in every mode.
 *
 * Unpinning may lag a release a little (docs/rcache.md §2): counters are
 * polled until they settle (hz_stats_pinned), VmPin likewise.
 *
 * Not tested: the race of docs/rcache.md §6 (release in one thread,
 * register in another, no synchronization between them); and shmdt of
 * memory that is still registered: shmdt sends no userfaultfd event
 * (docs/rcache.md §5), so no event-based monitor can notice it (the
 * application must deregister first: test_hazard_shmdt covers that).
 * MADV_REMOVE of registered shared memory does send an event, so
 * test_hazard_shm_remove_nodereg holds the library to it.
 */
#ifndef SAN_TEST_HAZARD_H
#define SAN_TEST_HAZARD_H

#include "xtest.h"

#include <linux/userfaultfd.h>
#include <malloc.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HZ_SANITIZER 1 /* malloc is the sanitizer's, not glibc's */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HZ_SANITIZER 1
#endif
#endif
#ifndef HZ_SANITIZER
#define HZ_SANITIZER 0
#endif

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define HZ_LEN (256 * 1024)

/* ---- the ways of releasing memory ---- */

enum hz_way {
	HZ_MUNMAP,         /* munmap of the whole buffer */
	HZ_MUNMAP_PARTIAL, /* munmap of the middle half */
	HZ_MREMAP_MOVE,    /* mremap(MREMAP_FIXED) moves the pages elsewhere */
	HZ_MREMAP_GROW,    /* mremap to twice the size, which must move */
	HZ_MREMAP_SHRINK,  /* mremap to half the size: the tail is unmapped */
	HZ_MADV_DONTNEED,  /* madvise(MADV_DONTNEED): zero pages on next touch */
	HZ_SHM_REMOVE,     /* madvise(MADV_REMOVE) of shared memory (a hole) */
	HZ_FREE,           /* free() of a large (mmapped) malloc block */
	HZ_TRIM,           /* free + malloc_trim: heap pages released (brk shrink, madvise) */
	HZ_SHMDT,          /* shmdt of a SysV segment, another attached there */
	HZ_MMAP_FIXED,     /* mmap(MAP_FIXED) over it */
};

static const char *const hz_way_names[] = {
	"munmap", "munmap (partial)", "mremap (move)", "mremap (grow, moves)",
	"mremap (shrink)", "madvise(MADV_DONTNEED)", "madvise(MADV_REMOVE) on shared memory",
	"free of a large malloc block", "free + malloc_trim (heap shrink)", "shmdt",
	"mmap(MAP_FIXED) over it",
};

/* One buffer under test: p..p+len is what is registered and transferred. */
struct hz_mem {
	enum hz_way way;
	uint8_t *p;
	size_t len;
	void *extra;      /* mremap: where the old pages went; grow: the guard page */
	size_t extra_len;
	int fixed_map;    /* free: the new memory had to be mapped by hand */
	void *again;      /* free: the block malloc returned right after */
	uint8_t *brk0;    /* trim without glibc's heap: the break we started at */
};

static inline int hz_way_shared(enum hz_way w)
{
	return w == HZ_SHM_REMOVE || w == HZ_SHMDT;
}

/* New memory at exactly `at`, released by the test (harness.h: fails,
 * saying by what, if another mapping took the address meanwhile). */
static inline void hz_map_at(void *at, size_t len)
{
	san_test_map_at(at, len);
}

/* A new SysV segment attached at `at` (SHM_REMAP: over what is there). */
static inline void *hz_shm_attach(void *at, size_t len, int remap)
{
	int id = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600);
	void *q;

	if (id < 0)
		san_test_skip("shmget: %s", strerror(errno));
	q = shmat(id, at, remap ? SHM_REMAP : 0);
	CHECK(q != (void *)-1);
	CHECK(shmctl(id, IPC_RMID, NULL) == 0); /* gone at the last detach */
	CHECK(!at || q == at);
	return q;
}

/* Called before the peer is forked: the malloc settings hold in both. */
static inline void hz_way_setup(enum hz_way w)
{
	if (w == HZ_FREE) {
		/* A fixed threshold: large blocks always come from mmap, and
		 * free() always gives them back with munmap. (The sanitizers'
		 * allocators do so above 128 KiB, mallopt or not; ASan once its
		 * quarantine is off: SAN_TEST_ASAN_NO_QUARANTINE, harness.h.) */
		if (!HZ_SANITIZER)
			CHECK(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1);
		if (!san_test_free_unmaps(HZ_LEN))
			san_test_skip("free() keeps a freed %d KiB block mapped here (ASan's "
				      "quarantine set by ASAN_OPTIONS?): nothing to release",
				      HZ_LEN / 1024);
	}
	if (w == HZ_TRIM && !HZ_SANITIZER) {
		CHECK(mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024) == 1); /* stays in the heap */
		CHECK(mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024) == 1); /* trim only when asked */
		CHECK(mallopt(M_TOP_PAD, 0) == 1);
	}
}

static inline struct hz_mem hz_get(enum hz_way w, size_t len)
{
	struct hz_mem m = { .way = w, .len = len };
	size_t pg = xt_page();

	switch (w) {
	case HZ_MREMAP_GROW:
		/* A guard page right behind: growing in place is impossible. */
		m.p = san_test_map_apart(len + pg);
		CHECK(mprotect(m.p + len, pg, PROT_NONE) == 0);
		m.extra = m.p + len;
		m.extra_len = pg;
		break;
	case HZ_SHM_REMOVE:
		m.p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		CHECK(m.p != MAP_FAILED);
		break;
	case HZ_FREE:
		m.p = malloc(len); /* not page aligned: the chunk header comes first */
		CHECK(m.p);
		break;
	case HZ_TRIM:
		if (!HZ_SANITIZER) {
			m.p = malloc(len); /* from the main heap (main thread) */
			CHECK(m.p);
		} else {
			/* No glibc heap: move the break ourselves. */
			m.brk0 = sbrk(0);
			CHECK(m.brk0 != (void *)-1);
			m.p = (uint8_t *)(((uintptr_t)m.brk0 + pg - 1) & ~(pg - 1));
			CHECK(brk(m.p + len) == 0);
		}
		break;
	case HZ_SHMDT:
		/* Attached over memory placed apart (harness.h): once detached,
		 * the address stays free for the next segment. */
		m.p = hz_shm_attach(san_test_map_apart(len), len, 1);
		break;
	default:
		m.p = san_test_map_apart(len);
		break;
	}
	return m;
}

/* The way under test. Ordered: when it returns, the kernel has changed the
 * mapping (for a monitored range, the monitor has been told). */
static inline void hz_release(struct hz_mem *m)
{
	size_t len = m->len;
	void *q;

	switch (m->way) {
	case HZ_MUNMAP:
		xt_unmap(m->p, len);
		break;
	case HZ_MUNMAP_PARTIAL:
		xt_unmap(m->p + len / 4, len / 2);
		break;
	case HZ_MREMAP_MOVE:
		m->extra = xt_map(len); /* the destination, replaced by the move */
		m->extra_len = len;
		q = mremap(m->p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, m->extra);
		CHECK(q == m->extra);
		break;
	case HZ_MREMAP_GROW:
		q = mremap(m->p, len, 2 * len, MREMAP_MAYMOVE);
		CHECK(q != MAP_FAILED && q != (void *)m->p);
		xt_unmap(m->extra, m->extra_len); /* the guard, no longer needed */
		m->extra = q;
		m->extra_len = 2 * len;
		break;
	case HZ_MREMAP_SHRINK:
		CHECK(mremap(m->p, len, len / 2, 0) == (void *)m->p);
		break;
	case HZ_MADV_DONTNEED:
		CHECK(madvise(m->p, len, MADV_DONTNEED) == 0);
		break;
	case HZ_SHM_REMOVE:
		if (madvise(m->p, len, MADV_REMOVE) != 0)
			san_test_skip("madvise(MADV_REMOVE) on shared memory: %s", strerror(errno));
		break;
	case HZ_FREE:
		/* And malloc at once, as a program would: the hole the block
		 * left is where the next mapping of anyone goes (the kernel's
		 * first choice), so the block itself must be that mapping. */
		free(m->p);
		m->again = malloc(len);
		CHECK(m->again);
		break;
	case HZ_TRIM:
		if (!HZ_SANITIZER) {
			free(m->p);
			CHECK(malloc_trim(0) == 1); /* brk shrink and/or MADV_DONTNEED */
		} else {
			CHECK(brk(m->p) == 0);
		}
		break;
	case HZ_SHMDT:
		CHECK(shmdt(m->p) == 0);
		break;
	case HZ_MMAP_FIXED:
		q = mmap(m->p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0);
		CHECK(q == (void *)m->p);
		break;
	}
}

/* New memory at the same address (for some ways the release already put
 * it there). Then checks that it IS new: some whole page reads zero. */
static inline void hz_renew(struct hz_mem *m)
{
	size_t len = m->len, pg = xt_page();
	uintptr_t a, e;
	int fresh = 0;
	void *q;

	switch (m->way) {
	case HZ_MUNMAP:
	case HZ_MREMAP_MOVE:
	case HZ_MREMAP_GROW:
		hz_map_at(m->p, len);
		break;
	case HZ_MUNMAP_PARTIAL:
		hz_map_at(m->p + len / 4, len / 2);
		break;
	case HZ_MREMAP_SHRINK:
		hz_map_at(m->p + len / 2, len / 2);
		break;
	case HZ_FREE:
		q = m->again; /* malloc'd by hz_release */
		if (q != (void *)m->p) {
			/* Some other mapping took the hole first: map it by hand. */
			free(q);
			a = (uintptr_t)m->p & ~(pg - 1);
			e = ((uintptr_t)m->p + len + pg - 1) & ~(pg - 1);
			hz_map_at((void *)a, e - a);
			m->fixed_map = 1;
			fprintf(stderr, "note: malloc did not return %p again; mapped it by hand\n",
				(void *)m->p);
		}
		break;
	case HZ_TRIM:
		if (!HZ_SANITIZER) {
			q = malloc(len);
			if (q != (void *)m->p) {
				fprintf(stderr, "[%d] malloc after malloc_trim returned %p, not %p\n",
					(int)getpid(), q, (void *)m->p);
				exit(1);
			}
		} else {
			CHECK(brk(m->p + len) == 0);
		}
		break;
	case HZ_SHMDT:
		hz_shm_attach(m->p, len, 0);
		break;
	default: /* DONTNEED, MADV_REMOVE, MAP_FIXED: already new */
		break;
	}
	a = ((uintptr_t)m->p + pg - 1) & ~(pg - 1);
	for (; a + pg <= (uintptr_t)m->p + len && !fresh; a += pg)
		fresh = xt_all((void *)a, pg, 0);
	if (!fresh) {
		fprintf(stderr, "[%d] %s: no new (zero) page at %p after the release\n",
			(int)getpid(), hz_way_names[m->way], (void *)m->p);
		exit(1);
	}
}

/* The end of the buffer. Returns 1 if its pages were unmapped (the cache
 * must let go of them), 0 if they went back to malloc's heap, still mapped. */
static inline int hz_put(struct hz_mem *m)
{
	size_t len = m->len;

	switch (m->way) {
	case HZ_FREE:
		if (m->fixed_map) {
			size_t pg = xt_page();
			uintptr_t a = (uintptr_t)m->p & ~(pg - 1);
			uintptr_t e = ((uintptr_t)m->p + len + pg - 1) & ~(pg - 1);

			xt_unmap((void *)a, e - a);
		} else {
			free(m->p);
		}
		break;
	case HZ_TRIM:
		if (!HZ_SANITIZER) {
			free(m->p);
			return 0;
		}
		CHECK(brk(m->brk0) == 0);
		break;
	case HZ_SHMDT:
		CHECK(shmdt(m->p) == 0);
		break;
	default:
		xt_unmap(m->p, len);
		if (m->extra)
			xt_unmap(m->extra, m->extra_len);
		break;
	}
	return 1;
}

/* ---- counters ---- */

/* Is the cache expected to keep registrations? (The memory must also be
 * private anonymous.) Without userfaultfd the provider caches nothing. */
static inline int hz_caching(void)
{
	static int known = -1;
	const char *rc = getenv("SAN_RCACHE"), *mon = getenv("SAN_MONITOR");
	int fd;

	if (known >= 0)
		return known;
	if ((rc && !strcmp(rc, "0")) || (mon && !strcmp(mon, "none"))) {
		known = 0;
		return 0;
	}
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0) {
		fprintf(stderr, "note: no userfaultfd (%s): nothing is cached, cache counters "
				"not checked\n", strerror(errno));
		known = 0;
		return 0;
	}
	close(fd);
	known = 1;
	return 1;
}

static inline struct san_stats hz_stats(san_provider *p)
{
	struct san_stats st;

	memset(&st, 0, sizeof(st));
	CHECK_OK(san_get_stats(p, &st));
	return st;
}

static san_provider *hz_p_; /* this process's provider, for failure reports */

/* On a failed counter check: every counter now (one more look, after a
 * moment, tells a late unpin from a missing one). */
static inline void hz_fail_stats_(void)
{
	for (int i = 0; hz_p_ && i < 2; i++) {
		struct san_stats st;

		if (i)
			xt_sleep_ms(200);
		memset(&st, 0, sizeof(st));
		if (san_get_stats(hz_p_, &st))
			return;
		fprintf(stderr,
			"[%d] %s stats: hits %llu misses %llu pins %llu unpins %llu evictions %llu "
			"invalidations %llu cached_regions %llu pinned_bytes %llu keys_active %llu; "
			"VmPin %ld kB\n",
			(int)getpid(), i ? "200 ms later," : "now,", (unsigned long long)st.reg_hits,
			(unsigned long long)st.reg_misses, (unsigned long long)st.pins,
			(unsigned long long)st.unpins, (unsigned long long)st.evictions,
			(unsigned long long)st.invalidations, (unsigned long long)st.cached_regions,
			(unsigned long long)st.pinned_bytes, (unsigned long long)st.keys_active,
			san_test_vmpin_kb());
	}
}

#define HZ_EQ(what, got, want)                                                            \
	do {                                                                              \
		unsigned long long g_ = (unsigned long long)(got);                        \
		unsigned long long w_ = (unsigned long long)(want);                       \
		if (g_ != w_) {                                                           \
			fprintf(stderr, "%s:%d: [%d] %s: %s = %llu, want %llu\n", __FILE__, \
				__LINE__, (int)getpid(), hz_step_, what, g_, w_);        \
			hz_fail_stats_();                                                 \
			exit(1);                                                          \
		}                                                                         \
	} while (0)

#define HZ_GE(what, got, want)                                                            \
	do {                                                                              \
		unsigned long long g_ = (unsigned long long)(got);                        \
		unsigned long long w_ = (unsigned long long)(want);                       \
		if (g_ < w_) {                                                            \
			fprintf(stderr, "%s:%d: [%d] %s: %s = %llu, want at least %llu\n",  \
				__FILE__, __LINE__, (int)getpid(), hz_step_, what, g_, w_); \
			hz_fail_stats_();                                                 \
			exit(1);                                                          \
		}                                                                         \
	} while (0)

static const char *hz_step_ = "";

/* VmPin in KiB without stdio: no malloc between a free() and the malloc()
 * that must get the same block back (HZ_TRIM). */
static inline long hz_vmpin_kb(void)
{
	static char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *at;

	CHECK(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0);
	buf[n] = 0;
	at = strstr(buf, "VmPin:");
	CHECK(at);
	return strtol(at + 6, NULL, 10);
}

/* VmPin reaches want_kb (the kernel may unpin a moment after the NIC let
 * go: a request in flight holds its buffer). */
static inline void hz_vmpin_is(long want_kb)
{
	long long end = xt_now_ms() + 3000;
	long kb;

	while ((kb = hz_vmpin_kb()) != want_kb && xt_now_ms() < end)
		xt_sleep_ms(1);
	if (kb != want_kb) {
		fprintf(stderr, "[%d] %s: VmPin %ld kB, want %ld kB\n", (int)getpid(), hz_step_, kb,
			want_kb);
		exit(1);
	}
}

/* The counters once pinned_bytes is want (fails after 3 s). Unpinning may
 * lag a release a little (docs/rcache.md §2: the monitor never unpins, the
 * next call into the library does), so poll. */
static inline struct san_stats hz_stats_pinned(san_provider *p, uint64_t want)
{
	long long end = xt_now_ms() + 3000;
	struct san_stats st = hz_stats(p);

	while (st.pinned_bytes != want && xt_now_ms() < end) {
		xt_sleep_ms(1);
		st = hz_stats(p);
	}
	HZ_EQ("pinned_bytes", st.pinned_bytes, want);
	return st;
}

/* Bytes the cache pins for [p, p+len): whole pages. */
static inline size_t hz_span(const void *p, size_t len)
{
	size_t pg = xt_page();
	uintptr_t a = (uintptr_t)p & ~(pg - 1), e = ((uintptr_t)p + len + pg - 1) & ~(pg - 1);

	return e - a;
}

/* After a miss: one more pin, no hit. */
static inline void hz_expect_miss(const struct san_stats *before, const struct san_stats *now)
{
	HZ_EQ("reg_hits (a stale cache entry was returned)", now->reg_hits, before->reg_hits);
	HZ_EQ("reg_misses", now->reg_misses, before->reg_misses + 1);
	HZ_EQ("pins", now->pins, before->pins + 1);
}

/* ---- data ---- */

/* buf must hold fill pattern `want`; says so if it holds `old` instead. */
static inline void hz_verify(const char *what, const void *buf, size_t len, uint32_t want,
			     uint32_t old)
{
	if (san_test_verify(buf, len, want))
		return;
	fprintf(stderr, "[%d] %s (%s): %s\n", (int)getpid(), what, hz_step_,
		san_test_verify(buf, len, old) ? "the OLD bytes arrived (stale registration)"
					       : "unexpected bytes");
	xt_same_fill(what, buf, len, want);
	exit(1);
}

/* A sends [buf, buf+len) with handle h (0: found by address); B's side of
 * it is hz_b_recv. */
static inline void hz_a_send(san_socket *s, int ctl, void *buf, size_t len, san_handle h)
{
	static uintptr_t n = 0x100;

	san_test_sync(ctl, "recv-posted");
	xt_send(s, buf, len, h, XT_CTX(++n));
	xt_expect(s, XT_CTX(n), SAN_OP_SEND, 0, len);
}

static inline void hz_b_recv(san_socket *s, int ctl, void *buf, size_t len, san_handle h,
			     uint32_t want, uint32_t old)
{
	static uintptr_t n = 0x200;

	memset(buf, 0, len);
	xt_recv(s, buf, len, h, XT_CTX(++n));
	san_test_sync(ctl, "recv-posted");
	xt_expect(s, XT_CTX(n), SAN_OP_RECV, 0, len);
	hz_verify("message received by the peer", buf, len, want, old);
}

/* ---- the two processes ---- */

struct hz_run {
	enum hz_way way;
	int nodereg; /* HZ_NODEREG variant */
	size_t len;
};

enum { HZ_DEREG = 0, HZ_NODEREG = 1 };

static struct hz_run hz_run_;

/* An RDMA write of b (a buffer whose memory was released while still
 * registered) into the peer's dT: must fail to post with -EFAULT. If it
 * posts, shows what went out by reading dT back and comparing with the
 * released bytes (old), the bytes now mapped (now) and what dT held
 * (before); then fails. */
static inline void hz_stale_write(san_socket *s, const struct san_buf *b,
				  const struct san_rdma_desc *dT, const void *old, const void *now,
				  const void *before)
{
	int rc = san_rdma_write(s, b, 1, dT, 0, XT_CTX(0x5a1e));
	size_t len = b->len;
	struct san_completion c;
	uint8_t *back;
	san_handle hb;

	if (rc == -EFAULT)
		return;
	fprintf(stderr, "[%d] %s: RDMA write from the old handle: posting returned %d (%s), "
			"want -EFAULT\n", (int)getpid(), hz_step_, rc, san_strerror(rc));
	if (rc)
		exit(1);
	c = xt_wait_ctx(s, XT_CTX(0x5a1e), XT_TIMEOUT_MS);
	back = xt_map(len);
	hb = xt_reg(s, back, len, SAN_MEM_WRITE);
	xt_rdma_read(s, back, len, hb, dT, 0, 0);
	fprintf(stderr, "[%d] it completed with %d (%s); the peer's memory now holds %s\n",
		(int)getpid(), c.status, san_strerror(c.status),
		!memcmp(back, old, len)      ? "the OLD bytes (the released pages went out)"
		: !memcmp(back, now, len)    ? "the new bytes"
		: !memcmp(back, before, len) ? "what it held before (nothing moved)"
					     : "a mix:");
	if (memcmp(back, old, len) && memcmp(back, now, len) && memcmp(back, before, len)) {
		size_t pg = xt_page(), n[4] = { 0 };

		for (size_t o = 0; o < len; o += pg) {
			size_t k = len - o < pg ? len - o : pg;

			n[!memcmp(back + o, old + o, k)	    ? 0
			  : !memcmp(back + o, now + o, k)    ? 1
			  : !memcmp(back + o, before + o, k) ? 2
							     : 3]++;
		}
		fprintf(stderr, "[%d]   per page: %zu OLD (released pages went out), "
				"%zu new, %zu as before, %zu other\n",
			(int)getpid(), n[0], n[1], n[2], n[3]);
	}
	exit(1);
}

/* Pattern seed over [0, total), bytes [off, off+len) of it (malloc'd). */
static inline uint8_t *hz_pattern(uint32_t seed, size_t total, size_t off, size_t len)
{
	uint8_t *all = malloc(total), *part = malloc(len);

	CHECK(all && part && off + len <= total);
	san_test_fill(all, total, seed);
	memcpy(part, all + off, len);
	free(all);
	return part;
}

/* Local side, A: X goes through the way; B receives. */
static inline void hz_a_local(san_provider *p, san_socket *s, int ctl)
{
	const struct hz_run *r = &hz_run_;
	int cached = hz_caching() && !hz_way_shared(r->way);
	struct san_rdma_desc dT = xt_recv_desc(ctl);
	struct san_stats st0, st, prev;
	struct hz_mem x;
	size_t span;
	long v0;
	san_handle h, h2;

	hz_step_ = "local: first registration";
	st0 = hz_stats_pinned(p, 0);
	v0 = hz_vmpin_kb();
	x = hz_get(r->way, r->len);
	span = hz_span(x.p, r->len);
	san_test_fill(x.p, r->len, 1);
	h = xt_reg(s, x.p, r->len, SAN_MEM_READWRITE);
	st = hz_stats(p);
	hz_expect_miss(&st0, &st);
	HZ_EQ("pinned_bytes", st.pinned_bytes, st0.pinned_bytes + span);
	hz_vmpin_is(v0 + (long)(span / 1024));
	hz_a_send(s, ctl, x.p, r->len, h);
	xt_rdma_write(s, x.p, r->len, h, &dT, 0, 0);
	san_test_sync(ctl, "wrote-1");
	san_test_sync(ctl, "t-reset"); /* B's T holds pattern 5 now */

	if (!r->nodereg) {
		hz_step_ = "local: deregistered";
		CHECK_OK(san_deregister_memory(s, h));
		if (cached) { /* R2.1: kept pinned */
			st = hz_stats(p);
			HZ_EQ("pinned_bytes", st.pinned_bytes, st0.pinned_bytes + span);
			HZ_EQ("cached_regions", st.cached_regions, st0.cached_regions + 1);
		} else {
			st = hz_stats_pinned(p, st0.pinned_bytes);
			HZ_EQ("unpins", st.unpins, st0.unpins + 1);
		}
		hz_step_ = "local: registered again before the release";
		prev = st;
		h = xt_reg(s, x.p, r->len, SAN_MEM_READWRITE);
		st = hz_stats(p);
		if (cached) { /* R2.3 */
			HZ_EQ("reg_hits", st.reg_hits, prev.reg_hits + 1);
			HZ_EQ("pins", st.pins, prev.pins);
		} else {
			hz_expect_miss(&prev, &st);
		}
		CHECK_OK(san_deregister_memory(s, h));
		h = 0;
	}

	hz_step_ = "local: released";
	prev = hz_stats(p);
	hz_release(&x);
	if (!r->nodereg) {
		/* R2.4: the old pages are unpinned, nothing is cached there. */
		st = hz_stats_pinned(p, st0.pinned_bytes);
		HZ_EQ("pins - unpins", st.pins - st.unpins, st0.pins - st0.unpins);
		HZ_EQ("cached_regions", st.cached_regions, st0.cached_regions);
		if (cached) {
			HZ_GE("invalidations", st.invalidations, prev.invalidations + 1);
			HZ_EQ("unpins", st.unpins, prev.unpins + 1);
		}
		hz_vmpin_is(v0);
	} else {
		/* Still pinned: the live handle holds the old pages. */
		st = hz_stats(p);
		HZ_EQ("pinned_bytes", st.pinned_bytes, st0.pinned_bytes + span);
		if (cached)
			HZ_GE("invalidations", st.invalidations, prev.invalidations + 1);
	}
	hz_renew(&x);
	san_test_fill(x.p, r->len, 2);

	if (r->nodereg) {
		struct san_buf b = xt_buf(x.p, r->len, h);
		struct san_buf b0 = xt_buf(x.p, r->len, 0);

		/* R2.4: nothing moves through the old registration. */
		uint8_t *p1 = hz_pattern(1, r->len, 0, r->len), *p2 = hz_pattern(2, r->len, 0, r->len);
		uint8_t *p5 = hz_pattern(5, r->len, 0, r->len);

		hz_step_ = "local: posting with the handle of the released memory";
		hz_stale_write(s, &b, &dT, p1, p2, p5);
		free(p1);
		free(p2);
		free(p5);
		CHECK_RC(san_send(s, &b, 1, XT_CTX(1)), -EFAULT);
		CHECK_RC(san_recv(s, &b, 1, XT_CTX(3)), -EFAULT);
		CHECK_RC(san_rdma_read(s, &b, 1, &dT, 0, XT_CTX(4)), -EFAULT);
		CHECK_RC(san_send(s, &b0, 1, XT_CTX(5)), -EFAULT);
		xt_expect_idle(s);
	}

	hz_step_ = "local: registered the new memory";
	prev = hz_stats(p);
	h2 = xt_reg(s, x.p, r->len, SAN_MEM_READWRITE);
	st = hz_stats(p);
	hz_expect_miss(&prev, &st);
	hz_step_ = "local: transfers from the new memory";
	hz_a_send(s, ctl, x.p, r->len, h2);
	xt_rdma_write(s, x.p, r->len, h2, &dT, 0, 0);
	san_test_sync(ctl, "wrote-2");
	hz_a_send(s, ctl, x.p, r->len, 0);

	hz_step_ = "local: transfers into the new memory";
	memset(x.p, 0, r->len);
	xt_recv(s, x.p, r->len, h2, XT_CTX(6));
	san_test_sync(ctl, "a-recv-posted");
	xt_expect(s, XT_CTX(6), SAN_OP_RECV, 0, r->len);
	hz_verify("message received into the new memory", x.p, r->len, 3, 1);
	san_test_sync(ctl, "t-filled");
	xt_rdma_read(s, x.p, r->len, h2, &dT, 0, 0);
	hz_verify("RDMA read into the new memory", x.p, r->len, 4, 1);

	if (r->nodereg) {
		hz_step_ = "local: deregistered the old handle";
		prev = hz_stats(p);
		CHECK_OK(san_deregister_memory(s, h));
		st = hz_stats_pinned(p, st0.pinned_bytes + span);
		HZ_EQ("unpins (the old pages)", st.unpins, prev.unpins + 1);
		hz_vmpin_is(v0 + (long)(span / 1024));
	}
	hz_step_ = "local: the end";
	CHECK_OK(san_deregister_memory(s, h2));
	if (hz_put(&x)) {
		hz_stats_pinned(p, st0.pinned_bytes);
		hz_vmpin_is(v0);
	}
	san_test_sync(ctl, "local-end");
}

/* Local side, B: receives into R, is RDMA-written at T. */
static inline void hz_b_local(san_provider *p, san_socket *s, int ctl)
{
	size_t len = hz_run_.len;
	uint8_t *R = xt_map(len), *T = xt_map(len), *S = xt_map(len);
	san_handle hR = xt_reg(s, R, len, SAN_MEM_WRITE), hS = xt_reg(s, S, len, SAN_MEM_READ);
	struct san_rdma_desc dT = xt_rreg(s, T, len, SAN_MEM_READWRITE);

	(void)p;
	xt_send_desc(ctl, &dT);
	hz_step_ = "peer: before the release";
	hz_b_recv(s, ctl, R, len, hR, 1, 0);
	san_test_sync(ctl, "wrote-1");
	hz_verify("RDMA write received by the peer", T, len, 1, 0);
	san_test_fill(T, len, 5);
	san_test_sync(ctl, "t-reset");

	hz_step_ = "peer: after the release";
	hz_b_recv(s, ctl, R, len, hR, 2, 1);
	san_test_sync(ctl, "wrote-2");
	hz_verify("RDMA write received by the peer", T, len, 2, 1);
	hz_b_recv(s, ctl, R, len, hR, 2, 1); /* sent with handle 0 */

	san_test_fill(S, len, 3);
	san_test_sync(ctl, "a-recv-posted");
	xt_send(s, S, len, hS, XT_CTX(7));
	xt_expect(s, XT_CTX(7), SAN_OP_SEND, 0, len);
	san_test_fill(T, len, 4);
	san_test_sync(ctl, "t-filled");
	san_test_sync(ctl, "local-end");

	CHECK_OK(san_deregister_memory(s, hR));
	CHECK_OK(san_deregister_memory(s, hS));
	CHECK_OK(san_deregister_rdma_memory(s, &dT));
	xt_unmap(R, len);
	xt_unmap(T, len);
	xt_unmap(S, len);
}

/* Remote side, A: reads and writes B's Y through its descriptors. */
static inline void hz_a_remote(san_provider *p, san_socket *s, int ctl)
{
	size_t len = hz_run_.len;
	uint8_t *S = xt_map(len);
	san_handle hS = xt_reg(s, S, len, SAN_MEM_READWRITE);
	struct san_rdma_desc d1, d2;

	(void)p;
	hz_step_ = "remote: before the release";
	d1 = xt_recv_desc(ctl);
	memset(S, 0, len);
	xt_rdma_read(s, S, len, hS, &d1, 0, 0);
	hz_verify("RDMA read of the peer's memory", S, len, 10, 0);
	san_test_fill(S, len, 11);
	xt_rdma_write(s, S, len, hS, &d1, 0, 0);
	san_test_sync(ctl, "r-wrote-1");

	if (hz_run_.nodereg) {
		/* B released Y without deregistering d1. */
		san_test_sync(ctl, "r-released");
		hz_step_ = "remote: the old descriptor after the release";
		san_test_fill(S, len, 13);
		xt_rdma_write(s, S, len, hS, &d1, 0, -EACCES);
		xt_rdma_read(s, S, len, hS, &d1, 0, -EACCES);
		hz_verify("buffer of a refused RDMA read", S, len, 13, 0);
		san_test_sync(ctl, "r-refused");
	}

	hz_step_ = "remote: the new descriptor";
	d2 = xt_recv_desc(ctl);
	CHECK(memcmp(&d1, &d2, sizeof(d1)) != 0);
	memset(S, 0, len);
	xt_rdma_read(s, S, len, hS, &d2, 0, 0);
	hz_verify("RDMA read through the new descriptor", S, len, 12, 11);
	san_test_fill(S, len, 14);
	xt_rdma_write(s, S, len, hS, &d2, 0, 0);
	if (!hz_run_.nodereg) { /* revoked, not stale */
		hz_step_ = "remote: the deregistered descriptor";
		xt_rdma_write(s, S, len, hS, &d1, 0, -EACCES);
		xt_rdma_read(s, S, len, hS, &d1, 0, -EACCES);
		hz_verify("buffer of a refused RDMA read", S, len, 14, 0);
	}
	san_test_sync(ctl, "r-wrote-2");
	san_test_sync(ctl, "remote-end");
	CHECK_OK(san_deregister_memory(s, hS));
	xt_unmap(S, len);
}

/* Remote side, B: Y goes through the way. */
static inline void hz_b_remote(san_provider *p, san_socket *s, int ctl)
{
	const struct hz_run *r = &hz_run_;
	int cached = hz_caching() && !hz_way_shared(r->way);
	struct san_stats st0, st, prev;
	struct san_rdma_desc d1, d2;
	struct hz_mem y;
	size_t span;
	long v0;

	hz_step_ = "peer: first RDMA registration";
	st0 = hz_stats_pinned(p, 0);
	v0 = hz_vmpin_kb();
	y = hz_get(r->way, r->len);
	span = hz_span(y.p, r->len);
	san_test_fill(y.p, r->len, 10);
	d1 = xt_rreg(s, y.p, r->len, SAN_MEM_READWRITE);
	st = hz_stats(p);
	hz_expect_miss(&st0, &st);
	HZ_EQ("pinned_bytes", st.pinned_bytes, st0.pinned_bytes + span);
	xt_send_desc(ctl, &d1);
	san_test_sync(ctl, "r-wrote-1");
	hz_verify("the peer's memory after an RDMA write", y.p, r->len, 11, 10);

	if (!r->nodereg) {
		struct san_rdma_desc db;

		hz_step_ = "peer: RDMA-deregistered";
		CHECK_OK(san_deregister_rdma_memory(s, &d1));
		/* R2.7: kept pinned in the cache, but no key (a key may stay a
		 * moment longer: the NIC was still sending a read response) */
		st = hz_stats_pinned(p, st0.pinned_bytes + (cached ? span : 0));
		HZ_EQ("keys_active", st.keys_active, st0.keys_active);
		hz_step_ = "peer: RDMA-registered again before the release";
		prev = st;
		db = xt_rreg(s, y.p, r->len, SAN_MEM_READWRITE);
		st = hz_stats(p);
		if (cached) { /* R2.9 */
			HZ_EQ("reg_hits", st.reg_hits, prev.reg_hits + 1);
			HZ_EQ("pins", st.pins, prev.pins);
		} else {
			hz_expect_miss(&prev, &st);
		}
		CHECK_OK(san_deregister_rdma_memory(s, &db));
	}

	hz_step_ = "peer: released";
	prev = hz_stats(p);
	hz_release(&y);
	if (!r->nodereg) {
		st = hz_stats_pinned(p, st0.pinned_bytes);
		HZ_EQ("pins - unpins", st.pins - st.unpins, st0.pins - st0.unpins);
		HZ_EQ("cached_regions", st.cached_regions, st0.cached_regions);
		if (cached) {
			HZ_GE("invalidations", st.invalidations, prev.invalidations + 1);
			HZ_EQ("unpins", st.unpins, prev.unpins + 1);
		}
		hz_vmpin_is(v0);
	} else {
		st = hz_stats(p);
		HZ_EQ("pinned_bytes", st.pinned_bytes, st0.pinned_bytes + span);
		if (cached)
			HZ_GE("invalidations", st.invalidations, prev.invalidations + 1);
	}
	hz_renew(&y);
	san_test_fill(y.p, r->len, 12);

	if (r->nodereg) {
		san_test_sync(ctl, "r-released");
		san_test_sync(ctl, "r-refused");
		hz_step_ = "peer: after refused RDMA through the old descriptor";
		hz_verify("the peer's new memory", y.p, r->len, 12, 11);
	}

	hz_step_ = "peer: RDMA-registered the new memory";
	prev = hz_stats(p);
	d2 = xt_rreg(s, y.p, r->len, SAN_MEM_READWRITE);
	st = hz_stats(p);
	hz_expect_miss(&prev, &st);
	xt_send_desc(ctl, &d2);
	san_test_sync(ctl, "r-wrote-2");
	hz_verify("the peer's new memory after an RDMA write", y.p, r->len, 14, 11);

	if (r->nodereg) {
		hz_step_ = "peer: deregistered the old descriptor";
		prev = hz_stats(p);
		CHECK_OK(san_deregister_rdma_memory(s, &d1));
		st = hz_stats_pinned(p, st0.pinned_bytes + span);
		HZ_EQ("unpins (the old pages)", st.unpins, prev.unpins + 1);
	}
	hz_step_ = "peer: the end";
	CHECK_OK(san_deregister_rdma_memory(s, &d2));
	if (hz_put(&y)) {
		st = hz_stats_pinned(p, st0.pinned_bytes);
		hz_vmpin_is(v0);
	} else {
		st = hz_stats(p);
	}
	HZ_EQ("keys_active", st.keys_active, st0.keys_active);
	san_test_sync(ctl, "remote-end");
}

static inline int hz_peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);

	(void)arg;
	hz_p_ = p;
	hz_b_local(p, s, ctl);
	hz_b_remote(p, s, ctl);
	xt_teardown(p, s);
	return 0;
}

/* Runs one way in one variant; returns the exit status (0). */
static inline int hz_main(enum hz_way way, int variant)
{
	san_provider *p;
	san_socket *s;
	pid_t pid;
	int ctl;

	san_test_start(30);
	hz_run_.way = way;
	hz_run_.nodereg = variant == HZ_NODEREG;
	hz_run_.len = HZ_LEN;
	hz_way_setup(way);
	printf("%s, %s, caching %s, transport %s\n", hz_way_names[way],
	       variant == HZ_NODEREG ? "released while registered" : "deregistered first",
	       hz_caching() ? "on" : "off", san_test_transport());
	pid = xt_fork(hz_peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	hz_p_ = p;
	hz_a_local(p, s, ctl);
	hz_a_remote(p, s, ctl);
	xt_expect_idle(s);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}

#endif
