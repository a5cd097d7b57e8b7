/* SPDX-License-Identifier: MIT */
/*
 * Size arguments of the benchmark programs, libc only: shared by bench.h
 * (programs linked with libsan) and peers/peer.h (the peers, which are not).
 */
#ifndef SAN_BENCH_SIZE_H
#define SAN_BENCH_SIZE_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Parses a size: decimal digits, then optionally K, M or G (powers of 1024)
 * with an optional i, then an optional B: "4096", "4K", "64KiB", "1MB".
 * Returns 0 and sets *out, or -1 (leaving *out alone) for junk, 0, a value
 * over max or one that does not fit in 64 bits. */
static inline int bench_parse_size(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (*s < '0' || *s > '9') /* strtoull would take blanks and signs */
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	default: break;
	}
	if (shift) {
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	/* v << shift <= max exactly when v <= max >> shift: no overflow. */
	if (*end || v == 0 || v > (max >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

#endif
