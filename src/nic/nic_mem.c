/* SPDX-License-Identifier: MIT */
/*
 * NIC registration = io_uring fixed buffers. Updating a slot of the sparse
 * table makes the kernel pin the pages (a long-term pin, counted in VmPin
 * and against RLIMIT_MEMLOCK for unprivileged users); clearing the slot
 * unpins them once no request in flight uses them. I/O then goes to those
 * pinned pages whatever the process maps at the address later: which is why
 * the registration cache above must invalidate before mappings change.
 */
#include "uring.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

/* Finds and marks n consecutive free slots. Returns the first or -ENOSPC. */
static int slots_alloc(struct uring_nic *nic, unsigned n)
{
	unsigned start, run = 0, i, tries;

	pthread_mutex_lock(&nic->slot_lock);
	start = nic->slot_hint;
	for (tries = 0, i = start; tries < 2 * URING_MAX_SLOTS; tries++, i++) {
		if (i == URING_MAX_SLOTS) {
			i = 0;
			run = 0;
		}
		if (nic->slot_map[i / 64] & (1ull << (i % 64))) {
			run = 0;
			continue;
		}
		if (++run == n) {
			unsigned first = i + 1 - n;

			for (unsigned j = first; j <= i; j++)
				nic->slot_map[j / 64] |= 1ull << (j % 64);
			nic->slot_hint = (i + 1) % URING_MAX_SLOTS;
			pthread_mutex_unlock(&nic->slot_lock);
			return (int)first;
		}
	}
	pthread_mutex_unlock(&nic->slot_lock);
	return -ENOSPC;
}

static void slots_free(struct uring_nic *nic, unsigned first, unsigned n)
{
	pthread_mutex_lock(&nic->slot_lock);
	for (unsigned j = first; j < first + n; j++)
		nic->slot_map[j / 64] &= ~(1ull << (j % 64));
	pthread_mutex_unlock(&nic->slot_lock);
}

static void slots_clear(struct uring_nic *nic, unsigned first, unsigned n)
{
	for (unsigned j = first; j < first + n; j++) {
		struct iovec iov = { 0 };
		__u64 tag = 0;

		io_uring_register_buffers_update_tag(&nic->ring, j, &iov, &tag, 1);
	}
}

int san__uring_mem_reg(struct san_nic *n, void *addr, size_t len, struct san_nic_mr **mr_out)
{
	struct uring_nic *nic = NIC(n);
	struct uring_mr *mr;
	unsigned nslots;
	int first, rc;

	if (!len || (uintptr_t)addr % san__page_size() || len % san__page_size())
		return -EINVAL;
	if (len / URING_CHUNK >= URING_MAX_SLOTS)
		return -ENOSPC;
	nslots = (unsigned)((len + URING_CHUNK - 1) / URING_CHUNK);
	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return -ENOMEM;
	first = slots_alloc(nic, nslots);
	if (first < 0) {
		free(mr);
		return first;
	}
	for (unsigned i = 0; i < nslots; i++) {
		size_t off = (size_t)i * URING_CHUNK;
		struct iovec iov = { (char *)addr + off, SAN_MIN(URING_CHUNK, len - off) };
		__u64 tag = 0;

		rc = io_uring_register_buffers_update_tag(&nic->ring, (unsigned)first + i, &iov, &tag, 1);
		if (rc < 0) {
			slots_clear(nic, (unsigned)first, i);
			slots_free(nic, (unsigned)first, nslots);
			free(mr);
			/* The kernel says EFAULT for unmapped or read-only memory
			 * and ENOMEM/EAGAIN when RLIMIT_MEMLOCK is exhausted. */
			return rc == -EAGAIN ? -ENOMEM : rc;
		}
	}
	mr->pub.base = (uintptr_t)addr;
	mr->pub.len = len;
	mr->nic = nic;
	mr->slot = (uint16_t)first;
	mr->nslots = (uint16_t)nslots;
	atomic_init(&mr->refs, 1);
	atomic_fetch_add(&nic->pins, 1);
	atomic_fetch_add(&nic->pinned_bytes, len);
	*mr_out = &mr->pub;
	return 0;
}

void san__uring_mr_get(struct uring_mr *mr)
{
	atomic_fetch_add_explicit(&mr->refs, 1, memory_order_relaxed);
}

void san__uring_mr_put(struct uring_mr *mr)
{
	struct uring_nic *nic = mr->nic;

	if (atomic_fetch_sub_explicit(&mr->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* Requests still in flight keep their own reference to the kernel's
	 * buffer node; a slot index may be reused at once. */
	slots_clear(nic, mr->slot, mr->nslots);
	slots_free(nic, mr->slot, mr->nslots);
	atomic_fetch_add(&nic->unpins, 1);
	atomic_fetch_sub(&nic->pinned_bytes, mr->pub.len);
	free(mr);
}

void san__uring_mem_dereg(struct san_nic *n, struct san_nic_mr *m)
{
	(void)n;
	san__uring_mr_put((struct uring_mr *)m);
}

size_t san__uring_mr_span(const struct uring_mr *mr, uintptr_t addr, size_t len, unsigned *slot)
{
	size_t rel = addr - mr->pub.base;
	size_t chunk = rel / URING_CHUNK;
	size_t room = (chunk + 1) * URING_CHUNK - rel;

	*slot = mr->slot + (unsigned)chunk;
	return SAN_MIN(len, room);
}
