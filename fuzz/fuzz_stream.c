/* SPDX-License-Identifier: MIT */
/*
 * The receive engine (nic/nic_rx.c) fed a hostile peer's byte stream: the
 * whole path from the socket through rx_header, key_check, payload
 * placement, draining, responses and teardown, in the real provider.
 *
 * One provider and one listener (Unix, abstract name) per process, reused
 * by every input (opening a provider per input would spend the time in
 * io_uring setup); a new connection per input. The fuzzer plays the peer
 * with a raw socket:
 *
 *   1. connect, HELLO (a valid one, or 32 bytes of the input), san_accept
 *      -- whose answer must be what protocol.md §1 says of those bytes;
 *   2. the target registers four RDMA regions in separate arenas with
 *      unregistered guard bytes around them -- RW, RO (READ), WO (WRITE),
 *      REV (registered, then revoked) -- and two local ones: a receive
 *      buffer (two SG elements with a gap) and a buffer for its own
 *      operations; it posts a receive and, unless told not to, an RDMA
 *      write and an RDMA read toward the peer (and maybe a send);
 *   3. the rest of the input is written as the peer's byte stream after the
 *      HELLO, then the raw socket is shut for writing; the target is polled
 *      until san_poll says -ECONNRESET, reposting each receive that
 *      completes, and everything the target writes back is collected;
 *   4. san_close, and the checks.
 *
 * Keys are random, so the harness substitutes them: in a WRITE or READ_REQ
 * header, key 1..6 means RW, RO, WO, REV, the key of a region registered on
 * another connection that stays open for the whole run (OTHER), or the RW
 * key of the previous input's (closed) connection; any other value goes out
 * as it is.
 *
 * The oracle is a model of protocol.md §2-§5 written here, independent of
 * nic_rx.c: it walks the same stream and predicts, frame by frame, what
 * the target must do. Checked against it:
 *   - every byte of every arena (guards included): a region changes only
 *     through WRITEs the model accepts (key present, right granted,
 *     offset/len inside), a receive only through SEND payload, the RDMA
 *     read sink only through a matching READ_RESP; RO, REV and OTHER never;
 *   - every completion: each receive's status, byte count and data; the
 *     target's own RDMA write/read status (the peer's answer, or
 *     -ECONNRESET once the connection failed);
 *   - every response the target sent: type, id, status and length in
 *     request order; READ_RESP payload only bytes of the region asked for;
 *     the target's own frames well-formed and within the peer's max_msg;
 *   - no key of the closed connection is left (keys_active: OTHER only), no
 *     file descriptor leaked, pinned bytes do not grow from input to input.
 * Ids: the target's operations get ids 1, 2, ... in posting order (the
 * receive first unless F_LATE_RECV), which the seeds use to answer them.
 *
 * Input: a flags byte (enum below), [32 bytes of HELLO with F_RAW_HELLO],
 * then the stream.
 */
#include "fuzz.h"
#include "nic/wire.h"
#include "util/util.h"

#include <san.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
	F_RAW_HELLO = 1, /* the next 32 bytes are the client's HELLO */
	F_NO_OPS = 2,    /* the target posts no RDMA write/read toward the peer */
	F_LATE_RECV = 4, /* the target posts its first receive only after the stream is in */
	F_SEND = 8,      /* the target also sends a message */
};

enum { RG_RW, RG_RO, RG_WO, RG_REV, RG_RECV, RG_OP, RG_N };
static const char *const rg_name[RG_N] = { "RW", "RO", "WO", "REV", "RECV", "OP" };
static const int rg_rights[RG_N] = { SAN_MEM_READWRITE, SAN_MEM_READ, SAN_MEM_WRITE,
				     SAN_MEM_READWRITE, SAN_MEM_WRITE, SAN_MEM_READWRITE };

#define HDR sizeof(struct san_wire_hdr)
#define ARENA (3 * 4096) /* one mapping per region */
#define REG_OFF 1000     /* every registration starts here ... */
#define REG_LEN 8000u    /* ... and is this long: guard bytes on both sides */
#define NKEYIDX 6        /* key indices 1..6 in the input */
#define MAX_MSG (1u << 20) /* the target's max_msg (SAN_MAX_MSG_MB=1) */
#define OP_LEN 64          /* the target's RDMA write source / read sink */
#define OP_RSINK REG_OFF
#define OP_WSRC (REG_OFF + 1024)
#define SEND_LEN 100
#define OP_SSRC (REG_OFF + 2048)
#define CRAFT_KEY 0x600dfeedull /* key of the descriptor the peer "gave" */
#define RECV_LEN 256
static const struct {
	size_t off, len;
} recv_sge[2] = { { REG_OFF, 100 }, { REG_OFF + 300, 156 } };
#define OUT_CAP (8u << 20)
#define DEADLINE_NS 5000000000ull

