/* SPDX-License-Identifier: MIT */
/*
 * A lock biased towards one thread: the thread that uses it first takes and
 * releases it with plain loads and stores (no atomic read-modify-write, no
 * fence), as long as no other thread wants it. This is what keeps a cache
 * hit on a socket used by one thread (the common case of communication
 * layers: a connection per thread, or one progress thread) at a few
 * nanoseconds.
 *
 * The argument (an asymmetric Dekker): the owner stores its in = the lock
 * and then reads revoke and owner; a slow locker stores revoke = 1 (or
 * owner = NULL), runs membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), and
 * then reads the owner's in.
 * membarrier puts a full memory barrier in every running thread of the
 * process between the slow locker's store and its load (a thread not
 * running has passed a context switch, a full barrier too). So either the
 * owner's store of in precedes that barrier, and the slow locker sees it
 * and waits for the owner to leave, or the owner's loads follow
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

/* One per thread (recycled after the thread exits, never freed): where
 * the thread says which lock it holds in the fast mode. Per thread, not
 * per lock, so that a thread whose fast attempt comes too late (the bias
 * moved on meanwhile) backs out without touching the new owner's flag. */
struct san_bias_rec {
	_Atomic(const void *) in;     /* the lock held in fast mode, or NULL */
	struct san_bias_rec *next;    /* free list */
};

typedef struct {
	_Atomic(struct san_bias_rec *) owner; /* the biased thread; NULL: none */
	_Atomic int revoke;          /* a housekeeper holds the spinlock: owner, stay out */
	san_spinlock lock;
	struct san_bias_rec *last;   /* lock: the last slow locker */
	uint32_t streak;             /* lock: its consecutive slow acquisitions */
	uint32_t need;               /* lock: streak that earns the bias */
} san_biaslock;

/* This thread's record; NULL until its first slow acquisition. */
extern __thread struct san_bias_rec *san__bias_self __attribute__((tls_model("initial-exec")));

void san__bias_init(san_biaslock *l);
/* Slow paths (biaslock.c); return with the spinlock held. */
void san__bias_lock_slow(san_biaslock *l);
void san__bias_lock_visit(san_biaslock *l);
void san__bias_unlock_visit(san_biaslock *l);

/* Enters the lock in the fast (biased) mode if this thread holds the
 * bias; false (and nothing held) otherwise. For hit paths that hand
 * everything else to an out-of-line slow path: no call in here. */
static inline bool san__bias_try_fast(san_biaslock *l)
{
	struct san_bias_rec *self = san__bias_self;

	if (self && atomic_load_explicit(&l->owner, memory_order_relaxed) == self) {
		atomic_store_explicit(&self->in, l, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst); /* see the argument above */
		if (!atomic_load_explicit(&l->revoke, memory_order_acquire) &&
		    atomic_load_explicit(&l->owner, memory_order_relaxed) == self)
			return true;
		atomic_store_explicit(&self->in, NULL, memory_order_release);
	}
	return false;
}

/* Takes the lock (no nesting of biased locks in one thread). Returns true
 * when taken in the fast (biased) mode: pass it to san__bias_unlock. */
static inline bool san__bias_lock(san_biaslock *l)
{
	if (san__bias_try_fast(l))
		return true;
	san__bias_lock_slow(l);
	return false;
}

static inline void san__bias_unlock(san_biaslock *l, bool fast)
{
	if (fast)
		atomic_store_explicit(&san__bias_self->in, NULL, memory_order_release);
	else
		san__spin_unlock(&l->lock);
}

#endif
