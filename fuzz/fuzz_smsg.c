/* SPDX-License-Identifier: MIT */
/*
 * The stream layer's messages (docs/stream.md §2): san__ss_parse, which
 * stream_core.c runs on every message a stream peer sends, and the
 * handshake runs on HELLO, TOKEN and STAY.
 *
 * Input: one received message, any length. Checks: the verdict equals the
 * size rules of §2 read independently here (header, a known type, zero
 * flags and reserved bytes, exactly the body of that type, DATA with
 * 1..16 MiB of payload, no len on other types); an accepted message
 * re-encodes to the same bytes (DATA: the same header, the payload
 * pointing into the input); accepted HELLOs have their counts in range and
 * a NUL-terminated name; accepted SRC/SINK lengths are in 1..2^40.
 */
#include "fuzz.h"
#include "stream/stream_proto.h"

#include <errno.h>

static size_t body(uint8_t t)
{
	switch (t) {
	case SS_HELLO: return 16 + 16 + 64;
	case SS_SRC_AVAIL: return 16 + 32;
	case SS_SINK_AVAIL: return 24 + 32;
	case SS_DONE: return 24;
	case SS_TOKEN: return 16;
	case SS_TOKEN_ACK: return 8;
	default: return 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ss_msg m;
	uint8_t out[SS_HDR_LEN + 256];
	int rc = san__ss_parse(data, size, &m);
	size_t want;

	if (size < SS_HDR_LEN || data[0] < SS_HELLO || data[0] > SS_TYPE_MAX || data[1] || data[2] ||
	    data[3]) {
		FUZZ_CHECK(rc == -EPROTO, "bad header accepted (size %zu type %u)", size,
			   size ? data[0] : 0);
		return 0;
	}
	want = SS_HDR_LEN + body(data[0]);
	if (data[0] == SS_DATA) {
		uint32_t len = fuzz_le32(data + 4);

		if (!len || len > (16u << 20)) {
			FUZZ_CHECK(rc == -EPROTO, "DATA of %u bytes accepted", len);
			return 0;
		}
		want += len;
	} else if (fuzz_le32(data + 4)) {
		FUZZ_CHECK(rc == -EPROTO, "len on a type %u accepted", data[0]);
		return 0;
	}
	if (size != want) {
		FUZZ_CHECK(rc == -EPROTO, "size %zu accepted for type %u (want %zu)", size, data[0], want);
		return 0;
	}
	if (rc)
		return 0; /* a body rule refused it */
	FUZZ_CHECK(m.h.credits == fuzz_le32(data + 8) && m.h.cacks == fuzz_le32(data + 12),
		   "counters differ from the bytes");
	switch (m.h.type) {
	case SS_HELLO:
		FUZZ_CHECK(m.u.hello.slots >= SS_MIN_SLOTS && m.u.hello.slots <= SS_MAX_SLOTS, "slots");
		FUZZ_CHECK(m.u.hello.slot_size >= SS_MIN_SLOT_SIZE &&
				   m.u.hello.slot_size <= SS_MAX_SLOT_SIZE, "slot size");
		FUZZ_CHECK(memchr(m.u.hello.name, 0, SS_NAME_MAX) != NULL, "name not terminated");
		if (m.u.hello.flags & SS_HF_OFFER_LOCAL)
			FUZZ_CHECK(m.u.hello.name[0] == '@', "offered a name that is not abstract");
		break;
	case SS_SRC_AVAIL:
		FUZZ_CHECK(m.u.src.len && m.u.src.len <= SS_MAX_XFER, "src len");
		break;
	case SS_SINK_AVAIL:
		FUZZ_CHECK(m.u.sink.len && m.u.sink.len <= SS_MAX_XFER, "sink len");
		break;
	case SS_DATA:
		FUZZ_CHECK(m.payload == data + SS_HDR_LEN && m.h.len == size - SS_HDR_LEN, "payload");
		break;
	}
	{
		size_t n = san__ss_encode(&m, out);

		if (m.h.type == SS_DATA)
			FUZZ_CHECK(n == SS_HDR_LEN + body(SS_DATA) && !memcmp(out, data, SS_HDR_LEN),
				   "DATA header does not round-trip");
		else
			FUZZ_CHECK(n == size && !memcmp(out, data, size), "encode(parse(x)) != x (type %u)",
				   m.h.type);
	}
	return 0;
}
