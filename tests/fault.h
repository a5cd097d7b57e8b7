/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the fault tests (tests/test_fault_*.c), on top of xtest.h.
 *
 * What every fault test checks on the survivor, besides its own behaviour:
 * it keeps working (a new connection transfers correctly afterwards) and it
 * leaks nothing: VmPin, open file descriptors and heap bytes in use are back
 * where they were once the broken socket is closed, with the provider still
 * open. fault_snap() / fault_expect_snap() do that accounting:
 *   - VmPin (/proc/self/status) and the provider's pinned_bytes/keys_active;
 *   - the number of open fds;
 *   - heap bytes in use (mallinfo2: every arena). Allocators cache a few
 *     chunks per thread (tcache), so the heap is compared with a slack
 *     (FAULT_HEAP_SLACK); a leaked socket costs more than that (its
 *     completion ring alone is max_outstanding * 24 bytes).
 *
 * The peer of a kill test is SIGKILLed; fault_kill() reaps it and checks
 * that it died of that signal and not of something else first.
 *
 * Peers started while the survivor's provider is open (its progress and
 * monitor threads running) are started by fault_spawn(): fork, then at
 * once exec of this same program in peer mode (fault_peers_init() at the
 * top of main() runs the peer). A plain fork from a multithreaded process
 * copies whatever locks other threads hold at that moment: glibc's malloc
 * makes that safe, but sanitizer runtimes do not (under ASan a peer forked
 * that way deadlocked in the allocator at its first pthread_create, about
 * one run in ten). Peers forked before any provider exists use xt_fork().
 */
#ifndef SAN_FAULT_H
#define SAN_FAULT_H

#include "xtest.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define MIB ((size_t)1 << 20)
#define FAULT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FAULT_HEAP_SLACK (96 * 1024)

/* ---- /proc/<pid>/status ---- */

/* A "Name:  N kB" field of /proc/<pid>/status (pid 0: self), or -1. */
static inline long fault_status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long kb = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			kb = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* Heap bytes in use, every arena (0 where the allocator does not say,
 * e.g. under ASan: the heap check is then vacuous, the sanitizer's own
 * leak check takes over). */
