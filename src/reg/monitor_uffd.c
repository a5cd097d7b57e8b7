/* SPDX-License-Identifier: MIT */
/*
 * The userfaultfd memory monitor.
 *
 * Watched ranges are registered with UFFDIO_REGISTER_MODE_WP and never
 * write-protected: no pte ever carries the uffd-wp bit, so ordinary page
 * faults never reach us, but the VMA belongs to our userfaultfd and the
 * kernel reports what happens to it: UNMAP (munmap, mremap shrink, brk
 * shrink, mmap(MAP_FIXED) over it), REMOVE (madvise DONTNEED, FREE,
 * REMOVE) and REMAP (mremap move). The file descriptor is opened with
 * UFFD_USER_MODE_ONLY, which needs no privilege even when
 * vm.unprivileged_userfaultfd is 0 (we never want kernel-mode faults).
 *
 * Only private anonymous memory is vouched for. Shared and file-backed
 * pages can change under the mapping without any event here (another
 * process truncates or hole-punches the file, shmdt of SysV memory sends no
 * UNMAP), so such ranges are reported unwatchable and the cache does not
 * keep them.
 *
 * EVENT_FORK is deliberately not requested: with it, every fork() would
 * block until this thread read a new userfaultfd for the child, which we
 * would only close. Without it the kernel drops the registrations from the
 * child's VMAs. The child does not inherit this thread, so a provider must
 * not be used across fork (the child opens its own).
 *
 * THE RACE, and why the cache lock is taken before reading. For UNMAP and
 * REMAP the kernel changes the mapping first and then makes the thread
 * that called munmap/mremap wait until the event has been READ from the
 * userfaultfd (REMOVE waits the same way, before zapping). libfabric's
 * monitor reads the event and then takes its cache lock to process it; in
 * between, the munmapping thread has already resumed and can map new memory
 * at the same address and register it, and its lookup still finds the old
 * entry: a stale registration. Here the thread takes the cache's WRITE lock
 * first, then reads every pending event, invalidates, and only then
 * unlocks. So:
 *   - a munmap (or mremap, madvise) returns only after its event was read;
 *   - the read happened while this thread held the write lock, and the
 *     lock is released only after the event was processed;
 *   - every lookup takes the read lock;
 * hence any lookup that happens after the munmap returned (in the same
 * thread, or in any thread that synchronized with it) waits for the
 * invalidation and cannot find the old entry. tests/test_monitor_race.c
 * checks this under stress. A lookup NOT ordered after the munmap's return
 * (another thread registering the address while munmap is still running)
 * can still find the entry between the kernel's unmapping and our reading
 * the event; no event-based monitor can close that window, and it only
 * concerns memory the application is releasing and reusing at the same
 * moment without synchronization.
 *
 * The thread never allocates, never calls mem_dereg, and never waits for
 * the application: under the write lock it only reads (non-blocking) and
 * edits the cache's index. Readers and writers of that lock never block
 * while holding it, so the thread always gets it promptly.
 */
#include "monitor.h"

#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/* PROCMAP_QUERY (Linux 6.11): one VMA's description by ioctl on
 * /proc/self/maps, without reading the whole text. Defined here because
 * older headers lack it; the layout is the kernel's ABI. */
struct san_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
_Static_assert(sizeof(struct san_procmap_query) == 104, "procmap_query ABI");
#define SAN_PROCMAP_QUERY _IOWR('f', 17, struct san_procmap_query)
#define SAN_PROCMAP_VMA_SHARED 0x08

#define MONITOR_FEATURES (UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_REMAP)
#define MONITOR_BATCH 32 /* events read per read(): 1 KiB on the thread's stack */

struct san_monitor {
	int uffd;
	int stop_fd; /* eventfd: written once by san__monitor_close */
	int maps_fd; /* /proc/self/maps for PROCMAP_QUERY, -1: parse the text */
	pthread_t thread;
	struct san_monitor_cb cb;
	void *arg;
};

/* Handles a page fault we never asked for (a wp pte left by someone else
 * cannot be ours, but a thread stuck on our descriptor must not hang):
 * clears write protection on the page, which also wakes the thread. */