static struct {
	san_provider *p;
	san_listener *l;
	struct san_addr addr;
	uint8_t *arena[RG_N];
	uint8_t pattern[RG_N][ARENA];
	/* the other connection: registered RW, its peer never speaks */
	san_socket *other;
	int other_fd;
	uint8_t *other_arena, other_pattern[ARENA];
	uint64_t other_key;
	uint64_t prev_key;
	int sockets; /* socket fds open between inputs: listener, other connection */
	uint8_t *out; /* OUT_CAP bytes: what the target sends */
	int verbose;  /* FUZZ_STREAM_VERBOSE=1: one line per input */
	uint64_t pinned;
} G;

/* ---- the model: protocol.md, frame by frame ---- */

struct exp_resp {
	uint8_t type;
	uint32_t status;
	uint64_t id, len;
	int rg;        /* READ_RESP with payload: what was asked for */
	uint64_t off;
	uint8_t *snap; /* the region's bytes when the request was read */
	int wlog_at;   /* later writes may show in the payload too */
};

struct wlog {
	int rg;
	size_t at, len;
	const uint8_t *data;
};

struct model {
	uint8_t shadow[RG_N][ARENA];
	struct { size_t off, len; } *sends; /* complete SENDs: payload in the stream */
	int nsends;
	int partial;                        /* the stream ends inside a SEND ... */
	size_t partial_off, partial_got;    /* ... whose payload starts here, this much came */
	struct exp_resp *resps;
	int nresps;
	struct wlog *wlog;
	int nwlog;
	struct { int op; uint64_t id; } await[2]; /* the target's ops awaiting an answer */
	int nawait, ahead;
	int w_status, r_status;             /* expected completions of those ops */
};

static int wire_errno(uint32_t st)
{
	return st == SAN_WIRE_EACCES ? -EACCES : st == SAN_WIRE_ERANGE ? -ERANGE : -EFAULT;
}

/* protocol.md §4 against the table this connection has: idx 1..3 live,
 * 4 revoked, 5 and 6 other connections', 0 anything else. Returns the
 * status and, for OK, the region. */
static uint32_t model_check(int idx, int right, uint64_t off, uint64_t len, int *rg)
{
	if (idx < 1 || idx > 3)
		return SAN_WIRE_EACCES;
	*rg = idx - 1;
	if (!(rg_rights[*rg] & right))
		return SAN_WIRE_EACCES;
	if (off > REG_LEN || len > REG_LEN - off)
		return SAN_WIRE_ERANGE;
	return SAN_WIRE_OK;
}

static void model_resp(struct model *m, uint8_t type, uint64_t id, uint32_t st, uint64_t len,
		       int rg, uint64_t off)
{
	struct exp_resp *e = &m->resps[m->nresps++];

	*e = (struct exp_resp){ .type = type, .status = st, .id = id, .len = len, .rg = rg,
				.off = off, .wlog_at = m->nwlog };
	if (len) {
		e->snap = malloc(len);
		memcpy(e->snap, m->shadow[rg] + REG_OFF + off, len);
	}
}

/* Walks the stream s[0..n) as the target must, substituting keys in place.
 * Stops where the target stops reading: end of stream, a truncated frame,
 * or a protocol error (§5). */
