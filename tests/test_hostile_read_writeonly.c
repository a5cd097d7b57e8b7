/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, READ_REQ from a SAN_MEM_WRITE-only registration (R1.5,
 * protocol.md §4 rule 2): refused with EACCES and no payload -- also when the
 * range is bad too, since the right is checked before the bounds; writing it
 * is allowed and lands.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static int read_wo(struct hostile_conn *c)
{
	static uint8_t got[HOSTILE_LEN];
	uint64_t k = c->d[HR_WO].key;
	uint32_t seed;

	hostile_read_expect(c, k, 0, 64, SAN_WIRE_EACCES, got, "READ_REQ of write-only memory");
	hostile_read_expect(c, k, 0, HOSTILE_LEN, SAN_WIRE_EACCES, got,
			    "READ_REQ of a whole write-only registration");
	hostile_read_expect(c, k, HOSTILE_LEN - 1, 1, SAN_WIRE_EACCES, got,
			    "READ_REQ of write-only memory, last byte");
	hostile_read_expect(c, k, HOSTILE_LEN + 10, 64, SAN_WIRE_EACCES, got,
			    "READ_REQ of write-only memory, out of bounds");
	hostile_read_expect(c, k, UINT64_MAX - 10, 100, SAN_WIRE_EACCES, got,
			    "READ_REQ of write-only memory, wrapping");
	seed = hostile_fresh_seed(c);
	hostile_write_expect(c, k, 2000, 300, seed, 0, "WRITE into write-only memory");
	hostile_wrote(c, HR_WO, 2000, 300, seed);
	hostile_read_expect(c, k, 2000, 300, SAN_WIRE_EACCES, got,
			    "READ_REQ of what I just wrote into write-only memory");
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static const struct hostile_case cases[] = {
	{ .name = "READ_REQ from write-only memory", .attack = read_wo },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
