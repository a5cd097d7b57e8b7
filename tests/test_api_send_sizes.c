/* SPDX-License-Identifier: MIT */
/*
 * Messages of 0, 1, 4095, 4096, 65537 bytes, 1 MiB and 16 MiB, in both
 * directions at once: each arrives whole, byte for byte, in its own receive
 * (bytes = its size), and nothing lands past it in the larger receive
 * buffer. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

static const size_t sizes[] = { 0, 1, 4095, 4096, 65537, 1024 * 1024, 16 * 1024 * 1024 };
#define N (sizeof(sizes) / sizeof(sizes[0]))
#define MARGIN 4096

static size_t slot_off(size_t i)
{
	size_t off = 0;

	for (size_t k = 0; k < i; k++)
		off += sizes[k] + MARGIN;
	return off;
}

/* Both sides run this: post receives, sync, send everything, check. */
static void exchange(san_socket *s, int ctl, uint32_t seed_out, uint32_t seed_in)
{
	size_t total = slot_off(N);
	uint8_t *out = xt_map(total), *in = xt_map(total);
	san_handle ho = xt_reg(s, out, total, SAN_MEM_READ);
	san_handle hi = xt_reg(s, in, total, SAN_MEM_WRITE);

	memset(in, 0xee, total);
	for (size_t i = 0; i < N; i++) {
		san_test_fill(out + slot_off(i), sizes[i], seed_out + (uint32_t)i);
		xt_recv(s, in + slot_off(i), sizes[i] + MARGIN, hi, XT_CTX(100 + i));
	}
	san_test_sync(ctl, "recv-posted");
	for (size_t i = 0; i < N; i++)
		xt_send(s, out + slot_off(i), sizes[i], i % 2 ? ho : 0, XT_CTX(200 + i));
	for (size_t i = 0; i < N; i++) {
		uint8_t *slot = in + slot_off(i);

		xt_expect(s, XT_CTX(100 + i), SAN_OP_RECV, 0, sizes[i]);
		if (!san_test_verify(slot, sizes[i], seed_in + (uint32_t)i)) {
			fprintf(stderr, "[%d] message of %zu bytes corrupted\n", (int)getpid(),
				sizes[i]);
			exit(1);
		}
		CHECK(xt_all(slot + sizes[i], MARGIN, 0xee));
	}
	for (size_t i = 0; i < N; i++)
		xt_expect(s, XT_CTX(200 + i), SAN_OP_SEND, 0, sizes[i]);
	san_test_sync(ctl, "end");
	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, ho));
	CHECK_OK(san_deregister_memory(s, hi));
	xt_unmap(out, total);
	xt_unmap(in, total);
}

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);

	exchange(s, ctl, 300, 200);
	xt_teardown(p, s);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	exchange(s, ctl, 200, 300);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