static void model_run(struct model *m, uint8_t *s, size_t n, const uint64_t *keys)
{
	size_t pos = 0;

	for (;;) {
		struct san_wire_hdr h;
		size_t avail, got;
		uint32_t st;
		int idx = 0, rg = -1;

		if (n - pos < HDR)
			return; /* end of stream, maybe inside a header */
		if (san__wire_hdr_decode(s + pos, HDR, MAX_MSG, &h))
			return; /* protocol error: the connection closes */
		if ((h.type == SAN_WIRE_WRITE || h.type == SAN_WIRE_READ_REQ) && h.key >= 1 &&
		    h.key <= NKEYIDX) {
			idx = (int)h.key;
			fuzz_put64(s + pos + 16, keys[idx - 1]);
		}
		pos += HDR;
		avail = n - pos;
		switch (h.type) {
		case SAN_WIRE_SEND:
			if (h.len > avail) {
				m->partial = 1;
				m->partial_off = pos;
				m->partial_got = avail;
				return;
			}
			m->sends[m->nsends].off = pos;
			m->sends[m->nsends++].len = h.len;
			pos += h.len;
			break;
		case SAN_WIRE_WRITE:
			st = model_check(idx, SAN_MEM_WRITE, h.offset, h.len, &rg);
			got = SAN_MIN(h.len, avail);
			if (st == SAN_WIRE_OK && got) {
				memcpy(m->shadow[rg] + REG_OFF + h.offset, s + pos, got);
				m->wlog[m->nwlog++] = (struct wlog){ rg, REG_OFF + h.offset, got, s + pos };
			}
			if (got < h.len)
				return; /* truncated: placed what came, no answer */
			model_resp(m, SAN_WIRE_WRITE_ACK, h.id, st, 0, -1, 0);
			pos += h.len;
			break;
		case SAN_WIRE_READ_REQ:
			st = model_check(idx, SAN_MEM_READ, h.offset, h.len, &rg);
			model_resp(m, SAN_WIRE_READ_RESP, h.id, st, st ? 0 : h.len, rg, h.offset);
			break;
		case SAN_WIRE_WRITE_ACK:
			if (m->ahead == m->nawait || m->await[m->ahead].op != SAN_OP_RDMA_WRITE ||
			    m->await[m->ahead].id != h.id)
				return; /* answers nothing outstanding */
			m->ahead++;
			m->w_status = h.status ? wire_errno(h.status) : 0;
			break;
		case SAN_WIRE_READ_RESP:
			if (m->ahead == m->nawait || m->await[m->ahead].op != SAN_OP_RDMA_READ ||
			    m->await[m->ahead].id != h.id)
				return;
			if (h.status) {
				m->ahead++;
				m->r_status = wire_errno(h.status);
				break;
			}
			if (h.len != OP_LEN)
				return; /* not the length asked for */
			m->ahead++;
			got = SAN_MIN((size_t)OP_LEN, avail);
			memcpy(m->shadow[RG_OP] + OP_RSINK, s + pos, got);
			if (got < OP_LEN)
				return; /* truncated: the read fails */
			m->r_status = 0;
			pos += OP_LEN;
			break;
		}
	}
}

static void model_free(struct model *m)
{
	for (int i = 0; i < m->nresps; i++)
		free(m->resps[i].snap);
	free(m->resps);
	free(m->sends);
	free(m->wlog);
	free(m);
}

/* ---- the run ---- */

struct run {
	int flags;
	san_socket *s;
	int fd;                    /* the peer's raw socket */
	uint64_t peer_max;         /* max_msg of the HELLO the peer sent */
	san_handle h_recv, h_op;
	int w_posted, r_posted, s_posted, recv_posted;
	uint64_t w_id, r_id;
	int w_done, r_done, s_done, nrecv, recv_reset;
	const uint8_t *stream;
	uint8_t *out;              /* what the target sent after its HELLO */
	size_t nout;
	int eof;
	struct model *m;
};

static int ctx_recv, ctx_w, ctx_r, ctx_s;

static void post_recv(struct run *r)
{
	struct san_buf b[2];
	int rc;

	for (int i = 0; i < 2; i++)
		b[i] = (struct san_buf){ G.arena[RG_RECV] + recv_sge[i].off, recv_sge[i].len, r->h_recv };
	rc = san_recv(r->s, b, 2, &ctx_recv);
	FUZZ_CHECK(rc == 0 || rc == -ECONNRESET, "san_recv = %d", rc);
	r->recv_posted = 1;
}

static int drain(struct run *r)
{
	int any = 0;

	while (!r->eof) {
		uint8_t junk[4096];
		int room = r->nout < OUT_CAP;
		ssize_t n = recv(r->fd, room ? r->out + r->nout : junk,
				 room ? OUT_CAP - r->nout : sizeof(junk), MSG_DONTWAIT);

		if (n > 0) {
			if (room)
				r->nout += (size_t)n;
			any = 1;
		} else if (n == 0) {
			r->eof = 1;
		} else if (errno == EINTR) {
			continue;
		} else {
			FUZZ_CHECK(errno == EAGAIN || errno == ECONNRESET, "recv: %s", strerror(errno));
			if (errno == ECONNRESET)
				r->eof = 1;
			break;
		}
	}
	return any;
}

