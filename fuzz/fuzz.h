/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets in fuzz/. Each target is one file with
 * LLVMFuzzerTestOneInput; scripts/fuzz.sh builds and runs them all, and
 * fuzz/corpus/<target>/ holds its seeds (fuzz/make_seeds.py writes them).
 *
 * A failed check prints what went wrong and aborts: libFuzzer reports the
 * abort as a crash and saves the input (crash-<sha1>) for a reproducer:
 *   build-fuzz/fuzz/fuzz_<target> crash-<sha1>
 */
#ifndef SAN_FUZZ_H
#define SAN_FUZZ_H

#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                          \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                  \
			fputc('\n', stderr);                                           \
			abort();                                                       \
		}                                                                      \
	} while (0)

static inline uint16_t fuzz_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t fuzz_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t fuzz_le64(const uint8_t *p)
{
	return (uint64_t)fuzz_le32(p) | (uint64_t)fuzz_le32(p + 4) << 32;
}

static inline void fuzz_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A NUL-terminated copy of data[0..size) (the caller frees it). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