static inline size_t fault_heap_bytes(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

/* ---- leak accounting with a provider open ---- */

struct fault_snap {
	long pin_kb;
	int fds;
	size_t heap;
	uint64_t pinned_bytes;
	uint64_t keys_active;
};

static inline struct fault_snap fault_snap(san_provider *p)
{
	struct fault_snap s = { 0 };
	struct san_stats st;

	if (p) {
		CHECK_OK(san_get_stats(p, &st));
		s.pinned_bytes = st.pinned_bytes;
		s.keys_active = st.keys_active;
	}
	s.pin_kb = san_test_vmpin_kb();
	s.fds = san_test_fd_count();
	s.heap = fault_heap_bytes();
	return s;
}

/* The process is back to base: same VmPin and fds, no pinned bytes or keys
 * beyond base's, heap within the slack. VmPin may lag the NIC's own count
 * for a moment (the kernel drops a buffer node once the last request using
 * it is freed), so this waits up to a second for it. */
static inline void fault_expect_snap_(int line, const char *what, san_provider *p,
				      const struct fault_snap *base)
{
	long long end = xt_now_ms() + 1000;
	struct fault_snap now;

	for (;;) {
		now = fault_snap(p);
		if (now.pin_kb == base->pin_kb && now.pinned_bytes == base->pinned_bytes)
			break;
		if (xt_now_ms() > end)
			break;
		xt_sleep_ms(10);
	}
	if (now.pin_kb != base->pin_kb || now.fds != base->fds ||
	    now.pinned_bytes != base->pinned_bytes || now.keys_active != base->keys_active ||
	    now.heap > base->heap + FAULT_HEAP_SLACK) {
		fprintf(stderr,
			"line %d: [%d] leak after %s: VmPin %ld kB (was %ld), fds %d (was %d), "
			"pinned_bytes %" PRIu64 " (was %" PRIu64 "), keys_active %" PRIu64
			" (was %" PRIu64 "), heap %zu bytes (was %zu, slack %d)\n",
			line, (int)getpid(), what, now.pin_kb, base->pin_kb, now.fds, base->fds,
			now.pinned_bytes, base->pinned_bytes, now.keys_active, base->keys_active,
			now.heap, base->heap, FAULT_HEAP_SLACK);
		if (now.fds != base->fds)
			system("ls -l /proc/$PPID/fd >&2");
		exit(1);
	}
}

#define fault_expect_snap(what, p, base) fault_expect_snap_(__LINE__, what, p, base)

/* ---- the peer ---- */

/* SIGKILLs pid and reaps it; fails if it had already died otherwise. */
static inline void fault_kill(pid_t pid, int ctl)
{
	int st;

	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
		fprintf(stderr, "peer %d died before the kill: %s %d\n", (int)pid,
			WIFEXITED(st) ? "exit" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		exit(1);
	}
	if (ctl >= 0)
		close(ctl);
}

/* SIGSTOPs pid and waits until it is stopped. */
static inline void fault_stop(pid_t pid)
{
	int st;

	CHECK(kill(pid, SIGSTOP) == 0);
	CHECK(waitpid(pid, &st, WUNTRACED) == pid);
	if (!WIFSTOPPED(st)) {
		fprintf(stderr, "peer %d died before it was stopped: %s %d\n", (int)pid,
			WIFEXITED(st) ? "exit" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		exit(1);
	}
}

/* The peer blocks here until it is killed (ctl EOF: the parent died). */
static inline void fault_park(int ctl)
{
	char b[64];

	for (;;) {
		ssize_t n = read(ctl, b, sizeof(b));

		if (n == 0)
			_exit(0);
		if (n < 0 && errno != EINTR)
			_exit(0);
	}
}

/* ---- completions ---- */

/* Collects n completions of s (any order) into out[]; fails after
 * timeout_ms or on a poll error. */
static inline void fault_collect_(int line, san_socket *s, struct san_completion *out, int n,
				  int timeout_ms)
{
	long long end = xt_now_ms() + timeout_ms;
	int got = 0;

	while (got < n) {
		long long left = end - xt_now_ms();
		int rc;

		if (left <= 0) {
			fprintf(stderr, "line %d: [%d] %d of %d completions after %d ms\n", line,
				(int)getpid(), got, n, timeout_ms);
			exit(1);
		}
		rc = san_poll(s, out + got, n - got, (int)FAULT_MIN(left, 100));
		if (rc < 0) {
			fprintf(stderr,
				"line %d: [%d] san_poll = %d (%s) with %d of %d completions in\n",
				line, (int)getpid(), rc, san_strerror(rc), got, n);
			exit(1);
		}
		got += rc;
	}
}

#define fault_collect(s, out, n, ms) fault_collect_(__LINE__, s, out, n, ms)

/* After every operation of s completed: san_poll reports the reset. */
static inline void fault_expect_reset_(int line, san_socket *s, int timeout_ms)
{
	long long end = xt_now_ms() + timeout_ms;
	struct san_completion c;
	int rc;

	while ((rc = san_poll(s, &c, 1, 50)) == 0 && xt_now_ms() < end)
		;
	if (rc != -ECONNRESET) {
		fprintf(stderr, "line %d: [%d] san_poll = %d (%s), want -ECONNRESET", line,
			(int)getpid(), rc, rc < 0 ? san_strerror(rc) : rc ? "a completion" : "timeout");
		if (rc > 0)
			fprintf(stderr, ": ctx %p op %s status %d (%s)", c.ctx, xt_opname(c.op),
				c.status, san_strerror(c.status));
		fprintf(stderr, "\n");
		exit(1);
	}
}

#define fault_expect_reset(s, ms) fault_expect_reset_(__LINE__, s, ms)

/* A reset socket refuses new work: registering says -ENOTCONN and pins
 * nothing; posting on a live registration (buf, h: 0 = found by address, with
 * rights flags; flags 0: none) says
 * -ECONNRESET (san.h); an RDMA operation with a descriptor of the dead
 * connection fails to post. page: a page of the caller. */
static inline void fault_expect_refusals(san_socket *s, void *page, void *buf, san_handle h,
					 int flags, const struct san_rdma_desc *d)
{
	struct san_buf b = { buf, 64, h };
	struct san_rdma_desc dd;
	san_handle hh = 0;
	long pin = san_test_vmpin_kb();

	CHECK_RC(san_register_memory(s, page, xt_page(), SAN_MEM_READWRITE, &hh), -ENOTCONN);
	CHECK_RC(san_register_rdma_memory(s, page, xt_page(), SAN_MEM_READWRITE, &dd), -ENOTCONN);
	/* Not a failure, but worth seeing: san_register_rdma_memory pins
	 * (and the cache keeps) the range before it looks at the socket. */
	if (san_test_vmpin_kb() > pin)
		printf("note: a refused registration on the reset socket left %ld kB pinned "
		       "(cached until the socket closes)\n",
		       san_test_vmpin_kb() - pin);
	if (flags & SAN_MEM_READ)
		CHECK_RC(san_send(s, &b, 1, XT_CTX(0xdead)), -ECONNRESET);
	if (flags & SAN_MEM_WRITE)
		CHECK_RC(san_recv(s, &b, 1, XT_CTX(0xdead)), -ECONNRESET);
	if ((flags & SAN_MEM_READ) && d)
		CHECK_RC(san_rdma_write(s, &b, 1, d, 0, XT_CTX(0xdead)), -ECONNRESET);
	if ((flags & SAN_MEM_WRITE) && d)
		CHECK_RC(san_rdma_read(s, &b, 1, d, 0, XT_CTX(0xdead)), -ECONNRESET);
}

/* ---- finding the engine's socket ---- */

/* The inodes of this process's sockets, into ino[] (at most max). */
static inline int fault_socket_inodes(unsigned long *ino, int max, int *fd_out)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	CHECK(d);
	while ((e = readdir(d))) {
		char path[300], link[64];
		unsigned long i;
		ssize_t l;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		l = readlink(path, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		if (sscanf(link, "socket:[%lu]", &i) != 1)
			continue;
		if (n < max) {
			ino[n] = i;
			if (fd_out)
				fd_out[n] = atoi(e->d_name);
		}
		n++;
	}
	closedir(d);
	return n;
}

/* The one socket fd that is not among before[] (nb entries): the data
 * socket the engine got since before[] was taken. Fails unless exactly one. */
static inline int fault_new_socket_fd(const unsigned long *before, int nb)
{
	unsigned long ino[64];
	int fds[64], n = fault_socket_inodes(ino, 64, fds), found = -1, count = 0;

	CHECK(n <= 64);
	for (int i = 0; i < n; i++) {
		int old = 0;

		for (int j = 0; j < nb; j++)
			old |= ino[i] == before[j];
		if (!old) {
			found = fds[i];
			count++;
		}
	}
	if (count != 1) {
		fprintf(stderr, "[%d] want exactly one new socket fd, found %d\n", (int)getpid(),
			count);
		system("ls -l /proc/$PPID/fd >&2");
		exit(1);
	}
	return found;
}

/* ---- fast content patterns ---- */

static inline uint64_t fault_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Fills buf with the stream of seed (8 bytes per hash: ~10x the byte-wise
 * pattern of harness.h, which matters at 160 MiB per phase). */
static inline void fault_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w = fault_mix(seed * 0x100000001b3ull + i / 8);

		memcpy(p + i, &w, 8);
	}
	if (i < len) {
		uint64_t w = fault_mix(seed * 0x100000001b3ull + i / 8);

		memcpy(p + i, &w, len - i);
	}
}

