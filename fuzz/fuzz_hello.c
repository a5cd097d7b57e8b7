/* SPDX-License-Identifier: MIT */
/*
 * The HELLO of the handshake (docs/protocol.md §1): san__wire_hello_decode,
 * which nic_conn.c:recv_hello runs on the first 32 bytes any client sends
 * to a listener, before anything else happens on the connection.
 *
 * Input: the bytes, any length. Checks: the verdict equals §1 read
 * independently here (wrong magic, hdr_size, nonzero flags/rsvd, zero
 * max_msg: -EPROTO; right magic, other version: -EPROTONOSUPPORT); a refusal
 * writes nothing; an accepted HELLO round-trips through the encoder.
 * Connection-level handling of the same bytes (san_accept's answer) is
 * covered by fuzz_stream.
 */
#include "fuzz.h"
#include "nic/wire.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct san_wire_hello h, h2, poison;
	uint8_t out[sizeof(struct san_wire_hello)];
	int rc, want;

	memset(&poison, 0x5a, sizeof(poison));
	h = poison;
	rc = san__wire_hello_decode(data, size, &h);
	if (size < sizeof(out))
		want = -EPROTO;
	else if (fuzz_le32(data) != SAN_WIRE_MAGIC)
		want = -EPROTO;
	else if (fuzz_le16(data + 4) != SAN_WIRE_VERSION)
		want = -EPROTONOSUPPORT;
	else if (fuzz_le16(data + 6) != sizeof(struct san_wire_hdr) || fuzz_le32(data + 8) ||
		 fuzz_le32(data + 12) || !fuzz_le64(data + 16))
		want = -EPROTO;
	else
		want = 0;
	FUZZ_CHECK(rc == want, "decode = %d, protocol.md §1 says %d (size %zu)", rc, want, size);
	if (rc) {
		FUZZ_CHECK(!memcmp(&h, &poison, sizeof(h)), "a refused HELLO was written out");
		return 0;
	}
	FUZZ_CHECK(h.max_msg == fuzz_le64(data + 16) && h.nonce == fuzz_le64(data + 24),
		   "decoded fields differ from the bytes");
	san__wire_hello_encode(&h, out);
	FUZZ_CHECK(!memcmp(out, data, sizeof(out)), "encode(decode(x)) != x");
	rc = san__wire_hello_decode(out, sizeof(out), &h2);
	FUZZ_CHECK(rc == 0 && !memcmp(&h, &h2, sizeof(h)), "decode(encode(h)) != h (rc %d)", rc);
	FUZZ_CHECK(san__wire_hello_decode(out, sizeof(out) - 1, &h2) == -EPROTO, "31 bytes accepted");
	return 0;
}
