/* SPDX-License-Identifier: MIT */
/*
 * san-perf: the benchmark tool of libsan, in the spirit of ib_write_bw and
 * ucx_perftest. One binary, three ways to run it:
 *
 *   san-perf [options]                 forks a server over loopback (TCP or
 *                                      Unix) and runs the client against it
 *   san-perf --server ADDR [options]   serves one client session, exits
 *   san-perf --client ADDR [options]   connects to such a server and runs
 *
 * The client initiates every transfer; the server is its peer.
 *   rdma_write_bw   --depth san_rdma_write()s outstanding into a buffer the
 *                   server registered with san_register_rdma_memory(); a
 *                   write completes once the server has placed it
 *   rdma_read_bw    the same with san_rdma_read() from the server's buffer
 *   send_bw         --depth san_send()s outstanding into receives the server
 *                   keeps posted; the clock stops when the server has
 *                   received the last message (it says DONE)
 *   send_lat        ping-pong: the client sends, the server echoes the
 *                   message back from its receive buffer
 *   rdma_write_lat  ping-pong in the style of ib_write_lat: each side
 *                   RDMA-writes size bytes into the other's registered
 *                   buffer, with an iteration tag in the last byte; each
 *                   side busy-polls the last byte of its own buffer (calling
 *                   san_poll(0) meanwhile, which also drives its NIC) and
 *                   answers when the tag arrives
 *   reg             san_register_memory + san_deregister_memory pairs,
 *                   registration cache on and off
 * Latency is one-way: RTT / 2. Bandwidth: MB/s = 10^6 B/s.
 *
 * Registration per operation. The client registers its buffer before every
 * transfer and deregisters it when the transfer's completion is reaped, so
 * that --cache and --reuse matter: one (the same buffer every time), N (N
 * buffers round-robin) or fresh (every transfer mmaps a new buffer, writes
 * its data, registers, transfers, deregisters, munmaps). That work is inside
 * the timed region. The server registers its buffers once per size.
 *
 * Control: after connecting, the client sends the plan (PLAN) over the SAN
 * socket itself, with san_send. Each (test, size) is then BEGIN -> READY
 * (buffers registered, descriptors exchanged), the warm-up, then the timed
 * phase in one or more chunks, each announced by GO (the number of timed
 * operations is --iters, or calibrated from the warm-up to --seconds; the
 * final GO carries the step's total), END -> RESULT (the server's content
 * check).
 * Control messages are san_send()s into one control receive that each side
 * posts only when the next message it expects is a control message: since
 * a message lands in the next receive posted, they never meet a data
 * receive. Fields travel in host byte order: both ends run this build.
 *
 * Content: every transfer carries a keyed pattern; the last transfer of
 * each size carries a pattern of its own, and the side that received it
 * checks it byte for byte (rdma_write_bw and send_bw: the server, also
 * every other slot of its buffer; rdma_read_bw: the client; the latency
 * tests: both sides). A mismatch is reported as BAD and the exit status
 * is 1.
 *
 * Exit status: 0; 1 on any failure (with a message); 2 on a usage error.
 */
#include <san.h>

#include "../bench/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZES 64
#define MAX_DEPTH 512
#define MAX_REUSE 4096
#define MAX_SIZE (1ull << 30)
/* A bandwidth test's peer buffer holds min(depth, SLOT_BYTES / size)
 * slots, so that transfers in flight use different places without pinning
 * gigabytes. */
#define SLOT_BYTES (64ull << 20)
/* Control region of a connection: transmit half, receive half. */
#define CTL_BYTES 4096u
#define CTL_HALF (CTL_BYTES / 2)
/* No completion for this long while waiting on the peer: it is stuck. */
#define STALL_NS (30ull * 1000000000ull)
#define PERF_MAGIC 0x46525053u /* "SPRF" */
#define PERF_VERSION 1

enum { T_RDMA_WRITE_BW, T_RDMA_READ_BW, T_SEND_BW, T_SEND_LAT, T_RDMA_WRITE_LAT, T_REG, T_COUNT };
enum { K_BW, K_LAT, K_REG };

static const struct test_info {
	const char *name;
	int kind;
	int op; /* the client's operation */
} tests[T_COUNT] = {
	[T_RDMA_WRITE_BW] = { "rdma_write_bw", K_BW, SAN_OP_RDMA_WRITE },
	[T_RDMA_READ_BW] = { "rdma_read_bw", K_BW, SAN_OP_RDMA_READ },
	[T_SEND_BW] = { "send_bw", K_BW, SAN_OP_SEND },
	[T_SEND_LAT] = { "send_lat", K_LAT, SAN_OP_SEND },
	[T_RDMA_WRITE_LAT] = { "rdma_write_lat", K_LAT, SAN_OP_RDMA_WRITE },
	[T_REG] = { "reg", K_REG, 0 },
};

enum { FMT_TABLE, FMT_CSV, FMT_JSON };
enum { MODE_FORK, MODE_SERVER, MODE_CLIENT };
enum { REUSE_ONE, REUSE_RR, REUSE_FRESH };

struct opts {
	int tests[T_COUNT];
	int ntests;
	uint64_t sizes[MAX_SIZES];
	int nsizes;
	uint64_t iters;   /* 0: calibrated to seconds */
	long long warmup; /* -1: automatic */
	double seconds;
	unsigned depth;
	int transport_set;
	char transport[8]; /* "tcp" or "unix" */
	int mode;
	char addr[256];    /* --server / --client, with its transport prefix */
	int reuse;
	unsigned reuse_n;
	char reuse_str[16];
	int cache;         /* -1: the configuration's (SAN_RCACHE, default on) */
	int format;
	int config, quiet;
};

static struct opts opt = {
	.tests = { T_RDMA_WRITE_BW, T_RDMA_READ_BW, T_SEND_LAT },
	.ntests = 3,
	.sizes = { 8, 4u << 10, 64u << 10, 1u << 20 },
	.nsizes = 4,
	.iters = 0,
	.warmup = -1,
	.seconds = 0.4,
	.depth = 16,
	.transport = "tcp",
	.mode = MODE_FORK,
	.reuse = REUSE_ONE,
	.reuse_n = 1,
	.reuse_str = "one",
	.cache = -1,
	.format = FMT_TABLE,
};

/* ==== failure, time, progress ==== */

static const char *who = "san-perf";
static pid_t server_pid; /* fork mode, client: the server we forked */
static struct conn *err_conn; /* server: the client to tell why we die */

static void progress_clear(void);
static void send_error(struct conn *c, const char *text);

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	progress_clear();
	fprintf(stderr, "%s: %s\n", who, msg);
	if (err_conn) {
		struct conn *c = err_conn;

		err_conn = NULL;
		send_error(c, msg);
	}
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
	}
	exit(1);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("san-perf: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see san-perf --help)\n", stderr);
	exit(2);
}

/* A libsan call that must succeed; bench.h's would not stop the server. */
#undef SAN_OK
#define SAN_OK(expr)                                                                      \
	do {                                                                              \
		int rc_ = (expr);                                                         \
		if (rc_ < 0)                                                              \
			die("%s: %s", #expr, san_strerror(rc_));                          \
	} while (0)

/* Progress on stderr: a spinner line (\r) while a step runs if stderr is a
 * terminal, else one line per finished step; nothing with --quiet. */
static struct {
	int tty;
	char label[96];
	uint64_t last_ns;
	unsigned spin;
	int shown;
	uint64_t base, total; /* the phase's chunks: operations before this one, in all */
} prog;

static void progress_begin(const char *label)
{
	snprintf(prog.label, sizeof(prog.label), "%s", label);
	prog.last_ns = 0;
}

static void progress_tick(const char *phase, uint64_t done)
{
	static const char spin[] = "|/-\\";
	uint64_t t;

	if (opt.quiet || !prog.tty)
		return;
	t = bench_now_ns();
	if (t - prog.last_ns < 100000000ull)
		return;
	prog.last_ns = t;
	fprintf(stderr, "\r\033[K%c %s: %s %" PRIu64 "/%" PRIu64, spin[prog.spin++ % 4],
		prog.label, phase, prog.base + done, prog.total);
	prog.shown = 1;
	fflush(stderr);
}

static void progress_clear(void)
{
	if (prog.shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		prog.shown = 0;
	}
}

static void progress_end(uint64_t iters, double seconds)
{
	if (opt.quiet)
		return;
	if (prog.tty) {
		progress_clear();
		return;
	}
	fprintf(stderr, "san-perf: %s: %" PRIu64 " iterations in %.2f s\n", prog.label, iters,
		seconds);
}

/* ==== content pattern: 64-bit words of a keyed mix ==== */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Byte j of the pattern depends only on j and seed, so a prefix of a
 * buffer can be checked on its own. */
static void pattern_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	size_t i, nw = len / 8;

	for (i = 0; i < nw; i++) {
		uint64_t w = mix64(seed + i);
		memcpy(p + i * 8, &w, 8);
	}
	if (len % 8) {
		uint64_t w = mix64(seed + nw);
		memcpy(p + nw * 8, &w, len % 8);
	}
}

/* Returns the offset of the first wrong byte, or len if all are right. */
static size_t pattern_check(const void *buf, size_t len, uint64_t seed)
{
	const uint8_t *p = buf;
	size_t i, nw = len / 8;

	for (i = 0; i <= nw; i++) {
		uint64_t w = mix64(seed + i), got = 0;
		size_t n = i < nw ? 8 : len % 8;

		memcpy(&got, p + i * 8, n);
		if (n == 8 ? got != w : memcmp(&got, &w, n) != 0) {
			for (size_t b = 0; b < n; b++)
				if (p[i * 8 + b] != ((const uint8_t *)&w)[b])
					return i * 8 + b;
		}
	}
	return len;
}

static uint64_t seed_of(int test, uint64_t size)
{
	return mix64(0x53414e2d50455246ull ^ ((uint64_t)test << 56) ^ size);
}

static uint64_t last_seed_of(uint64_t seed)
{
	return mix64(seed ^ 0x4c415354ull);
}

/* rdma_write_lat: what the server writes back (its own pattern). */
static uint64_t pong_seed(uint64_t seed)
{
	return mix64(seed ^ 0x504f4e47ull);
}

/* rdma_write_lat: the tag in the last byte of iteration i (never equal for
 * consecutive iterations, never 0: buffers start zeroed). */
static uint8_t tag_of(uint64_t i)
{
	return (uint8_t)(i % 255 + 1);
}

static uint8_t peek_last(const char *buf, size_t size)
{
	return *(const volatile uint8_t *)(buf + size - 1);
}

/* ==== memory ==== */

static void *map_bytes(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu bytes: %s", len, strerror(errno));
	return p;
}