/* 1 if buf holds the stream of seed; else prints where it differs. */
static inline int fault_verify(const char *what, const void *buf, size_t len, uint64_t seed)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = fault_mix(seed * 0x100000001b3ull + i / 8);
		size_t n = FAULT_MIN((size_t)8, len - i);

		if (memcmp(p + i, &w, n)) {
			size_t bad = 0;

			for (size_t j = i; j < len; j += 8) {
				uint64_t v = fault_mix(seed * 0x100000001b3ull + j / 8);

				bad += memcmp(p + j, &v, FAULT_MIN((size_t)8, len - j)) != 0;
			}
			fprintf(stderr, "[%d] %s: content differs from offset %zu (%zu of %zu words)\n",
				(int)getpid(), what, i, bad, (len + 7) / 8);
			return 0;
		}
	}
	return 1;
}

/* ---- the kill tests: a peer SIGKILLed with large operations in flight ----
 *
 * fault_kill_main(op) runs, for op SAN_OP_RDMA_WRITE, SAN_OP_RDMA_READ or
 * SAN_OP_SEND, on one provider of the survivor (the parent):
 *   1. a good exchange (warm-up; the leak baseline is taken after it);
 *   2. the survivor initiates KILL_NOPS operations of 16..64 MiB (160 MiB)
 *      towards the peer and SIGKILLs it once the first has completed: every
 *      operation completes, with 0 or -ECONNRESET (at least one is cut);
 *      san_poll then says -ECONNRESET; the socket refuses new work;
 *   3. a new connection: the peer initiates, everything arrives intact;
 *   4. the peer initiates the same operations towards the survivor and is
 *      SIGKILLed once its first has completed: the survivor (target; for
 *      SEND, with its receives posted) sees its receives complete with 0
 *      and intact content or -ECONNRESET, then san_poll -ECONNRESET;
 *   5. a new connection in the first direction transfers correctly.
 * After each step the broken socket is deregistered and closed, and VmPin,
 * fds, pinned bytes, keys and the heap are back at the baseline (the
 * provider stays open: this is the survivor going on).
 *
 * For SEND something is in flight at the kill whatever the transfer rate
 * (it used to be a race against the rate: now and then all four messages
 * had arrived before the kill landed). A receiving engine stops reading
 * the stream while no receive is posted (docs/protocol.md §2), so with a
 * kill the receiver posts receives for the first KILL_EARLY messages only.
 * The other two (48 and 64 MiB) could then only get through whole if the
 * socket buffers held 112 MiB (they hold at most tcp_wmem[2] + tcp_rmem[2]:
 * 10 MiB with Linux's defaults, 36 MiB on the CI machine; far less over
 * Unix sockets), so the sender is stuck in the middle of the stream when
 * the kill lands:
 *   2. the peer (target) is killed with the survivor's last sends stuck;
 *   4. the survivor (target) stops the peer (SIGSTOP) once its first send
 *      has completed, posts its remaining receives (the engine reads what
 *      the socket holds of the third message, then waits), and kills it:
 *      those receives cannot complete, they are cut.
 * Both phases check that at least one operation was cut. */

