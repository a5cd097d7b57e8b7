/* SPDX-License-Identifier: MIT */
/*
 * R1.5 / protocol.md §3-4: nothing in a descriptor is trusted by the target.
 * A peer that edits a valid descriptor (guessed or zero key, rights raised,
 * length enlarged) reaches nothing: -EACCES (or -ERANGE past the real
 * bounds) at the peer, the memory untouched, and the genuine descriptors
 * keep working. Field offsets are those of protocol.md §3.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define RLEN (64 * 1024)
#define D_RIGHTS 5
#define D_KEY 8
#define D_LEN 16

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *ro = xt_map(RLEN), *rw = xt_map(RLEN);
	struct san_rdma_desc dro, drw;

	san_test_fill(ro, RLEN, 80);
	dro = xt_rreg(s, ro, RLEN, SAN_MEM_READ);
	drw = xt_rreg(s, rw, RLEN, SAN_MEM_READWRITE);
	xt_send_desc(ctl, &dro);
	xt_send_desc(ctl, &drw);
	san_test_sync(ctl, "refused");
	CHECK(xt_same_fill("READ registration after refused ops", ro, RLEN, 80));
	CHECK(xt_same_byte("READWRITE registration after refused ops", rw, RLEN, 0));
	san_test_sync(ctl, "checked");
	san_test_sync(ctl, "end");
	CHECK(san_test_verify(ro, RLEN, 80));
	CHECK(san_test_verify(rw, 100, 81) && xt_all(rw + 100, RLEN - 100, 0));
	CHECK_OK(san_deregister_rdma_memory(s, &dro));
	CHECK_OK(san_deregister_rdma_memory(s, &drw));
	xt_teardown(p, s);
	xt_unmap(ro, RLEN);
	xt_unmap(rw, RLEN);
	return 0;
}

static void set_u64(struct san_rdma_desc *d, int off, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		d->bytes[off + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const struct san_rdma_desc *d, int off)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)d->bytes[off + i] << (8 * i);
	return v;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *buf;
	san_handle h;
	struct san_rdma_desc dro, drw, f;
	uint64_t key, x = 0x9e3779b97f4a7c15ull;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	dro = xt_recv_desc(ctl);
	drw = xt_recv_desc(ctl);
	buf = xt_map(RLEN);
	h = xt_reg(s, buf, RLEN, SAN_MEM_READWRITE);
	san_test_fill(buf, RLEN, 89);
	key = get_u64(&drw, D_KEY);
	CHECK(key != 0);

	/* Key with one bit flipped, each bit in turn (every 8th). */
	for (int bit = 0; bit < 64; bit += 8) {
		f = drw;
		set_u64(&f, D_KEY, key ^ (1ull << bit));
		xt_rdma_write(s, buf, 100, h, &f, 0, -EACCES);
		xt_rdma_read(s, buf, 100, h, &f, 0, -EACCES);
	}
	/* Key 0 is never issued (protocol.md §3: keys are nonzero), so the
	 * descriptor is malformed: -EINVAL at post time is the documented
	 * answer, a refusal by the target (-EACCES) is acceptable too. */
	f = drw;
	set_u64(&f, D_KEY, 0);
	{
		struct san_buf b = xt_buf(buf, 100, h);
		int rc = san_rdma_write(s, &b, 1, &f, 0, XT_CTX(1));

		if (rc == 0)
			xt_expect(s, XT_CTX(1), SAN_OP_RDMA_WRITE, -EACCES, XT_ANY);
		else
			CHECK_RC(rc, -EINVAL);
		rc = san_rdma_read(s, &b, 1, &f, 0, XT_CTX(2));
		if (rc == 0)
			xt_expect(s, XT_CTX(2), SAN_OP_RDMA_READ, -EACCES, XT_ANY);
		else
			CHECK_RC(rc, -EINVAL);
	}
	/* Made-up keys. */
	for (int i = 0; i < 16; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		set_u64(&f, D_KEY, x);
		xt_rdma_write(s, buf, 100, h, &f, 0, -EACCES);
	}
	/* Rights raised: the target's table still says READ only. */
	f = dro;
	f.bytes[D_RIGHTS] = SAN_MEM_READWRITE;
	xt_rdma_write(s, buf, 100, h, &f, 0, -EACCES);
	/* Length enlarged: the target checks its own bounds. */
	f = drw;
	set_u64(&f, D_LEN, 1024 * 1024);
	xt_rdma_write(s, buf, 100, h, &f, RLEN, -ERANGE);
	xt_rdma_write(s, buf, 100, h, &f, RLEN - 10, -ERANGE);
	xt_rdma_read(s, buf, 100, h, &f, RLEN - 10, -ERANGE);
	f = dro;
	set_u64(&f, D_LEN, 1024 * 1024);
	xt_rdma_read(s, buf, 4096, h, &f, RLEN, -ERANGE);
	CHECK(san_test_verify(buf, RLEN, 89)); /* refused reads wrote nothing here either */
	san_test_sync(ctl, "refused");
	san_test_sync(ctl, "checked");

	/* The genuine descriptors still work. */
	san_test_fill(buf, 100, 81);
	xt_rdma_write(s, buf, 100, h, &drw, 0, 0);
	xt_rdma_read(s, buf, RLEN, h, &dro, 0, 0);
	CHECK(san_test_verify(buf, RLEN, 80));
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, RLEN);
	return 0;
}
