/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, offset + len that wraps around 2^64 (protocol.md §4 rule
 * 3): with offset = UINT64_MAX - 10 and len = 100, offset + len is 89 -- a
 * naive "offset + len <= reg_len" check passes and the write lands 11 bytes
 * BEFORE the registration. Such WRITEs and READ_REQs must be refused with
 * ERANGE; the guard bytes before and after the registration must not change.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

struct wrap {
	uint64_t off, len;
};

static const struct wrap wraps[] = {
	{ UINT64_MAX - 10, 100 },        /* sum 89 */
	{ UINT64_MAX, 2 },               /* sum 1 */
	{ UINT64_MAX - 99, 100 },        /* sum exactly 2^64, i.e. 0 */
	{ 0ull - 50, 100 },              /* sum 50 */
	{ 0ull - 1000, 1000 + 64 },      /* sum 64, all of it before the buffer */
	{ 0ull - 4096, 4096 + 16 },      /* one page before */
	{ 0ull - HOSTILE_OFF, HOSTILE_OFF + 8 }, /* exactly the start of the arena */
	{ (1ull << 63) + 100, 1ull << 16 }, /* high bit set: signed-offset bugs */
};

static int wrap(struct hostile_conn *c)
{
	uint8_t got[HOSTILE_LEN];

	for (size_t i = 0; i < SAN_ARRAY_SIZE(wraps); i++) {
		uint64_t off = wraps[i].off, len = wraps[i].len;

		if (len > c->peer_max_msg)
			continue;
		hostile_write_expect(c, c->d[HR_RW].key, off, len, hostile_fresh_seed(c),
				     SAN_WIRE_ERANGE, "WRITE, offset + len wraps");
		hostile_write_expect(c, c->d[HR_WO].key, off, len, hostile_fresh_seed(c),
				     SAN_WIRE_ERANGE, "WRITE (write-only), offset + len wraps");
		if (len <= sizeof(got)) {
			hostile_read_expect(c, c->d[HR_RW].key, off, len, SAN_WIRE_ERANGE, got,
					    "READ_REQ, offset + len wraps");
			hostile_read_expect(c, c->d[HR_RO].key, off, len, SAN_WIRE_ERANGE, got,
					    "READ_REQ (read-only), offset + len wraps");
		} else {
			hostile_read_expect(c, c->d[HR_RW].key, off, len, SAN_WIRE_ERANGE, NULL,
					    "READ_REQ, offset + len wraps");
		}
	}
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static const struct hostile_case cases[] = {
	{ .name = "offset + len wraps", .attack = wrap },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