#define KILL_NOPS 4
#define KILL_EARLY 2 /* SEND: receives posted before the kill (see above) */
#define KILL_TOTAL (160 * MIB)

static inline size_t kill_len(int i)
{
	return (size_t)(i + 1) * 16 * MIB; /* 16, 32, 48, 64 MiB */
}

static inline size_t kill_off(int i)
{
	size_t off = 0;

	for (int j = 0; j < i; j++)
		off += kill_len(j);
	return off;
}

enum { KILL_SURVIVOR_INITIATES = 1, KILL_PEER_INITIATES = 2 };

struct kill_arg {
	int op;
	int who;   /* KILL_*_INITIATES */
	int kill;  /* the peer is killed (else: a good exchange) */
	uint64_t seed;
};

static inline uint64_t kill_seed(const struct kill_arg *a, int i)
{
	return a->seed * 16 + (uint64_t)i;
}

static inline int kill_post(san_socket *s, int op, void *buf, size_t len, san_handle h,
			    const struct san_rdma_desc *d, uint64_t off, void *ctx)
{
	struct san_buf b = xt_buf(buf, len, h);

	switch (op) {
	case SAN_OP_SEND: return san_send(s, &b, 1, ctx);
	case SAN_OP_RECV: return san_recv(s, &b, 1, ctx);
	case SAN_OP_RDMA_WRITE: return san_rdma_write(s, &b, 1, d, off, ctx);
	case SAN_OP_RDMA_READ: return san_rdma_read(s, &b, 1, d, off, ctx);
	}
	return -EINVAL;
}

