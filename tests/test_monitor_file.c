/* SPDX-License-Identifier: MIT */
/*
 * File-backed mappings, private or shared, are never cached: another
 * process may truncate the file under them. Each get registers, each put
 * unregisters.
 */
#include "test_rcache_mock.h"

#include <fcntl.h>

int main(void)
{
	struct mock m = { 0 };
	struct san_rcache *rc;
	char path[] = "/tmp/san-rcache-XXXXXX";
	int fd, flags[2] = { MAP_PRIVATE, MAP_SHARED };

	san_test_start(30);
	rc = mock_cache_uffd(&m);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	CHECK(ftruncate(fd, 8 * PG) == 0);
	for (int i = 0; i < 2; i++) {
		uint8_t *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, flags[i], fd, 0);

		CHECK(p != MAP_FAILED);
		for (int k = 0; k < 3; k++) {
			struct san_rcache_region *r = get_ok(rc, p, 8 * PG);
			struct mock_mr *mr = MR(r);

			CHECK(!san__rcache_region_cached(r));
			san__rcache_put(rc, r);
			CHECK(!atomic_load(&mr->live));
		}
		CHECK(munmap(p, 8 * PG) == 0);
	}
	close(fd);
	CHECK(mock_stats(rc).reg_hits == 0 && mock_stats(rc).cached_regions == 0);
	mock_fini(&m);
	san_test_check_leaks();
	return 0;
}