static void monitor_unstick(struct san_monitor *m, uint64_t addr)
{
	size_t pg = san__page_size();
	struct uffdio_writeprotect wp = {
		.range = { .start = addr & ~(uint64_t)(pg - 1), .len = pg },
		.mode = 0,
	};
	struct uffdio_range wake = wp.range;

	if (ioctl(m->uffd, UFFDIO_WRITEPROTECT, &wp))
		(void)ioctl(m->uffd, UFFDIO_WAKE, &wake);
}

static void monitor_handle(struct san_monitor *m, const struct uffd_msg *msg)
{
	switch (msg->event) {
	case UFFD_EVENT_UNMAP:
	case UFFD_EVENT_REMOVE:
		m->cb.invalidate(m->arg, (uintptr_t)msg->arg.remove.start,
				 (uintptr_t)msg->arg.remove.end);
		break;
	case UFFD_EVENT_REMAP:
		/* The pages moved away from [from, from+len); whatever was cached
		 * there is no longer mapped there. The destination was free or got
		 * its own UNMAP event. */
		m->cb.invalidate(m->arg, (uintptr_t)msg->arg.remap.from,
				 (uintptr_t)(msg->arg.remap.from + msg->arg.remap.len));
		break;
	case UFFD_EVENT_PAGEFAULT:
		monitor_unstick(m, msg->arg.pagefault.address);
		break;
	case UFFD_EVENT_FORK:
		close((int)msg->arg.fork.ufd); /* not requested; never leak it */
		break;
	default:
		break;
	}
}

/* Reads and handles every pending event with the cache's write lock held
 * from before the first read until after the last invalidation (see THE
 * RACE above). The descriptor is non-blocking: read() never waits. Returns
 * the number of events handled. */
static size_t monitor_drain(struct san_monitor *m)
{
	struct uffd_msg msgs[MONITOR_BATCH];
	size_t total = 0;

	m->cb.lock(m->arg);
	for (;;) {
		ssize_t n = read(m->uffd, msgs, sizeof(msgs));
		size_t cnt;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* EAGAIN: drained */
		}
		cnt = (size_t)n / sizeof(msgs[0]);
		for (size_t i = 0; i < cnt; i++)
			monitor_handle(m, &msgs[i]);
		total += cnt;
		if (cnt < MONITOR_BATCH)
			break;
	}
	m->cb.unlock(m->arg);
	return total;
}

/* The thread never gives up before close: while it runs nobody else reads
 * the descriptor, and a thread unmapping watched memory would wait for
 * ever. Errors (none are expected) only slow it down. */
static void *monitor_main(void *arg)
{
	struct san_monitor *m = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = m->uffd, .events = POLLIN },
			{ .fd = m->stop_fd, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno != EINTR)
				usleep(1000);
			continue;
		}
		if (p[1].revents)
			break;
		if (p[0].revents && !monitor_drain(m) && (p[0].revents & ~POLLIN))
			usleep(1000);
	}
	return NULL;
}

/* Checks that every VMA of [start, end) is private anonymous memory (no
 * file, not shared), by PROCMAP_QUERY. Returns 0, -EOPNOTSUPP, -EFAULT
 * (a hole), or -ENOTTY (the kernel lacks the ioctl). */
static int vma_check_query(int fd, uintptr_t start, uintptr_t end)
{
	uintptr_t a = start;

	while (a < end) {
		struct san_procmap_query q;

		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_addr = a;
		if (ioctl(fd, SAN_PROCMAP_QUERY, &q))
			return errno == ENOENT ? -EFAULT : -errno;
		if (q.vma_start > a)
			return -EFAULT;
		if ((q.vma_flags & SAN_PROCMAP_VMA_SHARED) || q.inode || q.dev_major ||
		    q.dev_minor)
			return -EOPNOTSUPP;
		a = (uintptr_t)q.vma_end;
	}
	return 0;
}

/* The same check by reading /proc/self/maps (kernels before 6.11). Called
 * only from application threads, with no lock held, so it may allocate. */