static void unmap_bytes(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

/* ==== latency histogram: exact below 1024 ns, then 512 steps per power
 * of two (0.2 %), up to 2^42 ns ==== */

#define HIST_SUB 512u
#define HIST_BUCKETS (1024u + 32u * HIST_SUB)

static struct {
	uint64_t n, sum;
	uint64_t b[HIST_BUCKETS];
} hist;

static void hist_reset(void)
{
	memset(&hist, 0, sizeof(hist));
}

static void hist_add(uint64_t v)
{
	unsigned i;

	if (v < 1024) {
		i = (unsigned)v;
	} else {
		unsigned msb = 63u - (unsigned)__builtin_clzll(v);

		if (msb > 41)
			i = HIST_BUCKETS - 1;
		else
			i = 1024u + (msb - 10) * HIST_SUB + (unsigned)((v >> (msb - 9)) - HIST_SUB);
	}
	hist.b[i]++;
	hist.n++;
	hist.sum += v;
}

/* The middle of bucket i, in ns. */
static double hist_value(unsigned i)
{
	unsigned e, m, shift;

	if (i < 1024)
		return i;
	e = (i - 1024) / HIST_SUB;
	m = (i - 1024) % HIST_SUB;
	shift = e + 1;
	return (double)((uint64_t)(HIST_SUB + m) << shift) + (double)(1ull << shift) / 2;
}

static double hist_pct(double q)
{
	uint64_t rank = (uint64_t)(q * (double)hist.n + 0.999999), seen = 0;

	if (!hist.n)
		return -1;
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += hist.b[i];
		if (seen >= rank)
			return hist_value(i);
	}
	return hist_value(HIST_BUCKETS - 1);
}

/* ==== control messages ==== */

enum {
	M_PLAN = 1, /* client: what will run */
	M_PLAN_OK,  /* server: agreed (status), its cache setting (value) */
	M_BEGIN,    /* client: a (test, size): warm-up count, slots, seeds, its descriptor */
	M_READY,    /* server: buffers ready (status), its descriptor */
	M_GO,       /* client: a chunk's count; the final one: the step's total */
	M_DONE,     /* server (send_bw): every message of the phase received */
	M_END,      /* client: the step is over, check */
	M_RESULT,   /* server: content check: status 0, 1 = mismatch at value */
	M_BYE,      /* client: the session is over */
	M_ERROR,    /* either: failing, text says why */
};

static const char *msg_name(unsigned t)
{
	static const char *const n[] = { "?", "PLAN", "PLAN_OK", "BEGIN", "READY", "GO",
					 "DONE", "END", "RESULT", "BYE", "ERROR" };

	return t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
}

struct ctl_msg {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t test;
	uint32_t slots;     /* BEGIN: slots of the server's buffer */
	uint64_t size;
	uint64_t count;     /* BEGIN: warm-up operations; GO: timed operations of a chunk */
	uint64_t total;     /* final GO, END: operations of the step in all (else 0) */
	uint64_t seed;      /* pattern of every operation but the last */
	uint64_t last_seed; /* pattern of the step's last operation */
	int64_t status;
	uint64_t value;
	struct san_rdma_desc desc;
	/* PLAN */
	uint32_t ntests, nsizes;
	uint32_t tests[T_COUNT];
	uint32_t depth, extra_conns;
	uint64_t sizes[MAX_SIZES];
	char text[256]; /* ERROR */
};
_Static_assert(sizeof(struct ctl_msg) <= CTL_HALF, "a control message fits its half");

/* Operation contexts: kind in the top byte, an index below. */
enum { CX_CTL_TX = 1, CX_CTL_RX, CX_DATA };
#define CTX_IDX_MASK 0xffffffffffffffull
#define CTX(kind, idx) ((void *)(uintptr_t)(((uint64_t)(kind) << 56) | ((uint64_t)(idx) & CTX_IDX_MASK)))
#define CTX_KIND(p) ((unsigned)((uint64_t)(uintptr_t)(p) >> 56))
#define CTX_IDX(p) ((uint64_t)(uintptr_t)(p) & CTX_IDX_MASK)

typedef void (*data_fn)(void *arg, const struct san_completion *c);

/* One connected SAN socket and its control channel. */
struct conn {
	san_provider *p;
	san_socket *s;
	const char *peer;  /* "server" or "client", for messages */
	char *ctl;         /* CTL_BYTES: [0, HALF) transmit, [HALF, BYTES) receive */
	san_handle hctl;
	int tx_busy;       /* a control send is outstanding */
	int rx_posted;     /* the control receive is posted */
	int rx_full;       /* a control message arrived and was not taken yet */
	data_fn on_data;   /* completions of data operations */
	void *arg;
	uint64_t idle_since;
};

static void conn_init(struct conn *c, san_provider *p, san_socket *s, const char *peer)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->s = s;
	c->peer = peer;
	c->ctl = map_bytes(CTL_BYTES);
	SAN_OK(san_register_memory(s, c->ctl, CTL_BYTES, SAN_MEM_READWRITE, &c->hctl));
}

static void conn_close(struct conn *c)
{
	if (!c->s)
		return;
	SAN_OK(san_close(c->s));
	unmap_bytes(c->ctl, CTL_BYTES);
	c->s = NULL;
}

/* Polls once and dispatches. Returns the number of completions. */
static int pump(struct conn *c, int timeout_ms)
{
	struct san_completion cq[32];
	int n = san_poll(c->s, cq, 32, timeout_ms);

	if (n < 0)
		die("connection to the %s lost: san_poll: %s", c->peer, san_strerror(n));
	for (int i = 0; i < n; i++) {
		const struct san_completion *k = &cq[i];

		switch (CTX_KIND(k->ctx)) {
		case CX_CTL_TX:
			if (k->status)
				die("control send to the %s: %s", c->peer, san_strerror(k->status));
			c->tx_busy = 0;
			break;
		case CX_CTL_RX:
			if (k->status == -EMSGSIZE)
				die("protocol: a message larger than a control message arrived from "
				    "the %s where a control message was due", c->peer);
			if (k->status)
				die("control receive from the %s: %s", c->peer, san_strerror(k->status));
			if (k->bytes != sizeof(struct ctl_msg))
				die("protocol: %zu-byte message from the %s where a control message "
				    "(%zu bytes) was due", k->bytes, c->peer, sizeof(struct ctl_msg));
			c->rx_posted = 0;
			c->rx_full = 1;
			break;
		case CX_DATA:
			if (!c->on_data)
				die("unexpected completion: op %d status %d (%s) bytes %zu", k->op,
				    k->status, san_strerror(k->status), k->bytes);
			c->on_data(c->arg, k);
			break;
		default:
			die("completion with a context this program never posted");
		}
	}
	if (n)
		c->idle_since = bench_now_ns();
	return n;
}

/* Waits a little for completions; with stall set, fails after STALL_NS
 * without any since c->idle_since. */
static void pump_wait(struct conn *c, int stall)
{
	if (pump(c, 100) > 0)
		return;
	if (stall && bench_now_ns() - c->idle_since > STALL_NS)
		die("stalled: no completion for %llu s waiting on the %s",
		    STALL_NS / 1000000000ull, c->peer);
}

#define WAIT_UNTIL(c, cond, stall)                                                        \
	do {                                                                              \
		(c)->idle_since = bench_now_ns();                                         \
		while (!(cond))                                                           \
			pump_wait((c), (stall));                                          \
	} while (0)

/* Latency loops busy-poll, as ib_send_lat and ucx_perftest do: san_poll(0)
 * drives the NIC from this thread and never sleeps. Every 64 polls the
 * spinner yields the CPU: where the two spinning processes share a vCPU
 * (2 vCPUs with other work running), one that never yields keeps its peer
 * off the CPU for a whole time slice; measured here, 8 B one-way p50 went
 * from ~280 us in most runs to 6-16 us in all. With a free CPU each,
 * sched_yield() returns at once. */
#define SPIN_UNTIL(c, cond)                                                               \
	do {                                                                              \
		unsigned spins_ = 0;                                                      \
		(c)->idle_since = bench_now_ns();                                         \
		while (!(cond)) {                                                         \
			pump((c), 0);                                                     \
			if (++spins_ % 64 == 0)                                           \
				sched_yield();                                            \
			if (spins_ % 4096 == 0 &&                                         \
			    bench_now_ns() - (c)->idle_since > STALL_NS)                  \
				die("stalled: no completion for %llu s waiting on the %s", \
				    STALL_NS / 1000000000ull, (c)->peer);                 \
		}                                                                         \
	} while (0)

static void ctl_post_recv(struct conn *c)
{
	struct san_buf b = { c->ctl + CTL_HALF, CTL_HALF, c->hctl };
	int rc;

	if (c->rx_posted || c->rx_full)
		die("internal: control receive posted twice");
	while ((rc = san_recv(c->s, &b, 1, CTX(CX_CTL_RX, 0))) == -EAGAIN)
		pump(c, 10);
	if (rc)
		die("control receive: %s", san_strerror(rc));
	c->rx_posted = 1;
}

static void ctl_send(struct conn *c, struct ctl_msg *m)
{
	struct san_buf b = { c->ctl, sizeof(*m), c->hctl };
	int rc;

	m->magic = PERF_MAGIC;
	m->version = PERF_VERSION;
	WAIT_UNTIL(c, !c->tx_busy, 1);
	memcpy(c->ctl, m, sizeof(*m));
	while ((rc = san_send(c->s, &b, 1, CTX(CX_CTL_TX, 0))) == -EAGAIN)
		pump(c, 10);
	if (rc)
		die("control send: %s", san_strerror(rc));
	c->tx_busy = 1;
	WAIT_UNTIL(c, !c->tx_busy, 1);
}

/* Waits for the control message the posted receive gets; want 0: any. */
static void ctl_wait(struct conn *c, unsigned want, int stall, struct ctl_msg *m)
{
	WAIT_UNTIL(c, c->rx_full, stall);
	memcpy(m, c->ctl + CTL_HALF, sizeof(*m));
	c->rx_full = 0;
	if (m->magic != PERF_MAGIC || m->version != PERF_VERSION)
		die("protocol: the %s is not san-perf protocol version %d (magic %#x version %u)",
		    c->peer, PERF_VERSION, m->magic, m->version);
	if (m->type == M_ERROR) {
		m->text[sizeof(m->text) - 1] = 0;
		if (opt.mode == MODE_FORK) /* it printed its message already */
			die("the %s failed", c->peer);
		die("the %s failed: %s", c->peer, m->text);
	}
	if (want && m->type != want)
		die("protocol: %s from the %s, expected %s", msg_name(m->type), c->peer,
		    msg_name(want));
}

/* A request that has a reply: the receive is posted before the request. */
static void ctl_call(struct conn *c, struct ctl_msg *m, unsigned want, struct ctl_msg *reply)
{
	ctl_post_recv(c);
	ctl_send(c, m);
	ctl_wait(c, want, 1, reply);
}

