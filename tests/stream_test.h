/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the stream tests (tests/test_stream_*.c), on top of xtest.h:
 * a stream pair across two processes, a deterministic byte stream with a
 * running hash, random chunking.
 *
 * The parent listens (san_stream_listen on the test's transport), the
 * forked peer connects. Both ends then move bytes with st_send_all /
 * st_recv_all, which cut the stream into random pieces (sizes drawn from a
 * seed both sides know only for the total) and hash what they moved.
 */
#ifndef SAN_STREAM_TEST_H
#define SAN_STREAM_TEST_H

#include "xtest.h"

#include <san/stream.h>

#include <sys/epoll.h>

#define SAN_TEST_MIN(a, b) ((a) < (b) ? (a) : (b))

/* ---- setup ---- */

/* Defaults for the tests of the SAN paths: no local move, so that a
 * loopback TCP test exercises the TCP transport, the copy path and the
 * RDMA flows (the local move and the shared rings have tests of their
 * own: test_stream_local, test_stream_shm, test_stream_chunks_shm). */
static inline struct san_stream_config st_config(void)
{
	struct san_stream_config c;

	san_stream_config_init(&c);
	c.local = 0;
	return c;
}

static inline san_stream *st_accept(san_provider *p, int ctl, const struct san_stream_config *c)
{
	struct san_stream_config dflt = st_config();
	char addr[256], bound[256];
	san_stream_listener *l;
	san_stream *s;

	if (!c)
		c = &dflt;
	CHECK_OK(san_stream_listen(p, san_test_listen_addr(addr, sizeof(addr)), c, &l));
	CHECK(san_stream_listener_addr(l, bound, sizeof(bound)) > 0);
	san_test_ctl_send_str(ctl, bound);
	CHECK_OK(san_stream_accept(l, 10000, &s));
	san_stream_listener_close(l);
	return s;
}

static inline san_stream *st_connect(san_provider *p, int ctl, const struct san_stream_config *c)
{
	struct san_stream_config dflt = st_config();
	char addr[256];
	san_stream *s;

	if (!c)
		c = &dflt;
	san_test_ctl_recv(ctl, addr, sizeof(addr));
	CHECK_OK(san_stream_connect(p, addr, c, &s));
	return s;
}

/* ---- a byte stream both sides can generate ---- */

/* Byte i of stream `seed`: a function of (i, seed) that does not repeat
 * with a short period (a lost, doubled or reordered chunk shows). */
static inline uint8_t st_byte(uint64_t i, uint32_t seed)
{
	uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed << 32);

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (uint8_t)(x >> (8 * (i & 7)));
}

static inline void st_fill(uint8_t *buf, size_t len, uint64_t off, uint32_t seed)
{
	uint64_t i = off;
	size_t k = 0;

	/* whole 8-byte words at a time where aligned */
	while (k < len && (i & 7)) {
		buf[k++] = st_byte(i, seed);
		i++;
	}
	for (; k + 8 <= len; k += 8, i += 8) {
		uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed << 32);

		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= x >> 32;
		memcpy(buf + k, &x, 8);
	}
	for (; k < len; k++, i++)
		buf[k] = st_byte(i, seed);
}

/* Returns the first offset in [0, len) where buf differs from the stream
 * at off, or len. */
static inline size_t st_check(const uint8_t *buf, size_t len, uint64_t off, uint32_t seed)
{
	uint8_t tmp[4096];

	for (size_t k = 0; k < len; k += sizeof(tmp)) {
		size_t n = SAN_TEST_MIN(sizeof(tmp), len - k);

		st_fill(tmp, n, off + k, seed);
		if (memcmp(tmp, buf + k, n)) {
			for (size_t j = 0; j < n; j++)
				if (tmp[j] != buf[k + j])
					return k + j;
		}
	}
	return len;
}

/* FNV-1a 64 over what moved, for a cross-check of the whole stream. */
static inline uint64_t st_hash(uint64_t h, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}
#define ST_HASH0 0xcbf29ce484222325ull

