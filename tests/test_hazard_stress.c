/* SPDX-License-Identifier: MIT */
/*
 * Stress: the cache never hands out a registration of memory that is no
 * longer mapped, while mappings at the same addresses change all the time
 * and hits stay frequent (R2.3, R2.4).
 *
 * A has 8 slots of 64 KiB, each with a lock and a generation number. Two
 * threads change them:
 *   - the mmap thread owns slots 0-3, at fixed addresses: munmap + mmap
 *     (MAP_FIXED_NOREPLACE), mmap(MAP_FIXED) over it, madvise(DONTNEED),
 *     munmap + mmap of the second half, or mremap(MREMAP_FIXED) of a fresh
 *     mapping onto the slot;
 *   - the malloc thread owns slots 4-7: free + malloc of a large block
 *     (mmapped by glibc; usually the same address again). The sanitizers'
 *     allocators neither take mallopt nor give 64 KiB blocks back to the
 *     kernel (ASan's quarantine keeps them, both carve them from regions of
 *     their own), so under ASan or TSan the thread does by hand what glibc
 *     does: munmap of the block, mmap of a new one (the old address as the
 *     hint: where the kernel would put glibc's), the data 16 bytes in.
 * After each change the slot gets a new generation and a pattern that
 * depends on slot and generation; half the time the changing thread also
 * registers and deregisters a piece of it (the socket parks it: the next
 * registration of that piece is a hit).
 * A third thread transfers: it takes a slot's lock, stamps a header (slot,
 * generation, sequence number, offset) at the start of one of eight pieces
 * of the slot (whole, halves, middle; page aligned or not), registers the
 * piece, RDMA-writes it into B's memory, sends it, waits for both, deregisters
 * and unlocks; then waits for B's acknowledgement. B checks every message:
 * the next sequence number, a generation not older than the last one of the
 * slot, the slot's pattern for that generation, and the same bytes in its
 * RDMA-written memory. Synchronising on the slot lock orders every
 * registration after the change of mapping before it, so docs/rcache.md
 * §6's unsynchronised window is not involved: any stale registration is a
 * cache bug. Must end with 0 mismatches.
 *
 * Runs SAN_TEST_STRESS_SECONDS (default 10) seconds; prints what it did and
 * the cache's counters. With caching on it also requires hits and
 * invalidations. SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

#include <pthread.h>
#include <stdatomic.h>

enum { MSLOTS = 4, BSLOTS = 4, NSLOTS = MSLOTS + BSLOTS, NPIECES = 8 };
#define SLOT_LEN (64 * 1024)
#define MSG_MAGIC 0x5354524553534d47ull
#define END_MAGIC 0x454e444f4653544dull

struct msg_hdr {
	uint64_t magic;
	uint32_t slot, len;
	uint64_t gen, seq, off;
};

struct slot {
	pthread_mutex_t lock;
	uint8_t *p;   /* lock */
	uint64_t gen; /* lock */
};

static struct slot g_slots[NSLOTS];
static san_socket *g_s;
static int g_ctl;
static struct san_rdma_desc g_dst;
static _Atomic int g_stop;
static uint64_t g_deadline_ms;
static _Atomic uint64_t g_changes[6], g_same_addr, g_warm;
static unsigned g_reported;

static uint32_t seed_of(unsigned slot, uint64_t gen)
{
	return (uint32_t)(slot * 7919u + gen * 104729u + 1);
}

static uint8_t pat(uint32_t seed, size_t i)
{
	return (uint8_t)((i * 2654435761u + seed * 40503u) >> 13);
}