static void on_completion(struct run *r, const struct san_completion *c)
{
	struct model *m = r->m;

	if (c->ctx == &ctx_recv) {
		size_t want_bytes, got = 0, len;
		int want_status;

		FUZZ_CHECK(c->op == SAN_OP_RECV, "op %d", c->op);
		if (c->status == -ECONNRESET) {
			r->recv_reset++;
			return;
		}
		FUZZ_CHECK(r->nrecv < m->nsends, "receive #%d completed (status %d, %zu bytes) "
			   "but the stream has %d complete SENDs", r->nrecv, c->status, c->bytes,
			   m->nsends);
		len = m->sends[r->nrecv].len;
		want_bytes = SAN_MIN(len, (size_t)RECV_LEN);
		want_status = len > RECV_LEN ? -EMSGSIZE : 0;
		FUZZ_CHECK(c->status == want_status && c->bytes == want_bytes,
			   "receive #%d: status %d bytes %zu, want %d %zu (SEND of %zu)", r->nrecv,
			   c->status, c->bytes, want_status, want_bytes, len);
		for (int i = 0; i < 2 && got < want_bytes; i++) {
			size_t k = SAN_MIN(recv_sge[i].len, want_bytes - got);

			FUZZ_CHECK(!memcmp(G.arena[RG_RECV] + recv_sge[i].off,
					   r->stream + m->sends[r->nrecv].off + got, k),
				   "receive #%d: element %d holds the wrong bytes", r->nrecv, i);
			got += k;
		}
		r->nrecv++;
		/* The next message must be seen landing, not just left over. */
		for (int i = 0; i < 2; i++)
			memcpy(G.arena[RG_RECV] + recv_sge[i].off, G.pattern[RG_RECV] + recv_sge[i].off,
			       recv_sge[i].len);
		post_recv(r);
	} else if (c->ctx == &ctx_w) {
		FUZZ_CHECK(c->op == SAN_OP_RDMA_WRITE && !r->w_done, "op %d", c->op);
		FUZZ_CHECK(c->status == m->w_status && (c->status || c->bytes == OP_LEN),
			   "the target's RDMA write: status %d bytes %zu, want status %d", c->status,
			   c->bytes, m->w_status);
		r->w_done = 1;
	} else if (c->ctx == &ctx_r) {
		FUZZ_CHECK(c->op == SAN_OP_RDMA_READ && !r->r_done, "op %d", c->op);
		FUZZ_CHECK(c->status == m->r_status && (c->status || c->bytes == OP_LEN),
			   "the target's RDMA read: status %d bytes %zu, want status %d", c->status,
			   c->bytes, m->r_status);
		r->r_done = 1;
	} else if (c->ctx == &ctx_s) {
		/* Leaves at once in practice; a connection that fails first may
		 * take it down with it. */
		FUZZ_CHECK(c->op == SAN_OP_SEND && !r->s_done, "op %d", c->op);
		FUZZ_CHECK((c->status == 0 && c->bytes == SEND_LEN) || c->status == -ECONNRESET,
			   "the target's send: status %d bytes %zu", c->status, c->bytes);
		r->s_done = 1;
	} else {
		FUZZ_CHECK(0, "completion with an unknown ctx %p", c->ctx);
	}
}

