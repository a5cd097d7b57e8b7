/* SPDX-License-Identifier: MIT */
/*
 * Frame headers (docs/protocol.md §2 and §5): san__wire_hdr_decode, the
 * first thing the receive engine (nic_rx.c:rx_header) does with every 40
 * bytes a peer sends.
 *
 * Input: 8 bytes of max_msg (little endian), then the header bytes, of any
 * length (libFuzzer's buffer is exactly that long: ASan sees any read past
 * it). Checks:
 *   - the verdict equals this file's own reading of §5 (a second, independent
 *     implementation of the rules, from the document);
 *   - a refused header leaves the output untouched and returns -EPROTO;
 *   - an accepted header has the fields of the bytes, encodes back to the
 *     very same 40 bytes, and decodes again to the same struct.
 */
#include "fuzz.h"
#include "nic/wire.h"

#include <errno.h>

/* protocol.md §5, read straight from the bytes. */
static int expect_valid(const uint8_t *p, uint64_t max_msg)
{
	uint8_t type = p[0], flags = p[1];
	uint16_t rsvd = fuzz_le16(p + 2);
	uint32_t status = fuzz_le32(p + 4);
	uint64_t key = fuzz_le64(p + 16), off = fuzz_le64(p + 24), len = fuzz_le64(p + 32);

	if (flags || rsvd)
		return 0;
	switch (type) {
	case SAN_WIRE_SEND:      /* a request, no key, no offset */
		return !status && !key && !off && len <= max_msg;
	case SAN_WIRE_WRITE:     /* a request with key and offset */
	case SAN_WIRE_READ_REQ:
		return !status && len <= max_msg;
	case SAN_WIRE_WRITE_ACK: /* a response, no payload */
		return status <= SAN_WIRE_EFAULT && !key && !off && !len;
	case SAN_WIRE_READ_RESP: /* payload only with status 0 */
		return status <= SAN_WIRE_EFAULT && !key && !off && len <= max_msg &&
		       !(status && len);
	default:
		return 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct san_wire_hdr h, h2, poison;
	uint8_t out[sizeof(struct san_wire_hdr)];
	uint64_t max_msg;
	int rc, want;

	if (size < 8)
		return 0;
	max_msg = fuzz_le64(data);
	data += 8;
	size -= 8;

	memset(&poison, 0xa5, sizeof(poison));
	h = poison;
	rc = san__wire_hdr_decode(data, size, max_msg, &h);
	want = size >= sizeof(out) && expect_valid(data, max_msg);
	FUZZ_CHECK(rc == 0 || rc == -EPROTO, "rc %d", rc);
	FUZZ_CHECK((rc == 0) == want, "decode says %d, protocol.md §5 says %s (size %zu)", rc,
		   want ? "valid" : "invalid", size);
	if (rc) {
		FUZZ_CHECK(!memcmp(&h, &poison, sizeof(h)), "a refused header was written out");
		return 0;
	}
	FUZZ_CHECK(h.type == data[0] && h.status == fuzz_le32(data + 4) &&
			   h.id == fuzz_le64(data + 8) && h.key == fuzz_le64(data + 16) &&
			   h.offset == fuzz_le64(data + 24) && h.len == fuzz_le64(data + 32),
		   "decoded fields differ from the bytes");
	san__wire_hdr_encode(&h, out);
	FUZZ_CHECK(!memcmp(out, data, sizeof(out)), "encode(decode(x)) != x");
	rc = san__wire_hdr_decode(out, sizeof(out), max_msg, &h2);
	FUZZ_CHECK(rc == 0 && !memcmp(&h, &h2, sizeof(h)), "decode(encode(h)) != h (rc %d)", rc);
	/* One byte short is always a refusal. */
	FUZZ_CHECK(san__wire_hdr_decode(out, sizeof(out) - 1, max_msg, &h2) == -EPROTO,
		   "39 bytes accepted");
	return 0;
}
