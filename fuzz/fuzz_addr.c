/* SPDX-License-Identifier: MIT */
/*
 * Address strings (util/addr.c): "tcp:HOST:PORT", "tcp:[V6]:PORT",
 * "unix:PATH", "unix:@NAME", as san_listen / san_connect and the tools'
 * command lines take them. san__addr_parse_numeric is the parser without
 * the resolver (literals only), so the fuzzer never waits on DNS.
 *
 * Input, string mode: the bytes as a C string (a NUL-terminated copy; an
 * embedded NUL ends it, as it would for any caller). Checks: -EINVAL or 0;
 * an accepted address is consistent (family, length, port), formats with
 * san__addr_format into the same syntax, exactly -ENOSPC one byte short, and
 * parses back to the same socket address; san__addr_parse (the resolving
 * one) gives the same answer without resolving anything.
 *
 * Input, raw mode (first byte 0xff, never a valid address): the rest is a
 * socket address as the kernel could return it from getsockname, which
 * san__addr_format must print within its buffer whatever the bytes.
 */
#include "fuzz.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>

static void check_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap)
{
	int n = san__addr_format(sa, len, buf, cap), m;
	char *small;

	FUZZ_CHECK(n > 0 || n == -ENOSPC || n == -EINVAL, "format = %d", n);
	if (n <= 0)
		return;
	FUZZ_CHECK((size_t)n < cap && strlen(buf) == (size_t)n, "format = %d, strlen %zu", n,
		   strlen(buf));
	/* Exactly fitting and one byte short, in buffers ASan bounds. */
	small = malloc((size_t)n + 1);
	m = san__addr_format(sa, len, small, (size_t)n + 1);
	FUZZ_CHECK(m == n && !strcmp(small, buf), "format into %d+1 bytes = %d", n, m);
	m = san__addr_format(sa, len, small, (size_t)n);
	FUZZ_CHECK(m == -ENOSPC, "format into %d bytes = %d, want -ENOSPC", n, m);
	free(small);
}

static void raw_mode(const uint8_t *data, size_t size)
{
	static const int fam[] = { AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC };
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[512];

	if (size < 2)
		return;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, data + 2, SAN_MIN(size - 2, sizeof(ss)));
	ss.ss_family = (sa_family_t)fam[data[0] % 4];
	/* getsockname never reports more than the family's own size */
	len = data[1];
	if (ss.ss_family == AF_UNIX && len > sizeof(struct sockaddr_un))
		len = sizeof(struct sockaddr_un);
	check_format((struct sockaddr *)&ss, len, buf, sizeof(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct san_addr a, b;
	char buf[512], *s;
	int rc, n;

	if (size && data[0] == 0xff) {
		raw_mode(data + 1, size - 1);
		return 0;
	}
	s = fuzz_strndup(data, size);
	rc = san__addr_parse_numeric(s, &a);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL, "parse(\"%s\") = %d", s, rc);
	if (rc)
		goto out;

	switch (a.family) {
	case AF_INET:
		FUZZ_CHECK(!strncmp(s, "tcp:", 4) && a.u.in4.sin_family == AF_INET &&
				   a.len == sizeof(a.u.in4),
			   "\"%s\": inconsistent AF_INET address", s);
		break;
	case AF_INET6:
		FUZZ_CHECK(!strncmp(s, "tcp:", 4) && a.u.in6.sin6_family == AF_INET6 &&
				   a.len == sizeof(a.u.in6),
			   "\"%s\": inconsistent AF_INET6 address", s);
		break;
	case AF_UNIX:
		FUZZ_CHECK(!strncmp(s, "unix:", 5) && a.u.un.sun_family == AF_UNIX &&
				   a.len > offsetof(struct sockaddr_un, sun_path) &&
				   a.len <= sizeof(a.u.un),
			   "\"%s\": inconsistent AF_UNIX address (len %u)", s, (unsigned)a.len);
		/* the path is the input's, byte for byte */
		FUZZ_CHECK(s[5] == '@' ? !memcmp(a.u.un.sun_path + 1, s + 6, strlen(s + 6))
				       : !strcmp(a.u.un.sun_path, s + 5),
			   "\"%s\": path differs", s);
		break;
	default:
		FUZZ_CHECK(0, "\"%s\": family %d", s, a.family);
	}

	check_format(&a.u.sa, a.len, buf, sizeof(buf));
	n = san__addr_format(&a.u.sa, a.len, buf, sizeof(buf));
	FUZZ_CHECK(n > 0, "\"%s\": format = %d", s, n);
	rc = san__addr_parse_numeric(buf, &b);
	FUZZ_CHECK(rc == 0 && b.family == a.family && b.len == a.len &&
			   !memcmp(&a.u, &b.u, a.len),
		   "\"%s\" -> \"%s\" does not parse back to the same address (rc %d)", s, buf, rc);
	/* Literals never reach the resolver: same answer from the full parser. */
	rc = san__addr_parse(s, &b);
	FUZZ_CHECK(rc == 0 && b.family == a.family && b.len == a.len &&
			   !memcmp(&a.u, &b.u, a.len),
		   "\"%s\": san__addr_parse differs from the numeric parse (rc %d)", s, rc);
out:
	free(s);
	return 0;
}
