/* SPDX-License-Identifier: MIT */
/* The slow paths of the biased lock (biaslock.h has the argument). */
#include "biaslock.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread struct san_bias_rec *san__bias_self __attribute__((tls_model("initial-exec")));

/* Records of exited threads, for reuse. A record is never freed: a slow
 * locker may read the in of a lock's owner after that thread exited (it
 * then reads NULL, or the lock of a thread that took the record over and
 * with it the bias: both right). */
static pthread_mutex_t recs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct san_bias_rec *recs_free;
static pthread_key_t recs_key;

#if defined(__SANITIZE_THREAD__)
#define SAN_BIAS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SAN_BIAS_TSAN 1
#endif
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool usable;

static void rec_release(void *arg)
{
	struct san_bias_rec *r = arg;

	san__bias_self = NULL;
	pthread_mutex_lock(&recs_lock);
	r->next = recs_free;
	recs_free = r;
	pthread_mutex_unlock(&recs_lock);
}

/* This thread's record, made on first use; NULL if none can be had (then
 * the thread never gets a bias). */
static struct san_bias_rec *rec_self(void)
{
	struct san_bias_rec *r = san__bias_self;

	if (r || !usable)
		return r;
	pthread_mutex_lock(&recs_lock);
	r = recs_free;
	if (r)
		recs_free = r->next;
	pthread_mutex_unlock(&recs_lock);
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
	}
	atomic_store_explicit(&r->in, NULL, memory_order_relaxed);
	if (pthread_setspecific(recs_key, r)) {
		rec_release(r);
		return NULL;
	}
	san__bias_self = r;
	return r;
}

static void probe(void)
{
	if (pthread_key_create(&recs_key, rec_release))
		return;
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
	atomic_init(&l->revoke, 0);
	san__spin_init(&l->lock);
	l->last = NULL;
	l->streak = 0;
	l->need = usable ? 0 : UINT32_MAX; /* the first user gets the bias */
}

/* Spinlock held, l was biased to o: waits until o is out of its fast
 * section and will see what we stored before the call. */
static void drain_owner(san_biaslock *l, struct san_bias_rec *o)
{
	unsigned n = 0;

	/* Cannot fail once registered (the process registered in probe). */
	syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
	while (atomic_load_explicit(&o->in, memory_order_acquire) == (const void *)l)
		san__spin_backoff(&n);
}

#define NEED_FIRST 64u
#define NEED_MAX (1u << 16)

void san__bias_lock_slow(san_biaslock *l)
{
	struct san_bias_rec *self = rec_self(), *o;

	san__spin_lock(&l->lock);
	o = atomic_load_explicit(&l->owner, memory_order_relaxed);
	if (o && o == self)
		return; /* the owner backed off for a housekeeper, now done */
	if (o) {
		/* Another thread uses the lock: the bias ends. */
		atomic_store_explicit(&l->owner, NULL, memory_order_relaxed);
		drain_owner(l, o);
		l->need = l->need < NEED_FIRST ? NEED_FIRST : SAN_MIN(l->need * 2, NEED_MAX);
		l->last = self;
		l->streak = 1;
		return;
	}
	if (l->last != self) {
		l->last = self;
		l->streak = 0;
	}
	if (self && l->need != UINT32_MAX && ++l->streak > l->need) {
		/* Nobody is in a fast section (there was no owner). */
		atomic_store_explicit(&l->owner, self, memory_order_relaxed);
	}
}

void san__bias_lock_visit(san_biaslock *l)
{
	struct san_bias_rec *o;

	san__spin_lock(&l->lock);
	o = atomic_load_explicit(&l->owner, memory_order_relaxed);
	if (o && o != san__bias_self) {
		atomic_store_explicit(&l->revoke, 1, memory_order_relaxed);
		drain_owner(l, o);
	}
}

void san__bias_unlock_visit(san_biaslock *l)
{
	atomic_store_explicit(&l->revoke, 0, memory_order_release);
	san__spin_unlock(&l->lock);
}