/* Best effort, from die(): tells the peer why before the connection drops. */
static void send_error(struct conn *c, const char *text)
{
	struct ctl_msg m = { .magic = PERF_MAGIC, .version = PERF_VERSION, .type = M_ERROR };
	struct san_buf b = { c->ctl, sizeof(m), c->hctl };
	struct san_completion cq[16];
	uint64_t t0 = bench_now_ns();

	if (!c->s || c->tx_busy)
		return;
	{ /* truncated to fit: the message is a courtesy */
		size_t n = strnlen(text, sizeof(m.text) - 1);

		memcpy(m.text, text, n);
		m.text[n] = 0;
	}
	memcpy(c->ctl, &m, sizeof(m));
	if (san_send(c->s, &b, 1, CTX(CX_CTL_TX, 0)))
		return;
	while (bench_now_ns() - t0 < 1000000000ull) {
		int n = san_poll(c->s, cq, 16, 50);

		if (n < 0)
			return;
		for (int i = 0; i < n; i++)
			if (CTX_KIND(cq[i].ctx) == CX_CTL_TX)
				return;
	}
}

/* ==== configuration ==== */

static void make_config(struct san_config *cfg, int cache)
{
	san_config_init(cfg);
	if (cache >= 0 && san_config_set(cfg, "SAN_RCACHE", cache ? "1" : "0"))
		die("san_config_set SAN_RCACHE failed");
}

static san_provider *open_provider(int cache)
{
	struct san_config cfg;
	san_provider *p;
	int rc;

	make_config(&cfg, cache);
	rc = san_provider_open(&cfg, &p);
	if (rc)
		die("san_provider_open: %s%s", san_strerror(rc),
		    rc == -ENOSYS || rc == -EPERM ? " (is io_uring available?)" : "");
	return p;
}

/* The cache settings the reg test runs: the one asked for, else both. */
static int reg_both(void)
{
	return opt.cache < 0;
}

static int has_test(int t)
{
	for (int i = 0; i < opt.ntests; i++)
		if (opt.tests[i] == t)
			return 1;
	return 0;
}

static unsigned slots_for(uint64_t size)
{
	uint64_t s = SLOT_BYTES / size;

	if (s < 1)
		s = 1;
	if (s > opt.depth)
		s = opt.depth;
	return (unsigned)s;
}

static uint64_t clamp_u64(double v, uint64_t lo, uint64_t hi)
{
	if (!(v >= (double)lo))
		return lo;
	if (v > (double)hi)
		return hi;
	return (uint64_t)v;
}

static uint64_t warmup_for(int kind, uint64_t size)
{
	if (opt.warmup >= 0)
		return (uint64_t)opt.warmup;
	switch (kind) {
	case K_BW:
		return clamp_u64((double)(32ull << 20) / (double)size, 2 * opt.depth, 2000);
	case K_LAT:
		return clamp_u64((double)(64ull << 20) / (double)size, 10, 200);
	default:
		return 100;
	}
}

/* Timed operations: --iters, else --seconds' worth at the warm-up's pace
 * (w operations in t seconds). */
static uint64_t calibrate(int kind, uint64_t size, uint64_t w, double t)
{
	uint64_t lo, hi, dflt;

	if (opt.iters)
		return opt.iters;
	switch (kind) {
	case K_BW:
		lo = 2 * opt.depth;
		hi = 100000000;
		dflt = clamp_u64((double)(64ull << 20) / (double)size, lo, 100000);
		break;
	case K_LAT:
		lo = 20;
		hi = 10000000;
		dflt = 1000;
		break;
	default:
		lo = 100;
		hi = 100000000;
		dflt = 10000;
		break;
	}
	if (!w || t <= 0)
		return dflt;
	return clamp_u64(opt.seconds * (double)w / t, lo, hi);
}

/* ==== the client's buffers: the --reuse pattern ==== */

struct bufset {
	int kind;
	unsigned n;
	size_t size;
	int src;      /* sources: they carry the pattern */
	char **bufs;  /* ONE: 1, RR: n */
	char *tmpl;   /* FRESH sources: what each new buffer gets */
	char *last;   /* the step's last operation (FRESH sources: its template) */
};

static void bufset_init(struct bufset *b, size_t size, int src, uint64_t seed, uint64_t last_seed)
{
	memset(b, 0, sizeof(*b));
	b->kind = opt.reuse;
	b->size = size;
	b->src = src;
	b->n = b->kind == REUSE_ONE ? 1 : b->kind == REUSE_RR ? opt.reuse_n : 0;
	if (b->n) {
		b->bufs = calloc(b->n, sizeof(*b->bufs));
		if (!b->bufs)
			die("out of memory");
	}
	for (unsigned i = 0; i < b->n; i++) {
		b->bufs[i] = map_bytes(size);
		if (src)
			pattern_fill(b->bufs[i], size, seed);
		else
			memset(b->bufs[i], 0, size); /* touched, like the sources */
	}
	if (b->kind == REUSE_FRESH && src) {
		b->tmpl = map_bytes(size);
		pattern_fill(b->tmpl, size, seed);
	}
	if (b->kind != REUSE_FRESH || src) {
		b->last = map_bytes(size);
		if (src)
			pattern_fill(b->last, size, last_seed);
		else
			memset(b->last, 0, size);
	}
}

/* The buffer of operation i. FRESH: a new mapping, written with the data
 * (sources) or untouched (destinations). */
static char *bufset_take(struct bufset *b, uint64_t i, int last)
{
	char *p;

	if (b->kind != REUSE_FRESH)
		return last ? b->last : b->bufs[i % b->n];
	p = map_bytes(b->size);
	if (b->src)
		memcpy(p, last ? b->last : b->tmpl, b->size);
	return p;
}

static void bufset_give(struct bufset *b, char *p)
{
	if (b->kind == REUSE_FRESH)
		munmap(p, b->size);
}

/* Registers and deregisters the last operation's own buffer once, untimed:
 * with the cache on it is then no colder than the others (which the
 * warm-up registers), so it does not show up as a pin in the timed phase. */
static void bufset_prime(struct bufset *b, san_socket *s, int flags)
{
	san_handle h;

	if (!b->last || b->kind == REUSE_FRESH)
		return;
	SAN_OK(san_register_memory(s, b->last, b->size, flags, &h));
	SAN_OK(san_deregister_memory(s, h));
}

static void bufset_fini(struct bufset *b)
{
	for (unsigned i = 0; i < b->n; i++)
		unmap_bytes(b->bufs[i], b->size);
	free(b->bufs);
	unmap_bytes(b->tmpl, b->size);
	unmap_bytes(b->last, b->size);
	memset(b, 0, sizeof(*b));
}

/* ==== results ==== */

struct row {
	int test;
	uint64_t size, iters;
	double bytes, seconds;
	double mb_s, ops_s;          /* < 0: not applicable */
	double lat_avg, lat_p50, lat_p99; /* us; < 0: not applicable */
	double pins_per_op;
	int cache_on;
	int bad;                     /* a content check failed */
};

static struct row *rows;
static int nrows, failed;

/* ==== client ==== */

struct client {
	struct conn main, alt; /* alt: the other cache setting, for reg */
	int main_cache;        /* the main provider's cache: 1 on */
	int server_cache;
	char where[300];       /* for the table's header */
};

/* One (test, size) of the client. */
struct step {
	int test;
	uint64_t size;
	unsigned slots;
	uint64_t total;   /* operations in all; UINT64_MAX until known */
	uint64_t seed, last_seed;
	struct san_rdma_desc peer; /* the server's buffer */
	struct bufset bs;
	int bad;
	char why[200];
	/* latency tests */
	char *rbuf;       /* pong destination */
	san_handle rh;
	struct san_rdma_desc rdesc; /* rdma_write_lat: rbuf for the server */
};