/* The frames the target sent, against the model and the target's own ops. */
static void check_output(struct run *r)
{
	const struct model *m = r->m;
	const uint8_t *o = r->out;
	size_t pos = 0;
	int k = 0, seen_w = 0, seen_r = 0, seen_s = 0;

	while (r->nout - pos >= HDR) {
		struct san_wire_hdr h;
		const uint8_t *pl;
		size_t plen;

		FUZZ_CHECK(!san__wire_hdr_decode(o + pos, HDR, UINT64_MAX, &h),
			   "the target sent a malformed header at byte %zu", pos);
		plen = h.type == SAN_WIRE_SEND || h.type == SAN_WIRE_WRITE ||
				       (h.type == SAN_WIRE_READ_RESP && !h.status)
			       ? h.len
			       : 0;
		pos += HDR;
		if (r->nout - pos < plen)
			break; /* cut off by the teardown */
		pl = o + pos;
		pos += plen;
		switch (h.type) {
		case SAN_WIRE_SEND:
			FUZZ_CHECK(r->s_posted && !seen_s++ && h.len == SEND_LEN &&
					   !memcmp(pl, G.pattern[RG_OP] + OP_SSRC, SEND_LEN),
				   "unexpected SEND from the target (len %llu)", (unsigned long long)h.len);
			break;
		case SAN_WIRE_WRITE:
			FUZZ_CHECK(r->w_posted && !seen_w++ && h.id == r->w_id && h.key == CRAFT_KEY &&
					   !h.offset && h.len == OP_LEN && h.len <= r->peer_max &&
					   !memcmp(pl, G.pattern[RG_OP] + OP_WSRC, OP_LEN),
				   "unexpected WRITE from the target");
			break;
		case SAN_WIRE_READ_REQ:
			FUZZ_CHECK(r->r_posted && !seen_r++ && h.id == r->r_id && h.key == CRAFT_KEY &&
					   !h.offset && h.len == OP_LEN,
				   "unexpected READ_REQ from the target");
			break;
		default: {
			const struct exp_resp *e;

			FUZZ_CHECK(k < m->nresps, "response #%d (type %u id %llu status %u) answers "
				   "no request", k, h.type, (unsigned long long)h.id, h.status);
			e = &m->resps[k];
			FUZZ_CHECK(h.type == e->type && h.id == e->id && h.status == e->status &&
					   h.len == e->len,
				   "response #%d: type %u id %llu status %u len %llu, want type %u id "
				   "%llu status %u len %llu", k, h.type, (unsigned long long)h.id,
				   h.status, (unsigned long long)h.len, e->type,
				   (unsigned long long)e->id, e->status, (unsigned long long)e->len);
			for (size_t j = 0; j < plen; j++) {
				size_t at = REG_OFF + e->off + j;
				int ok = pl[j] == e->snap[j];

				for (int w = e->wlog_at; !ok && w < m->nwlog; w++)
					ok = m->wlog[w].rg == e->rg && at >= m->wlog[w].at &&
					     at - m->wlog[w].at < m->wlog[w].len &&
					     m->wlog[w].data[at - m->wlog[w].at] == pl[j];
				FUZZ_CHECK(ok, "READ_RESP #%d: byte %zu is %#x, not region %s's byte "
					   "at offset %zu", k, j, pl[j], rg_name[e->rg], at - REG_OFF);
			}
			k++;
		}
		}
	}
}

