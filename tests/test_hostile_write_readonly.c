/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, WRITE into a SAN_MEM_READ-only registration (R1.5,
 * protocol.md §4 rule 2): refused with EACCES -- also when the range is bad
 * too, since the right is checked before the bounds -- and the memory does
 * not change; reading it is allowed and returns the right bytes.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static int write_ro(struct hostile_conn *c)
{
	static uint8_t got[HOSTILE_LEN];
	uint64_t k = c->d[HR_RO].key;

	hostile_write_expect(c, k, 0, 64, hostile_fresh_seed(c), SAN_WIRE_EACCES,
			     "WRITE into a read-only registration");
	hostile_write_expect(c, k, 100, 1, hostile_fresh_seed(c), SAN_WIRE_EACCES,
			     "WRITE into a read-only registration");
	hostile_write_expect(c, k, 0, HOSTILE_LEN, hostile_fresh_seed(c), SAN_WIRE_EACCES,
			     "WRITE into a whole read-only registration");
	hostile_write_expect(c, k, HOSTILE_LEN + 10, 64, hostile_fresh_seed(c), SAN_WIRE_EACCES,
			     "WRITE into a read-only registration, out of bounds");
	hostile_write_expect(c, k, UINT64_MAX - 10, 100, hostile_fresh_seed(c), SAN_WIRE_EACCES,
			     "WRITE into a read-only registration, wrapping");
	hostile_read_expect(c, k, 0, HOSTILE_LEN, 0, got, "READ_REQ of the read-only registration");
	if (!hostile_region_pristine(HR_RO, 0, got, HOSTILE_LEN))
		HFAIL(c, "READ_REQ of the read-only registration returned wrong bytes");
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static const struct hostile_case cases[] = {
	{ .name = "WRITE into read-only memory", .attack = write_ro },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