static void step_bad(struct step *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step_bad(struct step *st, const char *fmt, ...)
{
	va_list ap;

	if (st->bad)
		return;
	st->bad = 1;
	va_start(ap, fmt);
	vsnprintf(st->why, sizeof(st->why), fmt, ap);
	va_end(ap);
}

/* -- bandwidth: a window of --depth operations -- */

struct win {
	char *buf;
	san_handle h;
	uint64_t idx;
};

struct bw {
	struct conn *c;
	struct step *st;
	int op, flags;
	struct win w[MAX_DEPTH];
	unsigned freel[MAX_DEPTH], nfree;
	uint64_t done;
};

static void bw_done(void *arg, const struct san_completion *k)
{
	struct bw *b = arg;
	struct step *st = b->st;
	uint64_t slot = CTX_IDX(k->ctx);
	struct win *w;
	int rc;

	if (slot >= opt.depth)
		die("completion for window slot %" PRIu64, slot);
	w = &b->w[slot];
	if (k->op != b->op || k->status || k->bytes != st->size)
		die("%s %s #%" PRIu64 ": op %d status %d (%s) bytes %zu, want op %d status 0 "
		    "bytes %" PRIu64, tests[st->test].name, "operation", w->idx, k->op, k->status,
		    san_strerror(k->status), k->bytes, b->op, st->size);
	if (b->op == SAN_OP_RDMA_READ && w->idx == st->total - 1) {
		size_t bad = pattern_check(w->buf, st->size, st->last_seed);

		if (bad != st->size)
			step_bad(st, "the last RDMA read brought wrong bytes: first at offset %zu",
				 bad);
	}
	rc = san_deregister_memory(b->c->s, w->h);
	if (rc)
		die("san_deregister_memory after a completion: %s", san_strerror(rc));
	bufset_give(&st->bs, w->buf);
	b->freel[b->nfree++] = (unsigned)slot;
	b->done++;
}

/* Runs count operations, numbered first.., --depth outstanding. Returns
 * the ns from the first post to the last completion (send_bw: to the
 * server's DONE). */
static uint64_t bw_phase(struct conn *c, struct step *st, uint64_t first, uint64_t count,
			 const char *phase)
{
	struct bw *b = calloc(1, sizeof(*b));
	uint64_t posted = 0, t0, t1;

	if (!b)
		die("out of memory");
	b->c = c;
	b->st = st;
	b->op = tests[st->test].op;
	b->flags = b->op == SAN_OP_RDMA_READ ? SAN_MEM_WRITE : SAN_MEM_READ;
	for (unsigned i = 0; i < opt.depth; i++)
		b->freel[b->nfree++] = opt.depth - 1 - i;
	c->on_data = bw_done;
	c->arg = b;
	if (b->op == SAN_OP_SEND)
		ctl_post_recv(c); /* for DONE */
	t0 = bench_now_ns();
	c->idle_since = t0;
	while (b->done < count) {
		while (posted < count && b->nfree) {
			uint64_t i = first + posted;
			unsigned k = b->freel[--b->nfree];
			struct win *w = &b->w[k];
			struct san_buf sb;
			uint64_t off = (i % st->slots) * st->size;
			int rc;

			w->idx = i;
			w->buf = bufset_take(&st->bs, i, i == st->total - 1);
			rc = san_register_memory(c->s, w->buf, st->size, b->flags, &w->h);
			if (rc)
				die("san_register_memory %" PRIu64 " bytes: %s", st->size,
				    san_strerror(rc));
			sb = (struct san_buf){ w->buf, st->size, w->h };
			if (b->op == SAN_OP_RDMA_WRITE)
				rc = san_rdma_write(c->s, &sb, 1, &st->peer, off, CTX(CX_DATA, k));
			else if (b->op == SAN_OP_RDMA_READ)
				rc = san_rdma_read(c->s, &sb, 1, &st->peer, off, CTX(CX_DATA, k));
			else
				rc = san_send(c->s, &sb, 1, CTX(CX_DATA, k));
			if (rc == -EAGAIN) { /* max_outstanding: reap first */
				SAN_OK(san_deregister_memory(c->s, w->h));
				bufset_give(&st->bs, w->buf);
				b->freel[b->nfree++] = k;
				break;
			}
			if (rc)
				die("%s of %" PRIu64 " bytes: %s", tests[st->test].name, st->size,
				    san_strerror(rc));
			posted++;
		}
		pump_wait(c, 1);
		progress_tick(phase, b->done);
	}
	if (b->op == SAN_OP_SEND) {
		struct ctl_msg m;

		ctl_wait(c, M_DONE, 1, &m);
	}
	t1 = bench_now_ns();
	c->on_data = NULL;
	free(b);
	return t1 - t0;
}

/* -- latency: ping-pong -- */

struct lat {
	struct step *st;
	int got_send, got_recv;
};

static void lat_done(void *arg, const struct san_completion *k)
{
	struct lat *l = arg;
	uint64_t what = CTX_IDX(k->ctx);
	int want_op = what == 0 ? SAN_OP_RECV : tests[l->st->test].op;

	if (k->op != want_op || k->status || k->bytes != l->st->size)
		die("%s: op %d status %d (%s) bytes %zu, want op %d status 0 bytes %" PRIu64,
		    tests[l->st->test].name, k->op, k->status, san_strerror(k->status), k->bytes,
		    want_op, l->st->size);
	if (what == 0)
		l->got_recv = 1;
	else
		l->got_send = 1;
}

/* Ping-pongs count times (iterations first..); each round trip goes into
 * the histogram if record. Returns the ns of the whole loop. */
static uint64_t lat_phase(struct conn *c, struct step *st, uint64_t first, uint64_t count,
			  int record, const char *phase)
{
	struct lat l = { .st = st };
	uint64_t t0 = bench_now_ns(), ta = t0;
	int wlat = st->test == T_RDMA_WRITE_LAT;

	c->on_data = lat_done;
	c->arg = &l;
	for (uint64_t j = 0; j < count; j++) {
		uint64_t i = first + j, tb;
		int last = i == st->total - 1;
		struct san_buf sb;
		san_handle h;
		char *buf;
		int rc;

		l.got_send = l.got_recv = 0;
		if (!wlat) { /* the pong's receive first: it must be there in time */
			struct san_buf rb = { st->rbuf, st->size, st->rh };

			rc = san_recv(c->s, &rb, 1, CTX(CX_DATA, 0));
			if (rc)
				die("san_recv: %s", san_strerror(rc));
		}
		buf = bufset_take(&st->bs, i, last);
		if (wlat)
			buf[st->size - 1] = (char)tag_of(i);
		SAN_OK(san_register_memory(c->s, buf, st->size, SAN_MEM_READ, &h));
		sb = (struct san_buf){ buf, st->size, h };
		if (wlat)
			rc = san_rdma_write(c->s, &sb, 1, &st->peer, 0, CTX(CX_DATA, 1));
		else
			rc = san_send(c->s, &sb, 1, CTX(CX_DATA, 1));
		if (rc)
			die("%s: %s", tests[st->test].name, san_strerror(rc));
		if (wlat) /* the answer is the tag in the last byte of rbuf */
			SPIN_UNTIL(c, l.got_send && peek_last(st->rbuf, st->size) == tag_of(i));
		else
			SPIN_UNTIL(c, l.got_send && l.got_recv);
		SAN_OK(san_deregister_memory(c->s, h));
		bufset_give(&st->bs, buf);
		tb = bench_now_ns();
		if (record)
			hist_add(tb - ta);
		ta = tb;
		if ((j & 63) == 0)
			progress_tick(phase, j);
	}
	c->on_data = NULL;
	return bench_now_ns() - t0;
}

/* -- registration cost -- */

static uint64_t clock_cost_ns;

/* One clock read, as two back-to-back reads see it (median of 1001). */
static void measure_clock(void)
{
	static uint64_t d[1001];
	int n = (int)(sizeof(d) / sizeof(d[0]));

	for (int i = 0; i < n; i++) {
		uint64_t a = bench_now_ns();

		d[i] = bench_now_ns() - a;
	}
	for (int i = 1; i < n; i++) /* insertion sort: small and once */
		for (int j = i; j > 0 && d[j - 1] > d[j]; j--) {
			uint64_t t = d[j];

			d[j] = d[j - 1];
			d[j - 1] = t;
		}
	clock_cost_ns = d[n / 2];
}

/* count register+deregister pairs (numbered first..); returns the ns the
 * pairs took (mmap, writing and munmap of fresh buffers excluded). */
static uint64_t reg_phase(struct conn *c, struct bufset *bs, uint64_t size, uint64_t first,
			  uint64_t count, int record, const char *phase)
{
	uint64_t sum = 0;

	for (uint64_t j = 0; j < count; j++) {
		char *buf = bufset_take(bs, first + j, 0);
		uint64_t t0, t1, d;
		san_handle h;
		int rc;

		t0 = bench_now_ns();
		rc = san_register_memory(c->s, buf, size, SAN_MEM_READ, &h);
		if (!rc)
			rc = san_deregister_memory(c->s, h);
		t1 = bench_now_ns();
		if (rc)
			die("reg %" PRIu64 " bytes: %s", size, san_strerror(rc));
		bufset_give(bs, buf);
		d = t1 - t0;
		d = d > clock_cost_ns ? d - clock_cost_ns : 0;
		sum += d;
		if (record)
			hist_add(d);
		if ((j & 1023) == 0)
			progress_tick(phase, j);
	}
	return sum;
}

static void run_reg(struct client *cl, uint64_t size, int cache_on, struct row *r)
{
	struct conn *c = cache_on == cl->main_cache ? &cl->main : &cl->alt;
	struct san_stats s0, s1;
	struct bufset bs;
	uint64_t w, n, t, wt = 0, first = 0, tw0;
	char sz[32], label[96];

	snprintf(label, sizeof(label), "reg %s cache %s", bench_size_str(size, sz, sizeof(sz)),
		 cache_on ? "on" : "off");
	progress_begin(label);
	bufset_init(&bs, size, 1, seed_of(T_REG, size), last_seed_of(seed_of(T_REG, size)));
	/* Warm-up; with the automatic warm-up and no --iters, grown until it
	 * took 20 ms, so that the calibration has something to go by. */
	w = warmup_for(K_REG, size);
	tw0 = bench_now_ns();
	for (uint64_t batch = w; batch;) {
		prog.base = 0;
		prog.total = batch;
		reg_phase(c, &bs, size, first, batch, 0, "warm-up");
		first += batch;
		wt = bench_now_ns() - tw0;
		if (opt.warmup >= 0 || opt.iters || wt >= 20000000ull || first >= 10000000)
			break;
		batch = first;
	}
	n = calibrate(K_REG, size, first, (double)wt * 1e-9);
	hist_reset();
	prog.base = 0;
	prog.total = n;
	SAN_OK(san_get_stats(c->p, &s0));
	t = reg_phase(c, &bs, size, first, n, 1, "timed");
	SAN_OK(san_get_stats(c->p, &s1));
	bufset_fini(&bs);

	*r = (struct row){ .test = T_REG, .size = size, .iters = n, .cache_on = cache_on };
	r->bytes = (double)n * (double)size;
	r->seconds = (double)t * 1e-9;
	r->mb_s = -1;
	r->ops_s = t ? (double)n / r->seconds : -1;
	r->lat_avg = (double)t / (double)n / 1e3;
	r->lat_p50 = hist_pct(0.50) / 1e3;
	r->lat_p99 = hist_pct(0.99) / 1e3;
	r->pins_per_op = (double)(s1.pins - s0.pins) / (double)n;
	progress_end(n, r->seconds);
}

/* -- one (test, size) of a transfer test -- */

static uint64_t run_phase(struct conn *c, struct step *st, uint64_t first, uint64_t count,
			  int record, const char *phase)
{
	if (!count)
		return 0;
	if (tests[st->test].kind == K_BW)
		return bw_phase(c, st, first, count, phase);
	return lat_phase(c, st, first, count, record, phase);
}

static void run_step(struct client *cl, int test, uint64_t size, struct row *r)
{
	struct conn *c = &cl->main;
	const struct test_info *ti = &tests[test];
	struct step *st = calloc(1, sizeof(*st));
	struct ctl_msg m, rep;
	struct san_stats s0, s1;
	uint64_t w, n, tw, t, plan, chunk, budget;
	char sz[32], label[96];

	if (!st)
		die("out of memory");
	snprintf(label, sizeof(label), "%s %s", ti->name, bench_size_str(size, sz, sizeof(sz)));
	progress_begin(label);
	st->test = test;
	st->size = size;
	st->slots = ti->kind == K_BW ? slots_for(size) : 1;
	st->total = UINT64_MAX;
	st->seed = seed_of(test, size);
	st->last_seed = last_seed_of(st->seed);
	bufset_init(&st->bs, size, ti->op != SAN_OP_RDMA_READ, st->seed, st->last_seed);
	bufset_prime(&st->bs, c->s, ti->op == SAN_OP_RDMA_READ ? SAN_MEM_WRITE : SAN_MEM_READ);
	if (ti->kind == K_LAT) {
		st->rbuf = map_bytes(size);
		memset(st->rbuf, 0, size);
		if (test == T_RDMA_WRITE_LAT)
			SAN_OK(san_register_rdma_memory(c->s, st->rbuf, size, SAN_MEM_WRITE,
							&st->rdesc));
		else
			SAN_OK(san_register_memory(c->s, st->rbuf, size, SAN_MEM_WRITE, &st->rh));
	}
	w = warmup_for(ti->kind, size);

	m = (struct ctl_msg){ .type = M_BEGIN, .test = (uint32_t)test, .slots = st->slots,
			      .size = size, .count = w, .seed = st->seed,
			      .last_seed = st->last_seed, .desc = st->rdesc };
	ctl_call(c, &m, M_READY, &rep);
	if (rep.status)
		die("the server could not set up %s: %s", label, san_strerror((int)rep.status));
	st->peer = rep.desc;

	prog.base = 0;
	prog.total = w;
	tw = run_phase(c, st, 0, w, 0, "warm-up");
	plan = calibrate(ti->kind, size, w, (double)tw * 1e-9);

	/* The timed phase. With --iters: exactly that, in one go. Calibrated:
	 * in chunks of about a quarter, so that a machine that got slower
	 * since the warm-up (a busy-polling peer that now shares a CPU) cannot
	 * stretch a step without bound: past 2.5 x --seconds, one more
	 * operation (the last, with its own pattern) ends it. Each chunk is
	 * announced with GO; only the final one tells the server the total. */
	chunk = opt.iters ? plan : (plan + 3) / 4;
	budget = opt.iters ? UINT64_MAX : (uint64_t)(2.5 * opt.seconds * 1e9);
	hist_reset();
	SAN_OK(san_get_stats(c->p, &s0));
	for (n = 0, t = 0;;) {
		uint64_t cnt = plan - n < chunk ? plan - n : chunk;
		int final = n + cnt >= plan;

		if (!final && t >= budget) {
			cnt = 1;
			final = 1;
		}
		st->total = final ? w + n + cnt : UINT64_MAX;
		m = (struct ctl_msg){ .type = M_GO, .test = (uint32_t)test, .size = size,
				      .count = cnt, .total = final ? st->total : 0 };
		if (final && test == T_RDMA_READ_BW) {
			struct ctl_msg ack;

			ctl_call(c, &m, M_READY, &ack); /* the last pattern is in place */
		} else {
			ctl_send(c, &m);
		}
		prog.base = n;
		prog.total = plan;
		t += run_phase(c, st, w + n, cnt, 1, "timed");
		n += cnt;
		if (final)
			break;
	}
	SAN_OK(san_get_stats(c->p, &s1));

	/* The client's own checks: the last pong. */
	if (test == T_SEND_LAT) {
		size_t bad = pattern_check(st->rbuf, size, st->last_seed);

		if (bad != size)
			step_bad(st, "the last echo came back wrong at byte %zu", bad);
	} else if (test == T_RDMA_WRITE_LAT) {
		size_t bad = pattern_check(st->rbuf, size - 1, pong_seed(st->last_seed));

		if (bad != size - 1)
			step_bad(st, "the server's last write is wrong at byte %zu", bad);
		else if (peek_last(st->rbuf, size) != tag_of(st->total - 1))
			step_bad(st, "the server's last write has tag %u, want %u",
				 peek_last(st->rbuf, size), tag_of(st->total - 1));
	}
	m = (struct ctl_msg){ .type = M_END, .test = (uint32_t)test, .size = size,
			      .total = st->total };
	ctl_call(c, &m, M_RESULT, &rep);
	if (rep.status == 1)
		step_bad(st, "the server's buffer is wrong at byte %" PRIu64 " (slot %" PRIu64
			 ", offset %" PRIu64 ")", rep.value, rep.value / size, rep.value % size);
	else if (rep.status)
		die("the server's check of %s failed: %s", label, san_strerror((int)rep.status));

	if (test == T_RDMA_WRITE_LAT)
		SAN_OK(san_deregister_rdma_memory(c->s, &st->rdesc));
	else if (st->rh)
		SAN_OK(san_deregister_memory(c->s, st->rh));
	unmap_bytes(st->rbuf, size);
	bufset_fini(&st->bs);

	*r = (struct row){ .test = test, .size = size, .iters = n, .cache_on = cl->main_cache };
	r->bytes = (double)n * (double)size;
	r->seconds = (double)t * 1e-9;
	r->ops_s = (double)n / r->seconds;
	r->pins_per_op = (double)(s1.pins - s0.pins) / (double)n;
	if (ti->kind == K_BW) {
		r->mb_s = r->bytes / r->seconds / 1e6;
		r->lat_avg = r->lat_p50 = r->lat_p99 = -1;
	} else { /* one-way: half the round trip */
		r->mb_s = -1;
		r->lat_avg = (double)hist.sum / (double)hist.n / 2e3;
		r->lat_p50 = hist_pct(0.50) / 2e3;
		r->lat_p99 = hist_pct(0.99) / 2e3;
	}
	progress_end(n, r->seconds);
	if (st->bad) {
		r->bad = 1;
		failed = 1;
		progress_clear();
		fprintf(stderr, "san-perf: %s: BAD content: %s\n", label, st->why);
	}
	free(st);
}

static void print_results(const struct client *cl);

static int client_run(const char *addr, const char *where)
{
	struct client *cl = calloc(1, sizeof(*cl));
	struct ctl_msg m = { .type = M_PLAN }, rep;
	san_provider *p;
	san_socket *s;
	int rc, extra = has_test(T_REG) && reg_both();

	if (!cl)
		die("out of memory");
	snprintf(cl->where, sizeof(cl->where), "%s", where);
	p = open_provider(opt.cache);
	{
		struct san_config cfg;

		make_config(&cfg, opt.cache);
		cl->main_cache = cfg.rcache_enabled;
	}
	rc = san_connect(p, addr, &s);
	if (rc)
		die("san_connect %s: %s", addr, san_strerror(rc));
	conn_init(&cl->main, p, s, "server");

	m.ntests = (uint32_t)opt.ntests;
	for (int i = 0; i < opt.ntests; i++)
		m.tests[i] = (uint32_t)opt.tests[i];
	m.nsizes = (uint32_t)opt.nsizes;
	memcpy(m.sizes, opt.sizes, sizeof(m.sizes));
	m.depth = opt.depth;
	m.extra_conns = extra;
	ctl_call(&cl->main, &m, M_PLAN_OK, &rep);
	if (rep.status)
		die("the server refused the plan: %s", san_strerror((int)rep.status));
	cl->server_cache = (int)rep.value;
	if (extra) { /* reg with the other cache setting: its own provider */
		san_provider *p2 = open_provider(!cl->main_cache);
		san_socket *s2;

		rc = san_connect(p2, addr, &s2);
		if (rc)
			die("san_connect %s (second connection, for reg): %s", addr,
			    san_strerror(rc));
		conn_init(&cl->alt, p2, s2, "server");
	}

	nrows = 0;
	rows = calloc((size_t)opt.ntests * (size_t)opt.nsizes * 2, sizeof(*rows));
	if (!rows)
		die("out of memory");
	for (int ti = 0; ti < opt.ntests; ti++) {
		int test = opt.tests[ti];

		for (int si = 0; si < opt.nsizes; si++) {
			uint64_t size = opt.sizes[si];

			if (test != T_REG) {
				run_step(cl, test, size, &rows[nrows++]);
			} else if (reg_both()) {
				run_reg(cl, size, 1, &rows[nrows++]);
				run_reg(cl, size, 0, &rows[nrows++]);
			} else {
				run_reg(cl, size, cl->main_cache, &rows[nrows++]);
			}
		}
	}
	progress_clear();

	m = (struct ctl_msg){ .type = M_BYE };
	ctl_send(&cl->main, &m);
	if (cl->alt.s) {
		san_provider *p2 = cl->alt.p;

		conn_close(&cl->alt);
		san_provider_close(p2);
	}
	conn_close(&cl->main);
	san_provider_close(p);
	print_results(cl);
	free(rows);
	free(cl);
	return failed;
}

/* ==== server ==== */

struct srv {
	struct conn c;
	int forked;
	uint32_t plan_tests;  /* bit per test */
	uint64_t sizes[MAX_SIZES];
	unsigned nsizes;
	/* the step under way */
	int active, test;
	uint64_t size, next, total, seed, last_seed;
	unsigned slots;
	char *buf, *sbuf;     /* sbuf: rdma_write_lat's pong source */
	size_t buflen;
	san_handle h, sh;
	struct san_rdma_desc desc, peer;
	int has_desc;
	/* phase bookkeeping */
	uint64_t rdone;       /* receives completed in the phase */
	int send_busy;
};

static void srv_data(void *arg, const struct san_completion *k)
{
	struct srv *sv = arg;
	uint64_t idx = CTX_IDX(k->ctx);

	if (k->status)
		die("%s: op %d: %s", tests[sv->test].name, k->op, san_strerror(k->status));
	if (k->op == SAN_OP_RECV) {
		uint64_t want = (sv->next + sv->rdone) & CTX_IDX_MASK;

		if (idx != want)
			die("%s: receive #%" PRIu64 " completed where #%" PRIu64 " was due",
			    tests[sv->test].name, idx, want);
		if (k->bytes != sv->size)
			die("%s: message #%" PRIu64 " has %zu bytes, want %" PRIu64,
			    tests[sv->test].name, idx, k->bytes, sv->size);
		sv->rdone++;
	} else if (k->op == SAN_OP_SEND || k->op == SAN_OP_RDMA_WRITE) {
		if (k->bytes != sv->size)
			die("%s: %zu bytes went, want %" PRIu64, tests[sv->test].name, k->bytes,
			    sv->size);
		sv->send_busy = 0;
	} else {
		die("unexpected completion: op %d", k->op);
	}
}

static void srv_post_recv(struct srv *sv, char *buf, uint64_t idx)
{
	struct san_buf b = { buf, sv->size, sv->h };
	int rc;

	while ((rc = san_recv(sv->c.s, &b, 1, CTX(CX_DATA, idx))) == -EAGAIN)
		pump(&sv->c, 10);
	if (rc)
		die("san_recv: %s", san_strerror(rc));
}

/* send_bw: count messages into the slots, then DONE. */
static void srv_recv_phase(struct srv *sv, uint64_t count)
{
	struct conn *c = &sv->c;
	uint64_t posted = 0;
	struct ctl_msg m = { .type = M_DONE };

	sv->rdone = 0;
	c->idle_since = bench_now_ns();
	while (sv->rdone < count) {
		while (posted < count && posted - sv->rdone < sv->slots) {
			uint64_t k = sv->next + posted;

			srv_post_recv(sv, sv->buf + (k % sv->slots) * sv->size, k);
			posted++;
		}
		pump_wait(c, 1);
	}
	sv->next += count;
	ctl_send(c, &m);
}

/* send_lat: receive a ping into one of two buffers, echo it back from
 * there; the next receive goes into the other buffer before the echo
 * leaves, so the client's next ping always finds it. */
static void srv_echo_phase(struct srv *sv, uint64_t count)
{
	struct conn *c = &sv->c;

	sv->rdone = 0;
	sv->send_busy = 0;
	srv_post_recv(sv, sv->buf + (sv->next % 2) * sv->size, sv->next);
	for (uint64_t j = 0; j < count; j++) {
		uint64_t k = sv->next + j;
		char *b = sv->buf + (k % 2) * sv->size;
		struct san_buf sb = { b, sv->size, sv->h };
		int rc;

		SPIN_UNTIL(c, sv->rdone > j && !sv->send_busy); /* and the previous echo left */
		if (j + 1 < count)
			srv_post_recv(sv, sv->buf + ((k + 1) % 2) * sv->size, k + 1);
		rc = san_send(c->s, &sb, 1, CTX(CX_DATA, k));
		if (rc)
			die("san_send (echo): %s", san_strerror(rc));
		sv->send_busy = 1;
	}
	SPIN_UNTIL(c, !sv->send_busy);
	sv->next += count;
}

/* rdma_write_lat: wait for the client's tag in the last byte, write back. */
static void srv_wlat_phase(struct srv *sv, uint64_t count)
{
	struct conn *c = &sv->c;

	sv->send_busy = 0;
	for (uint64_t j = 0; j < count; j++) {
		uint64_t k = sv->next + j;
		uint8_t want = tag_of(k);
		struct san_buf sb = { sv->sbuf, sv->size, sv->sh };
		int rc;

		SPIN_UNTIL(c, peek_last(sv->buf, sv->size) == want && !sv->send_busy);
		if (k == sv->total - 1)
			pattern_fill(sv->sbuf, sv->size, pong_seed(sv->last_seed));
		sv->sbuf[sv->size - 1] = (char)want;
		rc = san_rdma_write(c->s, &sb, 1, &sv->peer, 0, CTX(CX_DATA, k));
		if (rc)
			die("san_rdma_write (answer): %s", san_strerror(rc));
		sv->send_busy = 1;
	}
	SPIN_UNTIL(c, !sv->send_busy);
	sv->next += count;
}

static void srv_phase(struct srv *sv, uint64_t count)
{
	if (!count)
		return;
	switch (sv->test) {
	case T_SEND_BW:
		srv_recv_phase(sv, count);
		break;
	case T_SEND_LAT:
		srv_echo_phase(sv, count);
		break;
	case T_RDMA_WRITE_LAT:
		srv_wlat_phase(sv, count);
		break;
	default: /* one-sided: the NIC serves the client on its own */
		sv->next += count;
		break;
	}
}

static int srv_in_plan(const struct srv *sv, uint32_t test, uint64_t size)
{
	if (test >= T_COUNT || test == T_REG || !(sv->plan_tests & (1u << test)))
		return 0;
	for (unsigned i = 0; i < sv->nsizes; i++)
		if (sv->sizes[i] == size)
			return 1;
	return 0;
}

static void srv_begin(struct srv *sv, const struct ctl_msg *m)
{
	struct conn *c = &sv->c;
	struct ctl_msg rep = { .type = M_READY };
	int rc = 0;

	if (sv->active)
		die("protocol: BEGIN while a step is under way");
	if (!srv_in_plan(sv, m->test, m->size))
		die("protocol: BEGIN of a test or size that is not in the plan");
	if (m->slots < 1 || m->slots > MAX_DEPTH)
		die("protocol: BEGIN with %u slots", m->slots);
	sv->active = 1;
	sv->test = (int)m->test;
	sv->size = m->size;
	sv->slots = m->slots;
	sv->seed = m->seed;
	sv->last_seed = m->last_seed;
	sv->next = 0;
	sv->total = UINT64_MAX;
	sv->peer = m->desc;
	sv->has_desc = 0;
	sv->h = sv->sh = 0;
	sv->sbuf = NULL;
	switch (sv->test) {
	case T_RDMA_WRITE_BW:
	case T_RDMA_READ_BW:
		sv->buflen = (size_t)sv->slots * sv->size;
		sv->buf = map_bytes(sv->buflen);
		if (sv->test == T_RDMA_READ_BW)
			for (unsigned i = 0; i < sv->slots; i++)
				pattern_fill(sv->buf + (size_t)i * sv->size, sv->size, sv->seed);
		else
			memset(sv->buf, 0, sv->buflen); /* a slot never written fails */
		rc = san_register_rdma_memory(c->s, sv->buf, sv->buflen,
					      sv->test == T_RDMA_READ_BW ? SAN_MEM_READ : SAN_MEM_WRITE,
					      &sv->desc);
		sv->has_desc = !rc;
		break;
	case T_SEND_BW:
	case T_SEND_LAT:
		if (sv->test == T_SEND_LAT)
			sv->slots = 2;
		sv->buflen = (size_t)sv->slots * sv->size;
		sv->buf = map_bytes(sv->buflen);
		memset(sv->buf, 0, sv->buflen);
		rc = san_register_memory(c->s, sv->buf, sv->buflen, SAN_MEM_READWRITE, &sv->h);
		break;
	case T_RDMA_WRITE_LAT:
		sv->buflen = sv->size;
		sv->buf = map_bytes(sv->size);
		memset(sv->buf, 0, sv->size);
		sv->sbuf = map_bytes(sv->size);
		pattern_fill(sv->sbuf, sv->size, pong_seed(sv->seed));
		rc = san_register_rdma_memory(c->s, sv->buf, sv->size, SAN_MEM_WRITE, &sv->desc);
		sv->has_desc = !rc;
		if (!rc)
			rc = san_register_memory(c->s, sv->sbuf, sv->size, SAN_MEM_READ, &sv->sh);
		break;
	}
	rep.status = rc;
	rep.desc = sv->desc;
	ctl_send(c, &rep);
	if (rc)
		die("registering %zu bytes for %s: %s", sv->buflen, tests[sv->test].name,
		    san_strerror(rc));
	srv_phase(sv, m->count);
}

/* GO: a chunk of the timed phase; the final chunk carries the total. */
static void srv_go(struct srv *sv, const struct ctl_msg *m)
{
	if (!sv->active || sv->total != UINT64_MAX || !m->count ||
	    (m->total && m->total != sv->next + m->count))
		die("protocol: GO out of step");
	if (!m->total) {
		srv_phase(sv, m->count);
		return;
	}
	sv->total = m->total;
	/* rdma_read_bw: the slot the last read reads gets the last pattern;
	 * no read is in flight between the phases. The NIC serves reads
	 * without us, so the client waits for this answer before it posts
	 * the final chunk (which may be a single read). */
	if (sv->test == T_RDMA_READ_BW) {
		struct ctl_msg rep = { .type = M_READY };

		pattern_fill(sv->buf + ((sv->total - 1) % sv->slots) * sv->size, sv->size,
			     sv->last_seed);
		ctl_send(&sv->c, &rep);
	}
	srv_phase(sv, m->count);
}

/* The server's content check: every slot that was written or received
 * into holds the pattern, the last operation's slot its own pattern.
 * Returns the offset of the first wrong byte, or UINT64_MAX. */
static uint64_t srv_check(struct srv *sv)
{
	uint64_t n, lastslot, size = sv->size;

	switch (sv->test) {
	case T_RDMA_WRITE_BW:
	case T_SEND_BW:
		n = sv->total < sv->slots ? sv->total : sv->slots;
		lastslot = (sv->total - 1) % sv->slots;
		for (uint64_t s = 0; s < n; s++) {
			size_t bad = pattern_check(sv->buf + s * size, size,
						   s == lastslot ? sv->last_seed : sv->seed);
			if (bad != size)
				return s * size + bad;
		}
		break;
	case T_SEND_LAT: {
		uint64_t off = ((sv->total - 1) % 2) * size;
		size_t bad = pattern_check(sv->buf + off, size, sv->last_seed);

		if (bad != size)
			return off + bad;
		break;
	}
	case T_RDMA_WRITE_LAT: {
		size_t bad = pattern_check(sv->buf, size - 1, sv->last_seed);

		if (bad != size - 1)
			return bad;
		if (peek_last(sv->buf, size) != tag_of(sv->total - 1))
			return size - 1;
		break;
	}
	default:
		break;
	}
	return UINT64_MAX;
}

static void srv_end(struct srv *sv, const struct ctl_msg *m)
{
	struct conn *c = &sv->c;
	struct ctl_msg rep = { .type = M_RESULT };
	uint64_t bad;

	if (!sv->active || m->total != sv->total || sv->next != sv->total)
		die("protocol: END out of step");
	bad = srv_check(sv);
	if (bad != UINT64_MAX) {
		rep.status = 1;
		rep.value = bad;
	}
	if (sv->has_desc)
		SAN_OK(san_deregister_rdma_memory(c->s, &sv->desc));
	if (sv->h)
		SAN_OK(san_deregister_memory(c->s, sv->h));
	if (sv->sh)
		SAN_OK(san_deregister_memory(c->s, sv->sh));
	unmap_bytes(sv->buf, sv->buflen);
	unmap_bytes(sv->sbuf, sv->size);
	sv->buf = sv->sbuf = NULL;
	sv->has_desc = 0;
	sv->h = sv->sh = 0;
	sv->active = 0;
	ctl_send(c, &rep);
}

/* Listens on addr, tells where (report_fd, else stdout), serves one
 * session. Returns the exit status. */
static int server_run(const char *addr, int report_fd)
{
	struct srv *sv = calloc(1, sizeof(*sv));
	san_provider *p;
	san_listener *l;
	san_socket *s, *extra = NULL;
	struct ctl_msg m, rep;
	char bound[256];
	int rc, steps = 0;

	if (!sv)
		die("out of memory");
	who = "san-perf server";
	sv->forked = report_fd >= 0;
	p = open_provider(opt.cache);
	rc = san_listen(p, addr, &l);
	if (rc)
		die("san_listen %s: %s", addr, san_strerror(rc));
	if (san_listener_addr(l, bound, sizeof(bound)) <= 0)
		die("san_listener_addr failed");
	if (sv->forked) {
		size_t n = strlen(bound);

		bound[n] = '\n';
		if (write(report_fd, bound, n + 1) != (ssize_t)(n + 1))
			die("cannot tell the client where: %s", strerror(errno));
		close(report_fd);
		bound[n] = 0;
	} else if (!opt.quiet) {
		printf("san-perf server: listening on %s\n", bound);
		fflush(stdout);
	}
	rc = san_accept(l, sv->forked ? 30000 : -1, &s);
	if (rc)
		die("san_accept: %s", san_strerror(rc));
	conn_init(&sv->c, p, s, "client");
	sv->c.on_data = srv_data;
	sv->c.arg = sv;
	err_conn = &sv->c;

	ctl_post_recv(&sv->c);
	ctl_wait(&sv->c, M_PLAN, 1, &m);
	rep = (struct ctl_msg){ .type = M_PLAN_OK };
	if (m.ntests > T_COUNT || m.nsizes > MAX_SIZES || m.extra_conns > 1)
		rep.status = -EINVAL;
	for (unsigned i = 0; !rep.status && i < m.ntests; i++) {
		if (m.tests[i] >= T_COUNT)
			rep.status = -EINVAL;
		else
			sv->plan_tests |= 1u << m.tests[i];
	}
	sv->nsizes = m.nsizes <= MAX_SIZES ? m.nsizes : 0;
	memcpy(sv->sizes, m.sizes, sizeof(sv->sizes));
	{
		struct san_config cfg;

		make_config(&cfg, opt.cache);
		rep.value = (uint64_t)cfg.rcache_enabled;
	}
	ctl_send(&sv->c, &rep);
	if (rep.status)
		die("the client's plan is malformed");
	if (!opt.quiet && !sv->forked)
		fprintf(stderr, "san-perf server: a client connected: %u tests x %u sizes\n",
			m.ntests, m.nsizes);
	if (m.extra_conns) {
		rc = san_accept(l, 30000, &extra);
		if (rc)
			die("san_accept (second connection): %s", san_strerror(rc));
	}
	san_listener_close(l);

	for (;;) {
		ctl_post_recv(&sv->c);
		ctl_wait(&sv->c, 0, 0, &m);
		if (m.type == M_BYE)
			break;
		switch (m.type) {
		case M_BEGIN:
			srv_begin(sv, &m);
			break;
		case M_GO:
			srv_go(sv, &m);
			break;
		case M_END:
			srv_end(sv, &m);
			steps++;
			break;
		default:
			die("protocol: unexpected %s from the client", msg_name(m.type));
		}
	}
	err_conn = NULL;
	if (extra)
		SAN_OK(san_close(extra));
	conn_close(&sv->c);
	san_provider_close(p);
	if (!opt.quiet && !sv->forked)
		fprintf(stderr, "san-perf server: session done, %d step%s\n", steps,
			steps == 1 ? "" : "s");
	free(sv);
	return 0;
}

/* ==== output ==== */

static const char *transport_of(const char *addr)
{
	return !strncmp(addr, "unix:", 5) ? "unix" : "tcp";
}

static char run_addr[256]; /* the address the client connected to */

static void fmt_num(char *buf, size_t len, double v, const char *fmt)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, fmt, v);
}