static int kill_peer(void *arg, int ctl)
{
	const struct kill_arg *a = arg;
	struct san_completion c[KILL_NOPS];
	struct san_rdma_desc d;
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *r = xt_map(KILL_TOTAL);
	san_handle h = 0;
	int rdma = a->op != SAN_OP_SEND;

	memset(&d, 0, sizeof(d));
	if (a->who == KILL_SURVIVOR_INITIATES) {
		/* The target of the survivor's operations. */
		if (a->op == SAN_OP_RDMA_READ)
			for (int i = 0; i < KILL_NOPS; i++)
				fault_fill(r + kill_off(i), kill_len(i), kill_seed(a, i));
		if (rdma) {
			d = xt_rreg(s, r, KILL_TOTAL,
				    a->op == SAN_OP_RDMA_WRITE ? SAN_MEM_WRITE : SAN_MEM_READ);
			xt_send_desc(ctl, &d);
		} else {
			h = xt_reg(s, r, KILL_TOTAL, SAN_MEM_WRITE);
			for (int i = 0; i < (a->kill ? KILL_EARLY : KILL_NOPS); i++)
				xt_recv(s, r + kill_off(i), kill_len(i), h, XT_CTX(i + 1));
			san_test_sync(ctl, "ready");
		}
		if (a->kill)
			fault_park(ctl);
		san_test_sync(ctl, "done");
		if (a->op == SAN_OP_SEND) {
			for (int i = 0; i < KILL_NOPS; i++)
				xt_expect(s, XT_CTX(i + 1), SAN_OP_RECV, 0, kill_len(i));
		}
		if (a->op != SAN_OP_RDMA_READ)
			for (int i = 0; i < KILL_NOPS; i++)
				CHECK(fault_verify("peer: what the survivor wrote/sent",
						   r + kill_off(i), kill_len(i), kill_seed(a, i)));
		san_test_sync(ctl, "verified");
	} else {
		/* The initiator: the survivor is the target. */
		if (a->op != SAN_OP_RDMA_READ)
			for (int i = 0; i < KILL_NOPS; i++)
				fault_fill(r + kill_off(i), kill_len(i), kill_seed(a, i));
		h = xt_reg(s, r, KILL_TOTAL, a->op == SAN_OP_RDMA_READ ? SAN_MEM_WRITE : SAN_MEM_READ);
		if (rdma)
			d = xt_recv_desc(ctl);
		else
			san_test_sync(ctl, "ready");
		for (int i = 0; i < KILL_NOPS; i++)
			CHECK_OK(kill_post(s, a->op, r + kill_off(i), kill_len(i), h, &d, kill_off(i),
					   XT_CTX(i + 1)));
		fault_collect(s, c, 1, XT_TIMEOUT_MS);
		CHECK_RC(c[0].status, 0);
		san_test_ctl_send_str(ctl, "first");
		if (a->kill)
			fault_park(ctl);
		fault_collect(s, c + 1, KILL_NOPS - 1, XT_TIMEOUT_MS);
		for (int i = 0; i < KILL_NOPS; i++) {
			int k = (int)(uintptr_t)c[i].ctx - 1;

			CHECK(k >= 0 && k < KILL_NOPS);
			CHECK_RC(c[i].status, 0);
			CHECK(c[i].bytes == kill_len(k));
			if (a->op == SAN_OP_RDMA_READ)
				CHECK(fault_verify("peer: what it read", r + kill_off(k), kill_len(k),
						   kill_seed(a, k)));
		}
		san_test_sync(ctl, "done");
	}
	if (h)
		CHECK_OK(san_deregister_memory(s, h));
	if (rdma && a->who == KILL_SURVIVOR_INITIATES)
		CHECK_OK(san_deregister_rdma_memory(s, &d));
	xt_expect_idle(s);
	xt_teardown(p, s);
	xt_unmap(r, KILL_TOTAL);
	return 0;
}

/* ---- peers in a fresh process image ---- */

