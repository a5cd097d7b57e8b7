/* SPDX-License-Identifier: MIT */
/*
 * Test harness: header-only, shared by every test program.
 *
 * Rules (STYLE.md): one behaviour per test program, exit 0 pass, 77 skip
 * (reason printed), anything else fail. Each process checks on exit that
 * VmPin and its open file descriptors are back where they started.
 *
 * Transfer tests fork a peer *before* opening any provider, and talk to it
 * over a control socketpair (addresses, descriptors, sync points).
 *
 * Environment:
 *   SAN_TEST_TRANSPORT=tcp|unix   transport of san_test_listen_addr()
 *   SAN_TEST_LISTEN=ADDR          listen address override (netns runs)
 *   SAN_TEST_PEER_NETNS=PATH      the forked peer setns()es here first
 */
#ifndef SAN_TEST_HARNESS_H
#define SAN_TEST_HARNESS_H

#include <san.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SAN_TEST_SKIP 77

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: [%d] check failed: %s\n", __FILE__, __LINE__, \
				(int)getpid(), #cond);                                   \
			exit(1);                                                         \
		}                                                                        \
	} while (0)

/* expr must return exactly want (an int: 0, a count or -errno). */
#define CHECK_RC(expr, want)                                                             \
	do {                                                                             \
		long long got_ = (long long)(expr);                                      \
		long long want_ = (long long)(want);                                     \
		if (got_ != want_) {                                                     \
			fprintf(stderr, "%s:%d: [%d] %s = %lld (%s), want %lld (%s)\n",   \
				__FILE__, __LINE__, (int)getpid(), #expr, got_,          \
				san_strerror((int)got_), want_, san_strerror((int)want_)); \
			exit(1);                                                         \
		}                                                                        \
	} while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

static inline void san_test_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "SKIP: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(SAN_TEST_SKIP);
}

/* VmPin of this process in KiB, or -1. */
static inline long san_test_vmpin_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static inline int san_test_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

struct san_test_baseline {
	long vmpin_kb;
	int fds;
};

static struct san_test_baseline san_test_base_;

/* Records the leak baseline of this process (call again in a forked child). */
static inline void san_test_mark(void)
{
	san_test_base_.vmpin_kb = san_test_vmpin_kb();
	san_test_base_.fds = san_test_fd_count();
}

/* Fails if pins or fds leaked since san_test_mark(). Call after every
 * provider of the process is closed. */
static inline void san_test_check_leaks(void)
{
	long pin = san_test_vmpin_kb();
	int fds = san_test_fd_count();

	if (pin != san_test_base_.vmpin_kb) {
		fprintf(stderr, "[%d] leak: VmPin %ld kB, was %ld kB\n", (int)getpid(), pin,
			san_test_base_.vmpin_kb);
		exit(1);
	}
	if (fds != san_test_base_.fds) {
		fprintf(stderr, "[%d] leak: %d fds open, was %d\n", (int)getpid(), fds,
			san_test_base_.fds);
		system("ls -l /proc/self/fd >&2");
		exit(1);
	}
}

/* Starts a test: a watchdog alarm and the leak baseline. */
static inline void san_test_start(unsigned timeout_s)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(timeout_s ? timeout_s : 60);
	san_test_mark();
}

static inline const char *san_test_transport(void)
{
	const char *t = getenv("SAN_TEST_TRANSPORT");

	return t && *t ? t : "tcp";
}

/* A fresh listen address for this test's transport. */
static inline const char *san_test_listen_addr(char *buf, size_t len)
{
	static unsigned seq;
	const char *o = getenv("SAN_TEST_LISTEN");

	if (o && *o)
		snprintf(buf, len, "%s", o);
	else if (!strcmp(san_test_transport(), "unix"))
		snprintf(buf, len, "unix:@san-test-%d-%u", (int)getpid(), seq++);
	else
		snprintf(buf, len, "tcp:127.0.0.1:0");
	return buf;
}

/* Opens a provider with defaults (plus SAN_* env), failing the test on error. */
static inline san_provider *san_test_provider(void)
{
	san_provider *p = NULL;
	int rc = san_provider_open(NULL, &p);

	if (rc == -ENOSYS || rc == -EPERM)
		san_test_skip("io_uring unavailable: %s", san_strerror(rc));
	CHECK_OK(rc);
	return p;
}

/* ---- control channel between the test and its forked peer ---- */

static inline void san_test_ctl_send(int fd, const void *buf, size_t len)
{
	uint32_t n = (uint32_t)len;

	CHECK(write(fd, &n, 4) == 4);
	if (len)
		CHECK(write(fd, buf, len) == (ssize_t)len);
}