static void fmt_lat(char *buf, size_t len, double v)
{
	fmt_num(buf, len, v, v >= 0 && v < 1 ? "%.3f" : "%.2f");
}

/* CSV and JSON: a number, or nothing / null. */
static void put_num(double v, const char *fmt, int json)
{
	if (v < 0)
		fputs(json ? "null" : "", stdout);
	else
		printf(fmt, v);
}

static void print_results(const struct client *cl)
{
	const char *tr = transport_of(run_addr);
	int any_lat = 0, any_bw = 0, any_reg = 0;

	if (opt.format == FMT_CSV) {
		printf("test,size,iters,bytes,seconds,mb_s,ops_s,lat_avg_us,lat_p50_us,lat_p99_us,"
		       "transport,cache,reuse\n");
		for (int i = 0; i < nrows; i++) {
			const struct row *r = &rows[i];

			printf("%s,%" PRIu64 ",%" PRIu64 ",%.0f,%.6f,", tests[r->test].name, r->size,
			       r->iters, r->bytes, r->seconds);
			put_num(r->mb_s, "%.3f", 0);
			putchar(',');
			put_num(r->ops_s, "%.1f", 0);
			putchar(',');
			put_num(r->lat_avg, "%.3f", 0);
			putchar(',');
			put_num(r->lat_p50, "%.3f", 0);
			putchar(',');
			put_num(r->lat_p99, "%.3f", 0);
			printf(",%s,%s,%s\n", tr, r->cache_on ? "on" : "off", opt.reuse_str);
		}
		return;
	}
	if (opt.format == FMT_JSON) {
		printf("[");
		for (int i = 0; i < nrows; i++) {
			const struct row *r = &rows[i];

			printf("%s\n  {\"test\":\"%s\",\"size\":%" PRIu64 ",\"iters\":%" PRIu64
			       ",\"bytes\":%.0f,\"seconds\":%.6f,\"mb_s\":",
			       i ? "," : "", tests[r->test].name, r->size, r->iters, r->bytes,
			       r->seconds);
			put_num(r->mb_s, "%.3f", 1);
			fputs(",\"ops_s\":", stdout);
			put_num(r->ops_s, "%.1f", 1);
			fputs(",\"lat_avg_us\":", stdout);
			put_num(r->lat_avg, "%.3f", 1);
			fputs(",\"lat_p50_us\":", stdout);
			put_num(r->lat_p50, "%.3f", 1);
			fputs(",\"lat_p99_us\":", stdout);
			put_num(r->lat_p99, "%.3f", 1);
			printf(",\"transport\":\"%s\",\"cache\":\"%s\",\"reuse\":\"%s\"}", tr,
			       r->cache_on ? "on" : "off", opt.reuse_str);
		}
		printf("\n]\n");
		return;
	}

	printf("san-perf (libsan %d.%d): %s; cache %s (server %s); reuse %s; window %u; ",
	       SAN_VERSION_MAJOR, SAN_VERSION_MINOR, cl->where, cl->main_cache ? "on" : "off",
	       cl->server_cache ? "on" : "off", opt.reuse_str, opt.depth);
	if (opt.iters)
		printf("%" PRIu64 " iterations per size\n", opt.iters);
	else
		printf("~%.2g s per size\n", opt.seconds);
	printf("%-15s %8s %10s %10s %9s %9s %9s %9s %8s %5s %5s\n", "test", "size", "iters",
	       "MB/s", "Mops/s", "avg us", "p50 us", "p99 us", "pins/op", "cache", "check");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		char sz[32], mb[24], ops[24], a[24], p50[24], p99[24];

		fmt_num(mb, sizeof(mb), r->mb_s, "%.1f");
		fmt_num(ops, sizeof(ops), r->ops_s < 0 ? -1 : r->ops_s / 1e6, "%.4f");
		fmt_lat(a, sizeof(a), r->lat_avg);
		fmt_lat(p50, sizeof(p50), r->lat_p50);
		fmt_lat(p99, sizeof(p99), r->lat_p99);
		printf("%-15s %8s %10" PRIu64 " %10s %9s %9s %9s %9s %8.2f %5s %5s\n",
		       tests[r->test].name, bench_size_str(r->size, sz, sizeof(sz)), r->iters, mb,
		       ops, a, p50, p99, r->pins_per_op, r->cache_on ? "on" : "off",
		       r->test == T_REG ? "-" : r->bad ? "BAD" : "ok");
		any_bw |= tests[r->test].kind == K_BW;
		any_lat |= tests[r->test].kind == K_LAT;
		any_reg |= r->test == T_REG;
	}
	printf("MB/s = 10^6 B/s.");
	if (any_bw)
		printf(" bw: %u operations outstanding, from the first post to the last "
		       "completion\n  (send_bw: until the server has the last message).",
		       opt.depth);
	printf("\n");
	if (any_lat)
		printf("lat: one-way = RTT/2 of a ping-pong; rdma_write_lat as ib_write_lat (each "
		       "side RDMA-writes\n  into the other's buffer and polls its last byte); "
		       "Mops/s = round trips.\n");
	if (any_bw || any_lat)
		printf("Transfers register and deregister the client's buffer around every "
		       "operation, inside\n  the timing (reuse %s). check: the receiver "
		       "verified the last transfer's bytes.\n",
		       opt.reuse == REUSE_ONE ? "one: the same buffer" :
		       opt.reuse == REUSE_RR ? "N: N buffers round-robin" :
					       "fresh: a new mmap each time");
	if (any_reg)
		printf("reg: san_register_memory + san_deregister_memory, us per pair (clock read "
		       "of %" PRIu64 " ns subtracted);\n  pins/op from san_get_stats.\n",
		       clock_cost_ns);
}

