/* SPDX-License-Identifier: MIT */
/*
 * Hostile-peer fixture, shared by tests/test_hostile_*.c.
 *
 * Three processes per test:
 *   - the TARGET (the test process): a real libsan provider that listens,
 *     accepts an honest connection H once, then one attacker connection A per
 *     round; on each A it registers four RDMA regions (RW, RO = SAN_MEM_READ,
 *     WO = SAN_MEM_WRITE, R2 = a second RW one that the attacker may ask to
 *     revoke) and a local buffer, posts a receive, and hands the descriptors
 *     (plus H's descriptor) to the attacker over the control channel;
 *   - the HONEST peer (forked child): plain libsan use; once every round is
 *     over it does an RDMA write, an RDMA read and a send on H and checks the
 *     data, then opens a second connection (the listener still accepts);
 *   - the ATTACKER (forked child): a plain socket speaking docs/protocol.md by
 *     hand with the wire encoders. It learns its keys by decoding the
 *     descriptor bytes it legitimately got (san__wire_desc_decode).
 *
 * Every byte of every registered arena (the registration sits inside it, with
 * unregistered guard bytes on both sides) is compared with a shadow copy after
 * each round: the attacker reports each WRITE of its own that was accepted
 * (HM_WROTE) and the target applies it to the shadow; nothing else may change.
 *
 * A test file lists its rounds in a table of struct hostile_case and calls
 * hostile_run(). An attack function runs in the attacker, on a connection that
 * has finished its handshake (unless .handshake is set: then it connects
 * itself), and returns how the round ended (enum hostile_end).
 */
#ifndef SAN_TEST_HOSTILE_H
#define SAN_TEST_HOSTILE_H

#include "harness.h"
#include "nic/wire.h"
#include "util/util.h"

#include <byteswap.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/time.h>

/* ---- geometry shared by the three processes ---- */

enum { HR_RW, HR_RO, HR_WO, HR_R2, HR_HONEST, HR_OPBUF, HR_N };

#define HOSTILE_ARENA (3 * 4096) /* one mapping per region */
#define HOSTILE_OFF 1000         /* the registration starts here ... */
#define HOSTILE_LEN 8000u        /* ... and is this long: guards on both sides */
#define HOSTILE_OP_LEN 64        /* the target's own RDMA ops toward the attacker: */
#define HOSTILE_OP_WSRC 1024     /* its WRITE source (its READ sink is at 0) */
#define HOSTILE_CRAFT_LEN 4096   /* length in the descriptor the attacker crafts */
#define HOSTILE_MY_MAX_MSG (1u << 20) /* max_msg in the attacker's HELLO */

#define HOSTILE_HONEST_WOFF 1024 /* honest RDMA write: offset, length, seed */
#define HOSTILE_HONEST_WLEN 512
#define HOSTILE_HONEST_WSEED 0x77u
#define HOSTILE_HONEST_SSEED 0x78u /* honest send on H (100 bytes) */
#define HOSTILE_HONEST2_SSEED 0x79u /* honest send on the second connection */
#define HOSTILE_HONEST_SLEN 100

#define HOSTILE_ALIVE_OFF 512 /* the attacker's legitimate WRITE */
#define HOSTILE_ALIVE_LEN 256
#define HOSTILE_ALIVE_SLEN 64 /* the attacker's legitimate SEND */

static const char *const hostile_region_name[HR_N] = { "RW", "RO", "WO", "R2", "HONEST", "OPBUF" };
static const int hostile_region_rights[HR_N] = { SAN_MEM_READWRITE, SAN_MEM_READ, SAN_MEM_WRITE,
						 SAN_MEM_READWRITE, SAN_MEM_READWRITE,
						 SAN_MEM_READWRITE };

static inline uint32_t hostile_region_seed(int r)
{
	return 0x51u + 0x10u * (uint32_t)r;
}

/* Byte i of pattern seed: the same function as san_test_fill(). */
static inline uint8_t hostile_pat(size_t i, uint32_t seed)
{
	return (uint8_t)((i * 2654435761u + seed * 40503u) >> 13);
}

/* ---- control messages (attacker <-> target) ---- */

enum hostile_cmd {
	HM_GO = 1, /* target: round `off` starts */
	HM_HELLO,  /* attacker: handshake done; nonce = mine, desc[0] = crafted descriptor */
	HM_INFO,   /* target: desc[r] = the descriptors of this round */
	HM_WROTE,  /* attacker: my WRITE (region, off, len, seed) was acked 0 */
	HM_MAYBE,  /* attacker: my truncated WRITE may have partly landed there */
	HM_ALIVE,  /* attacker: I sent a SEND of len bytes, pattern seed: check it */
	HM_OPDONE, /* attacker: the target's own op must now complete with status */
	HM_DEREG,  /* attacker: revoke region's descriptor */
	HM_REREG,  /* attacker: register region again; reply desc[region] */
	HM_CLOSE,  /* attacker: san_close my connection */
	HM_DONE,   /* attacker: round over; status = enum hostile_end */
	HM_OK,     /* reply */
};

struct hostile_msg {
	uint32_t cmd;
	uint32_t region;
	uint64_t off, len;
	uint32_t seed;
	int32_t status;
	uint64_t nonce;
	struct san_rdma_desc desc[HR_N];
};

/* How a round ended, seen from the attacker. */
enum hostile_end {
	HOSTILE_ALIVE = 1,     /* connection still usable: target checks it is */
	HOSTILE_CLOSED,        /* the target must have failed the connection */
	HOSTILE_TARGET_CLOSED, /* the attacker asked the target to san_close it */
	HOSTILE_REFUSED,       /* handshake attack: san_accept failed */
};

static inline void hostile_ctl_put(int fd, const struct hostile_msg *m)
{
	san_test_ctl_send(fd, m, sizeof(*m));
}

static inline void hostile_ctl_get(int fd, struct hostile_msg *m)
{
	CHECK(san_test_ctl_recv(fd, m, sizeof(*m)) == sizeof(*m));
}

/* ---- the attacker's side ---- */

struct hostile_conn {
	int fd;  /* raw stream to the target, -1 once closed */
	int ctl; /* control channel to the target */
	int round;
	const char *name; /* the round's name, for messages */
	const char *addr; /* the target's listen address */
	uint64_t my_nonce, peer_nonce, peer_max_msg;
	uint64_t next_id;
	unsigned seq;           /* for fresh pattern seeds */
	uint64_t craft_key;     /* key in the descriptor I handed the target */
	struct san_rdma_desc raw[HR_N]; /* descriptors as received (HR_OPBUF unused) */
	struct san_wire_desc d[HR_N];   /* ... and decoded */
	struct san_wire_desc prev_rw;   /* RW of the previous round's connection */
	int have_prev;
};

