/* SPDX-License-Identifier: MIT */
/*
 * soak: load and soak test of libsan (not a CI test: bounded by --seconds).
 *
 * Two processes (a fork) open --conns connections (default 64) between
 * them. On connection i the parent ("A") initiates when i is even, the
 * child ("B") when i is odd; the other side is that connection's target.
 * Each process drives its connections from --threads worker threads.
 *
 * The initiator keeps up to 4 operations in flight per connection, each on
 * one of 4 local buffers of --max-size bytes, chosen at random:
 *   SEND        1 B .. max of a known pattern. Messages of 32 bytes or more
 *               carry a header (magic, type, seq, length, checksum); the
 *               target checks seq, length, checksum and the bytes; shorter
 *               ones are checked against the pattern of the next seq.
 *   RDMA WRITE  1 B .. max into one of the target's write slots; once it
 *               completes, a WCHECK message tells the target where and
 *               what, the target checks those bytes and ACKs the slot (a
 *               slot is not written again before its ACK).
 *   RDMA READ   1 B .. max at a random offset of the target's read region,
 *               which holds a known pattern; the initiator checks the
 *               bytes.
 * Every operation registers its local buffer just before posting (the
 * whole buffer, or just the bytes it moves; with its handle or handle 0)
 * and deregisters it at completion: the registration cache serves most of
 * those. One time in eight the freed buffer is then replaced underneath at
 * the same address (munmap + mmap, mmap MAP_FIXED over it, or
 * madvise(MADV_DONTNEED)), so the cache and its userfaultfd monitor must
 * notice: a stale registration would send old bytes or read into pages no
 * longer mapped, and the content checks would catch it. Every 400
 * operations the initiator also asks the target to rotate its RDMA regions
 * (ROTATE): the target deregisters both, replaces them at the same address
 * the same ways, refills the read region with a new generation's pattern,
 * registers them again and answers with the new descriptors (NEWDESC).
 *
 * Every --interval seconds (default 10) the parent prints operations,
 * bytes, errors and checksum/content mismatches, and VmRSS, VmHWM (peak
 * RSS) and VmPin of both processes; then a summary. Exit status 1 on any
 * mismatch or unexpected error (or a hang while draining), else 0.
 *
 * Usage: soak [--seconds N] [--conns N] [--threads N] [--interval N]
 *             [--max-size BYTES] [--seed N] [--transport tcp|unix]
 *             [--inject N]
 * --inject N is a self-test of the checks: one operation in N is damaged on
 * purpose (a byte of a message or write flipped after its checksum was
 * taken; a read checked against the wrong generation), and the run must
 * then report mismatches and fail.
 */
#include <san.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NLOCAL 4     /* local buffers (= operations in flight) per initiator connection */
#define NSLOT 2      /* write slots of a target */
#define NRECV_T 4    /* receives a target keeps posted (each max_size) */
#define NRECV_I 8    /* receives an initiator keeps posted (control messages) */
#define NCTL 8       /* control-message send slots per connection */
#define CTL_SZ 256
#define ROT_EVERY 400
#define REMAP_ONE_IN 8
#define HDR_SZ 32
#define MAGIC 0x4b414f53u /* "SOAK" */
#define MAX_CONNS 1024
#define MAX_THREADS 64
#define DRAIN_S 60

enum { M_DATA = 1, M_WCHECK, M_ACK, M_ROTATE, M_NEWDESC, M_FIN };
enum { K_LOCAL = 1, K_CTL, K_RECV };

/* ---- options ---- */

static struct {
	unsigned seconds, conns, threads, interval;
	size_t max_size;
	uint64_t seed;
	const char *transport;
	unsigned inject; /* self-test: damage 1 in N operations on purpose */
} opt = { 60, 64, 2, 10, 1 << 20, 1, "tcp", 0 };

static size_t page_sz;

/* ---- counters shared by both processes ---- */

struct counters {
	_Atomic uint64_t ops, bytes, sends, writes, reads, msgs_checked, writes_checked;
	_Atomic uint64_t errors, mismatches, remaps, rotations, regs;
	_Atomic int done_workers, closed;
	_Atomic long vmpin_after_kb, rss_after_kb;
};

struct shared {
	struct counters c[2]; /* [0] parent A, [1] child B */
	_Atomic int stop;     /* initiators: no new operations, drain, FIN */
	_Atomic int abort_all;
};

static struct shared *sh;
static int me; /* 0 = A (parent), 1 = B (child) */
static struct counters *cnt;