typedef int (*fault_peer_fn)(void *arg, int ctl);

#define FAULT_MAX_PEERS 4
#define FAULT_PEER_FD 3
#define FAULT_MAX_ARG 256

static fault_peer_fn fault_peers_[FAULT_MAX_PEERS];

/* Call first thing in main(): registers the peers this program spawns
 * (kill_peer, then up to two of the test's own, NULL if none), and if this
 * process is one of them (argv: --fault-peer INDEX HEXARG), runs it and
 * exits as xt_fork's children do: watchdog, death with the parent, the
 * peer network namespace, a leak check at the end. */
static inline void fault_peers_init(int argc, char **argv, fault_peer_fn a, fault_peer_fn b)
{
	uint8_t arg[FAULT_MAX_ARG];
	size_t len = 0;
	int idx, rc;

	fault_peers_[0] = kill_peer;
	fault_peers_[1] = a;
	fault_peers_[2] = b;
	if (argc != 4 || strcmp(argv[1], "--fault-peer"))
		return;
	setvbuf(stdout, NULL, _IOLBF, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(1); /* the parent is gone already */
	alarm(60);
	idx = atoi(argv[2]);
	CHECK(idx >= 0 && idx < FAULT_MAX_PEERS && fault_peers_[idx]);
	for (const char *h = argv[3]; h[0] && h[1] && len < sizeof(arg); h += 2) {
		unsigned v;

		CHECK(sscanf(h, "%2x", &v) == 1);
		arg[len++] = (uint8_t)v;
	}
	san_test_enter_peer_netns();
	san_test_mark(); /* with FAULT_PEER_FD open */
	rc = fault_peers_[idx](arg, FAULT_PEER_FD);
	if (rc == 0)
		san_test_check_leaks();
	fflush(NULL);
	_exit(rc);
}

/* Starts fn(arg) in a new process running this program afresh (see the
 * top of this file). Between fork and exec the child only calls
 * async-signal-safe functions. Returns the pid; *ctl_out is our end of the
 * control channel (the peer's is its fd 3). */
static inline pid_t fault_spawn(fault_peer_fn fn, const void *arg, size_t len, int *ctl_out)
{
	char hex[2 * FAULT_MAX_ARG + 1] = "", idx[16];
	char *args[] = { (char *)"fault-peer", (char *)"--fault-peer", idx, hex, NULL };
	int sv[2], i;
	pid_t pid;

	for (i = 0; i < FAULT_MAX_PEERS && fault_peers_[i] != fn; i++)
		;
	CHECK(i < FAULT_MAX_PEERS && len <= FAULT_MAX_ARG);
	snprintf(idx, sizeof(idx), "%d", i);
	for (size_t k = 0; k < len; k++)
		snprintf(hex + 2 * k, 3, "%02x", ((const uint8_t *)arg)[k]);
	if (!len)
		snprintf(hex, sizeof(hex), "00");
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (sv[1] == FAULT_PEER_FD)
			fcntl(FAULT_PEER_FD, F_SETFD, 0);
		else if (dup2(sv[1], FAULT_PEER_FD) < 0)
			_exit(127);
		execv("/proc/self/exe", args);
		_exit(127);
	}
	close(sv[1]);
	*ctl_out = sv[0];
	return pid;
}

/* One phase on the survivor's provider p. Returns how many of the
 * survivor's own operations the kill cut (-ECONNRESET). */
