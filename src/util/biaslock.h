/* SPDX-License-Identifier: MIT */
/*
 * A lock biased towards one thread: the thread that uses it first takes and
 * releases it with plain loads and stores (no atomic read-modify-write, no
 * fence), as long as no other thread wants it. This is what keeps a cache
 * hit on a socket used by one thread (the common case of communication
 * layers: a connection per thread, or one progress thread) at a few
 * nanoseconds.
 *
 * The argument (an asymmetric Dekker): the owner stores in = 1 and then
 * reads revoke and owner; a slow locker stores revoke = 1 (or owner = OFF),
 * runs membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), and then reads in.
 * membarrier puts a full memory barrier in every running thread of the
 * process between the slow locker's store and its load (a thread not
 * running has passed a context switch, a full barrier too). So either the
 * owner's store of in = 1 precedes that barrier, and the slow locker sees
 * in == 1 and waits for the owner to leave, or the owner's loads follow
 * it and see the slow locker's store, and the owner takes the slow path.
 * The compiler barrier in the fast path keeps the compiler from reordering
 * the store and the loads; the CPU may, until the IPI's barrier.
 *
 * Two kinds of slow lockers:
 *  - another thread that uses the lock as the owner does (san__bias_lock):
 *    the bias ends (one membarrier) and everybody takes the spinlock. A
 *    thread that then takes it alone many times in a row (64, doubling at
 *    each revocation up to 2^16, so that two threads sharing a socket pay
 *    for membarrier rarely) becomes the new owner: a socket set up by one
 *    thread and then used by another ends up biased to the second;
 *  - housekeeping (san__bias_lock_visit: sweeps, close): the owner backs
 *    off while it runs and keeps its bias afterwards.
 * When membarrier is unavailable, or under ThreadSanitizer (which cannot
 * see the barrier the kernel provides), there is no bias: every locker
 * takes the spinlock, as a plain san_spinlock.
 */
#ifndef SAN_BIASLOCK_H
#define SAN_BIASLOCK_H

#include "util.h"

#include <stdatomic.h>
#include <stdbool.h>

typedef struct {
	_Atomic(const void *) owner; /* the biased thread's token; NULL: none */
	_Atomic int in;              /* the owner is inside, lock not taken */
	_Atomic int revoke;          /* a housekeeper holds the spinlock: owner, stay out */
	san_spinlock lock;
	const void *last;            /* lock: the last slow locker */
	uint32_t streak;             /* lock: its consecutive slow acquisitions */
	uint32_t need;               /* lock: streak that earns the bias */
} san_biaslock;

/* This thread's token: the address of a thread-local byte. */
extern __thread char san__bias_token __attribute__((tls_model("initial-exec")));

void san__bias_init(san_biaslock *l);
/* Slow paths (biaslock.c); return with the spinlock held. */
void san__bias_lock_slow(san_biaslock *l);
void san__bias_lock_visit(san_biaslock *l);
void san__bias_unlock_visit(san_biaslock *l);

/* Takes the lock. Returns true when taken in the fast (biased) mode: pass
 * it to san__bias_unlock. */
static inline bool san__bias_lock(san_biaslock *l)
{
	const void *self = &san__bias_token;

	if (atomic_load_explicit(&l->owner, memory_order_relaxed) == self) {
		atomic_store_explicit(&l->in, 1, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst); /* see the argument above */
		if (!atomic_load_explicit(&l->revoke, memory_order_acquire) &&
		    atomic_load_explicit(&l->owner, memory_order_relaxed) == self)
			return true;
		atomic_store_explicit(&l->in, 0, memory_order_release);
	}
	san__bias_lock_slow(l);
	return false;
}

static inline void san__bias_unlock(san_biaslock *l, bool fast)
{
	if (fast)
		atomic_store_explicit(&l->in, 0, memory_order_release);
	else
		san__spin_unlock(&l->lock);
}

#endif