static void err_report(const char *fmt, ...)
{
	static _Atomic int shown;
	va_list ap;

	atomic_fetch_add(&cnt->errors, 1);
	if (atomic_fetch_add(&shown, 1) >= 20)
		return;
	fprintf(stderr, "[%c] error: ", me ? 'B' : 'A');
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static void mismatch_report(const char *fmt, ...)
{
	static _Atomic int shown;
	va_list ap;

	atomic_fetch_add(&cnt->mismatches, 1);
	if (atomic_fetch_add(&shown, 1) >= 20)
		return;
	fprintf(stderr, "[%c] MISMATCH: ", me ? 'B' : 'A');
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* ---- patterns: a stream of bytes per seed, addressable at any offset ---- */

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint64_t pat_word(uint64_t seed, uint64_t w)
{
	return mix64(seed * 0x100000001b3ull + w);
}

/* buf = bytes [off, off+len) of stream seed. */
static void pat_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t off)
{
	size_t i = 0;

	while (i < len && (off + i) % 8) {
		uint64_t w = pat_word(seed, (off + i) / 8);

		buf[i] = (uint8_t)(w >> (8 * ((off + i) % 8)));
		i++;
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w = pat_word(seed, (off + i) / 8);

		memcpy(buf + i, &w, 8);
	}
	for (; i < len; i++) {
		uint64_t w = pat_word(seed, (off + i) / 8);

		buf[i] = (uint8_t)(w >> (8 * ((off + i) % 8)));
	}
}

/* Index of the first byte that differs, or len. */
static size_t pat_check(const uint8_t *buf, size_t len, uint64_t seed, uint64_t off)
{
	size_t i = 0;

	while (i < len && (off + i) % 8) {
		if (buf[i] != (uint8_t)(pat_word(seed, (off + i) / 8) >> (8 * ((off + i) % 8))))
			return i;
		i++;
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w = pat_word(seed, (off + i) / 8), v;

		memcpy(&v, buf + i, 8);
		if (v != w)
			break;
	}
	for (; i < len; i++)
		if (buf[i] != (uint8_t)(pat_word(seed, (off + i) / 8) >> (8 * ((off + i) % 8))))
			return i;
	return len;
}

static uint64_t csum(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t v;

		memcpy(&v, p + i, 8);
		h = (h ^ v) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* ---- wire messages of the soak protocol (inside SAN sends) ---- */

struct hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t rsvd;
	uint64_t seq;
	uint32_t len;  /* whole message */
	uint32_t rsvd2;
	uint64_t csum; /* payload after the header */
};
_Static_assert(sizeof(struct hdr) == HDR_SZ, "header");

struct ctlmsg {
	struct hdr h;
	uint32_t slot, rsvd;
	uint64_t off, len, wseq, gen;
	struct san_rdma_desc dw, dr;
};
_Static_assert(sizeof(struct ctlmsg) <= CTL_SZ, "control message");

static uint64_t seed_data(unsigned conn, uint64_t seq)
{
	return ((uint64_t)conn << 40) ^ seq ^ (opt.seed << 56) ^ 0xd000000000ull;
}

static uint64_t seed_write(unsigned conn, uint64_t wseq)
{
	return ((uint64_t)conn << 40) ^ wseq ^ (opt.seed << 56) ^ 0xa000000000ull;
}

static uint64_t seed_read(unsigned conn, uint64_t gen)
{
	return ((uint64_t)conn << 40) ^ gen ^ (opt.seed << 56) ^ 0xb000000000ull;
}

/* ---- per-connection state ---- */

struct conn;

struct tagged {
	int kind; /* K_* */
	struct conn *c;
};

struct lbuf {
	struct tagged t;
	uint8_t *addr;
	size_t cap;
	int busy, op;
	san_handle h;
	size_t len;
	uint64_t seed, off, wseq;
	int slot;
};

struct ctlslot {
	struct tagged t;
	uint8_t *addr;
	int busy;
};

struct rslot {
	struct tagged t;
	uint8_t *addr;
	size_t cap;
};

struct conn {
	unsigned id;
	int initiator;
	san_socket *s;
	uint64_t rng;
	int done;

	struct ctlslot ctl[NCTL];
	uint8_t *ctl_mem;
	san_handle ctl_h;

	struct rslot *rs;
	int nrs;
	uint8_t *rmem;
	size_t rmem_len;
	san_handle rh;
	int rq_head; /* receives complete in posted order: next expected */

	/* initiator */
	struct lbuf lb[NLOCAL];
	uint64_t sseq, wseq, nops;
	int inflight;
	int slot_wait[NSLOT]; /* written, WCHECK sent, no ACK yet */
	int have_desc, rotating, rot_sent, fin_sent, fin_done;
	struct san_rdma_desc dw, dr;
	uint64_t gen;

	/* target */
	uint8_t *wmem, *rdmem;
	struct san_rdma_desc my_dw, my_dr;
	uint64_t rseq, my_gen;
	int ctl_out;
	int fin_seen;
};

static uint64_t rnd(struct conn *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

static size_t rnd_len(struct conn *c, size_t max)
{
	/* Half the sizes small (1 B .. 4 KiB), half anywhere up to max. */
	if (rnd(c) & 1)
		return 1 + rnd(c) % (max < 4096 ? max : 4096);
	return 1 + rnd(c) % max;
}

static void *map_rw(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

/* Replaces the memory under [p, p+len) the way m says (0..2). Returns the
 * (possibly new) address. */
static uint8_t *remap(uint8_t *p, size_t len, int m)
{
	void *q;

	atomic_fetch_add(&cnt->remaps, 1);
	switch (m) {
	case 0: /* freed, and mapped again at the same place if it is still free */
		if (munmap(p, len)) {
			err_report("munmap: %s", strerror(errno));
			return p;
		}
		q = mmap(p, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (q == MAP_FAILED)
			q = map_rw(len); /* another thread took the range */
		return q;
	case 1: /* a new mapping over the old one */
		q = mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0);
		if (q == MAP_FAILED) {
			err_report("mmap MAP_FIXED: %s", strerror(errno));
			return p;
		}
		return q;
	default: /* pages dropped: zero-fill on the next touch */
		if (madvise(p, len, MADV_DONTNEED))
			err_report("madvise: %s", strerror(errno));
		return p;
	}
}

static size_t round_up(size_t n)
{
	return (n + page_sz - 1) / page_sz * page_sz;
}

/* ---- posting helpers ---- */

static int post_recv(struct conn *c, struct rslot *r)
{
	struct san_buf b = { r->addr, r->cap, (rnd(c) & 1) ? c->rh : 0 };
	int rc = san_recv(c->s, &b, 1, &r->t);

	if (rc)
		err_report("conn %u: san_recv: %s", c->id, san_strerror(rc));
	return rc;
}

static struct ctlslot *ctl_get(struct conn *c)
{
	for (int i = 0; i < NCTL; i++)
		if (!c->ctl[i].busy)
			return &c->ctl[i];
	return NULL;
}

/* Sends a control message (fills its header). */
static int send_ctl(struct conn *c, struct ctlmsg *m, int type)
{
	struct ctlslot *k = ctl_get(c);
	struct san_buf b;
	int rc;

	if (!k) {
		err_report("conn %u: no free control slot", c->id);
		return -EAGAIN;
	}
	m->h.magic = MAGIC;
	m->h.type = (uint16_t)type;
	m->h.seq = c->initiator ? c->sseq++ : 0;
	m->h.len = sizeof(*m);
	m->h.csum = csum((const uint8_t *)m + HDR_SZ, sizeof(*m) - HDR_SZ);
	memcpy(k->addr, m, sizeof(*m));
	b.buf = k->addr;
	b.len = sizeof(*m);
	b.handle = c->ctl_h;
	rc = san_send(c->s, &b, 1, &k->t);
	if (rc) {
		err_report("conn %u: control send: %s", c->id, san_strerror(rc));
		return rc;
	}
	k->busy = 1;
	c->ctl_out++;
	return 0;
}

/* ---- the target's RDMA regions ---- */

static void target_register(struct conn *c)
{
	size_t rlen = round_up(opt.max_size);
	int rc;

	pat_fill(c->rdmem, rlen, seed_read(c->id, c->my_gen), 0);
	rc = san_register_rdma_memory(c->s, c->wmem, NSLOT * rlen, SAN_MEM_WRITE, &c->my_dw);
	if (rc)
		err_report("conn %u: register write region: %s", c->id, san_strerror(rc));
	rc = san_register_rdma_memory(c->s, c->rdmem, rlen, SAN_MEM_READ, &c->my_dr);
	if (rc)
		err_report("conn %u: register read region: %s", c->id, san_strerror(rc));
	atomic_fetch_add(&cnt->regs, 2);
}

static void target_send_desc(struct conn *c)
{
	struct ctlmsg m;

	memset(&m, 0, sizeof(m));
	m.gen = c->my_gen;
	m.dw = c->my_dw;
	m.dr = c->my_dr;
	send_ctl(c, &m, M_NEWDESC);
}

static void target_rotate(struct conn *c)
{
	size_t rlen = round_up(opt.max_size);
	int rc;

	rc = san_deregister_rdma_memory(c->s, &c->my_dw);
	if (rc)
		err_report("conn %u: deregister write region: %s", c->id, san_strerror(rc));
	rc = san_deregister_rdma_memory(c->s, &c->my_dr);
	if (rc)
		err_report("conn %u: deregister read region: %s", c->id, san_strerror(rc));
	c->wmem = remap(c->wmem, NSLOT * rlen, (int)(rnd(c) % 3));
	c->rdmem = remap(c->rdmem, rlen, (int)(rnd(c) % 3));
	c->my_gen++;
	target_register(c);
	target_send_desc(c);
	atomic_fetch_add(&cnt->rotations, 1);
}

/* ---- the target: a message arrived ---- */

static void target_message(struct conn *c, struct rslot *r, size_t bytes)
{
	uint64_t seq = c->rseq++;
	const struct hdr *h = (const struct hdr *)r->addr;
	size_t bad;

	if (bytes < HDR_SZ) {
		bad = pat_check(r->addr, bytes, seed_data(c->id, seq), 0);
		if (bad != bytes)
			mismatch_report("conn %u: short message seq %" PRIu64 " (%zu B) differs at %zu",
					c->id, seq, bytes, bad);
		else
			atomic_fetch_add(&cnt->msgs_checked, 1);
		return;
	}
	if (h->magic != MAGIC || h->seq != seq || h->len != bytes) {
		mismatch_report("conn %u: message header: magic %08x seq %" PRIu64 " (want %" PRIu64
				") len %u (got %zu B)",
				c->id, h->magic, h->seq, seq, h->len, bytes);
		return;
	}
	if (csum(r->addr + HDR_SZ, bytes - HDR_SZ) != h->csum) {
		mismatch_report("conn %u: message seq %" PRIu64 " (%zu B): checksum mismatch", c->id,
				seq, bytes);
		return;
	}
	switch (h->type) {
	case M_DATA:
		bad = pat_check(r->addr + HDR_SZ, bytes - HDR_SZ, seed_data(c->id, seq), HDR_SZ);
		if (bad != bytes - HDR_SZ)
			mismatch_report("conn %u: message seq %" PRIu64 " (%zu B) differs at %zu",
					c->id, seq, bytes, bad + HDR_SZ);
		else
			atomic_fetch_add(&cnt->msgs_checked, 1);
		break;
	case M_WCHECK: {
		const struct ctlmsg *m = (const struct ctlmsg *)r->addr;
		size_t rlen = round_up(opt.max_size);
		struct ctlmsg a;

		if (m->slot >= NSLOT || m->off + m->len > rlen) {
			mismatch_report("conn %u: bad WCHECK slot %u off %" PRIu64, c->id, m->slot,
					m->off);
			break;
		}
		bad = pat_check(c->wmem + m->slot * rlen + m->off, m->len,
				seed_write(c->id, m->wseq), 0);
		if (bad != m->len)
			mismatch_report("conn %u: RDMA write %" PRIu64 " (%" PRIu64
					" B at slot %u + %" PRIu64 ") differs at %zu",
					c->id, m->wseq, m->len, m->slot, m->off, bad);
		else
			atomic_fetch_add(&cnt->writes_checked, 1);
		memset(&a, 0, sizeof(a));
		a.slot = m->slot;
		send_ctl(c, &a, M_ACK);
		break;
	}
	case M_ROTATE:
		target_rotate(c);
		break;
	case M_FIN:
		c->fin_seen = 1;
		break;
	default:
		mismatch_report("conn %u: message type %u", c->id, h->type);
	}
}

/* ---- the initiator ---- */

static void init_message(struct conn *c, struct rslot *r, size_t bytes)
{
	const struct ctlmsg *m = (const struct ctlmsg *)r->addr;

	if (bytes != sizeof(*m) || m->h.magic != MAGIC ||
	    m->h.csum != csum(r->addr + HDR_SZ, sizeof(*m) - HDR_SZ)) {
		mismatch_report("conn %u: control message to the initiator (%zu B) damaged", c->id,
				bytes);
		return;
	}
	switch (m->h.type) {
	case M_ACK:
		if (m->slot < NSLOT && c->slot_wait[m->slot])
			c->slot_wait[m->slot] = 0;
		else
			mismatch_report("conn %u: ACK of slot %u not awaited", c->id, m->slot);
		break;
	case M_NEWDESC:
		c->dw = m->dw;
		c->dr = m->dr;
		c->gen = m->gen;
		c->have_desc = 1;
		c->rotating = 0;
		c->rot_sent = 0;
		break;
	default:
		mismatch_report("conn %u: control type %u to the initiator", c->id, m->h.type);
	}
}

static int slots_busy(struct conn *c)
{
	for (int i = 0; i < NSLOT; i++)
		if (c->slot_wait[i])
			return 1;
	return 0;
}

static int rdma_inflight(struct conn *c)
{
	for (int i = 0; i < NLOCAL; i++)
		if (c->lb[i].busy && c->lb[i].op != SAN_OP_SEND)
			return 1;
	return 0;
}

/* Registers lb for an operation moving len bytes from its start. */
static int lb_register(struct conn *c, struct lbuf *b, size_t len, san_handle *h_out)
{
	size_t rlen = (rnd(c) % 4 == 0) ? len : b->cap;
	int rc = san_register_memory(c->s, b->addr, rlen, SAN_MEM_READWRITE, h_out);

	atomic_fetch_add(&cnt->regs, 1);
	if (rc)
		err_report("conn %u: san_register_memory(%zu B): %s", c->id, rlen, san_strerror(rc));
	return rc;
}

static void init_post_one(struct conn *c, struct lbuf *b)
{
	size_t rlen = round_up(opt.max_size);
	struct san_buf sb;
	int op, rc, free_slot = -1;
	uint64_t r = rnd(c) % 10;

	for (int i = 0; i < NSLOT; i++)
		if (!c->slot_wait[i]) {
			int used = 0;

			for (int k = 0; k < NLOCAL; k++)
				used |= c->lb[k].busy && c->lb[k].op == SAN_OP_RDMA_WRITE &&
					c->lb[k].slot == i;
			if (!used) {
				free_slot = i;
				break;
			}
		}
	if (!c->have_desc || c->rotating || r < 4)
		op = SAN_OP_SEND;
	else if (r < 7 && free_slot >= 0)
		op = SAN_OP_RDMA_WRITE;
	else if (r >= 7)
		op = SAN_OP_RDMA_READ;
	else
		op = SAN_OP_SEND;
	b->op = op;
	b->len = rnd_len(c, opt.max_size);
	switch (op) {
	case SAN_OP_SEND:
		b->off = c->sseq; /* the seq this message takes, if posted */
		b->seed = seed_data(c->id, b->off);
		if (b->len >= HDR_SZ) {
			struct hdr h = { .magic = MAGIC, .type = M_DATA, .seq = b->off,
					 .len = (uint32_t)b->len };

			pat_fill(b->addr + HDR_SZ, b->len - HDR_SZ, b->seed, HDR_SZ);
			h.csum = csum(b->addr + HDR_SZ, b->len - HDR_SZ);
			memcpy(b->addr, &h, HDR_SZ);
		} else {
			pat_fill(b->addr, b->len, b->seed, 0);
		}
		break;
	case SAN_OP_RDMA_WRITE:
		b->slot = free_slot;
		b->off = rnd(c) % (rlen - b->len + 1);
		b->wseq = c->wseq++;
		b->seed = seed_write(c->id, b->wseq);
		pat_fill(b->addr, b->len, b->seed, 0);
		break;
	case SAN_OP_RDMA_READ:
		b->off = rnd(c) % (rlen - b->len + 1);
		b->seed = seed_read(c->id, c->gen);
		memset(b->addr, 0xee, b->len < 64 ? b->len : 64); /* stale bytes never pass */
		break;
	}
	/* Self-test of the checks (--inject): one byte off, after the checksum. */
	if (opt.inject && rnd(c) % opt.inject == 0 && op != SAN_OP_RDMA_READ)
		b->addr[b->len - 1] ^= 0x5a;
	else if (opt.inject && op == SAN_OP_RDMA_READ && rnd(c) % opt.inject == 0)
		b->seed ^= 1;
	if (lb_register(c, b, b->len, &b->h))
		return;
	sb.buf = b->addr;
	sb.len = b->len;
	sb.handle = (rnd(c) & 1) ? b->h : 0;
	switch (op) {
	case SAN_OP_SEND:
		rc = san_send(c->s, &sb, 1, &b->t);
		break;
	case SAN_OP_RDMA_WRITE:
		rc = san_rdma_write(c->s, &sb, 1, &c->dw, (uint64_t)b->slot * rlen + b->off, &b->t);
		break;
	default:
		rc = san_rdma_read(c->s, &sb, 1, &c->dr, b->off, &b->t);
		break;
	}
	if (rc) {
		err_report("conn %u: posting op %d (%zu B): %s", c->id, op, b->len, san_strerror(rc));
		san_deregister_memory(c->s, b->h);
		return;
	}
	if (op == SAN_OP_SEND)
		c->sseq++;
	b->busy = 1;
	c->inflight++;
}

static void init_complete(struct conn *c, struct lbuf *b, const struct san_completion *k)
{
	int rc;

	b->busy = 0;
	c->inflight--;
	if (k->status || k->bytes != b->len) {
		err_report("conn %u: op %d of %zu B completed with %d (%s), %zu B", c->id, b->op,
			   b->len, k->status, san_strerror(k->status), k->bytes);
	} else {
		atomic_fetch_add(&cnt->ops, 1);
		atomic_fetch_add(&cnt->bytes, b->len);
		c->nops++;
		if (b->op == SAN_OP_SEND) {
			atomic_fetch_add(&cnt->sends, 1);
		} else if (b->op == SAN_OP_RDMA_WRITE) {
			struct ctlmsg m;

			atomic_fetch_add(&cnt->writes, 1);
			memset(&m, 0, sizeof(m));
			m.slot = (uint32_t)b->slot;
			m.off = b->off;
			m.len = b->len;
			m.wseq = b->wseq;
			if (!send_ctl(c, &m, M_WCHECK))
				c->slot_wait[b->slot] = 1;
		} else {
			size_t bad = pat_check(b->addr, b->len, b->seed, b->off);

			atomic_fetch_add(&cnt->reads, 1);
			if (bad != b->len)
				mismatch_report("conn %u: RDMA read of %zu B at %" PRIu64
						" (gen %" PRIu64 ") differs at %zu",
						c->id, b->len, b->off, c->gen, bad);
		}
	}
	rc = san_deregister_memory(c->s, b->h);
	if (rc)
		err_report("conn %u: san_deregister_memory: %s", c->id, san_strerror(rc));
	if (rnd(c) % REMAP_ONE_IN == 0)
		b->addr = remap(b->addr, b->cap, (int)(rnd(c) % 3));
	if (c->nops % ROT_EVERY == 0 && c->have_desc && !c->rotating)
		c->rotating = 1;
}

/* Posts what the initiator may post now; handles rotation and the end. */
static void init_pump(struct conn *c)
{
	int stopping = atomic_load_explicit(&sh->stop, memory_order_relaxed);

	if (c->rotating && !c->rot_sent && !rdma_inflight(c) && !slots_busy(c)) {
		struct ctlmsg m;

		memset(&m, 0, sizeof(m));
		if (!send_ctl(c, &m, M_ROTATE)) {
			c->rot_sent = 1;
			c->have_desc = 0;
		}
	}
	if (stopping) {
		if (!c->fin_sent && !c->inflight && !slots_busy(c) && !c->rotating && c->have_desc &&
		    ctl_get(c)) {
			struct ctlmsg m;

			memset(&m, 0, sizeof(m));
			if (!send_ctl(c, &m, M_FIN))
				c->fin_sent = 1;
		}
		return;
	}
	for (int i = 0; i < NLOCAL; i++)
		if (!c->lb[i].busy && ctl_get(c))
			init_post_one(c, &c->lb[i]);
}

/* ---- completions ---- */

static void on_completion(struct conn *c, const struct san_completion *k)
{
	struct tagged *t = k->ctx;

	if (!t || t->c != c) {
		err_report("conn %u: completion with a foreign ctx %p", c->id, k->ctx);
		return;
	}
	switch (t->kind) {
	case K_LOCAL:
		init_complete(c, (struct lbuf *)t, k);
		break;
	case K_CTL: {
		struct ctlslot *s = (struct ctlslot *)t;
		const struct hdr *h = (const struct hdr *)s->addr;

		if (k->status)
			err_report("conn %u: control send completed with %s", c->id,
				   san_strerror(k->status));
		s->busy = 0;
		c->ctl_out--;
		if (c->initiator && h->type == M_FIN)
			c->fin_done = 1;
		break;
	}
	case K_RECV: {
		struct rslot *r = (struct rslot *)t;

		if (r != &c->rs[c->rq_head]) {
			mismatch_report("conn %u: receives completed out of order", c->id);
		}
		c->rq_head = (int)((r - c->rs) + 1) % c->nrs;
		if (k->status) {
			err_report("conn %u: receive completed with %d (%s)", c->id, k->status,
				   san_strerror(k->status));
			break;
		}
		if (c->initiator)
			init_message(c, r, k->bytes);
		else
			target_message(c, r, k->bytes);
		if (!(c->initiator ? c->fin_done : c->fin_seen))
			post_recv(c, r);
		break;
	}
	default:
		err_report("conn %u: completion of unknown kind", c->id);
	}
}

/* ---- setup ---- */

static void conn_setup(struct conn *c)
{
	size_t rlen = round_up(opt.max_size);
	int rc;

	c->rng = mix64(opt.seed * 1000003 + c->id * 2 + (unsigned)me) | 1;
	c->ctl_mem = map_rw(NCTL * CTL_SZ);
	rc = san_register_memory(c->s, c->ctl_mem, NCTL * CTL_SZ, SAN_MEM_READ, &c->ctl_h);
	if (rc)
		err_report("conn %u: register control slots: %s", c->id, san_strerror(rc));
	for (int i = 0; i < NCTL; i++) {
		c->ctl[i].t.kind = K_CTL;
		c->ctl[i].t.c = c;
		c->ctl[i].addr = c->ctl_mem + i * CTL_SZ;
	}
	c->nrs = c->initiator ? NRECV_I : NRECV_T;
	{
		size_t each = c->initiator ? CTL_SZ : rlen;

		c->rmem_len = each * (size_t)c->nrs;
		c->rmem = map_rw(c->rmem_len);
		rc = san_register_memory(c->s, c->rmem, c->rmem_len, SAN_MEM_WRITE, &c->rh);
		if (rc)
			err_report("conn %u: register receives: %s", c->id, san_strerror(rc));
		c->rs = calloc((size_t)c->nrs, sizeof(*c->rs));
		for (int i = 0; i < c->nrs; i++) {
			c->rs[i].t.kind = K_RECV;
			c->rs[i].t.c = c;
			c->rs[i].addr = c->rmem + (size_t)i * each;
			c->rs[i].cap = each;
			post_recv(c, &c->rs[i]);
		}
	}
	if (c->initiator) {
		for (int i = 0; i < NLOCAL; i++) {
			c->lb[i].t.kind = K_LOCAL;
			c->lb[i].t.c = c;
			c->lb[i].cap = rlen;
			c->lb[i].addr = map_rw(rlen);
		}
	} else {
		c->wmem = map_rw(NSLOT * rlen);
		c->rdmem = map_rw(rlen);
		target_register(c);
		target_send_desc(c);
	}
}

static void conn_teardown(struct conn *c)
{
	size_t rlen = round_up(opt.max_size);
	int rc = san_close(c->s);

	if (rc)
		err_report("conn %u: san_close: %s", c->id, san_strerror(rc));
	munmap(c->ctl_mem, NCTL * CTL_SZ);
	munmap(c->rmem, c->rmem_len);
	free(c->rs);
	if (c->initiator) {
		for (int i = 0; i < NLOCAL; i++)
			munmap(c->lb[i].addr, c->lb[i].cap);
	} else {
		munmap(c->wmem, NSLOT * rlen);
		munmap(c->rdmem, rlen);
	}
}

static int conn_finished(struct conn *c)
{
	if (c->initiator)
		return c->fin_done && !c->inflight && !c->ctl_out;
	return c->fin_seen && !c->ctl_out;
}

/* ---- workers ---- */

struct worker {
	pthread_t t;
	struct conn **cs;
	int n;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct san_completion k[16];
	int idle_rr = 0;

	while (!atomic_load(&sh->abort_all)) {
		int progress = 0, left = 0;

		for (int i = 0; i < w->n; i++) {
			struct conn *c = w->cs[i];
			int n;

			if (c->done)
				continue;
			n = san_poll(c->s, k, 16, 0);
			if (n < 0) {
				err_report("conn %u: san_poll: %s", c->id, san_strerror(n));
				c->done = 1;
				continue;
			}
			for (int j = 0; j < n; j++)
				on_completion(c, &k[j]);
			progress += n;
			if (c->initiator)
				init_pump(c);
			if (conn_finished(c))
				c->done = 1;
			else
				left++;
		}
		if (!left)
			break;
		if (!progress) {
			/* Nothing moved: sleep in one socket's poll briefly. */
			struct conn *c = w->cs[idle_rr++ % w->n];

			if (!c->done) {
				int n = san_poll(c->s, k, 16, 1);

				if (n < 0) {
					err_report("conn %u: san_poll: %s", c->id, san_strerror(n));
					c->done = 1;
				}
				for (int j = 0; j < n; j++)
					on_completion(c, &k[j]);
			}
		}
	}
	atomic_fetch_add(&cnt->done_workers, 1);
	return NULL;
}

/* ---- control channel between the two processes ---- */

static void ctl_write(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n) {
		perror("control write");
		exit(2);
	}
}

static void ctl_read(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);

		if (r <= 0) {
			fprintf(stderr, "[%c] control channel closed\n", me ? 'B' : 'A');
			exit(2);
		}
		got += (size_t)r;
	}
}