static inline int kill_phase(san_provider *p, const struct kill_arg *a)
{
	struct san_completion c[KILL_NOPS];
	struct san_rdma_desc d;
	uint8_t *l = xt_map(KILL_TOTAL), *page = xt_map(xt_page());
	san_handle h = 0;
	san_socket *s;
	int ctl, cut = 0, rdma = a->op != SAN_OP_SEND, done[KILL_NOPS] = { 0 };
	pid_t pid;

	memset(&d, 0, sizeof(d));
	pid = fault_spawn(kill_peer, a, sizeof(*a), &ctl);
	s = san_test_accept_peer(p, ctl);
	if (a->who == KILL_SURVIVOR_INITIATES) {
		if (a->op != SAN_OP_RDMA_READ)
			for (int i = 0; i < KILL_NOPS; i++)
				fault_fill(l + kill_off(i), kill_len(i), kill_seed(a, i));
		h = xt_reg(s, l, KILL_TOTAL, a->op == SAN_OP_RDMA_READ ? SAN_MEM_WRITE : SAN_MEM_READ);
		if (rdma)
			d = xt_recv_desc(ctl);
		else
			san_test_sync(ctl, "ready");
		for (int i = 0; i < KILL_NOPS; i++)
			CHECK_OK(kill_post(s, a->op, l + kill_off(i), kill_len(i), h, &d, kill_off(i),
					   XT_CTX(i + 1)));
		fault_collect(s, c, 1, XT_TIMEOUT_MS);
		if (a->kill)
			fault_kill(pid, ctl);
		fault_collect(s, c + 1, KILL_NOPS - 1, XT_TIMEOUT_MS);
		for (int i = 0; i < KILL_NOPS; i++) {
			int k = (int)(uintptr_t)c[i].ctx - 1;

			CHECK(k >= 0 && k < KILL_NOPS && !done[k] && c[i].op == a->op);
			done[k] = 1;
			if (c[i].status == -ECONNRESET && a->kill) {
				cut++;
				continue;
			}
			if (c[i].status != 0 || c[i].bytes != kill_len(k)) {
				fprintf(stderr, "survivor: %s %d of %zu MiB: status %d (%s) bytes %zu\n",
					xt_opname(c[i].op), k, kill_len(k) >> 20, c[i].status,
					san_strerror(c[i].status), c[i].bytes);
				exit(1);
			}
			if (a->op == SAN_OP_RDMA_READ)
				CHECK(fault_verify("survivor: what it read", l + kill_off(k),
						   kill_len(k), kill_seed(a, k)));
		}
		if (!a->kill) {
			san_test_sync(ctl, "done");
			san_test_sync(ctl, "verified");
		}
	} else {
		if (a->op == SAN_OP_RDMA_READ)
			for (int i = 0; i < KILL_NOPS; i++)
				fault_fill(l + kill_off(i), kill_len(i), kill_seed(a, i));
		if (rdma) {
			d = xt_rreg(s, l, KILL_TOTAL,
				    a->op == SAN_OP_RDMA_WRITE ? SAN_MEM_WRITE : SAN_MEM_READ);
			xt_send_desc(ctl, &d);
		} else {
			h = xt_reg(s, l, KILL_TOTAL, SAN_MEM_WRITE);
			for (int i = 0; i < (a->kill ? KILL_EARLY : KILL_NOPS); i++)
				xt_recv(s, l + kill_off(i), kill_len(i), h, XT_CTX(i + 1));
			san_test_sync(ctl, "ready");
		}
		{
			char first[16];

			san_test_ctl_recv(ctl, first, sizeof(first));
			CHECK(!strcmp(first, "first"));
		}
		if (a->kill && a->op == SAN_OP_SEND) {
			/* The peer stuck in its third message (see the top):
			 * stopped, our other receives posted, then the kill. */
			fault_stop(pid);
			for (int i = KILL_EARLY; i < KILL_NOPS; i++)
				xt_recv(s, l + kill_off(i), kill_len(i), h, XT_CTX(i + 1));
		}
		if (a->kill)
			fault_kill(pid, ctl);
		else
			san_test_sync(ctl, "done");
		if (a->op == SAN_OP_SEND) {
			/* Our receives: each complete (and intact) or cut. */
			fault_collect(s, c, KILL_NOPS, XT_TIMEOUT_MS);
			for (int i = 0; i < KILL_NOPS; i++) {
				int k = (int)(uintptr_t)c[i].ctx - 1;

				CHECK(k >= 0 && k < KILL_NOPS && !done[k] && c[i].op == SAN_OP_RECV);
				done[k] = 1;
				if (c[i].status == -ECONNRESET && a->kill) {
					cut++;
					continue;
				}
				CHECK_RC(c[i].status, 0);
				CHECK(c[i].bytes == kill_len(k));
				CHECK(fault_verify("survivor: a message it received", l + kill_off(k),
						   kill_len(k), kill_seed(a, k)));
			}
		} else if (a->op == SAN_OP_RDMA_WRITE && !a->kill) {
			for (int i = 0; i < KILL_NOPS; i++)
				CHECK(fault_verify("survivor: what the peer wrote", l + kill_off(i),
						   kill_len(i), kill_seed(a, i)));
		}
	}
	if (a->kill) {
		fault_expect_reset(s, XT_TIMEOUT_MS);
		int fl = a->op == SAN_OP_RDMA_READ ? SAN_MEM_WRITE : SAN_MEM_READ;

		if (a->who == KILL_PEER_INITIATES)
			fl = a->op == SAN_OP_RDMA_READ ? SAN_MEM_READ : SAN_MEM_WRITE;
		/* The survivor's own registration of l: h, or (RDMA target)
		 * the descriptor's registration, found by address (handle 0). */
		fault_expect_refusals(s, page, l, h, fl,
				      rdma && a->who == KILL_SURVIVOR_INITIATES ? &d : NULL);
	} else {
		xt_expect_idle(s);
	}
	if (h)
		CHECK_OK(san_deregister_memory(s, h));
	if (rdma && a->who == KILL_PEER_INITIATES)
		CHECK_OK(san_deregister_rdma_memory(s, &d));
	CHECK_OK(san_close(s));
	if (!a->kill)
		san_test_wait(pid, ctl);
	xt_unmap(l, KILL_TOTAL);
	xt_unmap(page, xt_page());
	return cut;
}

