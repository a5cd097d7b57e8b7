/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every layer. Includes nothing from above. */
#ifndef SAN_UTIL_H
#define SAN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#define SAN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SAN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SAN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define san_likely(x) __builtin_expect(!!(x), 1)
#define san_unlikely(x) __builtin_expect(!!(x), 0)
#define san_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline uint64_t san__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void san__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* A spinlock for short critical sections with no blocking inside: one
 * atomic exchange to take, a plain release store to give back (a mutex
 * costs an atomic on both). Yields the CPU if the holder seems preempted. */
typedef struct {
	_Atomic int v;
} san_spinlock;

static inline void san__spin_init(san_spinlock *l)
{
	atomic_init(&l->v, 0);
}

/* One step of a spin-wait: pause, and yield the CPU once it has gone on
 * long enough that the other side seems preempted. *n counts the steps. */
static inline void san__spin_backoff(unsigned *n)
{
	if (++*n > 128)
		sched_yield();
	else
		san__cpu_relax();
}

static inline void san__spin_lock(san_spinlock *l)
{
	unsigned n = 0;

	while (atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
		while (atomic_load_explicit(&l->v, memory_order_relaxed))
			san__spin_backoff(&n);
}

static inline void san__spin_unlock(san_spinlock *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_release);
}

/* Reads *flag ordered after any update in progress: seq is odd while a
 * writer updates (it sets flag before turning seq even). Waits while odd,
 * then returns flag if seq did not move meanwhile. seq NULL: just flag.
 * No fence: the acquire load of flag keeps the re-read of seq after it
 * (gcc's TSan does not support fences). */
static inline int san__seq_read_flag(const _Atomic uint64_t *seq, const _Atomic int *flag)
{
	for (unsigned spins = 0;; spins++) {
		uint64_t g = seq ? atomic_load_explicit(seq, memory_order_acquire) : 0;
		int v;

		if (g & 1) {
			if (spins > 64)
				sched_yield();
			else
				san__cpu_relax();
			continue;
		}
		v = atomic_load_explicit(flag, memory_order_acquire);
		if (!seq || atomic_load_explicit(seq, memory_order_acquire) == g)
			return v;
	}
}

static inline size_t san__page_size(void)
{
	return 4096; /* x86_64 and arm64 4K kernels; checked at provider open */
}

/* 64 random bits from the kernel's CSPRNG (getrandom). Returns 0 or -errno. */
int san__random64(uint64_t *out);

/* Diagnostics to stderr, prefixed "libsan: ", for conditions the caller
 * cannot see in a return value. Silenced by SAN_QUIET=1. */
void san__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A parsed "tcp:HOST:PORT" / "unix:PATH" / "unix:@NAME" address. */
struct san_addr {
	int family; /* AF_INET, AF_INET6, AF_UNIX */
	socklen_t len;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		struct sockaddr_un un;
		struct sockaddr_storage ss;
	} u;
};

/* Parses addr. Host names are resolved (numeric literals first). Returns 0,
 * -EINVAL (malformed, empty, port out of range, path too long) or
 * -EHOSTUNREACH (name does not resolve). */
int san__addr_parse(const char *addr, struct san_addr *out);
/* Parses without name resolution: literals only (what the fuzzer drives). */
int san__addr_parse_numeric(const char *addr, struct san_addr *out);
/* Formats a socket address in the same syntax. Returns its length or -ENOSPC. */
int san__addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap);

/* Parses a size: decimal digits with an optional K, M, G or T suffix
 * (powers of 1024). Returns 0 or -EINVAL (empty, junk, overflow). */
int san__parse_size(const char *s, uint64_t *out);

#endif
