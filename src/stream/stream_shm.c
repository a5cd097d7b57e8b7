/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory mode (docs/stream.md §7): after a local move, the bytes of
 * the stream go through two rings in a sealed memfd both processes map;
 * the SAN socket (now a Unix one) stays for DOORBELL and FIN, which wake a
 * side that sleeps, and for noticing that the peer is gone.
 *
 * One ring per direction, a byte stream each (no framing): the producer
 * copies at its tail and publishes it, the consumer copies out at its head
 * and publishes that. Each side keeps its own counters privately and only
 * publishes them: what it reads back from the shared page is the peer's,
 * and the peer may be hostile, so every value read is checked (tail - head
 * within the ring) and every index masked. The memfd is sealed against
 * shrinking and growing before it is sent (a peer that truncated a shared
 * file would make our next access SIGBUS).
 *
 * Sleeping without lost wake-ups (Dekker): a side about to sleep stores
 * its "wake me" flag, then reads the counter it waits for; the other side
 * stores its counter, then exchanges the flag to 0 and, if it was set,
 * sends a DOORBELL. Both with sequentially consistent atomics. The sleep
 * itself is san_poll on the socket (a DOORBELL is a completion), or
 * epoll on the stream's fd: one mechanism for blocking and event loops.
 */
#include "stream/stream_int.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHM_MAGIC 0x4d485353u /* "SSHM" */
#define SHM_VERSION 1
#define SHM_MIN_RING (64u << 10)
#define SHM_MAX_RING (1u << 30)

struct ss_shm_dir {
	_Atomic uint64_t tail;    /* producer */
	char pad0[56];
	_Atomic uint64_t head;    /* consumer */
	char pad1[56];
	_Atomic uint32_t rx_wait; /* the consumer may sleep: doorbell it on new bytes */
	_Atomic uint32_t tx_wait; /* the producer may sleep: doorbell it on new room */
	_Atomic uint32_t fin;     /* the producer wrote its last byte (tail is final) */
	char pad2[52];
};

struct ss_shm_hdr {
	uint32_t magic, version;
	uint64_t ring;
	char pad[48];
	struct ss_shm_dir d[2];   /* d[0]: accept side -> connect side */
};

_Static_assert(sizeof(struct ss_shm_dir) == 192, "three cache lines per direction");
_Static_assert(sizeof(struct ss_shm_hdr) <= SS_SHM_HDR, "header fits its page");

int san__ss_shm_create(size_t ring)
{
	struct ss_shm_hdr *h;
	size_t len = SS_SHM_HDR + 2 * ring;
	int fd, rc;

	if (ring < SHM_MIN_RING || ring > SHM_MAX_RING || (ring & (ring - 1)))
		return -EINVAL;
	fd = memfd_create("san-stream", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len))
		goto out_errno;
	h = mmap(NULL, SS_SHM_HDR, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		goto out_errno;
	h->magic = SHM_MAGIC;
	h->version = SHM_VERSION;
	h->ring = ring;
	munmap(h, SS_SHM_HDR);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		goto out_errno;
	return fd;

out_errno:
	rc = -errno;
	close(fd);
	return rc;
}

int san__ss_shm_attach(struct san_stream *s, int fd, int role)
{
	int seals = fcntl(fd, F_GET_SEALS);
	struct ss_shm_hdr *h;
	struct stat st;
	uint64_t ring;
	void *base;

	/* A peer able to shrink the file could make us fault on access. */
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return -EPROTO;
	if (fstat(fd, &st) || st.st_size < SS_SHM_HDR + 2 * SHM_MIN_RING ||
	    (uint64_t)st.st_size > SS_SHM_HDR + 2ull * SHM_MAX_RING)
		return -EPROTO;
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	h = base;
	ring = h->ring;
	if (h->magic != SHM_MAGIC || h->version != SHM_VERSION || ring < SHM_MIN_RING ||
	    ring > SHM_MAX_RING || (ring & (ring - 1)) ||
	    (uint64_t)st.st_size != SS_SHM_HDR + 2 * ring) {
		munmap(base, (size_t)st.st_size);
		return -EPROTO;
	}
	s->shm = true;
	s->shm_base = base;
	s->shm_len = (size_t)st.st_size;
	s->ring = ring;
	s->txd = &h->d[role];
	s->rxd = &h->d[1 - role];
	s->tx_ring = (uint8_t *)base + SS_SHM_HDR + (size_t)role * ring;
	s->rx_ring = (uint8_t *)base + SS_SHM_HDR + (size_t)(1 - role) * ring;
	s->tx_tail = 0;
	s->rx_head = 0;
	return 0;
}

