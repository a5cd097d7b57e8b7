/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, the key of another connection (R1.5, protocol.md §3): the
 * attacker got the honest connection's descriptor (by the control channel;
 * in life it might be stolen or guessed) and uses its key on its own
 * connection; in a second round it also uses the key of its own previous,
 * closed connection. Every WRITE and READ_REQ is refused with EACCES, the
 * honest memory is byte-for-byte unchanged and nothing of it is returned,
 * and the honest connection keeps working.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static void use_foreign(struct hostile_conn *c, uint64_t key, const char *what)
{
	char w[128];
	uint8_t got[HOSTILE_LEN];

	snprintf(w, sizeof(w), "WRITE with %s", what);
	hostile_write_expect(c, key, 0, 64, hostile_fresh_seed(c), SAN_WIRE_EACCES, w);
	hostile_write_expect(c, key, HOSTILE_HONEST_WOFF, HOSTILE_HONEST_WLEN,
			     hostile_fresh_seed(c), SAN_WIRE_EACCES, w);
	hostile_write_expect(c, key, 0, HOSTILE_LEN, hostile_fresh_seed(c), SAN_WIRE_EACCES, w);
	snprintf(w, sizeof(w), "READ_REQ with %s", what);
	hostile_read_expect(c, key, 0, 64, SAN_WIRE_EACCES, got, w);
	hostile_read_expect(c, key, 0, HOSTILE_LEN, SAN_WIRE_EACCES, got, w);
}

static int honest_key(struct hostile_conn *c)
{
	use_foreign(c, c->d[HR_HONEST].key, "the honest connection's key");
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static int closed_conn_key(struct hostile_conn *c)
{
	CHECK(c->have_prev);
	/* Keys are random per registration (protocol.md §3); equal keys here
	 * would make the next check meaningless. */
	if (c->prev_rw.key == c->d[HR_RW].key)
		HFAIL(c, "the new connection reissued the old key %#llx",
		      (unsigned long long)c->prev_rw.key);
	use_foreign(c, c->prev_rw.key, "the key of my previous, closed connection");
	use_foreign(c, c->d[HR_HONEST].key, "the honest connection's key");
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static const struct hostile_case cases[] = {
	{ .name = "key of the honest connection", .attack = honest_key },
	{ .name = "key of a closed connection", .attack = closed_conn_key },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
