/* SPDX-License-Identifier: MIT */
/* The slow paths of the biased lock (biaslock.h has the argument). */
#include "biaslock.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread char san__bias_token __attribute__((tls_model("initial-exec")));

#if defined(__SANITIZE_THREAD__)
#define SAN_BIAS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SAN_BIAS_TSAN 1
#endif
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool usable;

static void probe(void)
{
#ifndef SAN_BIAS_TSAN
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    !syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0))
		usable = true;
#endif
}

void san__bias_init(san_biaslock *l)
{
	pthread_once(&once, probe);
	atomic_init(&l->owner, NULL);
	atomic_init(&l->in, 0);
	atomic_init(&l->revoke, 0);
	san__spin_init(&l->lock);
	l->last = NULL;
	l->streak = 0;
	l->need = usable ? 0 : UINT32_MAX; /* the first user gets the bias */
}

/* Spinlock held, owner biased: waits until the owner is out of its fast
 * section and will see what we stored before the call. */
static void drain_owner(san_biaslock *l)
{
	unsigned n = 0;

	/* Cannot fail once registered (the process registered in probe). */
	syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
	while (atomic_load_explicit(&l->in, memory_order_acquire)) {
		if (++n > 128)
			sched_yield();
		else
			san__cpu_relax();
	}
}

#define NEED_FIRST 64u
#define NEED_MAX (1u << 16)

void san__bias_lock_slow(san_biaslock *l)
{
	const void *self = &san__bias_token, *o;

	san__spin_lock(&l->lock);
	o = atomic_load_explicit(&l->owner, memory_order_relaxed);
	if (o == self)
		return; /* the owner backed off for a housekeeper, now done */
	if (o) {
		/* Another thread uses the lock: the bias ends. */
		atomic_store_explicit(&l->owner, NULL, memory_order_relaxed);
		drain_owner(l);
		l->need = l->need < NEED_FIRST ? NEED_FIRST : SAN_MIN(l->need * 2, NEED_MAX);
		l->last = self;
		l->streak = 1;
		return;
	}
	if (l->last != self) {
		l->last = self;
		l->streak = 0;
	}
	if (l->need != UINT32_MAX && ++l->streak > l->need) {
		/* Nobody is in a fast section (there was no owner). */
		atomic_store_explicit(&l->owner, self, memory_order_relaxed);
	}
}

void san__bias_lock_visit(san_biaslock *l)
{
	const void *o;

	san__spin_lock(&l->lock);
	o = atomic_load_explicit(&l->owner, memory_order_relaxed);
	if (o && o != &san__bias_token) {
		atomic_store_explicit(&l->revoke, 1, memory_order_relaxed);
		drain_owner(l);
	}
}

void san__bias_unlock_visit(san_biaslock *l)
{
	atomic_store_explicit(&l->revoke, 0, memory_order_release);
	san__spin_unlock(&l->lock);
}
