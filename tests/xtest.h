/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the R1 / API conformance tests, on top of harness.h.
 *
 * xt_fork() wraps san_test_fork(): the child gets its own watchdog (alarms
 * are not inherited by fork) and is killed if the parent dies, so a failed
 * test leaves no peer behind. It checks leaks with the control fd still
 * open, as at the mark (older harness.h closed ctl first and so always saw
 * one fd "missing").
 *
 * Completions: xt_wait_ctx() waits for the completion of one operation
 * (by ctx), keeping any other completion it reaps on the way for a later
 * call, so tests need not depend on the order in which unrelated operations
 * complete.
 */
#ifndef SAN_XTEST_H
#define SAN_XTEST_H

#include "harness.h"

#include <inttypes.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#define XT_CTX(n) ((void *)(uintptr_t)(n))
#define XT_ANY ((long long)-1)
#define XT_TIMEOUT_MS 10000

/* ---- processes ---- */

static int (*xt_child_fn_)(void *arg, int ctl);

static inline int xt_child_tramp_(void *arg, int ctl)
{
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(60);
	rc = xt_child_fn_(arg, ctl);
	if (rc == 0)
		san_test_check_leaks(); /* ctl still open, as at the mark */
	fflush(NULL);
	_exit(rc);
}

static inline pid_t xt_fork(int (*fn)(void *arg, int ctl), void *arg, int *ctl_out)
{
	xt_child_fn_ = fn;
	return san_test_fork(xt_child_tramp_, arg, ctl_out);
}

static inline long long xt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void xt_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- memory ---- */

static inline size_t xt_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Private anonymous read-write memory, page-aligned. */
static inline void *xt_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

static inline void xt_unmap(void *p, size_t len)
{
	CHECK(munmap(p, len) == 0);
}

/* Every byte of [buf, buf+len) equals c. */
static inline int xt_all(const void *buf, size_t len, uint8_t c)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

/* Compares got with want; on a difference prints where it starts, how many
 * bytes differ and a few of them, and returns 0. */
static inline int xt_same(const char *what, const void *got, const void *want, size_t len)
{
	const uint8_t *g = got, *w = want;
	size_t first = len, last = 0, n = 0;

	for (size_t i = 0; i < len; i++) {
		if (g[i] != w[i]) {
			if (first == len)
				first = i;
			last = i;
			n++;
		}
	}
	if (!n)
		return 1;
	fprintf(stderr, "[%d] %s: %zu of %zu bytes differ, offsets %zu..%zu; at %zu got", (int)getpid(),
		what, n, len, first, last, first);
	for (size_t i = first; i < first + 8 && i < len; i++)
		fprintf(stderr, " %02x", g[i]);
	fprintf(stderr, " want");
	for (size_t i = first; i < first + 8 && i < len; i++)
		fprintf(stderr, " %02x", w[i]);
	fprintf(stderr, "\n");
	return 0;
}

/* xt_same against a fill pattern / a constant byte. */
static inline int xt_same_fill(const char *what, const void *got, size_t len, uint32_t seed)
{
	uint8_t *w = malloc(len ? len : 1);
	int ok;

	CHECK(w);
	san_test_fill(w, len, seed);
	ok = xt_same(what, got, w, len);
	free(w);
	return ok;
}

static inline int xt_same_byte(const char *what, const void *got, size_t len, uint8_t c)
{
	uint8_t *w = malloc(len ? len : 1);
	int ok;

	CHECK(w);
	memset(w, c, len);
	ok = xt_same(what, got, w, len);
	free(w);
	return ok;
}

/* ---- registration ---- */

static inline san_handle xt_reg(san_socket *s, void *buf, size_t len, int flags)
{
	san_handle h = 0;

	CHECK_OK(san_register_memory(s, buf, len, flags, &h));
	CHECK(h != 0);
	return h;
}

static inline struct san_rdma_desc xt_rreg(san_socket *s, void *buf, size_t len, int flags)
{
	struct san_rdma_desc d;

	memset(&d, 0, sizeof(d));
	CHECK_OK(san_register_rdma_memory(s, buf, len, flags, &d));
	return d;
}