/* xorshift for chunk sizes */
static inline uint64_t st_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* A chunk size in [1, max]: one in eight at edge-1, edge or edge+1 (a
 * threshold), one in 32 log-uniform in 128 KiB..64 MiB, the rest
 * log-uniform in 1 B..256 KiB (so that most of the stream is cut often). */
static inline size_t st_chunk(uint64_t *rng, size_t max, size_t edge)
{
	uint64_t r = st_rand(rng);
	unsigned bits;
	size_t n, hi;

	if (edge && (r & 7) == 0) {
		n = edge + (size_t)(r >> 8) % 3 - 1; /* edge-1, edge, edge+1 */
	} else {
		if ((r & 31) == 1)
			bits = 17 + (unsigned)((r >> 3) % 10); /* 128 KiB .. 64 MiB */
		else
			bits = (unsigned)((r >> 3) % 18); /* 1 B .. 256 KiB */
		hi = (size_t)1 << bits;
		n = hi + (size_t)((r >> 16) % hi);
	}
	if (n > max)
		n = max;
	return n ? n : 1;
}


/* Sends total bytes of stream seed in random pieces from buf (cap bytes).
 * Returns the hash of what was sent. */
static inline uint64_t st_send_all(san_stream *s, uint8_t *buf, size_t cap, uint64_t total,
				   uint32_t seed, uint64_t rng, size_t edge)
{
	uint64_t off = 0, h = ST_HASH0;

	while (off < total) {
		size_t n = st_chunk(&rng, SAN_TEST_MIN(cap, total - off), edge);
		ssize_t r;

		st_fill(buf, n, off, seed);
		r = san_stream_send(s, buf, n, 0);
		if (r != (ssize_t)n) {
			fprintf(stderr, "[%d] san_stream_send(%zu) at %llu = %zd (%s)\n", (int)getpid(), n,
				(unsigned long long)off, r, r < 0 ? san_strerror((int)r) : "short");
			exit(1);
		}
		h = st_hash(h, buf, n);
		off += n;
	}
	return h;
}

/* Receives exactly total bytes of stream seed in random pieces, checking
 * every byte. Returns their hash. */
static inline uint64_t st_recv_all(san_stream *s, uint8_t *buf, size_t cap, uint64_t total,
				   uint32_t seed, uint64_t rng, size_t edge)
{
	uint64_t off = 0, h = ST_HASH0;

	while (off < total) {
		size_t n = st_chunk(&rng, SAN_TEST_MIN(cap, total - off), edge), bad;
		ssize_t r = san_stream_recv(s, buf, n, 0);

		if (r <= 0 || (size_t)r > n) {
			fprintf(stderr, "[%d] san_stream_recv(%zu) at %llu = %zd (%s)\n", (int)getpid(), n,
				(unsigned long long)off, r, r < 0 ? san_strerror((int)r) : "EOF/too much");
			exit(1);
		}
		bad = st_check(buf, (size_t)r, off, seed);
		if (bad != (size_t)r) {
			fprintf(stderr, "[%d] stream byte %llu wrong (chunk of %zd at %llu)\n", (int)getpid(),
				(unsigned long long)(off + bad), r, (unsigned long long)off);
			exit(1);
		}
		h = st_hash(h, buf, (size_t)r);
		off += (size_t)r;
	}
	return h;
}

static inline struct san_stream_stats st_stats(san_stream *s)
{
	struct san_stream_stats st;

	CHECK_OK(san_stream_get_stats(s, &st));
	return st;
}

/* Waits up to ms for an event of epoll fd ep (EINTR retried: io_uring
 * task work may interrupt the sleep). Returns how many (0 or 1). */
static inline int ep_wait(int ep, int ms)
{
	struct epoll_event ev;
	int n;

	do
		n = epoll_wait(ep, &ev, 1, ms);
	while (n < 0 && errno == EINTR);
	CHECK(n >= 0);
	return n;
}

#endif