static void write_all(int fd, const void *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the target hung up: it says so in san_accept */
		buf = (const uint8_t *)buf + n;
		len -= (size_t)n;
	}
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, 2000) != 1)
			return -ETIMEDOUT;
		n = recv(fd, (uint8_t *)buf + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

/* Connects and runs the handshake. Returns 1 if the connection is up. */
static int handshake(struct run *r, const uint8_t **data, size_t *size)
{
	uint8_t hello[sizeof(struct san_wire_hello)], theirs[sizeof(hello)];
	struct san_wire_hello h = { .magic = SAN_WIRE_MAGIC, .version = SAN_WIRE_VERSION,
				    .hdr_size = HDR, .max_msg = MAX_MSG, .nonce = 0x5eed };
	size_t hl = sizeof(hello);
	int rc, want;

	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(r->fd >= 0, "socket: %s", strerror(errno));
	FUZZ_CHECK(!connect(r->fd, &G.addr.u.sa, G.addr.len), "connect: %s", strerror(errno));
	if (r->flags & F_RAW_HELLO) {
		hl = SAN_MIN(*size, sizeof(hello));
		memcpy(hello, *data, hl);
		*data += hl;
		*size -= hl;
		if (hl < sizeof(hello))
			want = -ECONNRESET; /* end of stream inside the HELLO */
		else
			want = san__wire_hello_decode(hello, hl, &h) ? -EPROTO : 0;
	} else {
		san__wire_hello_encode(&h, hello);
		want = 0;
	}
	r->peer_max = h.max_msg;
	write_all(r->fd, hello, hl);
	if (hl < sizeof(hello))
		shutdown(r->fd, SHUT_WR);
	rc = san_accept(G.l, 5000, &r->s);
	FUZZ_CHECK(rc == want, "san_accept = %d (%s), want %d (%s)", rc, san_strerror(rc), want,
		   san_strerror(want));
	if (rc)
		return 0;
	rc = read_full(r->fd, theirs, sizeof(theirs));
	FUZZ_CHECK(!rc, "the target's HELLO: %s", san_strerror(rc));
	FUZZ_CHECK(!san__wire_hello_decode(theirs, sizeof(theirs), &h) && h.max_msg == MAX_MSG,
		   "the target sent a bad HELLO");
	return 1;
}

/* Registrations and the target's own operations; fills keys[0..4]. */
static void setup(struct run *r, uint64_t *keys, uint64_t *ids)
{
	struct san_rdma_desc d[4], craft;
	struct san_wire_desc wd = { .magic = SAN_WIRE_DESC_MAGIC, .version = SAN_WIRE_VERSION,
				    .rights = SAN_MEM_READWRITE, .key = CRAFT_KEY, .len = 4096 };
	struct san_buf b;
	int rc;

	for (int i = 0; i < 4; i++) {
		struct san_wire_desc x;

		rc = san_register_rdma_memory(r->s, G.arena[i] + REG_OFF, REG_LEN, rg_rights[i], &d[i]);
		FUZZ_CHECK(!rc, "register %s: %s", rg_name[i], san_strerror(rc));
		FUZZ_CHECK(!san__wire_desc_decode(d[i].bytes, sizeof(d[i].bytes), &x),
			   "our own descriptor does not decode");
		keys[i] = x.key;
	}
	rc = san_deregister_rdma_memory(r->s, &d[RG_REV]);
	FUZZ_CHECK(!rc, "revoke: %s", san_strerror(rc));
	keys[4] = G.other_key;
	keys[5] = G.prev_key ? G.prev_key : 0x0123456789abcdefull;
	G.prev_key = keys[RG_RW];
	rc = san_register_memory(r->s, G.arena[RG_RECV] + REG_OFF, REG_LEN, SAN_MEM_WRITE, &r->h_recv);
	FUZZ_CHECK(!rc, "register RECV: %s", san_strerror(rc));
	rc = san_register_memory(r->s, G.arena[RG_OP] + REG_OFF, REG_LEN, SAN_MEM_READWRITE, &r->h_op);
	FUZZ_CHECK(!rc, "register OP: %s", san_strerror(rc));

	if (!(r->flags & F_LATE_RECV)) {
		post_recv(r);
		++*ids;
	}
	if (!(r->flags & F_NO_OPS)) {
		san__wire_desc_encode(&wd, craft.bytes);
		b = (struct san_buf){ G.arena[RG_OP] + OP_WSRC, OP_LEN, r->h_op };
		rc = san_rdma_write(r->s, &b, 1, &craft, 0, &ctx_w);
		FUZZ_CHECK(rc == (OP_LEN > r->peer_max ? -EMSGSIZE : 0), "san_rdma_write = %d", rc);
		if (!rc) {
			r->w_posted = 1;
			r->w_id = ++*ids;
		}
		b = (struct san_buf){ G.arena[RG_OP] + OP_RSINK, OP_LEN, r->h_op };
		rc = san_rdma_read(r->s, &b, 1, &craft, 0, &ctx_r);
		FUZZ_CHECK(!rc, "san_rdma_read = %d", rc);
		r->r_posted = 1;
		r->r_id = ++*ids;
	}
	if (r->flags & F_SEND) {
		b = (struct san_buf){ G.arena[RG_OP] + OP_SSRC, SEND_LEN, r->h_op };
		rc = san_send(r->s, &b, 1, &ctx_s);
		FUZZ_CHECK(rc == (SEND_LEN > r->peer_max ? -EMSGSIZE : 0), "san_send = %d", rc);
		if (!rc) {
			r->s_posted = 1;
			++*ids;
		}
	}
}

/* Feeds the stream and polls until the target gives up the connection. */
static void pump(struct run *r, const uint8_t *s, size_t n)
{
	uint64_t deadline = san__now_ns() + DEADLINE_NS;
	size_t sent = 0;
	int shut = 0, blocked = 0;

	for (;;) {
		struct san_completion c[16];
		int progress = 0, k;

		if (!shut) {
			ssize_t w = sent < n ? send(r->fd, s + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;

			if (w > 0) {
				sent += (size_t)w;
				progress = 1;
			} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				blocked = 1;
			} else if (w < 0 && errno != EINTR) {
				sent = n; /* the target hung up: the rest goes nowhere */
			}
			if (sent == n) {
				shutdown(r->fd, SHUT_WR);
				shut = 1;
				progress = 1;
			}
		}
		progress |= drain(r);
		/* F_LATE_RECV: the target stopped reading at a SEND (back-pressure);
		 * a receive now lets it go on. */
		if (!r->recv_posted && (shut || blocked))
			post_recv(r);
		k = san_poll(r->s, c, 16, progress ? 0 : 1);
		if (k == -ECONNRESET)
			break;
		FUZZ_CHECK(k >= 0, "san_poll = %d (%s)", k, san_strerror(k));
		for (int i = 0; i < k; i++)
			on_completion(r, &c[i]);
		FUZZ_CHECK(san__now_ns() < deadline,
			   "the target is stuck: %zu of %zu stream bytes written, %d receives done",
			   sent, n, r->nrecv);
	}
	/* The target shut its end: read what it sent up to the end. */
	while (!r->eof) {
		struct pollfd pfd = { r->fd, POLLIN, 0 };

		FUZZ_CHECK(poll(&pfd, 1, 2000) == 1, "no end of stream from the target");
		drain(r);
	}
}

/* Sockets among our file descriptors. (libFuzzer and the sanitizers open
 * pipes of their own at times, e.g. to a symbolizer, so fds are not simply
 * counted; a leaked connection would be a socket.) */
static int count_sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	FUZZ_CHECK(d, "/proc/self/fd: %s", strerror(errno));
	while ((e = readdir(d))) {
		char path[300], link[64];
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		k = readlink(path, link, sizeof(link) - 1);
		if (k > 0) {
			link[k] = 0;
			n += !strncmp(link, "socket:", 7);
		}
	}
	closedir(d);
	return n;
}