/* Receives one message; returns its length (fails the test if > cap). */
static inline size_t san_test_ctl_recv(int fd, void *buf, size_t cap)
{
	uint32_t n;
	size_t got = 0;

	CHECK(read(fd, &n, 4) == 4);
	CHECK(n <= cap);
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		CHECK(r > 0);
		got += (size_t)r;
	}
	return n;
}

static inline void san_test_ctl_send_str(int fd, const char *s)
{
	san_test_ctl_send(fd, s, strlen(s) + 1);
}

/* Sync point: both sides call it with the same tag. */
static inline void san_test_sync(int fd, const char *tag)
{
	char got[64];

	san_test_ctl_send_str(fd, tag);
	san_test_ctl_recv(fd, got, sizeof(got));
	if (strcmp(got, tag)) {
		fprintf(stderr, "[%d] sync mismatch: %s vs %s\n", (int)getpid(), tag, got);
		exit(1);
	}
}

static inline void san_test_enter_peer_netns(void)
{
	const char *ns = getenv("SAN_TEST_PEER_NETNS");
	int fd;

	if (!ns || !*ns)
		return;
	fd = open(ns, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(setns(fd, CLONE_NEWNET) == 0);
	close(fd);
}

/* Forks the peer. In the child: enters SAN_TEST_PEER_NETNS if set, marks
 * its own leak baseline, runs fn(arg, ctl) and exits with its return value.
 * In the parent: returns the pid; *ctl_out is the parent's control fd. */
static inline pid_t san_test_fork(int (*fn)(void *arg, int ctl), void *arg, int *ctl_out)
{
	int sv[2];
	pid_t pid;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int rc;

		close(sv[0]);
		san_test_enter_peer_netns();
		san_test_mark();
		rc = fn(arg, sv[1]);
		if (rc == 0)
			san_test_check_leaks(); /* baseline included ctl */
		close(sv[1]);
		fflush(NULL);
		_exit(rc);
	}
	close(sv[1]);
	*ctl_out = sv[0];
	return pid;
}

/* Waits for the peer; fails the test unless it exited 0. Closes ctl. */
static inline void san_test_wait(pid_t pid, int ctl)
{
	int st;

	if (ctl >= 0)
		close(ctl);
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "peer %d failed: %s %d\n", (int)pid,
			WIFEXITED(st) ? "exit" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		exit(1);
	}
}

/* ---- memory unmapped and mapped again at the same address ---- */

/*
 * The stale-registration tests release a buffer (munmap, mremap away, ...)
 * and map new memory at the same address. Until they do, the range is a
 * hole, and an mmap(NULL) by any thread may take it: the kernel places
 * mappings top-down, in the highest free gap that fits, and a hole among
 * the most recent mappings is usually that gap. The sanitizer runtimes map
 * memory of their own from every thread (allocator regions, thread set-up,
 * the large blocks of malloc), so under ASan and TSan the hole was taken
 * often enough that these tests could not run there.
 *
 * san_test_map_apart() puts memory between two rooms of SAN_TEST_ROOM
 * bytes of free address space: every mmap(NULL) lands in the room above
 * (or in a higher gap) before it could reach a hole in the memory, so the
 * hole is still free when the test maps it again unless a whole gigabyte
 * was mapped and kept in between. (The room below does the same for the
 * legacy bottom-up layout, e.g. with an unlimited stack rlimit. A PROT_NONE
 * reservation over the hole would keep it too, but the reservation is
 * itself a new mapping at the address: the tests would no longer release
 * and map again, and they must.)
 */
#define SAN_TEST_ROOM ((size_t)1 << 30)

/* Private anonymous read-write memory, page aligned, with SAN_TEST_ROOM
 * free above and below it. Unmap it with munmap as usual. */
static inline void *san_test_map_apart(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *r, *p;

	len = (len + pg - 1) & ~(pg - 1);
	r = mmap(NULL, SAN_TEST_ROOM + len + SAN_TEST_ROOM, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(r != MAP_FAILED);
	p = r + SAN_TEST_ROOM;
	CHECK(mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		   0) == (void *)p);
	CHECK(munmap(r, SAN_TEST_ROOM) == 0);
	CHECK(munmap(p + len, SAN_TEST_ROOM) == 0);
	return p;
}

/* Prints the mappings of this process that overlap [at, at+len). */
static inline void san_test_print_maps(const void *at, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long long a, e;
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx", &a, &e) == 2 && e > (uintptr_t)at &&
		    a < (uintptr_t)at + len)
			fprintf(stderr, "    %s", line);
	fclose(f);
}