/* ==== options ==== */

static void add_size(uint64_t v)
{
	if (opt.nsizes == MAX_SIZES)
		usage_error("too many sizes in --sizes (at most %d)", MAX_SIZES);
	opt.sizes[opt.nsizes++] = v;
}

static void parse_sizes(const char *arg)
{
	char *list = strdup(arg), *save = NULL, *tok;

	if (!list)
		die("out of memory");
	opt.nsizes = 0;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		uint64_t a, b;

		if (!colon) {
			if (bench_parse_size(tok, MAX_SIZE, &a))
				usage_error("bad size '%s' in --sizes (1 B .. 1 GiB, K/M/G suffixes)",
					    tok);
			add_size(a);
			continue;
		}
		*colon = 0;
		if (bench_parse_size(tok, MAX_SIZE, &a) ||
		    bench_parse_size(colon + 1, MAX_SIZE, &b) || a > b)
			usage_error("bad range '%s:%s' in --sizes (A:B, 1 B <= A <= B <= 1 GiB)", tok,
				    colon + 1);
		while (a & (a - 1)) /* up to a power of two */
			a += a & -a;
		if (a > b)
			usage_error("range '%s:%s' in --sizes holds no power of two", tok, colon + 1);
		for (; a <= b; a *= 2)
			add_size(a);
	}
	free(list);
	if (!opt.nsizes)
		usage_error("--sizes is empty");
}

