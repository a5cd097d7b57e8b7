/* SPDX-License-Identifier: MIT */
/*
 * memcpy_bw: the machine's copy limit at one size. Copies a --size source
 * into a --size destination --iters times (after --warmup copies) and
 * prints the bandwidth (bytes copied per second) and the time of one copy
 * as lat_avg_us. Both buffers are touched first and reused, so a size that
 * fits in the caches is measured in the caches, as a transfer of that size
 * between two processes on one machine would be. Single process, no
 * server: run it as "memcpy_bw 127.0.0.1 --test memcpy ..." or without a
 * host at all.
 *
 * Test name: memcpy.
 */
#include "peer.h"

int main(int argc, char **argv)
{
	static const char tests[] = "memcpy";
	struct peer_opts o;
	char *src, *dst;
	double t0, t;

	peer_parse(argc, argv, tests, &o);
	if (!o.h.test[0])
		strcpy(o.h.test, "memcpy");
	if (strcmp(o.h.test, "memcpy"))
		peer_die("unknown --test '%s' (%s)", o.h.test, tests);
	src = peer_alloc(o.h.size);
	dst = peer_alloc(o.h.size);
	for (uint64_t i = 0; i < o.h.warmup; i++) {
		memcpy(dst, src, o.h.size);
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	t0 = peer_now();
	for (uint64_t i = 0; i < o.h.iters; i++) {
		memcpy(dst, src, o.h.size);
		/* The copy must happen every time: the compiler may not know
		 * that nobody reads dst. */
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	t = peer_now() - t0;
	{
		double per = t / (double)o.h.iters;

		/* Copies are not timed one by one: no percentiles. */
		printf("%s\n%s,%" PRIu64 ",%" PRIu64 ",%.0f,%.6f,%.3f,%.1f,%.4f,,\n",
		       PEER_CSV_HEADER, o.h.test, o.h.size, o.h.iters,
		       (double)o.h.iters * (double)o.h.size, t,
		       (double)o.h.iters * (double)o.h.size / t / 1e6, (double)o.h.iters / t,
		       per * 1e6);
	}
	free(src);
	free(dst);
	return 0;
}
