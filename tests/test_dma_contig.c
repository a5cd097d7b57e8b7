/* SPDX-License-Identifier: MIT */
/*
 * Pool memory is physically contiguous per huge page where the system
 * allows (R3.3), checked through /proc/self/pagemap (physical frame numbers
 * are shown to root only: as an ordinary user the test skips).
 *
 * Each kind in turn, forced with SAN_DMA_KIND on a fresh provider:
 *   hugetlb  reserves 4 huge pages for the test if none are free (and gives
 *            them back), allocates 2 x 2 MiB: every 2 MiB page contiguous;
 *   thp      the same through transparent huge pages (skipped, loudly, if
 *            the kernel cannot give any: THP "never", or fragmented memory);
 *   pages    4 KiB pages: pinned and usable, no contiguity promised;
 *   auto     picks the best that works, and says which.
 * Every page of every allocation is present (pinned) and the kinds are
 * reported by san_dma_query.
 */
#include "xtest.h"

#include <fcntl.h>

#define HUGE (2u << 20)

static uint64_t pfn_of(int fd, const void *va)
{
	uint64_t e = 0;
	off_t off = (off_t)((uintptr_t)va / 4096) * 8;

	CHECK(pread(fd, &e, 8, off) == 8);
	CHECK(e >> 63); /* present */
	return e & ((1ull << 55) - 1);
}

/* Every 4 KiB page of [a, a+len) present; within each 2 MiB page, frames
 * consecutive (if contig). Returns the number of 2 MiB pages checked. */
static int check_frames(const void *a, size_t len, int contig)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int n = 0;

	CHECK(fd >= 0);
	for (size_t off = 0; off < len; off += HUGE) {
		uint64_t first = pfn_of(fd, (const char *)a + off);

		CHECK(first != 0);
		for (size_t i = 1; i < HUGE / 4096 && off + i * 4096 < len; i++) {
			uint64_t f = pfn_of(fd, (const char *)a + off + i * 4096);

			if (contig && f != first + i) {
				fprintf(stderr, "2 MiB page at %p: frame %zu is %#llx, want %#llx\n",
					(const char *)a + off, i, (unsigned long long)f,
					(unsigned long long)(first + i));
				exit(1);
			}
		}
		if (contig)
			CHECK(first % (HUGE / 4096) == 0); /* a real huge frame */
		n++;
	}
	close(fd);
	return n;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return 0;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok;
}

/* Runs one kind; returns 1 if it was available. */
static int one_kind(const char *kind, int want, int contig)
{
	struct san_dma a, b;
	struct san_dma_stats st;
	san_provider *p;
	int rc, got;

	setenv("SAN_DMA_KIND", kind, 1);
	p = san_test_provider();
	rc = san_dma_alloc(p, HUGE, &a);
	if (rc == -ENOMEM && want != SAN_DMA_PAGES) {
		CHECK_OK(san_dma_query(p, &st));
		CHECK(st.chunks == 0);
		san_provider_close(p);
		return 0;
	}
	CHECK_OK(rc);
	CHECK_OK(san_dma_alloc(p, HUGE + 1, &b));
	got = a.kind;
	if (want)
		CHECK(a.kind == want && b.kind == want);
	CHECK_OK(san_dma_query(p, &st));
	if (got == SAN_DMA_HUGETLB) {
		CHECK(st.hugetlb_bytes == st.chunk_bytes && st.hugetlb_ok == 1);
	} else if (got == SAN_DMA_THP) {
		CHECK(st.thp_bytes == st.chunk_bytes && st.thp_ok == 1);
	} else {
		CHECK(st.pages_bytes == st.chunk_bytes);
	}
	printf("%-8s kind %d: %d + %d huge pages checked%s\n", kind, got,
	       check_frames(a.addr, a.len, contig && got != SAN_DMA_PAGES),
	       check_frames(b.addr, b.len, contig && got != SAN_DMA_PAGES),
	       got == SAN_DMA_PAGES ? " (4 KiB pages: present, no contiguity)" : ", contiguous");
	memset(a.addr, 1, a.len);
	san_dma_free(p, &a);
	san_dma_free(p, &b);
	san_provider_close(p);
	return 1;
}

static long hp_restore = -1;

/* A failed check exits: the reservation goes back anyway. */
static void restore_hugepages(void)
{
	if (hp_restore >= 0)
		write_long("/proc/sys/vm/nr_hugepages", hp_restore);
	hp_restore = -1;
}

int main(void)
{
	const char *nr = "/proc/sys/vm/nr_hugepages";
	long hp0 = read_long(nr), free0 = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
	int raised = 0, have_huge, have_thp;

	san_test_start(60);
	if (geteuid() != 0)
		san_test_skip("not root: /proc/self/pagemap hides physical frames");
	/* Two allocations of at least one huge page each (the second needs
	 * two): 3 free huge pages, 4 to be safe. */
	if (hp0 >= 0 && free0 >= 0 && free0 < 4) {
		hp_restore = hp0;
		atexit(restore_hugepages);
		raised = write_long(nr, hp0 + 4 - free0);
	}
	have_huge = one_kind("hugetlb", SAN_DMA_HUGETLB, 1);
	if (raised) {
		restore_hugepages();
		CHECK(read_long(nr) == hp0);
	}
	if (!have_huge)
		printf("hugetlb  unavailable (no huge pages could be reserved): -ENOMEM, as documented\n");
	have_thp = one_kind("thp", SAN_DMA_THP, 1);
	if (!have_thp)
		printf("thp      unavailable on this kernel/memory: -ENOMEM, as documented\n");
	CHECK(one_kind("pages", SAN_DMA_PAGES, 0));
	CHECK(one_kind("auto", 0, 1));
	san_test_check_leaks();
	if (!have_huge && !have_thp)
		san_test_skip("neither hugetlb nor THP memory available: no contiguity to check");
	return 0;
}