static void parse_tests(const char *arg)
{
	char *list = strdup(arg), *save = NULL, *tok;

	if (!list)
		die("out of memory");
	opt.ntests = 0;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int t, found = 0;

		if (!strcmp(tok, "all")) {
			for (t = 0; t < T_COUNT; t++)
				if (!has_test(t))
					opt.tests[opt.ntests++] = t;
			continue;
		}
		for (t = 0; t < T_COUNT; t++)
			if (!strcmp(tok, tests[t].name)) {
				found = 1;
				if (!has_test(t))
					opt.tests[opt.ntests++] = t;
			}
		if (!found)
			usage_error("unknown test '%s' (rdma_write_bw, rdma_read_bw, send_bw, "
				    "send_lat, rdma_write_lat, reg, all)", tok);
	}
	free(list);
	if (!opt.ntests)
		usage_error("--test is empty");
}

static uint64_t parse_count(const char *arg, const char *what, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || *arg == '-' || v < min || v > max)
		usage_error("bad %s '%s' (%" PRIu64 "..%" PRIu64 ")", what, arg, min, max);
	return v;
}

/* An address with its transport prefix; a bare one gets --transport's. */
static void set_addr(const char *arg)
{
	if (!strncmp(arg, "tcp:", 4) || !strncmp(arg, "unix:", 5))
		snprintf(opt.addr, sizeof(opt.addr), "%s", arg);
	else
		snprintf(opt.addr, sizeof(opt.addr), "%s:%s", opt.transport, arg);
	if (strlen(arg) + 6 >= sizeof(opt.addr))
		usage_error("address too long");
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: san-perf [options]                  fork a server over loopback, run the client\n"
"       san-perf --server ADDR [options]    serve one client session, then exit\n"
"       san-perf --client ADDR [options]    run against such a server\n"
"\n"
"Benchmarks libsan between two processes, like ib_write_bw / ucx_perftest.\n"
"  --test T[,T..]     rdma_write_bw, rdma_read_bw, send_bw, send_lat, rdma_write_lat,\n"
"                     reg, or all (default rdma_write_bw,rdma_read_bw,send_lat)\n"
"  --sizes LIST       sizes with K/M/G suffixes, or A:B = every power of two from A\n"
"                     to B; mixable: 8,1K:64K,1M (default 8,4K,64K,1M; max 1G)\n"
"  --iters N          timed operations per size (default: calibrated to --seconds)\n"
"  --warmup N         untimed operations first (default: automatic)\n"
"  --seconds S        timed work per size when --iters is not given (default 0.4;\n"
"                     a step that turns out slower is cut short at 2.5 x S)\n"
"  --depth N          bw tests: operations outstanding (default 16, max %d)\n"
"  --transport T      tcp (default) or unix: the forked server's transport, and the\n"
"                     prefix of an ADDR given without one\n"
"  --server ADDR      listen on ADDR (tcp:HOST:PORT, unix:PATH, unix:@NAME)\n"
"  --client ADDR      connect to a san-perf --server at ADDR\n"
"  --reuse R          the client's buffer per operation: one (default), N (N buffers\n"
"                     round-robin, N <= %d) or fresh (a new mmap every operation)\n"
"  --cache on|off     registration cache (SAN_RCACHE) of both processes; default: the\n"
"                     configuration's (on), and reg then runs both on and off\n"
"  --format F         table (default), csv or json\n"
"  --config           print the effective configuration and exit\n"
"  --quiet            no progress on stderr\n"
"  --help             this text\n"
"\n"
"What is measured:\n"
"  bw tests           --depth operations outstanding; time from the first post to the\n"
"                     last completion (an RDMA write completes when the server placed\n"
"                     it; send_bw: until the server has received the last message).\n"
"                     MB/s = 10^6 bytes/s.\n"
"  send_lat           ping-pong: the client sends, the server echoes the message.\n"
"  rdma_write_lat     ping-pong as ib_write_lat: each side RDMA-writes into the other's\n"
"                     buffer with an iteration tag in the last byte and busy-polls the\n"
"                     last byte of its own buffer (calling san_poll(0), which drives\n"
"                     its NIC) before answering. Not a completion latency.\n"
"                     Both latency tests busy-poll (yielding the CPU every 64 polls).\n"
"                     Latencies are one-way: RTT/2; avg, p50, p99 in microseconds.\n"
"  reg                us per san_register_memory + san_deregister_memory pair (mmap\n"
"                     and munmap of fresh buffers excluded) and pins per pair.\n"
"  Transfers register and deregister the client's buffer around every operation,\n"
"  inside the timing, so --reuse and --cache show; the server registers once per\n"
"  size. The receiver checks the bytes of each size's last transfer (BAD, exit 1).\n"
"\n"
"Exit status: 0 ok, 1 failure, 2 usage error. SAN_* environment variables configure\n"
"libsan in both processes (see --config).\n",
		MAX_DEPTH, MAX_REUSE);
}

