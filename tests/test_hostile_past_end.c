/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, a length that runs past the end by one (protocol.md §4 rule
 * 3): exactly up to the end is allowed (and lands / reads right); one byte
 * more is refused with ERANGE, and none of it -- not even the part inside
 * the registration -- is placed; the guard bytes after the registration stay
 * unchanged.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static int past_end(struct hostile_conn *c)
{
	static uint8_t got[HOSTILE_LEN + 1];
	const uint64_t L = HOSTILE_LEN;
	uint64_t k = c->d[HR_RW].key;
	uint32_t seed;

	/* One past the end: refused, whole. */
	hostile_write_expect(c, k, 0, L + 1, hostile_fresh_seed(c), SAN_WIRE_ERANGE,
			     "WRITE of len + 1 bytes");
	hostile_write_expect(c, k, 1, L, hostile_fresh_seed(c), SAN_WIRE_ERANGE,
			     "WRITE at 1 of len bytes");
	hostile_write_expect(c, k, L - 1, 2, hostile_fresh_seed(c), SAN_WIRE_ERANGE,
			     "WRITE of the last byte and one more");
	hostile_write_expect(c, k, L - 64, 65, hostile_fresh_seed(c), SAN_WIRE_ERANGE,
			     "WRITE of the last 64 bytes and one more");
	hostile_write_expect(c, c->d[HR_WO].key, L - 64, 65, hostile_fresh_seed(c),
			     SAN_WIRE_ERANGE, "WRITE (write-only) one past the end");
	hostile_read_expect(c, k, 0, L + 1, SAN_WIRE_ERANGE, got, "READ_REQ of len + 1 bytes");
	hostile_read_expect(c, k, L - 1, 2, SAN_WIRE_ERANGE, got, "READ_REQ one past the end");
	hostile_read_expect(c, c->d[HR_RO].key, L - 64, 65, SAN_WIRE_ERANGE, got,
			    "READ_REQ (read-only) one past the end");

	/* Exactly to the end: allowed. */
	hostile_read_expect(c, c->d[HR_RO].key, 0, L, 0, got, "READ_REQ of the whole registration");
	if (!hostile_region_pristine(HR_RO, 0, got, L))
		HFAIL(c, "READ_REQ of the whole read-only registration returned wrong bytes");
	seed = hostile_fresh_seed(c);
	hostile_write_expect(c, k, L - 64, 64, seed, 0, "WRITE of the last 64 bytes");
	hostile_wrote(c, HR_RW, L - 64, 64, seed);
	hostile_read_expect(c, k, L - 64, 64, 0, got, "READ_REQ of the last 64 bytes");
	for (size_t i = 0; i < 64; i++)
		if (got[i] != hostile_pat(i, seed))
			HFAIL(c, "READ_REQ of the last 64 bytes: byte %zu wrong", i);
	/* A zero-length WRITE at offset len passes every rule of §4. */
	hostile_write_expect(c, k, L, 0, 0, 0, "zero-length WRITE at offset len");
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static const struct hostile_case cases[] = {
	{ .name = "one past the end", .attack = past_end },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