void san__ss_shm_detach(struct san_stream *s)
{
	if (s->shm_base)
		munmap(s->shm_base, s->shm_len);
	s->shm_base = NULL;
}

/* A DOORBELL only says "look at the rings": one still waiting for a control
 * slot covers every change published before it goes out. Without this, a
 * producer whose room came back within a few spins (no completion reaped
 * in between) queued one per chunk until the queue overflowed (TSan under
 * load: test_stream_shm). */
static void doorbell(struct san_stream *s)
{
	struct ss_msg m = { .h.type = SS_DOORBELL };

	for (unsigned i = 0; i < s->ctlq_len; i++)
		if (s->ctlq[(s->ctlq_head + i) % SS_CTLQ].h.type == SS_DOORBELL)
			return;
	san__ss_ctl(s, &m);
}

/* Bytes the peer published that we have not read, or -1 (a lie). */
static int64_t rx_avail(struct san_stream *s)
{
	uint64_t t = atomic_load_explicit(&s->rxd->tail, memory_order_acquire);

	if (t - s->rx_head > s->ring)
		return -1;
	return (int64_t)(t - s->rx_head);
}

static int64_t tx_room(struct san_stream *s)
{
	uint64_t h = atomic_load_explicit(&s->txd->head, memory_order_acquire);

	if (s->tx_tail - h > s->ring)
		return -1;
	return (int64_t)(s->ring - (s->tx_tail - h));
}

static bool tx_dead(const struct san_stream *s)
{
	return s->err || s->post_err || s->shut_wr || s->closing;
}

static ssize_t tx_err(const struct san_stream *s)
{
	if (s->err && s->err != -ECONNRESET && s->err != -ENOTCONN)
		return s->err;
	return -EPIPE;
}

/* Spins on cond for up to spin_us (looking at the socket now and then, for
 * a failure), then arms `want` and, if cond still does not hold, sleeps in
 * the socket until a DOORBELL or a slice passes. After the first few
 * microseconds the spin yields the CPU at each turn: on a machine with
 * fewer free CPUs than spinning threads the peer may be waiting for ours,
 * and a plain spin would only delay it until we give up. */
#define SHM_WAIT(s, cond, want)                                                        \
	do {                                                                           \
		uint64_t t0_ = san__now_ns(), end_ = t0_ + (uint64_t)(s)->cfg.spin_us * 1000; \
		unsigned k_ = 0;                                                       \
		while (!(cond) && san__now_ns() < end_) {                              \
			if (!(++k_ & 63)) {                                            \
				pthread_mutex_unlock(&(s)->mu);                         \
				pthread_mutex_lock(&(s)->mu);                           \
				san__ss_progress((s), 0);                              \
			}                                                              \
			if (san__now_ns() - t0_ > 5000)                                \
				sched_yield();                                         \
			else                                                           \
				san__cpu_relax();                                      \
		}                                                                      \
		if (!(cond)) {                                                         \
			san__ss_shm_arm((s), (want));                                  \
			if (!(cond))                                                   \
				san__ss_progress((s), SS_SLICE_MS);                    \
		}                                                                      \
	} while (0)

static void copy_in(struct san_stream *s, const uint8_t *buf, size_t n)
{
	size_t at = (size_t)(s->tx_tail & (s->ring - 1)), first = SAN_MIN(n, s->ring - at);

	memcpy(s->tx_ring + at, buf, first);
	memcpy(s->tx_ring, buf + first, n - first);
}

static void copy_out(struct san_stream *s, uint8_t *buf, size_t n)
{
	size_t at = (size_t)(s->rx_head & (s->ring - 1)), first = SAN_MIN(n, s->ring - at);

	memcpy(buf, s->rx_ring + at, first);
	memcpy(buf + first, s->rx_ring, n - first);
}

