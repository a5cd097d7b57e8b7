/* SPDX-License-Identifier: MIT */
/*
 * bench.h: the helpers every benchmark program (bench/, tools/san-perf.c)
 * used to carry its own copy of: dying with a message, the clock, medians,
 * and sizes read from the command line and printed for a person.
 *
 * Header-only (static inline) so that each program stays one source file,
 * and public API only (no src/ headers): the programs double as examples of
 * what an application sees. Needs _GNU_SOURCE (program_invocation_short_name);
 * CMake defines it for every program.
 */
#ifndef SAN_BENCH_H
#define SAN_BENCH_H

#include <san.h>

#include "size.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* What this process is, for a program that forks several ("libsan target",
 * "baseline receiver"): bench_die then says "name[role pid]: ". NULL (the
 * default): "name[pid]: ". Each program is one file, so one per program. */
static const char *bench_role;

/* Prints the message on stderr, prefixed as above, and exits with status 1. */
static inline void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void bench_die(const char *fmt, ...)
{
	va_list ap;

	if (bench_role)
		fprintf(stderr, "%s[%s %d]: ", program_invocation_short_name, bench_role,
			(int)getpid());
	else
		fprintf(stderr, "%s[%d]: ", program_invocation_short_name, (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A libsan call that must succeed. */
#define SAN_OK(expr)                                                                      \
	do {                                                                              \
		int rc_ = (expr);                                                         \
		if (rc_ < 0)                                                              \
			bench_die("%s:%d: %s: %s", __FILE__, __LINE__, #expr,             \
				  san_strerror(rc_));                                     \
	} while (0)

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double bench_now_s(void)
{
	return (double)bench_now_ns() * 1e-9;
}

/* A progress line on stderr, rewritten in place; nothing when stderr is
 * not a terminal. bench_progress_done clears it. */
static inline void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void bench_progress(const char *fmt, ...)
{
	va_list ap;

	if (!isatty(STDERR_FILENO))
		return;
	fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static inline void bench_progress_done(void)
{
	if (isatty(STDERR_FILENO))
		fputs("\r\033[K", stderr);
}

static inline int bench__cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v[0..n) in ascending order (for quantiles). */
static inline void bench_sort(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench__cmp_double);
}

/* The median of v[0..n), n > 0 (the mean of the middle two when n is even).
 * Sorts v in place. */
static inline double bench_median(double *v, size_t n)
{
	bench_sort(v, n);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* n in the largest unit that divides it: "4 KiB", "1 GiB", "1000 B".
 * Returns buf. */
static inline const char *bench_size_str(uint64_t n, char *buf, size_t len)
{
	if (n >= (1ull << 30) && n % (1ull << 30) == 0)
		snprintf(buf, len, "%" PRIu64 " GiB", n >> 30);
	else if (n >= (1ull << 20) && n % (1ull << 20) == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", n >> 20);
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(buf, len, "%" PRIu64 " KiB", n >> 10);
	else
		snprintf(buf, len, "%" PRIu64 " B", n);
	return buf;
}

/* A size option's value, 1 B .. max; dies with a message on anything else. */
static inline uint64_t bench_size_arg(const char *s, uint64_t max)
{
	char m[32];
	uint64_t v;

	if (bench_parse_size(s, max, &v))
		bench_die("bad size '%s' (1 B .. %s)", s, bench_size_str(max, m, sizeof(m)));
	return v;
}

#endif