static inline struct san_buf xt_buf(void *buf, size_t len, san_handle h)
{
	struct san_buf b = { buf, len, h };

	return b;
}

/* ---- control channel ---- */

static inline void xt_send_desc(int ctl, const struct san_rdma_desc *d)
{
	san_test_ctl_send(ctl, d, sizeof(*d));
}

static inline struct san_rdma_desc xt_recv_desc(int ctl)
{
	struct san_rdma_desc d;

	CHECK(san_test_ctl_recv(ctl, &d, sizeof(d)) == sizeof(d));
	return d;
}

static inline void xt_send_u64(int ctl, uint64_t v)
{
	san_test_ctl_send(ctl, &v, sizeof(v));
}

static inline uint64_t xt_recv_u64(int ctl)
{
	uint64_t v;

	CHECK(san_test_ctl_recv(ctl, &v, sizeof(v)) == sizeof(v));
	return v;
}

/* ---- completions ---- */

#define XT_STASH_MAX 4096

static struct xt_stashed {
	san_socket *s;
	struct san_completion c;
} xt_stash_[XT_STASH_MAX];
static int xt_nstash_;

static inline int xt_stash_take_(san_socket *s, void *ctx, struct san_completion *out)
{
	for (int i = 0; i < xt_nstash_; i++) {
		if (xt_stash_[i].s == s && xt_stash_[i].c.ctx == ctx) {
			*out = xt_stash_[i].c;
			xt_stash_[i] = xt_stash_[--xt_nstash_];
			return 1;
		}
	}
	return 0;
}

static inline const char *xt_opname(int op)
{
	switch (op) {
	case SAN_OP_SEND: return "SEND";
	case SAN_OP_RECV: return "RECV";
	case SAN_OP_RDMA_WRITE: return "RDMA_WRITE";
	case SAN_OP_RDMA_READ: return "RDMA_READ";
	}
	return "?";
}

/* Waits for the completion carrying ctx on s; other completions are kept. */
static inline struct san_completion xt_wait_ctx(san_socket *s, void *ctx, int timeout_ms)
{
	long long end = xt_now_ms() + timeout_ms;
	struct san_completion c, batch[32];

	for (;;) {
		long long left;
		int n;

		if (xt_stash_take_(s, ctx, &c))
			return c;
		left = end - xt_now_ms();
		if (left < 0)
			left = 0;
		n = san_poll(s, batch, 32, (int)left);
		if (n < 0) {
			fprintf(stderr, "[%d] san_poll = %d (%s) while waiting for ctx %p\n",
				(int)getpid(), n, san_strerror(n), ctx);
			exit(1);
		}
		if (n == 0 && left == 0) {
			fprintf(stderr, "[%d] timeout waiting for the completion of ctx %p\n",
				(int)getpid(), ctx);
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			CHECK(xt_nstash_ < XT_STASH_MAX);
			xt_stash_[xt_nstash_].s = s;
			xt_stash_[xt_nstash_].c = batch[i];
			xt_nstash_++;
		}
	}
}

/* Waits for ctx and checks its op, status and (unless XT_ANY) bytes. */
#define xt_expect(s, ctx, op_, status_, bytes_)                                          \
	do {                                                                             \
		struct san_completion c_ = xt_wait_ctx((s), (ctx), XT_TIMEOUT_MS);       \
		long long wb_ = (long long)(bytes_);                                     \
		if (c_.op != (op_) || c_.status != (status_) ||                          \
		    (wb_ != XT_ANY && (long long)c_.bytes != wb_)) {                     \
			fprintf(stderr,                                                  \
				"%s:%d: [%d] completion of ctx %p: op %s status %d (%s) "   \
				"bytes %zu; want op %s status %d (%s) bytes %lld\n",     \
				__FILE__, __LINE__, (int)getpid(), (void *)(ctx),        \
				xt_opname(c_.op), c_.status, san_strerror(c_.status),    \
				c_.bytes, xt_opname(op_), (int)(status_),                \
				san_strerror(status_), wb_);                             \
			exit(1);                                                         \
		}                                                                        \
	} while (0)