/* New private anonymous read-write memory at exactly `at`, which the test
 * released (MAP_FIXED_NOREPLACE: never clobbers another mapping). If some
 * other mapping took the address meanwhile, says which and fails: the test
 * cannot check what it is there to check. */
static inline void *san_test_map_at(void *at, size_t len)
{
	void *q = mmap(at, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (q == MAP_FAILED && errno == EEXIST) {
		fprintf(stderr, "[%d] cannot map new memory at %p+%zu, where the test released "
				"its buffer: another mapping took the address meanwhile:\n",
			(int)getpid(), at, len);
		san_test_print_maps(at, len);
		exit(1);
	}
	if (q != at) {
		fprintf(stderr, "[%d] mmap(%p, %zu, MAP_FIXED_NOREPLACE) = %p (%s)\n",
			(int)getpid(), at, len, q, q == MAP_FAILED ? strerror(errno) : "elsewhere");
		exit(1);
	}
	return q;
}

/*
 * free() of a large block gives its pages back to the kernel (munmap): in
 * glibc (a block above the mmap threshold is a mapping of its own), and in
 * the sanitizers' allocators too (above 128 KiB every block is a mapping
 * of its own), except that ASan first keeps freed blocks in quarantine.
 * SAN_TEST_ASAN_NO_QUARANTINE, at file scope of a test that frees such a
 * block on purpose, turns the quarantine off (ASAN_OPTIONS can still turn
 * it on); san_test_free_unmaps() says whether free() really released a
 * block of len bytes here.
 */
#define SAN_TEST_ASAN_NO_QUARANTINE                                              \
	const char *__asan_default_options(void);                               \
	const char *__asan_default_options(void)                                \
	{                                                                        \
		return "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"; \
	}

static inline int san_test_free_unmaps(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *b = malloc(len), *a;
	unsigned char v;

	CHECK(b && len >= 2 * pg);
	a = (uint8_t *)(((uintptr_t)b + pg - 1) & ~(pg - 1));
	*(volatile uint8_t *)a = 1;
	free(b);
	return mincore(a, pg, &v) != 0 && errno == ENOMEM;
}

/* Polls s until one completion arrives (fails after timeout_ms). */
static inline struct san_completion san_test_wait_one(san_socket *s, int timeout_ms)
{
	struct san_completion c;
	int rc = san_poll(s, &c, 1, timeout_ms);

	if (rc != 1) {
		fprintf(stderr, "[%d] san_poll = %d (%s), want 1 completion\n", (int)getpid(), rc,
			rc < 0 ? san_strerror(rc) : "timeout");
		exit(1);
	}
	return c;
}

/* Deterministic pattern: byte i of stream seed. */
static inline void san_test_fill(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed * 40503u) >> 13);
}

static inline int san_test_verify(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)((i * 2654435761u + seed * 40503u) >> 13))
			return 0;
	return 1;
}

/* Server side of a pair: listen, tell the peer the address, accept. */
static inline san_socket *san_test_accept_peer(san_provider *p, int ctl)
{
	char addr[256], bound[256];
	san_listener *l;
	san_socket *s;

	CHECK_OK(san_listen(p, san_test_listen_addr(addr, sizeof(addr)), &l));
	CHECK(san_listener_addr(l, bound, sizeof(bound)) > 0);
	san_test_ctl_send_str(ctl, bound);
	CHECK_OK(san_accept(l, 10000, &s));
	san_listener_close(l);
	return s;
}

/* Client side of a pair: learn the address, connect. */
static inline san_socket *san_test_connect_peer(san_provider *p, int ctl)
{
	char addr[256];
	san_socket *s;

	san_test_ctl_recv(ctl, addr, sizeof(addr));
	CHECK_OK(san_connect(p, addr, &s));
	return s;
}

/* Run as root, become an ordinary user (a uid of its own, no groups): for
 * tests of RLIMIT_MEMLOCK, which root does not obey. Already unprivileged:
 * nothing to do. */
static inline void san_test_become_unprivileged(void)
{
	uid_t id = 40000 + (uid_t)(getpid() % 20000);

	if (getuid() != 0 && geteuid() != 0)
		return;
	CHECK(setgroups(0, NULL) == 0);
	CHECK(setresgid(id, id, id) == 0);
	CHECK(setresuid(id, id, id) == 0);
	/* New credentials made us non-dumpable, which hides /proc/self/fd
	 * (the leak checks read it) from ourselves. */
	CHECK(prctl(PR_SET_DUMPABLE, 1) == 0);
}

#endif
