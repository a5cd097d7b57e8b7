/* SPDX-License-Identifier: MIT */
/*
 * Pinned pools (R3.2, R3.3): san_dma_alloc gives zeroed memory that is
 * already pinned and registered. Small allocations share one chunk (one
 * pin); a large one gets its own. Registering pool memory on two sockets,
 * locally and for RDMA, pins nothing more (NIC pin count unchanged, also
 * with SAN_RCACHE=0 in the .nocache run), and the NIC moves data through
 * it: a send from it, an RDMA write by the peer into it. Freed memory goes
 * back to the chunk; empty chunks are unpinned (one spare kept); a double
 * or foreign free is refused without a crash; provider close unpins
 * everything (VmPin back to its start). SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define MSG 12345

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s1 = xt_client(&p, ctl), *s2 = san_test_connect_peer(p, ctl);
	uint8_t *in = xt_map(1 << 20);
	san_handle h = xt_reg(s1, in, 1 << 20, SAN_MEM_READWRITE);
	struct san_rdma_desc d;

	(void)s2;
	xt_recv(s1, in, MSG, h, XT_CTX(1));
	xt_expect(s1, XT_CTX(1), SAN_OP_RECV, 0, MSG);
	CHECK(xt_same_fill("peer: send from pool memory", in, MSG, 61));
	/* An RDMA write into the server's pool memory. */
	d = xt_recv_desc(ctl);
	san_test_fill(in, 100000, 62);
	xt_rdma_write(s1, in, 100000, h, &d, 4096, 0);
	san_test_sync(ctl, "written");
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s1, h));
	san_provider_close(p);
	xt_unmap(in, 1 << 20);
	return 0;
}

static uint64_t nic_pins(san_provider *p)
{
	struct san_stats st;

	CHECK_OK(san_get_stats(p, &st));
	return st.pins;
}

static struct san_dma_stats dstats(san_provider *p)
{
	struct san_dma_stats st;

	CHECK_OK(san_dma_query(p, &st));
	return st;
}

