/* SPDX-License-Identifier: MIT */
/*
 * Payloads for pool memory read by recv() into their place (nic_rx.c,
 * rx_sync_payload; san_stats.rx_direct): while an application thread spins
 * in san_poll, a payload of up to 64 KiB whose place is pool memory
 * (san_dma_alloc: the mapping is the pinned pages) is read with recv()
 * instead of a READ_FIXED through the ring. Every byte must land where it
 * would have, whatever the frame:
 *  1. 200 ping-pong round trips of 64 bytes, both sides receiving into
 *     pool memory and spinning: every message intact, and on both sides
 *     payloads went this way (rx_direct > 0; without the path it stays 0);
 *  2. a 3500-byte message into a two-element pool receive (1000 + 3000);
 *  3. a 5000-byte message into a 4096-byte pool receive: -EMSGSIZE with
 *     4096 bytes placed, the rest drained, the next message (100 bytes)
 *     intact;
 *  4. an RDMA write of 32 KiB into B's pool memory; an RDMA read of 16 KiB
 *     by B into its pool memory (the response's payload);
 *  5. a 128 KiB message into pool memory (above 64 KiB: the ring's read).
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define POOL (1u << 20)
#define ROUNDS 200

static uint64_t rx_direct(san_provider *p)
{
	struct san_stats st;

	CHECK_OK(san_get_stats(p, &st));
	return st.rx_direct;
}

/* Posts a receive of len at off of the pool, returns its ctx. */
static void *post(san_socket *s, struct san_dma *d, san_handle h, size_t off, size_t len, int tag)
{
	xt_recv(s, (uint8_t *)d->addr + off, len, h, XT_CTX(tag));
	return XT_CTX(tag);
}

/* Part 1, both sides: even rounds A sends first. */
static void ping_pong(san_socket *s, struct san_dma *d, san_handle h, int first)
{
	uint8_t *out = (uint8_t *)d->addr + (512u << 10);

	for (int i = 0; i < ROUNDS; i++) {
		void *rx = post(s, d, h, 0, 4096, 1000 + i);

		if (first) {
			san_test_fill(out, 64, 900 + (uint32_t)i);
			xt_send(s, out, 64, h, XT_CTX(3000 + i));
			xt_expect(s, XT_CTX(3000 + i), SAN_OP_SEND, 0, 64);
		}
		xt_expect(s, rx, SAN_OP_RECV, 0, 64);
		CHECK(san_test_verify(d->addr, 64, 900 + (uint32_t)i));
		if (!first) {
			memcpy(out, d->addr, 64);
			xt_send(s, out, 64, h, XT_CTX(3000 + i));
			xt_expect(s, XT_CTX(3000 + i), SAN_OP_SEND, 0, 64);
		}
	}
}