static void print_config(void)
{
	struct san_config cfg;
	char buf[4096];

	make_config(&cfg, opt.cache);
	san_config_format(&cfg, buf, sizeof(buf));
	printf("# libsan configuration (defaults, SAN_* environment, --cache)\n%s", buf);
	printf("# san-perf\n");
	printf("%-20s = %s\n", "mode",
	       opt.mode == MODE_FORK ? "fork (server forked over loopback)" :
	       opt.mode == MODE_SERVER ? "server" : "client");
	if (opt.mode == MODE_FORK)
		printf("%-20s = %s\n", "address",
		       !strcmp(opt.transport, "unix") ? "unix:@san-perf-PID" : "tcp:127.0.0.1:0");
	else
		printf("%-20s = %s\n", "address", opt.addr);
	printf("%-20s = %s\n", "transport",
	       opt.mode == MODE_FORK ? opt.transport : transport_of(opt.addr));
	printf("%-20s = ", "tests");
	for (int i = 0; i < opt.ntests; i++)
		printf("%s%s", i ? "," : "", tests[opt.tests[i]].name);
	printf("\n%-20s = ", "sizes"); /* in --sizes syntax */
	for (int i = 0; i < opt.nsizes; i++) {
		uint64_t v = opt.sizes[i];
		const char *unit = "";

		if (v % (1u << 30) == 0) {
			v >>= 30;
			unit = "G";
		} else if (v % (1u << 20) == 0) {
			v >>= 20;
			unit = "M";
		} else if (v % 1024 == 0) {
			v >>= 10;
			unit = "K";
		}
		printf("%s%" PRIu64 "%s", i ? "," : "", v, unit);
	}
	printf("\n");
	if (opt.iters)
		printf("%-20s = %" PRIu64 "\n", "iters", opt.iters);
	else
		printf("%-20s = auto (calibrated to seconds)\n", "iters");
	printf("%-20s = %g\n", "seconds", opt.seconds);
	if (opt.warmup >= 0)
		printf("%-20s = %lld\n", "warmup", opt.warmup);
	else
		printf("%-20s = auto\n", "warmup");
	printf("%-20s = %u\n", "depth", opt.depth);
	printf("%-20s = %s\n", "reuse", opt.reuse_str);
	printf("%-20s = %s%s\n", "cache", cfg.rcache_enabled ? "on" : "off",
	       opt.cache < 0 ? " (from the configuration; reg runs on and off)" : "");
	printf("%-20s = %s\n", "format",
	       opt.format == FMT_TABLE ? "table" : opt.format == FMT_CSV ? "csv" : "json");
}

static void parse_args(int argc, char **argv)
{
	enum { O_TEST = 256, O_SIZES, O_ITERS, O_WARMUP, O_SECONDS, O_DEPTH, O_TRANSPORT,
	       O_SERVER, O_CLIENT, O_REUSE, O_CACHE, O_FORMAT, O_CONFIG, O_QUIET, O_HELP };
	static const struct option lo[] = {
		{ "test", required_argument, NULL, O_TEST },
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "iters", required_argument, NULL, O_ITERS },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "depth", required_argument, NULL, O_DEPTH },
		{ "transport", required_argument, NULL, O_TRANSPORT },
		{ "server", required_argument, NULL, O_SERVER },
		{ "client", required_argument, NULL, O_CLIENT },
		{ "reuse", required_argument, NULL, O_REUSE },
		{ "cache", required_argument, NULL, O_CACHE },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "config", no_argument, NULL, O_CONFIG },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 },
	};
	const char *server = NULL, *client = NULL;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		char *end;

		switch (c) {
		case O_TEST:
			parse_tests(optarg);
			break;
		case O_SIZES:
			parse_sizes(optarg);
			break;
		case O_ITERS:
			opt.iters = parse_count(optarg, "--iters", 1, 1000000000000ull);
			break;
		case O_WARMUP:
			opt.warmup = (long long)parse_count(optarg, "--warmup", 0, 1000000000ull);
			break;
		case O_SECONDS:
			opt.seconds = strtod(optarg, &end);
			if (end == optarg || *end || !(opt.seconds > 0) || opt.seconds > 3600)
				usage_error("bad --seconds '%s' (0 < S <= 3600)", optarg);
			break;
		case O_DEPTH:
			opt.depth = (unsigned)parse_count(optarg, "--depth", 1, MAX_DEPTH);
			break;
		case O_TRANSPORT:
			if (strcmp(optarg, "tcp") && strcmp(optarg, "unix"))
				usage_error("bad --transport '%s' (tcp or unix)", optarg);
			snprintf(opt.transport, sizeof(opt.transport), "%s", optarg);
			opt.transport_set = 1;
			break;
		case O_SERVER:
			server = optarg;
			break;
		case O_CLIENT:
			client = optarg;
			break;
		case O_REUSE:
			if (!strcmp(optarg, "one")) {
				opt.reuse = REUSE_ONE;
				opt.reuse_n = 1;
			} else if (!strcmp(optarg, "fresh")) {
				opt.reuse = REUSE_FRESH;
				opt.reuse_n = 0;
			} else {
				char *e;
				unsigned long v = strtoul(optarg, &e, 10);

				if (e == optarg || *e || *optarg == '-' || v < 1 || v > MAX_REUSE)
					usage_error("bad --reuse '%s' (one, N = 1..%d buffers, or fresh)",
						    optarg, MAX_REUSE);
				opt.reuse_n = (unsigned)v;
				opt.reuse = opt.reuse_n == 1 ? REUSE_ONE : REUSE_RR;
			}
			if (opt.reuse == REUSE_RR)
				snprintf(opt.reuse_str, sizeof(opt.reuse_str), "%u", opt.reuse_n);
			else
				snprintf(opt.reuse_str, sizeof(opt.reuse_str), "%s",
					 opt.reuse == REUSE_ONE ? "one" : "fresh");
			break;
		case O_CACHE:
			if (!strcmp(optarg, "on") || !strcmp(optarg, "1"))
				opt.cache = 1;
			else if (!strcmp(optarg, "off") || !strcmp(optarg, "0"))
				opt.cache = 0;
			else
				usage_error("bad --cache '%s' (on or off)", optarg);
			break;
		case O_FORMAT:
			if (!strcmp(optarg, "table"))
				opt.format = FMT_TABLE;
			else if (!strcmp(optarg, "csv"))
				opt.format = FMT_CSV;
			else if (!strcmp(optarg, "json"))
				opt.format = FMT_JSON;
			else
				usage_error("bad --format '%s' (table, csv or json)", optarg);
			break;
		case O_CONFIG:
			opt.config = 1;
			break;
		case O_QUIET:
			opt.quiet = 1;
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			exit(0);
		case ':':
			usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (server && client)
		usage_error("--server and --client exclude each other");
	if (server || client) {
		const char *a = server ? server : client;

		if (!*a)
			usage_error("empty address");
		opt.mode = server ? MODE_SERVER : MODE_CLIENT;
		set_addr(a);
		if (opt.transport_set && strcmp(transport_of(opt.addr), opt.transport))
			usage_error("--transport %s but the address is %s", opt.transport, opt.addr);
	}
	if (opt.reuse == REUSE_RR) {
		for (int i = 0; i < opt.nsizes; i++)
			if (opt.sizes[i] * opt.reuse_n > (8ull << 30))
				usage_error("--reuse %u with %" PRIu64 "-byte buffers is more than 8 GiB",
					    opt.reuse_n, opt.sizes[i]);
	}
}

/* ==== main: fork mode, server, client ==== */

/* Fork mode: the server runs in a child forked before this process opens
 * any provider (a provider must not cross a fork); it tells its bound
 * address through a pipe. Returns the address in addr. */
static void fork_server(char *addr, size_t len)
{
	char listen_addr[64];
	pid_t parent = getpid();
	int pfd[2];
	size_t got = 0;

	if (!strcmp(opt.transport, "unix"))
		snprintf(listen_addr, sizeof(listen_addr), "unix:@san-perf-%d", (int)parent);
	else
		snprintf(listen_addr, sizeof(listen_addr), "tcp:127.0.0.1:0");
	if (pipe2(pfd, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	server_pid = fork();
	if (server_pid < 0)
		die("fork: %s", strerror(errno));
	if (server_pid == 0) {
		server_pid = 0;
		close(pfd[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		_exit(server_run(listen_addr, pfd[1]));
	}
	close(pfd[1]);
	while (got + 1 < len) {
		ssize_t r = read(pfd[0], addr + got, len - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(addr, '\n', got))
			break;
	}
	close(pfd[0]);
	addr[got] = 0;
	if (!got || !strchr(addr, '\n'))
		die("the forked server did not start");
	*strchr(addr, '\n') = 0;
}

static int wait_server(void)
{
	pid_t pid = server_pid;
	int st;

	server_pid = 0;
	if (waitpid(pid, &st, 0) != pid)
		return 1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	fprintf(stderr, "san-perf: the server (pid %d) %s %d\n", (int)pid,
		WIFEXITED(st) ? "exited with" : "was killed by signal",
		WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return 1;
}

int main(int argc, char **argv)
{
	char where[300];
	int rc;

	parse_args(argc, argv);
	if (opt.config) {
		print_config();
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	prog.tty = isatty(STDERR_FILENO);
	if (opt.mode == MODE_SERVER)
		return server_run(opt.addr, -1);

	measure_clock();
	if (opt.mode == MODE_FORK) {
		fork_server(run_addr, sizeof(run_addr));
		snprintf(where, sizeof(where), "%s loopback, forked server at %s",
			 transport_of(run_addr), run_addr);
	} else {
		snprintf(run_addr, sizeof(run_addr), "%s", opt.addr);
		snprintf(where, sizeof(where), "server at %s", run_addr);
	}
	rc = client_run(run_addr, where);
	if (opt.mode == MODE_FORK && wait_server())
		rc = 1;
	return rc ? 1 : 0;
}