int main(void)
{
	struct san_dma small[8], big, again, bad;
	struct san_dma_stats ds;
	struct san_rdma_desc d;
	san_provider *p;
	san_socket *s1, *s2;
	san_handle h1, h2, h3;
	long pin0, pin1;
	uint64_t pins;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s1 = xt_server(&p, ctl);
	s2 = san_test_accept_peer(p, ctl);
	pin0 = san_test_vmpin_kb();

	/* Arguments. */
	CHECK_RC(san_dma_alloc(NULL, 10, &big), -EINVAL);
	CHECK_RC(san_dma_alloc(p, 0, &big), -EINVAL);
	CHECK_RC(san_dma_alloc(p, 10, NULL), -EINVAL);
	CHECK_RC(san_dma_alloc(p, (size_t)1 << 62, &big), -EINVAL);
	CHECK_RC(san_dma_query(p, NULL), -EINVAL);
	ds = dstats(p);
	CHECK(ds.chunks == 0 && ds.allocs == 0);

	/* Small allocations: one chunk, one pin. */
	pins = nic_pins(p);
	for (int i = 0; i < 8; i++) {
		CHECK_OK(san_dma_alloc(p, 1000 + (size_t)i * 20000, &small[i]));
		CHECK(small[i].addr && small[i].len == 1000 + (size_t)i * 20000);
		CHECK((uintptr_t)small[i].addr % 4096 == 0);
		CHECK(small[i].kind >= SAN_DMA_HUGETLB && small[i].kind <= SAN_DMA_PAGES);
		CHECK(xt_all(small[i].addr, small[i].len, 0));
		memset(small[i].addr, 0xee, small[i].len);
	}
	for (int i = 0; i < 8; i++) /* no overlap */
		for (int j = 0; j < 8; j++)
			if (i != j)
				CHECK((uint8_t *)small[i].addr + small[i].len <= (uint8_t *)small[j].addr ||
				      (uint8_t *)small[j].addr + small[j].len <= (uint8_t *)small[i].addr);
	CHECK(nic_pins(p) == pins + 1);
	ds = dstats(p);
	CHECK(ds.chunks == 1 && ds.allocs == 8 && ds.chunk_pins == 1);
	CHECK(ds.hugetlb_bytes + ds.thp_bytes + ds.pages_bytes == ds.chunk_bytes);
	pin1 = san_test_vmpin_kb();
	CHECK(pin1 >= pin0 + (long)(ds.chunk_bytes / 1024));
	printf("chunk kind %d (hugetlb_ok %d thp_ok %d)\n", small[0].kind, ds.hugetlb_ok, ds.thp_ok);

	/* A large one gets its own chunk. */
	CHECK_OK(san_dma_alloc(p, (3 << 20) + 5, &big));
	CHECK(nic_pins(p) == pins + 2);
	ds = dstats(p);
	CHECK(ds.chunks == 2 && ds.chunk_bytes >= (size_t)(2 + 4) << 20);

	/* Registrations inside pool memory pin nothing, on either socket. */
	pins = nic_pins(p);
	h1 = xt_reg(s1, small[3].addr, small[3].len, SAN_MEM_READ);
	h2 = xt_reg(s2, small[3].addr, 100, SAN_MEM_READWRITE);
	d = xt_rreg(s1, big.addr, big.len, SAN_MEM_READWRITE);
	h3 = xt_reg(s1, big.addr, big.len, SAN_MEM_READWRITE);
	CHECK(nic_pins(p) == pins);
	CHECK(san_test_vmpin_kb() == pin1 + (long)(4 << 10));
	CHECK(dstats(p).reg_hits >= 4);

	/* The NIC moves data through it. */
	san_test_fill(small[3].addr, MSG, 61);
	xt_send(s1, small[3].addr, MSG, h1, XT_CTX(7));
	xt_expect(s1, XT_CTX(7), SAN_OP_SEND, 0, MSG);
	xt_send_desc(ctl, &d);
	san_test_sync(ctl, "written");
	CHECK(xt_same_fill("rdma write into pool memory", (uint8_t *)big.addr + 4096, 100000, 62));
	CHECK(xt_all(big.addr, 4096, 0));

	/* Freed while registered: the pages stay pinned and mapped until the
	 * registrations go; the chunk leaves the pool. */
	san_dma_free(p, &big);
	CHECK(big.addr == NULL);
	CHECK(dstats(p).chunks == 1);
	CHECK(nic_pins(p) == pins);
	memset((uint8_t *)small[3].addr, 1, 10); /* still ours */
	CHECK_OK(san_deregister_memory(s1, h3));
	CHECK_OK(san_deregister_rdma_memory(s1, &d));
	{
		struct san_stats st;

		CHECK_OK(san_get_stats(p, &st));
		CHECK(st.unpins >= 1);
	}

	/* Double and foreign frees are refused. */
	again = small[0];
	san_dma_free(p, &small[0]);
	san_dma_free(p, &again);
	bad.addr = &bad;
	bad.len = 8;
	san_dma_free(p, &bad);
	san_dma_free(p, NULL);
	CHECK(dstats(p).allocs == 7);

	/* Freed space is reused: the chunk is not re-pinned. */
	pins = nic_pins(p);
	CHECK_OK(san_dma_alloc(p, 1000, &small[0]));
	CHECK(nic_pins(p) == pins);
	CHECK(xt_all(small[0].addr, 1000, 0)); /* zeroed again */

	CHECK_OK(san_deregister_memory(s1, h1));
	CHECK_OK(san_deregister_memory(s2, h2));
	/* Everything freed: one spare chunk stays. */
	for (int i = 0; i < 8; i++)
		san_dma_free(p, &small[i]);
	ds = dstats(p);
	CHECK(ds.allocs == 0 && ds.alloc_bytes == 0 && ds.chunks == 1);
	san_test_sync(ctl, "end");
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