/* ---- one process's run ---- */

static long status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			kb = strtol(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Opens the connections, runs the workers until they finish, closes. */
static int run_side(int ctl)
{
	struct conn *cs = calloc(opt.conns, sizeof(*cs));
	struct worker ws[MAX_THREADS];
	san_provider *p;
	int rc;

	rc = san_provider_open(NULL, &p);
	if (rc) {
		fprintf(stderr, "[%c] san_provider_open: %s\n", me ? 'B' : 'A', san_strerror(rc));
		return 2;
	}
	if (me == 1) {
		char addr[128], bound[128];
		san_listener *l;

		if (!strcmp(opt.transport, "unix"))
			snprintf(addr, sizeof(addr), "unix:@san-soak-%d", (int)getpid());
		else
			snprintf(addr, sizeof(addr), "tcp:127.0.0.1:0");
		rc = san_listen(p, addr, &l);
		if (rc || san_listener_addr(l, bound, sizeof(bound)) < 0) {
			fprintf(stderr, "[B] listen %s: %s\n", addr, san_strerror(rc));
			return 2;
		}
		ctl_write(ctl, bound, sizeof(bound));
		for (unsigned i = 0; i < opt.conns; i++) {
			rc = san_accept(l, 10000, &cs[i].s);
			if (rc) {
				fprintf(stderr, "[B] accept %u: %s\n", i, san_strerror(rc));
				return 2;
			}
		}
		san_listener_close(l);
	} else {
		char bound[128];

		ctl_read(ctl, bound, sizeof(bound));
		for (unsigned i = 0; i < opt.conns; i++) {
			rc = san_connect(p, bound, &cs[i].s);
			if (rc) {
				fprintf(stderr, "[A] connect %u to %s: %s\n", i, bound, san_strerror(rc));
				return 2;
			}
		}
	}
	for (unsigned i = 0; i < opt.conns; i++) {
		cs[i].id = i;
		cs[i].initiator = (int)(i % 2) == me;
		conn_setup(&cs[i]);
	}
	{
		char b = 'r';

		/* Both sides set up before anyone starts: the other's receives
		 * are posted, nothing is refused. */
		ctl_write(ctl, &b, 1);
		ctl_read(ctl, &b, 1);
	}
	for (unsigned t = 0; t < opt.threads; t++) {
		ws[t].cs = calloc(opt.conns, sizeof(*ws[t].cs));
		ws[t].n = 0;
		for (unsigned i = t; i < opt.conns; i += opt.threads)
			ws[t].cs[ws[t].n++] = &cs[i];
		pthread_create(&ws[t].t, NULL, worker_main, &ws[t]);
	}
	for (unsigned t = 0; t < opt.threads; t++) {
		pthread_join(ws[t].t, NULL);
		free(ws[t].cs);
	}
	{
		char b = 'd';

		/* Both sides drained before anyone closes. */
		ctl_write(ctl, &b, 1);
		ctl_read(ctl, &b, 1);
	}
	for (unsigned i = 0; i < opt.conns; i++)
		conn_teardown(&cs[i]);
	san_provider_close(p);
	free(cs);
	atomic_store(&cnt->vmpin_after_kb, status_kb(getpid(), "VmPin"));
	atomic_store(&cnt->rss_after_kb, status_kb(getpid(), "VmRSS"));
	atomic_store(&cnt->closed, 1);
	return 0;
}

/* ---- the parent's reporting ---- */

struct sample {
	long rss, hwm, pin;
};

static struct sample sample_of(pid_t pid)
{
	struct sample s = { status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM"),
			    status_kb(pid, "VmPin") };

	return s;
}

static uint64_t sum(_Atomic uint64_t *a, _Atomic uint64_t *b)
{
	return atomic_load(a) + atomic_load(b);
}

struct runner_arg {
	int ctl;
	int rc;
};

static void *runner_main(void *arg)
{
	struct runner_arg *a = arg;

	a->rc = run_side(a->ctl);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: soak [--seconds N] [--conns N] [--threads N] [--interval N] "
			"[--max-size BYTES] [--seed N] [--transport tcp|unix] [--inject N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", 1, NULL, 's' }, { "conns", 1, NULL, 'c' },
		{ "threads", 1, NULL, 't' }, { "interval", 1, NULL, 'i' },
		{ "max-size", 1, NULL, 'm' }, { "seed", 1, NULL, 'S' },
		{ "transport", 1, NULL, 'T' }, { "inject", 1, NULL, 'I' },
		{ "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sample sa0 = { 0 }, sb0 = { 0 }, pa = { 0 }, pb = { 0 }, la, lb;
	struct runner_arg ra;
	pthread_t runner;
	int sv[2], o, st, rc = 0, first = 1;
	double t0, next, end, drain_end;
	uint64_t last_ops = 0, last_bytes = 0;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((o = getopt_long(argc, argv, "s:c:t:i:m:S:T:I:h", lo, NULL)) != -1) {
		switch (o) {
		case 's': opt.seconds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'c': opt.conns = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': opt.threads = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'i': opt.interval = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'm': opt.max_size = strtoull(optarg, NULL, 0); break;
		case 'S': opt.seed = strtoull(optarg, NULL, 0); break;
		case 'T': opt.transport = optarg; break;
		case 'I': opt.inject = (unsigned)strtoul(optarg, NULL, 0); break;
		default: usage();
		}
	}
	if (!opt.conns || opt.conns > MAX_CONNS || opt.conns % 2 || !opt.threads ||
	    opt.threads > MAX_THREADS || opt.threads > opt.conns || !opt.interval ||
	    opt.max_size < CTL_SZ || opt.max_size > (64u << 20) ||
	    (strcmp(opt.transport, "tcp") && strcmp(opt.transport, "unix")))
		usage();
	page_sz = (size_t)sysconf(_SC_PAGESIZE);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap shared");
		return 2;
	}
	memset(sh, 0, sizeof(*sh));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		perror("socketpair");
		return 2;
	}
	printf("soak: %u connections over %s, %u worker threads per process, operations of 1 B .. "
	       "%zu B, %u s, report every %u s, seed %" PRIu64 "\n",
	       opt.conns, opt.transport, opt.threads, opt.max_size, opt.seconds, opt.interval,
	       opt.seed);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		me = 1;
		cnt = &sh->c[1];
		_exit(run_side(sv[1]));
	}
	close(sv[1]);
	me = 0;
	cnt = &sh->c[0];
	ra.ctl = sv[0];
	ra.rc = 0;
	pthread_create(&runner, NULL, runner_main, &ra);

	printf("%7s %11s %9s %9s %6s %6s %7s %6s | %-22s | %-22s\n", "time_s", "ops", "ops/s",
	       "MB/s", "errors", "mism", "remaps", "rotat", "A rss/hwm/pin MiB", "B rss/hwm/pin MiB");
	t0 = now_s();
	next = t0 + opt.interval;
	end = t0 + opt.seconds;
	la = lb = sa0;
	for (;;) {
		double now = now_s();
		struct sample a = sample_of(getpid()), b = sample_of(pid);

		if (a.pin > pa.pin)
			pa.pin = a.pin;
		if (b.pin > pb.pin)
			pb.pin = b.pin;
		if (a.hwm > pa.hwm)
			pa.hwm = a.hwm;
		if (b.hwm > pb.hwm)
			pb.hwm = b.hwm;
		if (now >= next || now >= end) {
			uint64_t ops = sum(&sh->c[0].ops, &sh->c[1].ops);
			uint64_t bytes = sum(&sh->c[0].bytes, &sh->c[1].bytes);
			double dt = now - (next - opt.interval);

			printf("%7.0f %11" PRIu64 " %9.0f %9.1f %6" PRIu64 " %6" PRIu64 " %7" PRIu64
			       " %6" PRIu64 " | %6.0f %6.0f %6.0f   | %6.0f %6.0f %6.0f\n",
			       now - t0, ops, (double)(ops - last_ops) / dt,
			       (double)(bytes - last_bytes) / dt / 1e6,
			       sum(&sh->c[0].errors, &sh->c[1].errors),
			       sum(&sh->c[0].mismatches, &sh->c[1].mismatches),
			       sum(&sh->c[0].remaps, &sh->c[1].remaps),
			       sum(&sh->c[0].rotations, &sh->c[1].rotations), a.rss / 1024.0,
			       a.hwm / 1024.0, a.pin / 1024.0, b.rss / 1024.0, b.hwm / 1024.0,
			       b.pin / 1024.0);
			if (first) {
				sa0 = a;
				sb0 = b;
				first = 0;
			}
			la = a;
			lb = b;
			last_ops = ops;
			last_bytes = bytes;
			next += opt.interval;
		}
		if (now >= end)
			break;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "soak: B exited early: %s %d\n",
				WIFEXITED(st) ? "status" : "signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			atomic_store(&sh->abort_all, 1);
			pthread_join(runner, NULL);
			return 1;
		}
		usleep(250000);
	}

	/* Drain: initiators stop, wait for their operations and ACKs, FIN. */
	atomic_store(&sh->stop, 1);
	drain_end = now_s() + DRAIN_S;
	while (atomic_load(&sh->c[0].done_workers) < (int)opt.threads ||
	       atomic_load(&sh->c[1].done_workers) < (int)opt.threads) {
		if (now_s() > drain_end) {
			fprintf(stderr, "soak: HANG: workers not finished %d s after the stop (A %d/%u, "
					"B %d/%u done)\n",
				DRAIN_S, atomic_load(&sh->c[0].done_workers), opt.threads,
				atomic_load(&sh->c[1].done_workers), opt.threads);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return 1;
		}
		usleep(50000);
	}
	pthread_join(runner, NULL);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) || ra.rc) {
		fprintf(stderr, "soak: A %d, B %s %d\n", ra.rc, WIFEXITED(st) ? "exit" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		rc = 1;
	}

	{
		uint64_t ops = sum(&sh->c[0].ops, &sh->c[1].ops);
		uint64_t bytes = sum(&sh->c[0].bytes, &sh->c[1].bytes);
		uint64_t errors = sum(&sh->c[0].errors, &sh->c[1].errors);
		uint64_t mism = sum(&sh->c[0].mismatches, &sh->c[1].mismatches);
		double secs = now_s() - t0;

		printf("\nsummary after %.0f s (%u s of load, then drained):\n", secs, opt.seconds);
		printf("  operations  %" PRIu64 " (%" PRIu64 " sends, %" PRIu64 " RDMA writes, %" PRIu64
		       " RDMA reads), %.2f GB\n",
		       ops, sum(&sh->c[0].sends, &sh->c[1].sends),
		       sum(&sh->c[0].writes, &sh->c[1].writes), sum(&sh->c[0].reads, &sh->c[1].reads),
		       (double)bytes / 1e9);
		printf("  checked     %" PRIu64 " messages at the receiver, %" PRIu64
		       " RDMA writes at the target, %" PRIu64 " RDMA reads at the initiator\n",
		       sum(&sh->c[0].msgs_checked, &sh->c[1].msgs_checked),
		       sum(&sh->c[0].writes_checked, &sh->c[1].writes_checked),
		       sum(&sh->c[0].reads, &sh->c[1].reads));
		printf("  churn       %" PRIu64 " registrations, %" PRIu64 " buffers replaced "
		       "underneath, %" PRIu64 " target rotations\n",
		       sum(&sh->c[0].regs, &sh->c[1].regs), sum(&sh->c[0].remaps, &sh->c[1].remaps),
		       sum(&sh->c[0].rotations, &sh->c[1].rotations));
		printf("  errors      %" PRIu64 "\n", errors);
		printf("  mismatches  %" PRIu64 "\n", mism);
		printf("  A: VmRSS %ld MiB at the first report, %ld MiB at the last (%+ld MiB); "
		       "peak RSS %ld MiB; peak VmPin %ld MiB; after close: VmPin %ld kB\n",
		       sa0.rss / 1024, la.rss / 1024, (la.rss - sa0.rss) / 1024, pa.hwm / 1024,
		       pa.pin / 1024, atomic_load(&sh->c[0].vmpin_after_kb));
		printf("  B: VmRSS %ld MiB at the first report, %ld MiB at the last (%+ld MiB); "
		       "peak RSS %ld MiB; peak VmPin %ld MiB; after close: VmPin %ld kB\n",
		       sb0.rss / 1024, lb.rss / 1024, (lb.rss - sb0.rss) / 1024, pb.hwm / 1024,
		       pb.pin / 1024, atomic_load(&sh->c[1].vmpin_after_kb));
		if (errors || mism)
			rc = 1;
		if (atomic_load(&sh->c[0].vmpin_after_kb) || atomic_load(&sh->c[1].vmpin_after_kb)) {
			fprintf(stderr, "soak: pages still pinned after san_provider_close\n");
			rc = 1;
		}
		printf("  result      %s\n", rc ? "FAIL" : "PASS");
	}
	return rc;
}
