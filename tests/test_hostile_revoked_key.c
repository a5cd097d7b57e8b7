/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer, a revoked key (R1.4, protocol.md §3): a key that worked
 * stops working the moment the target calls san_deregister_rdma_memory:
 * WRITE and READ_REQ get EACCES and the memory does not change. Registering
 * the same memory again gives a new key; the old one stays dead.
 * Runs over SAN_TEST_TRANSPORTS (tcp and unix).
 */
#include "hostile.h"

static int revoked(struct hostile_conn *c)
{
	uint64_t old = c->d[HR_R2].key;
	uint32_t seed = hostile_fresh_seed(c);
	uint8_t got[256];

	/* The key works. */
	hostile_write_expect(c, old, 100, 256, seed, 0, "WRITE before the revocation");
	hostile_wrote(c, HR_R2, 100, 256, seed);

	hostile_dereg(c, HR_R2);
	hostile_write_expect(c, old, 100, 256, hostile_fresh_seed(c), SAN_WIRE_EACCES,
			     "WRITE with a revoked key");
	hostile_write_expect(c, old, 0, HOSTILE_LEN, hostile_fresh_seed(c), SAN_WIRE_EACCES,
			     "WRITE with a revoked key");
	hostile_read_expect(c, old, 100, 256, SAN_WIRE_EACCES, got, "READ_REQ with a revoked key");

	/* The same memory, registered again: a new key; the old one is dead. */
	hostile_rereg(c, HR_R2);
	if (c->d[HR_R2].key == old)
		HFAIL(c, "registering again reissued the revoked key %#llx", (unsigned long long)old);
	hostile_write_expect(c, old, 100, 256, hostile_fresh_seed(c), SAN_WIRE_EACCES,
			     "WRITE with the revoked key after a new registration");
	hostile_read_expect(c, old, 100, 256, SAN_WIRE_EACCES, got,
			    "READ_REQ with the revoked key after a new registration");
	hostile_read_expect(c, c->d[HR_R2].key, 100, 256, 0, got, "READ_REQ with the new key");
	for (size_t i = 0; i < sizeof(got); i++)
		if (got[i] != hostile_pat(i, seed))
			HFAIL(c, "READ_REQ with the new key: byte %zu is %#x, want %#x", i, got[i],
			      hostile_pat(i, seed));
	seed = hostile_fresh_seed(c);
	hostile_write_expect(c, c->d[HR_R2].key, 4000, 100, seed, 0, "WRITE with the new key");
	hostile_wrote(c, HR_R2, 4000, 100, seed);

	hostile_alive(c);
	return HOSTILE_ALIVE;
}

/* Revoked while the attacker has requests in flight behind it. */
static int revoked_pipelined(struct hostile_conn *c)
{
	uint64_t old = c->d[HR_R2].key;
	uint64_t ids[16];

	hostile_dereg(c, HR_R2);
	for (int i = 0; i < 16; i += 2) {
		ids[i] = hostile_send_write(c, old, (uint64_t)i * 100, 100, hostile_fresh_seed(c));
		ids[i + 1] = hostile_send_read(c, old, (uint64_t)i * 100, 100);
	}
	for (int i = 0; i < 16; i += 2) {
		if (hostile_wait_ack(c, ids[i], "pipelined WRITE, revoked key") != SAN_WIRE_EACCES)
			HFAIL(c, "pipelined WRITE with a revoked key not refused with EACCES");
		if (hostile_wait_resp(c, ids[i + 1], 100, NULL, "pipelined READ_REQ, revoked key") !=
		    SAN_WIRE_EACCES)
			HFAIL(c, "pipelined READ_REQ with a revoked key not refused with EACCES");
	}
	hostile_alive(c);
	return HOSTILE_ALIVE;
}

static const struct hostile_case cases[] = {
	{ .name = "revoked key", .attack = revoked },
	{ .name = "revoked key, pipelined", .attack = revoked_pipelined },
};

int main(void)
{
	return hostile_run(cases, (int)SAN_ARRAY_SIZE(cases), NULL);
}