#define HFAIL(c, ...)                                                                     \
	do {                                                                              \
		fprintf(stderr, "%s:%d: [attacker] round %d (%s): ", __FILE__, __LINE__,  \
			(c)->round, (c)->name);                                           \
		fprintf(stderr, __VA_ARGS__);                                             \
		fprintf(stderr, "\n");                                                    \
		exit(1);                                                                  \
	} while (0)

static const char *const hostile_status_name[] = { "OK", "EACCES", "ERANGE", "EFAULT" };

static inline const char *hostile_st(uint32_t st)
{
	return st < 4 ? hostile_status_name[st] : "?";
}

static inline uint32_t hostile_fresh_seed(struct hostile_conn *c)
{
	return 0x1000u + 64u * (uint32_t)c->round + c->seq++;
}

static inline uint64_t hostile_random64(void)
{
	uint64_t v;

	CHECK(getrandom(&v, sizeof(v), 0) == sizeof(v));
	return v;
}

/* A raw stream to addr, with 5 s send/receive time limits. */
static inline int hostile_dial(const char *addr)
{
	struct san_addr sa;
	struct timeval tv = { .tv_sec = 5 };
	int fd;

	CHECK_OK(san__addr_parse_numeric(addr, &sa));
	fd = socket(sa.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	CHECK(connect(fd, &sa.u.sa, sa.len) == 0);
	if (sa.family != AF_UNIX) { /* a header and its payload go out at once */
		int one = 1;

		CHECK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
	}
	CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
	CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0);
	return fd;
}

/* Sends all of b. Returns 0 or -errno (the target may be gone). */
static inline int hostile_send_raw(struct hostile_conn *c, const void *b, size_t n)
{
	const char *p = b;

	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static inline void hostile_put_raw(struct hostile_conn *c, const void *b, size_t n)
{
	int rc = hostile_send_raw(c, b, n);

	if (rc)
		HFAIL(c, "sending %zu bytes to the target failed: %s", n, strerror(-rc));
}

/* Reads exactly n bytes. Returns n; 0 at EOF before the first byte; -EPIPE
 * at EOF after some; -EAGAIN after the 5 s limit; or -errno. */
static inline ssize_t hostile_get(int fd, void *b, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (char *)b + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if (r == 0)
			return got ? -EPIPE : 0;
		got += (size_t)r;
	}
	return (ssize_t)n;
}

static inline const char *hostile_get_err(ssize_t r)
{
	if (r == 0)
		return "end of stream (the target closed the connection)";
	if (r == -EAGAIN)
		return "nothing within 5 s";
	if (r == -EPIPE)
		return "end of stream in the middle";
	return strerror((int)-r);
}

/* Builds a header; flags, rsvd left 0. */
static inline struct san_wire_hdr hostile_mkhdr(uint8_t type, uint32_t status, uint64_t id,
						uint64_t key, uint64_t off, uint64_t len)
{
	struct san_wire_hdr h;

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.status = status;
	h.id = id;
	h.key = key;
	h.offset = off;
	h.len = len;
	return h;
}

static inline void hostile_put_hdr(struct hostile_conn *c, const struct san_wire_hdr *h)
{
	uint8_t b[sizeof(struct san_wire_hdr)];

	san__wire_hdr_encode(h, b);
	hostile_put_raw(c, b, sizeof(b));
}

/* Sends len bytes of pattern seed (byte i = hostile_pat(i, seed)). Returns 0
 * or -errno. */
