/* SPDX-License-Identifier: MIT */
/*
 * The parsers of configuration sizes and address strings (src/util): every
 * value of the range is accepted, including UINT64_MAX, one past it is
 * refused, and a refused address leaves the caller's output untouched.
 */
#include "harness.h"
#include "util/util.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = 0;

	CHECK_OK(san__parse_size(s, &v));
	if (v != want) {
		fprintf(stderr, "parse_size(\"%s\") = %llu, want %llu\n", s, (unsigned long long)v,
			(unsigned long long)want);
		CHECK(v == want);
	}
}

static void size_bad(const char *s)
{
	uint64_t v = 12345;

	CHECK_RC(san__parse_size(s, &v), -EINVAL);
	CHECK(v == 12345); /* untouched */
}

static void addr_ok(const char *s, int family)
{
	struct san_addr a;

	CHECK_OK(san__addr_parse_numeric(s, &a));
	CHECK(a.family == family);
	CHECK(a.len > 0 && a.len <= sizeof(a.u));
}

static void addr_bad(const char *s)
{
	struct san_addr a, before;

	memset(&a, 0xab, sizeof(a));
	before = a;
	CHECK(san__addr_parse_numeric(s, &a) < 0);
	CHECK(!memcmp(&a, &before, sizeof(a))); /* untouched */
}

int main(void)
{
	char longpath[200];

	san_test_start(30);

	size_ok("0", 0);
	size_ok("1", 1);
	size_ok("4K", 4096);
	size_ok("4KiB", 4096);
	size_ok("4kb", 4096);
	size_ok("2M", 2u << 20);
	size_ok("1G", 1u << 30);
	size_ok("16T", 16ull << 40);
	size_ok("18446744073709551615", UINT64_MAX);
	size_ok("18446744073709551610", UINT64_MAX - 5);
	size_ok("16777215T", 16777215ull << 40);
	size_bad("18446744073709551616");     /* one past */
	size_bad("18446744073709551620");
	size_bad("99999999999999999999999");
	size_bad("16777216T");                /* 2^64 */
	size_bad("");
	size_bad("K");
	size_bad("-1");
	size_bad("12x");
	size_bad("12KX");
	size_bad("1 K");
	CHECK_RC(san__parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);

	addr_ok("tcp:127.0.0.1:80", AF_INET);
	addr_ok("tcp:[::1]:5", AF_INET6);
	addr_ok("unix:/tmp/x", AF_UNIX);
	addr_ok("unix:@x", AF_UNIX);
	addr_bad("unix:");
	addr_bad("unix:@");
	memset(longpath, 'a', sizeof(longpath) - 1);
	memcpy(longpath, "unix:/", 6);
	longpath[sizeof(longpath) - 1] = 0;
	addr_bad(longpath);
	addr_bad("tcp:127.0.0.1:99999");
	addr_bad("tcp:127.0.0.1:");
	addr_bad("tcp:::1:5");
	addr_bad("tcp:[::1]5");
	addr_bad("tcp:no-such-literal:5"); /* numeric only: no resolving */
	addr_bad("udp:127.0.0.1:5");
	addr_bad("");
	CHECK(san__addr_parse_numeric(NULL, &(struct san_addr){ 0 }) < 0);
	CHECK(san__addr_parse_numeric("tcp:127.0.0.1:80", NULL) < 0);
	printf("ok\n");
	return 0;
}