static void violation(struct san_stream *s)
{
	if (!s->err)
		san__log("stream: peer broke the shared ring, closing");
	san__ss_fail(s, -EPROTO);
}

ssize_t san__ss_shm_tx(struct san_stream *s, const uint8_t *buf, size_t len, bool nb)
{
	size_t sent = 0;

	while (sent < len) {
		int64_t room;
		size_t n;

		if (tx_dead(s))
			return sent ? (ssize_t)sent : tx_err(s);
		room = tx_room(s);
		if (room < 0) {
			violation(s);
			continue;
		}
		if (!room) {
			if (nb)
				return sent ? (ssize_t)sent : -EAGAIN;
			s->st.credit_waits++;
			SHM_WAIT(s, tx_room(s) != 0 || tx_dead(s), SAN_STREAM_OUT);
			continue;
		}
		n = SAN_MIN((size_t)room, len - sent);
		copy_in(s, buf + sent, n);
		s->tx_tail += n;
		atomic_store(&s->txd->tail, s->tx_tail); /* seq_cst: then the flag */
		if (atomic_exchange(&s->txd->rx_wait, 0))
			doorbell(s);
		sent += n;
		s->tx_seq += n;
		s->st.bytes_sent += n;
		s->st.copy_bytes_sent += n;
	}
	return (ssize_t)sent;
}

static void consumed(struct san_stream *s, size_t n)
{
	s->rx_head += n;
	atomic_store(&s->rxd->head, s->rx_head);
	if (atomic_exchange(&s->rxd->tx_wait, 0))
		doorbell(s);
}

/* SHUT_RD: what arrives is dropped (so the peer is never blocked). */
void san__ss_shm_drop(struct san_stream *s)
{
	int64_t a = rx_avail(s);

	if (a > 0)
		consumed(s, (size_t)a);
}

static bool rx_ready(struct san_stream *s)
{
	return rx_avail(s) != 0 || atomic_load(&s->rxd->fin) || s->err || s->shut_rd;
}

ssize_t san__ss_shm_rx(struct san_stream *s, uint8_t *buf, size_t len, bool nb)
{
	for (;;) {
		int64_t a;

		if (s->shut_rd) {
			san__ss_shm_drop(s);
			return 0;
		}
		a = rx_avail(s);
		if (a < 0) {
			violation(s);
			return s->err;
		}
		if (a) {
			size_t n = SAN_MIN((size_t)a, len);

			if (!n)
				return 0;
			copy_out(s, buf, n);
			consumed(s, n);
			s->rx_seq += n;
			s->st.bytes_received += n;
			s->st.copy_bytes_received += n;
			return (ssize_t)n;
		}
		/* fin is set after the last tail: seen it, look at tail again. */
		if (atomic_load(&s->rxd->fin)) {
			if (rx_avail(s))
				continue;
			return 0;
		}
		if (s->err)
			return s->err;
		if (nb)
			return -EAGAIN;
		SHM_WAIT(s, rx_ready(s), SAN_STREAM_IN);
	}
}

void san__ss_shm_arm(struct san_stream *s, int want)
{
	if (want & SAN_STREAM_IN)
		atomic_store(&s->rxd->rx_wait, 1); /* seq_cst: then the caller looks */
	if (want & SAN_STREAM_OUT)
		atomic_store(&s->txd->tx_wait, 1);
}

int san__ss_shm_ready(struct san_stream *s)
{
	int r = 0;
	int64_t room = tx_room(s);

	if (rx_ready(s))
		r |= SAN_STREAM_IN;
	if (s->err || s->post_err || s->shut_wr || room != 0)
		r |= SAN_STREAM_OUT;
	if (s->err)
		r |= SAN_STREAM_ERR;
	if (atomic_load(&s->rxd->fin))
		r |= SAN_STREAM_HUP;
	return r;
}

/* Our last byte is published: say so in the ring, then wake the peer
 * (FIN also travels as a message, so a peer asleep in san_poll wakes). */
void san__ss_shm_fin(struct san_stream *s)
{
	atomic_store(&s->txd->fin, 1);
}
