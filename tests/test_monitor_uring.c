/* SPDX-License-Identifier: MIT */
/*
 * End to end with real pinning: the registrations are io_uring fixed
 * buffers, as in the NIC. First the hazard itself: a fixed buffer keeps
 * the old pages after munmap, so I/O from it sends what is no longer
 * mapped. Then the same steps through the cache: after munmap and new
 * memory at the same address, a get is a miss and I/O through its
 * registration sends the new contents. Also checks that io_uring pins
 * memory the monitor watches, and that VmPin is back at its start.
 */
#include "test_rcache_mock.h"

#include <liburing.h>

#define SLOTS 16
#define LEN (16 * PG)

struct umr {
	unsigned slot;
	uintptr_t base;
	size_t len;
};

static struct io_uring g_ring;
static int g_used[SLOTS];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_memfd;

static int set_slot(unsigned slot, void *addr, size_t len)
{
	struct iovec iov = { addr, len };
	__u64 tag = 0;
	int rc = io_uring_register_buffers_update_tag(&g_ring, slot, &iov, &tag, 1);

	return rc < 0 ? rc : 0;
}

static int uring_reg(void *ctx, void *addr, size_t len, void **mr_out)
{
	struct umr *mr = calloc(1, sizeof(*mr));
	int rc = -ENOSPC;

	(void)ctx;
	CHECK(mr);
	pthread_mutex_lock(&g_lock);
	for (unsigned i = 0; i < SLOTS; i++)
		if (!g_used[i]) {
			rc = set_slot(i, addr, len);
			if (!rc) {
				g_used[i] = 1;
				mr->slot = i;
			}
			break;
		}
	pthread_mutex_unlock(&g_lock);
	if (rc) {
		free(mr);
		return rc;
	}
	mr->base = (uintptr_t)addr;
	mr->len = len;
	*mr_out = mr;
	return 0;
}

static void uring_dereg(void *ctx, void *p)
{
	struct umr *mr = p;

	(void)ctx;
	pthread_mutex_lock(&g_lock);
	CHECK(set_slot(mr->slot, NULL, 0) == 0);
	g_used[mr->slot] = 0;
	pthread_mutex_unlock(&g_lock);
	free(mr);
}

static const struct san_rcache_ops uring_ops = { .mem_reg = uring_reg, .mem_dereg = uring_dereg };

/* What the NIC would send from [addr, addr+len) through slot: a fixed
 * write into the memfd, read back. */
static void through_slot(unsigned slot, void *addr, size_t len, uint8_t *out)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&g_ring);
	struct io_uring_cqe *cqe;

	CHECK(sqe);
	io_uring_prep_write_fixed(sqe, g_memfd, addr, (unsigned)len, 0, (int)slot);
	CHECK(io_uring_submit(&g_ring) == 1);
	CHECK(io_uring_wait_cqe(&g_ring, &cqe) == 0);
	CHECK(cqe->res == (int)len);
	io_uring_cqe_seen(&g_ring, cqe);
	CHECK(pread(g_memfd, out, len, 0) == (ssize_t)len);
}

static struct san_rcache_region *uget(struct san_rcache *rc, void *addr, size_t len)
{
	struct san_rcache_region *r;

	CHECK_OK(san__rcache_get(rc, addr, len, &r));
	return r;
}

int main(void)
{
	struct san_rcache_config cfg = { 1, 4096, 1ull << 30, SAN_MONITOR_UFFD };
	static uint8_t seen[LEN];
	struct san_rcache_region *r;
	struct san_rcache *rc;
	struct umr *old;
	uint8_t *p;
	int ret;

	san_test_start(30);
	ret = io_uring_queue_init(8, &g_ring, 0);
	if (ret == -ENOSYS || ret == -EPERM)
		san_test_skip("io_uring: %s", strerror(-ret));
	CHECK(ret == 0);
	ret = io_uring_register_buffers_sparse(&g_ring, SLOTS);
	if (ret == -EINVAL)
		san_test_skip("no sparse fixed buffers (kernel < 5.19)");
	CHECK(ret == 0);
	g_memfd = memfd_create("san-uring", MFD_CLOEXEC);
	CHECK(g_memfd >= 0);

	/* The hazard, without a cache. */
	p = map_anon(LEN);
	san_test_fill(p, LEN, 1);
	CHECK(set_slot(0, p, LEN) == 0);
	CHECK(munmap(p, LEN) == 0);
	map_at(p, LEN);
	san_test_fill(p, LEN, 2);
	through_slot(0, p, LEN, seen);
	CHECK(san_test_verify(seen, LEN, 1)); /* the old pages went out */
	CHECK(set_slot(0, NULL, 0) == 0);

	/* The same through the cache. */
	CHECK_OK(san__rcache_create(&cfg, &uring_ops, NULL, &rc));
	if (!san__rcache_monitor_active(rc))
		san_test_skip("userfaultfd (UFFD_USER_MODE_ONLY, WP mode) is not available");
	warm_monitor(rc);
	r = uget(rc, p, LEN);
	CHECK(san__rcache_region_cached(r));
	old = san__rcache_region_mr(r);
	through_slot(old->slot, p, LEN, seen);
	CHECK(san_test_verify(seen, LEN, 2));
	san__rcache_put(rc, r);
	r = uget(rc, p + PG, PG); /* a hit */
	CHECK(san__rcache_region_mr(r) == old);
	san__rcache_put(rc, r);

	CHECK(munmap(p, LEN) == 0);
	map_at(p, LEN);
	san_test_fill(p, LEN, 3);
	r = uget(rc, p, LEN);
	CHECK(san__rcache_region_cached(r));
	through_slot(((struct umr *)san__rcache_region_mr(r))->slot, p, LEN, seen);
	CHECK(san_test_verify(seen, LEN, 3));
	san__rcache_put(rc, r);
	{
		struct san_stats st;

		memset(&st, 0, sizeof(st));
		san__rcache_stats(rc, &st);
		CHECK(st.reg_hits == 1 && st.reg_misses == 3 && st.invalidations == 2);
		CHECK(st.unpins == 2 && st.pinned_bytes == LEN);
	}
	san__rcache_destroy(rc);
	for (unsigned i = 0; i < SLOTS; i++)
		CHECK(!g_used[i]);
	CHECK(munmap(p, LEN) == 0);
	io_uring_queue_exit(&g_ring);
	close(g_memfd);
	san_test_check_leaks();
	return 0;
}
