/* SPDX-License-Identifier: MIT */
#include "brlock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BRLOCK_MAX_SHARDS 64

/* Spins a little, then yields: the other side never blocks while holding
 * the lock, but it may have been preempted. */
static void backoff(unsigned *spins)
{
	if (++*spins < 128)
		san__cpu_relax();
	else
		sched_yield();
}

int san__brlock_init(struct san_brlock *l)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	unsigned n = 1;

	while (n < BRLOCK_MAX_SHARDS && (long)n < cpus)
		n <<= 1;
	l->shards = aligned_alloc(64, n * sizeof(*l->shards));
	if (!l->shards)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		atomic_init(&l->shards[i].readers, 0);
	l->mask = n - 1;
	atomic_init(&l->writer, 0);
	pthread_mutex_init(&l->wlock, NULL);
	return 0;
}

void san__brlock_destroy(struct san_brlock *l)
{
	pthread_mutex_destroy(&l->wlock);
	free(l->shards);
	l->shards = NULL;
}

void san__brlock_wait_writer(struct san_brlock *l)
{
	unsigned spins = 0;

	while (atomic_load_explicit(&l->writer, memory_order_acquire))
		backoff(&spins);
}

void san__brlock_wrlock(struct san_brlock *l)
{
	pthread_mutex_lock(&l->wlock);
	atomic_store_explicit(&l->writer, 1, memory_order_seq_cst);
	for (unsigned i = 0; i <= l->mask; i++) {
		unsigned spins = 0;

		while (atomic_load_explicit(&l->shards[i].readers, memory_order_seq_cst))
			backoff(&spins);
	}
}

void san__brlock_wrunlock(struct san_brlock *l)
{
	atomic_store_explicit(&l->writer, 0, memory_order_release);
	pthread_mutex_unlock(&l->wlock);
}
