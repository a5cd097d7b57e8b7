/* SPDX-License-Identifier: MIT */
/*
 * The memory monitor: tells the registration cache when the mapping under a
 * watched range changes (R2.2, R2.4). One implementation, userfaultfd
 * (monitor_uffd.c); see docs/rcache.md for why it is built the way it is.
 */
#ifndef SAN_MONITOR_H
#define SAN_MONITOR_H

#include <stdint.h>

struct san_monitor;

/* What the monitor thread calls. lock() takes the cache's write lock; the
 * thread calls it BEFORE it reads events from the kernel and unlock() after
 * it has handled them (the reason is in monitor_uffd.c). invalidate() runs
 * between the two, once per changed range [start, end), possibly for ranges
 * nobody caches. None of them may allocate, block on the application or
 * unregister memory. */
struct san_monitor_cb {
	void (*lock)(void *arg);
	void (*invalidate)(void *arg, uintptr_t start, uintptr_t end);
	void (*unlock)(void *arg);
};

/* Opens a userfaultfd (UFFD_USER_MODE_ONLY, so an ordinary user can) with
 * unmap, remove and remap events, checks that anonymous memory can be
 * registered in write-protect mode, and starts the monitor thread. Returns
 * 0, -ENOSYS (no userfaultfd), -EPERM, -EINVAL or -EOPNOTSUPP (a needed
 * feature is missing), or another -errno. */
int san__monitor_uffd_open(const struct san_monitor_cb *cb, void *arg, struct san_monitor **m_out);

/* Stops the thread and closes the userfaultfd, which unregisters every
 * watched range. Do not hold the cache lock. */
void san__monitor_close(struct san_monitor *m);

/* Starts watching the page-aligned [start, end). Returns 0 when, from now
 * on, every munmap, mremap, madvise(MADV_DONTNEED/MADV_REMOVE/MADV_FREE),
 * brk shrink or mmap(MAP_FIXED) over any part of it reaches invalidate();
 * -EOPNOTSUPP when some of it is memory the monitor cannot vouch for
 * (shared or file-backed mappings, ranges another userfaultfd owns), or
 * -EFAULT (not wholly mapped). On failure part of the range may stay
 * registered; that only costs a wake-up of the thread when it changes. */
int san__monitor_watch(struct san_monitor *m, uintptr_t start, uintptr_t end);

#endif
