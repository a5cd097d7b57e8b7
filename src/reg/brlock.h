/* SPDX-License-Identifier: MIT */
/*
 * A reader-writer lock whose read side touches no shared cache line in the
 * common case: readers count themselves in a per-CPU shard, and a writer
 * raises a flag and waits until every shard is empty. Made for the
 * registration cache, where hits (readers) run on every thread at once and
 * writers (misses, invalidations, the monitor) are rare and short.
 *
 * Readers and writers must never block while holding it (they only spin
 * and yield while waiting for each other). Writers are preferred: once one
 * raises the flag, new readers wait. Not recursive.
 *
 * Ordering: a reader increments its shard and then reads the flag; a
 * writer sets the flag and then reads every shard; all four are seq_cst,
 * so at least one of them sees the other (Dekker). Unlocking is a release
 * that the other side's next acquisition reads, which is also what tells
 * ThreadSanitizer about the happens-before.
 */
#ifndef SAN_BRLOCK_H
#define SAN_BRLOCK_H

#include "util/util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

struct san_brlock_shard {
	_Atomic long readers;
} __attribute__((aligned(64)));

struct san_brlock {
	_Atomic int writer;              /* a writer holds it or waits for readers */
	unsigned mask;                   /* shards - 1 (a power of two) */
	struct san_brlock_shard *shards;
	pthread_mutex_t wlock;           /* one writer at a time */
};

/* Returns 0 or -ENOMEM. */
int san__brlock_init(struct san_brlock *l);
void san__brlock_destroy(struct san_brlock *l);
void san__brlock_wrlock(struct san_brlock *l);
void san__brlock_wrunlock(struct san_brlock *l);
/* Slow path of a reader that met a writer. */
void san__brlock_wait_writer(struct san_brlock *l);

/* Returns the ticket to pass to san__brlock_rdunlock. */
static inline unsigned san__brlock_rdlock(struct san_brlock *l)
{
	int cpu = sched_getcpu(); /* rseq: a few ns */
	unsigned i = cpu < 0 ? 0 : (unsigned)cpu & l->mask;
	struct san_brlock_shard *s = &l->shards[i];

	for (;;) {
		atomic_fetch_add_explicit(&s->readers, 1, memory_order_seq_cst);
		if (san_likely(!atomic_load_explicit(&l->writer, memory_order_seq_cst)))
			return i;
		atomic_fetch_sub_explicit(&s->readers, 1, memory_order_release);
		san__brlock_wait_writer(l);
	}
}

static inline void san__brlock_rdunlock(struct san_brlock *l, unsigned ticket)
{
	atomic_fetch_sub_explicit(&l->shards[ticket].readers, 1, memory_order_release);
}

#endif
