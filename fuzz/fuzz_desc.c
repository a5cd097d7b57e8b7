/* SPDX-License-Identifier: MIT */
/*
 * RDMA descriptors (docs/protocol.md §3): san__wire_desc_decode. A
 * descriptor arrives from the peer by any means (usually inside a message)
 * and the application hands it back to san_rdma_write / san_rdma_read /
 * san_deregister_rdma_memory (core/ops.c:post, core/reg.c), which decode it.
 * The target never trusts it (it checks the key against its own table), but
 * the decoder must still refuse garbage without reading past the 32 bytes.
 *
 * Input: the bytes, any length. Checks: the verdict equals §3 read here
 * (magic, version 1, rsvd 0, nonzero key, rights a nonzero subset of
 * READ|WRITE); -EINVAL and no output on refusal; round trip on success.
 */
#include "fuzz.h"
#include "nic/wire.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct san_wire_desc d, d2, poison;
	uint8_t out[sizeof(struct san_wire_desc)];
	int rc, want;

	memset(&poison, 0x3c, sizeof(poison));
	d = poison;
	rc = san__wire_desc_decode(data, size, &d);
	want = size >= sizeof(out) && fuzz_le32(data) == SAN_WIRE_DESC_MAGIC &&
	       data[4] == SAN_WIRE_VERSION && data[5] && !(data[5] & ~3u) && !fuzz_le16(data + 6) &&
	       fuzz_le64(data + 8);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL, "rc %d", rc);
	FUZZ_CHECK((rc == 0) == want, "decode = %d, protocol.md §3 says %s (size %zu)", rc,
		   want ? "valid" : "invalid", size);
	if (rc) {
		FUZZ_CHECK(!memcmp(&d, &poison, sizeof(d)), "a refused descriptor was written out");
		return 0;
	}
	FUZZ_CHECK(d.rights == data[5] && d.key == fuzz_le64(data + 8) &&
			   d.len == fuzz_le64(data + 16) && d.nonce == fuzz_le64(data + 24),
		   "decoded fields differ from the bytes");
	san__wire_desc_encode(&d, out);
	FUZZ_CHECK(!memcmp(out, data, sizeof(out)), "encode(decode(x)) != x");
	rc = san__wire_desc_decode(out, sizeof(out), &d2);
	FUZZ_CHECK(rc == 0 && !memcmp(&d, &d2, sizeof(d)), "decode(encode(d)) != d (rc %d)", rc);
	FUZZ_CHECK(san__wire_desc_decode(out, sizeof(out) - 1, &d2) == -EINVAL, "31 bytes accepted");
	return 0;
}
