/* SPDX-License-Identifier: MIT */
/*
 * The race the monitor must close (see monitor_uffd.c, "THE RACE"): a
 * thread unmaps cached memory; once munmap returns (the kernel resumes it
 * as soon as the event is read, maybe before it is processed) it or another
 * thread maps new memory at the same address and registers it. That get
 * must never return the registration of the earlier mapping.
 *
 * Two threads share a few fixed slots. A thread takes a free slot, maps it,
 * stamps the mapping with a fresh generation number, and gets/puts
 * sub-ranges of it, checking that the registration it gets saw this
 * generation (the mock reads the first word at registration time). Then it
 * changes the mapping (munmap, MAP_FIXED over it, madvise DONTNEED) and
 * either goes on with a new generation or unmaps the slot and hands it to
 * whichever thread takes it next (a PROT_NONE placeholder, never watched,
 * keeps other mappings out of a free slot). Runs for
 * SAN_TEST_STRESS_SECONDS (default 3). Against a monitor that reads an
 * event before taking the cache lock, this fails within a second.
 */
#include "test_rcache_mock.h"

#include "util/util.h"

#include <time.h>

enum { SLOTS = 6, SLOT_PAGES = 8, THREADS = 2 };
#define SLOT_LEN (SLOT_PAGES * PG)

static struct mock g_m;
static struct san_rcache *g_rc;
static uint8_t *g_area;
static _Atomic int g_slot_busy[SLOTS];
static _Atomic uint64_t g_gen, g_gets, g_changes, g_handoffs, g_lost;
static uint64_t g_deadline_ns;

static uint8_t *slot_addr(int i)
{
	return g_area + (size_t)i * 2 * SLOT_LEN; /* a gap between slots: no merging */
}

static uint64_t fresh(uint8_t *p)
{
	uint64_t gen = atomic_fetch_add(&g_gen, 1) + 1;

	stamp(p, gen);
	return gen;
}

/* A few gets of ranges starting at the slot: each must see generation gen. */
static void use(uint8_t *p, uint64_t gen, unsigned *seed)
{
	int n = 1 + (int)(rand_r(seed) % 4);

	for (int k = 0; k < n; k++) {
		size_t len = (1 + rand_r(seed) % SLOT_PAGES) * PG - rand_r(seed) % PG;
		struct san_rcache_region *r = get_ok(g_rc, p, len);
		struct mock_mr *mr = MR(r);

		if (mr->word != gen || mr->base != (uintptr_t)p) {
			fprintf(stderr, "STALE: slot %p gen %llu, registration %llu saw gen %llu\n",
				(void *)p, (unsigned long long)gen, (unsigned long long)mr->id,
				(unsigned long long)mr->word);
			exit(1);
		}
		atomic_fetch_add(&g_gets, 1);
		san__rcache_put(g_rc, r);
	}
}

/* Maps p anew right after it was unmapped. Other code (a sanitizer's
 * allocator) may have taken the hole meanwhile (unlikely, the slots being
 * placed apart): then the slot is lost, and the end result says so. */
static int refill(uint8_t *p, int prot)
{
	void *q = mmap(p, SLOT_LEN, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (q == p)
		return 0;
	CHECK(q == MAP_FAILED && errno == EEXIST);
	atomic_fetch_add(&g_lost, 1);
	return -1;
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;

	while (san__now_ns() < g_deadline_ns && atomic_load(&g_lost) < SLOTS) {
		int i = (int)(rand_r(&seed) % SLOTS), expect = 0;
		uint8_t *p = slot_addr(i);
		uint64_t gen;
		int lost = 0;

		if (!atomic_compare_exchange_strong(&g_slot_busy[i], &expect, 1))
			continue;
		/* Over the free slot's PROT_NONE placeholder (never watched). */
		CHECK(mmap(p, SLOT_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			   -1, 0) == p);
		gen = fresh(p);
		use(p, gen, &seed);
		for (int round = (int)(rand_r(&seed) % 3); round > 0 && !lost; round--) {
			switch (rand_r(&seed) % 3) {
			case 0: /* unmap and map again */
				CHECK(munmap(p, SLOT_LEN) == 0);
				lost = refill(p, PROT_READ | PROT_WRITE);
				break;
			case 1: /* replace in place */
				CHECK(mmap(p, SLOT_LEN, PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p);
				break;
			default: /* drop the pages */
				CHECK(madvise(p, SLOT_LEN, MADV_DONTNEED) == 0);
				break;
			}
			atomic_fetch_add(&g_changes, 1);
			if (!lost) {
				gen = fresh(p);
				use(p, gen, &seed);
			}
		}
		if (lost)
			continue; /* stays busy for ever */
		/* Hand over: unmap, keep the hole with a placeholder; whoever
		 * takes the slot next maps it anew. */
		CHECK(munmap(p, SLOT_LEN) == 0);
		atomic_fetch_add(&g_changes, 1);
		if (refill(p, PROT_NONE))
			continue;
		atomic_fetch_add(&g_handoffs, 1);
		atomic_store(&g_slot_busy[i], 0);
	}
	return NULL;
}

int main(void)
{
	const char *env = getenv("SAN_TEST_STRESS_SECONDS");
	double secs = env && *env ? atof(env) : 3.0;
	pthread_t t[THREADS];
	struct san_stats st0, st;

	san_test_start((unsigned)secs + 60);
	g_rc = mock_cache_uffd(&g_m);
	st0 = mock_stats(g_rc);
	/* A free slot holds a PROT_NONE placeholder, so that other mappings
	 * (thread stacks, allocators) do not land in it; and the slots are
	 * placed apart (harness.h), so that they do not land in the moment's
	 * hole of munmap + mmap either. */
	g_area = san_test_map_apart(2 * SLOTS * SLOT_LEN);
	CHECK(mprotect(g_area, 2 * SLOTS * SLOT_LEN, PROT_NONE) == 0);
	g_deadline_ns = san__now_ns() + (uint64_t)(secs * 1e9);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) == 0);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);

	st = mock_stats(g_rc);
	printf("gets %llu (hits %llu, misses %llu), mapping changes %llu, hand-offs %llu, "
	       "invalidations %llu, slots lost %llu\n",
	       (unsigned long long)g_gets, (unsigned long long)st.reg_hits,
	       (unsigned long long)st.reg_misses, (unsigned long long)g_changes,
	       (unsigned long long)g_handoffs, (unsigned long long)st.invalidations,
	       (unsigned long long)g_lost);
	CHECK(st.reg_hits > 0 && st.reg_misses > 0 && st.invalidations > 0);
	CHECK(st.reg_hits + st.reg_misses == st0.reg_hits + st0.reg_misses + g_gets);
	CHECK(st.cached_regions == 0); /* every slot is unmapped now */
	mock_fini(&g_m);
	if (!atomic_load(&g_lost)) /* else parts of it are someone else's now */
		CHECK(munmap(g_area, 2 * SLOTS * SLOT_LEN) == 0);
	san_test_check_leaks();
	return 0;
}