static int sender(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	struct san_dma d;
	uint8_t *src = xt_map(256 << 10);
	san_handle h, hs;
	struct san_rdma_desc bw, me;

	(void)arg;
	CHECK_OK(san_dma_alloc(p, POOL, &d));
	h = xt_reg(s, d.addr, POOL, SAN_MEM_READWRITE);
	hs = xt_reg(s, src, 256 << 10, SAN_MEM_READ);
	san_test_sync(ctl, "ready");
	ping_pong(s, &d, h, 1);
	CHECK(rx_direct(p) > 0);
	/* 2, 3, 5: messages. */
	san_test_sync(ctl, "posted");
	san_test_fill(src, 3500, 41);
	xt_send(s, src, 3500, hs, XT_CTX(1));
	san_test_fill(src, 5000, 42);
	xt_send(s, src, 5000, hs, XT_CTX(2));
	xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, 3500);
	xt_expect(s, XT_CTX(2), SAN_OP_SEND, 0, 5000);
	san_test_fill(src, 100, 43);
	xt_send(s, src, 100, hs, XT_CTX(3));
	xt_expect(s, XT_CTX(3), SAN_OP_SEND, 0, 100);
	san_test_fill(src, 128 << 10, 44);
	xt_send(s, src, 128 << 10, hs, XT_CTX(4));
	xt_expect(s, XT_CTX(4), SAN_OP_SEND, 0, 128 << 10);
	/* 4: B's pool memory for our write, ours for its read. */
	bw = xt_recv_desc(ctl);
	san_test_fill(src, 32 << 10, 45);
	xt_rdma_write(s, src, 32 << 10, hs, &bw, 4096, 0);
	san_test_fill((uint8_t *)d.addr + (256u << 10), 16 << 10, 46);
	me = xt_rreg(s, (uint8_t *)d.addr + (256u << 10), 16 << 10, SAN_MEM_READ);
	xt_send_desc(ctl, &me);
	san_test_sync(ctl, "done");
	CHECK_OK(san_deregister_rdma_memory(s, &me));
	CHECK_OK(san_deregister_memory(s, h));
	CHECK_OK(san_deregister_memory(s, hs));
	san_dma_free(p, &d);
	xt_unmap(src, 256 << 10);
	xt_teardown(p, s);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	struct san_dma d;
	san_handle h;
	struct san_rdma_desc mine, theirs;
	uint8_t *base;
	int ctl;
	pid_t pid;

	/* Both sides spin in san_poll while they wait, as the path needs. */
	setenv("SAN_POLL_SPIN_US", "1000000", 1);
	san_test_start(60);
	pid = xt_fork(sender, NULL, &ctl);
	s = xt_server(&p, ctl);
	CHECK_OK(san_dma_alloc(p, POOL, &d));
	base = d.addr;
	h = xt_reg(s, d.addr, POOL, SAN_MEM_READWRITE);
	san_test_sync(ctl, "ready");
	ping_pong(s, &d, h, 0);
	CHECK(rx_direct(p) > 0);
	fprintf(stderr, "ping-pong: %llu of %d payloads read into pool memory by recv()\n",
		(unsigned long long)rx_direct(p), ROUNDS);

	/* 2: two elements; 3: too long, then the next; 5: 128 KiB. */
	memset(base, 0xee, 512u << 10);
	{
		struct san_buf two[2] = { { base, 1000, h }, { base + 8192, 3000, h } };

		CHECK_OK(san_recv(s, two, 2, XT_CTX(10)));
	}
	post(s, &d, h, 16384, 4096, 11);
	post(s, &d, h, 32768, 4096, 12);
	post(s, &d, h, 65536, 128 << 10, 13);
	san_test_sync(ctl, "posted");
	xt_expect(s, XT_CTX(10), SAN_OP_RECV, 0, 3500);
	{
		uint8_t want[5000];

		san_test_fill(want, 3500, 41);
		CHECK(!memcmp(base, want, 1000) && !memcmp(base + 8192, want + 1000, 2500));
		CHECK(xt_all(base + 1000, 8192 - 1000, 0xee) && xt_all(base + 8192 + 2500, 500, 0xee));
		xt_expect(s, XT_CTX(11), SAN_OP_RECV, -EMSGSIZE, 4096);
		san_test_fill(want, 5000, 42);
		CHECK(!memcmp(base + 16384, want, 4096));
	}
	xt_expect(s, XT_CTX(12), SAN_OP_RECV, 0, 100);
	CHECK(san_test_verify(base + 32768, 100, 43));
	CHECK(xt_all(base + 32768 + 100, 4096 - 100, 0xee));
	xt_expect(s, XT_CTX(13), SAN_OP_RECV, 0, 128 << 10);
	CHECK(san_test_verify(base + 65536, 128 << 10, 44));

	/* 4 */
	memset(base + (256u << 10), 0xee, 64u << 10);
	mine = xt_rreg(s, base + (256u << 10), 64u << 10, SAN_MEM_WRITE);
	xt_send_desc(ctl, &mine);
	theirs = xt_recv_desc(ctl);
	memset(base + (384u << 10), 0xee, 32u << 10);
	xt_rdma_read(s, base + (384u << 10), 16 << 10, h, &theirs, 0, 0);
	CHECK(san_test_verify(base + (384u << 10), 16 << 10, 46));
	CHECK(xt_all(base + (384u << 10) + (16 << 10), 16 << 10, 0xee));
	san_test_sync(ctl, "done");
	CHECK(xt_all(base + (256u << 10), 4096, 0xee));
	CHECK(san_test_verify(base + (256u << 10) + 4096, 32 << 10, 45));
	CHECK(xt_all(base + (256u << 10) + 4096 + (32 << 10), 28u << 10, 0xee));
	CHECK_OK(san_deregister_rdma_memory(s, &mine));
	CHECK_OK(san_deregister_memory(s, h));
	san_dma_free(p, &d);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
