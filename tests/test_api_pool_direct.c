/* SPDX-License-Identifier: MIT */
/*
 * Pool memory goes direct (include/san.h, tx_direct in san_stats): a send
 * or RDMA write whose every element lies in pool memory (san_dma_alloc)
 * goes out in its header's sendmsg(), from the mapping, at any size — the
 * pool's mapping is libsan's own and never leaves the pinned pages — and
 * what a short sendmsg leaves goes by fixed-buffer write. Anything with an
 * element outside the pools and above SAN_INLINE_MAX goes from the pinned
 * pages only (test_api_inline shows which pages such a transfer takes).
 *
 * A (child) posts one transfer at a time, each after the last completed,
 * and checks how many went direct (san_stats.tx_direct); B checks every
 * byte:
 *   pool 64 KiB send                 direct
 *   pool 4 MiB send (more than the   direct, the rest by WRITE_FIXED
 *     socket takes at once)
 *   pool 1000 + pool 3000 (2 elems)  direct
 *   plain 64 KiB send                not direct
 *   pool 4 KiB + plain 4 KiB         not direct
 *   plain 100 B send                 direct (inline)
 *   pool 128 KiB RDMA write          direct
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define BIG (4u << 20)
#define RX (BIG + 4096)

enum { S_POOL64, S_POOL4M, S_POOL2, S_PLAIN64, S_MIXED, S_PLAIN100, S_WRITE, NSTEP };

static const struct {
	size_t len[2];
	int pool[2]; /* element from pool (1) or plain (0) memory */
	int direct;
} steps[NSTEP] = {
	[S_POOL64] = { { 64 << 10, 0 }, { 1, 0 }, 1 },
	[S_POOL4M] = { { BIG, 0 }, { 1, 0 }, 1 },
	[S_POOL2] = { { 1000, 3000 }, { 1, 1 }, 1 },
	[S_PLAIN64] = { { 64 << 10, 0 }, { 0, 0 }, 0 },
	[S_MIXED] = { { 4096, 4096 }, { 1, 0 }, 0 },
	[S_PLAIN100] = { { 100, 0 }, { 0, 0 }, 1 },
	[S_WRITE] = { { 128 << 10, 0 }, { 1, 0 }, 1 },
};

/* Element e of step i: pool elements from the start of the allocation
 * (the second one 1 MiB in), plain ones likewise from the plain buffer;
 * each filled with its own seed. */
static uint32_t seed_of(int i, int e)
{
	return 700 + (uint32_t)(i * 2 + e);
}

static size_t elem_off(int e)
{
	return e ? (1u << 20) : 0;
}

static uint64_t direct_now(san_provider *p)
{
	struct san_stats st;

	CHECK_OK(san_get_stats(p, &st));
	return st.tx_direct;
}

static int sender(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	struct san_dma pool;
	uint8_t *plain = xt_map(BIG + (1u << 20));
	san_handle hp, hn;
	struct san_rdma_desc d;

	(void)arg;
	CHECK_OK(san_dma_alloc(p, BIG + (1u << 20), &pool));
	hp = xt_reg(s, pool.addr, pool.len, SAN_MEM_READ);
	hn = xt_reg(s, plain, BIG + (1u << 20), SAN_MEM_READ);
	d = xt_recv_desc(ctl);
	for (int i = 0; i < NSTEP; i++) {
		struct san_buf b[2];
		int n = steps[i].len[1] ? 2 : 1;
		uint64_t before;

		for (int e = 0; e < n; e++) {
			uint8_t *base = steps[i].pool[e] ? pool.addr : plain;

			b[e] = xt_buf(base + elem_off(e), steps[i].len[e], steps[i].pool[e] ? hp : hn);
			san_test_fill(b[e].buf, b[e].len, seed_of(i, e));
		}
		san_test_sync(ctl, "posted-recv");
		before = direct_now(p);
		if (i == S_WRITE) {
			xt_rdma_write(s, b[0].buf, b[0].len, b[0].handle, &d, 0, 0);
		} else {
			CHECK_OK(san_send(s, b, n, XT_CTX(100 + i)));
			xt_expect(s, XT_CTX(100 + i), SAN_OP_SEND, 0, steps[i].len[0] + steps[i].len[1]);
		}
		if (direct_now(p) - before != (uint64_t)steps[i].direct) {
			fprintf(stderr, "step %d: %llu went direct, want %d\n", i,
				(unsigned long long)(direct_now(p) - before), steps[i].direct);
			exit(1);
		}
		san_test_sync(ctl, "step-done");
	}
	CHECK_OK(san_deregister_memory(s, hp));
	CHECK_OK(san_deregister_memory(s, hn));
	san_dma_free(p, &pool);
	xt_unmap(plain, BIG + (1u << 20));
	xt_teardown(p, s);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *in, *w;
	san_handle hi;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(sender, NULL, &ctl);
	s = xt_server(&p, ctl);
	in = xt_map(RX);
	w = xt_map(256 << 10);
	hi = xt_reg(s, in, RX, SAN_MEM_WRITE);
	{
		struct san_rdma_desc d = xt_rreg(s, w, 256 << 10, SAN_MEM_WRITE);

		xt_send_desc(ctl, &d);
	}
	for (int i = 0; i < NSTEP; i++) {
		size_t len = steps[i].len[0] + steps[i].len[1];
		uint8_t *at = i == S_WRITE ? w : in;

		memset(at, 0xee, i == S_WRITE ? (256u << 10) : RX);
		if (i != S_WRITE)
			xt_recv(s, in, RX, hi, XT_CTX(200 + i));
		san_test_sync(ctl, "posted-recv");
		if (i != S_WRITE)
			xt_expect(s, XT_CTX(200 + i), SAN_OP_RECV, 0, len);
		san_test_sync(ctl, "step-done");
		if (!san_test_verify(at, steps[i].len[0], seed_of(i, 0)) ||
		    !san_test_verify(at + steps[i].len[0], steps[i].len[1], seed_of(i, 1)) ||
		    !xt_all(at + len, 4096, 0xee)) {
			fprintf(stderr, "step %d: %zu bytes arrived wrong\n", i, len);
			exit(1);
		}
	}
	CHECK_OK(san_deregister_memory(s, hi));
	xt_teardown(p, s);
	xt_unmap(in, RX);
	xt_unmap(w, 256 << 10);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