static inline int fault_kill_main(int argc, char **argv, int op)
{
	struct kill_arg a = { .op = op };
	struct fault_snap base;
	san_provider *p;
	long long t0 = xt_now_ms();
	int cut;

	fault_peers_init(argc, argv, NULL, NULL);
	san_test_start(100);
	printf("peer killed during %s operations of 16..64 MiB, transport %s%s\n", xt_opname(op),
	       san_test_transport(), getenv("SAN_RCACHE") ? ", SAN_RCACHE set" : "");
	p = san_test_provider();

	a.who = KILL_SURVIVOR_INITIATES;
	a.kill = 0;
	a.seed = 1;
	kill_phase(p, &a);
	base = fault_snap(p);

	/* The survivor initiates; the target dies. RDMA: retried (with a note)
	 * in the unlikely case that everything finished before the kill landed
	 * (SEND: never, see KILL_EARLY). */
	for (int attempt = 1;; attempt++) {
		a.kill = 1;
		a.seed++;
		cut = kill_phase(p, &a);
		fault_expect_snap("the target was killed", p, &base);
		printf("survivor initiated, target killed: %d of %d operations cut\n", cut, KILL_NOPS);
		if (cut)
			break;
		CHECK(attempt < 3 && op != SAN_OP_SEND);
		printf("note: nothing was in flight when the kill landed, again\n");
	}

	a.who = KILL_PEER_INITIATES;
	a.kill = 0;
	a.seed++;
	kill_phase(p, &a);
	fault_expect_snap("a good exchange after a kill", p, &base);
	printf("new connection, peer initiated: intact\n");

	a.kill = 1;
	a.seed++;
	cut = kill_phase(p, &a);
	fault_expect_snap("the initiator was killed", p, &base);
	if (op == SAN_OP_SEND) {
		printf("peer initiated and killed: %d of the survivor's %d receives cut\n", cut,
		       KILL_NOPS);
		CHECK(cut >= 1); /* certain for SEND: see KILL_EARLY */
	} else
		printf("peer initiated and killed: the survivor (target) saw -ECONNRESET\n");

	a.who = KILL_SURVIVOR_INITIATES;
	a.kill = 0;
	a.seed++;
	kill_phase(p, &a);
	fault_expect_snap("a good exchange after two kills", p, &base);
	printf("new connection, survivor initiated: intact (%lld ms in all)\n", xt_now_ms() - t0);

	san_provider_close(p);
	san_test_check_leaks();
	return 0;
}

#endif