/* No completion of s is pending (a posting error must not also complete).
 * -ECONNRESET also means none is left: the peer may already have closed. */
static inline void xt_expect_idle(san_socket *s)
{
	struct san_completion c;
	int rc;

	for (int i = 0; i < xt_nstash_; i++)
		CHECK(xt_stash_[i].s != s);
	rc = san_poll(s, &c, 1, 0);
	if (rc != 0 && rc != -ECONNRESET) {
		fprintf(stderr, "[%d] unexpected completion or error: san_poll = %d (%s)", (int)getpid(),
			rc, rc < 0 ? san_strerror(rc) : "");
		if (rc > 0)
			fprintf(stderr, ": ctx %p op %s status %d (%s) bytes %zu", c.ctx,
				xt_opname(c.op), c.status, san_strerror(c.status), c.bytes);
		fprintf(stderr, "\n");
		exit(1);
	}
}

/* ---- one-buffer shorthands (post must succeed) ---- */

static inline void xt_send(san_socket *s, void *buf, size_t len, san_handle h, void *ctx)
{
	struct san_buf b = xt_buf(buf, len, h);

	CHECK_OK(san_send(s, &b, 1, ctx));
}

static inline void xt_recv(san_socket *s, void *buf, size_t len, san_handle h, void *ctx)
{
	struct san_buf b = xt_buf(buf, len, h);

	CHECK_OK(san_recv(s, &b, 1, ctx));
}

/* RDMA write / read of one buffer, waited for: status must be want (bytes
 * must be len when want is 0). A refusal must come as the completion, not
 * as a posting error (API.md: "completes at the peer with -EACCES"). */
static inline void xt_rdma_op_(int line, int op, san_socket *s, void *buf, size_t len,
			       san_handle h, const struct san_rdma_desc *d, uint64_t off, int want)
{
	static uintptr_t seq = 0x7000000;
	struct san_buf b = xt_buf(buf, len, h);
	void *ctx = XT_CTX(++seq);
	struct san_completion c;
	int rc;

	if (op == SAN_OP_RDMA_WRITE)
		rc = san_rdma_write(s, &b, 1, d, off, ctx);
	else
		rc = san_rdma_read(s, &b, 1, d, off, ctx);
	if (rc != 0) {
		fprintf(stderr,
			"line %d: [%d] %s(len %zu, off %#" PRIx64 ") posting returned %d (%s); "
			"want posted, completing with %d (%s)\n",
			line, (int)getpid(), xt_opname(op), len, off, rc, san_strerror(rc), want,
			san_strerror(want));
		exit(1);
	}
	c = xt_wait_ctx(s, ctx, XT_TIMEOUT_MS);
	if (c.op != op || c.status != want || (want == 0 && c.bytes != len)) {
		fprintf(stderr,
			"line %d: [%d] %s(len %zu, off %#" PRIx64 ") completed: op %s status %d (%s) "
			"bytes %zu; want status %d (%s)\n",
			line, (int)getpid(), xt_opname(op), len, off, xt_opname(c.op), c.status,
			san_strerror(c.status), c.bytes, want, san_strerror(want));
		exit(1);
	}
}

#define xt_rdma_write(s, buf, len, h, d, off, want) \
	xt_rdma_op_(__LINE__, SAN_OP_RDMA_WRITE, s, buf, len, h, d, off, want)
#define xt_rdma_read(s, buf, len, h, d, off, want) \
	xt_rdma_op_(__LINE__, SAN_OP_RDMA_READ, s, buf, len, h, d, off, want)

/* ---- the usual two-process setup ---- */

/* Parent: provider + accepted socket. */
static inline san_socket *xt_server(san_provider **p_out, int ctl)
{
	*p_out = san_test_provider();
	return san_test_accept_peer(*p_out, ctl);
}

static inline san_socket *xt_client(san_provider **p_out, int ctl)
{
	*p_out = san_test_provider();
	return san_test_connect_peer(*p_out, ctl);
}

/* Closes socket and provider (the caller then checks leaks). */
static inline void xt_teardown(san_provider *p, san_socket *s)
{
	if (s)
		CHECK_OK(san_close(s));
	san_provider_close(p);
}

#endif
