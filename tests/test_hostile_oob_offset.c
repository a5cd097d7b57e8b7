/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, offsets outside the registration (protocol.md §4 rule 3):
 * WRITE and READ_REQ with a valid key and the right, at offsets from just
 * past the end to UINT64_MAX, are refused with ERANGE; refused payloads are
 * consumed; no byte of the target's memory (the registration and the guard
 * bytes around it) changes.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static const uint64_t offs[] = {
	HOSTILE_LEN + 1, HOSTILE_LEN + 4096, HOSTILE_LEN * 2, 1ull << 31, 1ull << 32, 1ull << 62,
	1ull << 63, UINT64_MAX - HOSTILE_LEN, UINT64_MAX - 1, UINT64_MAX,
};

static int oob(struct hostile_conn *c)
{
	uint8_t got[64];

	for (size_t i = 0; i < SAN_ARRAY_SIZE(offs); i++) {
		for (uint64_t len = 1; len <= 64; len *= 64) {
			hostile_write_expect(c, c->d[HR_RW].key, offs[i], len, hostile_fresh_seed(c),
					     SAN_WIRE_ERANGE, "WRITE out of bounds");
			hostile_write_expect(c, c->d[HR_WO].key, offs[i], len, hostile_fresh_seed(c),
					     SAN_WIRE_ERANGE, "WRITE out of bounds (write-only)");
			hostile_read_expect(c, c->d[HR_RW].key, offs[i], len, SAN_WIRE_ERANGE, got,
					    "READ_REQ out of bounds");
			hostile_read_expect(c, c->d[HR_RO].key, offs[i], len, SAN_WIRE_ERANGE, got,
					    "READ_REQ out of bounds (read-only)");
		}
	}
	/* Right at the end, one byte or more. */
	hostile_write_expect(c, c->d[HR_RW].key, HOSTILE_LEN, 1, 5, SAN_WIRE_ERANGE,
			     "WRITE at offset len");
	hostile_write_expect(c, c->d[HR_RW].key, HOSTILE_LEN, 1000, 5, SAN_WIRE_ERANGE,
			     "WRITE at offset len");
	hostile_read_expect(c, c->d[HR_RW].key, HOSTILE_LEN, 1, SAN_WIRE_ERANGE, got,
			    "READ_REQ at offset len");
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static const struct hostile_case cases[] = {
	{ .name = "out-of-bounds offsets", .attack = oob },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