static int vma_check_text(uintptr_t start, uintptr_t end)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char *line = NULL;
	size_t cap = 0;
	uintptr_t a = start;
	int rc = -EFAULT;

	if (!f)
		return -errno;
	while (a < end && getline(&line, &cap, f) > 0) {
		unsigned long lo, hi, off, ino;
		unsigned maj, min;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms, &off, &maj, &min,
			   &ino) != 7 || hi <= a)
			continue;
		if (lo > a)
			break; /* a hole */
		if (perms[3] != 'p' || ino || maj || min) {
			rc = -EOPNOTSUPP;
			break;
		}
		a = hi;
	}
	if (a >= end)
		rc = 0;
	free(line);
	fclose(f);
	return rc;
}

int san__monitor_watch(struct san_monitor *m, uintptr_t start, uintptr_t end)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = end - start },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	/* Register first, check second: if the range is replaced between the
	 * two, the replacement unmapped a registered VMA and the cache sees
	 * the event (it compares invalidations against its pin window). */
	if (ioctl(m->uffd, UFFDIO_REGISTER, &reg))
		return errno == ENOMEM ? -EFAULT : -EOPNOTSUPP;
	if (m->maps_fd >= 0)
		return vma_check_query(m->maps_fd, start, end);
	return vma_check_text(start, end);
}

/* Registers a scratch page in WP mode (and asks PROCMAP_QUERY about it),
 * so that open fails early on kernels that cannot do what watch() needs. */
static int monitor_probe(struct san_monitor *m)
{
	size_t pg = san__page_size();
	void *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_range unreg;
	int rc = 0;

	if (p == MAP_FAILED)
		return -errno;
	reg.range.start = (uintptr_t)p;
	reg.range.len = pg;
	unreg = reg.range;
	if (ioctl(m->uffd, UFFDIO_REGISTER, &reg)) {
		rc = errno == EINVAL ? -EOPNOTSUPP : -errno;
		goto out_unmap;
	}
	if (m->maps_fd >= 0 && vma_check_query(m->maps_fd, (uintptr_t)p, (uintptr_t)p + pg)) {
		close(m->maps_fd);
		m->maps_fd = -1;
	}
	/* Unregister before unmapping: no thread reads events yet, and an
	 * UNMAP event would block this munmap for ever. */
	(void)ioctl(m->uffd, UFFDIO_UNREGISTER, &unreg);
out_unmap:
	munmap(p, pg);
	return rc;
}

int san__monitor_uffd_open(const struct san_monitor_cb *cb, void *arg, struct san_monitor **m_out)
{
	struct uffdio_api api = { .api = UFFD_API, .features = MONITOR_FEATURES };
	struct san_monitor *m;
	sigset_t all, old;
	int rc;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cb = *cb;
	m->arg = arg;
	m->stop_fd = m->maps_fd = -1;
	m->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (m->uffd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (ioctl(m->uffd, UFFDIO_API, &api)) {
		rc = -errno;
		goto out_close;
	}
	if ((api.features & MONITOR_FEATURES) != MONITOR_FEATURES ||
	    !(api.ioctls & (1ull << _UFFDIO_REGISTER))) {
		rc = -EOPNOTSUPP;
		goto out_close;
	}
	m->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (m->stop_fd < 0) {
		rc = -errno;
		goto out_close;
	}
	m->maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	rc = monitor_probe(m);
	if (rc)
		goto out_close;

	/* The thread takes no signals: they belong to the application. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&m->thread, NULL, monitor_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		goto out_close;
	*m_out = m;
	return 0;

out_close:
	if (m->maps_fd >= 0)
		close(m->maps_fd);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	close(m->uffd);
out_free:
	free(m);
	return rc;
}

void san__monitor_close(struct san_monitor *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	if (write(m->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		san__log("memory monitor: eventfd write: %s", strerror(errno));
	pthread_join(m->thread, NULL);
	/* Closing the descriptor unregisters every range and releases any
	 * thread still waiting for an event to be read. */
	close(m->uffd);
	close(m->stop_fd);
	if (m->maps_fd >= 0)
		close(m->maps_fd);
	free(m);
}
