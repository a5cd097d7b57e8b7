/* SPDX-License-Identifier: MIT */
/*
 * The biased lock that guards a socket's registrations (src/util/biaslock.h)
 * excludes every other holder in every mode: the owner's fast path, the
 * shared spinlock after a second thread came, the owner's return to the
 * bias after a long run alone, and housekeeping visits that leave the bias
 * in place. Each holder increments plain (non-atomic) counters inside and
 * checks that nobody else is inside; a lost update or an overlap fails.
 *
 * Phases, each with fresh threads: (1) one thread alone (it gets the bias
 * and keeps it); (2) the owner plus a housekeeper visiting; (3) two threads
 * that both lock (the bias ends, and comes back to whichever runs alone);
 * (4) the same with a visitor; (5) owner changes: a new thread takes over
 * a lock biased to a thread that has exited.
 */
#include "harness.h"
#include "util/biaslock.h"

#include <pthread.h>
#include <stdio.h>

#define ITERS 1000000

static san_biaslock lk;
static volatile unsigned long count;   /* plain: only the lock protects it */
static volatile int inside;
static _Atomic int stop;
static _Atomic unsigned long overlaps, fast_taken;
static pthread_barrier_t go;

static void critical(void)
{
	if (inside)
		atomic_fetch_add(&overlaps, 1);
	inside = 1;
	count = count + 1;
	for (volatile int k = 0; k < 20; k++)
		;
	inside = 0;
}

static void *locker(void *arg)
{
	unsigned long n = (unsigned long)(uintptr_t)arg;

	pthread_barrier_wait(&go);
	for (unsigned long i = 0; i < n; i++) {
		bool fast = san__bias_lock(&lk);

		if (fast)
			atomic_fetch_add_explicit(&fast_taken, 1, memory_order_relaxed);
		critical();
		san__bias_unlock(&lk, fast);
	}
	return NULL;
}

static void *visitor(void *arg)
{
	unsigned long *visits = arg;

	/* Starts with the lockers and visits at least once, however the
	 * threads are scheduled (a loaded machine may run the whole phase
	 * before this thread gets a CPU). */
	pthread_barrier_wait(&go);
	do {
		san__bias_lock_visit(&lk);
		critical();
		san__bias_unlock_visit(&lk);
		(*visits)++;
		for (volatile int k = 0; k < 2000; k++)
			;
	} while (!atomic_load(&stop));
	return NULL;
}

/* Runs nlock lockers of ITERS each, plus a visitor if asked; checks the
 * count. Returns the visits made. */
static unsigned long phase(const char *name, int nlock, int visit)
{
	pthread_t t[4], v;
	unsigned long before = count, visits = 0;

	atomic_store(&stop, 0);
	CHECK(pthread_barrier_init(&go, NULL, (unsigned)(nlock + visit)) == 0);
	if (visit)
		CHECK(pthread_create(&v, NULL, visitor, &visits) == 0);
	for (int i = 0; i < nlock; i++)
		CHECK(pthread_create(&t[i], NULL, locker, (void *)(uintptr_t)ITERS) == 0);
	for (int i = 0; i < nlock; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	atomic_store(&stop, 1);
	if (visit)
		CHECK(pthread_join(v, NULL) == 0);
	pthread_barrier_destroy(&go);
	CHECK(count - before == (unsigned long)nlock * ITERS + visits);
	CHECK(atomic_load(&overlaps) == 0);
	printf("%s: %lu lock/unlock, %lu visits, fast so far %lu\n", name,
	       (unsigned long)nlock * ITERS, visits, atomic_load(&fast_taken));
	return visits;
}

int main(void)
{
	unsigned long f0;

	san_test_start(120);
	san__bias_init(&lk);

	phase("one thread", 1, 0);
	f0 = atomic_load(&fast_taken);
	/* Unless membarrier is missing (or under TSan), a lone thread runs on
	 * the bias: nearly every acquisition is the fast one. */
#if !defined(__SANITIZE_THREAD__)
	if (f0 == 0)
		printf("no bias (membarrier unavailable?): shared mode only\n");
	else
		CHECK(f0 >= ITERS - 1);
#endif
	CHECK(phase("owner + visitor", 1, 1) > 0);
	phase("two threads", 2, 0);
	phase("two threads + visitor", 2, 1);
	/* A lone thread after the sharing: it earns the bias back. */
	f0 = atomic_load(&fast_taken);
	phase("one thread again", 1, 0);
#if !defined(__SANITIZE_THREAD__)
	if (f0)
		CHECK(atomic_load(&fast_taken) - f0 > ITERS / 2);
#endif
	phase("three threads + visitor", 3, 1);
	(void)f0; /* unused under TSan, where there is no bias */
	return 0;
}