static inline int hostile_send_pattern(struct hostile_conn *c, uint64_t len, uint32_t seed)
{
	static uint8_t chunk[65536];
	uint64_t done = 0;

	while (done < len) {
		size_t n = len - done > sizeof(chunk) ? sizeof(chunk) : (size_t)(len - done);
		int rc;

		for (size_t i = 0; i < n; i++)
			chunk[i] = hostile_pat((size_t)(done + i), seed);
		rc = hostile_send_raw(c, chunk, n);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

static inline void hostile_put_pattern(struct hostile_conn *c, uint64_t len, uint32_t seed)
{
	int rc = hostile_send_pattern(c, len, seed);

	if (rc)
		HFAIL(c, "sending a %llu-byte payload failed: %s", (unsigned long long)len,
		      strerror(-rc));
}

/* Receives one frame header from the target; it must be well formed (the
 * target only sends what docs/protocol.md allows). */
static inline void hostile_get_hdr(struct hostile_conn *c, struct san_wire_hdr *h, const char *what)
{
	uint8_t b[sizeof(struct san_wire_hdr)];
	ssize_t r = hostile_get(c->fd, b, sizeof(b));
	int rc;

	if (r != (ssize_t)sizeof(b))
		HFAIL(c, "%s: waiting for a frame from the target, got %s", what, hostile_get_err(r));
	rc = san__wire_hdr_decode(b, sizeof(b), HOSTILE_MY_MAX_MSG, h);
	if (rc)
		HFAIL(c, "%s: the target sent a malformed header (type %u flags %u status %u len %llu)",
		      what, b[0], b[1], b[4], (unsigned long long)h->len);
}

/* Sends WRITE + payload; returns the id. */
static inline uint64_t hostile_send_write(struct hostile_conn *c, uint64_t key, uint64_t off,
					  uint64_t len, uint32_t seed)
{
	uint64_t id = c->next_id++;
	struct san_wire_hdr h = hostile_mkhdr(SAN_WIRE_WRITE, 0, id, key, off, len);

	hostile_put_hdr(c, &h);
	hostile_put_pattern(c, len, seed);
	return id;
}

static inline uint64_t hostile_send_read(struct hostile_conn *c, uint64_t key, uint64_t off,
					 uint64_t len)
{
	uint64_t id = c->next_id++;
	struct san_wire_hdr h = hostile_mkhdr(SAN_WIRE_READ_REQ, 0, id, key, off, len);

	hostile_put_hdr(c, &h);
	return id;
}

/* Waits for the WRITE_ACK of id; returns its status. */
static inline uint32_t hostile_wait_ack(struct hostile_conn *c, uint64_t id, const char *what)
{
	struct san_wire_hdr h;

	hostile_get_hdr(c, &h, what);
	if (h.type != SAN_WIRE_WRITE_ACK || h.id != id)
		HFAIL(c, "%s: want WRITE_ACK id %llu, got type %u id %llu status %u", what,
		      (unsigned long long)id, h.type, (unsigned long long)h.id, h.status);
	return h.status;
}

/* Waits for the READ_RESP of id (asked len bytes); the payload goes to out
 * (NULL: dropped). Returns its status. */
static inline uint32_t hostile_wait_resp(struct hostile_conn *c, uint64_t id, uint64_t len,
					 void *out, const char *what)
{
	struct san_wire_hdr h;

	hostile_get_hdr(c, &h, what);
	if (h.type != SAN_WIRE_READ_RESP || h.id != id)
		HFAIL(c, "%s: want READ_RESP id %llu, got type %u id %llu status %u", what,
		      (unsigned long long)id, h.type, (unsigned long long)h.id, h.status);
	if (h.status == 0) {
		uint8_t tmp[4096];
		uint64_t got = 0;

		if (h.len != len)
			HFAIL(c, "%s: READ_RESP len %llu, asked %llu", what,
			      (unsigned long long)h.len, (unsigned long long)len);
		while (got < len) {
			size_t n = len - got > sizeof(tmp) ? sizeof(tmp) : (size_t)(len - got);
			ssize_t r = hostile_get(c->fd, tmp, n);

			if (r != (ssize_t)n)
				HFAIL(c, "%s: READ_RESP payload: %s", what, hostile_get_err(r));
			if (out)
				memcpy((uint8_t *)out + got, tmp, n);
			got += n;
		}
	}
	return h.status;
}

/* One WRITE of len bytes of pattern seed; the status must be want. */
static inline void hostile_write_expect(struct hostile_conn *c, uint64_t key, uint64_t off,
					uint64_t len, uint32_t seed, uint32_t want,
					const char *what)
{
	uint64_t id = hostile_send_write(c, key, off, len, seed);
	uint32_t st = hostile_wait_ack(c, id, what);

	if (st != want)
		HFAIL(c, "%s: WRITE key %#llx off %#llx len %llu: status %u (%s), want %u (%s)",
		      what, (unsigned long long)key, (unsigned long long)off,
		      (unsigned long long)len, st, hostile_st(st), want, hostile_st(want));
}

/* One READ_REQ; the status must be want; a successful payload goes to out. */
static inline void hostile_read_expect(struct hostile_conn *c, uint64_t key, uint64_t off,
				       uint64_t len, uint32_t want, void *out, const char *what)
{
	uint64_t id = hostile_send_read(c, key, off, len);
	uint32_t st = hostile_wait_resp(c, id, len, out, what);

	if (st != want)
		HFAIL(c, "%s: READ_REQ key %#llx off %#llx len %llu: status %u (%s), want %u (%s)",
		      what, (unsigned long long)key, (unsigned long long)off,
		      (unsigned long long)len, st, hostile_st(st), want, hostile_st(want));
}

/* The target must close the connection: EOF or a reset, and no frame. */
static inline void hostile_expect_eof(struct hostile_conn *c, const char *what)
{
	uint8_t b[sizeof(struct san_wire_hdr)];
	ssize_t r = hostile_get(c->fd, b, sizeof(b));

	if (r == 0 || r == -ECONNRESET || r == -EPIPE)
		return;
	if (r == (ssize_t)sizeof(b)) {
		struct san_wire_hdr h;

		if (san__wire_hdr_decode(b, sizeof(b), UINT64_MAX, &h) == 0)
			HFAIL(c, "%s: the target answered (type %u status %u (%s) id %llu) instead of "
				 "closing the connection",
			      what, h.type, h.status, hostile_st(h.status), (unsigned long long)h.id);
		HFAIL(c, "%s: the target sent bytes (type %u) instead of closing the connection",
		      what, b[0]);
	}
	HFAIL(c, "%s: want the connection closed, got %s", what,
	      r == -EAGAIN ? "no EOF within 5 s (the target kept it open)" : hostile_get_err(r));
}

/* Closes my end; with rst, abortively (TCP RST) where the transport has one. */
static inline void hostile_hangup(struct hostile_conn *c, int rst)
{
	if (rst) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
	c->fd = -1;
}

/* Sends a control request and waits for the target's reply. */
static inline void hostile_call(struct hostile_conn *c, struct hostile_msg *m)
{
	uint32_t cmd = m->cmd;

	hostile_ctl_put(c->ctl, m);
	hostile_ctl_get(c->ctl, m);
	if (m->cmd != HM_OK)
		HFAIL(c, "control request %u: reply %u", cmd, m->cmd);
}

/* Tells the target that my WRITE (acked 0) changed its region. */
static inline void hostile_wrote(struct hostile_conn *c, int region, uint64_t off, uint64_t len,
				 uint32_t seed)
{
	struct hostile_msg m = { .cmd = HM_WROTE, .region = (uint32_t)region, .off = off,
				 .len = len, .seed = seed };

	hostile_call(c, &m);
}

/* A truncated WRITE that may have partly landed (checked once the target has
 * failed the connection). */
static inline void hostile_maybe(struct hostile_conn *c, int region, uint64_t off, uint64_t len,
				 uint32_t seed)
{
	struct hostile_msg m = { .cmd = HM_MAYBE, .region = (uint32_t)region, .off = off,
				 .len = len, .seed = seed };

	hostile_call(c, &m);
}

/* The target's own operation (case .target_op) must complete now with
 * status; for a READ that succeeded, its sink holds pattern seed. */
static inline void hostile_opdone(struct hostile_conn *c, int status, uint32_t seed)
{
	struct hostile_msg m = { .cmd = HM_OPDONE, .status = status, .seed = seed };

	hostile_call(c, &m);
}

static inline void hostile_dereg(struct hostile_conn *c, int region)
{
	struct hostile_msg m = { .cmd = HM_DEREG, .region = (uint32_t)region };

	hostile_call(c, &m);
}

/* The region is registered again; its new descriptor replaces the old one. */
static inline void hostile_rereg(struct hostile_conn *c, int region)
{
	struct hostile_msg m = { .cmd = HM_REREG, .region = (uint32_t)region };

	hostile_call(c, &m);
	c->raw[region] = m.desc[region];
	CHECK_OK(san__wire_desc_decode(&c->raw[region], sizeof(c->raw[region]), &c->d[region]));
}

static inline void hostile_close_target(struct hostile_conn *c)
{
	struct hostile_msg m = { .cmd = HM_CLOSE };

	hostile_call(c, &m);
}

/* Proves that the connection still works and that the stream is still in
 * step (every refused payload was consumed): a WRITE on my own key lands, a
 * READ_REQ returns it, and a SEND reaches the target's posted receive. */
static inline void hostile_alive(struct hostile_conn *c)
{
	uint32_t seed = hostile_fresh_seed(c);
	uint8_t got[HOSTILE_ALIVE_LEN];
	struct hostile_msg m;
	struct san_wire_hdr h;

	hostile_write_expect(c, c->d[HR_RW].key, HOSTILE_ALIVE_OFF, HOSTILE_ALIVE_LEN, seed, 0,
			     "legitimate WRITE after the attack");
	hostile_wrote(c, HR_RW, HOSTILE_ALIVE_OFF, HOSTILE_ALIVE_LEN, seed);
	hostile_read_expect(c, c->d[HR_RW].key, HOSTILE_ALIVE_OFF, HOSTILE_ALIVE_LEN, 0, got,
			    "legitimate READ_REQ after the attack");
	for (size_t i = 0; i < sizeof(got); i++)
		if (got[i] != hostile_pat(i, seed))
			HFAIL(c, "legitimate READ_REQ: byte %zu is %#x, want %#x", i, got[i],
			      hostile_pat(i, seed));
	seed = hostile_fresh_seed(c);
	h = hostile_mkhdr(SAN_WIRE_SEND, 0, 0, 0, 0, HOSTILE_ALIVE_SLEN);
	hostile_put_hdr(c, &h);
	hostile_put_pattern(c, HOSTILE_ALIVE_SLEN, seed);
	memset(&m, 0, sizeof(m));
	m.cmd = HM_ALIVE;
	m.len = HOSTILE_ALIVE_SLEN;
	m.seed = seed;
	hostile_call(c, &m);
}

/* Expected content of region r (never written by anyone) at [off, off+len). */
static inline int hostile_region_pristine(int r, uint64_t off, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != hostile_pat((size_t)(HOSTILE_OFF + off + i), hostile_region_seed(r)))
			return 0;
	return 1;
}

/* ---- a round ---- */

struct hostile_case {
	const char *name;
	int (*attack)(struct hostile_conn *c); /* returns enum hostile_end */
	/* 0, or SAN_OP_RDMA_READ / SAN_OP_RDMA_WRITE: before the attack the
	 * target posts this op (HOSTILE_OP_LEN bytes at offset 0) toward the
	 * descriptor the attacker crafted, so that the attacker can answer it. */
	int target_op;
	/* The handshake is attacked: attack() connects by itself and
	 * san_accept must fail with one of accept_err (zeros ignored). */
	int handshake;
	int accept_err[3];
};

struct hostile_opts {
	unsigned max_msg_mb; /* the target's SAN_MAX_MSG_MB; 0: default */
};

struct hostile_attacker_arg {
	const struct hostile_case *cases;
	int n;
	int close_fd; /* the target's end of the honest peer's channel (inherited) */
};

static inline void hostile_child_setup(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(25);
}

/* Connects, exchanges HELLOs, hands the target a crafted descriptor and
 * learns this round's descriptors. */
static inline void hostile_handshake(struct hostile_conn *c)
{
	struct san_wire_hello me, peer;
	struct san_wire_desc craft;
	struct hostile_msg m;
	uint8_t b[sizeof(struct san_wire_hello)];
	ssize_t r;
	int rc;

	c->fd = hostile_dial(c->addr);
	memset(&me, 0, sizeof(me));
	me.magic = SAN_WIRE_MAGIC;
	me.version = SAN_WIRE_VERSION;
	me.hdr_size = sizeof(struct san_wire_hdr);
	me.max_msg = HOSTILE_MY_MAX_MSG;
	me.nonce = c->my_nonce = hostile_random64();
	san__wire_hello_encode(&me, b);
	hostile_put_raw(c, b, sizeof(b));
	r = hostile_get(c->fd, b, sizeof(b));
	if (r != (ssize_t)sizeof(b))
		HFAIL(c, "waiting for the target's HELLO: %s", hostile_get_err(r));
	rc = san__wire_hello_decode(b, sizeof(b), &peer);
	if (rc)
		HFAIL(c, "the target's HELLO does not decode: %s", strerror(-rc));
	c->peer_nonce = peer.nonce;
	c->peer_max_msg = peer.max_msg;

	do
		c->craft_key = hostile_random64();
	while (!c->craft_key);
	memset(&craft, 0, sizeof(craft));
	craft.magic = SAN_WIRE_DESC_MAGIC;
	craft.version = SAN_WIRE_VERSION;
	craft.rights = SAN_MEM_READWRITE;
	craft.key = c->craft_key;
	craft.len = HOSTILE_CRAFT_LEN;
	craft.nonce = c->my_nonce;
	memset(&m, 0, sizeof(m));
	m.cmd = HM_HELLO;
	m.nonce = c->my_nonce;
	san__wire_desc_encode(&craft, &m.desc[0]);
	hostile_ctl_put(c->ctl, &m);

	hostile_ctl_get(c->ctl, &m);
	CHECK(m.cmd == HM_INFO);
	for (int i = 0; i < HR_OPBUF; i++) {
		c->raw[i] = m.desc[i];
		rc = san__wire_desc_decode(&c->raw[i], sizeof(c->raw[i]), &c->d[i]);
		if (rc)
			HFAIL(c, "descriptor %s does not decode", hostile_region_name[i]);
		if (c->d[i].rights != hostile_region_rights[i] || c->d[i].len != HOSTILE_LEN)
			HFAIL(c, "descriptor %s: rights %u len %llu, want %d and %u",
			      hostile_region_name[i], c->d[i].rights,
			      (unsigned long long)c->d[i].len, hostile_region_rights[i], HOSTILE_LEN);
		if (i != HR_HONEST && c->d[i].nonce != c->peer_nonce)
			HFAIL(c, "descriptor %s: nonce %#llx, the target's HELLO said %#llx",
			      hostile_region_name[i], (unsigned long long)c->d[i].nonce,
			      (unsigned long long)c->peer_nonce);
	}
	for (int i = 0; i < HR_OPBUF; i++)
		for (int j = 0; j < i; j++)
			if (c->d[i].key == c->d[j].key)
				HFAIL(c, "descriptors %s and %s share key %#llx",
				      hostile_region_name[i], hostile_region_name[j],
				      (unsigned long long)c->d[i].key);
}

static inline int hostile_attacker(void *arg, int ctl)
{
	const struct hostile_attacker_arg *a = arg;
	struct san_wire_desc prev_rw;
	int have_prev = 0;
	char addr[256];

	hostile_child_setup();
	close(a->close_fd);
	san_test_mark(); /* the inherited descriptor is gone */
	memset(&prev_rw, 0, sizeof(prev_rw));
	san_test_ctl_recv(ctl, addr, sizeof(addr));
	for (int i = 0; i < a->n; i++) {
		const struct hostile_case *k = &a->cases[i];
		struct hostile_conn c;
		struct hostile_msg m;
		int end;

		memset(&c, 0, sizeof(c));
		c.fd = -1;
		c.ctl = ctl;
		c.round = i;
		c.name = k->name;
		c.addr = addr;
		c.next_id = 1 + 1000u * (uint64_t)i;
		hostile_ctl_get(ctl, &m);
		CHECK(m.cmd == HM_GO && m.off == (uint64_t)i);
		if (k->handshake) {
			end = k->attack(&c);
			CHECK(end == HOSTILE_REFUSED);
		} else {
			c.prev_rw = prev_rw;
			c.have_prev = have_prev;
			hostile_handshake(&c);
			end = k->attack(&c);
			CHECK(end == HOSTILE_ALIVE || end == HOSTILE_CLOSED ||
			      end == HOSTILE_TARGET_CLOSED);
			prev_rw = c.d[HR_RW];
			have_prev = 1;
		}
		if (end != HOSTILE_ALIVE && c.fd >= 0)
			hostile_hangup(&c, 0);
		memset(&m, 0, sizeof(m));
		m.cmd = HM_DONE;
		m.status = end;
		hostile_call(&c, &m);
		if (c.fd >= 0)
			hostile_hangup(&c, 0);
	}
	return 0;
}

/* ---- the honest peer ---- */

static inline int hostile_honest(void *arg, int ctl)
{
	size_t maplen = 4 * 4096;
	struct san_rdma_desc d;
	struct san_completion c;
	struct san_buf b;
	san_provider *p;
	san_socket *s, *s2;
	san_handle h, h2;
	uint8_t *buf, *rd;
	char addr[256];

	hostile_child_setup();
	p = san_test_provider();
	san_test_ctl_recv(ctl, addr, sizeof(addr));
	CHECK_OK(san_connect(p, addr, &s));
	CHECK(san_test_ctl_recv(ctl, &d, sizeof(d)) == sizeof(d));
	buf = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	memset(buf, 0, maplen);
	CHECK_OK(san_register_memory(s, buf, 3 * 4096, SAN_MEM_READWRITE, &h));

	san_test_sync(ctl, "attacks-done");

	/* RDMA write into the target, then read the whole registration back. */
	san_test_fill(buf, HOSTILE_HONEST_WLEN, HOSTILE_HONEST_WSEED);
	b = (struct san_buf){ buf, HOSTILE_HONEST_WLEN, h };
	CHECK_OK(san_rdma_write(s, &b, 1, &d, HOSTILE_HONEST_WOFF, &d));
	c = san_test_wait_one(s, 5000);
	CHECK_RC(c.status, 0);
	CHECK(c.ctx == &d && c.op == SAN_OP_RDMA_WRITE && c.bytes == HOSTILE_HONEST_WLEN);

	rd = buf + 4096;
	b = (struct san_buf){ rd, HOSTILE_LEN, h };
	CHECK_OK(san_rdma_read(s, &b, 1, &d, 0, &b));
	c = san_test_wait_one(s, 5000);
	CHECK_RC(c.status, 0);
	CHECK(c.ctx == &b && c.op == SAN_OP_RDMA_READ && c.bytes == HOSTILE_LEN);
	for (size_t i = 0; i < HOSTILE_LEN; i++) {
		uint8_t want = hostile_pat(HOSTILE_OFF + i, hostile_region_seed(HR_HONEST));

		if (i >= HOSTILE_HONEST_WOFF && i < HOSTILE_HONEST_WOFF + HOSTILE_HONEST_WLEN)
			want = hostile_pat(i - HOSTILE_HONEST_WOFF, HOSTILE_HONEST_WSEED);
		if (rd[i] != want) {
			fprintf(stderr, "[honest] RDMA read: byte %zu is %#x, want %#x\n", i, rd[i],
				want);
			exit(1);
		}
	}

	/* A message. */
	san_test_fill(buf, HOSTILE_HONEST_SLEN, HOSTILE_HONEST_SSEED);
	b = (struct san_buf){ buf, HOSTILE_HONEST_SLEN, h };
	CHECK_OK(san_send(s, &b, 1, buf));
	c = san_test_wait_one(s, 5000);
	CHECK_RC(c.status, 0);
	CHECK(c.ctx == buf && c.op == SAN_OP_SEND && c.bytes == HOSTILE_HONEST_SLEN);
	san_test_sync(ctl, "honest-done");

	/* The listener still takes new honest peers. */
	CHECK_OK(san_connect(p, addr, &s2));
	san_test_fill(buf + 3 * 4096, HOSTILE_HONEST_SLEN, HOSTILE_HONEST2_SSEED);
	CHECK_OK(san_register_memory(s2, buf + 3 * 4096, 4096, SAN_MEM_READ, &h2));
	san_test_sync(ctl, "h2-ready");
	b = (struct san_buf){ buf + 3 * 4096, HOSTILE_HONEST_SLEN, h2 };
	CHECK_OK(san_send(s2, &b, 1, NULL));
	c = san_test_wait_one(s2, 5000);
	CHECK_RC(c.status, 0);
	CHECK(c.bytes == HOSTILE_HONEST_SLEN);
	san_test_sync(ctl, "h2-done");

	CHECK_OK(san_close(s2));
	CHECK_OK(san_close(s));
	san_provider_close(p);
	CHECK(munmap(buf, maplen) == 0);
	return 0;
}

/* ---- the target ---- */

struct hostile_target {
	san_provider *p;
	san_listener *l;
	char addr[256];
	int ctl_a, ctl_h;
	san_socket *h, *a;
	uint8_t *arena[HR_N], *shadow[HR_N];
	uint8_t *rbuf; /* receive buffers: A at 0, H at 4096, H2 at 8192 */
	san_handle rh, oph, hh;
	struct san_rdma_desc desc[HR_N];
	struct san_rdma_desc craft; /* the attacker's descriptor */
	int round;
	const struct hostile_case *k;
	/* completion bookkeeping for A; the ctx pointers are these fields */
	int recv_posted, recv_done, recv_status;
	size_t recv_bytes;
	int op_posted, op_done, op_status;
	struct hostile_msg maybe[8];
	int nmaybe;
};

#define TFAIL(t, ...)                                                                     \
	do {                                                                              \
		fprintf(stderr, "%s:%d: [target] round %d (%s): ", __FILE__, __LINE__,   \
			(t)->round, (t)->k ? (t)->k->name : "-");                         \
		fprintf(stderr, __VA_ARGS__);                                             \
		fprintf(stderr, "\n");                                                    \
		exit(1);                                                                  \
	} while (0)

static inline void hostile_verify(struct hostile_target *t, int r, const char *when)
{
	const uint8_t *a = t->arena[r], *s = t->shadow[r];
	size_t first = SIZE_MAX, n = 0;

	for (size_t i = 0; i < HOSTILE_ARENA; i++)
		if (a[i] != s[i]) {
			if (first == SIZE_MAX)
				first = i;
			n++;
		}
	if (n)
		TFAIL(t, "%s: region %s changed: %zu bytes differ, first at registration offset "
			 "%lld (%#x, want %#x)",
		      when, hostile_region_name[r], n, (long long)first - HOSTILE_OFF, a[first],
		      s[first]);
}

static inline void hostile_verify_all(struct hostile_target *t, const char *when)
{
	for (int r = 0; r < HR_N; r++)
		hostile_verify(t, r, when);
}

static inline void hostile_target_complete(struct hostile_target *t,
					   const struct san_completion *c, int n)
{
	for (int i = 0; i < n; i++) {
		if (c[i].ctx == &t->recv_posted) {
			t->recv_done = 1;
			t->recv_status = c[i].status;
			t->recv_bytes = c[i].bytes;
		} else if (c[i].ctx == &t->op_posted) {
			t->op_done = 1;
			t->op_status = c[i].status;
		} else {
			TFAIL(t, "completion with unknown ctx %p (op %d status %d)", c[i].ctx,
			      c[i].op, c[i].status);
		}
	}
}

/* Polls A until *flag is set (5 s at most). */
static inline void hostile_target_wait(struct hostile_target *t, const int *flag, const char *what)
{
	uint64_t end = san__now_ns() + 5000000000ull;

	while (!*flag) {
		struct san_completion c[8];
		int rc = san_poll(t->a, c, 8, 100);

		if (rc < 0)
			TFAIL(t, "san_poll = %d (%s) while waiting for %s", rc, san_strerror(rc), what);
		hostile_target_complete(t, c, rc);
		if (!*flag && san__now_ns() > end)
			TFAIL(t, "no completion of %s within 5 s", what);
	}
}

static inline void hostile_post_recv(struct hostile_target *t)
{
	struct san_buf b = { t->rbuf, 4096, t->rh };

	memset(t->rbuf, 0, 4096);
	t->recv_done = 0;
	t->recv_posted = 1;
	CHECK_OK(san_recv(t->a, &b, 1, &t->recv_posted));
}

/* The attacker's connection is over by the target's own decision: every
 * outstanding operation completes with -ECONNRESET, then san_poll returns
 * -ECONNRESET, and a new post is refused. */
static inline void hostile_target_expect_failed(struct hostile_target *t)
{
	uint64_t end = san__now_ns() + 5000000000ull;
	struct san_buf b = { t->rbuf, 4096, t->rh };
	int rc;

	for (;;) {
		struct san_completion c[8];

		rc = san_poll(t->a, c, 8, 100);
		if (rc == -ECONNRESET)
			break;
		if (rc < 0)
			TFAIL(t, "san_poll = %d (%s), want -ECONNRESET", rc, san_strerror(rc));
		for (int i = 0; i < rc; i++)
			if (c[i].status != -ECONNRESET)
				TFAIL(t, "after the connection failed: completion op %d status %d "
					 "(%s), want -ECONNRESET",
				      c[i].op, c[i].status, san_strerror(c[i].status));
		hostile_target_complete(t, c, rc);
		if (san__now_ns() > end)
			TFAIL(t, "the target did not fail the connection within 5 s (san_poll "
				 "still returns %d)",
			      rc);
	}
	if (t->recv_posted && !t->recv_done)
		TFAIL(t, "san_poll returned -ECONNRESET but the posted receive never completed");
	if (t->op_posted && !t->op_done)
		TFAIL(t, "san_poll returned -ECONNRESET but the target's own op never completed");
	rc = san_recv(t->a, &b, 1, NULL);
	if (rc != -ECONNRESET && rc != -ENOTCONN)
		TFAIL(t, "san_recv on the failed connection = %d (%s), want -ECONNRESET", rc,
		      san_strerror(rc));
}

/* Applies a truncated WRITE that may have partly landed: every byte of the
 * range is either the old or the new one; then the shadow takes what is
 * there. */
static inline void hostile_apply_maybe(struct hostile_target *t, const struct hostile_msg *m)
{
	uint8_t *a = t->arena[m->region] + HOSTILE_OFF + m->off;
	uint8_t *s = t->shadow[m->region] + HOSTILE_OFF + m->off;
	size_t landed = 0;

	for (size_t i = 0; i < m->len; i++) {
		uint8_t nw = hostile_pat(i, m->seed);

		if (a[i] != s[i] && a[i] != nw)
			TFAIL(t, "truncated WRITE: region %s offset %llu is %#x: neither old %#x nor "
				 "new %#x",
			      hostile_region_name[m->region], (unsigned long long)(m->off + i), a[i],
			      s[i], nw);
		landed += a[i] == nw && s[i] != nw;
		s[i] = a[i];
	}
	printf("round %d (%s): %zu of %llu bytes of the truncated frame landed\n", t->round,
	       t->k->name, landed, (unsigned long long)m->len);
}

static inline void hostile_check_keys(struct hostile_target *t, uint64_t want)
{
	struct san_stats st;

	CHECK_OK(san_get_stats(t->p, &st));
	if (st.keys_active != want)
		TFAIL(t, "keys_active = %llu, want %llu", (unsigned long long)st.keys_active,
		      (unsigned long long)want);
}

static inline void hostile_target_handshake_round(struct hostile_target *t)
{
	const struct hostile_case *k = t->k;
	struct hostile_msg m;
	san_socket *s = NULL;
	int rc = san_accept(t->l, 3000, &s);
	int ok = 0;

	for (int i = 0; i < 3; i++)
		ok |= k->accept_err[i] && rc == k->accept_err[i];
	if (!ok) {
		fprintf(stderr, "[target] round %d (%s): san_accept = %d (%s), want", t->round,
			k->name, rc, san_strerror(rc));
		for (int i = 0; i < 3; i++)
			if (k->accept_err[i])
				fprintf(stderr, " %d (%s)", k->accept_err[i],
					san_strerror(k->accept_err[i]));
		fprintf(stderr, "\n");
		exit(1);
	}
	printf("round %d (%s): san_accept = %d (%s)\n", t->round, k->name, rc, san_strerror(rc));
	hostile_ctl_get(t->ctl_a, &m);
	CHECK(m.cmd == HM_DONE && m.status == HOSTILE_REFUSED);
	hostile_verify_all(t, "after the round");
	memset(&m, 0, sizeof(m));
	m.cmd = HM_OK;
	hostile_ctl_put(t->ctl_a, &m);
}

static inline void hostile_target_round(struct hostile_target *t)
{
	const struct hostile_case *k = t->k;
	struct hostile_msg m;
	struct san_buf b;
	int end = 0;

	memset(&m, 0, sizeof(m));
	m.cmd = HM_GO;
	m.off = (uint64_t)t->round;
	hostile_ctl_put(t->ctl_a, &m);
	if (k->handshake) {
		hostile_target_handshake_round(t);
		return;
	}

	CHECK_OK(san_accept(t->l, 5000, &t->a));
	hostile_ctl_get(t->ctl_a, &m);
	CHECK(m.cmd == HM_HELLO);
	t->craft = m.desc[0];
	t->recv_posted = t->recv_done = t->op_posted = t->op_done = 0;
	t->nmaybe = 0;
	for (int r = 0; r < HR_HONEST; r++)
		CHECK_OK(san_register_rdma_memory(t->a, t->arena[r] + HOSTILE_OFF, HOSTILE_LEN,
						  hostile_region_rights[r], &t->desc[r]));
	CHECK_OK(san_register_memory(t->a, t->arena[HR_OPBUF] + HOSTILE_OFF, HOSTILE_LEN,
				     SAN_MEM_READWRITE, &t->oph));
	CHECK_OK(san_register_memory(t->a, t->rbuf, 4096, SAN_MEM_WRITE, &t->rh));
	hostile_post_recv(t);
	if (k->target_op) {
		b = (struct san_buf){ t->arena[HR_OPBUF] + HOSTILE_OFF, HOSTILE_OP_LEN, t->oph };
		if (k->target_op == SAN_OP_RDMA_WRITE)
			b.buf = (uint8_t *)b.buf + HOSTILE_OP_WSRC;
		t->op_posted = 1;
		if (k->target_op == SAN_OP_RDMA_READ)
			CHECK_OK(san_rdma_read(t->a, &b, 1, &t->craft, 0, &t->op_posted));
		else
			CHECK_OK(san_rdma_write(t->a, &b, 1, &t->craft, 0, &t->op_posted));
	}
	memset(&m, 0, sizeof(m));
	m.cmd = HM_INFO;
	memcpy(m.desc, t->desc, sizeof(m.desc));
	hostile_ctl_put(t->ctl_a, &m);

	while (!end) {
		hostile_ctl_get(t->ctl_a, &m);
		switch (m.cmd) {
		case HM_WROTE:
			CHECK(m.region < HR_N && m.off + m.len <= HOSTILE_LEN);
			san_test_fill(t->shadow[m.region] + HOSTILE_OFF + m.off, m.len, m.seed);
			hostile_verify(t, (int)m.region, "after an accepted WRITE");
			break;
		case HM_MAYBE:
			CHECK(m.region < HR_N && m.off + m.len <= HOSTILE_LEN &&
			      t->nmaybe < (int)SAN_ARRAY_SIZE(t->maybe));
			t->maybe[t->nmaybe++] = m;
			break;
		case HM_ALIVE:
			hostile_target_wait(t, &t->recv_done, "the attacker's SEND");
			if (t->recv_status || t->recv_bytes != m.len ||
			    !san_test_verify(t->rbuf, m.len, m.seed))
				TFAIL(t, "the attacker's SEND: status %d (%s), %zu bytes (want %llu)%s",
				      t->recv_status, san_strerror(t->recv_status), t->recv_bytes,
				      (unsigned long long)m.len,
				      san_test_verify(t->rbuf, m.len, m.seed) ? "" : ", wrong data");
			hostile_post_recv(t);
			hostile_verify_all(t, "after the legitimate operations");
			break;
		case HM_OPDONE:
			if (!t->op_posted)
				TFAIL(t, "HM_OPDONE without a target op");
			hostile_target_wait(t, &t->op_done, "the target's own op");
			if (t->op_status != m.status)
				TFAIL(t, "the target's own op completed with %d (%s), want %d (%s)",
				      t->op_status, san_strerror(t->op_status), m.status,
				      san_strerror(m.status));
			if (m.status == 0 && k->target_op == SAN_OP_RDMA_READ)
				san_test_fill(t->shadow[HR_OPBUF] + HOSTILE_OFF, HOSTILE_OP_LEN, m.seed);
			hostile_verify_all(t, "after the target's own op");
			break;
		case HM_DEREG:
			CHECK(m.region < HR_HONEST);
			CHECK_OK(san_deregister_rdma_memory(t->a, &t->desc[m.region]));
			CHECK_RC(san_deregister_rdma_memory(t->a, &t->desc[m.region]), -EINVAL);
			break;
		case HM_REREG:
			CHECK(m.region < HR_HONEST);
			CHECK_OK(san_register_rdma_memory(t->a, t->arena[m.region] + HOSTILE_OFF,
							  HOSTILE_LEN, hostile_region_rights[m.region],
							  &t->desc[m.region]));
			memcpy(m.desc, t->desc, sizeof(m.desc));
			break;
		case HM_CLOSE:
			CHECK_OK(san_close(t->a));
			t->a = NULL;
			break;
		case HM_DONE:
			end = m.status;
			break;
		default:
			TFAIL(t, "unknown control command %u", m.cmd);
		}
		if (!end) {
			m.cmd = HM_OK;
			hostile_ctl_put(t->ctl_a, &m);
		}
	}

	switch (end) {
	case HOSTILE_ALIVE: {
		struct san_completion c[8];
		int rc = san_poll(t->a, c, 8, 0);

		if (rc != 0)
			TFAIL(t, "the connection should be healthy and idle: san_poll = %d (%s)", rc,
			      rc < 0 ? san_strerror(rc) : "a completion");
		break;
	}
	case HOSTILE_CLOSED:
		hostile_target_expect_failed(t);
		break;
	case HOSTILE_TARGET_CLOSED:
		if (t->a)
			TFAIL(t, "HOSTILE_TARGET_CLOSED without HM_CLOSE");
		break;
	default:
		TFAIL(t, "bad end %d", end);
	}
	if (t->a)
		CHECK_OK(san_close(t->a));
	t->a = NULL;
	for (int i = 0; i < t->nmaybe; i++)
		hostile_apply_maybe(t, &t->maybe[i]);
	hostile_verify_all(t, "after the round");
	hostile_check_keys(t, 1); /* only H's descriptor is left */
	printf("round %d (%s): ok\n", t->round, k->name);
	memset(&m, 0, sizeof(m));
	m.cmd = HM_OK;
	hostile_ctl_put(t->ctl_a, &m);
}

/* The honest connection after all the rounds: its data is right, and the
 * listener takes a new connection. */
static inline void hostile_target_honest(struct hostile_target *t)
{
	struct san_completion c;
	struct san_buf b = { t->rbuf + 4096, 4096, t->hh };
	san_socket *h2;
	san_handle hh2;

	t->k = NULL;
	t->round = -1;
	memset(t->rbuf + 4096, 0, 8192);
	CHECK_OK(san_recv(t->h, &b, 1, &t->hh));
	san_test_sync(t->ctl_h, "attacks-done");
	san_test_sync(t->ctl_h, "honest-done");
	c = san_test_wait_one(t->h, 5000);
	CHECK_RC(c.status, 0);
	CHECK(c.ctx == &t->hh && c.op == SAN_OP_RECV && c.bytes == HOSTILE_HONEST_SLEN);
	CHECK(san_test_verify(t->rbuf + 4096, HOSTILE_HONEST_SLEN, HOSTILE_HONEST_SSEED));
	san_test_fill(t->shadow[HR_HONEST] + HOSTILE_OFF + HOSTILE_HONEST_WOFF, HOSTILE_HONEST_WLEN,
		      HOSTILE_HONEST_WSEED);
	hostile_verify_all(t, "after the honest peer's operations");

	CHECK_OK(san_accept(t->l, 5000, &h2));
	CHECK_OK(san_register_memory(h2, t->rbuf + 8192, 4096, SAN_MEM_WRITE, &hh2));
	b = (struct san_buf){ t->rbuf + 8192, 4096, hh2 };
	CHECK_OK(san_recv(h2, &b, 1, &hh2));
	san_test_sync(t->ctl_h, "h2-ready");
	c = san_test_wait_one(h2, 5000);
	CHECK_RC(c.status, 0);
	CHECK(c.ctx == &hh2 && c.bytes == HOSTILE_HONEST_SLEN);
	CHECK(san_test_verify(t->rbuf + 8192, HOSTILE_HONEST_SLEN, HOSTILE_HONEST2_SSEED));
	san_test_sync(t->ctl_h, "h2-done");
	CHECK_OK(san_close(h2));
	printf("honest peer: ok\n");
}

static inline int hostile_run(const struct hostile_case *cases, int n, const struct hostile_opts *o)
{
	struct hostile_target T, *t = &T;
	struct hostile_attacker_arg aa;
	struct san_config cfg;
	char buf[256];
	pid_t ph, pa;
	int rc;

	san_test_start(20);
	memset(t, 0, sizeof(*t));
	/* Both peers are forked before any provider exists. */
	ph = san_test_fork(hostile_honest, NULL, &t->ctl_h);
	aa = (struct hostile_attacker_arg){ cases, n, t->ctl_h };
	pa = san_test_fork(hostile_attacker, &aa, &t->ctl_a);

	san_config_init(&cfg);
	if (o && o->max_msg_mb)
		cfg.max_msg_mb = o->max_msg_mb;
	rc = san_provider_open(&cfg, &t->p);
	if (rc == -ENOSYS || rc == -EPERM)
		san_test_skip("io_uring unavailable: %s", san_strerror(rc));
	CHECK_OK(rc);

	for (int r = 0; r < HR_N; r++) {
		t->arena[r] = mmap(NULL, HOSTILE_ARENA, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(t->arena[r] != MAP_FAILED);
		san_test_fill(t->arena[r], HOSTILE_ARENA, hostile_region_seed(r));
		t->shadow[r] = malloc(HOSTILE_ARENA);
		CHECK(t->shadow[r]);
		memcpy(t->shadow[r], t->arena[r], HOSTILE_ARENA);
	}
	t->rbuf = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(t->rbuf != MAP_FAILED);
	memset(t->rbuf, 0, 3 * 4096);

	CHECK_OK(san_listen(t->p, san_test_listen_addr(buf, sizeof(buf)), &t->l));
	CHECK(san_listener_addr(t->l, t->addr, sizeof(t->addr)) > 0);
	printf("target listening on %s\n", t->addr);

	san_test_ctl_send_str(t->ctl_h, t->addr);
	CHECK_OK(san_accept(t->l, 10000, &t->h));
	CHECK_OK(san_register_rdma_memory(t->h, t->arena[HR_HONEST] + HOSTILE_OFF, HOSTILE_LEN,
					  SAN_MEM_READWRITE, &t->desc[HR_HONEST]));
	CHECK_OK(san_register_memory(t->h, t->rbuf + 4096, 4096, SAN_MEM_WRITE, &t->hh));
	san_test_ctl_send(t->ctl_h, &t->desc[HR_HONEST], sizeof(t->desc[HR_HONEST]));

	san_test_ctl_send_str(t->ctl_a, t->addr);
	for (int i = 0; i < n; i++) {
		t->round = i;
		t->k = &cases[i];
		hostile_target_round(t);
	}

	hostile_target_honest(t);

	CHECK_OK(san_close(t->h));
	san_listener_close(t->l);
	san_provider_close(t->p);
	for (int r = 0; r < HR_N; r++) {
		CHECK(munmap(t->arena[r], HOSTILE_ARENA) == 0);
		free(t->shadow[r]);
	}
	CHECK(munmap(t->rbuf, 3 * 4096) == 0);
	san_test_wait(pa, t->ctl_a);
	san_test_wait(ph, t->ctl_h);
	san_test_check_leaks();
	printf("PASS\n");
	return 0;
}

#endif