static void check_memory(const struct model *m)
{
	for (int rg = 0; rg < RG_N; rg++) {
		const uint8_t *a = G.arena[rg], *w = m->shadow[rg];

		if (!memcmp(a, w, ARENA))
			continue;
		for (size_t i = 0; i < ARENA; i++)
			FUZZ_CHECK(a[i] == w[i], "region %s: byte at arena offset %zu (registration "
				   "offset %lld) is %#x, want %#x", rg_name[rg], i,
				   (long long)i - REG_OFF, a[i], w[i]);
	}
}

/* A second connection, open for the whole run, with an RDMA region whose
 * key the fuzzer may use on its own connection (key index 5). */
static void other_connection(void)
{
	struct san_wire_hello h = { .magic = SAN_WIRE_MAGIC, .version = SAN_WIRE_VERSION,
				    .hdr_size = HDR, .max_msg = MAX_MSG, .nonce = 0x07e5 };
	uint8_t hello[sizeof(struct san_wire_hello)];
	struct san_rdma_desc d;
	struct san_wire_desc wd;
	int rc;

	G.other_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(G.other_fd >= 0 && !connect(G.other_fd, &G.addr.u.sa, G.addr.len), "connect");
	san__wire_hello_encode(&h, hello);
	write_all(G.other_fd, hello, sizeof(hello));
	rc = san_accept(G.l, 5000, &G.other);
	FUZZ_CHECK(!rc, "san_accept: %s", san_strerror(rc));
	FUZZ_CHECK(!read_full(G.other_fd, hello, sizeof(hello)), "the target's HELLO");
	G.other_arena = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FUZZ_CHECK(G.other_arena != MAP_FAILED, "mmap");
	for (size_t i = 0; i < ARENA; i++)
		G.other_pattern[i] = G.other_arena[i] = (uint8_t)(i * 7 + 3);
	rc = san_register_rdma_memory(G.other, G.other_arena + REG_OFF, REG_LEN, SAN_MEM_READWRITE, &d);
	FUZZ_CHECK(!rc, "register OTHER: %s", san_strerror(rc));
	FUZZ_CHECK(!san__wire_desc_decode(d.bytes, sizeof(d.bytes), &wd), "descriptor");
	G.other_key = wd.key;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct san_config cfg;
	char addr[64];
	int rc;

	setenv("SAN_QUIET", "1", 1); /* "malformed frame header, closing" per input */
	san_config_init(&cfg);
	cfg.progress_thread = 0; /* one thread drives everything: reproducible */
	cfg.poll_spin_us = 0;
	cfg.max_msg_mb = MAX_MSG >> 20;
	rc = san_provider_open(&cfg, &G.p);
	FUZZ_CHECK(!rc, "san_provider_open: %s", san_strerror(rc));
	snprintf(addr, sizeof(addr), "unix:@san-fuzz-stream-%d", (int)getpid());
	rc = san_listen(G.p, addr, &G.l);
	FUZZ_CHECK(!rc, "san_listen: %s", san_strerror(rc));
	FUZZ_CHECK(!san__addr_parse_numeric(addr, &G.addr), "address");
	for (int rg = 0; rg < RG_N; rg++) {
		G.arena[rg] = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		FUZZ_CHECK(G.arena[rg] != MAP_FAILED, "mmap");
		for (size_t i = 0; i < ARENA; i++) /* guards and regions all differ */
			G.pattern[rg][i] = (uint8_t)((i * 2654435761u + (unsigned)rg * 40503u) >> 13);
	}
	other_connection();
	G.verbose = getenv("FUZZ_STREAM_VERBOSE") && *getenv("FUZZ_STREAM_VERBOSE") == '1';
	G.out = malloc(OUT_CAP);
	FUZZ_CHECK(G.out, "malloc");
	G.sockets = count_sockets();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run R = { 0 }, *r = &R;
	struct san_stats st;
	uint64_t keys[NKEYIDX], ids = 0;
	uint8_t *s = NULL;
	int fd;

	r->flags = size ? data[0] : 0;
	if (size) {
		data++;
		size--;
	}
	for (int rg = 0; rg < RG_N; rg++)
		memcpy(G.arena[rg], G.pattern[rg], ARENA);
	r->m = calloc(1, sizeof(*r->m));
	FUZZ_CHECK(r->m, "calloc");
	for (int rg = 0; rg < RG_N; rg++)
		memcpy(r->m->shadow[rg], G.pattern[rg], ARENA);

	if (!handshake(r, &data, &size))
		goto out;
	setup(r, keys, &ids);

	/* The model needs the target's awaiting ops, then walks the stream. */
	r->m->sends = calloc(size / HDR + 1, sizeof(*r->m->sends));
	r->m->resps = calloc(size / HDR + 1, sizeof(*r->m->resps));
	r->m->wlog = calloc(size / HDR + 1, sizeof(*r->m->wlog));
	FUZZ_CHECK(r->m->sends && r->m->resps && r->m->wlog, "calloc");
	r->m->w_status = r->m->r_status = -ECONNRESET;
	if (r->w_posted)
		r->m->await[r->m->nawait++] = (typeof(r->m->await[0])){ SAN_OP_RDMA_WRITE, r->w_id };
	if (r->r_posted)
		r->m->await[r->m->nawait++] = (typeof(r->m->await[0])){ SAN_OP_RDMA_READ, r->r_id };
	s = malloc(size ? size : 1);
	memcpy(s, data, size);
	model_run(r->m, s, size, keys);
	if (r->m->partial) { /* the last receive got what came of the last SEND */
		size_t got = SAN_MIN(r->m->partial_got, (size_t)RECV_LEN), done = 0;

		for (int i = 0; i < 2 && done < got; i++) {
			size_t k = SAN_MIN(recv_sge[i].len, got - done);

			memcpy(r->m->shadow[RG_RECV] + recv_sge[i].off, s + r->m->partial_off + done, k);
			done += k;
		}
	}
	r->stream = s;

	r->out = G.out;
	pump(r, s, size);

	FUZZ_CHECK(r->nrecv == r->m->nsends && r->recv_reset <= 1,
		   "%d receives completed, the stream has %d SENDs (%d reset)", r->nrecv,
		   r->m->nsends, r->recv_reset);
	FUZZ_CHECK(r->w_done == r->w_posted && r->r_done == r->r_posted && r->s_done == r->s_posted,
		   "an operation of the target never completed");
	check_output(r);
	if (G.verbose)
		fprintf(stderr, "fuzz_stream: flags %#x, %zu stream bytes: %d SENDs received%s, "
			"%d responses due (%d writes landed), sent %zu bytes; own write %d read %d\n",
			r->flags, size, r->nrecv, r->m->partial ? " + 1 cut short" : "", r->m->nresps,
			r->m->nwlog, r->nout, r->w_posted ? r->m->w_status : 1,
			r->r_posted ? r->m->r_status : 1);
	FUZZ_CHECK(!san_close(r->s), "san_close");
	r->s = NULL;
out:
	if (r->s)
		san_close(r->s);
	close(r->fd);
	check_memory(r->m);
	FUZZ_CHECK(!memcmp(G.other_arena, G.other_pattern, ARENA),
		   "the other connection's region changed");
	FUZZ_CHECK(!san_get_stats(G.p, &st), "stats");
	FUZZ_CHECK(st.keys_active == 1, /* the other connection's */
		   "%llu keys active, want 1: keys outlive their connection",
		   (unsigned long long)st.keys_active);
	if (!G.pinned)
		G.pinned = st.pinned_bytes;
	FUZZ_CHECK(st.pinned_bytes <= G.pinned, "pinned bytes grew: %llu, were %llu",
		   (unsigned long long)st.pinned_bytes, (unsigned long long)G.pinned);
	fd = count_sockets();
	FUZZ_CHECK(fd == G.sockets, "%d sockets open after the connection closed, want %d "
		   "(the listener and the other connection)", fd, G.sockets);
	free(s);
	model_free(r->m);
	return 0;
}
