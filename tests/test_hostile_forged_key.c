/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, forged keys (R1.5, protocol.md §3-4): WRITEs and READ_REQs
 * that carry keys the target never issued on this connection (zero, near
 * misses of a real key, random ones, one at a time and pipelined) are
 * refused with EACCES, even when the offset is also absurd; the refused
 * payloads are consumed; no byte of the target's memory changes; the
 * attacker's own key and the honest connection keep working.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static int is_valid(const struct hostile_conn *c, uint64_t key)
{
	for (int r = 0; r < HR_OPBUF; r++)
		if (r != HR_HONEST && c->d[r].key == key)
			return 1;
	return 0;
}

static int forged(struct hostile_conn *c)
{
	uint64_t k = c->d[HR_RW].key;
	uint64_t keys[16 + 200];
	uint8_t got[64];
	int n = 0, tried = 0;

	keys[n++] = 0;
	keys[n++] = k ^ 1;
	keys[n++] = k ^ (1ull << 63);
	keys[n++] = k + 1;
	keys[n++] = k - 1;
	keys[n++] = ~k;
	keys[n++] = bswap_64(k);
	keys[n++] = k >> 32;
	keys[n++] = k << 32;
	keys[n++] = UINT64_MAX;
	keys[n++] = c->peer_nonce; /* the target's HELLO nonce */
	keys[n++] = c->craft_key;  /* my own descriptor's key, given to the target */
	while (n < (int)SAN_ARRAY_SIZE(keys))
		keys[n++] = hostile_random64();

	for (int i = 0; i < n; i++) {
		if (is_valid(c, keys[i]))
			continue;
		tried++;
		hostile_write_expect(c, keys[i], 0, 64, hostile_fresh_seed(c), SAN_WIRE_EACCES,
				     "WRITE with a forged key");
		hostile_read_expect(c, keys[i], 0, 64, SAN_WIRE_EACCES, got,
				    "READ_REQ with a forged key");
		if (i < 16) {
			/* The key is checked first: EACCES, not ERANGE. */
			hostile_write_expect(c, keys[i], UINT64_MAX - 10, 100, 7, SAN_WIRE_EACCES,
					     "WRITE with a forged key and a wrapping offset");
			hostile_read_expect(c, keys[i], HOSTILE_LEN, 1, SAN_WIRE_EACCES, got,
					    "READ_REQ with a forged key past the end");
		}
	}
	CHECK(tried > 200);

	/* Pipelined: 64 forged WRITEs and READ_REQs in flight at once, answered
	 * in order. */
	{
		uint64_t ids[128];
		int m = 0;

		for (int i = 0; i < 64; i++) {
			uint64_t key = hostile_random64();

			if (is_valid(c, key))
				continue;
			ids[m++] = hostile_send_write(c, key, (uint64_t)i * 64, 64 + (uint64_t)i,
						      hostile_fresh_seed(c));
			ids[m++] = hostile_send_read(c, key, (uint64_t)i * 64, 64);
		}
		for (int i = 0; i < m; i += 2) {
			uint32_t st = hostile_wait_ack(c, ids[i], "pipelined forged WRITE");

			if (st != SAN_WIRE_EACCES)
				HFAIL(c, "pipelined forged WRITE: status %u, want EACCES", st);
			st = hostile_wait_resp(c, ids[i + 1], 64, NULL, "pipelined forged READ_REQ");
			if (st != SAN_WIRE_EACCES)
				HFAIL(c, "pipelined forged READ_REQ: status %u, want EACCES", st);
		}
	}
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static const struct hostile_case cases[] = {
	{ .name = "forged keys", .attack = forged },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
