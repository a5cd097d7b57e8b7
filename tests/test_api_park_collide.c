/* SPDX-License-Identifier: MIT */
/*
 * R2.1 at the socket: more distinct buffers than the socket's park table
 * has slots (5000 against 4096, so by pigeonhole at least 904 of them share
 * a slot with another), registered and deregistered round after round.
 * Every deregistration that finds its slot taken goes the slow way and
 * displaces the other entry; every re-registration that finds another
 * buffer there goes to the cache. Whichever way: each handle is accepted
 * exactly once by san_deregister_memory (a retired one is -EINVAL, also
 * after its registration was taken back from the park), no page is pinned
 * again after the first round (hits, in the park or in the cache; with
 * caching off every registration pins, and only the rest is checked), and a
 * send from re-registered buffers carries each buffer's own bytes. At the
 * end the buffers are unmapped and every registration must be unpinned
 * while the socket is still open: none fell out of the park table.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define NBUF 5000
#define ROUNDS 3
#define EVERY 625 /* buffers sent in the last round: NBUF / EVERY */

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_socket *s = san_test_connect_peer(p, ctl);
	size_t pg = xt_page();
	uint8_t *in = xt_map((NBUF / EVERY) * pg);
	san_handle h = xt_reg(s, in, (NBUF / EVERY) * pg, SAN_MEM_WRITE);

	(void)arg;
	for (int k = 0; k < NBUF / EVERY; k++)
		xt_recv(s, in + (size_t)k * pg, pg, h, XT_CTX(100 + k));
	san_test_sync(ctl, "recv-posted");
	for (int k = 0; k < NBUF / EVERY; k++) {
		xt_expect(s, XT_CTX(100 + k), SAN_OP_RECV, 0, pg);
		if (!san_test_verify(in + (size_t)k * pg, pg, 1000 + (uint32_t)(k * EVERY))) {
			fprintf(stderr, "[%d] buffer %d: wrong bytes\n", (int)getpid(), k * EVERY);
			exit(1);
		}
	}
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(in, (NBUF / EVERY) * pg);
	return 0;
}

int main(void)
{
	static san_handle h[NBUF], old[NBUF];
	size_t pg = xt_page();
	struct san_stats st;
	uint64_t pins;
	san_provider *p;
	san_socket *s;
	uint8_t *buf;
	int ctl;
	pid_t pid;

	san_test_start(120);
	/* Room in the cache for every buffer: what is tested is the park. */
	setenv("SAN_RCACHE_MAX_REGIONS", "8192", 1);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	/* Every other page: no two buffers share or touch a page, so each is
	 * its own region in the cache as well. */
	buf = xt_map((size_t)NBUF * 2 * pg);
	for (int i = 0; i < NBUF; i++)
		san_test_fill(buf + (size_t)i * 2 * pg, pg, 1000 + (uint32_t)i);

	for (int i = 0; i < NBUF; i++) {
		h[i] = xt_reg(s, buf + (size_t)i * 2 * pg, pg, SAN_MEM_READ);
		CHECK(h[i] != 0);
	}
	for (int i = 0; i < NBUF; i++)
		CHECK_OK(san_deregister_memory(s, h[i]));
	CHECK_OK(san_get_stats(p, &st));
	pins = st.pins;

	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < NBUF; i++) {
			old[i] = h[i];
			h[i] = xt_reg(s, buf + (size_t)i * 2 * pg, pg, SAN_MEM_READ);
			CHECK(h[i] != 0 && h[i] != old[i]);
			/* The handle before this registration's deregistration
			 * stays dead, parked or not. */
			CHECK_RC(san_deregister_memory(s, old[i]), -EINVAL);
		}
		if (r == ROUNDS - 1) {
			san_test_sync(ctl, "recv-posted");
			for (int k = 0; k < NBUF / EVERY; k++)
				xt_send(s, buf + (size_t)k * EVERY * 2 * pg, pg, h[k * EVERY],
					XT_CTX(200 + k));
			for (int k = 0; k < NBUF / EVERY; k++)
				xt_expect(s, XT_CTX(200 + k), SAN_OP_SEND, 0, pg);
		}
		/* Deregister in another order than registered: other slots
		 * are taken when each one parks. */
		for (int i = NBUF - 1; i >= 0; i--) {
			CHECK_OK(san_deregister_memory(s, h[i]));
			CHECK_RC(san_deregister_memory(s, h[i]), -EINVAL);
		}
	}
	CHECK_OK(san_get_stats(p, &st));
	{
		struct san_config c;

		san_config_init(&c); /* what the provider was opened with */
		if (!c.rcache_enabled)
			pins = st.pins; /* caching off: every registration pins */
	}
	if (st.pins != pins) {
		fprintf(stderr, "%llu pins after the first round (every registration since "
				"should have been a hit)\n",
			(unsigned long long)(st.pins - pins));
		exit(1);
	}
	/* Every registration left is parked (or cached): once the memory is
	 * gone, the sweep that san_get_stats runs must find every one of them
	 * in the park table and unpin it, with the socket still open. One that
	 * fell out of the table (overwritten instead of displaced) would stay
	 * pinned until san_close. */
	xt_unmap(buf, (size_t)NBUF * 2 * pg);
	{
		long long end = xt_now_ms() + 5000;

		do {
			CHECK_OK(san_get_stats(p, &st));
			if (!st.pinned_bytes)
				break;
			xt_sleep_ms(10);
		} while (xt_now_ms() < end);
		if (st.pinned_bytes) {
			fprintf(stderr, "%llu bytes still pinned for unmapped buffers\n",
				(unsigned long long)st.pinned_bytes);
			exit(1);
		}
	}
	san_test_sync(ctl, "end");
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