/* The pieces: whole, halves, middle; each page aligned or 100 bytes in. */
static void piece(int k, size_t *off, size_t *len)
{
	static const size_t o[4] = { 0, 0, SLOT_LEN / 2, SLOT_LEN / 4 };
	static const size_t l[4] = { SLOT_LEN, SLOT_LEN / 2, SLOT_LEN / 2, SLOT_LEN / 2 };

	*off = o[k % 4] + (k >= 4 ? 100 : 0);
	*len = l[k % 4] - (k >= 4 ? 200 : 0);
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

/* The changing threads' optional registration of a piece. */
static void warm(unsigned i, unsigned *rs)
{
	size_t off, len;
	san_handle h;

	if (rand_r(rs) & 1)
		return;
	piece((int)(rand_r(rs) % NPIECES), &off, &len);
	h = xt_reg(g_s, g_slots[i].p + off, len, SAN_MEM_READ);
	CHECK_OK(san_deregister_memory(g_s, h));
	atomic_fetch_add(&g_warm, 1);
}

static void *mmap_thread(void *arg)
{
	unsigned rs = 0x1234;

	(void)arg;
	while (!atomic_load(&g_stop)) {
		unsigned i = rand_r(&rs) % MSLOTS, way = rand_r(&rs) % 5;
		struct slot *sl = &g_slots[i];
		uint8_t *p = sl->p, *q;

		pthread_mutex_lock(&sl->lock);
		switch (way) {
		case 0:
			xt_unmap(p, SLOT_LEN);
			hz_map_at(p, SLOT_LEN);
			break;
		case 1:
			CHECK(mmap(p, SLOT_LEN, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == (void *)p);
			break;
		case 2:
			CHECK(madvise(p, SLOT_LEN, MADV_DONTNEED) == 0);
			break;
		case 3:
			xt_unmap(p + SLOT_LEN / 2, SLOT_LEN / 2);
			hz_map_at(p + SLOT_LEN / 2, SLOT_LEN / 2);
			break;
		case 4: /* the new pages arrive filled */
			q = xt_map(SLOT_LEN);
			san_test_fill(q, SLOT_LEN, seed_of(i, sl->gen + 1));
			CHECK(mremap(q, SLOT_LEN, SLOT_LEN, MREMAP_MAYMOVE | MREMAP_FIXED, p) ==
			      (void *)p);
			break;
		}
		sl->gen++;
		if (way != 4)
			san_test_fill(p, SLOT_LEN, seed_of(i, sl->gen));
		warm(i, &rs);
		pthread_mutex_unlock(&sl->lock);
		atomic_fetch_add(&g_changes[way], 1);
		sleep_us(rand_r(&rs) % 1500);
	}
	return NULL;
}

/* A block of the malloc slots under a sanitizer (see the top): as glibc's
 * mmapped chunks, a mapping of its own with the data 16 bytes in. */
#define BLOCK_HDR 16
#define BLOCK_MAP(len) (((len) + BLOCK_HDR + 4095) & ~(size_t)4095)

static uint8_t *block_new(void *hint)
{
	uint8_t *b = mmap(hint, BLOCK_MAP(SLOT_LEN), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(b != MAP_FAILED);
	return b + BLOCK_HDR;
}

static void block_free(uint8_t *p)
{
	xt_unmap(p - BLOCK_HDR, BLOCK_MAP(SLOT_LEN));
}

static void *malloc_thread(void *arg)
{
	unsigned rs = 0x5678;

	(void)arg;
	while (!atomic_load(&g_stop)) {
		unsigned i = MSLOTS + rand_r(&rs) % BSLOTS;
		struct slot *sl = &g_slots[i];
		uint8_t *old;

		pthread_mutex_lock(&sl->lock);
		old = sl->p;
		if (HZ_SANITIZER) {
			block_free(old);
			sl->p = block_new(old - BLOCK_HDR);
		} else {
			free(old);
			sl->p = malloc(SLOT_LEN);
			CHECK(sl->p);
		}
		if (sl->p == old)
			atomic_fetch_add(&g_same_addr, 1);
		sl->gen++;
		san_test_fill(sl->p, SLOT_LEN, seed_of(i, sl->gen));
		warm(i, &rs);
		pthread_mutex_unlock(&sl->lock);
		atomic_fetch_add(&g_changes[5], 1);
		sleep_us(rand_r(&rs) % 1500);
	}
	return NULL;
}

static void *transfer_thread(void *arg)
{
	unsigned rs = 0x9abc;
	uint64_t seq = 0, *n_out = arg;
	san_handle h;

	while ((uint64_t)xt_now_ms() < g_deadline_ms) {
		unsigned i = rand_r(&rs) % NSLOTS;
		int k = (int)(rand_r(&rs) % NPIECES);
		struct slot *sl = &g_slots[i];
		struct msg_hdr m;
		struct san_buf b;
		size_t off, len;
		uint8_t ack;

		piece(k, &off, &len);
		pthread_mutex_lock(&sl->lock);
		m = (struct msg_hdr){ MSG_MAGIC, i, (uint32_t)len, sl->gen, seq, off };
		memcpy(sl->p + off, &m, sizeof(m));
		h = xt_reg(g_s, sl->p + off, len, SAN_MEM_READ);
		b = xt_buf(sl->p + off, len, h);
		CHECK_OK(san_rdma_write(g_s, &b, 1, &g_dst, (uint64_t)i * SLOT_LEN + off, XT_CTX(1)));
		xt_expect(g_s, XT_CTX(1), SAN_OP_RDMA_WRITE, 0, len);
		if (rand_r(&rs) % 4 == 0)
			b.handle = 0; /* found by address */
		CHECK_OK(san_send(g_s, &b, 1, XT_CTX(2)));
		xt_expect(g_s, XT_CTX(2), SAN_OP_SEND, 0, len);
		CHECK_OK(san_deregister_memory(g_s, h));
		for (size_t j = off; j < off + sizeof(m); j++) /* the pattern again */
			sl->p[j] = pat(seed_of(i, sl->gen), j);
		pthread_mutex_unlock(&sl->lock);
		CHECK(san_test_ctl_recv(g_ctl, &ack, 1) == 1);
		if (ack != 1 && g_reported++ < 8)
			fprintf(stderr, "[%d] message %llu as sent: slot %u (%s) generation %llu, "
					"bytes %zu..%zu at %p\n", (int)getpid(),
				(unsigned long long)seq, i, i < MSLOTS ? "mmap" : "malloc",
				(unsigned long long)m.gen, off, off + len, (void *)(sl->p + off));
		seq++;
	}
	*n_out = seq;
	return NULL;
}

/* Tells B the run is over (after every other thread of A stopped: B
 * closes its end on reading it). */
static void send_end(uint64_t seq)
{
	static uint8_t end_buf[64];
	struct msg_hdr *hd = (struct msg_hdr *)end_buf;
	san_handle h;

	hd->magic = END_MAGIC;
	hd->seq = seq;
	h = xt_reg(g_s, end_buf, sizeof(end_buf), SAN_MEM_READ);
	xt_send(g_s, end_buf, sizeof(end_buf), h, XT_CTX(3));
	xt_expect(g_s, XT_CTX(3), SAN_OP_SEND, 0, sizeof(end_buf));
	CHECK_OK(san_deregister_memory(g_s, h));
}

/* ---- B: checks every message ---- */

static uint64_t g_mismatch;

/* Bytes that lack the header: whose are they? Old pages hold the pattern
 * of the generation they had when they were unmapped. */
static void whence(const uint8_t *got, size_t len, const uint64_t *last_gen)
{
	static const size_t offs[] = { 0, 100, SLOT_LEN / 4, SLOT_LEN / 4 + 100, SLOT_LEN / 2,
				       SLOT_LEN / 2 + 100 };
	size_t n = len < 256 ? len : 256;

	for (unsigned sl = 0; sl < NSLOTS; sl++)
		for (uint64_t g = last_gen[sl] + 64; g >= 1; g--)
			for (unsigned k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
				uint32_t seed = seed_of(sl, g);
				size_t i = 0;

				while (i < n && got[i] == pat(seed, offs[k] + i))
					i++;
				if (i == n) {
					fprintf(stderr, "[%d]   the bytes are slot %u generation %llu's "
							"(bytes %zu..), the slot was at generation "
							"%llu or later: pages no longer mapped\n",
						(int)getpid(), sl, (unsigned long long)g, offs[k],
						(unsigned long long)last_gen[sl]);
					return;
				}
			}
	fprintf(stderr, "[%d]   the bytes match no generation's pattern\n", (int)getpid());
}

static void mismatch(const char *fmt, ...)
{
	va_list ap;

	if (g_mismatch++ >= 8)
		return;
	fprintf(stderr, "[%d] MISMATCH: ", (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static int peer(void *arg, int ctl)
{
	uint64_t expect = 0, last_gen[NSLOTS] = { 0 }, checked = 0, before;
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *tg = xt_map((size_t)NSLOTS * SLOT_LEN), *rb[2];
	struct san_rdma_desc d = xt_rreg(s, tg, (size_t)NSLOTS * SLOT_LEN, SAN_MEM_WRITE);
	san_handle hr[2];
	uint8_t ack;

	(void)arg;
	for (int k = 0; k < 2; k++) {
		rb[k] = xt_map(SLOT_LEN);
		hr[k] = xt_reg(s, rb[k], SLOT_LEN, SAN_MEM_WRITE);
		xt_recv(s, rb[k], SLOT_LEN, hr[k], XT_CTX(k));
	}
	xt_send_desc(ctl, &d);
	for (int k = 0;; k ^= 1) {
		struct san_completion c = xt_wait_ctx(s, XT_CTX(k), 60000);
		struct msg_hdr m;
		const uint8_t *got = rb[k];

		CHECK(c.op == SAN_OP_RECV && c.status == 0 && c.bytes >= sizeof(m));
		memcpy(&m, got, sizeof(m));
		ack = 1;
		before = g_mismatch;
		if (m.magic == END_MAGIC) {
			if (m.seq != expect)
				mismatch("end after %llu messages, %llu checked",
					 (unsigned long long)m.seq, (unsigned long long)expect);
			break;
		}
		if (m.magic != MSG_MAGIC || m.slot >= NSLOTS || m.len != c.bytes ||
		    m.off + m.len > SLOT_LEN) {
			mismatch("message %llu (%zu bytes): not the header stamped for it "
				 "(magic %#llx)", (unsigned long long)expect, c.bytes,
				 (unsigned long long)m.magic);
			if (g_mismatch <= 8)
				whence(got, c.bytes, last_gen);
		} else if (m.seq != expect) {
			mismatch("message %llu: sequence number %llu, slot %u gen %llu (an older "
				 "transfer's bytes: a stale registration)",
				 (unsigned long long)expect, (unsigned long long)m.seq, m.slot,
				 (unsigned long long)m.gen);
		} else if (m.gen < last_gen[m.slot]) {
			mismatch("message %llu: slot %u generation %llu after %llu",
				 (unsigned long long)expect, m.slot, (unsigned long long)m.gen,
				 (unsigned long long)last_gen[m.slot]);
		} else {
			uint32_t seed = seed_of(m.slot, m.gen);
			size_t bad = 0, first = 0;

			for (size_t i = sizeof(m); i < m.len; i++)
				if (got[i] != pat(seed, m.off + i) && !bad++)
					first = i;
			if (bad)
				mismatch("message %llu: slot %u gen %llu off %llu len %u: %zu bytes "
					 "differ from the generation's pattern, first at %zu",
					 (unsigned long long)expect, m.slot, (unsigned long long)m.gen,
					 (unsigned long long)m.off, m.len, bad, first);
			else if (memcmp(tg + (size_t)m.slot * SLOT_LEN + m.off, got, m.len))
				mismatch("message %llu: slot %u gen %llu: the RDMA-written copy "
					 "differs from the message", (unsigned long long)expect,
					 m.slot, (unsigned long long)m.gen);
			last_gen[m.slot] = m.gen;
			checked++;
		}
		if (g_mismatch != before)
			ack = 2;
		expect++;
		xt_recv(s, rb[k], SLOT_LEN, hr[k], XT_CTX(k));
		san_test_ctl_send(ctl, &ack, 1);
	}
	printf("peer: %llu messages checked, %llu mismatches\n", (unsigned long long)checked,
	       (unsigned long long)g_mismatch);
	xt_teardown(p, s); /* cancels the receive still posted */
	xt_unmap(tg, (size_t)NSLOTS * SLOT_LEN);
	xt_unmap(rb[0], SLOT_LEN);
	xt_unmap(rb[1], SLOT_LEN);
	return g_mismatch ? 1 : 0;
}

int main(void)
{
	const char *env = getenv("SAN_TEST_STRESS_SECONDS");
	unsigned secs = env && atoi(env) > 0 ? (unsigned)atoi(env) : 10;
	size_t area_len = (size_t)NSLOTS * 2 * SLOT_LEN;
	pthread_t tm, tb, tt;
	uint64_t transfers = 0, changes = 0, t0;
	struct san_stats st0, st;
	san_provider *p;
	uint8_t *area;
	pid_t pid;
	double el;

	san_test_start(secs + 60);
	/* Large blocks always come from mmap and go back with munmap. */
	if (!HZ_SANITIZER)
		CHECK(mallopt(M_MMAP_THRESHOLD, 32 * 1024) == 1);
	pid = xt_fork(peer, NULL, &g_ctl);
	g_s = xt_server(&p, g_ctl);
	hz_p_ = p;
	g_dst = xt_recv_desc(g_ctl);
	/* The slots, with PROT_NONE gaps between them (no merging), in memory
	 * placed apart (harness.h): a hole left in a slot for a moment (munmap,
	 * then mmap) is not taken by another thread's mapping. The malloc
	 * slots' part of it is free (under a sanitizer, for the first block). */
	area = san_test_map_apart(area_len);
	CHECK(mprotect(area, area_len, PROT_NONE) == 0);
	xt_unmap(area + (size_t)MSLOTS * 2 * SLOT_LEN, (size_t)BSLOTS * 2 * SLOT_LEN);
	for (unsigned i = 0; i < NSLOTS; i++) {
		struct slot *sl = &g_slots[i];

		CHECK(pthread_mutex_init(&sl->lock, NULL) == 0);
		if (i < MSLOTS) {
			sl->p = area + (size_t)i * 2 * SLOT_LEN;
			CHECK(mmap(sl->p, SLOT_LEN, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == (void *)sl->p);
		} else if (HZ_SANITIZER) {
			sl->p = block_new(area + (size_t)i * 2 * SLOT_LEN);
		} else {
			sl->p = malloc(SLOT_LEN);
			CHECK(sl->p);
		}
		sl->gen = 1;
		san_test_fill(sl->p, SLOT_LEN, seed_of(i, 1));
	}
	st0 = hz_stats(p);
	t0 = (uint64_t)xt_now_ms();
	g_deadline_ms = t0 + (uint64_t)secs * 1000;
	CHECK(pthread_create(&tt, NULL, transfer_thread, &transfers) == 0);
	CHECK(pthread_create(&tm, NULL, mmap_thread, NULL) == 0);
	CHECK(pthread_create(&tb, NULL, malloc_thread, NULL) == 0);
	CHECK(pthread_join(tt, NULL) == 0);
	atomic_store(&g_stop, 1);
	CHECK(pthread_join(tm, NULL) == 0);
	CHECK(pthread_join(tb, NULL) == 0);
	send_end(transfers);
	el = (double)((uint64_t)xt_now_ms() - t0) / 1000.0;
	st = hz_stats(p);
	for (int w = 0; w < 6; w++)
		changes += g_changes[w];

	printf("stress: %.1f s, %llu transfers (%.0f/s, each an RDMA write and a send), "
	       "%llu mapping changes\n",
	       el, (unsigned long long)transfers, (double)transfers / el,
	       (unsigned long long)changes);
	printf("  munmap+mmap %llu, mmap(MAP_FIXED) %llu, MADV_DONTNEED %llu, half munmap %llu, "
	       "mremap onto %llu, free+malloc %llu (same address %llu); warm registrations %llu\n",
	       (unsigned long long)g_changes[0], (unsigned long long)g_changes[1],
	       (unsigned long long)g_changes[2], (unsigned long long)g_changes[3],
	       (unsigned long long)g_changes[4], (unsigned long long)g_changes[5],
	       (unsigned long long)g_same_addr, (unsigned long long)g_warm);
	printf("  cache (%s): hits %llu, misses %llu (hit ratio %.1f%%), invalidations %llu, "
	       "pins %llu, unpins %llu, evictions %llu\n",
	       hz_caching() ? "on" : "off", (unsigned long long)(st.reg_hits - st0.reg_hits),
	       (unsigned long long)(st.reg_misses - st0.reg_misses),
	       100.0 * (double)(st.reg_hits - st0.reg_hits) /
		       (double)(st.reg_hits - st0.reg_hits + st.reg_misses - st0.reg_misses + 1e-9),
	       (unsigned long long)(st.invalidations - st0.invalidations),
	       (unsigned long long)(st.pins - st0.pins), (unsigned long long)(st.unpins - st0.unpins),
	       (unsigned long long)(st.evictions - st0.evictions));
	CHECK(transfers > 0 && changes > 0);
	if (hz_caching()) {
		HZ_GE("reg_hits", st.reg_hits - st0.reg_hits, 1);
		HZ_GE("invalidations", st.invalidations - st0.invalidations, 1);
	}

	san_test_wait(pid, -1); /* the peer's verdict: 0 mismatches */
	xt_expect_idle(g_s);
	xt_teardown(p, g_s);
	close(g_ctl);
	for (unsigned i = 0; i < NSLOTS; i++) {
		if (i >= MSLOTS && HZ_SANITIZER)
			block_free(g_slots[i].p);
		else if (i >= MSLOTS)
			free(g_slots[i].p);
		pthread_mutex_destroy(&g_slots[i].lock);
	}
	xt_unmap(area, (size_t)MSLOTS * 2 * SLOT_LEN);
	san_test_check_leaks();
	return 0;
}
